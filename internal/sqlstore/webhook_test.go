package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
	"github.com/lianlu/lianlu/internal/webhook"
)

// whClock is a settable clock.
type whClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *whClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *whClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// forEachDialectClock is forEachDialect with the database on a fake clock.
func forEachDialectClock(t *testing.T, f func(t *testing.T, db *sqlstore.DB, clock *whClock)) {
	t.Helper()
	for _, d := range dialects(t) {
		t.Run(d, func(t *testing.T) {
			clock := &whClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
			f(t, sqlstoretest.MustOpen(t, d, sqlstore.Options{Now: clock.Now}), clock)
		})
	}
}

func whAdmin(t *testing.T) context.Context {
	return lianlu.NewContextWithPrincipal(ctxT(t), lianlu.Principal{Name: "ops", Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
}

func fieldsOf(err error) []string {
	var out []string
	for _, f := range lianlu.ErrorFields(err) {
		out = append(out, f.Field)
	}
	return out
}

func TestWebhooks_CreateValidateDisableRotate(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, db *sqlstore.DB, clock *whClock) {
		ctx := whAdmin(t)
		s := sqlstore.NewWebhookService(db)

		_, err := s.CreateWebhook(ctx, webhook.Create{URL: "ftp://x", EventTypes: []string{"order.placed", "order.*.x", ""}, Department: "nope"})
		if lianlu.ErrorCode(err) != lianlu.EINVALID || !slices.Equal(fieldsOf(err), []string{"url", "event_types[1]", "event_types[2]", "department"}) {
			t.Fatalf("invalid create: %v %v", err, fieldsOf(err))
		}
		for _, tc := range []struct{ url, field string }{
			{"", "url"}, {"/relative", "url"}, {"https://user:pw@example.com/", "url"}, {"https://" + strings.Repeat("a", 2050), "url"},
		} {
			_, err := s.CreateWebhook(ctx, webhook.Create{URL: tc.url, EventTypes: []string{"order.*"}})
			if !slices.Equal(fieldsOf(err), []string{tc.field}) {
				t.Errorf("url %q: %v", tc.url, err)
			}
		}
		if _, err := s.CreateWebhook(ctx, webhook.Create{URL: "https://example.com/"}); !slices.Equal(fieldsOf(err), []string{"event_types"}) {
			t.Errorf("no event types: %v", err)
		}

		created, err := s.CreateWebhook(ctx, webhook.Create{URL: " https://erp.example.com/hooks ", EventTypes: []string{"order.*", "order.*", "feedback.submitted"},
			Department: lianlu.DeptSales, Description: "ERP"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(created.Secret, "whsec_") || webhook.ParseSecret(created.Secret) != nil {
			t.Fatalf("secret %q", created.Secret)
		}
		w := created.Webhook
		if w.ID == 0 || w.URL != "https://erp.example.com/hooks" || !slices.Equal(w.EventTypes, []string{"order.*", "feedback.submitted"}) ||
			w.Status != webhook.StatusActive || w.CreatedBy != "ops" || !w.CreatedAt.Equal(clock.Now()) {
			t.Fatalf("created %+v", w)
		}
		got, err := s.FindWebhookByID(ctx, w.ID)
		if err != nil || got.URL != w.URL || got.Department != lianlu.DeptSales {
			t.Fatalf("find %+v %v", got, err)
		}
		if _, err := s.FindWebhookByID(ctx, 999); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Fatalf("missing webhook: %v", err)
		}

		// Rotation: the new secret signs first, the previous one during the
		// grace period only.
		clock.Add(time.Minute)
		rotated, err := s.RotateWebhookSecret(ctx, w.ID)
		if err != nil || rotated.Secret == created.Secret || rotated.PreviousSecretExpiresAt == nil {
			t.Fatalf("rotate %+v %v", rotated, err)
		}
		id := mustEnqueueDirect(t, db, sqlstore.DirectDelivery{URL: "https://x.example/", Payload: json.RawMessage(`{}`)})
		_ = id
		mustAppendSales(t, db, "after-rotate", "order.placed")
		if _, err := s.FanOut().ProcessOnce(ctx); err != nil {
			t.Fatal(err)
		}
		claims, err := s.ClaimDeliveries(ctx, 10, time.Minute)
		if err != nil || len(claims) != 2 {
			t.Fatalf("claims %d %v", len(claims), err)
		}
		for _, c := range claims {
			if c.Delivery.WebhookID == w.ID && !slices.Equal(c.Secrets, []string{rotated.Secret, created.Secret}) {
				t.Fatalf("secrets during grace %v", c.Secrets)
			}
			if c.Delivery.WebhookID == 0 && len(c.Secrets) != 0 {
				t.Fatalf("unsigned direct delivery has secrets %v", c.Secrets)
			}
		}

		// Disable: pending deliveries die, a second disable changes nothing.
		disabled, err := s.DisableWebhook(ctx, w.ID)
		if err != nil || disabled.Status != webhook.StatusDisabled || disabled.DisabledAt == nil {
			t.Fatalf("disable %+v %v", disabled, err)
		}
		if _, err := s.DisableWebhook(ctx, w.ID); err != nil {
			t.Fatal(err)
		}
		ds, err := s.FindDeliveries(ctx, webhook.DeliveryFilter{WebhookID: w.ID})
		if err != nil || len(ds) != 1 || ds[0].Status != webhook.DeliveryDead || ds[0].LastError != "webhook disabled" {
			t.Fatalf("deliveries after disable %+v %v", ds, err)
		}
		if _, err := s.RotateWebhookSecret(ctx, w.ID); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Fatalf("rotate disabled: %v", err)
		}
		if _, err := s.ReplayDelivery(ctx, ds[0].ID); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Fatalf("replay for a disabled webhook: %v", err)
		}
		list, err := s.FindWebhooks(ctx, webhook.Filter{Status: webhook.StatusActive})
		if err != nil || len(list) != 0 {
			t.Fatalf("active webhooks %+v %v", list, err)
		}

		entries, err := sqlstore.NewAccessService(db).FindAuditEntries(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range entries {
			if e.TargetType == "webhook" {
				actions = append(actions, e.Action)
			}
		}
		if !slices.Equal(actions, []string{"webhook.disabled", "webhook.secret_rotated", "webhook.created"}) {
			t.Fatalf("audit %v", actions)
		}
	})
}

