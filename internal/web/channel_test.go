package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// TestMembers_MaskedBySeesMemberPII: the console masks members' contacts
// exactly for the departments lianlu.SeesMemberPII leaves out, whatever
// their role; those departments see them in full.
func TestMembers_MaskedBySeesMemberPII(t *testing.T) {
	e := newEnv(t, "")
	for _, tc := range []struct {
		user string
		full bool
	}{{"admin", true}, {"agent", true}, {"watcher", true}, {"storeboss", true}, {"marketer", false}, {"picker", false}} {
		c := e.client("en")
		c.login(tc.user)
		for _, p := range []string{"/members", "/members/" + itoa(e.amy)} {
			res, page := c.do("GET", p, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s %s: %d", tc.user, p, res.StatusCode)
			}
			// html/template writes + as &#43;.
			full, masked := strings.Contains(page, "8613900001111"), strings.Contains(page, "86139****1111")
			if full != tc.full || masked == tc.full {
				t.Errorf("%s on %s: full number shown %v, masked shown %v", tc.user, p, full, masked)
			}
			if strings.Contains(page, `id="conflicts"`) != tc.full && p == "/members" {
				t.Errorf("%s: the conflict list is shown %v", tc.user, !tc.full)
			}
		}
	}
	// Search by phone in any notation, by email-less miss, by number.
	c := e.client("en")
	c.login("agent")
	res, _ := c.do("GET", "/members?q="+url.QueryEscape("139 0000 1111"), nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/members/"+itoa(e.amy) {
		t.Fatalf("search by phone: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = c.do("GET", "/members?q=%23"+itoa(e.bea), nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/members/"+itoa(e.bea) {
		t.Fatalf("search by number: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if _, page := c.do("GET", "/members?q=nobody@example.com", nil); !strings.Contains(page, "No member matches nobody@example.com.") {
		t.Fatal("a missed email search says nothing")
	}
	// A department that sees masked contacts may not search by them:
	// hit or miss would tell it the number.
	mk := e.client("en")
	mk.login("marketer")
	if res, _ := mk.do("GET", "/members?q="+url.QueryEscape("139 0000 1111"), nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("marketing searched by phone: %d", res.StatusCode)
	}
	if res, _ := mk.do("GET", "/members?q=%23"+itoa(e.amy), nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("marketing searched by member number: %d", res.StatusCode)
	}
	// The profile: joined where and with whom, identities, consents,
	// the offer and its coupon.
	_, page := c.do("GET", "/members/"+itoa(e.amy), nil)
	for _, want := range []string{"上海徐家汇店", "王芳 (E01)", "verified", "store QR code", "欢迎礼券", "not used yet"} {
		if !strings.Contains(page, want) {
			t.Errorf("the member page lacks %q", want)
		}
	}
	// Her timeline shows each department its own events, as the events
	// API does: the stores see the product she tried in the store, the
	// service agent does not.
	if strings.Contains(page, "tried a product") {
		t.Error("a service agent sees the stores' events on the member's timeline")
	}
	sb := e.client("en")
	sb.login("storeboss")
	_, page = sb.do("GET", "/members/"+itoa(e.amy), nil)
	for _, want := range []string{"tried a product", "QH-AF5"} {
		if !strings.Contains(page, want) {
			t.Errorf("the stores' member page lacks %q", want)
		}
	}
}

// TestConflicts_OperatorMergesViewerCannot: a viewer sees the conflict but
// no buttons and is refused; a department without PII is refused; an
// operator of sales, service or the stores merges, audited as herself.
func TestConflicts_OperatorMergesViewerCannot(t *testing.T) {
	e := newEnv(t, "")
	members := sqlstore.NewMemberService(e.db)
	cs, err := members.FindConflicts(context.Background(), lianlu.ConflictOpen, 0, 10)
	if err != nil || len(cs) != 1 {
		t.Fatalf("conflicts %+v %v", cs, err)
	}
	cid := itoa(cs[0].ID)

	viewer := e.client("en")
	viewer.login("watcher")
	_, page := viewer.do("GET", "/members", nil)
	if !strings.Contains(page, `id="conflict-`+cid+`"`) || strings.Contains(page, `action="/identity-conflicts/`) {
		t.Fatal("the viewer should see the conflict without its buttons")
	}
	for _, action := range []string{"/merge", "/dismiss"} {
		if res, _ := viewer.do("POST", "/identity-conflicts/"+cid+action, url.Values{"csrf": {csrfOf(t, page)}, "into": {itoa(e.amy)}}); res.StatusCode != http.StatusForbidden {
			t.Fatalf("viewer %s: %d", action, res.StatusCode)
		}
	}
	marketer := e.client("en")
	marketer.login("marketer")
	_, page = marketer.do("GET", "/members", nil)
	if res, _ := marketer.do("POST", "/identity-conflicts/"+cid+"/dismiss", url.Values{"csrf": {csrfOf(t, page)}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("marketing dismissing: %d", res.StatusCode)
	}
	if res, _ := marketer.do("POST", "/members/"+itoa(e.amy)+"/merge", url.Values{"csrf": {csrfOf(t, page)}, "from": {itoa(e.bea)}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("marketing merging: %d", res.StatusCode)
	}

	agent := e.client("en")
	agent.login("agent")
	_, page = agent.do("GET", "/members", nil)
	if !strings.Contains(page, `action="/identity-conflicts/`+cid+`/merge"`) {
		t.Fatal("the operator has no merge button")
	}
	res, _ := agent.do("POST", "/identity-conflicts/"+cid+"/merge", url.Values{"csrf": {csrfOf(t, page)}, "into": {"999"}})
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("merge into a member outside the conflict: %d", res.StatusCode)
	}
	res, _ = agent.do("POST", "/identity-conflicts/"+cid+"/merge", url.Values{"csrf": {csrfOf(t, page)}, "into": {itoa(e.amy)}, "back": {"/members"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/members?done=merged&id="+cid {
		t.Fatalf("merge: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if _, page = agent.do("GET", res.Header.Get("Location"), nil); !strings.Contains(page, "Merged: identity conflict #"+cid) {
		t.Fatal("no word that the merge was done")
	}
	bea, _ := members.FindMemberByID(context.Background(), e.bea)
	if bea.MergedInto != e.amy {
		t.Fatalf("after the merge member %d is %+v", e.bea, bea)
	}
	entries, _ := sqlstore.NewAccessService(e.db).FindAuditEntries(context.Background(), 0, 5)
	if len(entries) == 0 || entries[0].Action != "member.merged" || entries[0].Actor != "user:agent" {
		t.Fatalf("the merge is not audited as the console user: %+v", entries)
	}
	if res, _ := agent.do("POST", "/identity-conflicts/"+cid+"/dismiss", url.Values{"csrf": {csrfOf(t, page)}}); res.StatusCode != http.StatusConflict {
		t.Fatalf("dismissing a merged conflict: %d", res.StatusCode)
	}
	_, page = agent.do("GET", "/members/"+itoa(e.amy), nil)
	if !strings.Contains(page, "by an operator") || !strings.Contains(page, "identity conflict #"+cid) {
		t.Fatal("the merge is not on the profile")
	}
}

// TestStores_DetailQRCodesAndServiceRequests: a store's page shows its
// hours, skills, staff and join QR codes (served by the console from the
// configured base URL), and its on-site requests; a store's own operator
// rejects one, which goes to the next store, whose clerk then sees it in
// her queue; nobody acts on another store's requests.
func TestStores_DetailQRCodesAndServiceRequests(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("en")
	c.login("storeboss")
	_, page := c.do("GET", "/stores/S-1", nil)
	for _, want := range []string{"Opening hours", "Saturday", "09:30–22:30", "installation", "4 jobs a day", "30.0 km", "王芳",
		`src="/stores/S-1/qr.svg"`, "https://join.example.com/j/S-1", `href="/stores/S-1/qr.png?staff=E02&amp;download=1"`,
		`id="sr-` + itoa(e.request.ID) + `"`, "waiting to be accepted", `action="/service-requests/` + itoa(e.request.ID) + `/reject"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the store page lacks %q", want)
		}
	}
	res, body := c.do("GET", "/stores/S-1/qr.png?staff=E02&download=1", nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(body, "\x89PNG") ||
		res.Header.Get("X-Join-URL") != "https://join.example.com/j/S-1?s=E02" || res.Header.Get("Content-Disposition") != `attachment; filename=qr-S-1-E02.png` {
		t.Fatalf("staff QR PNG: %d %v", res.StatusCode, res.Header)
	}
	if res, body = c.do("GET", "/stores/S-1/qr.svg", nil); res.StatusCode != http.StatusOK || !strings.HasPrefix(body, "<svg") {
		t.Fatalf("store QR SVG: %d", res.StatusCode)
	}
	if res, _ = c.do("GET", "/stores/S-1/qr.png?staff=E99", nil); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("QR of an unknown staff member: %d", res.StatusCode)
	}
	if res, _ = e.client("en").do("GET", "/stores/S-1/qr.png", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("QR signed out: %d", res.StatusCode)
	}

	// The clerk of S-2 neither sees S-1's queue nor rejects for it.
	clerk := e.client("en")
	clerk.login("clerk")
	if res, _ := clerk.do("GET", "/queue?department=stores&store=S-1", nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("another store's queue: %d", res.StatusCode)
	}
	_, cpage := clerk.do("GET", "/stores/S-1", nil)
	if strings.Contains(cpage, `action="/service-requests/`) {
		t.Fatal("the clerk of another store gets the reject button")
	}
	if res, _ := clerk.do("POST", "/service-requests/"+itoa(e.request.ID)+"/reject", url.Values{"csrf": {csrfOf(t, cpage)}}); res.StatusCode != http.StatusNotFound {
		t.Fatalf("rejecting for another store: %d", res.StatusCode)
	}

	res, _ = c.do("POST", "/service-requests/"+itoa(e.request.ID)+"/reject", url.Values{"csrf": {csrfOf(t, page)}, "reason": {"技师请假"}, "back": {"/stores/S-1"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/stores/S-1?done=rejected&wo="+itoa(e.request.ID) {
		t.Fatalf("reject: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	wo, _ := sqlstore.NewWorkOrderService(e.db).FindWorkOrderByID(context.Background(), e.request.ID)
	if wo.Store != "S-2" || len(wo.Dispatch.Attempts) != 2 || wo.Dispatch.Attempts[0].Outcome != lianlu.AttemptRejected {
		t.Fatalf("after the rejection: %+v %+v", wo, wo.Dispatch)
	}
	_, page = c.do("GET", "/stores/S-1?done=rejected&wo="+itoa(e.request.ID), nil)
	if !strings.Contains(page, "now with S-2") || !strings.Contains(page, "“技师请假”") || strings.Contains(page, `action="/service-requests/`) {
		t.Fatal("the first store's page does not show the request passed on")
	}
	_, qpage := clerk.do("GET", "/queue", nil)
	if !strings.Contains(qpage, `id="wo-`+itoa(e.request.ID)+`"`) || !strings.Contains(qpage, `action="/service-requests/`+itoa(e.request.ID)+`/reject"`) ||
		strings.Contains(qpage, `name="store"><option`) {
		t.Fatalf("the clerk's queue does not offer the request to accept or reject:\n%.3000s", qpage)
	}
	res, _ = clerk.do("POST", "/workorders/"+itoa(e.request.ID)+"/accept", url.Values{"csrf": {csrfOf(t, qpage)}, "back": {"/queue"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the clerk accepting: %d", res.StatusCode)
	}
	if wo, _ = sqlstore.NewWorkOrderService(e.db).FindWorkOrderByID(context.Background(), e.request.ID); wo.Status != lianlu.WorkOrderAccepted || wo.Assignee != "clerk" {
		t.Fatalf("after the clerk accepted: %+v", wo)
	}
}

// TestOffers_RulesWithCounts: the offers page lists each rule with its
// sends and coupons.
func TestOffers_RulesWithCounts(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("zh-CN")
	c.login("marketer")
	res, page := c.do("GET", "/offers", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "欢迎礼券") || !strings.Contains(page, "<code>welcome</code>") ||
		!strings.Contains(page, `<td class="num">1</td>`) {
		t.Fatalf("offers page: %d\n%.3000s", res.StatusCode, page)
	}
	// Marketing does not see members' coupon codes; service does.
	sends, err := sqlstore.NewMemberService(e.db).Timeline(context.Background(), e.amy, lianlu.TimelineFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	code := ""
	for _, s := range sends {
		if s.Event.Type == "offer.sent" {
			code = regexp.MustCompile(`"coupon":"([^"]+)"`).FindStringSubmatch(string(s.Event.Data))[1]
		}
	}
	if code == "" || strings.Contains(page, code) {
		t.Fatalf("coupon %q shown to marketing", code)
	}
	agent := e.client("en")
	agent.login("agent")
	if _, page := agent.do("GET", "/offers", nil); !strings.Contains(page, code) {
		t.Fatal("service does not see the coupon code")
	}
	// Supply chain sees the rules, not the sends (as in the API).
	picker := e.client("en")
	picker.login("picker")
	if res, page := picker.do("GET", "/offers", nil); res.StatusCode != http.StatusOK || !strings.Contains(page, "<code>welcome</code>") || strings.Contains(page, `href="/members/`) {
		t.Fatalf("supply chain's offers page: %d\n%.2000s", res.StatusCode, page)
	}
}

// TestMemberPage_Erased: an erased member's page says so, shows no
// contact, and names the erasure as the channel of the withdrawn consent.
func TestMemberPage_Erased(t *testing.T) {
	e := newEnv(t, "")
	ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 1, Name: "desk", Department: lianlu.DeptService, Role: lianlu.RoleManager})
	if _, err := sqlstore.NewPrivacyService(e.db, sqlstore.PrivacyConfig{}).EraseMember(ctx, e.amy); err != nil {
		t.Fatal(err)
	}
	c := e.client("en")
	c.login("agent")
	_, page := c.do("GET", "/members/"+itoa(e.amy), nil)
	for _, want := range []string{"Her personal information was erased", "erasure of her personal information"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "8613900001111") {
		t.Error("the page shows her phone")
	}
}
