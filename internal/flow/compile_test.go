package flow_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
)

// mustCompileDefaults compiles the default flows and returns them by name.
func mustCompileDefaults(tb testing.TB) map[string]*flow.CompiledFlow {
	tb.Helper()
	flows, err := flow.CompileAll(flow.Defaults(), testEnv)
	if err != nil {
		tb.Fatalf("CompileAll(Defaults()): %v %+v", err, lianlu.ErrorFields(err))
	}
	byName := map[string]*flow.CompiledFlow{}
	for i := range flows {
		byName[flows[i].Name] = &flows[i]
	}
	return byName
}

func TestDefaultsValid(t *testing.T) {
	defs, err := flow.Parse(flow.DefaultsYAML())
	if err != nil {
		t.Fatalf("Parse(defaults.yaml): %v %+v", err, lianlu.ErrorFields(err))
	}
	env := flow.ValidationEnv{
		Departments: []string{"marketing", "sales", "service", "supply_chain", "product", "stores", "admin"},
		Registry:    flow.NewRegistry(flow.BuiltinActionSpecs()...),
	}
	if err := flow.Validate(defs, env); err != nil {
		t.Fatalf("Validate(defaults.yaml): %v %+v", err, lianlu.ErrorFields(err))
	}
	if !reflect.DeepEqual(flow.Defaults(), defs) {
		t.Error("Defaults() differs from defaults.yaml")
	}

	type step struct {
		name, from, to, action, sla string
		completes, accepts          []string
	}
	want := map[string][]step{
		"order_placed": {
			{"fulfillment", "sales", "supply_chain", "fulfillment.create", "24h", []string{"fulfillment.shipped"}, []string{"fulfillment.picked"}},
			{"followup", "sales", "service", "workorder.create", "2h", []string{"workorder.contacted", "workorder.resolved"}, []string{"workorder.accepted"}},
		},
		"fulfillment_backordered": {
			{"notify_sales", "supply_chain", "sales", "notify", "4h", []string{"customer.contacted"}, nil},
			{"notify_service", "supply_chain", "service", "workorder.create", "4h", []string{"customer.contacted", "workorder.resolved"}, []string{"workorder.accepted"}},
		},
		"feedback_submitted": {
			{"backlog", "service", "product", "backlog.add", "3bd", []string{"backlog.triaged"}, nil},
			{"followup_urgent", "", "service", "workorder.create", "1h", []string{"workorder.resolved"}, []string{"workorder.accepted"}},
			{"followup", "", "service", "workorder.create", "4h", []string{"workorder.resolved"}, []string{"workorder.accepted"}},
		},
	}
	triggers := map[string]string{
		"order_placed": "order.placed", "fulfillment_backordered": "fulfillment.backordered", "feedback_submitted": "feedback.submitted",
	}
	if len(defs) != len(want) {
		t.Fatalf("got %d default flows, want %d", len(defs), len(want))
	}
	for _, d := range defs {
		if d.Trigger.Event != triggers[d.Name] {
			t.Errorf("%s: trigger %q", d.Name, d.Trigger.Event)
		}
		var got []step
		for _, s := range d.Steps {
			got = append(got, step{s.Name, s.From, s.To, s.Action, s.SLA, s.Completes, s.Accepts})
		}
		if !reflect.DeepEqual(got, want[d.Name]) {
			t.Errorf("%s steps:\n got %+v\nwant %+v", d.Name, got, want[d.Name])
		}
	}
}

func TestCompiledSLA(t *testing.T) {
	flows := mustCompileDefaults(t)
	if got := flows["order_placed"].StepSLA; !reflect.DeepEqual(got, []flow.SLA{{Duration: 24 * time.Hour}, {Duration: 2 * time.Hour}}) {
		t.Errorf("order_placed SLAs = %+v", got)
	}
	if got := flows["feedback_submitted"].StepSLA[0]; got != (flow.SLA{BusinessDays: 3}) {
		t.Errorf("backlog SLA = %+v", got)
	}
}