func mustEnqueueDirect(t *testing.T, db *sqlstore.DB, d sqlstore.DirectDelivery) int64 {
	t.Helper()
	var id int64
	err := db.WithTx(ctxT(t), func(tx *sqlstore.Tx) error {
		var err error
		id, err = sqlstore.EnqueueDeliveryTx(ctxT(t), tx, d)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustAppendSales(t *testing.T, db *sqlstore.DB, id, typ string) lianlu.Event {
	t.Helper()
	e := ev("shop", id, typ)
	res, err := sqlstore.NewEventService(db).AppendEvents(ctxT(t), []lianlu.Event{e})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Event
}

// The fan-out enqueues each matching event once per webhook, honours the
// department filter and the webhook's start, and a replay of the
// subscription from position 0 enqueues nothing new.
func TestWebhooks_FanOutExactlyOnce(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, db *sqlstore.DB, clock *whClock) {
		ctx := whAdmin(t)
		s := sqlstore.NewWebhookService(db)
		mustAppendSales(t, db, "before", "order.placed")
		all, err := s.CreateWebhook(ctx, webhook.Create{URL: "https://a.example/", EventTypes: []string{"order.*"}})
		if err != nil {
			t.Fatal(err)
		}
		service, err := s.CreateWebhook(ctx, webhook.Create{URL: "https://b.example/", EventTypes: []string{"order.placed"}, Department: lianlu.DeptService})
		if err != nil {
			t.Fatal(err)
		}
		placed := mustAppendSales(t, db, "O-1", "order.placed")
		mustAppendSales(t, db, "O-1-paid", "order.paid")
		mustAppendSales(t, db, "F-1", "feedback.submitted")
		mustAppendSales(t, db, "orderx", "orders.placed")

		enqueued := s.Enqueued()
		fan := s.FanOut()
		if _, err := fan.ProcessOnce(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-enqueued:
		default:
			t.Fatal("fan-out commit did not signal Enqueued")
		}
		if err := db.ResetSubscription(ctx, sqlstore.WebhookConsumerName, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := fan.ProcessOnce(ctx); err != nil {
			t.Fatal(err)
		}
		ds, err := s.FindDeliveries(ctx, webhook.DeliveryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.EventType)
			if d.WebhookID != all.ID || d.Status != webhook.DeliveryPending || d.Attempts != 0 || d.NextAttemptAt == nil {
				t.Fatalf("delivery %+v", d)
			}
		}
		if !slices.Equal(got, []string{"order.paid", "order.placed"}) {
			t.Fatalf("delivered types %v", got)
		}
		if ds, _ := s.FindDeliveries(ctx, webhook.DeliveryFilter{WebhookID: service.ID}); len(ds) != 0 {
			t.Fatalf("department filter let through %+v", ds)
		}
		claims, err := s.ClaimDeliveries(ctx, 10, time.Minute)
		if err != nil || len(claims) != 2 {
			t.Fatalf("claims %v %v", claims, err)
		}
		c := claims[0]
		var ce map[string]any
		if err := json.Unmarshal(c.Payload, &ce); err != nil {
			t.Fatal(err)
		}
		if c.ContentType != "application/cloudevents+json" || c.Delivery.MsgID != fmt.Sprint("evt_", placed.Seq) || ce["specversion"] != "1.0" || ce["id"] != placed.ID ||
			ce["type"] != "order.placed" || ce["source"] != "shop" || ce["subject"] != "order/O-1" {
			t.Fatalf("claim %+v payload %s", c.Delivery, c.Payload)
		}
	})
}

// With no webhook that matches, the fan-out skips events without a
// transaction; a webhook created after the skip still gets every later
// event, and the skipped ones are never enqueued.
func TestWebhooks_FanOutSkipsUnmatchedEvents(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, db *sqlstore.DB, clock *whClock) {
		ctx := whAdmin(t)
		s := sqlstore.NewWebhookService(db)
		fan := s.FanOut()
		for i := range 5 {
			mustAppendSales(t, db, fmt.Sprint("early-", i), "order.placed")
		}
		if n, err := fan.ProcessOnce(ctx); err != nil || n != 5 {
			t.Fatalf("skip: %d %v", n, err)
		}
		if _, err := s.CreateWebhook(ctx, webhook.Create{URL: "https://a.example/", EventTypes: []string{"order.*"}}); err != nil {
			t.Fatal(err)
		}
		late := mustAppendSales(t, db, "late", "order.placed")
		for range 3 {
			if _, err := fan.ProcessOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		ds, err := s.FindDeliveries(ctx, webhook.DeliveryFilter{})
		if err != nil || len(ds) != 1 || ds[0].EventSeq != late.Seq {
			t.Fatalf("deliveries %+v %v", ds, err)
		}
	})
}

