package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
)

func basicKey(k string) map[string]string {
	return map[string]string{"Content-Type": "application/json", "Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(k+":"))}
}

// Tracking plans through the API and in the collector: put/get (manager of
// the source's department, audited), flag stores and counts, block
// refuses by index and counts, violations listed per event and rule.
func TestTrackingPlanAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	js := map[string]string{"Content-Type": "application/json"}
	mgr := e.token("marketing", lianlu.RoleManager)
	op := e.token("marketing", lianlu.RoleOperator)
	sales := e.token("sales", lianlu.RoleManager)
	src, key, err := e.sources().CreateSource(ctx, lianlu.Source{Name: "web", Department: "marketing", Kind: "web"})
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/sources/%d/", src.ID)
	plan := func(mode string) []byte {
		return []byte(`{"mode":"` + mode + `","events":{"Order Completed":{"type":"object","required":["order_id"],"properties":{"order_id":{"type":"string"},"total":{"type":"number"}}}}}`)
	}
	if r := e.do("GET", path+"tracking-plan", op, nil, nil); r.status != 404 {
		t.Fatalf("no plan: %d %s", r.status, r.body)
	}
	for name, tc := range map[string]struct {
		token  string
		body   []byte
		status int
		field  string
	}{
		"operator":         {op, plan("flag"), 403, ""},
		"other department": {sales, plan("flag"), 404, ""},
		"bad mode":         {mgr, plan("warn"), 400, "mode"},
		"bad schema":       {mgr, []byte(`{"mode":"flag","events":{"X":{"type":"nonsense"}}}`), 400, "events.X"},
		"unknown field":    {mgr, []byte(`{"mode":"flag","rules":{}}`), 400, "body"},
	} {
		r := e.do("PUT", path+"tracking-plan", tc.token, js, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: %d %s", name, r.status, r.body)
			continue
		}
		if tc.field != "" && (len(r.problem(t).Errors) == 0 || r.problem(t).Errors[0].Field != tc.field) {
			t.Errorf("%s: %s", name, r.body)
		}
	}
	r := e.do("PUT", path+"tracking-plan", mgr, js, plan("flag"))
	var stored lianlu.TrackingPlan
	r.json(t, &stored)
	if r.status != 200 || stored.Version != 1 || stored.Mode != "flag" || !stored.AllowUnplanned {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	if r := e.do("GET", path+"tracking-plan", op, nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"Order Completed"`) {
		t.Fatalf("get: %d %s", r.status, r.body)
	}

	events := func() []lianlu.Event {
		es, err := e.events.FindEvents(ctx, lianlu.EventFilter{Source: fmt.Sprintf("segment:%d", src.ID), Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	// Flag: everything stored, the bad message marked and counted once
	// even when the SDK resends it.
	batch := []byte(`{"batch":[{"type":"track","userId":"u","event":"Order Completed","messageId":"f-ok","properties":{"order_id":"O1"}},
		{"type":"track","userId":"u","event":"Order Completed","messageId":"f-bad","properties":{"total":"9"}}]}`)
	for range 2 {
		if r := e.do("POST", "/v1/batch", "", basicKey(key), batch); r.status != 200 {
			t.Fatalf("flag batch: %d %s", r.status, r.body)
		}
	}
	es := events()
	if len(es) != 2 || !strings.Contains(string(es[1].Data), `"violations"`) || strings.Contains(string(es[0].Data), `"violations"`) {
		t.Fatalf("flagged events %+v", es)
	}

	// Block: the bad message is refused by index, the good one stored.
	if r := e.do("PUT", path+"tracking-plan", mgr, js, plan("block")); r.status != 200 {
		t.Fatalf("block plan: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/v1/batch", "", basicKey(key), []byte(`{"batch":[{"type":"track","userId":"u","event":"Order Completed","messageId":"b-bad"},
		{"type":"track","userId":"u","event":"Order Completed","messageId":"b-ok","properties":{"order_id":"O2"}}]}`))
	var out struct {
		Accepted int `json:"accepted"`
		Invalid  []struct {
			Index     int    `json:"index"`
			MessageID string `json:"message_id"`
			Field     string `json:"field"`
		} `json:"invalid"`
	}
	r.json(t, &out)
	if r.status != 200 || out.Accepted != 1 || len(out.Invalid) != 1 || out.Invalid[0].Index != 0 || out.Invalid[0].MessageID != "b-bad" || out.Invalid[0].Field != "properties.order_id" {
		t.Fatalf("block batch: %d %s", r.status, r.body)
	}
	// A blocked single call is 400 naming the field; nothing is stored.
	r = e.do("POST", "/v1/track", "", basicKey(key), []byte(`{"userId":"u","event":"Order Completed","messageId":"b-single","properties":{"order_id":5}}`))
	if r.status != 400 || r.problem(t).Errors[0].Field != "properties.order_id" {
		t.Fatalf("blocked track: %d %s", r.status, r.body)
	}
	ids := map[string]bool{}
	for _, ev := range events() {
		ids[ev.ID] = true
	}
	if len(ids) != 3 || ids["b-bad"] || ids["b-single"] || !ids["b-ok"] {
		t.Fatalf("stored %v", ids)
	}

	r = e.do("GET", path+"violations", op, nil, nil)
	var vs struct {
		Items []lianlu.ViolationCount `json:"items"`
	}
	r.json(t, &vs)
	got := map[string][2]int64{}
	for _, v := range vs.Items {
		got[v.Event+"|"+v.Rule+"|"+v.Field] = [2]int64{v.Flagged, v.Blocked}
	}
	want := map[string][2]int64{
		"Order Completed|required|properties.order_id": {1, 1},
		"Order Completed|type|properties.total":        {1, 0},
		"Order Completed|type|properties.order_id":     {0, 1},
	}
	if r.status != 200 || len(got) != len(want) {
		t.Fatalf("violations: %d %s", r.status, r.body)
	}
	for k, w := range want {
		if got[k] != w {
			t.Fatalf("violations %s: %v, want %v (%s)", k, got[k], w, r.body)
		}
	}
	if r := e.do("GET", path+"violations?event=Nothing", op, nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"items":[]`) {
		t.Fatalf("filtered violations: %s", r.body)
	}
	if r := e.do("GET", path+"violations", e.token("sales", lianlu.RoleViewer), nil, nil); r.status != 404 {
		t.Fatalf("other department reads violations: %d", r.status)
	}
	audit, _ := e.access.FindAuditEntries(ctx, 0, 20)
	n := 0
	for _, a := range audit {
		if a.Action == "tracking_plan.updated" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d plan audit entries, want 2", n)
	}
}

func TestFreshnessAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src, key, err := e.sources().CreateSource(ctx, lianlu.Source{Name: "app", Department: "marketing", Kind: "app"})
	if err != nil {
		t.Fatal(err)
	}
	op := e.token("marketing", lianlu.RoleViewer)
	path := fmt.Sprintf("/api/v1/sources/%d/freshness", src.ID)
	var f struct {
		LastEventAt     *string `json:"last_event_at"`
		LastEventFrom   string  `json:"last_event_from"`
		WindowEvents    int64   `json:"window_events"`
		EventsPerMinute float64 `json:"events_per_minute"`
		LagP50          float64 `json:"lag_p50_seconds"`
		LagP95          float64 `json:"lag_p95_seconds"`
	}
	r := e.do("GET", path, op, nil, nil)
	r.json(t, &f)
	if r.status != 200 || f.LastEventAt != nil || f.WindowEvents != 0 {
		t.Fatalf("empty: %d %s", r.status, r.body)
	}
	// Ten messages, sent two minutes after they happened.
	var items []string
	for i := range 10 {
		items = append(items, fmt.Sprintf(`{"type":"track","userId":"u","event":"E","messageId":"m%d","timestamp":"2000-01-01T00:00:00Z","sentAt":"2000-01-01T00:02:00Z"}`, i))
	}
	if r := e.do("POST", "/v1/batch", "", basicKey(key), []byte(`{"batch":[`+strings.Join(items, ",")+`]}`)); r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	r = e.do("GET", path, op, nil, nil)
	r.json(t, &f)
	if f.LastEventAt == nil || f.LastEventFrom != "window" || f.WindowEvents != 10 || f.EventsPerMinute <= 0 || f.LagP50 < 120 || f.LagP95 > 150 {
		t.Fatalf("after batch: %s", r.body)
	}
	// After a restart the window is empty; the last event comes from the database.
	e.fresh = nil
	other, _, _ := e.sources().CreateSource(ctx, lianlu.Source{Name: "pos", Department: "marketing", Kind: "pos"})
	if _, err := e.events.AppendEvents(ctx, []lianlu.Event{{ID: "x", Source: fmt.Sprintf("segment:%d", other.ID), Type: "segment.track", Department: "marketing"}}); err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", fmt.Sprintf("/api/v1/sources/%d/freshness", other.ID), op, nil, nil)
	var g map[string]any
	json.Unmarshal(r.body, &g)
	if g["last_event_from"] != "database" || g["last_event_at"] == nil || g["window_events"] != float64(0) {
		t.Fatalf("database fallback: %s", r.body)
	}
}
