package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

func ev(source, id, typ string) lianlu.Event {
	return lianlu.Event{ID: id, Source: source, Type: typ, Department: lianlu.DeptSales,
		Subject: "order/" + id, Data: json.RawMessage(`{"n":1}`)}
}

func TestMigrate(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		applied, err := db.Migrate(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Fatalf("second migrate applied %v", applied)
		}
		n, err := db.PendingMigrations(ctxT(t))
		if err != nil || n != 0 {
			t.Fatalf("pending = %d, %v", n, err)
		}
	})
}

func TestAppendEvents(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		s := sqlstore.NewEventService(db)
		at := time.Date(2026, 11, 1, 8, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
		e1 := ev("shop", "1", "order.placed")
		e1.Time = at
		e1.Actor, e1.CorrelationID, e1.CausationID, e1.DataSchema = "user:7", "c-1", "x-0", "https://example.com/s.json"
		res, err := s.AppendEvents(ctx, []lianlu.Event{e1, ev("shop", "2", "order.paid")})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 2 || res[0].Duplicate || res[1].Duplicate {
			t.Fatalf("results = %+v", res)
		}
		if res[0].Event.Seq <= 0 || res[1].Event.Seq <= res[0].Event.Seq {
			t.Fatalf("seqs %d, %d", res[0].Event.Seq, res[1].Event.Seq)
		}
		got, err := s.FindEventBySeq(ctx, res[0].Event.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Time.Equal(at.Truncate(time.Microsecond)) || got.Time.Location() != time.UTC {
			t.Errorf("time = %v, want %v in UTC", got.Time, at)
		}
		if got.RecordedAt.IsZero() || got.Actor != "user:7" || got.CorrelationID != "c-1" || got.CausationID != "x-0" ||
			got.DataSchema != "https://example.com/s.json" || got.Subject != "order/1" || got.Department != "sales" {
			t.Errorf("stored event = %+v", got)
		}
		var data map[string]int
		if err := json.Unmarshal(got.Data, &data); err != nil || data["n"] != 1 {
			t.Errorf("data = %s", got.Data)
		}
		// An event without time gets the recording time.
		if res[1].Event.Time != res[1].Event.RecordedAt {
			t.Errorf("default time %v != recorded %v", res[1].Event.Time, res[1].Event.RecordedAt)
		}
		if _, err := s.FindEventBySeq(ctx, 999999); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Errorf("missing seq: %v", err)
		}
		max, err := s.MaxSeq(ctx)
		if err != nil || max != res[1].Event.Seq {
			t.Errorf("max seq = %d, %v", max, err)
		}
	})
}

func TestAppendEvents_Invalid(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		s := sqlstore.NewEventService(db)
		bad := ev("shop", "", "order.placed")
		bad.Data = json.RawMessage(`{nope`)
		_, err := s.AppendEvents(ctx, []lianlu.Event{ev("shop", "ok", "order.placed"), bad})
		if lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Fatalf("err = %v", err)
		}
		fields := map[string]bool{}
		for _, f := range lianlu.ErrorFields(err) {
			fields[f.Field] = true
		}
		if !fields["[1].id"] || !fields["[1].data"] {
			t.Errorf("fields = %v", lianlu.ErrorFields(err))
		}
		unknown := ev("shop", "u", "order.placed")
		unknown.Department = "nope"
		_, err = s.AppendEvents(ctx, []lianlu.Event{ev("shop", "ok2", "order.placed"), unknown})
		if lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Fatalf("unknown department: %v", err)
		}
		// Nothing half-written.
		all, err := s.FindEvents(ctx, lianlu.EventFilter{})
		if err != nil || len(all) != 0 {
			t.Fatalf("stored %d events after invalid appends (%v)", len(all), err)
		}
	})
}

func TestAppendEvents_Duplicate(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		s := sqlstore.NewEventService(db)
		first, err := s.AppendEvents(ctx, []lianlu.Event{ev("shop", "1", "order.placed")})
		if err != nil {
			t.Fatal(err)
		}
		changed := ev("shop", "1", "order.cancelled")
		res, err := s.AppendEvents(ctx, []lianlu.Event{changed, ev("other", "1", "order.placed"), ev("shop", "1", "x.y")})
		if err != nil {
			t.Fatal(err)
		}
		if !res[0].Duplicate || res[0].Event.Seq != first[0].Event.Seq || res[0].Event.Type != "order.placed" {
			t.Errorf("duplicate result = %+v", res[0])
		}
		if res[1].Duplicate {
			t.Errorf("same id from another source is not a duplicate")
		}
		if !res[2].Duplicate || res[2].Event.Seq != first[0].Event.Seq {
			t.Errorf("repeat in batch = %+v", res[2])
		}
		// Within one batch: the first occurrence is stored, the second is
		// a duplicate of it.
		res, err = s.AppendEvents(ctx, []lianlu.Event{ev("b", "1", "a.b"), ev("b", "1", "a.c")})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Duplicate || !res[1].Duplicate || res[0].Event.Seq != res[1].Event.Seq || res[1].Event.Type != "a.b" {
			t.Errorf("in-batch duplicate = %+v", res)
		}
		all, _ := s.FindEvents(ctx, lianlu.EventFilter{})
		if len(all) != 3 {
			t.Errorf("stored %d events, want 3", len(all))
		}
	})
}