// Claims hide deliveries for their lease; attempts move them on; a stale
// claim cannot record; a lost lease makes the delivery due again.
func TestWebhooks_ClaimAndRecord(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, db *sqlstore.DB, clock *whClock) {
		ctx := ctxT(t)
		s := sqlstore.NewWebhookService(db)
		id := mustEnqueueDirect(t, db, sqlstore.DirectDelivery{URL: "https://x.example/", Payload: json.RawMessage(`{"a":1}`), Department: lianlu.DeptService})

		claims, err := s.ClaimDeliveries(ctx, 5, time.Minute)
		if err != nil || len(claims) != 1 || claims[0].Delivery.ID != id || string(claims[0].Payload) != `{"a":1}` {
			t.Fatalf("claim %+v %v", claims, err)
		}
		first := claims[0]
		if again, _ := s.ClaimDeliveries(ctx, 5, time.Minute); len(again) != 0 {
			t.Fatalf("claimed twice %+v", again)
		}
		// The lease runs out (a crashed worker): another claim takes it, and
		// the first claim can no longer record.
		clock.Add(61 * time.Second)
		claims, err = s.ClaimDeliveries(ctx, 5, time.Minute)
		if err != nil || len(claims) != 1 {
			t.Fatalf("reclaim %v %v", claims, err)
		}
		second := claims[0]
		err = s.RecordAttempt(ctx, webhook.AttemptResult{DeliveryID: id, Token: first.Token, Outcome: webhook.OutcomeDelivered, StatusCode: 200, StartedAt: clock.Now()})
		if lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Fatalf("stale claim recorded: %v", err)
		}
		err = s.RecordAttempt(ctx, webhook.AttemptResult{DeliveryID: id, Token: second.Token, Outcome: webhook.OutcomeRetry, RetryIn: 30 * time.Second,
			StatusCode: 503, Error: "HTTP 503", StartedAt: clock.Now(), Duration: 1500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.FindDeliveryByID(ctx, id)
		if err != nil || d.Status != webhook.DeliveryPending || d.Attempts != 1 || !d.NextAttemptAt.Equal(clock.Now().Add(30*time.Second)) ||
			d.LastStatusCode != 503 || d.LastError != "HTTP 503" || len(d.AttemptLog) != 1 || d.AttemptLog[0].DurationMS != 1500 {
			t.Fatalf("after retry %+v %v", d, err)
		}
		if claims, _ := s.ClaimDeliveries(ctx, 5, time.Minute); len(claims) != 0 {
			t.Fatal("claimed before due")
		}
		clock.Add(30 * time.Second)
		claims, err = s.ClaimDeliveries(ctx, 5, time.Minute)
		if err != nil || len(claims) != 1 || claims[0].Delivery.Attempts != 1 {
			t.Fatalf("due claim %+v %v", claims, err)
		}
		if err := s.RecordAttempt(ctx, webhook.AttemptResult{DeliveryID: id, Token: claims[0].Token, Outcome: webhook.OutcomeDead, Error: "connection refused", StartedAt: clock.Now()}); err != nil {
			t.Fatal(err)
		}
		d, _ = s.FindDeliveryByID(ctx, id)
		if d.Status != webhook.DeliveryDead || d.NextAttemptAt != nil || d.Attempts != 2 || d.LastStatusCode != 0 || d.LastError != "connection refused" {
			t.Fatalf("dead %+v", d)
		}
		if _, err := s.ReplayDelivery(ctx, 999); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Fatalf("replay missing: %v", err)
		}
		r, err := s.ReplayDelivery(whAdmin(t), id)
		if err != nil || r.ID == id || r.ReplayOf != id || r.MsgID != d.MsgID || r.Status != webhook.DeliveryPending || r.Attempts != 0 || len(r.AttemptLog) != 0 {
			t.Fatalf("replay %+v %v", r, err)
		}
		if _, err := s.ReplayDelivery(ctx, r.ID); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Fatalf("replay of a pending delivery: %v", err)
		}
		if ds, _ := s.FindDeliveries(ctx, webhook.DeliveryFilter{Department: lianlu.DeptService, Status: webhook.DeliveryDead}); len(ds) != 1 || ds[0].ID != id {
			t.Fatalf("filter by department and status %+v", ds)
		}
	})
}

