package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/httpapi"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

type env struct {
	t      *testing.T
	srv    *httptest.Server
	api    *httpapi.Server
	db     *sqlstore.DB
	access *sqlstore.AccessService
	events *sqlstore.EventService
	admin  string
	srcs   *sqlstore.SourceService
	plans  *sqlstore.TrackingPlanService
	fresh  *collect.Freshness
}

// newEnv starts the API on a fresh SQLite database with an admin token.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(t.TempDir(), "api.db"), PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, access: sqlstore.NewAccessService(db), events: sqlstore.NewEventService(db)}
	e.srcs = sqlstore.NewSourceService(db)
	e.plans = sqlstore.NewTrackingPlanService(db)
	e.fresh = collect.NewFreshness(collect.SegmentSourcePrefix, nil)
	appender := sqlstore.NewAppender(db, sqlstore.AppenderConfig{Committed: e.fresh.Observe})
	appender.Start()
	t.Cleanup(appender.Stop)
	e.api = httpapi.NewServer(httpapi.Config{
		Events: e.events, Access: e.access, Store: db, Intake: sqlstore.NewIntakeService(db),
		Catalog: sqlstore.NewCatalogService(db), Inventory: sqlstore.NewInventoryService(db),
		WorkOrders:   sqlstore.NewWorkOrderService(db),
		Orders:       sqlstore.NewOrderService(db),
		Fulfillments: sqlstore.NewFulfillmentService(db),
		Feedback:     sqlstore.NewFeedbackService(db), Handoffs: sqlstore.NewHandoffService(db),
		Members: sqlstore.NewMemberService(db),
		Flows:   flow.NewService(db, nil), Calendars: db,
		Sources:  e.srcs,
		Appender: appender,
		Plans:    e.plans, Freshness: e.fresh, LastEvents: e.events,
		MaxBodyBytes: 4096, MaxEventBodyBytes: 64 << 10, MaxBatchEvents: 50,
		PollInterval: 50 * time.Millisecond, Heartbeat: 100 * time.Millisecond,
	})
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(func() { e.api.Close(); e.srv.Close() })
	e.admin = e.token(lianlu.DeptAdmin, lianlu.RoleAdmin)
	return e
}

func (e *env) token(dept string, role lianlu.Role) string {
	e.t.Helper()
	_, secret, err := e.access.CreateToken(context.Background(), lianlu.TokenCreate{Name: dept + " " + string(role), Department: dept, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) problem(t *testing.T) httpapi.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q for status %d: %s", ct, r.status, r.body)
	}
	var p httpapi.Problem
	r.json(t, &p)
	if p.Status != r.status || p.Type == "" || p.Title == "" || p.Code == "" || p.RequestID == "" {
		t.Fatalf("incomplete problem document %s", r.body)
	}
	return p
}