func TestFeedbackFlow(t *testing.T) {
	f := mustCompileDefaults(t)["feedback_submitted"]
	steps := []string{"backlog", "followup_urgent", "followup"}
	for i, s := range f.Steps {
		if s.Name != steps[i] {
			t.Fatalf("step %d is %s, want %s", i, s.Name, steps[i])
		}
	}
	tests := []struct {
		data     string
		applies  []bool
		priority string
	}{
		{`{"rating": 1, "problem_type": "broken", "sku": "A"}`, []bool{true, true, false}, "high"},
		{`{"rating": 2}`, []bool{true, true, false}, "high"},
		{`{"rating": 3}`, []bool{true, false, true}, "normal"},
		{`{"rating": 5}`, []bool{true, false, true}, "normal"},
	}
	for _, tc := range tests {
		t.Run(tc.data, func(t *testing.T) {
			e := testEvent("feedback.submitted", tc.data)
			if ok, err := f.Matches(e); err != nil || !ok {
				t.Fatalf("Matches = %v, %v", ok, err)
			}
			for i, want := range tc.applies {
				got, err := f.StepApplies(i, e)
				if err != nil || got != want {
					t.Errorf("StepApplies(%d %s) = %v, %v; want %v", i, f.Steps[i].Name, got, err, want)
				}
				if !got {
					continue
				}
				params, err := f.ResolveParams(i, e)
				if err != nil {
					t.Fatalf("ResolveParams(%d): %v", i, err)
				}
				if f.Steps[i].Action == "workorder.create" &&
					(params["kind"] != "feedback_followup" || params["priority"] != tc.priority) {
					t.Errorf("step %s params = %v", f.Steps[i].Name, params)
				}
			}
		})
	}

	if ok, err := f.Matches(testEvent("order.placed", `{"rating": 1}`)); err != nil || ok {
		t.Errorf("Matches(order.placed) = %v, %v", ok, err)
	}
	// Without a rating the followup conditions fail: an error, not a match.
	e := testEvent("feedback.submitted", `{"text": "no rating"}`)
	if _, err := f.StepApplies(1, e); err == nil || !strings.Contains(err.Error(), "no such key: rating") {
		t.Errorf("StepApplies without rating: err = %v", err)
	}
	if ok, err := f.StepApplies(0, e); err != nil || !ok {
		t.Errorf("StepApplies(backlog) without rating = %v, %v", ok, err)
	}
	if _, err := f.StepApplies(3, e); err == nil {
		t.Error("StepApplies(3) succeeded")
	}
	if _, err := f.ResolveParams(-1, e); err == nil {
		t.Error("ResolveParams(-1) succeeded")
	}
}

