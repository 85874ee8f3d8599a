package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
)

// An e-commerce order sent as a CloudEvent runs the same flow as one
// placed through the orders API: the running flow runner gives it a
// fulfillment with stock reserved and a follow-up work order.
func TestE2E_ShopOrderEventRunsTheOrderFlow(t *testing.T) {
	m := MustRunMain(t)
	a := api{t: t, base: "http://" + m.Addr(), token: adminToken(t, m.Config.DataDir)}
	a.must("POST", "/api/v1/products", map[string]any{"sku": "AP-1", "name": "Air purifier", "category": "air", "price": "1999.00"}, 201, nil)
	a.must("POST", "/api/v1/locations", map[string]any{"code": "WH-SH", "kind": "warehouse", "name": "Shanghai DC", "lat": 31.23, "lng": 121.47}, 201, nil)
	a.must("POST", "/api/v1/inventory/adjustments", map[string]any{"sku": "AP-1", "location": "WH-SH", "delta": 5, "reason": "receipt"}, 201, nil)
	status, body := a.call("POST", "/api/v1/events", "application/cloudevents+json",
		`{"specversion":"1.0","id":"jd-1","source":"jd","type":"shop.order.created","department":"sales","data":{"order_id":"JD-1","lines":[{"sku":"AP-1","qty":2}],"ship_to":{"address":"上海市浦东新区","lat":31.2,"lng":121.5}}}`)
	if status != 201 || !strings.Contains(string(body), `"effects":["order/`) {
		t.Fatalf("post: %d %s", status, body)
	}
	var orders struct{ Items []lianlu.Order }
	a.must("GET", "/api/v1/orders", nil, 200, &orders)
	if len(orders.Items) != 1 || orders.Items[0].ExternalID != "JD-1" {
		t.Fatalf("orders %+v", orders.Items)
	}
	var fl struct{ Items []lianlu.Fulfillment }
	var wos struct{ Items []lianlu.WorkOrder }
	deadline := time.Now().Add(20 * time.Second)
	for {
		a.must("GET", fmt.Sprintf("/api/v1/fulfillments?order=%d", orders.Items[0].ID), nil, 200, &fl)
		a.must("GET", fmt.Sprintf("/api/v1/workorders?subject=order/%d", orders.Items[0].ID), nil, 200, &wos)
		if len(fl.Items) == 1 && len(wos.Items) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(fl.Items) != 1 || fl.Items[0].Status != "reserved" || len(wos.Items) != 1 {
		t.Fatalf("fulfillments %+v, work orders %+v", fl.Items, wos.Items)
	}
}

// The collector feeds the freshness window, which /metrics exports.
func TestE2E_FreshnessMetrics(t *testing.T) {
	m := MustRunMain(t)
	a := api{t: t, base: "http://" + m.Addr(), token: adminToken(t, m.Config.DataDir)}
	var src struct {
		ID       int64  `json:"id"`
		WriteKey string `json:"write_key"`
	}
	a.must("POST", "/api/v1/sources", map[string]any{"name": "web", "kind": "web", "department": "marketing"}, 201, &src)
	req, _ := http.NewRequest("POST", "http://"+m.Addr()+"/v1/track", strings.NewReader(`{"userId":"u","event":"E"}`))
	req.SetBasicAuth(src.WriteKey, "")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("track: %v %v", res, err)
	}
	res.Body.Close()
	_, body := a.call("GET", "/metrics", "", nil)
	for _, want := range []string{
		fmt.Sprintf(`lianlu_source_window_events{source="segment:%d"} 1`, src.ID),
		fmt.Sprintf(`lianlu_source_lag_seconds{quantile="0.95",source="segment:%d"}`, src.ID),
		fmt.Sprintf(`lianlu_source_last_event_timestamp_seconds{source="segment:%d"}`, src.ID),
	} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
}
