package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/httpapi"
	"github.com/lianlu/lianlu/internal/sla"
)

// api calls the running Main.
type api struct {
	t     *testing.T
	base  string
	token string
}

func (a api) call(method, path, contentType string, body any) (int, []byte) {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

func (a api) must(method, path string, body any, want int, v any) {
	a.t.Helper()
	status, out := a.call(method, path, "application/json", body)
	if status != want {
		a.t.Fatalf("%s %s: %d %s", method, path, status, out)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			a.t.Fatalf("%s %s: decode %s: %v", method, path, out, err)
		}
	}
}

// An online order placed through the API gets its fulfillment (stock
// reserved) and follow-up work order from the running flow runner; both
// handoffs are delivered with due times from the calendars, and the
// order's timeline shows them in order.
func TestE2E_OrderFlowThroughAPI(t *testing.T) {
	m := MustRunMain(t)
	a := api{t: t, base: "http://" + m.Addr(), token: adminToken(t, m.Config.DataDir)}

	a.must("POST", "/api/v1/products", map[string]any{"sku": "AP-1", "name": "Air purifier", "category": "air", "price": "1999.00"}, 201, nil)
	a.must("POST", "/api/v1/locations", map[string]any{"code": "WH-SH", "kind": "warehouse", "name": "Shanghai DC", "lat": 31.23, "lng": 121.47}, 201, nil)
	a.must("POST", "/api/v1/inventory/adjustments", map[string]any{"sku": "AP-1", "location": "WH-SH", "delta": 5, "reason": "receipt"}, 201, nil)
	var o lianlu.Order
	a.must("POST", "/api/v1/orders", map[string]any{"external_id": "TMALL-9", "channel": "online",
		"member": map[string]any{"phone": "13800138000"}, "lines": []any{map[string]any{"sku": "AP-1", "qty": 2}},
		"ship_to": map[string]any{"address": "上海市浦东新区", "lat": 31.2, "lng": 121.5}}, 201, &o)

	var tl httpapi.Timeline
	deadline := time.Now().Add(20 * time.Second)
	for {
		a.must("GET", fmt.Sprintf("/api/v1/orders/%d/timeline", o.ID), nil, 200, &tl)
		if len(tl.Handoffs) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(tl.Handoffs) != 2 {
		t.Fatalf("handoffs: %+v", tl.Handoffs)
	}
	cal := sla.Default("x", "Asia/Shanghai")
	for _, h := range tl.Handoffs {
		if h.DeliveredAt == nil || h.DueAt == nil || h.Status != "open" {
			t.Fatalf("handoff %s: %+v", h.Step, h)
		}
		sla := map[string]time.Duration{"fulfillment": 24 * time.Hour, "followup": 2 * time.Hour}[h.Step]
		want, _ := cal.AddBusiness(h.EmittedAt, sla)
		if !h.DueAt.Equal(want) {
			t.Fatalf("%s due %v, want %v", h.Step, h.DueAt, want)
		}
	}
	var fl struct{ Items []lianlu.Fulfillment }
	a.must("GET", fmt.Sprintf("/api/v1/fulfillments?order=%d", o.ID), nil, 200, &fl)
	if len(fl.Items) != 1 || fl.Items[0].Status != "reserved" || fl.Items[0].Location != "WH-SH" {
		t.Fatalf("fulfillments: %+v", fl.Items)
	}
	var stock struct{ Items []lianlu.StockLevel }
	a.must("GET", "/api/v1/inventory?sku=AP-1", nil, 200, &stock)
	if stock.Items[0].Reserved != 2 {
		t.Fatalf("stock: %+v", stock.Items)
	}
	var wos struct{ Items []lianlu.WorkOrder }
	a.must("GET", "/api/v1/workorders?subject="+fmt.Sprintf("order/%d", o.ID), nil, 200, &wos)
	if len(wos.Items) != 1 || wos.Items[0].Kind != "order_followup" {
		t.Fatalf("work orders: %+v", wos.Items)
	}
	// The timeline starts with order.placed, then the handoffs and what
	// they created, in time order.
	var kinds []string
	for i, it := range tl.Items {
		if i > 0 && it.At.Before(tl.Items[i-1].At) {
			t.Fatalf("timeline out of order at %d", i)
		}
		if it.Kind == "event" {
			kinds = append(kinds, it.Event.Type)
		} else {
			kinds = append(kinds, "handoff:"+it.Handoff.Step)
		}
	}
	joined := strings.Join(kinds, " ")
	if !strings.HasPrefix(joined, "order.placed") || !strings.Contains(joined, "handoff:fulfillment") ||
		!strings.Contains(joined, "handoff:followup") || !strings.Contains(joined, "fulfillment.reserved") || !strings.Contains(joined, "workorder.created") {
		t.Fatalf("timeline: %s", joined)
	}

	// Invalid flows are rejected with a problem naming the step.
	bad := strings.Replace(string(mustGetFlowYAML(t, a, "order_placed")), "fulfillment.create", "fulfilment.create", 1)
	status, out := a.call("PUT", "/api/v1/flows/order_placed", "application/yaml", bad)
	if status != 400 || !strings.Contains(string(out), `flows[order_placed].steps[0].action`) {
		t.Fatalf("bad flow: %d %s", status, out)
	}
	bad = strings.Replace(string(mustGetFlowYAML(t, a, "order_placed")), "to: service", "to: nowhere", 1)
	if status, out := a.call("PUT", "/api/v1/flows/order_placed", "application/yaml", bad); status != 400 || !strings.Contains(string(out), `steps[1].to`) {
		t.Fatalf("unknown department: %d %s", status, out)
	}
	cond := mustGetFlowYAML(t, a, "order_placed")
	cond = bytes.Replace(cond, []byte("event: order.placed"), []byte("event: order.placed\n    condition: event.data.total >"), 1)
	if status, out := a.call("PUT", "/api/v1/flows/order_placed", "application/yaml", string(cond)); status != 400 || !strings.Contains(string(out), `trigger.condition`) {
		t.Fatalf("bad CEL: %d %s", status, out)
	}
}

func mustGetFlowYAML(t *testing.T, a api, name string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", a.base+"/api/v1/flows/"+name, nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/yaml")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("get flow: %d %s", res.StatusCode, b)
	}
	return b
}

