package httpapi_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/lianlu/lianlu"
)

func TestCatalogAndInventoryAPI(t *testing.T) {
	e := newEnv(t)
	js := map[string]string{"Content-Type": "application/json"}
	product := e.token("product", lianlu.RoleOperator)
	supply := e.token("supply_chain", lianlu.RoleOperator)
	stores := e.token("stores", lianlu.RoleOperator)
	sales := e.token("sales", lianlu.RoleViewer)

	r := e.do("POST", "/api/v1/products", product, js, []byte(`{"sku":"AP-100","name":"净化器 AP100","category":"air","price":"1999.00"}`))
	if r.status != 201 || !strings.Contains(string(r.body), `"result":"created"`) || !strings.Contains(string(r.body), `"price":"1999.00"`) {
		t.Fatalf("create product: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/products", product, js, []byte(`{"sku":"AP-100","name":"净化器 AP100","category":"air","price":"1999.00"}`)); r.status != 200 || !strings.Contains(string(r.body), `"unchanged"`) {
		t.Fatalf("same product: %d %s", r.status, r.body)
	}
	for body, field := range map[string]string{
		`{"sku":"AP-2","name":"x","category":"air","price":19.99}`:    "price",
		`{"sku":"AP-2","name":"x","category":"air","price":"19.999"}`: "price",
		`{"sku":"AP-2","name":"x","category":"air"}`:                  "price",
		`{"sku":"","name":"","category":"air","price":"1"}`:           "sku",
	} {
		r := e.do("POST", "/api/v1/products", product, js, []byte(body))
		if r.status != 400 {
			t.Fatalf("%s: %d %s", body, r.status, r.body)
		}
		if p := r.problem(t); len(p.Errors) == 0 || (field != "body" && p.Errors[0].Field != field) {
			t.Fatalf("%s: errors %+v", body, p.Errors)
		}
	}
	if r := e.do("POST", "/api/v1/products", sales, js, []byte(`{"sku":"X","name":"x","category":"c","price":"1"}`)); r.status != 403 {
		t.Fatalf("viewer writes catalogue: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/products", supply, js, []byte(`{"sku":"X","name":"x","category":"c","price":"1"}`)); r.status != 403 {
		t.Fatalf("supply chain writes catalogue: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/products/AP-100", sales, nil, nil); r.status != 200 {
		t.Fatalf("sales reads product: %d", r.status)
	}

	if r := e.do("POST", "/api/v1/locations", supply, js, []byte(`{"code":"WH-SH","kind":"warehouse","name":"上海仓","lat":31.23,"lng":121.47}`)); r.status != 201 {
		t.Fatalf("warehouse: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/locations", supply, js, []byte(`{"code":"ST-1","kind":"store","name":"Store 1"}`)); r.status != 403 {
		t.Fatalf("supply chain creates store: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/locations", stores, js, []byte(`{"code":"ST-1","kind":"store","name":"Store 1","timezone":"Asia/Shanghai"}`)); r.status != 201 {
		t.Fatalf("store: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/api/v1/locations?kind=store", sales, nil, nil)
	var locs struct{ Items []lianlu.Location }
	r.json(t, &locs)
	if len(locs.Items) != 1 || locs.Items[0].Code != "ST-1" {
		t.Fatalf("stores: %s", r.body)
	}

	if r := e.do("POST", "/api/v1/inventory/adjustments", stores, js, []byte(`{"sku":"AP-100","location":"WH-SH","delta":5,"reason":"receipt"}`)); r.status != 403 {
		t.Fatalf("stores adjusts warehouse: %d", r.status)
	}
	r = e.do("POST", "/api/v1/inventory/adjustments", supply, js, []byte(`{"sku":"AP-100","location":"WH-SH","delta":5,"reason":"receipt","external_id":"ASN-9"}`))
	if r.status != 201 || !strings.Contains(string(r.body), `"available":5`) {
		t.Fatalf("adjust: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/inventory/adjustments", supply, js, []byte(`{"sku":"AP-100","location":"WH-SH","delta":-9,"reason":"damage"}`)); r.status != 409 {
		t.Fatalf("below zero: %d %s", r.status, r.body)
	}

	// Concurrent reservations through the API never oversell.
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, conflicts := 0, 0
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do("POST", "/api/v1/inventory/reservations", supply, js, []byte(fmt.Sprintf(`{"ref":"F-%d","location":"WH-SH","lines":[{"sku":"AP-100","qty":1}]}`, i)))
			mu.Lock()
			defer mu.Unlock()
			switch r.status {
			case 201:
				created++
			case 409:
				conflicts++
				if !strings.Contains(string(r.body), `"short":[{"sku":"AP-100","requested":1,"available":0}]`) {
					t.Errorf("409 body: %s", r.body)
				}
			default:
				t.Errorf("reserve: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if created != 5 || conflicts != 7 {
		t.Fatalf("%d reserved, %d short; want 5 and 7", created, conflicts)
	}
	r = e.do("GET", "/api/v1/inventory?sku=AP-100", sales, nil, nil)
	if !strings.Contains(string(r.body), `"on_hand":5,"reserved":5,"available":0`) {
		t.Fatalf("stock: %s", r.body)
	}
	r = e.do("GET", "/api/v1/inventory/reservations/1", sales, nil, nil)
	if r.status != 200 {
		t.Fatalf("get reservation: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/inventory/reservations/1/release", supply, nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"released"`) {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/inventory/reservations/1/release", supply, nil, nil); r.status != 409 {
		t.Fatalf("release twice: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/inventory/reservations", supply, js, []byte(`{"ref":"F-x","location":"WH-SH","lines":[]}`)); r.status != 400 || r.problem(t).Errors[0].Field != "lines" {
		t.Fatalf("empty lines: %d %s", r.status, r.body)
	}
}
