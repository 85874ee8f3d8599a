package flow_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
)

func testEvent(typ, data string) lianlu.Event {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	e := lianlu.Event{
		Seq: 7, ID: "e-1", Source: "shop", Type: typ, Subject: "order/O-1001",
		Time: t0, RecordedAt: t0.Add(5 * time.Minute), Department: "sales", Actor: "u-1",
		CorrelationID: "c-1",
	}
	if data != "" {
		e.Data = json.RawMessage(data)
	}
	return e
}

func TestProgramEval(t *testing.T) {
	const data = `{"rating": 2, "score": 4.5, "whole": 3.0, "big": 1e3, "huge": 12345678901234567890,
		"customer": {"tier": "gold", "tags": ["vip", "b2b"], "address": {"city": "Hangzhou"}},
		"lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}], "note": null, "paid": true}`
	tests := []struct {
		expr string
		data string
		want bool
		err  string // substring of the error; "" for none
	}{
		{expr: "event.data.rating <= 2", data: data, want: true},
		{expr: "event.data.rating == 2", data: data, want: true},
		{expr: "event.data.rating > 2", data: data, want: false},
		{expr: "event.data.rating <= 2.5", data: data, want: true},
		{expr: "event.data.score > 4", data: data, want: true},
		{expr: "event.data.score <= 2", data: data, want: false},
		{expr: "event.data.score == 4.5", data: data, want: true},
		{expr: "event.data.whole == 3", data: data, want: true},
		{expr: "event.data.big == 1000", data: data, want: true},
		{expr: "event.data.huge > 1e19", data: data, want: true},
		{expr: `event.data.rating <= 2`, data: `{"rating": 1.5}`, want: true},
		{expr: `event.data.rating <= 2`, data: `{"rating": 5}`, want: false},
		{expr: `event.data.customer.tier == "gold"`, data: data, want: true},
		{expr: `event.data.customer.address.city.startsWith("Hang")`, data: data, want: true},
		{expr: `"vip" in event.data.customer.tags`, data: data, want: true},
		{expr: `event.data.lines.exists(l, l.sku == "B" && l.qty == 1)`, data: data, want: true},
		{expr: `event.data.lines.map(l, l.qty).size() == 2`, data: data, want: true},
		{expr: `event.data.note == null`, data: data, want: true},
		{expr: `event.data.paid == true`, data: data, want: true}, // a bare event.data.paid is dyn: Compile rejects it
		{expr: `has(event.data.nope)`, data: data, want: false},
		{expr: `has(event.data.customer.tier)`, data: data, want: true},
		{expr: `event.type == "order.placed" && event.department == "sales"`, data: data, want: true},
		{expr: `event.subject.startsWith("order/") && event.source == "shop" && event.actor == "u-1"`, want: true},
		{expr: `event.id == "e-1" && event.seq == 7 && event.correlation_id == "c-1" && event.causation_id == ""`, want: true},
		{expr: `event.time == timestamp("2026-03-02T09:00:00Z")`, want: true},
		{expr: `event.recorded_at - event.time == duration("5m")`, want: true},
		{expr: `event.time.getDayOfWeek() == 1`, want: true}, // a Monday
		{expr: `has(event.data.rating)`, want: false},        // no payload: an empty map
		{expr: "event.data.nope == 1", data: data, err: "no such key: nope"},
		{expr: "event.data.customer.nope == 1", data: data, err: "no such key: nope"},
		{expr: "event.data.rating <= 2", err: "no such key: rating"},
		{expr: "event.data.rating <= 2", data: `{"rating": "low"}`, err: "no such overload"},
		{expr: "event.data.rating <= 2", data: `{"rating": `, err: "decode data"},
		{expr: "event.data.rating <= 2", data: `{"rating": 1} {}`, err: "decode data"},
	}
	for _, tc := range tests {
		t.Run(tc.expr+" on "+tc.data, func(t *testing.T) {
			p, err := flow.Compile(tc.expr)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := p.Eval(testEvent("order.placed", tc.data))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Eval err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tc.want {
				t.Errorf("Eval = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"", "empty expression"},
		{"   ", "empty expression"},
		{"event.data.x +", "invalid expression: 1:"},
		{"nope == 1", "undeclared reference to 'nope'"},
		{`"x"`, "must be a boolean expression, not string"},
		{"event.subject", "must be a boolean expression, not dyn"},
		{"event.data.paid", "must be a boolean expression, not dyn"},
		{strings.Repeat("true && ", 300) + "true", "invalid expression"}, // over MaxExpressionLength
	}
	for _, tc := range tests {
		_, err := flow.Compile(tc.expr)
		if lianlu.ErrorCode(err) != lianlu.EINVALID || !strings.Contains(lianlu.ErrorMessage(err), tc.want) {
			t.Errorf("Compile(%.40q) = %v (%s), want EINVALID containing %q", tc.expr, err, lianlu.ErrorMessage(err), tc.want)
		}
	}
}

func TestProgramConcurrentEval(t *testing.T) {
	p, err := flow.Compile("event.data.rating <= 2")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				rating := (i+j)%5 + 1
				got, err := p.Eval(testEvent("feedback.submitted", fmt.Sprintf(`{"rating": %d}`, rating)))
				if err != nil || got != (rating <= 2) {
					t.Errorf("Eval(rating %d) = %v, %v", rating, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestEvalNonBoolean(t *testing.T) {
	p, err := flow.CompileValue("event.subject")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(testEvent("order.placed", "")); err == nil || !strings.Contains(err.Error(), "not bool") {
		t.Errorf("Eval of a string = %v, want an error", err)
	}
}

func TestCostLimit(t *testing.T) {
	items := make([]int, 300)
	data, _ := json.Marshal(map[string]any{"items": items})
	p, err := flow.Compile("event.data.items.all(x, event.data.items.all(y, x + y >= 0))")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Eval(testEvent("order.placed", string(data)))
	if err == nil || !strings.Contains(err.Error(), "cost limit exceeded") {
		t.Errorf("Eval = %v, want the cost limit exceeded", err)
	}
	// The same expression over a small list is fine.
	if ok, err := p.Eval(testEvent("order.placed", `{"items": [1, 2, 3]}`)); err != nil || !ok {
		t.Errorf("Eval small = %v, %v", ok, err)
	}
}

func TestProgramEvalValue(t *testing.T) {
	tests := []struct {
		expr string
		data string
		want any
		err  string
	}{
		{expr: "event.data.rating <= 2 ? 'high' : 'normal'", data: `{"rating": 1}`, want: "high"},
		{expr: "event.data.rating <= 2 ? 'high' : 'normal'", data: `{"rating": 5}`, want: "normal"},
		{expr: "event.data.rating * 2", data: `{"rating": 4}`, want: int64(8)},
		{expr: "event.data.score", data: `{"score": 4.5}`, want: 4.5},
		{expr: "'Follow up ' + event.subject", want: "Follow up order/O-1001"},
		{expr: "event.data.tags", data: `{"tags": ["a", "b"]}`, want: []any{"a", "b"}},
		{expr: "['x', event.data.a]", data: `{"a": 1}`, want: []any{"x", int64(1)}},
		{expr: "event.data.customer", data: `{"customer": {"id": "M-1", "tier": 2}}`, want: map[string]any{"id": "M-1", "tier": int64(2)}},
		{expr: "{'a': [true, null]}", want: map[string]any{"a": []any{true, nil}}},
		{expr: "event.time", want: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)},
		{expr: "duration('90m')", want: 90 * time.Minute},
		{expr: "event.data.nope", data: `{}`, err: "no such key: nope"},
		{expr: "1 / event.data.zero", data: `{"zero": 0}`, err: "division by zero"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			p, err := flow.CompileValue(tc.expr)
			if err != nil {
				t.Fatalf("CompileValue: %v", err)
			}
			got, err := p.EvalValue(testEvent("order.placed", tc.data))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("EvalValue err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("EvalValue: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("EvalValue = %#v (%s), want %#v", got, fmt.Sprintf("%T", got), tc.want)
			}
		})
	}
}
