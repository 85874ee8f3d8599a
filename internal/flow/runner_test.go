package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/sla"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var shanghai = func() *time.Location { l, _ := time.LoadLocation("Asia/Shanghai"); return l }()

// env is a migrated database with a catalogue, the default flows and a
// runner driven by hand.
type env struct {
	db     *sqlstore.DB
	clock  *clock
	runner *flow.Runner
	orders *sqlstore.OrderService
}

func forEachDialect(t *testing.T, f func(t *testing.T, e *env)) {
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) { f(t, newEnv(t, d)) })
	}
}

func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	ctx := context.Background()
	// Monday 2026-11-23 10:00 in Shanghai: inside business hours.
	c := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)}
	db := sqlstoretest.MustOpen(t, dialect, sqlstore.Options{Now: c.Now})
	cat := sqlstore.NewCatalogService(db)
	for _, p := range []lianlu.Product{{SKU: "SKU-1", Name: "Purifier", Category: "air", Price: 199900, Active: true}} {
		if _, _, err := cat.UpsertProduct(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	lat, lng := 31.23, 121.47
	if _, _, err := cat.UpsertLocation(ctx, lianlu.Location{Code: "WH-SH", Kind: "warehouse", Name: "Shanghai DC", Lat: &lat, Lng: &lng, Active: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstore.NewInventoryService(db).Adjust(ctx, lianlu.Adjustment{SKU: "SKU-1", Location: "WH-SH", Delta: 10, Reason: "receipt"}); err != nil {
		t.Fatal(err)
	}
	if err := flow.Seed(ctx, db, flow.Defaults(), false); err != nil {
		t.Fatal(err)
	}
	r := flow.NewRunner(db, flow.RunnerConfig{})
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{db: db, clock: c, runner: r, orders: sqlstore.NewOrderService(db)}
}

// drain runs the runner until the log is consumed.
func (e *env) drain(t *testing.T) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		n, err := e.runner.ProcessOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("runner did not drain")
}

func (e *env) place(t *testing.T, ext string, qty int64, placedAt time.Time) lianlu.Order {
	t.Helper()
	lat, lng := 31.0, 121.0
	o, _, err := e.orders.PlaceOrder(context.Background(), lianlu.OrderPlacement{ExternalID: ext, Channel: "online", PlacedAt: placedAt,
		Lines: []lianlu.OrderLine{{SKU: "SKU-1", Qty: qty}}, ShipTo: &lianlu.Address{Address: "x", Lat: &lat, Lng: &lng}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (e *env) handoffs(t *testing.T, subject string) map[string]lianlu.Handoff {
	t.Helper()
	hs, err := sqlstore.NewHandoffService(e.db).FindHandoffs(context.Background(), lianlu.HandoffFilter{Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]lianlu.Handoff{}
	for _, h := range hs {
		out[h.Step] = h
	}
	return out
}

func TestRunner_OrderFlow(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		o := e.place(t, "SHOP-1", 2, time.Time{})
		e.drain(t)
		hs := e.handoffs(t, sqlstore.OrderSubject(o.ID))
		ful, wo := hs["fulfillment"], hs["followup"]
		if len(hs) != 2 || ful.Status != "open" || wo.Status != "open" {
			t.Fatalf("handoffs %+v", hs)
		}
		if ful.FromDepartment != "sales" || ful.ToDepartment != "supply_chain" || wo.ToDepartment != "service" {
			t.Fatalf("departments: %+v / %+v", ful, wo)
		}
		if ful.DeliveredAt == nil || wo.DeliveredAt == nil || ful.Target == "" || wo.Target == "" {
			t.Fatalf("not delivered: %+v / %+v", ful, wo)
		}
		// Due times come from the receivers' business calendars (default:
		// Mon–Fri 09:00–18:00 Shanghai): 2 h from Monday 10:00 is 12:00;
		// 24 business hours is Wednesday 16:00.
		cal := sla.Default("x", "Asia/Shanghai")
		want24, _ := cal.AddBusiness(o.PlacedAt, 24*time.Hour)
		if !wo.DueAt.Equal(time.Date(2026, 11, 23, 12, 0, 0, 0, shanghai)) || !ful.DueAt.Equal(want24) ||
			!want24.Equal(time.Date(2026, 11, 25, 16, 0, 0, 0, shanghai)) {
			t.Fatalf("due: fulfillment %v (want %v), followup %v", ful.DueAt, want24, wo.DueAt)
		}
		f, err := sqlstore.NewFulfillmentService(e.db).FindFulfillments(ctx, lianlu.FulfillmentFilter{OrderID: o.ID})
		if err != nil || len(f) != 1 || f[0].Status != "reserved" || sqlstore.FulfillmentSubject(f[0].ID) != ful.Target {
			t.Fatalf("fulfillment %+v %v", f, err)
		}
		wos, _ := sqlstore.NewWorkOrderService(e.db).FindWorkOrders(ctx, lianlu.WorkOrderFilter{Subject: sqlstore.OrderSubject(o.ID)})
		if len(wos) != 1 || wos[0].Kind != "order_followup" || fmt.Sprintf("workorder/%d", wos[0].ID) != wo.Target {
			t.Fatalf("work orders %+v", wos)
		}

		// Accepting the work order and the first contact with the customer
		// complete its handoff ("first contact within 2 business hours");
		// resolving it later changes nothing.
		e.clock.Set(e.clock.Now().Add(30 * time.Minute))
		wsvc := sqlstore.NewWorkOrderService(e.db)
		if _, err := wsvc.AcceptWorkOrder(ctx, wos[0].ID, "agent"); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(e.clock.Now().Add(30 * time.Minute))
		contacted, err := wsvc.RecordContact(ctx, wos[0].ID, "phone", "delivery date confirmed")
		if err != nil || contacted.ContactedAt == nil || contacted.Status != "accepted" {
			t.Fatalf("contact: %+v %v", contacted, err)
		}
		e.drain(t)
		wo = e.handoffs(t, sqlstore.OrderSubject(o.ID))["followup"]
		if wo.Status != "done" || wo.AcceptedAt == nil || wo.DoneAt == nil || wo.BreachedAt != nil ||
			*wo.Clocks.PickupSeconds != 1800 || *wo.Clocks.WorkSeconds != 1800 {
			t.Fatalf("followup after contact: %+v clocks %+v", wo, wo.Clocks)
		}
		e.clock.Set(e.clock.Now().Add(3 * time.Hour))
		if _, err := wsvc.ResolveWorkOrder(ctx, wos[0].ID, "contacted", ""); err != nil {
			t.Fatal(err)
		}
		e.drain(t)
		if after := e.handoffs(t, sqlstore.OrderSubject(o.ID))["followup"]; !after.DoneAt.Equal(*wo.DoneAt) || after.BreachedAt != nil {
			t.Fatalf("followup after resolve: %+v", after)
		}

		// The same order placed again (same external id) creates nothing.
		if again := e.place(t, "SHOP-1", 2, time.Time{}); again.ID != o.ID {
			t.Fatalf("second placement created order %d", again.ID)
		}
		e.drain(t)
		if fs, _ := sqlstore.NewFulfillmentService(e.db).FindFulfillments(ctx, lianlu.FulfillmentFilter{}); len(fs) != 1 {
			t.Fatalf("%d fulfillments after a repeated order", len(fs))
		}
		if ws, _ := wsvc.FindWorkOrders(ctx, lianlu.WorkOrderFilter{}); len(ws) != 1 {
			t.Fatalf("%d work orders after a repeated order", len(ws))
		}

		// Replaying the runner from position 0 changes nothing.
		before := snapshot(t, e.db)
		if err := e.db.ResetSubscription(ctx, flow.SubscriptionName, 0); err != nil {
			t.Fatal(err)
		}
		e.drain(t)
		if after := snapshot(t, e.db); after != before {
			t.Fatalf("replay changed state:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// snapshot summarises what the runner writes.
func snapshot(t *testing.T, db *sqlstore.DB) string {
	t.Helper()
	ctx := context.Background()
	hs, _ := sqlstore.NewHandoffService(db).FindHandoffs(ctx, lianlu.HandoffFilter{Limit: 1000})
	fs, _ := sqlstore.NewFulfillmentService(db).FindFulfillments(ctx, lianlu.FulfillmentFilter{Limit: 1000})
	ws, _ := sqlstore.NewWorkOrderService(db).FindWorkOrders(ctx, lianlu.WorkOrderFilter{Limit: 1000})
	max, _ := sqlstore.NewEventService(db).MaxSeq(ctx)
	s := fmt.Sprintf("events=%d handoffs=%d fulfillments=%d workorders=%d", max, len(hs), len(fs), len(ws))
	for _, h := range hs {
		s += fmt.Sprintf(" [%d %s %s %v]", h.ID, h.Step, h.Status, h.DoneAt != nil)
	}
	return s
}

func TestRunner_BreachCauses(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		o := e.place(t, "SLOW-1", 1, time.Time{})
		e.drain(t)
		// Nobody picks the follow-up up; at 12:30 (due 12:00) the scanner
		// marks it breached by pickup, service responsible.
		e.clock.Set(time.Date(2026, 11, 23, 12, 30, 0, 0, shanghai))
		n, err := e.runner.ScanOnce(ctx)
		if err != nil || n != 1 {
			t.Fatalf("scan: %d %v", n, err)
		}
		h := e.handoffs(t, sqlstore.OrderSubject(o.ID))["followup"]
		if h.BreachedAt == nil || h.BreachCause != sla.CausePickup || h.ResponsibleDepartment != "service" || h.Status != "open" {
			t.Fatalf("breach: %+v", h)
		}
		if n, _ := e.runner.ScanOnce(ctx); n != 0 {
			t.Fatalf("breach marked twice")
		}
		// An order whose event arrives a day late: its follow-up is
		// overdue on arrival, and the cause is the upstream sync.
		late := e.place(t, "LATE-1", 1, e.clock.Now().Add(-26*time.Hour))
		e.drain(t)
		e.runner.ScanOnce(ctx)
		h = e.handoffs(t, sqlstore.OrderSubject(late.ID))["followup"]
		if h.BreachedAt == nil || h.BreachCause != sla.CauseUpstreamSync || h.ResponsibleDepartment != "sales" {
			t.Fatalf("late trigger: %+v", h)
		}
		es, _ := sqlstore.NewEventService(e.db).FindEvents(ctx, lianlu.EventFilter{Types: []string{"handoff.breached"}})
		if len(es) != 2 {
			t.Fatalf("%d handoff.breached events", len(es))
		}
	})
}

// 50 concurrent orders for a SKU with 10 units: exactly 10 reserved, the
// rest backordered; backorders start the backorder flow.
func TestRunner_ConcurrentOrdersNeverOversell(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.place(t, fmt.Sprintf("RUSH-%d", i), 1, time.Time{})
			}()
		}
		wg.Wait()
		e.drain(t)
		ctx := context.Background()
		fs := sqlstore.NewFulfillmentService(e.db)
		reserved, _ := fs.FindFulfillments(ctx, lianlu.FulfillmentFilter{Status: "reserved", Limit: 100})
		back, _ := fs.FindFulfillments(ctx, lianlu.FulfillmentFilter{Status: "backordered", Limit: 100})
		levels, _ := sqlstore.NewInventoryService(e.db).FindStockLevels(ctx, lianlu.InventoryFilter{SKU: "SKU-1"})
		if len(reserved) != 10 || len(back) != 40 || levels[0].Reserved != 10 || levels[0].Available != 0 {
			t.Fatalf("%d reserved, %d backordered, stock %+v", len(reserved), len(back), levels)
		}
		notes, _ := sqlstore.NewEventService(e.db).FindEvents(ctx, lianlu.EventFilter{Types: []string{"notification.sent"}, Limit: 100})
		if len(notes) != 40 || notes[0].Department != "sales" {
			t.Fatalf("%d backorder notifications", len(notes))
		}
	})
}

func TestRunner_FeedbackLoop(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		o := e.place(t, "FB-1", 1, time.Time{})
		fsvc := sqlstore.NewFeedbackService(e.db)
		bad, err := fsvc.SubmitFeedback(ctx, lianlu.FeedbackInput{Rating: 1, ProblemType: "noise", Text: "太吵了", OrderID: o.ID})
		if err != nil {
			t.Fatal(err)
		}
		again, err := fsvc.SubmitFeedback(ctx, lianlu.FeedbackInput{Rating: 2, ProblemType: "noise", Text: "noisy", SKU: "SKU-1"})
		if err != nil {
			t.Fatal(err)
		}
		good, _ := fsvc.SubmitFeedback(ctx, lianlu.FeedbackInput{Rating: 5, ProblemType: "praise", Text: "great", SKU: "SKU-1"})
		e.drain(t)

		hs := e.handoffs(t, sqlstore.FeedbackSubject(bad.ID))
		if len(hs) != 2 || hs["backlog"].ToDepartment != "product" || hs["followup_urgent"].ToDepartment != "service" {
			t.Fatalf("rating 1 handoffs: %+v", hs)
		}
		wsvc := sqlstore.NewWorkOrderService(e.db)
		urgent, _ := wsvc.FindWorkOrders(ctx, lianlu.WorkOrderFilter{Subject: sqlstore.FeedbackSubject(bad.ID)})
		if len(urgent) != 1 || urgent[0].Priority != "high" || urgent[0].Kind != "feedback_followup" {
			t.Fatalf("rating 1 work order: %+v", urgent)
		}
		if g := e.handoffs(t, sqlstore.FeedbackSubject(good.ID)); g["followup"].ID == 0 || g["followup_urgent"].ID != 0 {
			t.Fatalf("rating 5 handoffs: %+v", g)
		}
		// The two noise complaints about SKU-1 weigh on one backlog item.
		items, _ := fsvc.FindBacklogItems(ctx, "", 0, 10)
		var noise lianlu.BacklogItem
		for _, it := range items {
			if it.ProblemType == "noise" {
				noise = it
			}
		}
		if noise.Weight != 2 || len(noise.FeedbackIDs) != 2 || noise.FeedbackIDs[1] != again.ID {
			t.Fatalf("backlog: %+v", items)
		}

		// The loop closes only when both sides are done.
		if _, err := wsvc.ResolveWorkOrder(ctx, urgent[0].ID, "apologised", ""); err != nil {
			t.Fatal(err)
		}
		e.drain(t)
		f, _ := fsvc.FindFeedbackByID(ctx, bad.ID)
		if f.Status != "open" || !f.ServiceDone || f.ProductDone {
			t.Fatalf("after service: %+v", f)
		}
		if _, err := fsvc.TriageBacklogItem(ctx, noise.ID, "fan bearing"); err != nil {
			t.Fatal(err)
		}
		e.drain(t)
		f, _ = fsvc.FindFeedbackByID(ctx, bad.ID)
		if f.Status != "closed" || !f.ProductDone || !f.ServiceDone || f.ClosedAt == nil {
			t.Fatalf("after product: %+v", f)
		}
		closed, _ := sqlstore.NewEventService(e.db).FindEvents(ctx, lianlu.EventFilter{Types: []string{"feedback.closed"}, Subject: sqlstore.FeedbackSubject(bad.ID)})
		if len(closed) != 1 {
			t.Fatalf("%d feedback.closed events", len(closed))
		}
	})
}

// Collector traffic between orders does not hold the runner back or make
// it act: batches of events no flow can use are skipped, and the order
// among them still gets its handoffs, once.
func TestRunner_SkipsCollectorTraffic(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		events := sqlstore.NewEventService(e.db)
		track := func(prefix string) {
			var batch []lianlu.Event
			for i := range 250 {
				batch = append(batch, lianlu.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Source: "segment:1", Type: "segment.track", Department: lianlu.DeptMarketing, Subject: "anon/a"})
			}
			if _, err := events.AppendEvents(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		track("a")
		o := e.place(t, "SKIP-1", 1, e.clock.Now())
		track("b")
		e.drain(t)
		hs := e.handoffs(t, fmt.Sprintf("order/%d", o.ID))
		if len(hs) != 2 {
			t.Fatalf("handoffs %+v", hs)
		}
		e.drain(t)
		if hs := e.handoffs(t, fmt.Sprintf("order/%d", o.ID)); len(hs) != 2 {
			t.Fatalf("handoffs after a second drain %+v", hs)
		}
	})
}

