package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
)

func TestFeedbackHandoffsFlowsCalendarsAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	js := map[string]string{"Content-Type": "application/json"}
	if err := flow.Seed(ctx, e.db, flow.Defaults(), false); err != nil {
		t.Fatal(err)
	}
	runner := flow.NewRunner(e.db, flow.RunnerConfig{})
	if err := runner.Load(ctx); err != nil {
		t.Fatal(err)
	}
	drain := func() {
		for {
			n, err := runner.ProcessOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	service := e.token("service", lianlu.RoleOperator)
	product := e.token("product", lianlu.RoleOperator)
	marketing := e.token("marketing", lianlu.RoleViewer)

	if r := e.do("POST", "/api/v1/feedback", service, js, []byte(`{"rating":9,"problem_type":""}`)); r.status != 400 || len(r.problem(t).Errors) != 2 {
		t.Fatalf("bad feedback: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/feedback", service, js, []byte(`{"rating":1,"problem_type":"noise","order":999}`)); r.status != 400 || r.problem(t).Errors[0].Field != "order" {
		t.Fatalf("unknown order: %d %s", r.status, r.body)
	}
	r := e.do("POST", "/api/v1/feedback", service, js, []byte(`{"rating":1,"problem_type":"noise","text":"太吵"}`))
	if r.status != 201 {
		t.Fatalf("feedback: %d %s", r.status, r.body)
	}
	var fb lianlu.Feedback
	r.json(t, &fb)
	drain()
	var view struct {
		lianlu.Feedback
		Handoffs []lianlu.Handoff `json:"handoffs"`
	}
	e.do("GET", fmt.Sprintf("/api/v1/feedback/%d", fb.ID), marketing, nil, nil).json(t, &view)
	if view.Status != "open" || len(view.Handoffs) != 2 {
		t.Fatalf("feedback view: %+v", view)
	}

	// Handoffs: a department sees only its own; marketing sees none.
	var hl struct{ Items []lianlu.Handoff }
	e.do("GET", "/api/v1/handoffs?subject="+fmt.Sprintf("feedback/%d", fb.ID), marketing, nil, nil).json(t, &hl)
	if len(hl.Items) != 0 {
		t.Fatalf("marketing sees %d handoffs", len(hl.Items))
	}
	e.do("GET", "/api/v1/handoffs?breached=false", product, nil, nil).json(t, &hl)
	if len(hl.Items) != 1 || hl.Items[0].ToDepartment != "product" {
		t.Fatalf("product handoffs: %+v", hl.Items)
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/handoffs/%d", hl.Items[0].ID), marketing, nil, nil); r.status != 404 {
		t.Fatalf("marketing reads product handoff: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/handoffs?department=product", service, nil, nil); r.status != 403 {
		t.Fatalf("service lists product handoffs: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/handoffs?breached=maybe", e.admin, nil, nil); r.status != 400 {
		t.Fatalf("bad breached: %d", r.status)
	}

	// Only product triages.
	target := strings.TrimPrefix(hl.Items[0].Target, "backlog/")
	if r := e.do("POST", "/api/v1/backlog/"+target+"/triage", service, nil, nil); r.status != 403 {
		t.Fatalf("service triages: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/backlog/"+target+"/triage", product, js, []byte(`{"note":"bearing"}`)); r.status != 200 {
		t.Fatalf("triage: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/backlog/"+target+"/triage", product, nil, nil); r.status != 409 {
		t.Fatalf("triage twice: %d", r.status)
	}
	drain()
	e.do("GET", fmt.Sprintf("/api/v1/feedback/%d", fb.ID), marketing, nil, nil).json(t, &view)
	if !view.ProductDone || view.ServiceDone || view.Status != "open" {
		t.Fatalf("after triage: %+v", view.Feedback)
	}
	// The timeline shows each department what the events and handoffs
	// APIs show it: service its feedback and the handoffs it made,
	// marketing nothing of either.
	var tl struct {
		Items []struct {
			Kind  string
			Event *lianlu.Event
		}
		Handoffs []lianlu.Handoff
	}
	e.do("GET", fmt.Sprintf("/api/v1/feedback/%d/timeline", fb.ID), service, nil, nil).json(t, &tl)
	if len(tl.Items) < 3 || len(tl.Handoffs) != 2 {
		t.Fatalf("service's timeline: %+v", tl)
	}
	for _, it := range tl.Items {
		if it.Event != nil && it.Event.Department != "service" {
			t.Fatalf("service's timeline shows a %s event %s", it.Event.Department, it.Event.Type)
		}
	}
	e.do("GET", fmt.Sprintf("/api/v1/feedback/%d/timeline", fb.ID), marketing, nil, nil).json(t, &tl)
	if len(tl.Items) != 0 || len(tl.Handoffs) != 0 {
		t.Fatalf("marketing's timeline: %+v", tl)
	}

	// Flows: versions, ETag and If-Match; only admins edit.
	r = e.do("GET", "/api/v1/flows/feedback_submitted", marketing, map[string]string{"Accept": "application/yaml"}, nil)
	if r.status != 200 || r.header.Get("ETag") != `"1"` || !strings.Contains(string(r.body), "name: feedback_submitted") {
		t.Fatalf("get flow: %d %s %s", r.status, r.header.Get("ETag"), r.body)
	}
	edited := strings.Replace(string(r.body), "sla: 3bd", "sla: 2bd", 1)
	yml := map[string]string{"Content-Type": "application/yaml", "If-Match": `"1"`}
	if r := e.do("PUT", "/api/v1/flows/feedback_submitted", service, yml, []byte(edited)); r.status != 403 {
		t.Fatalf("non-admin edits flow: %d", r.status)
	}
	if r := e.do("PUT", "/api/v1/flows/feedback_submitted", e.admin, yml, []byte(edited)); r.status != 200 || r.header.Get("ETag") != `"2"` {
		t.Fatalf("edit flow: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/api/v1/flows/feedback_submitted", e.admin, yml, []byte(edited+"\n")); r.status != 409 {
		t.Fatalf("stale If-Match: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/api/v1/flows/feedback_submitted", e.admin, js, []byte(edited)); r.status != 415 {
		t.Fatalf("JSON body: %d", r.status)
	}
	if r := e.do("PUT", "/api/v1/flows/other", e.admin, map[string]string{"Content-Type": "application/yaml"}, []byte(edited)); r.status != 400 {
		t.Fatalf("name mismatch: %d", r.status)
	}
	// Invalid flows are refused with a problem document naming the step;
	// the stored version stays.
	for _, c := range []struct{ name, from, to, field string }{
		{"unknown action", "action: backlog.add", "action: backlog.push", "steps[0].action"},
		{"bad CEL", "when: event.data.rating <= 2", "when: event.data.rating <=", "steps[1].when"},
		{"unknown department", "to: product", "to: finance", "steps[0].to"},
	} {
		bad := strings.Replace(edited, c.from, c.to, 1)
		if bad == edited {
			t.Fatalf("%s: %q not in the flow", c.name, c.from)
		}
		r := e.do("PUT", "/api/v1/flows/feedback_submitted", e.admin, map[string]string{"Content-Type": "application/yaml"}, []byte(bad))
		if r.status != 400 {
			t.Fatalf("%s: %d %s", c.name, r.status, r.body)
		}
		named := false
		for _, fe := range r.problem(t).Errors {
			named = named || strings.HasSuffix(fe.Field, c.field)
		}
		if !named {
			t.Fatalf("%s: problem does not name %s: %s", c.name, c.field, r.body)
		}
	}
	if r := e.do("GET", "/api/v1/flows/feedback_submitted", marketing, nil, nil); r.header.Get("ETag") != `"2"` {
		t.Fatalf("an invalid flow changed the stored version: %s", r.header.Get("ETag"))
	}

	// Calendars.
	var cals struct {
		Items []struct {
			Department string `json:"department"`
			Default    bool   `json:"default"`
		}
	}
	e.do("GET", "/api/v1/calendars", marketing, nil, nil).json(t, &cals)
	if len(cals.Items) != 7 || !cals.Items[0].Default {
		t.Fatalf("calendars: %+v", cals.Items)
	}
	svcMgr := e.token("service", lianlu.RoleManager)
	cal := `{"timezone":"Asia/Shanghai","hours":{"mon":[["08:00","20:00"]],"sat":[["10:00","16:00"]]},"holidays":["2026-12-25"]}`
	if r := e.do("PUT", "/api/v1/calendars/service", svcMgr, js, []byte(cal)); r.status != 200 {
		t.Fatalf("put calendar: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/api/v1/calendars/sales", svcMgr, js, []byte(cal)); r.status != 403 {
		t.Fatalf("other department's calendar: %d", r.status)
	}
	if r := e.do("PUT", "/api/v1/calendars/service", svcMgr, js, []byte(`{"timezone":"Mars/Base","hours":{"mon":[["18:00","09:00"]]}}`)); r.status != 400 || len(r.problem(t).Errors) < 2 {
		t.Fatalf("bad calendar: %d %s", r.status, r.body)
	}
}
