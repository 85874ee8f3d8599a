package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// outsideCE is a structured CloudEvent with the given source and type.
func outsideCE(id, source, typ, subject string) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"` + source + `","type":"` + typ + `","subject":"` + subject + `","data":{"n":1}}`
}

// TestForgery_OutsideEventsRefused: for every command-owned namespace,
// Lianlu's own source and the collector's namespaces, an outside post is
// refused with 403 naming the rule and the field, for every caller (an
// admin too), alone or in a batch, and nothing is stored. The table is
// lianlu.CommandNamespaces, so a namespace added there is covered here.
func TestForgery_OutsideEventsRefused(t *testing.T) {
	e := newEnv(t)
	tokens := map[string]string{
		"marketing": e.token(lianlu.DeptMarketing, lianlu.RoleOperator),
		"sales":     e.token(lianlu.DeptSales, lianlu.RoleManager),
		"admin":     e.admin,
	}
	type forged struct {
		name, source, typ, field, rule string
	}
	var cases []forged
	for _, ns := range lianlu.CommandNamespaces {
		cases = append(cases, forged{"type " + ns + "*", "shop", ns + "forged", "type", lianlu.RuleCommandType})
	}
	cases = append(cases,
		// The squatting of defect 1: Lianlu's own source, its own id.
		forged{"source lianlu", lianlu.CommandSource, "crm.contact.updated", "source", lianlu.RuleCommandSource},
		forged{"source lianlu, owned type", lianlu.CommandSource, "order.placed", "source", lianlu.RuleCommandSource},
		forged{"collector source", lianlu.CollectorSourcePrefix + "1", "crm.contact.updated", "source", lianlu.RuleCollector},
		forged{"collector type", "crm", lianlu.CollectorTypePrefix + "identify", "type", lianlu.RuleCollector},
	)
	// The facts of defect 2, as the probe sent them.
	for _, typ := range []string{"order.placed", "fulfillment.shipped", "workorder.resolved", "member.joined", "handoff.completed", "webhook.delivered", "offer.sent"} {
		cases = append(cases, forged{"defect 2 " + typ, "shop", typ, "type", lianlu.RuleCommandType})
	}
	before := e.count()
	n := 0
	for _, c := range cases {
		for who, token := range tokens {
			n++
			id := fmt.Sprintf("forged-%d", n)
			r := e.do("POST", "/api/v1/events", token, map[string]string{"Content-Type": structured},
				[]byte(outsideCE(id, c.source, c.typ, "order/1")))
			if r.status != 403 {
				t.Errorf("%s by %s: %d %s", c.name, who, r.status, r.body)
				continue
			}
			p := r.problem(t)
			if len(p.Errors) != 1 || p.Errors[0].Field != c.field || !strings.HasPrefix(p.Errors[0].Message, c.rule+":") || !strings.Contains(p.Detail, c.rule) {
				t.Errorf("%s by %s: problem %+v, want field %s and rule %s", c.name, who, p, c.field, c.rule)
			}
			// In a batch, the forged event is named by its index and the
			// good one beside it is not stored either.
			batch := "[" + outsideCE(id+"-ok", "crm", "crm.contact.updated", "contact/1") + "," + outsideCE(id+"-b", c.source, c.typ, "order/1") + "]"
			r = e.do("POST", "/api/v1/events", token, map[string]string{"Content-Type": "application/cloudevents-batch+json"}, []byte(batch))
			if r.status != 403 {
				t.Errorf("%s by %s in a batch: %d %s", c.name, who, r.status, r.body)
				continue
			}
			if p := r.problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "[1]."+c.field {
				t.Errorf("%s by %s in a batch: fields %+v", c.name, who, p.Errors)
			}
		}
	}
	// Binary mode is the same door.
	r := e.do("POST", "/api/v1/events", e.admin, map[string]string{
		"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "order/1/placed", "ce-source": "lianlu", "ce-type": "order.placed",
	}, []byte(`{}`))
	if r.status != 403 || r.problem(t).Errors[0].Field != "source" {
		t.Errorf("binary mode: %d %s", r.status, r.body)
	}
	if got := e.count(); got != before {
		t.Fatalf("refused posts stored %d events", got-before)
	}
	// Outside systems' own types and sources are still welcome.
	r = e.do("POST", "/api/v1/events", tokens["marketing"], map[string]string{"Content-Type": structured},
		[]byte(outsideCE("ok-1", "wechat", "wechat.article.read", "article/7")))
	if r.status != 201 {
		t.Fatalf("an outside type: %d %s", r.status, r.body)
	}
}

// TestForgery_SquattedOrderID is defect 1's sequence: an operator posts
// Lianlu's own order.placed id for the next order; it is refused, and
// when that order is placed it has its event, its fulfillment, its work
// order and its handoffs.
func TestForgery_SquattedOrderID(t *testing.T) {
	e := newEnv(t)
	mustSeedShop(t, e)
	ctx := context.Background()
	if err := flow.Seed(ctx, e.db, flow.Defaults(), false); err != nil {
		t.Fatal(err)
	}
	runner := flow.NewRunner(e.db, flow.RunnerConfig{})
	if err := runner.Load(ctx); err != nil {
		t.Fatal(err)
	}
	marketing := e.token(lianlu.DeptMarketing, lianlu.RoleOperator)
	sales := e.token(lianlu.DeptSales, lianlu.RoleOperator)

	// Order ids start at 1 on a fresh database.
	squat := `{"specversion":"1.0","id":"order/1/placed","source":"lianlu","type":"crm.note","department":"marketing"}`
	for _, token := range []string{marketing, e.admin} {
		if r := e.do("POST", "/api/v1/events", token, map[string]string{"Content-Type": structured}, []byte(squat)); r.status != 403 {
			t.Fatalf("squatting post: %d %s", r.status, r.body)
		}
	}
	r := e.do("POST", "/api/v1/orders", sales, map[string]string{"Content-Type": "application/json"}, onlineOrder("TM-SQUAT", `[{"sku":"AP-100","qty":1}]`))
	if r.status != 201 {
		t.Fatalf("place: %d %s", r.status, r.body)
	}
	var o lianlu.Order
	r.json(t, &o)
	if o.ID != 1 {
		t.Fatalf("order id %d, want the squatted 1", o.ID)
	}
	for {
		n, err := runner.ProcessOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	placed, err := e.events.FindEvents(ctx, lianlu.EventFilter{Types: []string{"order.placed"}, Subject: sqlstore.OrderSubject(o.ID)})
	if err != nil || len(placed) != 1 || placed[0].Source != lianlu.CommandSource || placed[0].Department != lianlu.DeptSales {
		t.Fatalf("order.placed of order 1: %+v (%v)", placed, err)
	}
	fs, _ := sqlstore.NewFulfillmentService(e.db).FindFulfillments(ctx, lianlu.FulfillmentFilter{OrderID: o.ID})
	if len(fs) != 1 || fs[0].Status != lianlu.FulfillmentReserved {
		t.Fatalf("fulfillments of order 1: %+v", fs)
	}
	wos, _ := sqlstore.NewWorkOrderService(e.db).FindWorkOrders(ctx, lianlu.WorkOrderFilter{Subject: sqlstore.OrderSubject(o.ID)})
	if len(wos) != 1 {
		t.Fatalf("work orders of order 1: %+v", wos)
	}
	hs, _ := sqlstore.NewHandoffService(e.db).FindHandoffs(ctx, lianlu.HandoffFilter{Subject: sqlstore.OrderSubject(o.ID)})
	if len(hs) != 2 {
		t.Fatalf("handoffs of order 1: %+v", hs)
	}
}

// TestIntake_ActorIsTheCredentials: the actor stored is the caller's,
// whatever the event says; what it said is kept as claimed_actor.
func TestIntake_ActorIsTheCredentials(t *testing.T) {
	e := newEnv(t)
	marketing := e.token(lianlu.DeptMarketing, lianlu.RoleOperator)
	for name, h := range map[string]map[string]string{
		"structured": {"Content-Type": structured},
		"binary": {"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "a-bin", "ce-source": "wechat",
			"ce-type": "wechat.article.read", "ce-actor": "user:admin"},
	} {
		body := []byte(`{"specversion":"1.0","id":"a-1","source":"wechat","type":"wechat.article.read","actor":"user:admin"}`)
		if name == "binary" {
			body = []byte(`{"n":1}`)
		}
		r := e.do("POST", "/api/v1/events", marketing, h, body)
		if r.status != 201 {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
		var a appended
		r.json(t, &a)
		got, err := e.events.FindEventBySeq(context.Background(), a.Items[0].Seq)
		if err != nil {
			t.Fatal(err)
		}
		if got.Actor != "token:marketing operator" || got.ClaimedActor != "user:admin" {
			t.Errorf("%s: actor %q, claimed %q", name, got.Actor, got.ClaimedActor)
		}
		r = e.do("GET", fmt.Sprintf("/api/v1/events/%d", got.Seq), marketing, nil, nil)
		if !strings.Contains(string(r.body), `"actor":"token:marketing operator"`) || !strings.Contains(string(r.body), `"claimed_actor":"user:admin"`) {
			t.Errorf("%s: read back %s", name, r.body)
		}
	}
	if n := countActor(t, e, "user:admin"); n != 0 {
		t.Fatalf("%d events with actor user:admin", n)
	}
}

func countActor(t *testing.T, e *env, actor string) int {
	t.Helper()
	es, err := e.events.FindEvents(context.Background(), lianlu.EventFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range es {
		if ev.Actor == actor {
			n++
		}
	}
	return n
}

// TestIntake_DuplicateRevealsNothing: a duplicate of another department's
// event is answered without its seq; the caller's own duplicates, and an
// admin's, still carry it.
func TestIntake_DuplicateRevealsNothing(t *testing.T) {
	e := newEnv(t)
	sales := e.token(lianlu.DeptSales, lianlu.RoleOperator)
	marketing := e.token(lianlu.DeptMarketing, lianlu.RoleOperator)
	h := map[string]string{"Content-Type": structured}
	body := []byte(outsideCE("T-1", "tmall", "tmall.refund.requested", "refund/1"))
	r := e.do("POST", "/api/v1/events", sales, h, body)
	var first appended
	r.json(t, &first)
	if r.status != 201 {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	for who, tc := range map[string]struct {
		token   string
		wantSeq bool
	}{"marketing": {marketing, false}, "sales": {sales, true}, "admin": {e.admin, true}} {
		r := e.do("POST", "/api/v1/events", tc.token, h, body)
		var raw struct{ Items []map[string]any }
		r.json(t, &raw)
		if r.status != 200 || len(raw.Items) != 1 || raw.Items[0]["duplicate"] != true {
			t.Fatalf("%s: %d %s", who, r.status, r.body)
		}
		seq, has := raw.Items[0]["seq"]
		if has != tc.wantSeq || (has && seq != float64(first.Items[0].Seq)) {
			t.Errorf("%s: duplicate answer %s", who, r.body)
		}
		if _, has := raw.Items[0]["effects"]; has && !tc.wantSeq {
			t.Errorf("%s: duplicate answer %s", who, r.body)
		}
	}
}

// TestLimits_JSONDepth: every intake refuses JSON nested deeper than 32
// levels with 400 naming where, and takes 32.
func TestLimits_JSONDepth(t *testing.T) {
	e := newEnv(t)
	mustSeedShop(t, e)
	_, key, err := e.srcs.CreateSource(context.Background(), lianlu.Source{Name: "web", Department: lianlu.DeptMarketing, Kind: "web"})
	if err != nil {
		t.Fatal(err)
	}
	sales := e.token(lianlu.DeptSales, lianlu.RoleOperator)
	nest := func(levels int) string {
		return strings.Repeat(`{"a":`, levels) + "1" + strings.Repeat("}", levels)
	}
	ce := map[string]string{"Content-Type": structured}
	js := map[string]string{"Content-Type": "application/json"}
	for name, tc := range map[string]struct {
		path, token string
		header      map[string]string
		body        func(levels int) string
		// levels of body nesting around nest() that the envelope adds
		outer int
		field string
	}{
		"structured": {"/api/v1/events", sales, ce, func(n int) string {
			return `{"specversion":"1.0","id":"d-` + fmt.Sprint(n) + `","source":"crm","type":"crm.x","data":` + nest(n) + `}`
		}, 1, "data"},
		"batch": {"/api/v1/events", sales, map[string]string{"Content-Type": "application/cloudevents-batch+json"}, func(n int) string {
			return `[{"specversion":"1.0","id":"b-` + fmt.Sprint(n) + `","source":"crm","type":"crm.x","data":` + nest(n) + `}]`
		}, 2, "[0].data"},
		"binary": {"/api/v1/events", sales, map[string]string{"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "bin", "ce-source": "crm", "ce-type": "crm.x"},
			func(n int) string { return nest(n) }, 0, "data"},
		"segment": {"/v1/track", "", map[string]string{"Content-Type": "application/json"}, func(n int) string {
			return `{"writeKey":"` + key + `","userId":"u1","event":"Viewed","properties":` + nest(n) + `}`
		}, 1, "properties"},
		"orders": {"/api/v1/orders", sales, js, func(n int) string {
			return `{"external_id":"D-` + fmt.Sprint(n) + `","channel":"store","store":"ST-1","lines":[{"sku":"AP-100","qty":1}],"coupon":` + nest(n) + `}`
		}, 1, "coupon"},
	} {
		over := collectMaxDepth - tc.outer + 1
		r := e.do("POST", tc.path, tc.token, tc.header, []byte(tc.body(over)))
		if r.status != 400 {
			t.Errorf("%s nested %d: %d %s", name, over+tc.outer, r.status, r.body)
			continue
		}
		p := r.problem(t)
		if len(p.Errors) != 1 || !strings.HasPrefix(p.Errors[0].Field, tc.field) || !strings.Contains(p.Errors[0].Message, "nested deeper than 32") {
			t.Errorf("%s: problem %+v, want field %s…", name, p.Errors, tc.field)
		}
		if name == "orders" {
			continue // the coupon is a string: 32 levels is a type error there
		}
		if r := e.do("POST", tc.path, tc.token, tc.header, []byte(tc.body(over-1))); r.status != 201 && r.status != 200 {
			t.Errorf("%s nested 32: %d %s", name, r.status, r.body)
		}
	}
	// 10,000 levels, as the probe sent them: refused the same way.
	r := e.do("POST", "/api/v1/events", sales, ce, []byte(`{"specversion":"1.0","id":"deep","source":"crm","type":"crm.x","data":`+nest(10000)+`}`))
	if r.status != 400 && r.status != 413 {
		t.Fatalf("10,000 levels: %d %s", r.status, r.body)
	}
}

const collectMaxDepth = 32

// TestLimits_EventTime: event times more than a day ahead of the server's
// clock, or before 2000, are refused on every intake, naming time or
// timestamp; a clock a few hours fast is fine.
func TestLimits_EventTime(t *testing.T) {
	e := newEnv(t)
	_, key, err := e.srcs.CreateSource(context.Background(), lianlu.Source{Name: "web", Department: lianlu.DeptMarketing, Kind: "web"})
	if err != nil {
		t.Fatal(err)
	}
	sales := e.token(lianlu.DeptSales, lianlu.RoleOperator)
	now := time.Now().UTC()
	for name, tc := range map[string]struct {
		at     string
		status int
	}{
		"year 9999":    {"9999-12-31T23:59:59Z", 400},
		"two days on":  {now.Add(48 * time.Hour).Format(time.RFC3339), 400},
		"year 1999":    {"1999-12-31T23:00:00Z", 400},
		"hours ahead":  {now.Add(3 * time.Hour).Format(time.RFC3339), 201},
		"a month back": {now.AddDate(0, -1, 0).Format(time.RFC3339), 201},
	} {
		r := e.do("POST", "/api/v1/events", sales, map[string]string{"Content-Type": structured},
			[]byte(`{"specversion":"1.0","id":"t-`+name+`","source":"crm","type":"crm.x","time":"`+tc.at+`"}`))
		if r.status != tc.status {
			t.Errorf("CloudEvent %s: %d %s", name, r.status, r.body)
		} else if tc.status == 400 && r.problem(t).Errors[0].Field != "time" {
			t.Errorf("CloudEvent %s: %s", name, r.body)
		}
		want := tc.status
		if want == 201 {
			want = 200
		}
		r = e.do("POST", "/v1/track", "", map[string]string{"Content-Type": "application/json"},
			[]byte(`{"writeKey":"`+key+`","userId":"u1","event":"Viewed","messageId":"t-`+name+`","timestamp":"`+tc.at+`"}`))
		if r.status != want {
			t.Errorf("Segment %s: %d %s", name, r.status, r.body)
		} else if want == 400 && r.problem(t).Errors[0].Field != "timestamp" {
			t.Errorf("Segment %s: %s", name, r.body)
		}
	}
	// The order's own time is the same kind of fact.
	r := e.do("POST", "/api/v1/events", sales, map[string]string{"Content-Type": structured}, businessCE("t-order", "shop.order.created",
		`{"order_id":"T-9999","placed_at":"9999-01-01T00:00:00Z","lines":[{"sku":"AP-100","qty":1}],"ship_to":{"address":"a"}}`))
	if r.status != 400 || r.problem(t).Errors[0].Field != "data.placed_at" {
		t.Errorf("placed_at in 9999: %d %s", r.status, r.body)
	}
}

// TestLimits_InvalidUTF8Everywhere: the REST API's JSON bodies refuse
// invalid UTF-8 as the event intake does, instead of replacing it.
func TestLimits_InvalidUTF8Everywhere(t *testing.T) {
	e := newEnv(t)
	mustSeedShop(t, e)
	sales := e.token(lianlu.DeptSales, lianlu.RoleOperator)
	bad := []byte(`{"external_id":"U-1","channel":"online","lines":[{"sku":"AP-100","qty":1}],"ship_to":{"name":"` + "\xff\xfe" + `","address":"a"}}`)
	r := e.do("POST", "/api/v1/orders", sales, map[string]string{"Content-Type": "application/json"}, bad)
	if r.status != 400 || r.problem(t).Errors[0].Field != "body" || !strings.Contains(r.problem(t).Errors[0].Message, "UTF-8") {
		t.Fatalf("/orders with invalid UTF-8: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/v1/events", sales, map[string]string{"Content-Type": structured},
		[]byte(`{"specversion":"1.0","id":"U-1","source":"crm","type":"crm.x","data":{"name":"`+"\xff\xfe"+`"}}`))
	if r.status != 400 || r.problem(t).Errors[0].Field != "body" || !strings.Contains(r.problem(t).Errors[0].Message, "UTF-8") {
		t.Fatalf("/events with invalid UTF-8: %d %s", r.status, r.body)
	}
}

// TestDepartmentRules_WorkOrdersAndFeedback: only the departments that
// deal with customers put work in service's and the stores' queues and
// submit feedback (docs/architecture.md); a department may fill its own
// queue; an admin may do anything.
func TestDepartmentRules_WorkOrdersAndFeedback(t *testing.T) {
	e := newEnv(t)
	mustSeedShop(t, e)
	js := map[string]string{"Content-Type": "application/json"}
	tok := map[string]string{"admin": e.admin}
	for _, d := range []string{lianlu.DeptMarketing, lianlu.DeptSales, lianlu.DeptService, lianlu.DeptStores, lianlu.DeptProduct, lianlu.DeptSupplyChain} {
		tok[d] = e.token(d, lianlu.RoleOperator)
	}
	for _, tc := range []struct {
		who, queue string
		status     int
	}{
		{"marketing", "", 403}, // the default queue is service's
		{"marketing", "service", 403},
		{"marketing", "stores", 403},
		{"product", "service", 403},
		{"supply_chain", "service", 403},
		{"marketing", "marketing", 201},
		{"sales", "", 201},
		{"sales", "service", 201},
		{"stores", "service", 201},
		{"service", "service", 201},
		{"service", "stores", 201},
		{"sales", "supply_chain", 403},
		{"admin", "supply_chain", 201},
	} {
		body := `{"kind":"after_sales","title":"T"`
		if tc.queue != "" {
			body += `,"department":"` + tc.queue + `"`
		}
		r := e.do("POST", "/api/v1/workorders", tok[tc.who], js, []byte(body+"}"))
		if r.status != tc.status {
			t.Errorf("%s creates a work order in %q: %d %s", tc.who, tc.queue, r.status, r.body)
		} else if tc.status == 403 && r.problem(t).Errors[0].Field != "department" {
			t.Errorf("%s in %q: %s", tc.who, tc.queue, r.body)
		}
	}
	for who, status := range map[string]int{"marketing": 403, "product": 403, "supply_chain": 403, "service": 201, "sales": 201, "stores": 201, "admin": 201} {
		r := e.do("POST", "/api/v1/feedback", tok[who], js, []byte(`{"rating":2,"problem_type":"noise"}`))
		if r.status != status {
			t.Errorf("%s submits feedback: %d %s", who, r.status, r.body)
		}
	}
	fb, _ := sqlstore.NewFeedbackService(e.db).FindFeedback(context.Background(), "", 0, 100)
	if len(fb) != 4 {
		t.Fatalf("%d feedback stored, want 4", len(fb))
	}
}
