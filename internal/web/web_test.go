package web_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
	"github.com/lianlu/lianlu/internal/dispatch"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/offer"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
	"github.com/lianlu/lianlu/internal/web"
)

// env is a console on a real SQLite database with a little data: an
// order whose flow made a fulfillment and a follow-up work order, and
// users of every kind.
type env struct {
	t       *testing.T
	db      *sqlstore.DB
	srv     *httptest.Server
	console *web.Console
	wo      lianlu.WorkOrder
	order   lianlu.Order
	// request is an on-site request waiting for store S-1; amy and bea
	// are members in an identity conflict.
	request  lianlu.WorkOrder
	amy, bea int64
}

const password = "correct horse battery"

func newEnv(t *testing.T, baseURL string) *env { return newEnvWith(t, baseURL, nil) }

// newEnvWith is newEnv with the console's configuration adjusted by
// configure.
func newEnvWith(t *testing.T, baseURL string, configure func(*web.Config)) *env {
	t.Helper()
	ctx := context.Background()
	db := sqlstoretest.MustOpen(t, "sqlite", sqlstore.Options{})
	admin := lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "test", Department: lianlu.DeptAdmin, Role: lianlu.RoleAdmin})
	if err := flow.Seed(ctx, db, flow.Defaults(), false); err != nil {
		t.Fatal(err)
	}
	runner := flow.NewRunner(db, flow.RunnerConfig{})
	if err := runner.Load(ctx); err != nil {
		t.Fatal(err)
	}
	catalog := sqlstore.NewCatalogService(db)
	if _, _, err := catalog.UpsertProduct(admin, lianlu.Product{SKU: "QH-AF5", Name: "空气炸锅 Air fryer", Category: "small_appliance", Price: 39900, Active: true}); err != nil {
		t.Fatal(err)
	}
	lat, lng := 31.23, 121.47
	if _, _, err := catalog.UpsertLocation(admin, lianlu.Location{Code: "WH-1", Kind: lianlu.LocationWarehouse, Name: "华东仓", Lat: &lat, Lng: &lng, Active: true}); err != nil {
		t.Fatal(err)
	}
	// A store created as a plain location, without hours or staff yet.
	if _, _, err := catalog.UpsertLocation(admin, lianlu.Location{Code: "S-3", Kind: lianlu.LocationStore, Name: "苏州观前街店", Active: true}); err != nil {
		t.Fatal(err)
	}
	stores := sqlstore.NewStoreService(db)
	for i, code := range []string{"S-1", "S-2"} {
		name, addr, slat := []string{"上海徐家汇店", "上海陆家嘴店"}[i], "虹桥路1号", lat+float64(i)*0.02
		if _, _, err := stores.CreateStore(admin, lianlu.StoreInput{Code: code, Name: &name, Address: &addr, Lat: &slat, Lng: &lng,
			Timezone: ptr("Asia/Shanghai"), Skills: []string{"install", "repair"}, CapacityPerDay: ptr(4), ServiceRadiusKm: ptr(30.0),
			Hours: lianlu.OpeningHours{"mon": {{"10:00", "22:00"}}, "sat": {{"09:30", "22:30"}}, "sun": {{"09:30", "22:30"}}},
			Staff: []lianlu.StaffMember{{Code: "E01", Name: "王芳"}, {Code: "E02", Name: "李娜"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sqlstore.NewInventoryService(db).Adjust(admin, lianlu.Adjustment{SKU: "QH-AF5", Location: "WH-1", Delta: 10, Reason: "receipt"}); err != nil {
		t.Fatal(err)
	}
	o, _, err := sqlstore.NewOrderService(db).PlaceOrder(admin, lianlu.OrderPlacement{ExternalID: "T-1", Channel: lianlu.ChannelOnline,
		Member: &lianlu.MemberRef{Phone: "13812345678"}, Lines: []lianlu.OrderLine{{SKU: "QH-AF5", Qty: 1}},
		ShipTo: &lianlu.Address{Address: "世纪大道100号", City: "上海"}})
	if err != nil {
		t.Fatal(err)
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
	if _, err := sqlstore.NewFeedbackService(db).SubmitFeedback(admin, lianlu.FeedbackInput{Rating: 2, ProblemType: "noise", Text: "有噪音", OrderID: o.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := runner.ProcessOnce(ctx); err != nil {
		t.Fatal(err)
	}
	wos, err := sqlstore.NewWorkOrderService(db).FindWorkOrders(ctx, lianlu.WorkOrderFilter{Subject: sqlstore.OrderSubject(o.ID)})
	if err != nil || len(wos) != 1 {
		t.Fatalf("follow-up work orders: %v %v", wos, err)
	}
	// Channel fusion: members who joined in the store, one of them twice
	// over with two verified phones (an identity conflict), an offer rule,
	// and an on-site request dispatched to the store.
	members := sqlstore.NewMemberService(db)
	for _, p := range []string{"13900001111", "13900002222"} {
		if _, err := members.Join(admin, lianlu.JoinRequest{Store: "S-1", Staff: "E01", Phone: p, Consent: true}); err != nil {
			t.Fatal(err)
		}
	}
	amy, _ := members.FindMemberByIdentity(admin, lianlu.IdentityPhone, "", "13900001111")
	bea, _ := members.FindMemberByIdentity(admin, lianlu.IdentityPhone, "", "13900002222")
	if err := db.WithTx(admin, func(tx *sqlstore.Tx) error {
		_, err := sqlstore.RecordConflictTx(admin, tx, amy.ID, bea.ID, lianlu.IdentityUserID, "cust-9", "both claim cust-9", 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := members.RecordInteraction(admin, lianlu.Interaction{Type: lianlu.InteractionTried, Member: &lianlu.MemberRef{ID: amy.ID}, Store: "S-1", Staff: "E02", SKU: "QH-AF5"}); err != nil {
		t.Fatal(err)
	}
	engine := offer.NewEngine(db, offer.EngineConfig{})
	offers := offer.NewService(db, engine)
	if _, err := offers.SaveRule(admin, lianlu.OfferRule{Name: "welcome", Triggers: []string{"store.visited"}, Condition: "true", Channel: lianlu.OfferInbox,
		Title: "欢迎礼券", Coupon: &lianlu.CouponTemplate{ValueOff: 3000, ValidDays: 30}, Active: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := members.RecordInteraction(admin, lianlu.Interaction{Type: lianlu.InteractionVisit, Member: &lianlu.MemberRef{ID: amy.ID}, Store: "S-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.ProcessOnce(admin); err != nil {
		t.Fatal(err)
	}
	dispatcher := dispatch.NewService(db, stores, dispatch.Config{})
	slat, slng := lat+0.001, lng
	request, _, err := dispatcher.RequestService(admin, lianlu.ServiceRequest{Member: &lianlu.MemberRef{ID: amy.ID}, Skill: "install",
		Address: &lianlu.Address{Address: "虹桥路3号", Lat: &slat, Lng: &slng}, PreferredDate: "2026-12-07", Title: "上门安装 · 空气炸锅"})
	if err != nil || request.Store != "S-1" {
		t.Fatalf("service request: %+v %v", request, err)
	}

	accessSvc := sqlstore.NewAccessService(db)
	sessions := sqlstore.NewSessionService(db)
	sessions.Params = access.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	for _, u := range []lianlu.User{
		{Username: "admin", Department: lianlu.DeptAdmin, Role: lianlu.RoleAdmin},
		{Username: "agent", Department: lianlu.DeptService, Role: lianlu.RoleOperator},
		{Username: "picker", Department: lianlu.DeptSupplyChain, Role: lianlu.RoleOperator},
		{Username: "watcher", Department: lianlu.DeptService, Role: lianlu.RoleViewer},
		{Username: "marketer", Department: lianlu.DeptMarketing, Role: lianlu.RoleManager},
		{Username: "clerk", Department: lianlu.DeptStores, Role: lianlu.RoleOperator, Store: "S-2"},
		{Username: "storeboss", Department: lianlu.DeptStores, Role: lianlu.RoleOperator, Store: "S-1"},
	} {
		if _, err := accessSvc.CreateUser(admin, u); err != nil {
			t.Fatal(err)
		}
		if err := sessions.SetPassword(admin, u.Username, password); err != nil {
			t.Fatal(err)
		}
	}
	cfg := web.Config{
		Events: sqlstore.NewEventService(db), Access: accessSvc, Sessions: sessions, Catalog: catalog,
		Orders: sqlstore.NewOrderService(db), Fulfillments: sqlstore.NewFulfillmentService(db), WorkOrders: sqlstore.NewWorkOrderService(db),
		Feedback: sqlstore.NewFeedbackService(db), Handoffs: sqlstore.NewHandoffService(db), Sources: sqlstore.NewSourceService(db),
		Stores: stores, Members: members, Offers: offers, Dispatch: dispatcher, JoinBaseURL: "https://join.example.com",
		Flows: flow.NewService(db, runner), Queries: sqlstore.NewConsoleQueries(db), Notifier: db,
		BaseURL: baseURL, Strict: true, Version: "test", PollInterval: 50 * time.Millisecond, LiveThrottle: 10 * time.Millisecond,
	}
	if configure != nil {
		configure(&cfg)
	}
	c, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() { c.Close(); srv.Close() })
	return &env{t: t, db: db, srv: srv, console: c, wo: wos[0], order: o, request: request, amy: amy.ID, bea: bea.ID}
}

// client is a browser without JavaScript: it keeps cookies and does not
// follow redirects, so that tests see them.
type client struct {
	e    *env
	http *http.Client
	lang string
}

func (e *env) client(lang string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, lang: lang, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, path string, form url.Values, header ...string) (*http.Response, string) {
	c.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%.600s", page)
	}
	return m[1]
}

func (c *client) login(user string) {
	c.e.t.Helper()
	_, page := c.do("GET", "/login", nil)
	res, body := c.do("POST", "/login", url.Values{"csrf": {csrfOf(c.e.t, page)}, "username": {user}, "password": {password}, "next": {"/"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		c.e.t.Fatalf("login %s: %d %s\n%.500s", user, res.StatusCode, res.Header.Get("Location"), body)
	}
}

// clean fails on what no page may show.
func clean(t *testing.T, path, page string) {
	t.Helper()
	for _, bad := range []string{"⟦", "template:", "<no value>", "%!"} {
		if i := strings.Index(page, bad); i >= 0 {
			t.Errorf("%s shows %q: …%s…", path, bad, page[max(0, i-150):min(len(page), i+150)])
		}
	}
}

func TestLogin_SessionCookieAndCSRF(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("en")
	// Signed out, pages send you to the login form.
	res, _ := c.do("GET", "/queue", nil)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?next=%2Fqueue") {
		t.Fatalf("signed-out GET /queue: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	_, page := c.do("GET", "/login", nil)
	token := csrfOf(t, page)
	// Without the token, a login is refused (a login CSRF).
	if res, _ := c.do("POST", "/login", url.Values{"username": {"admin"}, "password": {password}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("login without CSRF token: %d", res.StatusCode)
	}
	res, body := c.do("POST", "/login", url.Values{"csrf": {token}, "username": {"admin"}, "password": {"wrong password!"}})
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong user name or password.") {
		t.Fatalf("wrong password: %d\n%.400s", res.StatusCode, body)
	}
	res, _ = c.do("POST", "/login", url.Values{"csrf": {token}, "username": {"admin"}, "password": {password}, "next": {"//evil.example/"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("login with a foreign next: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "lianlu_session" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure || !strings.HasPrefix(session.Value, sqlstore.SessionPrefix) {
		t.Fatalf("session cookie %+v", session)
	}
	res, page = c.do("GET", "/", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("overview after login: %d", res.StatusCode)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	// A form of the session carries the session's token; the anonymous
	// one no longer works.
	if res, _ := c.do("POST", "/logout", url.Values{"csrf": {token}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("logout with the anonymous token: %d", res.StatusCode)
	}
	if res, _ := c.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, page)}}, "Origin", "http://evil.example"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("logout from another origin: %d", res.StatusCode)
	}
	if res, _ := c.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, page)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	// The session is gone from the database, not only from the browser.
	if _, _, err := sqlstore.NewSessionService(e.db).AuthenticateSession(context.Background(), session.Value); lianlu.ErrorCode(err) != lianlu.EUNAUTHORIZED {
		t.Fatalf("session after logout: %v", err)
	}
}

// Sign-in attempts are limited per client address and failures per user
// name; a refused attempt is answered 429 without checking the password,
// and the limits refill with time.
func TestLogin_LimitsAttempts(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	e := newEnvWith(t, "", func(cfg *web.Config) {
		cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		cfg.LoginIPRate, cfg.LoginIPBurst = rate.Every(time.Minute), 6
		cfg.LoginFailRate, cfg.LoginFailBurst = rate.Every(time.Minute), 3
	})
	c := e.client("en")
	_, page := c.do("GET", "/login", nil)
	token := csrfOf(t, page)
	attempt := func(user, pw string) (int, string) {
		res, body := c.do("POST", "/login", url.Values{"csrf": {token}, "username": {user}, "password": {pw}})
		if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		return res.StatusCode, body
	}
	for i := range 3 {
		if got, _ := attempt("agent", "wrong password!"); got != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, got)
		}
	}
	// Three failures for agent: even the right password is refused,
	// unchecked, in both languages.
	got, body := attempt("Agent", password)
	if got != http.StatusTooManyRequests || !strings.Contains(body, "Too many sign-in attempts") {
		t.Fatalf("after 3 failures: %d\n%.400s", got, body)
	}
	zh := e.client("zh-CN")
	_, zhPage := zh.do("GET", "/login", nil)
	if res, body := zh.do("POST", "/login", url.Values{"csrf": {csrfOf(t, zhPage)}, "username": {"agent"}, "password": {password}}); res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "登录尝试过于频繁") {
		t.Fatalf("zh-CN after 3 failures: %d\n%.400s", res.StatusCode, body)
	}
	// Other accounts are not locked by agent's failures, until the
	// address has used its six attempts (3 + 2 refused + this one).
	other := e.client("en")
	_, otherPage := other.do("GET", "/login", nil)
	if res, _ := other.do("POST", "/login", url.Values{"csrf": {csrfOf(t, otherPage)}, "username": {"watcher"}, "password": {password}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("another user: %d", res.StatusCode)
	}
	if got, _ := attempt("watcher", password); got != http.StatusTooManyRequests {
		t.Fatalf("seventh attempt from one address: %d", got)
	}
	// A minute later the address has a token again and agent one failure
	// more to spend: the right password works.
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if got, body := attempt("agent", password); got != http.StatusSeeOther {
		t.Fatalf("a minute later: %d\n%.400s", got, body)
	}
}

func TestLogin_SecureCookieBehindHTTPS(t *testing.T) {
	e := newEnv(t, "https://ops.example.com")
	c := e.client("en")
	_, page := c.do("GET", "/login", nil)
	req, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(url.Values{"csrf": {csrfOf(t, page)}, "username": {"admin"}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// The proxy passes the browser's Origin, the base URL's.
	req.Header.Set("Origin", "https://ops.example.com")
	// The jar holds the CSRF cookie as set (Secure), which a plain-HTTP
	// test server does not send back: send it by hand.
	for _, ck := range c.http.Jar.Cookies(mustURL(e.srv.URL)) {
		req.AddCookie(ck)
	}
	if !strings.Contains(req.Header.Get("Cookie"), "lianlu_csrf") {
		req.AddCookie(&http.Cookie{Name: "lianlu_csrf", Value: csrfOf(t, page)})
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.Name == "lianlu_session" && ck.Secure {
			return
		}
	}
	t.Fatalf("behind an https base URL the session cookie must be Secure: %d %v", res.StatusCode, res.Cookies())
}

func mustURL(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}

// TestPages_BothLanguages renders every page in both languages (the
// console runs in strict mode: a missing message fails the page).
func TestPages_BothLanguages(t *testing.T) {
	e := newEnv(t, "")
	paths := []string{"/", "/queue", "/queue?department=supply_chain", "/queue?department=stores", "/orders", "/orders/1", "/feedback", "/feedback/1",
		"/stores", "/stores/S-1", "/stores/S-2", "/stores/S-3", "/members", "/members/1", "/members/" + itoa(e.amy), "/members?q=13812345678", "/members?q=nonsense",
		"/offers", "/events", "/events?type=order.", "/flows", "/flows/order_placed"}
	for _, lang := range []struct{ accept, html, nav string }{{"en-US,en;q=0.9", "en", "Overview"}, {"zh-CN,zh;q=0.9", "zh-CN", "概览"}} {
		c := e.client(lang.accept)
		c.login("admin")
		for _, p := range paths {
			res, page := c.do("GET", p, nil)
			if res.StatusCode == http.StatusSeeOther {
				res, page = c.do("GET", res.Header.Get("Location"), nil)
			}
			if res.StatusCode != http.StatusOK {
				t.Errorf("%s %s: %d\n%.500s", lang.html, p, res.StatusCode, page)
				continue
			}
			if !strings.Contains(page, `<html lang="`+lang.html+`">`) || !strings.Contains(page, lang.nav) {
				t.Errorf("%s %s is not in %s", lang.html, p, lang.html)
			}
			clean(t, lang.html+" "+p, page)
		}
		// 404 in this language.
		res, page := c.do("GET", "/no/such/page", nil)
		want := map[string]string{"en": "Page not found", "zh-CN": "页面不存在"}[lang.html]
		if res.StatusCode != http.StatusNotFound || !strings.Contains(page, want) {
			t.Errorf("%s 404 page: %d", lang.html, res.StatusCode)
		}
		clean(t, "404", page)
	}
}

func TestLanguage_CookieWinsOverAcceptLanguage(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("zh-CN")
	_, page := c.do("GET", "/login", nil)
	if !strings.Contains(page, `<html lang="zh-CN">`) {
		t.Fatal("Accept-Language zh-CN did not choose Chinese")
	}
	res, _ := c.do("POST", "/lang", url.Values{"csrf": {csrfOf(t, page)}, "lang": {"en"}, "next": {"/login"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("switch: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if _, page = c.do("GET", "/login", nil); !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, "Sign in") {
		t.Fatal("the chosen language did not stick")
	}
	if res, _ := c.do("POST", "/lang", url.Values{"csrf": {csrfOf(t, page)}, "lang": {"fr"}}); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown language: %d", res.StatusCode)
	}
}

// TestRoles: a viewer sees no operator buttons and its POSTs are refused
// with 403; an operator acts only on its own department's queue.
func TestRoles_ViewerCannotOperate(t *testing.T) {
	e := newEnv(t, "")
	accept := "/workorders/" + itoa(e.wo.ID) + "/accept"

	viewer := e.client("en")
	viewer.login("watcher")
	_, page := viewer.do("GET", "/queue", nil)
	if !strings.Contains(page, `id="wo-`+itoa(e.wo.ID)+`"`) {
		t.Fatalf("the viewer does not see its department's work order")
	}
	if strings.Contains(page, `data-action=`) || strings.Contains(page, `action="/workorders/`) {
		t.Fatal("a viewer sees operator buttons")
	}
	if res, _ := viewer.do("POST", accept, url.Values{"csrf": {csrfOf(t, page)}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer accept: %d", res.StatusCode)
	}
	if _, page = viewer.do("GET", "/flows/order_placed", nil); strings.Contains(page, `<textarea`) {
		t.Fatal("a viewer gets the flow editor")
	}
	if res, _ := viewer.do("POST", "/flows/order_placed", url.Values{"csrf": {csrfOf(t, page)}, "yaml": {"x"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer flow edit: %d", res.StatusCode)
	}

	other := e.client("en")
	other.login("picker")
	if res, _ := other.do("GET", "/queue?department=service", nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("another department's queue: %d", res.StatusCode)
	}
	_, page = other.do("GET", "/queue", nil)
	if res, _ := other.do("POST", accept, url.Values{"csrf": {csrfOf(t, page)}}); res.StatusCode != http.StatusNotFound {
		t.Fatalf("operator of another department accepting: %d", res.StatusCode)
	}
	if wo, _ := sqlstore.NewWorkOrderService(e.db).FindWorkOrderByID(context.Background(), e.wo.ID); wo.Status != lianlu.WorkOrderOpen {
		t.Fatalf("refused accepts changed the work order: %+v", wo)
	}

	agent := e.client("en")
	agent.login("agent")
	_, page = agent.do("GET", "/queue", nil)
	res, _ := agent.do("POST", accept, url.Values{"csrf": {csrfOf(t, page)}, "back": {"/queue?department=service"}})
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "done=accepted") {
		t.Fatalf("agent accept: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = agent.do("POST", "/workorders/"+itoa(e.wo.ID)+"/contact", url.Values{"csrf": {csrfOf(t, page)}, "channel": {"phone"}, "note": {"约好送货时间"}})
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "done=contacted") {
		t.Fatalf("agent records a contact: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if _, page = agent.do("GET", res.Header.Get("Location"), nil); !strings.Contains(page, "Contact recorded on work order #"+itoa(e.wo.ID)) ||
		!strings.Contains(page, "customer first contacted") {
		t.Fatalf("queue after the contact:\n%.3000s", page)
	}
	if res, _ := agent.do("POST", "/workorders/"+itoa(e.wo.ID)+"/contact", url.Values{"csrf": {csrfOf(t, page)}, "channel": {"fax"}}); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("contact by an unknown channel: %d", res.StatusCode)
	}
	res, _ = agent.do("POST", "/workorders/"+itoa(e.wo.ID)+"/resolve", url.Values{"csrf": {csrfOf(t, page)}, "resolution_code": {"contacted"}, "note": {"打过电话"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("agent resolve: %d", res.StatusCode)
	}
	wo, _ := sqlstore.NewWorkOrderService(e.db).FindWorkOrderByID(context.Background(), e.wo.ID)
	if wo.Status != lianlu.WorkOrderResolved || wo.Assignee != "agent" || wo.ResolutionNote != "打过电话" || wo.ContactedAt == nil {
		t.Fatalf("after the agent's actions: %+v", wo)
	}
	// The events name the console user.
	es, _ := sqlstore.NewEventService(e.db).FindEvents(context.Background(), lianlu.EventFilter{Types: []string{"workorder.resolved"}})
	if len(es) != 1 || es[0].Actor != "user:agent" {
		t.Fatalf("workorder.resolved events: %+v", es)
	}
}

func TestFlows_EditWithValidationNextToTheText(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("en")
	c.login("admin")
	_, page := c.do("GET", "/flows/order_placed", nil)
	token := csrfOf(t, page)
	cur, err := flow.NewService(e.db, nil).Get(context.Background(), "order_placed")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(cur.YAML, "to: supply_chain", "to: warehouse_team", 1)
	res, page := c.do("POST", "/flows/order_placed", url.Values{"csrf": {token}, "yaml": {bad}, "version": {itoa(int64(cur.Version))}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "flows[order_placed].steps[0].to") || !strings.Contains(page, "warehouse_team") {
		t.Fatalf("invalid edit: %d\n%.2000s", res.StatusCode, page)
	}
	clean(t, "flow with problems", page)
	good := strings.Replace(cur.YAML, "sla: 2h", "sla: 3h", 1)
	res, _ = c.do("POST", "/flows/order_placed", url.Values{"csrf": {token}, "yaml": {good}, "version": {itoa(int64(cur.Version))}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("valid edit: %d", res.StatusCode)
	}
	// A second save on the old version is a conflict, shown as such.
	res, page = c.do("POST", "/flows/order_placed", url.Values{"csrf": {token}, "yaml": {cur.YAML}, "version": {itoa(int64(cur.Version))}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Someone else saved this flow") {
		t.Fatalf("stale edit: %d", res.StatusCode)
	}
	entries, _ := sqlstore.NewAccessService(e.db).FindAuditEntries(context.Background(), 0, 10)
	if len(entries) == 0 || entries[0].Action != "flow.updated" || entries[0].Actor != "user:admin" {
		t.Fatalf("the edit is not audited as the console user: %+v", entries)
	}
}

// TestLive: the script's refresh gets only the live region, and the change
// feed says when events are appended.
func TestLive_RegionAndChangeFeed(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("en")
	c.login("admin")
	res, region := c.do("GET", "/queue?department=service", nil, "X-Lianlu-Live", "1")
	if res.StatusCode != http.StatusOK || strings.Contains(region, "<html") || !strings.Contains(region, `id="wo-`) {
		t.Fatalf("live region: %d\n%.300s", res.StatusCode, region)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/live", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req = req.WithContext(ctx)
	live, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Body.Close()
	if live.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("live: %d %s", live.StatusCode, live.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(live.Body)
	sc.Scan() // retry: written after the stream has read the log's head
	go func() {
		if _, err := sqlstore.NewEventService(e.db).AppendEvents(context.Background(), []lianlu.Event{{ID: "x-1", Source: "test", Type: "test.happened", Department: "sales"}}); err != nil {
			t.Error(err)
		}
	}()
	for sc.Scan() {
		if sc.Text() == "event: changed" {
			return
		}
	}
	t.Fatalf("no change notice: %v", sc.Err())
}

// TestLive_SignedOutIsRefused: the feed says 401 rather than redirecting,
// so that the script stops.
func TestLive_SignedOutIsRefused(t *testing.T) {
	e := newEnv(t, "")
	if res, _ := e.client("en").do("GET", "/live", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("signed-out /live: %d", res.StatusCode)
	}
}

func TestErrorPage_500InBothLanguages(t *testing.T) {
	e := newEnv(t, "")
	clients := map[string]*client{"Something went wrong": e.client("en"), "出错了": e.client("zh-CN")}
	for _, c := range clients {
		c.login("admin")
	}
	e.db.Close() // the database goes away under the console
	for want, c := range clients {
		res, page := c.do("GET", "/orders", nil)
		if res.StatusCode != http.StatusInternalServerError || !strings.Contains(page, want) {
			t.Errorf("%s: %d\n%.400s", c.lang, res.StatusCode, page)
		}
		if strings.Contains(page, "sql") || strings.Contains(page, "closed") {
			t.Errorf("the 500 page shows the internal error:\n%s", page)
		}
		clean(t, "500", page)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func ptr[T any](v T) *T { return &v }
