package flow_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/netguard"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/webhook"
)

// A webhook.post step's handoff stays pending until the receiver's first
// 2xx; then it is delivered.
func TestRunner_WebhookPostDeliveredAtFirst2xx(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var calls atomic.Int32
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if calls.Add(1) <= 2 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		defer receiver.Close()
		yml := `name: erp_sync
trigger:
  event: order.placed
steps:
  - name: erp
    from: sales
    to: supply_chain
    action: webhook.post
    params:
      url: ` + receiver.URL + `/orders
    sla: 1h
    completes: [erp.confirmed]
`
		admin := lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "test", Department: "admin", Role: lianlu.RoleAdmin})
		if _, _, err := flow.NewService(e.db, e.runner).Put(admin, "erp_sync", yml, 0); err != nil {
			t.Fatal(err)
		}
		webhooks := sqlstore.NewWebhookService(e.db)
		r := flow.NewRunner(e.db, flow.RunnerConfig{EnqueueWebhook: webhooks.EnqueueFlowWebhook})
		if err := r.Load(ctx); err != nil {
			t.Fatal(err)
		}
		e.runner = r
		o := e.place(t, "ERP-1", 1, time.Time{})
		e.drain(t)
		h := e.handoffs(t, sqlstore.OrderSubject(o.ID))["erp"]
		if h.Status != "pending" || h.DeliveredAt != nil {
			t.Fatalf("before delivery: %+v", h)
		}
		// The receiver is on loopback: allowed explicitly.
		w := webhook.NewWorker(webhook.Config{Store: webhooks, Outbound: netguard.MustNew("127.0.0.1/32"), BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond,
			PollInterval: 5 * time.Millisecond, Rand: func() float64 { return 0 }})
		deadline := time.Now().Add(20 * time.Second)
		for calls.Load() < 3 && time.Now().Before(deadline) {
			if _, err := w.ProcessDue(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		e.drain(t)
		h = e.handoffs(t, sqlstore.OrderSubject(o.ID))["erp"]
		if calls.Load() != 3 || h.Status != "open" || h.DeliveredAt == nil {
			t.Fatalf("after delivery (%d calls): %+v", calls.Load(), h)
		}
	})
}
