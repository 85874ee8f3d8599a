package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/httpapi"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// newPrivacyEnv starts the API with members and personal-information
// requests configured, and a member who joined with consent.
func newPrivacyEnv(t *testing.T) (*env, int64) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(t.TempDir(), "api.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, access: sqlstore.NewAccessService(db), events: sqlstore.NewEventService(db)}
	stores, members := sqlstore.NewStoreService(db), sqlstore.NewMemberService(db)
	e.api = httpapi.NewServer(httpapi.Config{Events: e.events, Access: e.access, Store: db, Stores: stores, Members: members,
		Privacy: sqlstore.NewPrivacyService(db, sqlstore.PrivacyConfig{}), Handoffs: sqlstore.NewHandoffService(db), Orders: sqlstore.NewOrderService(db)})
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(func() { e.api.Close(); e.srv.Close() })
	e.admin = e.token(lianlu.DeptAdmin, lianlu.RoleAdmin)
	admin := lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{TokenID: 1, Name: "ops", Department: lianlu.DeptAdmin, Role: lianlu.RoleAdmin})
	if _, _, err := stores.CreateStore(admin, lianlu.StoreInput{Code: "SH-01", Name: ptr("Jing'an")}); err != nil {
		t.Fatal(err)
	}
	res, err := members.Join(admin, lianlu.JoinRequest{Store: "SH-01", Phone: "13800138000", Consent: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := members.UpdateMember(admin, res.Member.ID, lianlu.MemberUpdate{Traits: json.RawMessage(`{"name":"王小美"}`)}); err != nil {
		t.Fatal(err)
	}
	return e, res.Member.ID
}

func ptr[T any](v T) *T { return &v }

var jsonHeader = map[string]string{"Content-Type": "application/json"}

// TestPrivacyAPI_Consent: consent is set only by an explicit JSON boolean;
// a withdrawal is open to marketing too, a yes only to the departments
// that see members.
func TestPrivacyAPI_Consent(t *testing.T) {
	e, amy := newPrivacyEnv(t)
	path := fmt.Sprintf("/api/v1/members/%d/consents", amy)
	sales, marketing := e.token(lianlu.DeptSales, lianlu.RoleOperator), e.token(lianlu.DeptMarketing, lianlu.RoleOperator)
	for _, tc := range []struct {
		name, token, body string
		status            int
		field             string
	}{
		{"string no", sales, `{"granted":"no"}`, 400, ""},
		{"string yes", sales, `{"granted":"yes"}`, 400, ""},
		{"missing", sales, `{"purpose":"marketing"}`, 400, "granted"},
		{"null", sales, `{"granted":null}`, 400, "granted"},
		{"marketing grants", marketing, `{"granted":true}`, 403, ""},
		{"bad channel", sales, `{"granted":false,"channel":"a b"}`, 400, "channel"},
	} {
		r := e.do("POST", path, tc.token, jsonHeader, []byte(tc.body))
		if r.status != tc.status {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
			continue
		}
		if p := r.problem(t); tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
			t.Errorf("%s: %+v", tc.name, p)
		}
	}
	consent := func() bool {
		var m lianlu.Member
		e.do("GET", fmt.Sprintf("/api/v1/members/%d", amy), e.admin, nil, nil).json(t, &m)
		return m.HasConsent(lianlu.ConsentMarketing)
	}
	if !consent() {
		t.Fatal("a refused request changed her consent")
	}
	// Marketing handles an unsubscribe: withdrawn at once.
	if r := e.do("POST", path, marketing, jsonHeader, []byte(`{"granted":false,"channel":"sms"}`)); r.status != 200 || consent() {
		t.Fatalf("withdraw: %d %s", r.status, r.body)
	}
	es, _ := e.events.FindEvents(context.Background(), lianlu.EventFilter{Types: []string{lianlu.EventConsentWithdrawn}})
	if len(es) != 1 || es[0].Time.IsZero() {
		t.Fatalf("consent_withdrawn events: %+v", es)
	}
	if r := e.do("POST", path, sales, jsonHeader, []byte(`{"granted":true,"channel":"store","store":"SH-01"}`)); r.status != 200 || !consent() {
		t.Fatalf("grant again: %d %s", r.status, r.body)
	}
}