// A direct delivery with a handoff appends webhook.delivered when it is
// delivered, in the same transaction; enqueuing for the same handoff again
// returns the same delivery.
func TestWebhooks_DirectDeliveryHandoff(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, db *sqlstore.DB, clock *whClock) {
		ctx := ctxT(t)
		s := sqlstore.NewWebhookService(db)
		trigger := mustAppendSales(t, db, "O-9", "order.placed")

		err := db.WithTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := sqlstore.EnqueueDeliveryTx(ctx, tx, sqlstore.DirectDelivery{URL: "mailto:x", Secret: "whsec_!!", Payload: json.RawMessage(`{`), Department: "nope"})
			return err
		})
		if !slices.Equal(fieldsOf(err), []string{"url", "payload", "secret", "department"}) {
			t.Fatalf("invalid direct delivery: %v %v", err, fieldsOf(err))
		}
		secret, _ := webhook.NewSecret()
		dd := sqlstore.DirectDelivery{URL: "https://erp.example/in", Secret: secret, Payload: json.RawMessage(`{"order":"O-9"}`),
			EventSeq: trigger.Seq, EventID: trigger.ID, EventType: trigger.Type, Subject: "order/O-9", Department: lianlu.DeptSupplyChain, HandoffID: 42}
		id := mustEnqueueDirect(t, db, dd)
		if again := mustEnqueueDirect(t, db, dd); again != id {
			t.Fatalf("second enqueue for the handoff: %d, want %d", again, id)
		}
		claims, err := s.ClaimDeliveries(ctx, 5, time.Minute)
		if err != nil || len(claims) != 1 || claims[0].Delivery.MsgID != "handoff_42" || !slices.Equal(claims[0].Secrets, []string{secret}) ||
			claims[0].ContentType != "application/json" {
			t.Fatalf("claims %+v %v", claims, err)
		}
		clock.Add(time.Second)
		if err := s.RecordAttempt(ctx, webhook.AttemptResult{DeliveryID: id, Token: claims[0].Token, Outcome: webhook.OutcomeDelivered, StatusCode: 204, StartedAt: clock.Now()}); err != nil {
			t.Fatal(err)
		}
		es, err := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{Types: []string{webhook.DeliveredEventType}})
		if err != nil || len(es) != 1 {
			t.Fatalf("delivered events %+v %v", es, err)
		}
		e := es[0]
		var data webhook.DeliveredData
		if err := json.Unmarshal(e.Data, &data); err != nil {
			t.Fatal(err)
		}
		if e.Subject != "order/O-9" || e.Department != lianlu.DeptSupplyChain || e.CausationID != trigger.ID || !e.Time.Equal(clock.Now()) ||
			data.DeliveryID != id || data.HandoffID != 42 || data.EventID != trigger.ID || data.Status != "delivered" || data.StatusCode != 204 {
			t.Fatalf("event %+v data %+v", e, data)
		}
		d, _ := s.FindDeliveryByID(ctx, id)
		if d.Status != webhook.DeliveryDelivered || d.DeliveredAt == nil || !d.DeliveredAt.Equal(clock.Now()) {
			t.Fatalf("delivered %+v", d)
		}
	})
}