// TestRunner_IgnoresForgedEvents: events that reached the log past the
// intake (appended straight to it) with a command-owned type from a
// foreign source, or an outside fact of the wrong department, change no
// handoff, start no flow and create no work: the KPI clocks stay true.
func TestRunner_IgnoresForgedEvents(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		o := e.place(t, "SHOP-F", 2, time.Time{})
		back := e.place(t, "SHOP-B", 50, time.Time{}) // more than the stock: backordered
		e.drain(t)
		fs := sqlstore.NewFulfillmentService(e.db)
		wos := sqlstore.NewWorkOrderService(e.db)
		ful, err := fs.FindFulfillments(ctx, lianlu.FulfillmentFilter{OrderID: o.ID})
		if err != nil || len(ful) != 1 {
			t.Fatalf("fulfillments %+v %v", ful, err)
		}
		wo, err := wos.FindWorkOrders(ctx, lianlu.WorkOrderFilter{Subject: sqlstore.OrderSubject(o.ID)})
		if err != nil || len(wo) != 1 {
			t.Fatalf("work orders %+v %v", wo, err)
		}
		bf, _ := fs.FindFulfillments(ctx, lianlu.FulfillmentFilter{OrderID: back.ID})
		if len(bf) != 1 || bf[0].Status != lianlu.FulfillmentBackordered {
			t.Fatalf("backordered fulfillment %+v", bf)
		}
		fSubject, woSubject, bSubject := sqlstore.FulfillmentSubject(ful[0].ID), fmt.Sprintf("workorder/%d", wo[0].ID), sqlstore.FulfillmentSubject(bf[0].ID)
		if hs := e.handoffs(t, bSubject); hs["notify_sales"].Status != lianlu.HandoffOpen {
			t.Fatalf("backorder handoffs %+v", hs)
		}

		forged := []lianlu.Event{
			// Defect 2: a shipment and a resolution nobody made.
			{ID: "f-1", Source: "shop", Type: "fulfillment.shipped", Subject: fSubject, Department: lianlu.DeptSupplyChain},
			{ID: "f-2", Source: "crm", Type: "workorder.resolved", Subject: woSubject, Department: lianlu.DeptService},
			{ID: "f-3", Source: "crm", Type: "workorder.accepted", Subject: woSubject, Department: lianlu.DeptService},
			// A second order.placed for the same order: a second work order.
			{ID: "f-4", Source: "shop", Type: "order.placed", Subject: sqlstore.OrderSubject(o.ID), Department: lianlu.DeptSales,
				Data: json.RawMessage(`{"id":1,"channel":"online"}`)},
			// Cancellations that are not the command's.
			{ID: "f-5", Source: "shop", Type: "order.cancelled", Subject: sqlstore.OrderSubject(o.ID), Department: lianlu.DeptSales},
			{ID: "f-6", Source: "crm", Type: "crm.case.cancelled", Subject: sqlstore.OrderSubject(o.ID), Department: lianlu.DeptSales},
			// An outside fact that completes a handoff, from a department
			// that is not the handoff's receiver.
			{ID: "f-7", Source: "crm", Type: "customer.contacted", Subject: bSubject, Department: lianlu.DeptMarketing},
		}
		if _, err := sqlstore.NewEventService(e.db).AppendEvents(ctx, forged); err != nil {
			t.Fatal(err)
		}
		// Lianlu's source with a type no command writes cannot reach the
		// log at all.
		if _, err := sqlstore.NewEventService(e.db).AppendEvents(ctx, []lianlu.Event{{ID: "f-8", Source: lianlu.CommandSource, Type: "customer.contacted",
			Subject: bSubject, Department: lianlu.DeptSales}}); lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Fatalf("a command-source event outside the command namespaces: %v", err)
		}
		e.drain(t)

		hs := e.handoffs(t, sqlstore.OrderSubject(o.ID))
		if len(hs) != 2 || hs["fulfillment"].Status != lianlu.HandoffOpen || hs["followup"].Status != lianlu.HandoffOpen ||
			hs["fulfillment"].DoneAt != nil || hs["followup"].AcceptedAt != nil {
			t.Errorf("order handoffs after forgeries: %+v", hs)
		}
		all, _ := sqlstore.NewHandoffService(e.db).FindHandoffs(ctx, lianlu.HandoffFilter{Subject: sqlstore.OrderSubject(o.ID), Limit: 100})
		if len(all) != 2 {
			t.Errorf("%d handoffs of the order, want 2", len(all))
		}
		if wo, _ := wos.FindWorkOrders(ctx, lianlu.WorkOrderFilter{Subject: sqlstore.OrderSubject(o.ID)}); len(wo) != 1 || wo[0].Status != lianlu.WorkOrderOpen {
			t.Errorf("work orders after forgeries: %+v", wo)
		}
		if f, _ := fs.FindFulfillmentByID(ctx, ful[0].ID); f.Status != lianlu.FulfillmentReserved {
			t.Errorf("fulfillment %+v", f)
		}
		if hs := e.handoffs(t, bSubject); hs["notify_sales"].Status != lianlu.HandoffOpen {
			t.Errorf("backorder notice completed by a forgery: %+v", hs["notify_sales"])
		}

		// A flow an outside fact starts opens handoffs only from the
		// department that sent it.
		defs, err := flow.Parse([]byte(`name: crm_ticket
trigger:
  event: crm.ticket.opened
steps:
  - name: callback
    from: sales
    to: service
    action: workorder.create
    params:
      kind: after_sales
`))
		if err != nil {
			t.Fatal(err)
		}
		if err := flow.Seed(ctx, e.db, defs, false); err != nil {
			t.Fatal(err)
		}
		if err := e.runner.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := sqlstore.NewEventService(e.db).AppendEvents(ctx, []lianlu.Event{
			{ID: "t-1", Source: "crm", Type: "crm.ticket.opened", Subject: "ticket/1", Department: lianlu.DeptMarketing},
			{ID: "t-2", Source: "crm", Type: "crm.ticket.opened", Subject: "ticket/2", Department: lianlu.DeptSales},
		}); err != nil {
			t.Fatal(err)
		}
		e.drain(t)
		if hs := e.handoffs(t, "ticket/1"); len(hs) != 0 {
			t.Errorf("marketing's event opened sales' handoffs: %+v", hs)
		}
		if hs := e.handoffs(t, "ticket/2"); hs["callback"].Status != lianlu.HandoffOpen {
			t.Errorf("sales' ticket: %+v", hs)
		}

		// The receiving department's own system completes it.
		if _, err := sqlstore.NewEventService(e.db).AppendEvents(ctx, []lianlu.Event{
			{ID: "ok-1", Source: "crm", Type: "customer.contacted", Subject: bSubject, Department: lianlu.DeptSales},
		}); err != nil {
			t.Fatal(err)
		}
		e.drain(t)
		if hs := e.handoffs(t, bSubject); hs["notify_sales"].Status != lianlu.HandoffDone {
			t.Errorf("backorder notice not completed by sales' CRM: %+v", hs["notify_sales"])
		}
	})
}
