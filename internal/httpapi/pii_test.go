package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// shipToClear are the ship-to's personal values of piiOrder in clear;
// shipToMasked what departments without members' PII see instead.
var (
	shipToClear  = []string{"王芳", "13800138000", "人民大道", "31.230416", "121.473701"}
	shipToMasked = []string{`"name":"王**"`, `"phone":"138****8000"`, `"address":"黄浦区****"`, `"lat":31.23`}
)

func piiOrder(externalID string) []byte {
	return []byte(`{"external_id":"` + externalID + `","channel":"online","member":{"phone":"13800138000"},"lines":[{"sku":"AP-100","qty":1}],` +
		`"ship_to":{"name":"王芳","phone":"13800138000","address":"黄浦区人民大道200号","city":"上海","lat":31.230416,"lng":121.473701}}`)
}

// checkPII fails unless body shows every clear value (clear) or none of
// them and every masked one (!clear).
func checkPII(t *testing.T, what string, body []byte, clear bool) {
	t.Helper()
	for _, v := range shipToClear {
		if strings.Contains(string(body), v) != clear {
			t.Errorf("%s: %q shown %v: %s", what, v, !clear, body)
		}
	}
	if !clear {
		for _, v := range shipToMasked {
			if !strings.Contains(string(body), v) {
				t.Errorf("%s: no %s: %s", what, v, body)
			}
		}
	}
}

// TestOrders_ShipToMaskedOutsidePIIDepartments: marketing and product
// read an order's ship-to masked (name, phone, address line, coordinates;
// not the city) on the order and the order list; sales and the stores in
// clear.
func TestOrders_ShipToMaskedOutsidePIIDepartments(t *testing.T) {
	e := newEnv(t)
	mustSeedShop(t, e)
	sales := e.token(lianlu.DeptSales, lianlu.RoleOperator)
	r := e.do("POST", "/api/v1/orders", sales, map[string]string{"Content-Type": "application/json"}, piiOrder("PII-1"))
	if r.status != 201 {
		t.Fatalf("place: %d %s", r.status, r.body)
	}
	checkPII(t, "placing as sales", r.body, true)
	var o lianlu.Order
	r.json(t, &o)
	for _, tc := range []struct {
		dept  string
		clear bool
	}{{lianlu.DeptMarketing, false}, {lianlu.DeptProduct, false}, {lianlu.DeptSupplyChain, false}, {lianlu.DeptSales, true}, {lianlu.DeptStores, true}} {
		tok := e.token(tc.dept, lianlu.RoleManager)
		for _, path := range []string{fmt.Sprintf("/api/v1/orders/%d", o.ID), "/api/v1/orders"} {
			r := e.do("GET", path, tok, nil, nil)
			if r.status != 200 {
				t.Fatalf("%s %s: %d %s", tc.dept, path, r.status, r.body)
			}
			checkPII(t, tc.dept+" "+path, r.body, tc.clear)
		}
	}
}

// TestOrderTimeline_FollowsEventVisibility: an order's timeline shows a
// department the events GET /api/v1/events/{seq} shows it, masked as
// there: marketing none of sales' order.placed (it read the ship-to in
// clear before), sales its own in clear.
func TestOrderTimeline_FollowsEventVisibility(t *testing.T) {
	e := newEnv(t)
	mustSeedShop(t, e)
	sales := e.token(lianlu.DeptSales, lianlu.RoleOperator)
	marketing := e.token(lianlu.DeptMarketing, lianlu.RoleManager)
	r := e.do("POST", "/api/v1/orders", sales, map[string]string{"Content-Type": "application/json"}, piiOrder("PII-2"))
	var o lianlu.Order
	r.json(t, &o)
	type timeline struct {
		Items []struct {
			Kind  string        `json:"kind"`
			Event *lianlu.Event `json:"event"`
		} `json:"items"`
	}
	var tl timeline
	r = e.do("GET", fmt.Sprintf("/api/v1/orders/%d/timeline", o.ID), sales, nil, nil)
	r.json(t, &tl)
	if len(tl.Items) == 0 || tl.Items[0].Event == nil || tl.Items[0].Event.Type != "order.placed" {
		t.Fatalf("sales' timeline: %s", r.body)
	}
	checkPII(t, "sales' timeline", r.body, true)
	seq := tl.Items[0].Event.Seq
	if r := e.do("GET", fmt.Sprintf("/api/v1/events/%d", seq), marketing, nil, nil); r.status != 404 {
		t.Fatalf("marketing reads order.placed: %d", r.status)
	}
	r = e.do("GET", fmt.Sprintf("/api/v1/orders/%d/timeline", o.ID), marketing, nil, nil)
	tl = timeline{}
	r.json(t, &tl)
	for _, it := range tl.Items {
		if it.Event != nil && it.Event.Department != lianlu.DeptMarketing {
			t.Errorf("marketing's timeline shows %s's %s (seq %d)", it.Event.Department, it.Event.Type, it.Event.Seq)
		}
	}
	for _, v := range shipToClear {
		if strings.Contains(string(r.body), v) {
			t.Errorf("marketing's timeline shows %q: %s", v, r.body)
		}
	}
}

