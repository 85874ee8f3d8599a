package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// mustSeedShop creates two SKUs, two warehouses (Shanghai with stock,
// Beijing without), a store with stock, through the services.
func mustSeedShop(tb testing.TB, e *env) {
	tb.Helper()
	ctx := context.Background()
	catalog, inventory := sqlstore.NewCatalogService(e.db), sqlstore.NewInventoryService(e.db)
	for _, p := range []lianlu.Product{
		{SKU: "AP-100", Name: "净化器 AP100", Category: "air", Price: 199900, Active: true},
		{SKU: "FL-9", Name: "Filter", Category: "air", Price: 9900, Active: true},
	} {
		if _, _, err := catalog.UpsertProduct(ctx, p); err != nil {
			tb.Fatal(err)
		}
	}
	lat := func(v float64) *float64 { return &v }
	for _, l := range []lianlu.Location{
		{Code: "WH-SH", Kind: lianlu.LocationWarehouse, Name: "上海仓", Lat: lat(31.23), Lng: lat(121.47), Active: true},
		{Code: "WH-BJ", Kind: lianlu.LocationWarehouse, Name: "北京仓", Lat: lat(39.90), Lng: lat(116.40), Active: true},
		{Code: "ST-1", Kind: lianlu.LocationStore, Name: "Store 1", Active: true},
	} {
		if _, _, err := catalog.UpsertLocation(ctx, l); err != nil {
			tb.Fatal(err)
		}
	}
	for _, a := range []lianlu.Adjustment{
		{SKU: "AP-100", Location: "WH-SH", Delta: 5, Reason: "receipt"},
		{SKU: "FL-9", Location: "WH-SH", Delta: 20, Reason: "receipt"},
		{SKU: "AP-100", Location: "ST-1", Delta: 3, Reason: "receipt"},
	} {
		if _, err := inventory.Adjust(ctx, a); err != nil {
			tb.Fatal(err)
		}
	}
}

