package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// Concurrent appends through the group-commit appender are all stored once,
// each request gets its own results, and an invalid request fails alone.
func TestAppender_GroupCommit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		a := sqlstore.NewAppender(db, sqlstore.AppenderConfig{MaxEvents: 300})
		a.Start()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for c := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range 10 {
					batch := []lianlu.Event{ev("g", fmt.Sprintf("%d-%d-a", c, n), "t.x"), ev("g", fmt.Sprintf("%d-%d-b", c, n), "t.x")}
					res, err := a.Append(context.Background(), batch)
					if err != nil {
						errs <- err
						return
					}
					if len(res) != 2 || res[0].Event.ID != batch[0].ID || res[1].Event.ID != batch[1].ID || res[0].Event.Seq == 0 {
						errs <- fmt.Errorf("results %+v", res)
						return
					}
				}
			}()
		}
		// A request with an unknown department fails; the others do not.
		bad := ev("g", "bad", "t.x")
		bad.Department = "nowhere"
		if _, err := a.Append(context.Background(), []lianlu.Event{bad}); lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Errorf("unknown department: %v", err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// A retry of the same ids stores nothing new.
		res, err := a.Append(context.Background(), []lianlu.Event{ev("g", "0-0-a", "t.x")})
		if err != nil || !res[0].Duplicate {
			t.Fatalf("retry: %+v %v", res, err)
		}
		a.Stop()
		if _, err := a.Append(context.Background(), []lianlu.Event{ev("g", "late", "t.x")}); err != sqlstore.ErrAppenderStopped {
			t.Fatalf("after stop: %v", err)
		}
		all, _ := sqlstore.NewEventService(db).FindEvents(context.Background(), lianlu.EventFilter{Limit: 1000})
		if len(all) != 640 {
			t.Fatalf("stored %d events, want 640", len(all))
		}
	})
}

// Collector events whose userId or anonymousId already belongs to a member
// are stored with her subject; other ids keep theirs, and events from other
// sources are never rewritten.
func TestAppender_MemberSubjects(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		admin := lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "test", Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
		members := sqlstore.NewMemberService(db)
		var id int64
		if err := db.WithTx(admin, func(tx *sqlstore.Tx) (err error) {
			id, _, err = sqlstore.FindOrCreateMemberTx(admin, tx, lianlu.Identity{Kind: lianlu.IdentityPhone, Value: "+8613800138000", Verified: true})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for _, ident := range []lianlu.Identity{{Kind: lianlu.IdentityUserID, Value: "u-1"}, {Kind: lianlu.IdentityAnonymousID, Value: "a-1"}} {
			if _, err := members.AddIdentity(admin, id, ident); err != nil {
				t.Fatal(err)
			}
		}
		a := sqlstore.NewAppender(db, sqlstore.AppenderConfig{})
		a.Start()
		defer a.Stop()
		seg := func(msgID, subject string) lianlu.Event {
			e := ev("segment:1", msgID, "segment.track")
			e.Subject = subject
			return e
		}
		other := ev("shop", "o-1", "t.x")
		other.Subject = "user/u-1"
		res, err := a.Append(ctx, []lianlu.Event{seg("m1", "user/u-1"), seg("m2", "anon/a-1"), seg("m3", "user/u-2"), seg("m4", "anon/a-2"), other})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{sqlstore.MemberSubject(id), sqlstore.MemberSubject(id), "user/u-2", "anon/a-2", "user/u-1"}
		for i, r := range res {
			stored, err := sqlstore.NewEventService(db).FindEventBySeq(ctx, r.Event.Seq)
			if err != nil {
				t.Fatal(err)
			}
			if r.Event.Subject != want[i] || stored.Subject != want[i] {
				t.Errorf("event %d: subject %q (stored %q), want %q", i, r.Event.Subject, stored.Subject, want[i])
			}
		}
	})
}
