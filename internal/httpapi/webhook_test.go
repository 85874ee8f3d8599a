package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/httpapi"
	"github.com/lianlu/lianlu/internal/netguard"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/webhook"
)

// newWebhookEnv is newEnv with the webhook service configured.
func newWebhookEnv(t *testing.T) (*env, *sqlstore.WebhookService) {
	t.Helper()
	e := newEnv(t)
	svc := sqlstore.NewWebhookService(e.db)
	e.api = httpapi.NewServer(httpapi.Config{Events: e.events, Access: e.access, Store: e.db, Webhooks: svc, MaxBodyBytes: 4096})
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(func() { e.api.Close(); e.srv.Close() })
	return e, svc
}

var jsonCT = map[string]string{"Content-Type": "application/json"}

type webhookJSON struct {
	ID         int64    `json:"id"`
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"`
	Department string   `json:"department"`
	Status     string   `json:"status"`
	Secret     string   `json:"secret"`
}

func (e *env) mustCreateWebhook(token, body string) webhookJSON {
	e.t.Helper()
	r := e.do("POST", "/api/v1/webhooks", token, jsonCT, []byte(body))
	if r.status != 201 {
		e.t.Fatalf("create webhook: %d %s", r.status, r.body)
	}
	var w webhookJSON
	r.json(e.t, &w)
	return w
}