func (e *env) do(method, path, token string, header map[string]string, body []byte) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) count() int {
	e.t.Helper()
	es, err := e.events.FindEvents(context.Background(), lianlu.EventFilter{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(es)
}

const structured = "application/cloudevents+json"

// ce is an outside system's event of its own type (Lianlu's own, such as
// order.placed, are refused from outside: see trust_test.go).
func ce(id string, extra string) []byte {
	return []byte(`{"specversion":"1.0","id":"` + id + `","source":"shop","type":"shop.payment.captured","subject":"payment/` + id + `"` + extra + `,"data":{"total":"99.00"}}`)
}

type appended struct {
	Items []struct {
		Seq       int64  `json:"seq"`
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	} `json:"items"`
}

func TestPostEvents_Modes(t *testing.T) {
	e := newEnv(t)
	sales := e.token("sales", lianlu.RoleOperator)

	r := e.do("POST", "/api/v1/events", sales, map[string]string{"Content-Type": structured}, ce("1", ""))
	if r.status != 201 {
		t.Fatalf("structured: %d %s", r.status, r.body)
	}
	var a appended
	r.json(t, &a)
	if len(a.Items) != 1 || a.Items[0].Seq < 1 || a.Items[0].Duplicate {
		t.Fatalf("structured result %s", r.body)
	}
	// The same (source, id) again: 200, the stored seq, nothing new.
	r = e.do("POST", "/api/v1/events", sales, map[string]string{"Content-Type": structured}, ce("1", ""))
	var dup appended
	r.json(t, &dup)
	if r.status != 200 || !dup.Items[0].Duplicate || dup.Items[0].Seq != a.Items[0].Seq {
		t.Fatalf("duplicate: %d %s", r.status, r.body)
	}

	batch := "[" + string(ce("2", "")) + "," + string(ce("3", `,"department":"sales"`)) + "," + string(ce("1", "")) + "]"
	r = e.do("POST", "/api/v1/events", sales, map[string]string{"Content-Type": "application/cloudevents-batch+json"}, []byte(batch))
	r.json(t, &a)
	if r.status != 201 || len(a.Items) != 3 || a.Items[0].Duplicate || a.Items[1].Duplicate || !a.Items[2].Duplicate {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}

	r = e.do("POST", "/api/v1/events", sales, map[string]string{
		"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "4", "ce-source": "pos",
		"ce-type": "pos.receipt.printed", "ce-subject": "sale%2F4", "ce-time": "2026-11-20T10:00:00+08:00",
	}, []byte(`{"amount":"10.00"}`))
	if r.status != 201 {
		t.Fatalf("binary: %d %s", r.status, r.body)
	}
	r.json(t, &a)
	got, err := e.events.FindEventBySeq(context.Background(), a.Items[0].Seq)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "sale/4" || got.Department != "sales" || got.Type != "pos.receipt.printed" || got.Actor != "token:sales operator" ||
		!got.Time.Equal(time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)) || string(got.Data) != `{"amount":"10.00"}` {
		t.Fatalf("stored binary event %+v (data %s)", got, got.Data)
	}
	if n := e.count(); n != 4 {
		t.Fatalf("%d events stored, want 4", n)
	}
}

// Bad input gets the right status and a problem document, and nothing is
// stored.
func TestPostEvents_BadInput(t *testing.T) {
	e := newEnv(t)
	sales := e.token("sales", lianlu.RoleOperator)
	viewer := e.token("sales", lianlu.RoleViewer)
	big := bytes.Repeat([]byte("x"), 70<<10)
	var batch60 []string
	for i := range 60 {
		batch60 = append(batch60, string(ce(fmt.Sprint("b", i), "")))
	}
	for _, tc := range []struct {
		name   string
		token  string
		ct     string
		body   []byte
		status int
		field  string
	}{
		{"malformed JSON", sales, structured, []byte(`{"specversion":"1.0",`), 400, "body"},
		{"missing id", sales, structured, []byte(`{"specversion":"1.0","source":"s","type":"t"}`), 400, "id"},
		{"missing type", sales, structured, []byte(`{"specversion":"1.0","id":"x","source":"s"}`), 400, "type"},
		{"missing source", sales, structured, []byte(`{"specversion":"1.0","id":"x","type":"t"}`), 400, "source"},
		{"wrong specversion", sales, structured, []byte(`{"specversion":"0.3","id":"x","source":"s","type":"t"}`), 400, "specversion"},
		{"bad item in batch", sales, "application/cloudevents-batch+json", []byte(`[` + string(ce("ok", "")) + `,{"specversion":"1.0","id":"y","source":"s"}]`), 400, "[1].type"},
		{"batch over limit", sales, "application/cloudevents-batch+json", []byte("[" + strings.Join(batch60, ",") + "]"), 400, ""},
		{"unknown department", e.admin, structured, ce("d", `,"department":"nowhere"`), 400, "department"},
		{"too long id", sales, structured, ce(strings.Repeat("i", 300), ""), 400, "id"},
		{"wrong content type", sales, "text/plain", ce("x", ""), 415, ""},
		{"no content type", sales, "", ce("x", ""), 415, ""},
		{"oversized", sales, structured, append(append([]byte(`{"specversion":"1.0","id":"big","source":"s","type":"t","data":"`), big...), '"', '}'), 413, ""},
		{"unknown token", "llt_notatoken", structured, ce("x", ""), 401, ""},
		{"no token", "", structured, ce("x", ""), 401, ""},
		{"viewer cannot write", viewer, structured, ce("x", ""), 403, ""},
		{"other department", sales, structured, ce("x", `,"department":"marketing"`), 403, "department"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.ct != "" {
				h["Content-Type"] = tc.ct
			}
			r := e.do("POST", "/api/v1/events", tc.token, h, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			p := r.problem(t)
			if tc.field != "" {
				found := false
				for _, f := range p.Errors {
					found = found || f.Field == tc.field
				}
				if !found {
					t.Fatalf("errors %+v do not name %q", p.Errors, tc.field)
				}
			}
		})
	}
	if n := e.count(); n != 0 {
		t.Fatalf("bad input stored %d events", n)
	}
}

func TestGetEvents_FiltersPagingAndDepartments(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var batch []lianlu.Event
	for i := range 25 {
		dept := []string{"sales", "service", "marketing"}[i%3]
		batch = append(batch, lianlu.Event{ID: fmt.Sprint(i), Source: "seed", Type: dept + ".thing", Subject: fmt.Sprintf("obj/%d", i%5), Department: dept})
	}
	if _, err := e.events.AppendEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}

	// Admin pages through everything with next_cursor.
	var all []lianlu.Event
	cursor := ""
	for pages := 0; ; pages++ {
		r := e.do("GET", "/api/v1/events?limit=10&cursor="+cursor, e.admin, nil, nil)
		var l struct {
			Items      []lianlu.Event `json:"items"`
			NextCursor string         `json:"next_cursor"`
		}
		r.json(t, &l)
		all = append(all, l.Items...)
		if l.NextCursor == "" || pages > 5 {
			break
		}
		cursor = l.NextCursor
	}
	if len(all) != 25 {
		t.Fatalf("paged %d events, want 25", len(all))
	}

	// A non-admin token sees only its department.
	service := e.token("service", lianlu.RoleViewer)
	r := e.do("GET", "/api/v1/events?limit=100", service, nil, nil)
	var l struct{ Items []lianlu.Event }
	r.json(t, &l)
	if len(l.Items) != 8 {
		t.Fatalf("service sees %d events, want 8", len(l.Items))
	}
	for _, ev := range l.Items {
		if ev.Department != "service" {
			t.Fatalf("service token read a %s event", ev.Department)
		}
	}
	if r := e.do("GET", "/api/v1/events?department=sales", service, nil, nil); r.status != 403 {
		t.Fatalf("cross-department read: %d", r.status)
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/events/%d", all[0].Seq), service, nil, nil); r.status != 404 {
		t.Fatalf("other department's event by seq: %d", r.status)
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/events/%d", all[1].Seq), service, nil, nil); r.status != 200 {
		t.Fatalf("own event by seq: %d", r.status)
	}

	r = e.do("GET", "/api/v1/events?type_prefix=sales.&subject=obj/0", e.admin, nil, nil)
	r.json(t, &l)
	for _, ev := range l.Items {
		if ev.Type != "sales.thing" || ev.Subject != "obj/0" {
			t.Fatalf("filter returned %+v", ev)
		}
	}
	if len(l.Items) != 2 {
		t.Fatalf("filtered %d events, want 2", len(l.Items))
	}
	for _, q := range []string{"limit=0", "limit=5000", "after=-1", "from=yesterday"} {
		if r := e.do("GET", "/api/v1/events?"+q, e.admin, nil, nil); r.status != 400 || len(r.problem(t).Errors) == 0 {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
}

func TestStream_LiveAndResumable(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	open := func(lastID string) (*bufio.Reader, func()) {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1/stream?type=shop.payment.captured", nil)
		req.Header.Set("Authorization", "Bearer "+e.admin)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		return bufio.NewReader(res.Body), func() { res.Body.Close() }
	}
	next := func(br *bufio.Reader) (id, typ string) {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read stream: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "event: "):
				typ = line[7:]
			case line == "" && id != "":
				return id, typ
			}
		}
	}
	br, closeStream := open("")
	post := func(id, typ string) {
		body := []byte(`{"specversion":"1.0","id":"` + id + `","source":"s","type":"` + typ + `"}`)
		if r := e.do("POST", "/api/v1/events", e.admin, map[string]string{"Content-Type": structured}, body); r.status != 201 {
			t.Fatalf("post: %d %s", r.status, r.body)
		}
	}
	post("a", "shop.payment.captured")
	post("b", "shop.payment.refunded") // filtered out
	post("c", "shop.payment.captured")
	id1, typ := next(br)
	id2, _ := next(br)
	if typ != "shop.payment.captured" || id1 == "" || id2 <= id1 {
		t.Fatalf("stream gave %s %s %s", id1, typ, id2)
	}
	closeStream()
	// Resume after the first: the second comes again, then new ones.
	br, closeStream = open(id1)
	defer closeStream()
	if got, _ := next(br); got != id2 {
		t.Fatalf("resumed at %s, want %s", got, id2)
	}
	post("d", "shop.payment.captured")
	if got, _ := next(br); got <= id2 {
		t.Fatalf("live event after resume: %s", got)
	}
}

