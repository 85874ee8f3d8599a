package httpapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// businessCE is a structured CloudEvent of a business type.
func businessCE(id, typ, data string) []byte {
	return []byte(`{"specversion":"1.0","id":"` + id + `","source":"erp","type":"` + typ + `","data":` + data + `}`)
}

type ingested struct {
	Items []struct {
		Seq       int64    `json:"seq"`
		Duplicate bool     `json:"duplicate"`
		Effects   []string `json:"effects"`
	} `json:"items"`
}

// The standard business events run Lianlu's commands in the intake's
// transaction: exactly once per event, all or nothing per request, with
// problems named below data.
func TestBusinessEvents(t *testing.T) {
	e := newEnv(t)
	mustSeedShop(t, e)
	ctx := context.Background()
	ce := map[string]string{"Content-Type": structured}
	sales := e.token("sales", lianlu.RoleOperator)
	stores := e.token("stores", lianlu.RoleOperator)
	supply := e.token("supply_chain", lianlu.RoleOperator)
	service := e.token("service", lianlu.RoleOperator)
	orders := sqlstore.NewOrderService(e.db)

	order := `{"order_id":"TM-1","platform":"tmall","member":{"phone":"13800138000"},"lines":[{"sku":"AP-100","qty":1,"unit_price":"1799.00"}],"ship_to":{"name":"王","address":"上海市黄浦区1号","city":"上海"}}`
	r := e.do("POST", "/api/v1/events", sales, ce, businessCE("ev-1", "shop.order.created", order))
	var in ingested
	in = ingested{}
	r.json(t, &in)
	if r.status != 201 || len(in.Items) != 1 || len(in.Items[0].Effects) != 1 || !strings.HasPrefix(in.Items[0].Effects[0], "order/") {
		t.Fatalf("shop order: %d %s", r.status, r.body)
	}
	list, _ := orders.FindOrders(ctx, lianlu.OrderFilter{})
	if len(list) != 1 || list[0].ExternalID != "TM-1" || list[0].Channel != "online" || list[0].Total != 179900 || list[0].MemberID == 0 {
		t.Fatalf("orders %+v", list)
	}
	placed, _ := e.events.FindEvents(ctx, lianlu.EventFilter{Types: []string{"order.placed"}})
	if len(placed) != 1 {
		t.Fatalf("%d order.placed events", len(placed))
	}
	// The same event again: a duplicate, no second order. Another event
	// of the same order: the same order (idempotent by external id).
	r = e.do("POST", "/api/v1/events", sales, ce, businessCE("ev-1", "shop.order.created", order))
	in = ingested{}
	r.json(t, &in)
	if r.status != 200 || !in.Items[0].Duplicate {
		t.Fatalf("resent: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/v1/events", sales, ce, businessCE("ev-1b", "shop.order.created", order))
	in = ingested{}
	r.json(t, &in)
	if r.status != 201 || in.Items[0].Effects[0] != fmt.Sprintf("order/%d", list[0].ID) {
		t.Fatalf("same order, new event: %d %s", r.status, r.body)
	}
	if list, _ := orders.FindOrders(ctx, lianlu.OrderFilter{}); len(list) != 1 {
		t.Fatalf("%d orders after resends", len(list))
	}

	before := e.count()
	for name, tc := range map[string]struct {
		token, body string
		status      int
		fields      []string
	}{
		"schema": {sales, string(businessCE("bad-1", "shop.order.created", `{"order_id":"X","lines":[{"sku":"AP-100","qty":0}],"ship_to":{},"coupon":"x"}`)), 400,
			[]string{"data.lines[0].qty", "data.ship_to.address", "data.coupon"}},
		"no data":        {sales, `{"specversion":"1.0","id":"bad-2","source":"erp","type":"shop.order.created"}`, 400, []string{"data"}},
		"unknown sku":    {sales, string(businessCE("bad-3", "shop.order.created", `{"order_id":"X3","lines":[{"sku":"NOPE","qty":1}],"ship_to":{"address":"a"}}`)), 400, []string{"data.lines[0].sku"}},
		"bad phone":      {sales, string(businessCE("bad-4", "shop.order.created", `{"order_id":"X4","member":{"phone":"12"},"lines":[{"sku":"AP-100","qty":1}],"ship_to":{"address":"a"}}`)), 400, []string{"data.member.phone"}},
		"wrong dept":     {e.token("marketing", lianlu.RoleOperator), string(businessCE("bad-5", "shop.order.created", order)), 403, []string{"type"}},
		"unknown store":  {stores, string(businessCE("bad-6", "pos.sale.completed", `{"sale_id":"R1","store":"ST-9","lines":[{"sku":"AP-100","qty":1}]}`)), 400, []string{"data.store"}},
		"unknown order":  {service, string(businessCE("bad-7", "service.survey.submitted", `{"survey_id":"S","rating":1,"order_id":"nope"}`)), 400, []string{"data.order_id"}},
		"rating":         {service, string(businessCE("bad-8", "service.survey.submitted", `{"survey_id":"S","rating":6}`)), 400, []string{"data.rating"}},
		"store of other": {supply, string(businessCE("bad-9", "wms.inventory.snapshot", `{"location":"ST-1","items":[{"sku":"AP-100","on_hand":1}]}`)), 403, []string{"data.location"}},
		"batch index": {sales, "[" + string(businessCE("bad-10", "shop.order.created", strings.Replace(order, "TM-1", "TM-10", 1))) + "," +
			string(businessCE("bad-11", "shop.order.created", `{"order_id":"X11","lines":[{"sku":"NOPE","qty":1}],"ship_to":{"address":"a"}}`)) + "]", 400, []string{"[1].data.lines[0].sku"}},
	} {
		h := ce
		if strings.HasPrefix(tc.body, "[") {
			h = map[string]string{"Content-Type": "application/cloudevents-batch+json"}
		}
		r := e.do("POST", "/api/v1/events", tc.token, h, []byte(tc.body))
		if r.status != tc.status {
			t.Errorf("%s: %d %s", name, r.status, r.body)
			continue
		}
		var got []string
		for _, f := range r.problem(t).Errors {
			got = append(got, f.Field)
		}
		slices.Sort(got)
		slices.Sort(tc.fields)
		if !slices.Equal(got, tc.fields) {
			t.Errorf("%s: fields %v, want %v (%s)", name, got, tc.fields, r.body)
		}
	}
	if n := e.count(); n != before {
		t.Fatalf("refused requests stored %d events", n-before)
	}
	if list, _ := orders.FindOrders(ctx, lianlu.OrderFilter{}); len(list) != 1 {
		t.Fatalf("refused requests placed orders: %d", len(list))
	}

	// A POS sale is a store order named after its store and receipt.
	r = e.do("POST", "/api/v1/events", stores, ce, businessCE("pos-1", "pos.sale.completed", `{"sale_id":"R-0001","store":"ST-1","sold_at":"2026-11-30T10:00:00+08:00","staff":"s7","lines":[{"sku":"AP-100","qty":2}]}`))
	in = ingested{}
	r.json(t, &in)
	if r.status != 201 {
		t.Fatalf("pos sale: %d %s", r.status, r.body)
	}
	list, _ = orders.FindOrders(ctx, lianlu.OrderFilter{Channel: "store"})
	if len(list) != 1 || list[0].ExternalID != "pos/ST-1/R-0001" || list[0].Store != "ST-1" || list[0].Total != 399800 || list[0].PlacedAt.Hour() != 2 {
		t.Fatalf("store orders %+v", list)
	}

	// A WMS snapshot sets on-hand stock through adjustments; a count
	// below what is reserved is refused whole.
	inventory := sqlstore.NewInventoryService(e.db)
	if _, _, err := inventory.Reserve(ctx, "hold", "WH-SH", []lianlu.ReservationLine{{SKU: "FL-9", Qty: 4}}); err != nil {
		t.Fatal(err)
	}
	r = e.do("POST", "/api/v1/events", supply, ce, businessCE("snap-1", "wms.inventory.snapshot", `{"location":"WH-SH","counted_at":"2026-11-30T20:00:00Z","items":[{"sku":"AP-100","on_hand":12},{"sku":"FL-9","on_hand":3}]}`))
	if r.status != 409 || r.problem(t).Errors[0].Field != "data.items[1].on_hand" {
		t.Fatalf("count below reserved: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/v1/events", supply, ce, businessCE("snap-2", "wms.inventory.snapshot", `{"location":"WH-SH","items":[{"sku":"AP-100","on_hand":12},{"sku":"FL-9","on_hand":20}]}`))
	in = ingested{}
	r.json(t, &in)
	if r.status != 201 || strings.Join(in.Items[0].Effects, ",") != "stock/AP-100@WH-SH,stock/FL-9@WH-SH" {
		t.Fatalf("snapshot: %d %s", r.status, r.body)
	}
	levels, _ := inventory.FindStockLevels(ctx, lianlu.InventoryFilter{Location: "WH-SH"})
	got := map[string]int64{}
	for _, l := range levels {
		got[l.SKU] = l.OnHand
	}
	if got["AP-100"] != 12 || got["FL-9"] != 20 {
		t.Fatalf("stock after snapshot %v", got)
	}
	adj, _ := e.events.FindEvents(ctx, lianlu.EventFilter{Types: []string{"inventory.adjusted"}, Subject: "stock/AP-100@WH-SH"})
	if len(adj) != 2 { // the seed receipt and the count
		t.Fatalf("%d adjustments of AP-100@WH-SH", len(adj))
	}

	// Surveys: a content customer's is recorded; a low rating becomes
	// feedback on the order.
	r = e.do("POST", "/api/v1/events", service, ce, businessCE("sv-1", "service.survey.submitted", `{"survey_id":"S1","rating":5,"order_id":"TM-1"}`))
	in = ingested{}
	r.json(t, &in)
	if r.status != 201 || len(in.Items[0].Effects) != 0 {
		t.Fatalf("good survey: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/v1/events", service, ce, businessCE("sv-2", "service.survey.submitted", `{"survey_id":"S2","rating":2,"order_id":"TM-1","comment":"太吵了"}`))
	in = ingested{}
	r.json(t, &in)
	if r.status != 201 || len(in.Items[0].Effects) != 1 || !strings.HasPrefix(in.Items[0].Effects[0], "feedback/") {
		t.Fatalf("bad survey: %d %s", r.status, r.body)
	}
	fb, _ := sqlstore.NewFeedbackService(e.db).FindFeedback(ctx, "", 0, 10)
	online, _ := orders.FindOrders(ctx, lianlu.OrderFilter{Channel: "online"})
	if len(fb) != 1 || fb[0].Rating != 2 || fb[0].ProblemType != "unspecified" || fb[0].OrderID != online[0].ID || fb[0].Text != "太吵了" || fb[0].SKU != "AP-100" {
		t.Fatalf("feedback %+v", fb)
	}
}
