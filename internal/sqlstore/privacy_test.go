package sqlstore_test

import (
	"context"
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// forEachDialectAt runs f per dialect on a database whose clock is clk.
func forEachDialectAt(t *testing.T, f func(t *testing.T, db *sqlstore.DB, clk *testClock)) {
	t.Helper()
	for _, d := range dialects(t) {
		t.Run(d, func(t *testing.T) {
			clk := &testClock{t: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)}
			f(t, sqlstoretest.MustOpen(t, d, sqlstore.Options{Now: clk.Now}), clk)
		})
	}
}

// serviceManager is the principal who handles personal-information
// requests.
func serviceManager() context.Context {
	return lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 7, Name: "privacy desk", Department: lianlu.DeptService, Role: lianlu.RoleManager})
}

// persona is a member with personal data in every place Lianlu keeps it,
// and another member whose data must stay.
type persona struct {
	amy, bob int64
	merged   int64 // merged into amy
	orders   []lianlu.Order
	request  lianlu.PrivacyRequest
	// personal are Amy's values that erasure must remove; bobs are Bob's,
	// which must stay.
	personal, bobs []string
}

func mustPersona(t *testing.T, db *sqlstore.DB) persona {
	t.Helper()
	ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 1, Name: "ops", Department: lianlu.DeptAdmin, Role: lianlu.RoleAdmin})
	mustCatalog(t, db)
	if _, err := sqlstore.NewInventoryService(db).Adjust(ctx, lianlu.Adjustment{SKU: "SKU-1", Location: "WH-SH", Delta: 10, Reason: "receipt"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sqlstore.NewStoreService(db).CreateStore(ctx, lianlu.StoreInput{Code: "SH-01", Name: ptr("Jing'an")}); err != nil {
		t.Fatal(err)
	}
	members := sqlstore.NewMemberService(db)
	var p persona
	join, err := members.Join(ctx, lianlu.JoinRequest{Store: "SH-01", Phone: "13800138000", Consent: true})
	if err != nil {
		t.Fatal(err)
	}
	p.amy = join.Member.ID
	if _, err := members.UpdateMember(ctx, p.amy, lianlu.MemberUpdate{Traits: json.RawMessage(`{"name":"王小美","birthday":"1990-05-01"}`), Tags: &[]string{"likes-purifiers"}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []lianlu.Identity{
		{Kind: lianlu.IdentityEmail, Value: "Amy.Wang@Example.com", Verified: true},
		{Kind: lianlu.IdentityAnonymousID, Value: "anon-amy-123456"},
		{Kind: lianlu.IdentityWeChatOpenID, Namespace: "shopapp", Value: "oAmyWeChat0001"},
	} {
		if _, err := members.AddIdentity(ctx, p.amy, id); err != nil {
			t.Fatal(err)
		}
	}
	bob, err := members.Join(ctx, lianlu.JoinRequest{Store: "SH-01", Phone: "13900139000", Consent: true})
	if err != nil {
		t.Fatal(err)
	}
	p.bob = bob.Member.ID
	// An older record of hers was merged into her.
	dee, err := members.Join(ctx, lianlu.JoinRequest{Store: "SH-01", Phone: "13600136000"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := members.UpdateMember(ctx, dee.Member.ID, lianlu.MemberUpdate{Traits: json.RawMessage(`{"name":"小美 (old card)"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := members.MergeMembers(ctx, p.amy, dee.Member.ID, "same person"); err != nil {
		t.Fatal(err)
	}
	p.merged = dee.Member.ID

	// A tracking SDK identified her before she was linked.
	if _, err := sqlstore.NewEventService(db).AppendEvents(ctx, []lianlu.Event{{ID: "m-1", Source: "segment:web", Type: "segment.identify", Subject: "anon/anon-amy-123456",
		Department: lianlu.DeptMarketing, Data: json.RawMessage(`{"type":"identify","anonymousId":"anon-amy-123456","traits":{"phone":"13800138000","email":"amy.wang@example.com","name":"王小美","address":{"street":"南京西路1号"}},"context":{"ip":"10.1.2.3","locale":"zh-CN"}}`)}}); err != nil {
		t.Fatal(err)
	}
	// Another system's note about her names her only by her email, in
	// another case, with her phone written its own way.
	if _, err := sqlstore.NewEventService(db).AppendEvents(ctx, []lianlu.Event{{ID: "n-1", Source: "crm", Type: "crm.note.added", Subject: "crm/77",
		Department: lianlu.DeptService, Data: json.RawMessage(`{"text":"AMY.WANG@EXAMPLE.COM called from 138-0013-8000 about 上海市静安区南京西路1号","agent":"Li"}`)}}); err != nil {
		t.Fatal(err)
	}
	// The shop sent her order with its ship-to; another order came
	// through the API; Bob ordered too.
	sales := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 2, Name: "shop", Department: lianlu.DeptSales, Role: lianlu.RoleOperator})
	if _, err := sqlstore.NewIntakeService(db).Ingest(sales, []lianlu.Event{{ID: "tm-1", Source: "tmall", Type: "shop.order.created", Department: lianlu.DeptSales,
		Data: json.RawMessage(`{"order_id":"TM-AMY","member":{"phone":"138-0013-8000"},"lines":[{"sku":"SKU-1","qty":1}],
			"ship_to":{"name":"王小美","phone":"138 0013 8000","address":"上海市静安区南京西路1号","city":"上海","lat":31.22,"lng":121.45}}`)}}); err != nil {
		t.Fatal(err)
	}
	orders := sqlstore.NewOrderService(db)
	for _, pl := range []lianlu.OrderPlacement{
		{ExternalID: "O-AMY-2", Channel: "online", Member: &lianlu.MemberRef{ID: p.amy}, Lines: []lianlu.OrderLine{{SKU: "SKU-2", Qty: 2}},
			ShipTo: &lianlu.Address{Name: "王小美", Phone: "+86 138 0013 8000", Address: "上海市静安区南京西路1号"}},
		{ExternalID: "O-BOB-1", Channel: "online", Member: &lianlu.MemberRef{ID: p.bob}, Lines: []lianlu.OrderLine{{SKU: "SKU-2", Qty: 1}},
			ShipTo: &lianlu.Address{Name: "李雷", Phone: "13900139000", Address: "北京市朝阳区三里屯路9号"}},
	} {
		if _, _, err := orders.PlaceOrder(sales, pl); err != nil {
			t.Fatal(err)
		}
	}
	all, err := orders.FindOrders(ctx, lianlu.OrderFilter{MemberID: p.amy})
	if err != nil || len(all) != 2 {
		t.Fatalf("her orders: %+v %v", all, err)
	}
	p.orders = all
	if _, err := sqlstore.NewFulfillmentService(db).CreateFulfillment(ctx, all[0].ID); err != nil {
		t.Fatal(err)
	}
	wos := sqlstore.NewWorkOrderService(db)
	follow, err := wos.CreateWorkOrder(ctx, lianlu.WorkOrder{Kind: lianlu.WorkOrderAfterSales, Priority: "normal", Department: lianlu.DeptService,
		Title: "Call 王小美 back on 13800138000", Subject: sqlstore.OrderSubject(all[0].ID)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wos.RecordContact(ctx, follow.ID, "phone", "spoke with 王小美"); err != nil {
		t.Fatal(err)
	}
	if _, err := wos.ResolveWorkOrder(ctx, follow.ID, "fixed", "replaced the filter at 南京西路1号"); err != nil {
		t.Fatal(err)
	}
	lat, lng := 31.22, 121.45
	if _, err := wos.CreateWorkOrder(ctx, lianlu.WorkOrder{Kind: lianlu.WorkOrderOnSite, Priority: "normal", Department: lianlu.DeptService, MemberID: p.amy,
		Title: "On-site install · 上海市静安区南京西路1号", Dispatch: &lianlu.DispatchDecision{Skill: "install", Lat: lat, Lng: lng}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstore.NewFeedbackService(db).SubmitFeedback(ctx, lianlu.FeedbackInput{Rating: 2, ProblemType: "noise", Text: "我是王小美，请打13800138000",
		OrderID: all[0].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := members.RecordInteraction(ctx, lianlu.Interaction{Type: lianlu.InteractionTried, Member: &lianlu.MemberRef{ID: p.amy}, Store: "SH-01", SKU: "SKU-1",
		Note: "王小美 liked it"}); err != nil {
		t.Fatal(err)
	}
	// An offer to her waits in the webhook queue, and a response with her
	// phone is kept for an Idempotency-Key replay.
	if err := db.WithTx(ctx, func(tx *sqlstore.Tx) error {
		_, err := sqlstore.EnqueueDeliveryTx(ctx, tx, sqlstore.DirectDelivery{URL: "http://example.invalid/send", Payload: json.RawMessage(`{"member":{"id":1,"phone":"+8613800138000"}}`),
			EventType: "offer.sent", Subject: sqlstore.MemberSubject(p.amy), Department: lianlu.DeptMarketing})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ReserveIdempotencyKey(ctx, "token:shop", "k1", "POST", "/api/v1/orders", "h"); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteIdempotencyKey(ctx, "token:shop", "k1", 201, "application/json", []byte(`{"ship_to":{"phone":"+8613800138000","name":"王小美"}}`)); err != nil {
		t.Fatal(err)
	}
	if p.request, err = sqlstore.NewPrivacyService(db, sqlstore.PrivacyConfig{}).RecordPrivacyRequest(ctx, p.amy,
		lianlu.PrivacyRequestInput{Kind: lianlu.PrivacyErase, Channel: "phone", Note: "王小美 called from 13800138000"}); err != nil {
		t.Fatal(err)
	}
	p.personal = []string{"13800138000", "amy.wang@example.com", "Amy.Wang@Example.com", "王小美", "南京西路1号", "anon-amy-123456", "oAmyWeChat0001",
		"10.1.2.3", "1990-05-01", "likes-purifiers", "138 0013 8000", "138-0013-8000",
		"13600136000", "小美 (old card)", "AMY.WANG@EXAMPLE.COM"}
	p.bobs = []string{"13900139000", "李雷", "三里屯路9号"}
	return p
}

// textOfTables returns, per table, the text of the columns where personal
// data could be: the whole event log and every table of state.
func textOfTables(t *testing.T, db *sqlstore.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for table, cols := range map[string]string{
		"events":             "subject, CAST(data AS TEXT)",
		"members":            "phone, email, CAST(traits AS TEXT), CAST(tags AS TEXT)",
		"member_identities":  "value",
		"orders":             "CAST(ship_to AS TEXT)",
		"work_orders":        "title, resolution_note, CAST(dispatch AS TEXT)",
		"feedback":           "text",
		"webhook_deliveries": "payload",
		"privacy_requests":   "note",
		"identity_conflicts": "value",
		"audit_log":          "detail",
		"idempotency_keys":   "body",
	} {
		var b strings.Builder
		err := db.WithTx(ctxT(t), func(tx *sqlstore.Tx) error {
			rows, err := tx.QueryContext(ctxT(t), `SELECT `+cols+` FROM `+table)
			if err != nil {
				return err
			}
			defer rows.Close()
			n, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(n))
				ptrs := make([]any, len(n))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					return err
				}
				for _, v := range vals {
					switch v := v.(type) {
					case string:
						b.WriteString(v)
					case []byte:
						b.Write(v)
					}
					b.WriteByte('\n')
				}
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		out[table] = b.String()
	}
	return out
}

// tableCounts counts rows of the tables whose counts erasure keeps.
func tableCounts(t *testing.T, db *sqlstore.DB, beforeSeq int64) map[string]int {
	t.Helper()
	out := map[string]int{}
	for name, q := range map[string]string{
		"members": `SELECT COUNT(*) FROM members`, "orders": `SELECT COUNT(*) FROM orders`, "handoffs": `SELECT COUNT(*) FROM handoffs`,
		"work_orders": `SELECT COUNT(*) FROM work_orders`, "feedback": `SELECT COUNT(*) FROM feedback`, "fulfillments": `SELECT COUNT(*) FROM fulfillments`,
		"consents": `SELECT COUNT(*) FROM member_consents WHERE granted = ?`, "privacy_requests": `SELECT COUNT(*) FROM privacy_requests`,
		"events": `SELECT COUNT(*) FROM events WHERE seq <= ?`, "order.placed": `SELECT COUNT(*) FROM events WHERE type = 'order.placed' AND seq <= ?`,
	} {
		var args []any
		switch {
		case strings.Contains(q, "granted"):
			args = []any{true}
		case strings.Contains(q, "seq"):
			args = []any{beforeSeq}
		}
		var n int
		if err := queryRow(t, db, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = n
	}
	return out
}

func maxSeq(t *testing.T, db *sqlstore.DB) int64 {
	t.Helper()
	n, err := sqlstore.NewEventService(db).MaxSeq(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPrivacy_EraseMember: erasure removes her personal fields from state,
// from every event of the log and from her export, leaves another
// member's alone, keeps every count, and is idempotent.
func TestPrivacy_EraseMember(t *testing.T) {
	forEachDialectAt(t, func(t *testing.T, db *sqlstore.DB, clk *testClock) {
		p := mustPersona(t, db)
		before := textOfTables(t, db)
		for _, v := range []string{"13800138000", "王小美", "南京西路1号", "anon-amy-123456", "10.1.2.3"} {
			if !strings.Contains(before["events"], v) {
				t.Fatalf("the persona put no %q in the log", v)
			}
		}
		last := maxSeq(t, db)
		counts := tableCounts(t, db, last)
		svc := sqlstore.NewPrivacyService(db, sqlstore.PrivacyConfig{})
		ctx := serviceManager()
		clk.Add(time.Hour)

		rep, err := svc.EraseMember(ctx, p.amy)
		if err != nil {
			t.Fatal(err)
		}
		if rep.AlreadyErased || rep.Events == 0 || rep.Orders != 2 || rep.WorkOrders != 2 || rep.Feedback != 1 || rep.Identities != 5 || rep.Deliveries != 1 ||
			len(rep.Members) != 2 || rep.Members[1] != p.merged {
			t.Errorf("report %+v", rep)
		}
		after := textOfTables(t, db)
		for table, text := range after {
			for _, v := range p.personal {
				if strings.Contains(strings.ToLower(text), strings.ToLower(v)) {
					t.Errorf("%s still holds %q", table, v)
				}
			}
		}
		for _, v := range p.bobs {
			if !strings.Contains(after["events"], v) || !strings.Contains(after["orders"], v) {
				t.Errorf("Bob's %q was erased", v)
			}
		}
		if !strings.Contains(after["events"], lianlu.Erased) || !strings.Contains(after["orders"], lianlu.Erased) {
			t.Error("no tombstones")
		}
		if got := tableCounts(t, db, last); !maps.Equal(got, counts) {
			t.Errorf("counts changed:\n before %v\n after  %v", counts, got)
		}

		var note string
		if err := queryRow(t, db, `SELECT CAST(data AS TEXT) FROM events WHERE source = 'crm'`).Scan(&note); err != nil || !strings.Contains(note, `"agent"`) ||
			!strings.Contains(note, "called from [erased] about [erased]") {
			t.Errorf("the other system's note: %s %v", note, err)
		}
		// A consumer reading a scrubbed event links it to nobody.
		if _, err := sqlstore.NormalizeIdentity(lianlu.IdentityUserID, "", lianlu.Erased, "CN"); lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Errorf("an erased id is an identity: %v", err)
		}
		// Her phone and email no longer find her; her record says so.
		members := sqlstore.NewMemberService(db)
		for kind, v := range map[string]string{lianlu.IdentityPhone: "13800138000", lianlu.IdentityEmail: "amy.wang@example.com"} {
			if _, err := members.FindMemberByIdentity(ctx, kind, "", v); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
				t.Errorf("%s still finds her: %v", kind, err)
			}
		}
		m, err := members.FindMemberByID(ctx, p.amy)
		if err != nil || m.ErasedAt == nil || m.Phone != "" || len(m.Identities) != 0 || m.HasConsent(lianlu.ConsentMarketing) || len(m.Tags) != 0 {
			t.Errorf("erased member %+v %v", m, err)
		}
		if bob, _ := members.FindMemberByID(ctx, p.bob); bob.Phone != "+8613900139000" || !bob.HasConsent(lianlu.ConsentMarketing) {
			t.Errorf("Bob changed: %+v", bob)
		}
		// The queued offer to her is stopped.
		var status string
		if err := queryRow(t, db, `SELECT status FROM webhook_deliveries WHERE subject = ?`, sqlstore.MemberSubject(p.amy)).Scan(&status); err != nil || status != "dead" {
			t.Errorf("her queued offer: %q %v", status, err)
		}
		// The export has nothing of hers left either.
		x, err := svc.ExportMember(ctx, p.amy)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(x)
		for _, v := range p.personal {
			if strings.Contains(strings.ToLower(string(b)), strings.ToLower(v)) {
				t.Errorf("export still holds %q", v)
			}
		}
		if len(x.Orders) != 2 || len(x.Events) == 0 || x.Member.ErasedAt == nil {
			t.Errorf("export after erasure: %d orders, %d events", len(x.Orders), len(x.Events))
		}
		// Erasing again does nothing more.
		n := maxSeq(t, db)
		again, err := svc.EraseMember(ctx, p.amy)
		if err != nil || !again.AlreadyErased || !again.ErasedAt.Equal(rep.ErasedAt) || maxSeq(t, db) != n {
			t.Errorf("second erasure: %+v %v", again, err)
		}
		// It was audited and recorded.
		var action string
		if err := queryRow(t, db, `SELECT action FROM audit_log WHERE action = 'member.erased' AND target_id = ?`, itoa(p.amy)).Scan(&action); err != nil {
			t.Errorf("no audit entry: %v", err)
		}
		es, _ := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{Types: []string{sqlstore.EventMemberErased}})
		if len(es) != 1 || es[0].Subject != sqlstore.MemberSubject(p.amy) || es[0].Actor != "token:privacy desk" {
			t.Errorf("member.erased events: %+v", es)
		}
		// A member merged into another is erased through that one.
		if _, err := svc.EraseMember(ctx, p.merged); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Errorf("erasing a merged member: %v", err)
		}
		if dee, _ := members.FindMemberByID(ctx, p.merged); dee.ErasedAt == nil || string(dee.Traits) != "{}" {
			t.Errorf("the record merged into her: %+v", dee)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestPrivacy_ExportMember: the export holds every section of what is
// kept about her, and is audited.
func TestPrivacy_ExportMember(t *testing.T) {
	forEachDialectAt(t, func(t *testing.T, db *sqlstore.DB, clk *testClock) {
		p := mustPersona(t, db)
		ctx := serviceManager()
		x, err := sqlstore.NewPrivacyService(db, sqlstore.PrivacyConfig{}).ExportMember(ctx, p.amy)
		if err != nil {
			t.Fatal(err)
		}
		types := map[string]int{}
		for _, e := range x.Events {
			types[e.Type]++
		}
		if x.Member.ID != p.amy || len(x.Member.Identities) != 5 || len(x.MergedMembers) != 1 || len(x.Member.Consents) != 1 || len(x.Member.Tags) != 1 ||
			len(x.Orders) != 2 || x.Orders[0].ShipTo == nil || len(x.Orders[0].Lines) != 1 || len(x.Fulfillments) != 1 ||
			len(x.WorkOrders) != 2 || len(x.ServiceRequests) != 1 || len(x.Feedback) != 1 || len(x.Interactions) != 3 ||
			len(x.PrivacyRequests) != 1 || types["segment.identify"] != 1 || types["order.placed"] != 2 || types["member.joined"] != 2 || types["member.merged"] != 1 ||
			types["workorder.contacted"] != 1 || types["feedback.submitted"] != 1 || types[sqlstore.EventPrivacyReceived] != 1 {
			b, _ := json.MarshalIndent(x, "", " ")
			t.Fatalf("export: %v\n%s", types, b)
		}
		b, _ := json.Marshal(x)
		var doc map[string]any
		json.Unmarshal(b, &doc)
		for _, k := range []string{"generated_at", "member", "orders", "fulfillments", "work_orders", "service_requests", "feedback", "offer_sends", "coupons",
			"interactions", "privacy_requests", "events"} {
			if _, ok := doc[k]; !ok {
				t.Errorf("no %s section", k)
			}
		}
		if strings.Contains(string(b), "李雷") {
			t.Error("the export holds another member's data")
		}
		var action string
		if err := queryRow(t, db, `SELECT action FROM audit_log WHERE action = 'member.exported' AND target_id = ?`, itoa(p.amy)).Scan(&action); err != nil {
			t.Errorf("no audit entry: %v", err)
		}
	})
}

// TestPrivacy_Requests: a request is a handoff to service with its
// deadline; it is completed, or refused with a reason (none: EINVALID); a
// withdrawal of consent takes effect at once.
func TestPrivacy_Requests(t *testing.T) {
	forEachDialectAt(t, func(t *testing.T, db *sqlstore.DB, clk *testClock) {
		p := mustPersona(t, db)
		ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 3, Name: "store desk", Department: lianlu.DeptStores, Role: lianlu.RoleOperator})
		svc := sqlstore.NewPrivacyService(db, sqlstore.PrivacyConfig{SLA: 10 * 24 * time.Hour})
		handoffs := sqlstore.NewHandoffService(db)
		received := clk.Now().Add(-2 * 24 * time.Hour)
		r, err := svc.RecordPrivacyRequest(ctx, p.amy, lianlu.PrivacyRequestInput{Kind: lianlu.PrivacyCopy, Channel: "store", ReceivedAt: received})
		if err != nil {
			t.Fatal(err)
		}
		h, err := handoffs.FindHandoffByID(ctx, r.HandoffID)
		if err != nil {
			t.Fatal(err)
		}
		due := received.Add(10 * 24 * time.Hour)
		if r.Status != lianlu.PrivacyOpen || !r.DueAt.Equal(due) || r.Department != lianlu.DeptService || h.Flow != sqlstore.PrivacyFlow || h.Step != lianlu.PrivacyCopy ||
			h.FromDepartment != lianlu.DeptStores || h.ToDepartment != lianlu.DeptService || h.DueAt == nil || !h.DueAt.Equal(due) ||
			h.Subject != sqlstore.PrivacyRequestSubject(r.ID) || h.Status != lianlu.HandoffOpen || !h.EmittedAt.Equal(received) {
			t.Fatalf("request %+v, handoff %+v", r, h)
		}
		for _, in := range []lianlu.PrivacyRequestInput{{Kind: "forget"}, {Kind: lianlu.PrivacyAccess, Channel: "a b"}, {Kind: lianlu.PrivacyAccess, ReceivedAt: clk.Now().Add(time.Hour)}} {
			if _, err := svc.RecordPrivacyRequest(ctx, p.amy, in); lianlu.ErrorCode(err) != lianlu.EINVALID {
				t.Errorf("%+v: %v", in, err)
			}
		}
		if _, err := svc.RecordPrivacyRequest(ctx, 9999, lianlu.PrivacyRequestInput{Kind: lianlu.PrivacyAccess}); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Errorf("unknown member: %v", err)
		}

		mgr := serviceManager()
		// A refusal without a reason is refused.
		for _, reason := range []string{"", "   "} {
			if _, err := svc.RefusePrivacyRequest(mgr, r.ID, reason); lianlu.ErrorCode(err) != lianlu.EINVALID || lianlu.ErrorFields(err)[0].Field != "reason" {
				t.Errorf("refusal with reason %q: %v", reason, err)
			}
		}
		clk.Add(time.Hour)
		done, err := svc.CompletePrivacyRequest(mgr, r.ID, "sent her the export by email")
		if err != nil || done.Status != lianlu.PrivacyCompleted || done.ClosedAt == nil || done.ClosedBy != "token:privacy desk" {
			t.Fatalf("complete: %+v %v", done, err)
		}
		if h, _ = handoffs.FindHandoffByID(ctx, r.HandoffID); h.Status != lianlu.HandoffDone || h.DoneAt == nil || h.BreachedAt != nil {
			t.Errorf("handoff after completion: %+v", h)
		}
		if _, err := svc.RefusePrivacyRequest(mgr, r.ID, "too late"); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Errorf("refusing a completed request: %v", err)
		}

		// Refused past its deadline: breached, charged to service.
		late, err := svc.RecordPrivacyRequest(ctx, p.amy, lianlu.PrivacyRequestInput{Kind: lianlu.PrivacyErase})
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(11 * 24 * time.Hour)
		refused, err := svc.RefusePrivacyRequest(mgr, late.ID, "  her orders are under warranty for two more years (law requires us to keep them)  ")
		if err != nil || refused.Status != lianlu.PrivacyRefused || !strings.HasPrefix(refused.RefusalReason, "her orders") {
			t.Fatalf("refuse: %+v %v", refused, err)
		}
		if h, _ = handoffs.FindHandoffByID(ctx, late.HandoffID); h.Status != lianlu.HandoffDone || h.BreachedAt == nil || h.ResponsibleDepartment != lianlu.DeptService {
			t.Errorf("late handoff: %+v", h)
		}
		list, err := svc.FindPrivacyRequests(ctx, lianlu.PrivacyRequestFilter{MemberID: p.amy, Status: lianlu.PrivacyRefused})
		if err != nil || len(list) != 1 || list[0].ID != late.ID {
			t.Errorf("refused requests: %+v %v", list, err)
		}
		es, _ := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{Subject: sqlstore.PrivacyRequestSubject(late.ID)})
		if len(es) != 2 || es[0].Type != sqlstore.EventPrivacyReceived || es[1].Type != sqlstore.EventPrivacyRefused || strings.Contains(string(es[1].Data), "warranty") {
			t.Errorf("request events: %+v", es)
		}

		// A withdrawal of consent is honoured when it is recorded.
		w, err := svc.RecordPrivacyRequest(ctx, p.amy, lianlu.PrivacyRequestInput{Kind: lianlu.PrivacyWithdrawConsent, Channel: "phone"})
		if err != nil || w.Status != lianlu.PrivacyCompleted || w.Resolution != "consent withdrawn: marketing" {
			t.Fatalf("withdrawal: %+v %v", w, err)
		}
		m, _ := sqlstore.NewMemberService(db).FindMemberByID(ctx, p.amy)
		if m.HasConsent(lianlu.ConsentMarketing) || len(m.Consents) != 2 || !m.Consents[0].Granted {
			t.Errorf("consents after the withdrawal: %+v", m.Consents)
		}
		if h, _ = handoffs.FindHandoffByID(ctx, w.HandoffID); h.Status != lianlu.HandoffDone {
			t.Errorf("withdrawal handoff: %+v", h)
		}
		withdrawn, _ := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{Types: []string{lianlu.EventConsentWithdrawn}})
		if len(withdrawn) != 1 || withdrawn[0].Subject != sqlstore.MemberSubject(p.amy) {
			t.Errorf("consent_withdrawn events: %+v", withdrawn)
		}
	})
}

// TestPrivacy_CorrectMember: personal fields are corrected with
// validation; the old phone no longer finds her; the event names the
// fields, not the values.
func TestPrivacy_CorrectMember(t *testing.T) {
	forEachDialectAt(t, func(t *testing.T, db *sqlstore.DB, clk *testClock) {
		p := mustPersona(t, db)
		ctx := serviceManager()
		svc := sqlstore.NewPrivacyService(db, sqlstore.PrivacyConfig{})
		members := sqlstore.NewMemberService(db)
		bad := "not-an-email"
		if _, err := svc.CorrectMember(ctx, p.amy, lianlu.MemberCorrection{Email: &bad, Phone: ptr("12")}); len(lianlu.ErrorFields(err)) != 2 {
			t.Errorf("invalid correction: %v", err)
		}
		if _, err := svc.CorrectMember(ctx, p.amy, lianlu.MemberCorrection{}); lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Errorf("empty correction: %v", err)
		}
		if _, err := svc.CorrectMember(ctx, p.amy, lianlu.MemberCorrection{Phone: ptr("13900139000")}); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Errorf("Bob's phone: %v", err)
		}
		m, err := svc.CorrectMember(ctx, p.amy, lianlu.MemberCorrection{Phone: ptr("137 0013 7000"), Name: ptr("王晓美"), Email: ptr("amy@example.org")})
		if err != nil || m.Phone != "+8613700137000" || m.Email != "amy@example.org" || !strings.Contains(string(m.Traits), "王晓美") || !strings.Contains(string(m.Traits), "birthday") {
			t.Fatalf("corrected: %+v %v", m, err)
		}
		if _, err := members.FindMemberByIdentity(ctx, lianlu.IdentityPhone, "", "13800138000"); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Errorf("the old phone still finds her: %v", err)
		}
		if got, err := members.FindMemberByIdentity(ctx, lianlu.IdentityPhone, "", "13700137000"); err != nil || got.ID != p.amy {
			t.Errorf("the new phone: %+v %v", got, err)
		}
		es, _ := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{Types: []string{sqlstore.EventMemberCorrected}})
		if len(es) != 1 || !strings.Contains(string(es[0].Data), `"phone"`) || strings.Contains(string(es[0].Data), "137") || strings.Contains(string(es[0].Data), "王晓美") {
			t.Errorf("member.corrected: %+v", es)
		}
	})
}
