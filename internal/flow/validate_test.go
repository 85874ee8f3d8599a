package flow_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
)

var testEnv = flow.ValidationEnv{
	Departments: flow.SeededDepartments(),
	Registry:    flow.NewRegistry(flow.BuiltinActionSpecs()...),
}

// validDef returns a valid flow that each validation case breaks in one way.
func validDef() flow.Definition {
	return flow.Definition{
		Name:    "order_placed",
		Trigger: flow.Trigger{Event: "order.placed", Condition: `event.data.channel == "online"`},
		Steps: []flow.Step{
			{Name: "fulfillment", From: "sales", To: "supply_chain", Action: "fulfillment.create",
				SLA: "24h", Completes: []string{"fulfillment.shipped"}, Accepts: []string{"fulfillment.picked"}},
			{Name: "followup", To: "service", When: "event.data.total > 100", Action: "workorder.create",
				Params: map[string]any{"kind": "order_followup", "priority": "= event.data.rating <= 2 ? 'high' : 'normal'"},
				SLA:    "2h", Completes: []string{"workorder.resolved"}},
			{Name: "hook", To: "admin", Action: "webhook.post",
				Params: map[string]any{"url": "https://example.com/hook", "secret_ref": "erp"}},
		},
	}
}

func TestValidateValid(t *testing.T) {
	d := validDef()
	d.Steps[2].Params["secret_ref"] = "==literal starting with ="
	if err := flow.Validate([]flow.Definition{d}, testEnv); err != nil {
		t.Fatalf("Validate: %v %+v", err, lianlu.ErrorFields(err))
	}
	// A nil registry means the built-in actions.
	if err := flow.Validate([]flow.Definition{validDef()}, flow.ValidationEnv{Departments: flow.SeededDepartments()}); err != nil {
		t.Fatalf("Validate with nil registry: %v %+v", err, lianlu.ErrorFields(err))
	}
}

