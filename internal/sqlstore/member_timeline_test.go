package sqlstore_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// TestMemberTimeline_Departments: a member's timeline keeps the events of
// the departments its filter names (what the events API gives a reader),
// pages through them by seq, and without the filter keeps them all.
func TestMemberTimeline_Departments(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := lianlu.NewContextWithPrincipal(ctxT(t), lianlu.Principal{Name: "ops", Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
		var id int64
		if err := db.WithTx(ctx, func(tx *sqlstore.Tx) (err error) {
			id, _, err = sqlstore.FindOrCreateMemberTx(ctx, tx, lianlu.Identity{Kind: lianlu.IdentityPhone, Value: "+8613800138000"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var events []lianlu.Event
		depts := []string{lianlu.DeptStores, lianlu.DeptSales, lianlu.DeptMarketing, lianlu.DeptSales, lianlu.DeptStores, lianlu.DeptSales}
		for i, d := range depts {
			events = append(events, lianlu.Event{ID: "tl-" + strconv.Itoa(i), Source: "test", Type: "test.happened", Subject: sqlstore.MemberSubject(id),
				Time: time.Date(2026, 12, 1, 10, i, 0, 0, time.UTC), Department: d})
		}
		if _, err := sqlstore.NewEventService(db).AppendEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		members := sqlstore.NewMemberService(db)
		timeline := func(f lianlu.TimelineFilter) (out []string) {
			t.Helper()
			es, err := members.Timeline(ctx, id, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if e.Event.Type == "test.happened" {
					out = append(out, e.Event.ID)
				}
			}
			return out
		}
		if got := timeline(lianlu.TimelineFilter{Limit: 100}); len(got) != len(depts) {
			t.Fatalf("without a filter: %v", got)
		}
		if got := timeline(lianlu.TimelineFilter{Limit: 100, Departments: []string{lianlu.DeptSales}}); !slices.Equal(got, []string{"tl-5", "tl-3", "tl-1"}) {
			t.Fatalf("sales: %v", got)
		}
		if got := timeline(lianlu.TimelineFilter{Limit: 100, Departments: []string{}}); len(got) != 0 {
			t.Fatalf("no department: %v", got)
		}
		// A page of two sales events, then the next one before it.
		es, err := members.Timeline(ctx, id, lianlu.TimelineFilter{Limit: 2, Departments: []string{lianlu.DeptSales}})
		if err != nil || len(es) != 2 || es[1].Event.ID != "tl-3" {
			t.Fatalf("first page: %+v %v", es, err)
		}
		if got := timeline(lianlu.TimelineFilter{Limit: 2, BeforeSeq: es[1].Event.Seq, Departments: []string{lianlu.DeptSales}}); !slices.Equal(got, []string{"tl-1"}) {
			t.Fatalf("second page: %v", got)
		}
	})
}