// --flows FILE stores its flows as new versions at start; an invalid file
// stops the start with a message naming the problem.
func TestMain_FlowsFile(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/flows.yaml"
	os.WriteFile(file, []byte(`name: vip_orders
trigger:
  event: order.placed
  condition: event.data.total == "99999.00"
steps:
  - name: call
    to: sales
    action: notify
    params:
      message: VIP order
`), 0o600)
	m := NewMain()
	m.Config.DataDir, m.Config.Addr, m.Config.FlowsFile = dir, "127.0.0.1:0", file
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := api{t: t, base: "http://" + m.Addr(), token: adminToken(t, dir)}
	var flows struct{ Items []struct{ Name string } }
	a.must("GET", "/api/v1/flows", nil, 200, &flows)
	if len(flows.Items) != 4 {
		t.Fatalf("flows: %+v", flows.Items)
	}
	m.Close()

	os.WriteFile(file, []byte("name: broken\ntrigger:\n  event: order.placed\nsteps:\n  - name: x\n    to: nowhere\n    action: notify\n    params: {message: hi}\n"), 0o600)
	m2 := NewMain()
	m2.Config.DataDir, m2.Config.Addr, m2.Config.FlowsFile = dir, "127.0.0.1:0", file
	err := m2.Run(context.Background())
	m2.Close()
	if err == nil || !strings.Contains(err.Error(), "flows[broken].steps[0].to") {
		t.Fatalf("invalid --flows: %v", err)
	}
}