func TestValidate(t *testing.T) {
	const fp = "flows[order_placed]"
	tests := []struct {
		name   string
		mutate func(d *flow.Definition)
		field  string
		msg    string // substring of the message
	}{
		{"unknown action", func(d *flow.Definition) { d.Steps[0].Action = "fulfilment.create" },
			fp + ".steps[0].action", `unknown action "fulfilment.create"`},
		{"missing action", func(d *flow.Definition) { d.Steps[0].Action = "" },
			fp + ".steps[0].action", "required"},
		{"bad CEL in condition", func(d *flow.Definition) { d.Trigger.Condition = "event.data.rating <=" },
			fp + ".trigger.condition", "invalid expression: 1:"},
		{"undeclared variable", func(d *flow.Definition) { d.Trigger.Condition = "order.total > 1" },
			fp + ".trigger.condition", "undeclared reference to 'order'"},
		{"non-boolean condition", func(d *flow.Definition) { d.Trigger.Condition = "size(event.subject)" },
			fp + ".trigger.condition", "must be a boolean expression, not int"},
		{"dynamic condition", func(d *flow.Definition) { d.Trigger.Condition = "event.data.vip" },
			fp + ".trigger.condition", "must be a boolean expression, not dyn"},
		{"bad CEL in when", func(d *flow.Definition) { d.Steps[1].When = "event.data.total >> 1" },
			fp + ".steps[1].when", "invalid expression"},
		{"non-boolean when", func(d *flow.Definition) { d.Steps[1].When = "'yes'" },
			fp + ".steps[1].when", "must be a boolean expression, not string"},
		{"unknown to department", func(d *flow.Definition) { d.Steps[0].To = "warehouse" },
			fp + ".steps[0].to", `unknown department "warehouse"`},
		{"unknown from department", func(d *flow.Definition) { d.Steps[0].From = "finance" },
			fp + ".steps[0].from", `unknown department "finance"`},
		{"missing to", func(d *flow.Definition) { d.Steps[1].To = "" },
			fp + ".steps[1].to", "required"},
		{"duplicate step", func(d *flow.Definition) { d.Steps[1].Name = "fulfillment" },
			fp + ".steps[1].name", `duplicate step name "fulfillment"`},
		{"missing step name", func(d *flow.Definition) { d.Steps[1].Name = "" },
			fp + ".steps[1].name", "required"},
		{"bad step name", func(d *flow.Definition) { d.Steps[1].Name = "Follow-up" },
			fp + ".steps[1].name", "must match"},
		{"missing required param", func(d *flow.Definition) { delete(d.Steps[1].Params, "kind") },
			fp + ".steps[1].params.kind", "required by action workorder.create"},
		{"missing required url", func(d *flow.Definition) { d.Steps[2].Params = nil },
			fp + ".steps[2].params.url", "required by action webhook.post"},
		{"bad enum", func(d *flow.Definition) { d.Steps[1].Params["priority"] = "hgih" },
			fp + ".steps[1].params.priority", `"hgih" is not one of normal, high, urgent`},
		{"bad enum kind", func(d *flow.Definition) { d.Steps[1].Params["kind"] = "repair" },
			fp + ".steps[1].params.kind", `"repair" is not one of`},
		{"unknown param", func(d *flow.Definition) { d.Steps[0].Params = map[string]any{"warehouse": "W1"} },
			fp + ".steps[0].params.warehouse", "unknown parameter of action fulfillment.create"},
		{"wrong kind", func(d *flow.Definition) { d.Steps[1].Params["title"] = 42 },
			fp + ".steps[1].params.title", "must be a string"},
		{"wrong int kind", func(d *flow.Definition) {
			d.Steps[0].Action, d.Steps[0].Params = "backlog.add", map[string]any{"weight": "heavy"}
		}, fp + ".steps[0].params.weight", "must be an integer"},
		{"wrong string_list kind", func(d *flow.Definition) {
			d.Steps[0].Action, d.Steps[0].Params = "backlog.add", map[string]any{"dedupe_by": []any{"sku", 3}}
		}, fp + ".steps[0].params.dedupe_by", "must be a list of strings"},
		{"relative webhook url", func(d *flow.Definition) { d.Steps[2].Params["url"] = "/hooks/erp" },
			fp + ".steps[2].params.url", "absolute http or https URL"},
		{"ftp webhook url", func(d *flow.Definition) { d.Steps[2].Params["url"] = "ftp://example.com/x" },
			fp + ".steps[2].params.url", "absolute http or https URL"},
		{"bad CEL param", func(d *flow.Definition) { d.Steps[1].Params["priority"] = "= event.data.rating <" },
			fp + ".steps[1].params.priority", "invalid expression"},
		{"CEL param of the wrong type", func(d *flow.Definition) { d.Steps[1].Params["priority"] = "= 1 + 2" },
			fp + ".steps[1].params.priority", "expression is of type int, the parameter is of kind string"},
		{"bad SLA", func(d *flow.Definition) { d.Steps[0].SLA = "3days" },
			fp + ".steps[0].sla", `invalid SLA "3days"`},
		{"zero SLA", func(d *flow.Definition) { d.Steps[0].SLA = "0s" },
			fp + ".steps[0].sla", "must be positive"},
		{"SLA without completes", func(d *flow.Definition) { d.Steps[0].Completes = nil },
			fp + ".steps[0].completes", "required when sla is set"},
		{"bad completes event type", func(d *flow.Definition) { d.Steps[0].Completes = []string{"fulfillment.shipped", "Shipped"} },
			fp + ".steps[0].completes[1]", `invalid event type "Shipped"`},
		{"empty accepts event type", func(d *flow.Definition) { d.Steps[0].Accepts = []string{""} },
			fp + ".steps[0].accepts[0]", "required"},
		{"duplicate completes", func(d *flow.Definition) { d.Steps[0].Completes = []string{"a.b", "a.b"} },
			fp + ".steps[0].completes[1]", `duplicate event type "a.b"`},
		{"missing trigger event", func(d *flow.Definition) { d.Trigger.Event = "" },
			fp + ".trigger.event", "required"},
		{"undotted trigger event", func(d *flow.Definition) { d.Trigger.Event = "order" },
			fp + ".trigger.event", `invalid event type "order"`},
		{"no steps", func(d *flow.Definition) { d.Steps = nil },
			fp + ".steps", "at least one step"},
		{"too many steps", func(d *flow.Definition) {
			for i := len(d.Steps); i <= flow.MaxSteps; i++ {
				d.Steps = append(d.Steps, flow.Step{Name: fmt.Sprintf("s%d", i), To: "admin", Action: "notify", Params: map[string]any{"message": "hi"}})
			}
		}, fp + ".steps", "at most 20 steps"},
		{"missing flow name", func(d *flow.Definition) { d.Name = "" },
			"flows[0].name", "required"},
		{"bad flow name", func(d *flow.Definition) { d.Name = "Order Placed" },
			"flows[0].name", "must match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := validDef()
			tc.mutate(&d)
			err := flow.Validate([]flow.Definition{d}, testEnv)
			if lianlu.ErrorCode(err) != lianlu.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			fields := lianlu.ErrorFields(err)
			if len(fields) != 1 {
				t.Fatalf("fields = %+v, want exactly one", fields)
			}
			if fields[0].Field != tc.field || !strings.Contains(fields[0].Message, tc.msg) {
				t.Errorf("got %s: %s\nwant %s: …%s…", fields[0].Field, fields[0].Message, tc.field, tc.msg)
			}
		})
	}
}

