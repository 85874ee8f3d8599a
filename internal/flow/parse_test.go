package flow_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
)

func TestParse(t *testing.T) {
	t.Run("multi-document", func(t *testing.T) {
		src := `# two flows
name: a
trigger: {event: order.placed}
steps:
  - name: one
    to: service
    action: workorder.create
    params: {kind: order_followup, weight: 3}
    sla: 2h
    completes: [workorder.resolved]
---
---
name: b
trigger:
  event: feedback.submitted
  condition: event.data.rating <= 2
steps: [{name: two, to: product, action: backlog.add}]
`
		defs, err := flow.Parse([]byte(src))
		if err != nil {
			t.Fatalf("Parse: %v %v", err, lianlu.ErrorFields(err))
		}
		if len(defs) != 2 {
			t.Fatalf("got %d definitions, want 2 (the empty document is skipped)", len(defs))
		}
		if defs[0].Name != "a" || defs[1].Name != "b" {
			t.Errorf("names = %q, %q", defs[0].Name, defs[1].Name)
		}
		s := defs[0].Steps[0]
		if s.SLA != "2h" || s.Completes[0] != "workorder.resolved" || s.Params["kind"] != "order_followup" || s.Params["weight"] != 3 {
			t.Errorf("step = %+v", s)
		}
		if defs[1].Trigger.Condition != "event.data.rating <= 2" {
			t.Errorf("condition = %q", defs[1].Trigger.Condition)
		}
	})

	errCases := []struct {
		name string
		src  string
		want []string // substrings of the one "yaml" field message
	}{
		{"unknown key", "name: a\ntrigger: {event: order.placed}\nsteps:\n  - name: one\n    to: service\n    slas: 2h\n", []string{"line 6", `unknown field "slas"`}},
		{"unknown key in second document", "name: a\n---\nname: b\nsteps:\n  - name: x\n    foo: 1\n", []string{"line 6", `unknown field "foo"`}},
		{"unknown top-level key", "name: a\ntriger: {event: order.placed}\n", []string{"line 2", `unknown field "triger"`}},
		{"syntax error", "name: a\ntrigger: {event: order.placed\nsteps: []\n", []string{"line"}},
		{"bad indentation", "name: a\n steps:\n- x\n", []string{"line 2"}},
		{"syntax error in second document", "name: a\n---\nname: b\n  bad: [\n", []string{"line"}},
		{"wrong type", "name: a\nsteps: nope\n", []string{"line 2", "cannot unmarshal"}},
		{"duplicate key", "name: a\nname: b\n", []string{"line 2", `"name" already defined`}},
		{"not a mapping", "- name: a\n", []string{"line 1", "must be a mapping"}},
		{"empty", "# nothing\n", []string{"no flow definition"}},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := flow.Parse([]byte(tc.src))
			if lianlu.ErrorCode(err) != lianlu.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			fields := lianlu.ErrorFields(err)
			if len(fields) != 1 || fields[0].Field != "yaml" {
				t.Fatalf("fields = %+v, want one on yaml", fields)
			}
			for _, w := range tc.want {
				if !strings.Contains(fields[0].Message, w) {
					t.Errorf("message %q does not contain %q", fields[0].Message, w)
				}
			}
			if strings.Contains(fields[0].Message, "flow.") {
				t.Errorf("message %q leaks a Go type name", fields[0].Message)
			}
		})
	}
}

func TestParseSLA(t *testing.T) {
	tests := []struct {
		in      string
		d       time.Duration
		days    int
		wantErr bool
	}{
		{"", 0, 0, false},
		{"2h", 2 * time.Hour, 0, false},
		{"90m", 90 * time.Minute, 0, false},
		{"1h30m", 90 * time.Minute, 0, false},
		{"24h", 24 * time.Hour, 0, false},
		{"3bd", 0, 3, false},
		{"1000bd", 0, 1000, false},
		{"0bd", 0, 0, true},
		{"1001bd", 0, 0, true},
		{"-1bd", 0, 0, true},
		{"+1bd", 0, 0, true},
		{"bd", 0, 0, true},
		{"1.5bd", 0, 0, true},
		{"0h", 0, 0, true},
		{"-2h", 0, 0, true},
		{"3days", 0, 0, true},
		{"3d", 0, 0, true},
		{"2", 0, 0, true},
		{" 2h", 0, 0, true},
	}
	for _, tc := range tests {
		d, days, err := flow.ParseSLA(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseSLA(%q) err = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil && lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Errorf("ParseSLA(%q) code = %s", tc.in, lianlu.ErrorCode(err))
		}
		if d != tc.d || days != tc.days {
			t.Errorf("ParseSLA(%q) = %v, %d; want %v, %d", tc.in, d, days, tc.d, tc.days)
		}
	}
}
