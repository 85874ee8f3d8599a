package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/netguard"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
	"github.com/lianlu/lianlu/internal/webhook"
)

// clock is a settable clock shared by the database and the worker.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// store is where a test database lives, so that it can be reopened.
type store struct {
	dialect string
	opts    sqlstore.Options
}

// forEachDialect runs f per storage backend; PostgreSQL subtests skip
// without LIANLU_TEST_POSTGRES_URL.
func forEachDialect(t *testing.T, f func(t *testing.T, st store)) {
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) {
			st := store{dialect: d}
			if d == "sqlite" {
				st.opts.Path = filepath.Join(t.TempDir(), "lianlu.db")
			} else {
				st.opts.URL = sqlstoretest.PostgresURL(t)
			}
			f(t, st)
		})
	}
}

// open opens and migrates the database, closed at cleanup.
func (st store) open(t *testing.T, now func() time.Time) *sqlstore.DB {
	t.Helper()
	opts := st.opts
	opts.Now = now
	opts.PollInterval = 20 * time.Millisecond
	return sqlstoretest.OpenAt(t, opts)
}

func adminCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "ops", Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
}

// receiver is a webhook endpoint that verifies every request's signature
// and answers with the next status of its script (200 when it runs out).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	script []int
	reqs   []received
	// gate, when set, holds every request until it is closed.
	gate chan struct{}
}

type received struct {
	msgID, timestamp, contentType string
	header                        http.Header
	body                          []byte
	verifyErr                     error
}