// mustCreateFulfillment creates an order's fulfillment as the flow runner
// would.
func mustCreateFulfillment(tb testing.TB, e *env, orderID int64) lianlu.Fulfillment {
	tb.Helper()
	f, err := sqlstore.NewFulfillmentService(e.db).CreateFulfillment(context.Background(), orderID)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func onlineOrder(externalID string, lines string) []byte {
	return []byte(`{"external_id":"` + externalID + `","channel":"online","member":{"phone":"13800138000"},"lines":` + lines +
		`,"ship_to":{"name":"王芳","phone":"13800138000","address":"上海市黄浦区人民大道 200 号","city":"上海","lat":31.23,"lng":121.47}}`)
}

func (e *env) stock(sku, location string) string {
	e.t.Helper()
	r := e.do("GET", "/api/v1/inventory?sku="+sku+"&location="+location, e.admin, nil, nil)
	var l struct{ Items []lianlu.StockLevel }
	r.json(e.t, &l)
	if len(l.Items) != 1 {
		e.t.Fatalf("stock of %s at %s: %s", sku, location, r.body)
	}
	s := l.Items[0]
	return fmt.Sprintf("on_hand=%d reserved=%d available=%d", s.OnHand, s.Reserved, s.Available)
}

func TestOrdersAPI(t *testing.T) {
	e := newEnv(t)
	mustSeedShop(t, e)
	js := map[string]string{"Content-Type": "application/json"}
	sales := e.token("sales", lianlu.RoleOperator)
	stores := e.token("stores", lianlu.RoleOperator)
	serviceViewer := e.token("service", lianlu.RoleViewer)
	marketing := e.token("marketing", lianlu.RoleOperator)

	body := onlineOrder("TM-1001", `[{"sku":"AP-100","qty":2},{"sku":"FL-9","qty":1,"unit_price":"89.00"}]`)
	r := e.do("POST", "/api/v1/orders", sales, js, body)
	if r.status != 201 {
		t.Fatalf("place: %d %s", r.status, r.body)
	}
	var o lianlu.Order
	r.json(t, &o)
	if o.ID == 0 || o.Status != "placed" || o.Channel != "online" || o.MemberID == 0 || o.Total != 408700 ||
		len(o.Lines) != 2 || o.Lines[0].UnitPrice != 199900 || o.Lines[1].UnitPrice != 8900 || o.ShipTo == nil || o.ShipTo.City != "上海" {
		t.Fatalf("placed %s", r.body)
	}
	if !strings.Contains(string(r.body), `"total":"4087.00"`) {
		t.Fatalf("money is not a decimal string: %s", r.body)
	}

	// The same external_id again is the same order, with 200.
	r = e.do("POST", "/api/v1/orders", sales, js, body)
	var again lianlu.Order
	r.json(t, &again)
	if r.status != 200 || again.ID != o.ID {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}

	// Any department reads orders.
	r = e.do("GET", fmt.Sprintf("/api/v1/orders/%d", o.ID), serviceViewer, nil, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"external_id":"TM-1001"`) {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/orders/999", serviceViewer, nil, nil); r.status != 404 || r.problem(t).Code != "not_found" {
		t.Fatalf("unknown order: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/orders/abc", serviceViewer, nil, nil); r.status != 400 || r.problem(t).Errors[0].Field != "id" {
		t.Fatalf("bad id: %d %s", r.status, r.body)
	}

	// A store order from the stores department.
	r = e.do("POST", "/api/v1/orders", stores, js, []byte(`{"external_id":"POS-7","channel":"store","store":"ST-1","member":{"email":"Li.Lei@example.com"},"lines":[{"sku":"AP-100","qty":1}],"placed_at":"2026-11-20T10:00:00+08:00"}`))
	if r.status != 201 {
		t.Fatalf("store order: %d %s", r.status, r.body)
	}
	var so lianlu.Order
	r.json(t, &so)
	if so.Store != "ST-1" || !strings.Contains(string(r.body), `"placed_at":"2026-11-20T02:00:00Z"`) {
		t.Fatalf("store order %s", r.body)
	}

	// Lists with filters and paging.
	var list struct {
		Items      []lianlu.Order `json:"items"`
		NextCursor string         `json:"next_cursor"`
	}
	r = e.do("GET", "/api/v1/orders?limit=1", serviceViewer, nil, nil)
	r.json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != o.ID || list.NextCursor == "" {
		t.Fatalf("first page: %s", r.body)
	}
	r = e.do("GET", "/api/v1/orders?limit=1&cursor="+list.NextCursor, serviceViewer, nil, nil)
	r.json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != so.ID {
		t.Fatalf("second page: %s", r.body)
	}
	for q, want := range map[string]int64{
		"channel=store": so.ID, "store=ST-1": so.ID, "channel=online": o.ID,
		fmt.Sprintf("member=%d", o.MemberID): o.ID, fmt.Sprintf("member=%d&status=placed", so.MemberID): so.ID,
	} {
		r := e.do("GET", "/api/v1/orders?"+q, serviceViewer, nil, nil)
		r.json(t, &list)
		if len(list.Items) != 1 || list.Items[0].ID != want || list.NextCursor != "" {
			t.Errorf("%s: %s", q, r.body)
		}
	}
	for q, field := range map[string]string{"channel=phone": "channel", "status=open": "status", "member=x": "member", "cursor=-1": "cursor", "limit=0": "limit"} {
		if r := e.do("GET", "/api/v1/orders?"+q, serviceViewer, nil, nil); r.status != 400 || r.problem(t).Errors[0].Field != field {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}

	// Cancel: sales or stores operators; once.
	cancel := fmt.Sprintf("/api/v1/orders/%d/cancel", so.ID)
	if r := e.do("POST", cancel, serviceViewer, nil, nil); r.status != 403 {
		t.Fatalf("viewer cancels: %d", r.status)
	}
	if r := e.do("POST", cancel, marketing, nil, nil); r.status != 403 || r.problem(t).Code != "forbidden" {
		t.Fatalf("marketing cancels: %d %s", r.status, r.body)
	}
	if r := e.do("POST", cancel, sales, js, []byte(`{"reason":"customer changed mind","extra":1}`)); r.status != 400 {
		t.Fatalf("unknown field in cancel: %d %s", r.status, r.body)
	}
	r = e.do("POST", cancel, sales, js, []byte(`{"reason":"customer changed mind"}`))
	if r.status != 200 || !strings.Contains(string(r.body), `"status":"cancelled"`) {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if r := e.do("POST", cancel, stores, nil, nil); r.status != 409 || r.problem(t).Code != "conflict" {
		t.Fatalf("cancel twice: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/orders/999/cancel", sales, nil, nil); r.status != 404 {
		t.Fatalf("cancel unknown: %d", r.status)
	}
	r = e.do("GET", "/api/v1/orders?status=cancelled", serviceViewer, nil, nil)
	r.json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != so.ID {
		t.Fatalf("cancelled orders: %s", r.body)
	}
}

// Bad orders are 400 naming the field (or 401/403 for the caller), and
// none is stored.
func TestPostOrder_Rejected(t *testing.T) {
	e := newEnv(t)
	mustSeedShop(t, e)
	sales := e.token("sales", lianlu.RoleOperator)
	salesViewer := e.token("sales", lianlu.RoleViewer)
	marketing := e.token("marketing", lianlu.RoleOperator)
	supply := e.token("supply_chain", lianlu.RoleOperator)
	ok := string(onlineOrder("X-1", `[{"sku":"AP-100","qty":1}]`))
	for _, tc := range []struct {
		name   string
		token  string
		body   string
		status int
		field  string
	}{
		{"unknown SKU", sales, string(onlineOrder("X-1", `[{"sku":"AP-100","qty":1},{"sku":"NOPE","qty":1}]`)), 400, "lines[1].sku"},
		{"zero qty", sales, string(onlineOrder("X-1", `[{"sku":"AP-100","qty":0}]`)), 400, "lines[0].qty"},
		{"negative qty", sales, string(onlineOrder("X-1", `[{"sku":"FL-9","qty":1},{"sku":"AP-100","qty":-2}]`)), 400, "lines[1].qty"},
		{"empty lines", sales, string(onlineOrder("X-1", `[]`)), 400, "lines"},
		{"no lines", sales, `{"external_id":"X-1","channel":"online","ship_to":{"address":"a"}}`, 400, "lines"},
		{"float price", sales, string(onlineOrder("X-1", `[{"sku":"AP-100","qty":1,"unit_price":19.99}]`)), 400, "lines.unit_price"},
		{"negative price", sales, string(onlineOrder("X-1", `[{"sku":"AP-100","qty":1,"unit_price":"-1.00"}]`)), 400, "lines[0].unit_price"},
		{"no external id", sales, strings.Replace(ok, `"external_id":"X-1"`, `"external_id":" "`, 1), 400, "external_id"},
		{"bad channel", sales, strings.Replace(ok, `"online"`, `"phone"`, 1), 400, "channel"},
		{"online without address", sales, `{"external_id":"X-1","channel":"online","lines":[{"sku":"AP-100","qty":1}]}`, 400, "ship_to.address"},
		{"unknown store", sales, `{"external_id":"X-1","channel":"store","store":"ST-9","lines":[{"sku":"AP-100","qty":1}]}`, 400, "store"},
		{"warehouse as store", sales, `{"external_id":"X-1","channel":"store","store":"WH-SH","lines":[{"sku":"AP-100","qty":1}]}`, 400, "store"},
		{"empty member", sales, strings.Replace(ok, `{"phone":"13800138000"}`, `{}`, 1), 400, "member"},
		{"unknown member id", sales, strings.Replace(ok, `{"phone":"13800138000"}`, `{"id":42}`, 1), 400, "member.id"},
		{"bad placed_at", sales, strings.Replace(ok, `"channel"`, `"placed_at":"yesterday","channel"`, 1), 400, "placed_at"},
		{"unknown field", sales, strings.Replace(ok, `"channel"`, `"priority":"high","channel"`, 1), 400, "body"},
		{"unknown line field", sales, string(onlineOrder("X-1", `[{"sku":"AP-100","qty":1,"line_total":"1.00"}]`)), 400, "body"},
		{"malformed", sales, `{"external_id":`, 400, "body"},
		{"no token", "", ok, 401, ""},
		{"viewer", salesViewer, ok, 403, ""},
		{"marketing operator", marketing, ok, 403, ""},
		{"supply chain operator", supply, ok, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/orders", tc.token, map[string]string{"Content-Type": "application/json"}, []byte(tc.body))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			p := r.problem(t)
			if tc.field == "" {
				return
			}
			var fields []string
			for _, f := range p.Errors {
				fields = append(fields, f.Field)
			}
			if len(fields) != 1 || fields[0] != tc.field {
				t.Fatalf("errors name %v, want [%s]: %s", fields, tc.field, r.body)
			}
		})
	}
	if r := e.do("POST", "/api/v1/orders", sales, map[string]string{"Content-Type": "text/plain"}, []byte(ok)); r.status != 415 {
		t.Fatalf("text/plain: %d", r.status)
	}
	stored, err := sqlstore.NewOrderService(e.db).FindOrders(context.Background(), lianlu.OrderFilter{})
	if err != nil || len(stored) != 0 {
		t.Fatalf("rejected orders stored: %v %v", stored, err)
	}
}

// Concurrent posts of one order create it once: one 201, the rest 200
// with the same id.
func TestPostOrder_ConcurrentDuplicates(t *testing.T) {
	e := newEnv(t)
	mustSeedShop(t, e)
	sales := e.token("sales", lianlu.RoleOperator)
	body := onlineOrder("JD-77", `[{"sku":"AP-100","qty":1}]`)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	ids := map[int64]bool{}
	for range 8 {
		wg.Go(func() {
			r := e.do("POST", "/api/v1/orders", sales, map[string]string{"Content-Type": "application/json"}, body)
			var o lianlu.Order
			if r.status < 300 {
				r.json(t, &o)
			}
			mu.Lock()
			defer mu.Unlock()
			statuses[r.status]++
			ids[o.ID] = true
		})
	}
	wg.Wait()
	if statuses[201] != 1 || statuses[200] != 7 || len(ids) != 1 || ids[0] {
		t.Fatalf("statuses %v, ids %v", statuses, ids)
	}
	stored, err := sqlstore.NewOrderService(e.db).FindOrders(context.Background(), lianlu.OrderFilter{})
	if err != nil || len(stored) != 1 {
		t.Fatalf("%d orders stored (%v), want 1", len(stored), err)
	}
	es, err := e.events.FindEvents(context.Background(), lianlu.EventFilter{Types: []string{"order.placed"}, Limit: 100})
	if err != nil || len(es) != 1 {
		t.Fatalf("%d order.placed events (%v), want 1", len(es), err)
	}
}

func TestFulfillmentsAPI(t *testing.T) {
	e := newEnv(t)
	mustSeedShop(t, e)
	js := map[string]string{"Content-Type": "application/json"}
	sales := e.token("sales", lianlu.RoleOperator)
	supply := e.token("supply_chain", lianlu.RoleOperator)
	supplyViewer := e.token("supply_chain", lianlu.RoleViewer)
	stores := e.token("stores", lianlu.RoleOperator)
	marketingViewer := e.token("marketing", lianlu.RoleViewer)

	place := func(token string, body []byte) lianlu.Order {
		t.Helper()
		r := e.do("POST", "/api/v1/orders", token, js, body)
		if r.status != 201 {
			t.Fatalf("place: %d %s", r.status, r.body)
		}
		var o lianlu.Order
		r.json(t, &o)
		return o
	}
	o := place(sales, onlineOrder("TM-1", `[{"sku":"AP-100","qty":2}]`))
	f := mustCreateFulfillment(t, e, o.ID)
	if f.Status != "reserved" || f.Location != "WH-SH" {
		t.Fatalf("fulfillment %+v", f)
	}
	if got := e.stock("AP-100", "WH-SH"); got != "on_hand=5 reserved=2 available=3" {
		t.Fatalf("after reserve: %s", got)
	}

	// Reads: any department, with filters.
	r := e.do("GET", fmt.Sprintf("/api/v1/fulfillments?order=%d", o.ID), marketingViewer, nil, nil)
	var list struct {
		Items      []lianlu.Fulfillment `json:"items"`
		NextCursor string               `json:"next_cursor"`
	}
	r.json(t, &list)
	if r.status != 200 || len(list.Items) != 1 || list.Items[0].ID != f.ID || len(list.Items[0].Lines) != 1 || list.NextCursor != "" {
		t.Fatalf("list by order: %d %s", r.status, r.body)
	}
	for q, n := range map[string]int{"status=reserved&location=WH-SH": 1, "status=picked": 0, "location=WH-BJ": 0, "order=999": 0} {
		r := e.do("GET", "/api/v1/fulfillments?"+q, marketingViewer, nil, nil)
		r.json(t, &list)
		if r.status != 200 || len(list.Items) != n {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	for q, field := range map[string]string{"status=lost": "status", "order=x": "order", "limit=5000": "limit"} {
		if r := e.do("GET", "/api/v1/fulfillments?"+q, marketingViewer, nil, nil); r.status != 400 || r.problem(t).Errors[0].Field != field {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	path := fmt.Sprintf("/api/v1/fulfillments/%d", f.ID)
	if r := e.do("GET", path, marketingViewer, nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"rule":"nearest_with_stock"`) {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/fulfillments/999", marketingViewer, nil, nil); r.status != 404 {
		t.Fatalf("get unknown: %d", r.status)
	}

	// Transitions: only the warehouse's department, in order.
	if r := e.do("POST", path+"/ship", supply, nil, nil); r.status != 409 || r.problem(t).Code != "conflict" {
		t.Fatalf("ship before pick: %d %s", r.status, r.body)
	}
	if r := e.do("POST", path+"/pick", stores, nil, nil); r.status != 403 {
		t.Fatalf("stores picks at a warehouse: %d", r.status)
	}
	if r := e.do("POST", path+"/pick", supplyViewer, nil, nil); r.status != 403 {
		t.Fatalf("viewer picks: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/fulfillments/999/pick", supply, nil, nil); r.status != 404 {
		t.Fatalf("pick unknown: %d", r.status)
	}
	if r := e.do("POST", path+"/pick", supply, nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"status":"picked"`) {
		t.Fatalf("pick: %d %s", r.status, r.body)
	}
	if r := e.do("POST", path+"/pick", supply, nil, nil); r.status != 409 {
		t.Fatalf("pick twice: %d", r.status)
	}
	if r := e.do("POST", path+"/deliver", supply, nil, nil); r.status != 409 {
		t.Fatalf("deliver before ship: %d", r.status)
	}
	if r := e.do("POST", path+"/ship", supply, js, []byte(`{"carrier":"SF"}`)); r.status != 400 {
		t.Fatalf("unknown field in ship: %d %s", r.status, r.body)
	}
	r = e.do("POST", path+"/ship", supply, js, []byte(`{"tracking":"SF1234567890"}`))
	if r.status != 200 || !strings.Contains(string(r.body), `"status":"shipped"`) || !strings.Contains(string(r.body), `"tracking":"SF1234567890"`) {
		t.Fatalf("ship: %d %s", r.status, r.body)
	}
	if got := e.stock("AP-100", "WH-SH"); got != "on_hand=3 reserved=0 available=3" {
		t.Fatalf("after ship: %s", got)
	}
	if r := e.do("POST", path+"/cancel", supply, nil, nil); r.status != 409 {
		t.Fatalf("cancel shipped fulfillment: %d", r.status)
	}
	if r := e.do("POST", fmt.Sprintf("/api/v1/orders/%d/cancel", o.ID), sales, nil, nil); r.status != 409 {
		t.Fatalf("cancel shipped order: %d %s", r.status, r.body)
	}
	if r := e.do("POST", path+"/deliver", e.admin, nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"status":"delivered"`) {
		t.Fatalf("deliver: %d %s", r.status, r.body)
	}

	// A store order is the store's to move; cancelling releases its stock.
	so := place(stores, []byte(`{"external_id":"POS-1","channel":"store","store":"ST-1","lines":[{"sku":"AP-100","qty":2}]}`))
	sf := mustCreateFulfillment(t, e, so.ID)
	if sf.Location != "ST-1" || sf.Status != "reserved" || e.stock("AP-100", "ST-1") != "on_hand=3 reserved=2 available=1" {
		t.Fatalf("store fulfillment %+v, stock %s", sf, e.stock("AP-100", "ST-1"))
	}
	spath := fmt.Sprintf("/api/v1/fulfillments/%d", sf.ID)
	if r := e.do("POST", spath+"/pick", supply, nil, nil); r.status != 403 {
		t.Fatalf("supply chain picks in a store: %d", r.status)
	}
	if r := e.do("POST", spath+"/cancel", stores, js, []byte(`{"reason":"out of display units"}`)); r.status != 200 || !strings.Contains(string(r.body), `"status":"cancelled"`) {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if got := e.stock("AP-100", "ST-1"); got != "on_hand=3 reserved=0 available=3" {
		t.Fatalf("after cancel: %s", got)
	}
	if r := e.do("POST", spath+"/pick", stores, nil, nil); r.status != 409 {
		t.Fatalf("pick cancelled: %d", r.status)
	}

	// Cancelling an order cancels its unshipped fulfillment.
	o2 := place(sales, onlineOrder("TM-2", `[{"sku":"AP-100","qty":1}]`))
	f2 := mustCreateFulfillment(t, e, o2.ID)
	if got := e.stock("AP-100", "WH-SH"); got != "on_hand=3 reserved=1 available=2" {
		t.Fatalf("second reserve: %s", got)
	}
	if r := e.do("POST", fmt.Sprintf("/api/v1/orders/%d/cancel", o2.ID), sales, nil, nil); r.status != 200 {
		t.Fatalf("cancel order: %d %s", r.status, r.body)
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/fulfillments/%d", f2.ID), supply, nil, nil); !strings.Contains(string(r.body), `"status":"cancelled"`) {
		t.Fatalf("fulfillment of cancelled order: %s", r.body)
	}
	if got := e.stock("AP-100", "WH-SH"); got != "on_hand=3 reserved=0 available=3" {
		t.Fatalf("after order cancel: %s", got)
	}

	// Short stock: backordered with the short lines; nothing to pick.
	o3 := place(sales, onlineOrder("TM-3", `[{"sku":"AP-100","qty":9}]`))
	f3 := mustCreateFulfillment(t, e, o3.ID)
	r = e.do("GET", fmt.Sprintf("/api/v1/fulfillments/%d", f3.ID), supply, nil, nil)
	if f3.Status != "backordered" || !strings.Contains(string(r.body), `"short":[{"sku":"AP-100","requested":9,"available":`) {
		t.Fatalf("backordered: %+v %s", f3, r.body)
	}
	if r := e.do("POST", fmt.Sprintf("/api/v1/fulfillments/%d/pick", f3.ID), supply, nil, nil); r.status != 409 {
		t.Fatalf("pick backordered: %d", r.status)
	}
}
