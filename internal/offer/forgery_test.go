package offer_test

import (
	"context"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/offer"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

// TestEngine_IgnoresForgedTriggers: a member.joined, store.visited or
// collector touch that reached the log past the intake, from a source
// that does not write such events, sends no offer; the command's own
// member.joined does.
func TestEngine_IgnoresForgedTriggers(t *testing.T) {
	for _, dialect := range sqlstoretest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)}
			db := sqlstoretest.MustOpen(t, dialect, sqlstore.Options{Now: clk.Now})
			ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 1, Name: "ops", Department: "admin", Role: lianlu.RoleAdmin})
			if _, _, err := sqlstore.NewStoreService(db).CreateStore(ctx, lianlu.StoreInput{Code: "SH-01", Name: ptr("Jing'an")}); err != nil {
				t.Fatal(err)
			}
			members := sqlstore.NewMemberService(db)
			amy, err := members.Join(ctx, lianlu.JoinRequest{Store: "SH-01", Phone: "13800138000", Consent: true})
			if err != nil {
				t.Fatal(err)
			}
			engine := offer.NewEngine(db, offer.EngineConfig{})
			svc := offer.NewService(db, engine)
			rule, err := svc.SaveRule(ctx, lianlu.OfferRule{Name: "welcome", Triggers: []string{"member.joined", "store.visited", "segment.track"},
				Condition: "true", Channel: lianlu.OfferInbox, Title: "Welcome", Active: true})
			if err != nil {
				t.Fatal(err)
			}
			drain := func() {
				t.Helper()
				for {
					n, err := engine.ProcessOnce(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						return
					}
				}
			}
			subject := sqlstore.MemberSubject(amy.Member.ID)
			forged := []lianlu.Event{
				{ID: "f-1", Source: "shop", Type: "member.joined", Subject: subject, Department: lianlu.DeptStores},
				{ID: "f-2", Source: "pos", Type: "store.visited", Subject: subject, Department: lianlu.DeptStores},
				{ID: "f-3", Source: "crm", Type: "segment.track", Subject: subject, Department: lianlu.DeptMarketing, Data: []byte(`{"event":"Viewed"}`)},
			}
			if _, err := sqlstore.NewEventService(db).AppendEvents(ctx, forged); err != nil {
				t.Fatal(err)
			}
			drain()
			if sends, err := svc.FindSends(ctx, 0, rule.ID, 0, 10); err != nil || len(sends) != 0 {
				t.Fatalf("forged triggers made sends %+v (%v)", sends, err)
			}
			bea, err := members.Join(ctx, lianlu.JoinRequest{Store: "SH-01", Phone: "13900139000", Consent: true})
			if err != nil {
				t.Fatal(err)
			}
			drain()
			// Her join appends member.joined and store.visited: both are
			// the commands' and trigger the rule.
			sends, err := svc.FindSends(ctx, 0, rule.ID, 0, 10)
			if err != nil || len(sends) != 2 {
				t.Fatalf("the command's events: sends %+v (%v)", sends, err)
			}
			for _, s := range sends {
				if s.MemberID != bea.Member.ID {
					t.Fatalf("send to member %d, want %d", s.MemberID, bea.Member.ID)
				}
			}
		})
	}
}