func newReceiver(t *testing.T, script ...int) *receiver {
	r := &receiver{t: t, script: script}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		gate := r.gate
		secret := r.secret
		rec := received{msgID: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"),
			contentType: req.Header.Get("Content-Type"), header: req.Header.Clone(), body: body}
		rec.verifyErr = webhook.Verify(secret, req.Header, body, 5*time.Minute)
		status := http.StatusOK
		if len(r.script) > 0 {
			status, r.script = r.script[0], r.script[1:]
		}
		r.reqs = append(r.reqs, rec)
		r.mu.Unlock()
		if gate != nil {
			<-gate
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "status %d", status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func appendEvent(t *testing.T, db *sqlstore.DB, id, typ string) lianlu.Event {
	t.Helper()
	res, err := sqlstore.NewEventService(db).AppendEvents(context.Background(), []lianlu.Event{{
		ID: id, Source: "shop", Type: typ, Subject: "order/" + id, Department: lianlu.DeptSales, Data: json.RawMessage(`{"total":"99.00"}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Event
}

// The acceptance test of the issue: a receiver that fails 3 times then
// succeeds gets the delivery acknowledged once, with valid signatures each
// time.
func TestWorker_FailsThreeTimesThenSucceeds(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st store) {
		ctx := adminCtx(t)
		db := st.open(t, nil)
		svc := sqlstore.NewWebhookService(db)
		svc.Outbound = allowLoopback
		rcv := newReceiver(t, 500, 500, 500, 200)
		hook, err := svc.CreateWebhook(ctx, webhook.Create{URL: rcv.srv.URL + "/hooks", EventTypes: []string{"order.*"}})
		if err != nil {
			t.Fatal(err)
		}
		rcv.setSecret(hook.Secret)

		w := webhook.NewWorker(webhook.Config{Store: svc, FanOut: svc.FanOut(), Outbound: allowLoopback, BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond,
			PollInterval: 10 * time.Millisecond})
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		e := appendEvent(t, db, "O-1001", "order.placed")

		var d webhook.Delivery
		waitFor(t, "the delivery to be delivered", func() bool {
			ds, err := svc.FindDeliveries(ctx, webhook.DeliveryFilter{WebhookID: hook.ID})
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) == 1 {
				d = ds[0]
			}
			return d.Status == webhook.DeliveryDelivered
		})
		w.Stop()

		reqs := rcv.requests()
		if len(reqs) != 4 {
			t.Fatalf("%d requests, want 4", len(reqs))
		}
		for i, r := range reqs {
			if r.verifyErr != nil {
				t.Errorf("request %d: signature: %v", i+1, r.verifyErr)
			}
			if r.msgID != reqs[0].msgID || r.msgID != d.MsgID {
				t.Errorf("request %d: webhook-id %q, want the same on every attempt (%q)", i+1, r.msgID, d.MsgID)
			}
			if r.contentType != "application/cloudevents+json" {
				t.Errorf("request %d: content type %q", i+1, r.contentType)
			}
			var ce map[string]any
			if err := json.Unmarshal(r.body, &ce); err != nil || ce["id"] != e.ID || ce["type"] != "order.placed" || ce["specversion"] != "1.0" {
				t.Errorf("request %d: body %s", i+1, r.body)
			}
		}
		if d.Attempts != 4 || len(d.AttemptLog) != 4 || d.DeliveredAt == nil || d.NextAttemptAt != nil || d.LastStatusCode != 200 || d.LastError != "" {
			t.Fatalf("delivery %+v", d)
		}
		for i, a := range d.AttemptLog {
			wantCode, wantErr := 500, "HTTP 500: status 500"
			if i == 3 {
				wantCode, wantErr = 200, ""
			}
			if a.Attempt != i+1 || a.StatusCode != wantCode || a.Error != wantErr || a.DurationMS < 0 {
				t.Errorf("attempt log %d: %+v", i+1, a)
			}
		}
	})
}

// With a fake clock: a receiver that always fails makes the delivery dead
// after MaxAttempts, with backoff between attempts; a replay is a new
// delivery with the same webhook-id that succeeds.
func TestWorker_DeadLetterAndReplay(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st store) {
		ctx := adminCtx(t)
		clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
		db := st.open(t, clk.Now)
		svc := sqlstore.NewWebhookService(db)
		svc.Outbound = allowLoopback
		rcv := newReceiver(t, 500, 502, 503)
		hook, err := svc.CreateWebhook(ctx, webhook.Create{URL: rcv.srv.URL, EventTypes: []string{"order.placed"}})
		if err != nil {
			t.Fatal(err)
		}
		rcv.setSecret(hook.Secret)
		w := webhook.NewWorker(webhook.Config{Store: svc, Outbound: allowLoopback, Now: clk.Now, MaxAttempts: 3, BackoffBase: 10 * time.Second, BackoffCap: time.Minute,
			Rand: func() float64 { return 0.5 }})
		appendEvent(t, db, "O-1", "order.placed")
		if _, err := svc.FanOut().ProcessOnce(ctx); err != nil {
			t.Fatal(err)
		}

		wantNext := []time.Duration{5 * time.Second, 10 * time.Second}
		for attempt := 1; attempt <= 3; attempt++ {
			n, err := w.ProcessDue(ctx)
			if err != nil || n != 1 {
				t.Fatalf("attempt %d: processed %d, %v", attempt, n, err)
			}
			if n, _ := w.ProcessDue(ctx); n != 0 {
				t.Fatalf("attempt %d: retried before its backoff", attempt)
			}
			ds, _ := svc.FindDeliveries(ctx, webhook.DeliveryFilter{WebhookID: hook.ID})
			d := ds[0]
			if attempt < 3 {
				if d.Status != webhook.DeliveryPending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(clk.Now().Add(wantNext[attempt-1])) {
					t.Fatalf("after attempt %d: %+v", attempt, d)
				}
				clk.Add(wantNext[attempt-1])
			} else if d.Status != webhook.DeliveryDead || d.Attempts != 3 || d.NextAttemptAt != nil || d.LastStatusCode != 503 {
				t.Fatalf("after the last attempt: %+v", d)
			}
		}
		clk.Add(24 * time.Hour)
		if n, _ := w.ProcessDue(ctx); n != 0 {
			t.Fatal("a dead delivery was attempted again")
		}

		ds, _ := svc.FindDeliveries(ctx, webhook.DeliveryFilter{WebhookID: hook.ID, Status: webhook.DeliveryDead})
		if len(ds) != 1 {
			t.Fatalf("dead letters %+v", ds)
		}
		dead := ds[0]
		replay, err := svc.ReplayDelivery(ctx, dead.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := w.ProcessDue(ctx); err != nil || n != 1 {
			t.Fatalf("replay processed %d, %v", n, err)
		}
		got, err := svc.FindDeliveryByID(ctx, replay.ID)
		if err != nil || got.Status != webhook.DeliveryDelivered || got.Attempts != 1 || got.ReplayOf != dead.ID || got.MsgID != dead.MsgID {
			t.Fatalf("replayed delivery %+v %v", got, err)
		}
		reqs := rcv.requests()
		if len(reqs) != 4 {
			t.Fatalf("%d requests, want 4", len(reqs))
		}
		for i, r := range reqs {
			if r.msgID != dead.MsgID {
				t.Errorf("request %d: webhook-id %q, want %q", i+1, r.msgID, dead.MsgID)
			}
			// The fake clock is not the receiver's, so check the signature
			// without the timestamp tolerance.
			if err := webhook.Verify(hook.Secret, r.header, r.body, 0); err != nil {
				t.Errorf("request %d: %v", i+1, err)
			}
		}
		if orig, _ := svc.FindDeliveryByID(ctx, dead.ID); orig.Status != webhook.DeliveryDead || orig.Attempts != 3 {
			t.Fatalf("the replayed delivery changed: %+v", orig)
		}
	})
}

// Deliveries live in the database: a pending delivery, and one whose
// attempt was lost with a crashed worker, are both delivered by a new
// worker after the database is closed and reopened.
func TestWorker_SurvivesRestart(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st store) {
		ctx := adminCtx(t)
		clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
		rcv := newReceiver(t)
		secret, _ := webhook.NewSecret()
		rcv.setSecret(secret)

		db := st.open(t, clk.Now)
		svc := sqlstore.NewWebhookService(db)
		svc.Outbound = allowLoopback
		hook, err := svc.CreateWebhook(ctx, webhook.Create{URL: rcv.srv.URL, EventTypes: []string{"order.*"}})
		if err != nil {
			t.Fatal(err)
		}
		rcv.setSecret(hook.Secret)
		appendEvent(t, db, "O-1", "order.placed")
		appendEvent(t, db, "O-2", "order.placed")
		if _, err := svc.FanOut().ProcessOnce(ctx); err != nil {
			t.Fatal(err)
		}
		// A worker claims one delivery and dies before recording it.
		claims, err := svc.ClaimDeliveries(ctx, 1, time.Minute)
		if err != nil || len(claims) != 1 {
			t.Fatalf("claim %v %v", claims, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		clk.Add(2 * time.Minute) // past the lost claim's lease
		db = st.open(t, clk.Now)
		svc = sqlstore.NewWebhookService(db)
		w := webhook.NewWorker(webhook.Config{Store: svc, FanOut: svc.FanOut(), Outbound: allowLoopback, Now: clk.Now, PollInterval: 10 * time.Millisecond})
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		waitFor(t, "both deliveries", func() bool {
			ds, err := svc.FindDeliveries(ctx, webhook.DeliveryFilter{WebhookID: hook.ID, Status: webhook.DeliveryDelivered})
			return err == nil && len(ds) == 2
		})
		w.Stop()
		reqs := rcv.requests()
		if len(reqs) != 2 || reqs[0].msgID == reqs[1].msgID {
			t.Fatalf("requests %+v", reqs)
		}
		for _, r := range reqs {
			if r.verifyErr != nil {
				t.Fatal(r.verifyErr)
			}
		}
	})
}

// Stop lets a request in flight finish and records it.
func TestWorker_StopFinishesInFlight(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st store) {
		ctx := adminCtx(t)
		db := st.open(t, nil)
		svc := sqlstore.NewWebhookService(db)
		rcv := newReceiver(t)
		rcv.gate = make(chan struct{})
		secret, _ := webhook.NewSecret()
		rcv.setSecret(secret)
		err := db.WithTx(ctx, func(tx *sqlstore.Tx) error {
			_, err := sqlstore.EnqueueDeliveryTx(ctx, tx, sqlstore.DirectDelivery{URL: rcv.srv.URL, Secret: secret, Payload: json.RawMessage(`{"x":1}`), HandoffID: 7})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		w := webhook.NewWorker(webhook.Config{Store: svc, Outbound: allowLoopback, PollInterval: 10 * time.Millisecond})
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the request to arrive", func() bool { return len(rcv.requests()) == 1 })
		stopped := make(chan struct{})
		go func() { w.Stop(); close(stopped) }()
		select {
		case <-stopped:
			t.Fatal("Stop returned with a request in flight")
		case <-time.After(50 * time.Millisecond):
		}
		close(rcv.gate)
		<-stopped
		ds, err := svc.FindDeliveries(ctx, webhook.DeliveryFilter{})
		if err != nil || len(ds) != 1 || ds[0].Status != webhook.DeliveryDelivered || ds[0].MsgID != "handoff_7" {
			t.Fatalf("after stop %+v %v", ds, err)
		}
		if r := rcv.requests()[0]; r.verifyErr != nil || r.contentType != "application/json" || string(r.body) != `{"x":1}` {
			t.Fatalf("request %+v", r)
		}
		es, err := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{Types: []string{webhook.DeliveredEventType}})
		if err != nil || len(es) != 1 {
			t.Fatalf("webhook.delivered events %+v %v", es, err)
		}
	})
}

// allowLoopback lets deliveries reach the test receivers on 127.0.0.1:
// without it they are refused, as they would be in production.
var allowLoopback = netguard.MustNew("127.0.0.1/32")

// Outbound requests to loopback (and private, link-local … addresses) are
// refused when they are sent, by the address actually connected to (also
// for a name that resolves to loopback), without the receiver seeing a
// request: the delivery is dead at its first attempt, with the reason in
// its log, and not retried.
func TestWorker_RefusesForbiddenAddresses(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st store) {
		ctx := adminCtx(t)
		db := st.open(t, nil)
		svc := sqlstore.NewWebhookService(db)
		rcv := newReceiver(t)
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(rcv.srv.URL, "http://"))
		// A subscription saved while the allow-list let loopback in: the
		// worker's own policy decides at send time.
		svc.Outbound = allowLoopback
		hook, err := svc.CreateWebhook(ctx, webhook.Create{URL: rcv.srv.URL + "/hooks", EventTypes: []string{"order.*"}})
		if err != nil {
			t.Fatal(err)
		}
		// Only loopback targets, so that a broken guard sends nothing off
		// this machine; the other ranges are netguard's unit tests'.
		targets := []string{"http://localhost:" + port + "/x", "http://[::ffff:127.0.0.1]:" + port + "/x", "http://127.0.0.2:" + port + "/",
			"http://[::1]:" + port + "/"}
		err = db.WithTx(ctx, func(tx *sqlstore.Tx) error {
			for _, u := range targets {
				if _, err := sqlstore.EnqueueDeliveryTx(ctx, tx, sqlstore.DirectDelivery{URL: u, Payload: json.RawMessage(`{"x":1}`)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		appendEvent(t, db, "O-1", "order.placed")
		if _, err := svc.FanOut().ProcessOnce(ctx); err != nil {
			t.Fatal(err)
		}
		w := webhook.NewWorker(webhook.Config{Store: svc, MaxAttempts: 5})
		if n, err := w.ProcessDue(ctx); err != nil || n != len(targets)+1 {
			t.Fatalf("processed %d, %v", n, err)
		}
		if n, _ := w.ProcessDue(ctx); n != 0 {
			t.Fatalf("%d refused deliveries were retried", n)
		}
		ds, err := svc.FindDeliveries(ctx, webhook.DeliveryFilter{})
		if err != nil || len(ds) != len(targets)+1 {
			t.Fatalf("deliveries %+v %v", ds, err)
		}
		for _, d := range ds {
			if d.Status != webhook.DeliveryDead || d.Attempts != 1 || len(d.AttemptLog) != 1 || d.NextAttemptAt != nil ||
				!strings.Contains(d.LastError, "refused") || !strings.Contains(d.LastError, "LIANLU_OUTBOUND_ALLOW") {
				t.Errorf("delivery to %s: %+v", d.URL, d)
			}
		}
		if n := len(rcv.requests()); n != 0 {
			t.Fatalf("the receiver got %d requests", n)
		}
		if d, _ := svc.FindDeliveries(ctx, webhook.DeliveryFilter{WebhookID: hook.ID}); len(d) != 1 || !strings.Contains(d[0].LastError, "127.0.0.1 refused: loopback address") {
			t.Fatalf("subscription delivery %+v", d)
		}
	})
}

// A receiver's redirect is not followed, so it cannot send a delivery on
// to another address: the 3xx is a failed attempt.
func TestWorker_DoesNotFollowRedirects(t *testing.T) {
	ctx := adminCtx(t)
	db := store{dialect: "sqlite", opts: sqlstore.Options{Path: filepath.Join(t.TempDir(), "lianlu.db")}}.open(t, nil)
	svc := sqlstore.NewWebhookService(db)
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer redirect.Close()
	err := db.WithTx(ctx, func(tx *sqlstore.Tx) error {
		_, err := sqlstore.EnqueueDeliveryTx(ctx, tx, sqlstore.DirectDelivery{URL: redirect.URL, Payload: json.RawMessage(`{}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w := webhook.NewWorker(webhook.Config{Store: svc, Outbound: allowLoopback, MaxAttempts: 1})
	if _, err := w.ProcessDue(ctx); err != nil {
		t.Fatal(err)
	}
	ds, _ := svc.FindDeliveries(ctx, webhook.DeliveryFilter{})
	if len(ds) != 1 || ds[0].Status != webhook.DeliveryDead || ds[0].LastStatusCode != http.StatusTemporaryRedirect || hits.Load() != 0 {
		t.Fatalf("delivery %+v, %d requests at the redirect's target", ds, hits.Load())
	}
}