// The secret is returned once: on creation (and rotation), never by reads.
func TestWebhooksAPI_SecretOnceAndAudit(t *testing.T) {
	e, _ := newWebhookEnv(t)
	r := e.do("POST", "/api/v1/webhooks", e.admin, jsonCT, []byte(`{"url":"https://erp.example.com/hooks","event_types":["order.*","feedback.submitted"],"description":"ERP"}`))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var w webhookJSON
	r.json(t, &w)
	if !strings.HasPrefix(w.Secret, "whsec_") || webhook.ParseSecret(w.Secret) != nil || w.Status != "active" || w.URL != "https://erp.example.com/hooks" {
		t.Fatalf("created %s", r.body)
	}
	if loc := r.header.Get("Location"); loc != fmt.Sprint("/api/v1/webhooks/", w.ID) {
		t.Fatalf("Location %q", loc)
	}

	for _, path := range []string{"/api/v1/webhooks", fmt.Sprint("/api/v1/webhooks/", w.ID)} {
		r := e.do("GET", path, e.admin, nil, nil)
		if r.status != 200 || strings.Contains(string(r.body), `"secret"`) || strings.Contains(string(r.body), w.Secret) {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	var list struct {
		Items      []webhookJSON `json:"items"`
		NextCursor *string       `json:"next_cursor"`
	}
	e.do("GET", "/api/v1/webhooks", e.admin, nil, nil).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != w.ID || list.NextCursor == nil {
		t.Fatalf("list %+v", list)
	}

	r = e.do("POST", fmt.Sprint("/api/v1/webhooks/", w.ID, "/rotate-secret"), e.admin, nil, nil)
	var rotated webhookJSON
	r.json(t, &rotated)
	if r.status != 200 || rotated.Secret == "" || rotated.Secret == w.Secret || !strings.Contains(string(r.body), "previous_secret_expires_at") {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", fmt.Sprint("/api/v1/webhooks/", w.ID), e.admin, nil, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	var got webhookJSON
	e.do("GET", fmt.Sprint("/api/v1/webhooks/", w.ID), e.admin, nil, nil).json(t, &got)
	if got.Status != "disabled" {
		t.Fatalf("after delete %+v", got)
	}
	if r := e.do("POST", fmt.Sprint("/api/v1/webhooks/", w.ID, "/rotate-secret"), e.admin, nil, nil); r.status != 409 {
		t.Fatalf("rotate disabled: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/webhooks/999", e.admin, nil, nil); r.status != 404 {
		t.Fatalf("missing: %d", r.status)
	}

	var audit struct {
		Items []lianlu.AuditEntry `json:"items"`
	}
	e.do("GET", "/api/v1/audit", e.admin, nil, nil).json(t, &audit)
	var actions []string
	for _, a := range audit.Items {
		if a.TargetType == "webhook" {
			actions = append(actions, a.Action)
			if a.Actor != "token:admin admin" || a.RequestID == "" || strings.Contains(a.Detail, "whsec_") {
				t.Errorf("audit entry %+v", a)
			}
		}
	}
	if strings.Join(actions, ",") != "webhook.disabled,webhook.secret_rotated,webhook.created" {
		t.Fatalf("audit actions %v", actions)
	}
}

// Managers and admins only; a manager is held to their own department.
func TestWebhooksAPI_Roles(t *testing.T) {
	e, _ := newWebhookEnv(t)
	body := []byte(`{"url":"https://x.example/","event_types":["order.*"]}`)
	for _, role := range []lianlu.Role{lianlu.RoleViewer, lianlu.RoleOperator} {
		tok := e.token(lianlu.DeptSales, role)
		for _, req := range [][2]string{{"POST", "/api/v1/webhooks"}, {"GET", "/api/v1/webhooks"}, {"GET", "/api/v1/webhooks/deliveries"}} {
			r := e.do(req[0], req[1], tok, jsonCT, body)
			if r.status != 403 || r.problem(t).Code != lianlu.EFORBIDDEN {
				t.Errorf("%s %s as %s: %d %s", req[0], req[1], role, r.status, r.body)
			}
		}
	}
	adminHook := e.mustCreateWebhook(e.admin, `{"url":"https://all.example/","event_types":["order.*"]}`)
	sales := e.token(lianlu.DeptSales, lianlu.RoleManager)
	own := e.mustCreateWebhook(sales, string(body))
	if own.Department != lianlu.DeptSales {
		t.Fatalf("a manager's webhook has department %q", own.Department)
	}
	if r := e.do("POST", "/api/v1/webhooks", sales, jsonCT, []byte(`{"url":"https://x.example/","event_types":["order.*"],"department":"service"}`)); r.status != 403 {
		t.Fatalf("manager for another department: %d %s", r.status, r.body)
	}
	var list struct{ Items []webhookJSON }
	e.do("GET", "/api/v1/webhooks", sales, nil, nil).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != own.ID {
		t.Fatalf("manager's list %+v", list.Items)
	}
	for _, req := range [][2]string{{"GET", ""}, {"DELETE", ""}, {"POST", "/rotate-secret"}, {"GET", "/deliveries"}} {
		if r := e.do(req[0], fmt.Sprint("/api/v1/webhooks/", adminHook.ID, req[1]), sales, nil, nil); r.status != 404 {
			t.Errorf("%s another department's webhook%s: %d %s", req[0], req[1], r.status, r.body)
		}
	}
	e.do("GET", "/api/v1/webhooks", e.admin, nil, nil).json(t, &list)
	if len(list.Items) != 2 {
		t.Fatalf("admin's list %+v", list.Items)
	}
}

// Bad input is a 400 problem naming the field, and nothing is stored.
func TestWebhooksAPI_BadInput(t *testing.T) {
	e, _ := newWebhookEnv(t)
	for _, tc := range []struct{ body, field string }{
		{`{"url":"not a url","event_types":["order.*"]}`, "url"},
		{`{"url":"ftp://x.example/","event_types":["order.*"]}`, "url"},
		{`{"url":"https://x.example/` + strings.Repeat("a", 2048) + `","event_types":["order.*"]}`, "url"},
		{`{"url":"https://x.example/"}`, "event_types"},
		{`{"url":"https://x.example/","event_types":"order.*"}`, "event_types"},
		{`{"url":"https://x.example/","event_types":["order.*","bad type"]}`, "event_types[1]"},
		{`{"url":"https://x.example/","event_types":["order.*"],"department":"nope"}`, "department"},
		{`{"url":"https://x.example/","event_types":["order.*"],"secret":"mine"}`, "body"},
		// Literal loopback, private, link-local and unique-local
		// addresses, and names of this machine, are refused when saved
		// (and again, by the address connected to, at every delivery).
		{`{"url":"http://127.0.0.1:9000/hook","event_types":["order.*"]}`, "url"},
		{`{"url":"http://[::1]/hook","event_types":["order.*"]}`, "url"},
		{`{"url":"http://[::ffff:127.0.0.1]/hook","event_types":["order.*"]}`, "url"},
		{`{"url":"http://10.1.2.3/hook","event_types":["order.*"]}`, "url"},
		{`{"url":"http://192.168.1.10/hook","event_types":["order.*"]}`, "url"},
		{`{"url":"http://169.254.169.254/latest/meta-data/","event_types":["order.*"]}`, "url"},
		{`{"url":"http://[fe80::1]/hook","event_types":["order.*"]}`, "url"},
		{`{"url":"http://[fd00::1]/hook","event_types":["order.*"]}`, "url"},
		{`{"url":"http://localhost:8080/hook","event_types":["order.*"]}`, "url"},
	} {
		r := e.do("POST", "/api/v1/webhooks", e.admin, jsonCT, []byte(tc.body))
		if r.status != 400 {
			t.Errorf("%s: %d %s", tc.body, r.status, r.body)
			continue
		}
		p := r.problem(t)
		if len(p.Errors) == 0 || p.Errors[0].Field != tc.field {
			t.Errorf("%s: errors %+v, want field %s", tc.body, p.Errors, tc.field)
		}
	}
	for _, path := range []string{"/api/v1/webhooks?status=gone", "/api/v1/webhooks/deliveries?status=lost", "/api/v1/webhooks/x"} {
		if r := e.do("GET", path, e.admin, nil, nil); r.status != 400 {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	var list struct{ Items []webhookJSON }
	e.do("GET", "/api/v1/webhooks", e.admin, nil, nil).json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("stored %+v", list.Items)
	}
}

type deliveryJSON struct {
	ID         int64  `json:"id"`
	WebhookID  int64  `json:"webhook_id"`
	MsgID      string `json:"msg_id"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	ReplayOf   int64  `json:"replay_of"`
	AttemptLog []struct {
		Attempt    int    `json:"attempt"`
		StatusCode int    `json:"status_code"`
		Error      string `json:"error"`
	} `json:"attempt_log"`
}

// The delivery log shows attempts and dead letters; replay re-delivers with
// the same webhook-id.
func TestWebhooksAPI_DeliveryLogAndReplay(t *testing.T) {
	e, svc := newWebhookEnv(t)
	// The receiver is on loopback: allowed explicitly, as an on-premise
	// target would be.
	svc.Outbound = netguard.MustNew("127.0.0.1/32")
	var healthy atomic.Bool
	var ids []string
	idc := make(chan string, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idc <- r.Header.Get("webhook-id")
		if healthy.Load() {
			w.WriteHeader(200)
			return
		}
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	defer rcv.Close()
	hook := e.mustCreateWebhook(e.admin, `{"url":"`+rcv.URL+`","event_types":["order.placed"]}`)

	worker := webhook.NewWorker(webhook.Config{Store: svc, FanOut: svc.FanOut(), Outbound: svc.Outbound, MaxAttempts: 2, BackoffBase: time.Millisecond,
		BackoffCap: 2 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	if err := worker.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer worker.Stop()
	// An order placed through the command appends the order.placed the
	// webhook listens to.
	mustSeedShop(t, e)
	if _, _, err := sqlstore.NewOrderService(e.db).PlaceOrder(context.Background(), lianlu.OrderPlacement{ExternalID: "O-77", Channel: lianlu.ChannelOnline,
		Lines: []lianlu.OrderLine{{SKU: "FL-9", Qty: 1}}, ShipTo: &lianlu.Address{Address: "上海市黄浦区"}}); err != nil {
		t.Fatal(err)
	}

	logPath := fmt.Sprint("/api/v1/webhooks/", hook.ID, "/deliveries")
	var page struct {
		Items      []deliveryJSON `json:"items"`
		NextCursor string         `json:"next_cursor"`
	}
	waitUntil(t, "a dead letter", func() bool {
		r := e.do("GET", logPath+"?status=dead", e.admin, nil, nil)
		r.json(t, &page)
		return len(page.Items) == 1
	})
	dead := page.Items[0]
	if dead.Attempts != 2 || len(dead.AttemptLog) != 2 || dead.AttemptLog[1].StatusCode != 503 ||
		dead.AttemptLog[1].Error != "HTTP 503: down for maintenance" || dead.WebhookID != hook.ID {
		t.Fatalf("dead letter %+v", dead)
	}

	healthy.Store(true)
	r := e.do("POST", fmt.Sprint("/api/v1/webhooks/deliveries/", dead.ID, "/replay"), e.admin, map[string]string{"Idempotency-Key": "replay-1"}, nil)
	var replay deliveryJSON
	r.json(t, &replay)
	if r.status != 201 || replay.ReplayOf != dead.ID || replay.MsgID != dead.MsgID || replay.Attempts != 0 {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	// The same Idempotency-Key replays the response instead of a second
	// replay.
	if r := e.do("POST", fmt.Sprint("/api/v1/webhooks/deliveries/", dead.ID, "/replay"), e.admin, map[string]string{"Idempotency-Key": "replay-1"}, nil); r.status != 201 ||
		r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeated replay: %d %v", r.status, r.header)
	}
	waitUntil(t, "the replay to be delivered", func() bool {
		r := e.do("GET", "/api/v1/webhooks/deliveries?status=delivered", e.admin, nil, nil)
		r.json(t, &page)
		return len(page.Items) == 1
	})
	if got := page.Items[0]; got.ID != replay.ID || got.Attempts != 1 || got.AttemptLog[0].StatusCode != 200 {
		t.Fatalf("delivered replay %+v", got)
	}
	worker.Stop()
	close(idc)
	for id := range idc {
		ids = append(ids, id)
	}
	if len(ids) != 3 || ids[0] != dead.MsgID || ids[1] != dead.MsgID || ids[2] != dead.MsgID {
		t.Fatalf("webhook-ids %v, want %s three times", ids, dead.MsgID)
	}

	e.do("GET", logPath+"?limit=1", e.admin, nil, nil).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != replay.ID || page.NextCursor != fmt.Sprint(replay.ID) {
		t.Fatalf("first page %+v", page)
	}
	e.do("GET", logPath+"?limit=1&cursor="+page.NextCursor, e.admin, nil, nil).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != dead.ID {
		t.Fatalf("second page %+v", page)
	}
	if r := e.do("POST", "/api/v1/webhooks/deliveries/999/replay", e.admin, nil, nil); r.status != 404 {
		t.Fatalf("replay missing: %d", r.status)
	}
	service := e.token(lianlu.DeptService, lianlu.RoleManager)
	if r := e.do("POST", fmt.Sprint("/api/v1/webhooks/deliveries/", dead.ID, "/replay"), service, nil, nil); r.status != 404 {
		t.Fatalf("replay of another department's delivery: %d", r.status)
	}
}

func TestWebhooksAPI_NotConfigured(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/v1/webhooks", e.admin, nil, nil)
	if r.status != 503 || r.problem(t).Code != lianlu.EUNAVAILABLE {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