func TestTokensAPI_AndAudit(t *testing.T) {
	e := newEnv(t)
	json := map[string]string{"Content-Type": "application/json"}
	r := e.do("POST", "/api/v1/tokens", e.admin, json, []byte(`{"name":"wms","department":"supply_chain","role":"operator"}`))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	r.json(t, &created)
	if !strings.HasPrefix(created.Token, "llt_") {
		t.Fatalf("created %s", r.body)
	}
	if r := e.do("GET", "/api/v1/whoami", created.Token, nil, nil); r.status != 200 || !bytes.Contains(r.body, []byte("supply_chain")) {
		t.Fatalf("whoami: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/api/v1/tokens", e.admin, nil, nil)
	if r.status != 200 || bytes.Contains(r.body, []byte(created.Token)) || !bytes.Contains(r.body, []byte(`"wms"`)) {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	// Only admins manage tokens.
	if r := e.do("GET", "/api/v1/tokens", created.Token, nil, nil); r.status != 403 {
		t.Fatalf("non-admin list: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/tokens", e.admin, json, []byte(`{"name":"x","department":"sales","role":"root"}`)); r.status != 400 || r.problem(t).Errors[0].Field != "role" {
		t.Fatalf("invalid role: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/tokens", e.admin, json, []byte(`{"name":"x","surprise":1}`)); r.status != 400 {
		t.Fatalf("unknown field: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", created.ID), e.admin, nil, nil); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/whoami", created.Token, nil, nil); r.status != 401 {
		t.Fatalf("revoked token still works: %d", r.status)
	}
	if r := e.do("DELETE", "/api/v1/tokens/999", e.admin, nil, nil); r.status != 404 {
		t.Fatalf("revoke unknown: %d", r.status)
	}
	r = e.do("POST", "/api/v1/users", e.admin, json, []byte(`{"username":"wang.fang","department":"stores","role":"operator"}`))
	if r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/api/v1/audit?limit=2", e.admin, nil, nil)
	var audit struct {
		Items      []lianlu.AuditEntry `json:"items"`
		NextCursor string              `json:"next_cursor"`
	}
	r.json(t, &audit)
	if len(audit.Items) != 2 || audit.Items[0].Action != "user.created" || audit.Items[1].Action != "token.revoked" ||
		audit.Items[1].Actor != "token:admin admin" || audit.Items[1].RequestID == "" || audit.NextCursor == "" {
		t.Fatalf("audit %s", r.body)
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	h := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "create-wms-1"}
	body := []byte(`{"name":"wms","department":"supply_chain","role":"operator"}`)
	first := e.do("POST", "/api/v1/tokens", e.admin, h, body)
	second := e.do("POST", "/api/v1/tokens", e.admin, h, body)
	// The token is shown once: the repeat runs nothing and answers 409
	// (TestIdempotency_KeepsNoSecret).
	if first.status != 201 || second.status != 409 || bytes.Contains(second.body, []byte(`"token"`)) {
		t.Fatalf("replay: %d %s / %d %s", first.status, first.body, second.status, second.body)
	}
	toks, _ := e.access.FindTokens(context.Background(), true)
	if len(toks) != 2 { // admin + wms
		t.Fatalf("%d tokens after a replayed create", len(toks))
	}
	other := e.do("POST", "/api/v1/tokens", e.admin, h, []byte(`{"name":"other","department":"sales","role":"viewer"}`))
	if other.status != 400 {
		t.Fatalf("key reused with another body: %d %s", other.status, other.body)
	}
	// A failed request's key is kept with its 4xx answer.
	bad := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "bad-1"}
	r1 := e.do("POST", "/api/v1/tokens", e.admin, bad, []byte(`{"name":"","department":"sales","role":"viewer"}`))
	r2 := e.do("POST", "/api/v1/tokens", e.admin, bad, []byte(`{"name":"","department":"sales","role":"viewer"}`))
	if r1.status != 400 || r2.status != 400 || r2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("4xx replay: %d %d", r1.status, r2.status)
	}
	// Events with a key replay too.
	sales := e.token("sales", lianlu.RoleOperator)
	ek := map[string]string{"Content-Type": structured, "Idempotency-Key": "ev-1"}
	if r := e.do("POST", "/api/v1/events", sales, ek, ce("k1", "")); r.status != 201 {
		t.Fatalf("event with key: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/events", sales, ek, ce("k1", "")); r.status != 201 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("event replay: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/events", sales, map[string]string{"Content-Type": structured, "Idempotency-Key": strings.Repeat("k", 300)}, ce("k2", "")); r.status != 400 {
		t.Fatalf("bad key: %d", r.status)
	}
}

func TestOperationalEndpoints(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := e.do("GET", path, "", nil, nil); r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}
	e.do("GET", "/api/v1/events", e.admin, map[string]string{"X-Request-Id": "abc-123"}, nil)
	r := e.do("GET", "/metrics", "", nil, nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`lianlu_http_requests_total{code="200",method="GET",route="GET /api/v1/events"} 1`)) ||
		!bytes.Contains(r.body, []byte("lianlu_http_request_duration_seconds_bucket")) {
		t.Fatalf("metrics:\n%s", r.body)
	}
	if r := e.do("GET", "/api/v1/nope", e.admin, nil, nil); r.status != 404 || r.problem(t).Code != "not_found" {
		t.Fatalf("unknown endpoint: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/nope", "", nil, nil); r.status != 401 {
		t.Fatalf("unknown endpoint without token: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/whoami", "", map[string]string{"X-Request-Id": "abc-123"}, nil); r.header.Get("X-Request-Id") != "abc-123" {
		t.Fatalf("request id not echoed: %q", r.header.Get("X-Request-Id"))
	}
	if r := e.do("GET", "/api/v1/whoami", "", map[string]string{"Authorization": "Basic Zm9vOmJhcg=="}, nil); r.status != 401 {
		t.Fatalf("basic auth: %d", r.status)
	}
	// A body over the default limit on an ordinary endpoint is 413.
	big := `{"name":"` + strings.Repeat("n", 5000) + `","department":"sales","role":"viewer"}`
	if r := e.do("POST", "/api/v1/tokens", e.admin, map[string]string{"Content-Type": "application/json"}, []byte(big)); r.status != 413 {
		t.Fatalf("oversized token body: %d %s", r.status, r.body)
	}
}

func (e *env) sources() *sqlstore.SourceService { return e.srcs }
