package demo_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/demo"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

// seed runs the small demo on a fresh database of dialect, ending at end.
func seed(t *testing.T, dialect string, seedN uint64, end time.Time) (*sqlstore.DB, demo.Summary) {
	t.Helper()
	ctx := context.Background()
	clock := &demo.Clock{}
	opts := sqlstoretest.Options(t, dialect, sqlstore.Options{Now: clock.Now, Synchronous: "NORMAL"})
	if opts.URL != "" {
		// A bulk load, as lianlu demo does it.
		opts.URL += "&synchronous_commit=off"
	}
	db, err := sqlstore.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := flow.Seed(ctx, db, flow.Defaults(), false); err != nil {
		t.Fatal(err)
	}
	app := sqlstore.NewAppender(db, sqlstore.AppenderConfig{MaxDelay: time.Microsecond})
	app.Start()
	defer app.Stop()
	sum, err := demo.Seed(ctx, demo.Config{DB: db, Clock: clock, Runner: flow.NewRunner(db, flow.RunnerConfig{}), Appender: app,
		Scale: demo.Scales[0], Seed: seedN, End: end})
	if err != nil {
		t.Fatal(err)
	}
	return db, sum
}

var end = time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)

func TestSeed_SameSeedSameHistory(t *testing.T) {
	for _, dialect := range sqlstoretest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			db, a := seed(t, dialect, 1, end)
			_, b := seed(t, dialect, 1, end)
			if a != b {
				t.Fatalf("seed 1 twice: %+v and %+v", a, b)
			}
			if dialect != "sqlite" {
				return
			}
			_, c := seed(t, dialect, 2, end)
			if c == a {
				t.Fatalf("seeds 1 and 2 gave the same history %+v", a)
			}
			checkLivingBrand(t, db, a)
			checkTrustedLog(t, db)
		})
	}
}

// checkLivingBrand checks that the history has what the console shows:
// both channels, touches through the collector, every kind of work,
// feedback and backlog, and some handoffs past their SLA.
func checkLivingBrand(t *testing.T, db *sqlstore.DB, sum demo.Summary) {
	t.Helper()
	ctx := context.Background()
	if sum.Members < 100 || sum.Orders < 150 || sum.Events < 5000 || sum.Feedback < 10 {
		t.Fatalf("summary %+v is too thin", sum)
	}
	if sum.Breached == 0 || sum.Breached*2 > sum.Handoffs {
		t.Fatalf("%d of %d handoffs breached: want some, not most", sum.Breached, sum.Handoffs)
	}
	orders := sqlstore.NewOrderService(db)
	for _, ch := range []string{lianlu.ChannelOnline, lianlu.ChannelStore} {
		if os, err := orders.FindOrders(ctx, lianlu.OrderFilter{Channel: ch, Limit: 1}); err != nil || len(os) == 0 {
			t.Errorf("no %s orders (%v)", ch, err)
		}
	}
	events := sqlstore.NewEventService(db)
	for _, typ := range []string{"segment.track", "segment.page", "segment.identify", "order.placed", "fulfillment.shipped", "fulfillment.backordered",
		"workorder.resolved", "workorder.contacted", "feedback.submitted", "backlog.triaged", "handoff.breached", "inventory.adjusted", "customer.contacted", "order.cancelled"} {
		es, err := events.FindEvents(ctx, lianlu.EventFilter{Types: []string{typ}, Limit: 1})
		if err != nil || len(es) == 0 {
			t.Errorf("no %s event (%v)", typ, err)
		}
	}
	// Touches carry the campaign context and come from the collector's
	// sources (segment:<id>), owned by the sources' departments.
	es, _ := events.FindEvents(ctx, lianlu.EventFilter{Types: []string{"segment.page"}, Limit: 1000})
	campaign := 0
	for _, e := range es {
		if len(e.Source) < 9 || e.Source[:8] != "segment:" || e.Department != lianlu.DeptMarketing {
			t.Fatalf("touch %+v is not from a marketing collector source", e)
		}
		if strings.Contains(string(e.Data), `"campaign":{`) {
			campaign++
		}
	}
	if campaign == 0 {
		t.Error("no touch has a campaign context")
	}
	wos := sqlstore.NewWorkOrderService(db)
	onsite, _ := wos.FindWorkOrders(ctx, lianlu.WorkOrderFilter{Department: lianlu.DeptStores, Limit: 100})
	if len(onsite) == 0 || onsite[0].Store == "" || onsite[0].Kind != lianlu.WorkOrderOnSite {
		t.Errorf("on-site work orders at stores: %+v", onsite)
	}
	// Opening hours: store orders are placed while the store is open.
	stores, _ := orders.FindOrders(ctx, lianlu.OrderFilter{Channel: lianlu.ChannelStore, Limit: 1000})
	loc, _ := time.LoadLocation("Asia/Shanghai")
	for _, o := range stores {
		h := o.PlacedAt.In(loc).Hour()
		if h < 9 || h > 22 {
			t.Fatalf("store order %d placed at %s, outside opening hours", o.ID, o.PlacedAt.In(loc))
		}
	}
}

// checkTrustedLog reads the whole history and checks that every event
// Lianlu's commands appended has a type in lianlu.CommandNamespaces (a
// command appending a type outside them fails here, so that its type is
// declared before outside callers can forge it) and that consumers trust
// every event of a living brand: the trust boundary turns away nothing
// the brand does.
func checkTrustedLog(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	events := sqlstore.NewEventService(db)
	commandTypes := map[string]bool{}
	after := int64(0)
	for {
		es, err := events.FindEvents(context.Background(), lianlu.EventFilter{AfterSeq: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if e.Source == lianlu.CommandSource {
				commandTypes[e.Type] = true
				if !lianlu.IsCommandOwnedType(e.Type) {
					t.Errorf("the commands append %s, outside lianlu.CommandNamespaces", e.Type)
				}
			}
			if !lianlu.TrustedEvent(e) {
				t.Errorf("event %d (%s from %s, %s) is not trusted", e.Seq, e.Type, e.Source, e.Department)
			}
		}
		after = es[len(es)-1].Seq
	}
	t.Logf("command event types: %v", slices.Sorted(maps.Keys(commandTypes)))
	if len(commandTypes) < 20 {
		t.Errorf("only %d command event types in the demo: %v", len(commandTypes), commandTypes)
	}
}
