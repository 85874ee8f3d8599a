package lianlu_test

import (
	"testing"
	"time"

	"github.com/lianlu/lianlu"
)

func TestOutsideEventViolation(t *testing.T) {
	tests := []struct {
		source, typ, field, rule string
	}{
		{"crm", "crm.ticket.opened", "", ""},
		{"shop", "shop.order.created", "", ""},
		{"lianlu", "crm.note", "source", lianlu.RuleCommandSource},
		{"lianlu", "order.placed", "source", lianlu.RuleCommandSource},
		{"segment:3", "crm.note", "source", lianlu.RuleCollector},
		{"crm", "segment.identify", "type", lianlu.RuleCollector},
		{"shop", "order.placed", "type", lianlu.RuleCommandType},
		{"shop", "orders.placed", "", ""},
		{"shop", "order", "", ""},
		{"Lianlu", "crm.note", "", ""}, // another source: it cannot take Lianlu's ids
	}
	for _, ns := range lianlu.CommandNamespaces {
		tests = append(tests, struct{ source, typ, field, rule string }{"shop", ns + "x", "type", lianlu.RuleCommandType})
	}
	for _, tt := range tests {
		field, rule, msg := lianlu.OutsideEventViolation(lianlu.Event{Source: tt.source, Type: tt.typ})
		if field != tt.field || rule != tt.rule || (field != "") != (msg != "") {
			t.Errorf("%s %s: %q %q %q, want %q %q", tt.source, tt.typ, field, rule, msg, tt.field, tt.rule)
		}
	}
}

func TestTrustedEvent(t *testing.T) {
	tests := []struct {
		name string
		e    lianlu.Event
		want bool
	}{
		{"a command's", lianlu.Event{Source: "lianlu", Type: "order.placed", Department: "sales"}, true},
		{"an owned type from outside", lianlu.Event{Source: "shop", Type: "order.placed", Department: "sales"}, false},
		{"Lianlu's source with a foreign type", lianlu.Event{Source: "lianlu", Type: "crm.note", Department: "sales"}, false},
		{"the collector's", lianlu.Event{Source: "segment:1", Type: "segment.track", Department: "marketing"}, true},
		{"a collector type from outside", lianlu.Event{Source: "crm", Type: "segment.identify", Department: "marketing"}, false},
		{"a collector source with another type", lianlu.Event{Source: "segment:1", Type: "crm.note", Department: "marketing"}, false},
		{"a business event of its owner", lianlu.Event{Source: "tmall", Type: "shop.order.created", Department: "sales"}, true},
		{"a business event of another department", lianlu.Event{Source: "tmall", Type: "shop.order.created", Department: "marketing"}, false},
		{"a count by stores", lianlu.Event{Source: "pos", Type: "wms.inventory.snapshot", Department: "stores"}, true},
		{"an outside fact", lianlu.Event{Source: "crm", Type: "customer.contacted", Department: "sales"}, true},
	}
	for _, tt := range tests {
		if got := lianlu.TrustedEvent(tt.e); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestEventTimeProblem(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		at time.Time
		ok bool
	}{
		{now, true},
		{now.Add(23 * time.Hour), true},
		{now.Add(25 * time.Hour), false},
		{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), false},
		{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC), false},
	} {
		if got := lianlu.EventTimeProblem(tt.at, now) == ""; got != tt.ok {
			t.Errorf("%v: ok %v, want %v", tt.at, got, tt.ok)
		}
	}
}

func TestMayCreateWorkOrder(t *testing.T) {
	for _, tt := range []struct {
		dept, queue string
		want        bool
	}{
		{"service", "service", true},
		{"sales", "service", true},
		{"stores", "service", true},
		{"service", "stores", true},
		{"sales", "stores", true},
		{"marketing", "service", false},
		{"product", "service", false},
		{"supply_chain", "service", false},
		{"marketing", "stores", false},
		{"marketing", "marketing", true},
		{"sales", "supply_chain", false},
	} {
		if got := lianlu.MayCreateWorkOrder(tt.dept, tt.queue); got != tt.want {
			t.Errorf("%s in %s: %v, want %v", tt.dept, tt.queue, got, tt.want)
		}
	}
}
