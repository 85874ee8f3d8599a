package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

func TestTrackingPlans(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{Name: "mgr", Role: lianlu.RoleManager, Department: lianlu.DeptMarketing})
		src, _, err := sqlstore.NewSourceService(db).CreateSource(ctx, lianlu.Source{Name: "web", Department: lianlu.DeptMarketing, Kind: "web"})
		if err != nil {
			t.Fatal(err)
		}
		plans := sqlstore.NewTrackingPlanService(db)
		if _, err := plans.FindTrackingPlan(ctx, src.ID); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Fatalf("no plan yet: %v", err)
		}
		if p, err := plans.CompiledPlan(ctx, src.ID); err != nil || p != nil {
			t.Fatalf("compiled plan of a source without one: %v %v", p, err)
		}
		schema := `{"type":"object","required":["sku"]}`
		p, err := plans.PutTrackingPlan(ctx, lianlu.TrackingPlan{SourceID: src.ID, Mode: lianlu.PlanFlag, AllowUnplanned: true,
			Events: map[string]json.RawMessage{"Product Viewed": json.RawMessage(schema)}})
		if err != nil || p.Version != 1 || p.UpdatedBy == "" {
			t.Fatalf("put: %+v %v", p, err)
		}
		got, err := plans.FindTrackingPlan(ctx, src.ID)
		if err != nil || got.Mode != lianlu.PlanFlag || string(got.Events["Product Viewed"]) != schema || !got.AllowUnplanned {
			t.Fatalf("find: %+v %v", got, err)
		}
		// The cache serves the plan; a change through this service replaces it at once.
		cp, err := plans.CompiledPlan(ctx, src.ID)
		if err != nil || cp == nil || cp.Mode != lianlu.PlanFlag {
			t.Fatalf("compiled: %+v %v", cp, err)
		}
		if p, err = plans.PutTrackingPlan(ctx, lianlu.TrackingPlan{SourceID: src.ID, Mode: lianlu.PlanBlock,
			Events: map[string]json.RawMessage{"Product Viewed": json.RawMessage(schema)}}); err != nil || p.Version != 2 {
			t.Fatalf("second put: %+v %v", p, err)
		}
		if cp, _ = plans.CompiledPlan(ctx, src.ID); cp.Mode != lianlu.PlanBlock || cp.AllowUnplanned {
			t.Fatalf("cache not invalidated: %+v", cp)
		}
		// Bad input stores nothing and names the field.
		_, err = plans.PutTrackingPlan(ctx, lianlu.TrackingPlan{SourceID: src.ID, Mode: "flag", Events: map[string]json.RawMessage{"X": json.RawMessage(`{"type":1}`)}})
		if fs := lianlu.ErrorFields(err); len(fs) != 1 || fs[0].Field != "events.X" {
			t.Fatalf("bad schema: %v", err)
		}
		if _, err := plans.PutTrackingPlan(ctx, lianlu.TrackingPlan{SourceID: 999, Mode: "flag"}); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Fatalf("unknown source: %v", err)
		}
		if got, _ := plans.FindTrackingPlan(ctx, src.ID); got.Version != 2 {
			t.Fatalf("failed puts changed the plan: %+v", got)
		}
		audit, _ := sqlstore.NewAccessService(db).FindAuditEntries(ctx, 0, 10)
		n := 0
		for _, a := range audit {
			if a.Action == "tracking_plan.updated" {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("%d audit entries for 2 plan changes", n)
		}
	})
}

// Violations are tallied in the append's transaction: a flagged one once
// per newly stored event (an SDK retry does not count again), a blocked
// one each time.
func TestAppender_TalliesViolations(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		src, _, err := sqlstore.NewSourceService(db).CreateSource(ctx, lianlu.Source{Name: "web", Department: lianlu.DeptMarketing, Kind: "web"})
		if err != nil {
			t.Fatal(err)
		}
		a := sqlstore.NewAppender(db, sqlstore.AppenderConfig{})
		a.Start()
		defer a.Stop()
		e := lianlu.Event{ID: "m1", Source: "segment:x", Type: "segment.track", Department: lianlu.DeptMarketing, Data: json.RawMessage(`{}`)}
		flag := lianlu.PlanViolation{SourceID: src.ID, Event: "Viewed", Rule: "required", Field: "properties.sku", Message: "missing", MessageID: "m1", EventIndex: 0}
		block := lianlu.PlanViolation{SourceID: src.ID, Event: "Viewed", Rule: "type", Field: "properties.qty", Message: "want number", MessageID: "m2", EventIndex: -1}
		for range 2 { // the second time m1 is a duplicate
			if _, err := a.AppendChecked(ctx, []lianlu.Event{e}, []lianlu.PlanViolation{flag, block}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := a.AppendChecked(ctx, nil, []lianlu.PlanViolation{block}); err != nil {
			t.Fatal(err)
		}
		vs, err := sqlstore.NewTrackingPlanService(db).FindViolations(ctx, src.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 2 || vs[0].Rule != "type" || vs[0].Blocked != 3 || vs[0].Flagged != 0 || vs[0].LastMessageID != "m2" ||
			vs[1].Rule != "required" || vs[1].Flagged != 1 || vs[1].Blocked != 0 || vs[1].FirstSeenAt.IsZero() {
			t.Fatalf("tally %+v", vs)
		}
		if vs, _ := sqlstore.NewTrackingPlanService(db).FindViolations(ctx, src.ID, "Other"); len(vs) != 0 {
			t.Fatalf("event filter: %+v", vs)
		}
	})
}

// The committed hook sees every commit's results, for freshness.
func TestAppender_CommittedHook(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, db *sqlstore.DB, clock *whClock) {
		f := collect.NewFreshness("segment:", clock.Now)
		a := sqlstore.NewAppender(db, sqlstore.AppenderConfig{Committed: f.Observe})
		a.Start()
		defer a.Stop()
		e := lianlu.Event{ID: "m1", Source: "segment:9", Type: "segment.track", Department: lianlu.DeptMarketing, Time: clock.Now().Add(-3 * time.Second)}
		if _, err := a.Append(context.Background(), []lianlu.Event{e}); err != nil {
			t.Fatal(err)
		}
		// The lag is recorded_at - time, 3 s; the quantiles come from
		// histogram buckets, which may read up to 20 % high.
		s := f.Source("segment:9")
		if s.WindowEvents != 1 || s.LastEventAt == nil || !s.LastEventAt.Equal(clock.Now()) || s.LagP50 < 3*time.Second || s.LagP50 > 3600*time.Millisecond {
			t.Fatalf("freshness %+v", s)
		}
		last, err := sqlstore.NewEventService(db).LastRecordedAt(context.Background(), "segment:9")
		if err != nil || last == nil || !last.Equal(*s.LastEventAt) {
			t.Fatalf("database fallback %v %v (window %v)", last, err, s.LastEventAt)
		}
		if last, err := sqlstore.NewEventService(db).LastRecordedAt(context.Background(), "segment:none"); err != nil || last != nil {
			t.Fatalf("no events: %v %v", last, err)
		}
	})
}