// piiEvent is an event of marketing's CRM carrying contacts, traits and
// an address.
const piiEvent = `{"specversion":"1.0","id":"crm-1","source":"crm","type":"crm.contact_updated","subject":"crm/amy",` +
	`"data":{"customer":{"phone":"13800138000","email":"amy.wang@example.com"},"traits":{"name":"王芳"},` +
	`"ship_to":{"name":"王芳","phone":"13800138000","address":"黄浦区人民大道200号","city":"上海","lat":31.230416,"lng":121.473701},"campaign":"winter"}}`

// TestEvents_DataMaskedOutsidePIIDepartments: marketing reads its own
// events with the personal data in them masked, on the list, by seq and on
// the stream; an admin reads them as they came.
func TestEvents_DataMaskedOutsidePIIDepartments(t *testing.T) {
	e := newEnv(t)
	marketing := e.token(lianlu.DeptMarketing, lianlu.RoleManager)
	r := e.do("POST", "/api/v1/events", marketing, map[string]string{"Content-Type": structured}, []byte(piiEvent))
	if r.status != 201 {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	var a appended
	r.json(t, &a)
	seq := a.Items[0].Seq
	clear := []string{"13800138000", "amy.wang@example.com", "王芳", "人民大道", "31.230416"}
	masked := []string{`"phone":"138****8000"`, `"email":"a***@example.com"`, `"address":"黄浦区****"`, `"campaign":"winter"`}
	check := func(what string, body string, wantClear bool) {
		t.Helper()
		for _, v := range clear {
			if strings.Contains(body, v) != wantClear {
				t.Errorf("%s: %q shown %v: %s", what, v, !wantClear, body)
			}
		}
		if !wantClear {
			for _, v := range append(masked, `"ship_to":{`) {
				if !strings.Contains(body, v) {
					t.Errorf("%s: no %s: %s", what, v, body)
				}
			}
			if strings.Contains(body, "traits") {
				t.Errorf("%s: traits shown: %s", what, body)
			}
		}
	}
	for _, path := range []string{"/api/v1/events?type=crm.contact_updated", fmt.Sprintf("/api/v1/events/%d", seq)} {
		r := e.do("GET", path, marketing, nil, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		check("marketing "+path, string(r.body), false)
		check("admin "+path, string(e.do("GET", path, e.admin, nil, nil).body), true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1/stream?after=0", nil)
	req.Header.Set("Authorization", "Bearer "+marketing)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			check("marketing's stream", data, false)
			break
		}
	}
}

// TestMemberTimeline_FollowsEventVisibility: a member's timeline shows a
// department its own events about her, masked as the events API masks
// them: marketing its CRM event without her contacts, none of sales'
// order; sales its order with the ship-to, none of marketing's events.
func TestMemberTimeline_FollowsEventVisibility(t *testing.T) {
	e := newEnv(t)
	mustSeedShop(t, e)
	sales := e.token(lianlu.DeptSales, lianlu.RoleOperator)
	marketing := e.token(lianlu.DeptMarketing, lianlu.RoleManager)
	r := e.do("POST", "/api/v1/orders", sales, map[string]string{"Content-Type": "application/json"}, piiOrder("PII-3"))
	var o lianlu.Order
	r.json(t, &o)
	body := strings.Replace(piiEvent, `"subject":"crm/amy"`, fmt.Sprintf(`"subject":"%s"`, sqlstore.MemberSubject(o.MemberID)), 1)
	if r := e.do("POST", "/api/v1/events", marketing, map[string]string{"Content-Type": structured}, []byte(body)); r.status != 201 {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	timeline := func(tok string) (depts map[string]bool, body string) {
		t.Helper()
		r := e.do("GET", fmt.Sprintf("/api/v1/members/%d/timeline", o.MemberID), tok, nil, nil)
		if r.status != 200 {
			t.Fatalf("timeline: %d %s", r.status, r.body)
		}
		var tl struct{ Items []lianlu.TimelineEntry }
		r.json(t, &tl)
		depts = map[string]bool{}
		for _, it := range tl.Items {
			depts[it.Event.Department] = true
		}
		return depts, string(r.body)
	}
	depts, page := timeline(marketing)
	if len(depts) != 1 || !depts[lianlu.DeptMarketing] || !strings.Contains(page, `"phone":"138****8000"`) {
		t.Fatalf("marketing's timeline of departments %v: %s", depts, page)
	}
	for _, v := range shipToClear {
		if strings.Contains(page, v) {
			t.Errorf("marketing's timeline shows %q: %s", v, page)
		}
	}
	depts, page = timeline(sales)
	if depts[lianlu.DeptMarketing] || !depts[lianlu.DeptSales] || !strings.Contains(page, "人民大道") {
		t.Fatalf("sales' timeline of departments %v: %s", depts, page)
	}
}