// 16 goroutines append the same ids at once: each id is stored once.
func TestAppendEvents_ConcurrentDuplicates(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		s := sqlstore.NewEventService(db)
		const ids = 200
		var wg sync.WaitGroup
		newCount := make([]int, 16)
		errs := make(chan error, 16)
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < ids; i += 10 {
					var batch []lianlu.Event
					for j := i; j < i+10; j++ {
						batch = append(batch, ev("dup", fmt.Sprint(j), "t.x"))
					}
					res, err := s.AppendEvents(ctx, batch)
					if err != nil {
						errs <- err
						return
					}
					for _, r := range res {
						if !r.Duplicate {
							newCount[g]++
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		total := 0
		for _, n := range newCount {
			total += n
		}
		if total != ids {
			t.Errorf("%d appends reported new, want %d", total, ids)
		}
		all, err := s.FindEvents(ctx, lianlu.EventFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != ids {
			t.Errorf("stored %d events, want %d", len(all), ids)
		}
	})
}

// 8 writers append 10,000 events while a reader follows the log: the reader
// sees each event exactly once, in strictly increasing seq.
func TestAppendEvents_OrderingUnderConcurrency(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		s := sqlstore.NewEventService(db)
		const writers, perWriter, batch = 8, 1250, 5
		var wg sync.WaitGroup
		errs := make(chan error, writers+1)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perWriter; i += batch {
					var es []lianlu.Event
					for j := i; j < i+batch; j++ {
						es = append(es, ev(fmt.Sprintf("w%d", w), fmt.Sprint(j), "load.tick"))
					}
					if _, err := s.AppendEvents(ctx, es); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		writersDone := make(chan struct{})
		go func() { wg.Wait(); close(writersDone) }()

		seen := map[string]bool{}
		var last int64
		finished := false
		for !finished {
			select {
			case <-writersDone:
				finished = true // one more full read below
			default:
			}
			for {
				page, err := s.FindEvents(ctx, lianlu.EventFilter{AfterSeq: last, Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					if e.Seq <= last {
						t.Fatalf("seq %d after %d", e.Seq, last)
					}
					last = e.Seq
					k := e.Source + "/" + e.ID
					if seen[k] {
						t.Fatalf("event %s seen twice", k)
					}
					seen[k] = true
				}
				if len(page) < 1000 {
					break
				}
			}
		}
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(seen) != writers*perWriter {
			t.Fatalf("reader saw %d events, want %d", len(seen), writers*perWriter)
		}
	})
}

func TestFindEvents_Filters(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		s := sqlstore.NewEventService(db)
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		mk := func(id, typ, subject, source, dept string, at time.Time) lianlu.Event {
			return lianlu.Event{ID: id, Type: typ, Subject: subject, Source: source, Department: dept, Time: at}
		}
		_, err := s.AppendEvents(ctx, []lianlu.Event{
			mk("1", "order.placed", "order/1", "shop", "sales", base),
			mk("2", "order.paid", "order/1", "shop", "sales", base.Add(time.Hour)),
			mk("3", "orders.x", "order/2", "pos", "stores", base.Add(2*time.Hour)),
			mk("4", "workorder.created", "wo/1", "lianlu", "service", base.Add(3*time.Hour)),
			mk("5", "order.cancelled", "order/2", "pos", "stores", base.Add(4*time.Hour)),
		})
		if err != nil {
			t.Fatal(err)
		}
		ids := func(f lianlu.EventFilter) string {
			es, err := s.FindEvents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			out := ""
			for _, e := range es {
				out += e.ID
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    lianlu.EventFilter
			want string
		}{
			{"all", lianlu.EventFilter{}, "12345"},
			{"after", lianlu.EventFilter{AfterSeq: 2}, "345"},
			{"limit", lianlu.EventFilter{Limit: 2}, "12"},
			{"type", lianlu.EventFilter{Types: []string{"order.paid", "orders.x"}}, "23"},
			{"prefix", lianlu.EventFilter{TypePrefix: "order."}, "125"},
			{"subject", lianlu.EventFilter{Subject: "order/2"}, "35"},
			{"source", lianlu.EventFilter{Source: "pos"}, "35"},
			{"department", lianlu.EventFilter{Departments: []string{"service", "sales"}}, "124"},
			{"from", lianlu.EventFilter{From: base.Add(3 * time.Hour)}, "45"},
			{"range", lianlu.EventFilter{From: base.Add(time.Hour), To: base.Add(3 * time.Hour)}, "23"},
			{"combined", lianlu.EventFilter{TypePrefix: "order.", Departments: []string{"stores"}}, "5"},
		} {
			if got := ids(tc.f); got != tc.want {
				t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
			}
		}
	})
}

// AppendEvents in the caller's transaction: a rollback leaves nothing.
func TestAppendEvents_InCallerTransaction(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		tx, err := db.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sqlstore.AppendEvents(ctx, tx, []lianlu.Event{ev("tx", "1", "a.b")}); err != nil {
			t.Fatal(err)
		}
		tx.Rollback()
		all, _ := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{})
		if len(all) != 0 {
			t.Fatalf("rolled-back append left %d events", len(all))
		}
	})
}

var _ = context.Background

func TestAppendEvents_RefusesNULInData(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		s := sqlstore.NewEventService(db)
		bad := ev("nul", "1", "a.b")
		bad.Data = json.RawMessage(`{"x":"a\u0000b"}`)
		if _, err := s.AppendEvents(ctxT(t), []lianlu.Event{bad}); lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Fatalf("NUL escape: %v", err)
		}
		ok := ev("nul", "2", "a.b")
		ok.Data = json.RawMessage(`{"x":"a\\u0000b"}`) // an escaped backslash: plain text
		if _, err := s.AppendEvents(ctxT(t), []lianlu.Event{ok}); err != nil {
			t.Fatalf("escaped backslash: %v", err)
		}
	})
}