// Workers on several connections claim concurrently; each delivery is
// claimed once.
func TestWebhooks_ConcurrentClaims(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, db *sqlstore.DB, clock *whClock) {
		ctx := ctxT(t)
		s := sqlstore.NewWebhookService(db)
		const n = 40
		for i := 0; i < n; i++ {
			mustEnqueueDirect(t, db, sqlstore.DirectDelivery{URL: "https://x.example/", Payload: json.RawMessage(`{}`)})
		}
		var mu sync.Mutex
		seen := map[int64]int{}
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					claims, err := s.ClaimDeliveries(ctx, 3, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if len(claims) == 0 {
						return
					}
					mu.Lock()
					for _, c := range claims {
						seen[c.Delivery.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("%d deliveries claimed, want %d", len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("delivery %d claimed %d times", id, k)
			}
		}
	})
}

// The flow runner's webhook.post: the trigger as a CloudEvent, signed with
// the secret of the webhook secret_ref names, waking the worker at commit.
func TestWebhooks_EnqueueFlowWebhook(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, db *sqlstore.DB, clock *whClock) {
		ctx := whAdmin(t)
		s := sqlstore.NewWebhookService(db)
		hook, err := s.CreateWebhook(ctx, webhook.Create{URL: "https://erp.example/", EventTypes: []string{"nothing.*"}})
		if err != nil {
			t.Fatal(err)
		}
		trigger := mustAppendSales(t, db, "O-5", "order.placed")
		for _, ref := range []string{"x", "webhook/999"} {
			err := db.WithTx(ctx, func(tx *sqlstore.Tx) error {
				return s.EnqueueFlowWebhook(ctx, tx, "https://wms.example/in", ref, trigger, 3)
			})
			if !slices.Equal(fieldsOf(err), []string{"secret_ref"}) {
				t.Fatalf("secret_ref %q: %v", ref, err)
			}
		}
		enqueued := s.Enqueued()
		err = db.WithTx(ctx, func(tx *sqlstore.Tx) error {
			return s.EnqueueFlowWebhook(ctx, tx, "https://wms.example/in", fmt.Sprint("webhook/", hook.ID), trigger, 3)
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-enqueued:
		default:
			t.Fatal("no wake-up at commit")
		}
		claims, err := s.ClaimDeliveries(ctx, 5, time.Minute)
		if err != nil || len(claims) != 1 {
			t.Fatalf("claims %+v %v", claims, err)
		}
		c := claims[0]
		var ce map[string]any
		json.Unmarshal(c.Payload, &ce)
		if c.Delivery.HandoffID != 3 || c.Delivery.MsgID != "handoff_3" || c.Delivery.WebhookID != 0 || c.Delivery.Department != lianlu.DeptSales ||
			!slices.Equal(c.Secrets, []string{hook.Secret}) || c.ContentType != "application/cloudevents+json" || ce["id"] != trigger.ID {
			t.Fatalf("claim %+v payload %s", c, c.Payload)
		}
	})
}