func TestValidateCollectsAllProblems(t *testing.T) {
	a := validDef()
	a.Steps[0].Action = "fulfilment.create"
	a.Steps[1].To = "warehouse"
	a.Trigger.Condition = "event.data.x +"
	b := validDef() // same name: duplicate
	c := validDef()
	c.Name = "other"
	c.Steps[1].Name = "fulfillment"
	err := flow.Validate([]flow.Definition{a, b, c}, testEnv)
	var got []string
	for _, f := range lianlu.ErrorFields(err) {
		got = append(got, f.Field)
	}
	want := []string{
		"flows[order_placed].trigger.condition",
		"flows[order_placed].steps[0].action",
		"flows[order_placed].steps[1].to",
		"flows[order_placed].name",
		"flows[other].steps[1].name",
	}
	if !slices.Equal(got, want) {
		t.Errorf("fields = %q\nwant %q", got, want)
	}
	if msg := lianlu.ErrorMessage(err); msg != "5 invalid fields" {
		t.Errorf("message = %q", msg)
	}
}

func TestValidateNoDepartments(t *testing.T) {
	err := flow.Validate([]flow.Definition{validDef()}, flow.ValidationEnv{})
	if n := len(lianlu.ErrorFields(err)); n != 4 { // from and to of the first step, to of the two others
		t.Errorf("got %d problems, want 4: %+v", n, lianlu.ErrorFields(err))
	}
}

func TestRegistry(t *testing.T) {
	r := flow.NewRegistry(flow.BuiltinActionSpecs()...)
	want := []string{"backlog.add", "fulfillment.create", "notify", "webhook.post", "workorder.create"}
	if got := r.Names(); !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
	spec, ok := r.Lookup("workorder.create")
	if !ok || !spec.Params["kind"].Required || spec.Params["priority"].Required {
		t.Errorf("Lookup(workorder.create) = %+v, %v", spec, ok)
	}
	if _, ok := r.Lookup("nope"); ok {
		t.Error("Lookup(nope) found")
	}
	defer func() {
		if recover() == nil {
			t.Error("NewRegistry with a duplicate did not panic")
		}
	}()
	flow.NewRegistry(flow.ActionSpec{Name: "x"}, flow.ActionSpec{Name: "x"})
}