func TestResolveParams(t *testing.T) {
	flows := mustCompileDefaults(t)
	e := testEvent("order.placed", `{"rating": 1}`)

	got, err := flows["order_placed"].ResolveParams(1, e)
	if want := map[string]any{"kind": "order_followup", "priority": "normal", "title": "Follow up order order/O-1001"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("order_placed followup params = %v, %v; want %v", got, err, want)
	}
	got, err = flows["order_placed"].ResolveParams(0, e)
	if err != nil || len(got) != 0 {
		t.Errorf("fulfillment params = %v, %v; want none", got, err)
	}
	got, err = flows["feedback_submitted"].ResolveParams(0, e)
	if want := map[string]any{"dedupe_by": []string{"problem_type", "sku"}, "weight": int64(1)}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("backlog params = %v, %v; want %v", got, err, want)
	}
	got[("dedupe_by")].([]string)[0] = "changed"
	if again, _ := flows["feedback_submitted"].ResolveParams(0, e); again["dedupe_by"].([]string)[0] != "problem_type" {
		t.Error("changing resolved params changed the default")
	}
	got, err = flows["fulfillment_backordered"].ResolveParams(0, e)
	if err != nil || got["channel"] != "inbox" || !strings.HasPrefix(got["message"].(string), "Backordered: order/O-1001.") {
		t.Errorf("notify params = %v, %v", got, err)
	}

	// Computed parameters, checked at run time against their spec.
	d := flow.Definition{
		Name:    "custom",
		Trigger: flow.Trigger{Event: "feedback.submitted", Condition: `event.data.channel == "store"`},
		Steps: []flow.Step{
			{Name: "wo", To: "service", Action: "workorder.create", Params: map[string]any{
				"kind":     "feedback_followup",
				"priority": "= event.data.rating <= 2 ? 'high' : event.data.p",
				"title":    "==not an expression",
			}},
			{Name: "backlog", To: "product", Action: "backlog.add", Params: map[string]any{
				"weight":    "= has(event.data.w) ? event.data.w : 6 - event.data.rating",
				"dedupe_by": []any{"problem_type"},
			}},
		},
	}
	cf, err := flow.CompileAll([]flow.Definition{d}, testEnv)
	if err != nil {
		t.Fatalf("CompileAll: %v %+v", err, lianlu.ErrorFields(err))
	}
	f := &cf[0]
	tests := []struct {
		data string
		step int
		want map[string]any
		err  string
	}{
		{`{"rating": 1}`, 0, map[string]any{"kind": "feedback_followup", "priority": "high", "title": "=not an expression"}, ""},
		{`{"rating": 4, "p": "urgent"}`, 0, map[string]any{"kind": "feedback_followup", "priority": "urgent", "title": "=not an expression"}, ""},
		{`{"rating": 4, "p": "hgih"}`, 0, nil, `parameter priority: "hgih" is not one of`},
		{`{"rating": 4, "p": 3}`, 0, nil, "parameter priority: must be a string"},
		{`{"rating": 4}`, 0, nil, "no such key: p"},
		{`{"rating": 1}`, 1, map[string]any{"weight": int64(5), "dedupe_by": []string{"problem_type"}}, ""},
		{`{"w": 2.0}`, 1, map[string]any{"weight": int64(2), "dedupe_by": []string{"problem_type"}}, ""},
		{`{"w": 1.5}`, 1, nil, "parameter weight: must be an integer"},
		{`{"rating": 1.5}`, 1, nil, "no such overload"}, // CEL does not mix int and double in arithmetic
	}
	for _, tc := range tests {
		got, err := f.ResolveParams(tc.step, testEvent("feedback.submitted", tc.data))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ResolveParams(%d, %s) err = %v, want %q", tc.step, tc.data, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ResolveParams(%d, %s) = %v, %v; want %v", tc.step, tc.data, got, err, tc.want)
		}
	}

	for _, tc := range []struct {
		data string
		want bool
	}{{`{"channel": "store"}`, true}, {`{"channel": "online"}`, false}} {
		if ok, err := f.Matches(testEvent("feedback.submitted", tc.data)); err != nil || ok != tc.want {
			t.Errorf("Matches(%s) = %v, %v", tc.data, ok, err)
		}
	}
	if _, err := f.Matches(testEvent("feedback.submitted", `{}`)); err == nil {
		t.Error("Matches without channel: no error")
	}
}

func TestCompileAllInvalid(t *testing.T) {
	d := validDef()
	d.Steps[0].Action = "fulfilment.create"
	_, err := flow.CompileAll([]flow.Definition{d}, testEnv)
	fields := lianlu.ErrorFields(err)
	if len(fields) != 1 || fields[0].Field != "flows[order_placed].steps[0].action" {
		t.Errorf("CompileAll err = %v %+v", err, fields)
	}
}

func TestCompiledFlowOwnsItsSteps(t *testing.T) {
	defs := []flow.Definition{validDef()}
	cf, err := flow.CompileAll(defs, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	defs[0].Steps[1].Params["kind"] = "after_sales"
	defs[0].Steps[0].Completes[0] = "x.y"
	if cf[0].Steps[1].Params["kind"] != "order_followup" || !slices.Equal(cf[0].Steps[0].Completes, []string{"fulfillment.shipped"}) {
		t.Error("changing the definitions changed the compiled flow")
	}
}