// TestPrivacyAPI_Requests: a request is recorded as a handoff to service
// with its deadline, listed with pagination, completed, or refused only
// with a reason, by service managers and admins.
func TestPrivacyAPI_Requests(t *testing.T) {
	e, amy := newPrivacyEnv(t)
	sales := e.token(lianlu.DeptSales, lianlu.RoleOperator)
	mgr := e.token(lianlu.DeptService, lianlu.RoleManager)
	svcOp := e.token(lianlu.DeptService, lianlu.RoleOperator)
	marketing := e.token(lianlu.DeptMarketing, lianlu.RoleManager)
	path := fmt.Sprintf("/api/v1/members/%d/privacy-requests", amy)
	if r := e.do("POST", path, marketing, jsonHeader, []byte(`{"kind":"erase"}`)); r.status != 403 {
		t.Errorf("marketing records: %d", r.status)
	}
	if r := e.do("POST", path, sales, jsonHeader, []byte(`{"kind":"forget"}`)); r.status != 400 || r.problem(t).Errors[0].Field != "kind" {
		t.Errorf("bad kind: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/members/999/privacy-requests", sales, jsonHeader, []byte(`{"kind":"access"}`)); r.status != 404 {
		t.Errorf("unknown member: %d", r.status)
	}
	var reqs []lianlu.PrivacyRequest
	for _, kind := range []string{"copy", "erase", "correct"} {
		r := e.do("POST", path, sales, jsonHeader, []byte(`{"kind":"`+kind+`","channel":"phone","note":"she called"}`))
		if r.status != 201 || !strings.HasPrefix(r.header.Get("Location"), "/api/v1/privacy-requests/") {
			t.Fatalf("record %s: %d %s", kind, r.status, r.body)
		}
		var p lianlu.PrivacyRequest
		r.json(t, &p)
		reqs = append(reqs, p)
	}
	p := reqs[0]
	if p.Status != "open" || p.Department != "service" || p.HandoffID == 0 || p.DueAt.Sub(p.ReceivedAt) != 15*24*time.Hour || p.RecordedBy != "token:sales operator" {
		t.Fatalf("request %+v", p)
	}
	var h lianlu.Handoff
	e.do("GET", fmt.Sprintf("/api/v1/handoffs/%d", p.HandoffID), e.admin, nil, nil).json(t, &h)
	if h.ToDepartment != "service" || h.FromDepartment != "sales" || h.DueAt == nil || !h.DueAt.Equal(p.DueAt) || h.Status != "open" {
		t.Fatalf("handoff %+v", h)
	}

	// Listed with pagination, to the departments that see members.
	var page httpapi.List[lianlu.PrivacyRequest]
	e.do("GET", "/api/v1/privacy-requests?limit=2", svcOp, nil, nil).json(t, &page)
	if len(page.Items) != 2 || page.NextCursor == "" {
		t.Fatalf("first page: %+v", page)
	}
	e.do("GET", "/api/v1/privacy-requests?limit=2&cursor="+page.NextCursor, svcOp, nil, nil).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != reqs[2].ID || page.NextCursor != "" {
		t.Fatalf("second page: %+v", page)
	}
	if r := e.do("GET", "/api/v1/privacy-requests?status=lost", svcOp, nil, nil); r.status != 400 {
		t.Errorf("bad status: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/privacy-requests", marketing, nil, nil); r.status != 403 {
		t.Errorf("marketing lists: %d", r.status)
	}

	one := func(id int64, verb string) string { return fmt.Sprintf("/api/v1/privacy-requests/%d/%s", id, verb) }
	// Handled by service managers and admins only.
	if r := e.do("POST", one(p.ID, "complete"), svcOp, jsonHeader, []byte(`{}`)); r.status != 403 {
		t.Errorf("operator completes: %d", r.status)
	}
	if r := e.do("POST", one(p.ID, "complete"), marketing, jsonHeader, []byte(`{}`)); r.status != 403 {
		t.Errorf("marketing manager completes: %d", r.status)
	}
	// A refusal without a reason is refused.
	for _, body := range []string{`{}`, `{"reason":""}`, `{"reason":"  "}`, `{"resolution":"no"}`} {
		r := e.do("POST", one(reqs[1].ID, "refuse"), mgr, jsonHeader, []byte(body))
		if r.status != 400 {
			t.Errorf("refusal %s: %d %s", body, r.status, r.body)
		}
	}
	var refused lianlu.PrivacyRequest
	if r := e.do("POST", one(reqs[1].ID, "refuse"), mgr, jsonHeader, []byte(`{"reason":"her orders are under warranty"}`)); r.status != 200 {
		t.Fatalf("refuse: %d %s", r.status, r.body)
	} else {
		r.json(t, &refused)
	}
	if refused.Status != "refused" || refused.RefusalReason != "her orders are under warranty" || refused.ClosedBy != "token:service manager" {
		t.Errorf("refused %+v", refused)
	}
	var done lianlu.PrivacyRequest
	e.do("POST", one(p.ID, "complete"), mgr, jsonHeader, []byte(`{"resolution":"export sent"}`)).json(t, &done)
	if done.Status != "completed" || done.Resolution != "export sent" {
		t.Errorf("completed %+v", done)
	}
	e.do("GET", fmt.Sprintf("/api/v1/handoffs/%d", p.HandoffID), e.admin, nil, nil).json(t, &h)
	if h.Status != "done" || h.DoneAt == nil {
		t.Errorf("handoff after completion %+v", h)
	}
	if r := e.do("POST", one(p.ID, "refuse"), e.admin, jsonHeader, []byte(`{"reason":"x"}`)); r.status != 409 {
		t.Errorf("refusing a completed request: %d", r.status)
	}
	var got lianlu.PrivacyRequest
	e.do("GET", fmt.Sprintf("/api/v1/privacy-requests/%d", reqs[1].ID), sales, nil, nil).json(t, &got)
	if got.Status != "refused" || got.RefusalReason == "" {
		t.Errorf("get %+v", got)
	}
}

// TestPrivacyAPI_ExportCorrectErase: service managers export (audited),
// correct and erase; others may not.
func TestPrivacyAPI_ExportCorrectErase(t *testing.T) {
	e, amy := newPrivacyEnv(t)
	mgr := e.token(lianlu.DeptService, lianlu.RoleManager)
	salesMgr := e.token(lianlu.DeptSales, lianlu.RoleManager)
	member := fmt.Sprintf("/api/v1/members/%d", amy)
	for _, tc := range []struct{ method, path, body string }{
		{"GET", member + "/export", ""},
		{"POST", member + "/correct", `{"name":"王晓美"}`},
		{"POST", member + "/erase", `{}`},
	} {
		if r := e.do(tc.method, tc.path, salesMgr, jsonHeader, []byte(tc.body)); r.status != 403 {
			t.Errorf("sales manager %s %s: %d", tc.method, tc.path, r.status)
		}
	}
	r := e.do("GET", member+"/export", mgr, nil, nil)
	if r.status != 200 || !strings.Contains(r.header.Get("Content-Disposition"), fmt.Sprintf("member-%d.json", amy)) {
		t.Fatalf("export: %d %v", r.status, r.header)
	}
	var doc map[string]json.RawMessage
	r.json(t, &doc)
	for _, k := range []string{"member", "orders", "fulfillments", "work_orders", "service_requests", "feedback", "offer_sends", "coupons", "interactions", "privacy_requests", "events"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("export has no %s", k)
		}
	}
	if !strings.Contains(string(r.body), "+8613800138000") || !strings.Contains(string(r.body), "王小美") {
		t.Error("the export is masked")
	}
	var audit struct{ Items []lianlu.AuditEntry }
	e.do("GET", "/api/v1/audit", e.admin, nil, nil).json(t, &audit)
	if len(audit.Items) == 0 || audit.Items[0].Action != "member.exported" || audit.Items[0].Actor != "token:service manager" {
		t.Errorf("audit: %+v", audit.Items)
	}

	if r := e.do("POST", member+"/correct", mgr, jsonHeader, []byte(`{"email":"nope"}`)); r.status != 400 || r.problem(t).Errors[0].Field != "email" {
		t.Errorf("bad correction: %d %s", r.status, r.body)
	}
	var m lianlu.Member
	if r := e.do("POST", member+"/correct", mgr, jsonHeader, []byte(`{"email":"amy@example.org","name":"王晓美"}`)); r.status != 200 {
		t.Fatalf("correct: %d %s", r.status, r.body)
	} else {
		r.json(t, &m)
	}
	if m.Email != "amy@example.org" || !strings.Contains(string(m.Traits), "王晓美") {
		t.Errorf("corrected %+v", m)
	}

	var rep lianlu.ErasureReport
	if r := e.do("POST", member+"/erase", mgr, jsonHeader, []byte(`{}`)); r.status != 200 {
		t.Fatalf("erase: %d %s", r.status, r.body)
	} else {
		r.json(t, &rep)
	}
	if rep.AlreadyErased || rep.Identities != 2 || len(rep.Members) != 1 {
		t.Errorf("report %+v", rep)
	}
	var erased lianlu.Member
	e.do("GET", member, e.admin, nil, nil).json(t, &erased)
	if erased.ErasedAt == nil || erased.Phone != "" || erased.Email != "" || len(erased.Identities) != 0 {
		t.Errorf("erased member %+v", erased)
	}
	r = e.do("GET", member+"/export", e.admin, nil, nil)
	for _, v := range []string{"13800138000", "王小美", "王晓美", "amy@example.org"} {
		if strings.Contains(string(r.body), v) {
			t.Errorf("the export after erasure holds %q", v)
		}
	}
	if r := e.do("GET", "/api/v1/members?phone=13800138000", e.admin, nil, nil); !strings.Contains(string(r.body), `"items":[]`) {
		t.Errorf("her phone still finds her: %s", r.body)
	}
	var again lianlu.ErasureReport
	e.do("POST", member+"/erase", mgr, jsonHeader, []byte(`{}`)).json(t, &again)
	if !again.AlreadyErased {
		t.Errorf("second erasure %+v", again)
	}
}
