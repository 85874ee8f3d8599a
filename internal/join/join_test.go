package join

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

func newTestServer(t *testing.T, tweak func(*Config)) *httptest.Server {
	t.Helper()
	db := sqlstoretest.MustOpen(t, "sqlite", sqlstore.Options{})
	stores := sqlstore.NewStoreService(db)
	ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{Name: "t", Department: "stores", Role: lianlu.RoleAdmin})
	name := "Jing'an <flagship>"
	if _, _, err := stores.CreateStore(ctx, lianlu.StoreInput{Code: "SH-01", Name: &name, Staff: []lianlu.StaffMember{{Code: "E1", Name: "Amy"}}}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Members: sqlstore.NewMemberService(db), Stores: stores, Key: []byte(strings.Repeat("k", 32))}
	if tweak != nil {
		tweak(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

var tokenRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar}, base: base}
}

func (b *browser) get(path, acceptLanguage string) (int, string) {
	req, _ := http.NewRequest("GET", b.base+path, nil)
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func (b *browser) token() string {
	_, page := b.get("/j/SH-01", "")
	m := tokenRe.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no token in %s", page)
	}
	return m[1]
}

func (b *browser) post(form url.Values) (int, string) {
	res, err := b.c.PostForm(b.base+"/j/SH-01", form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func TestJoinPageLanguage(t *testing.T) {
	srv := newTestServer(t, nil)
	b := newBrowser(t, srv.URL)
	for _, tc := range []struct{ path, accept, want string }{
		{"/j/SH-01", "", "加入会员"},
		{"/j/SH-01", "en-GB,en;q=0.9", "Join the membership"},
		{"/j/SH-01", "zh-TW,zh;q=0.9", "加入会员"},
		{"/j/SH-01", "fr-FR", "加入会员"},
		{"/j/SH-01?lang=en", "zh-CN", "Join the membership"},
		{"/j/SH-01?lang=zh-CN&s=E1", "en", "加入会员"},
	} {
		status, page := b.get(tc.path, tc.accept)
		if status != 200 || !strings.Contains(page, tc.want) {
			t.Errorf("%s (%s): %d, want %q", tc.path, tc.accept, status, tc.want)
		}
	}
	_, page := b.get("/j/SH-01?s=E1", "en")
	if !strings.Contains(page, `href="/j/SH-01?lang=zh-CN&amp;s=E1"`) || !strings.Contains(page, `name="s" value="E1"`) {
		t.Errorf("switch link or staff field missing:\n%s", page)
	}
	if !strings.Contains(page, "Jing&#39;an &lt;flagship&gt;") {
		t.Error("store name not escaped")
	}
	if status, _ := b.get("/j/NOPE", ""); status != 404 {
		t.Errorf("unknown store: %d", status)
	}
}

func TestJoinPageCSRF(t *testing.T) {
	srv := newTestServer(t, nil)
	b := newBrowser(t, srv.URL)
	tok := b.token()
	// Another site posting into the visitor's browser has her cookie but
	// not a token signed for it.
	if status, _ := b.post(url.Values{"phone": {"13800138000"}}); status != 403 {
		t.Fatalf("no token: %d", status)
	}
	if status, _ := b.post(url.Values{"phone": {"13800138000"}, "csrf": {tok + "x"}}); status != 403 {
		t.Fatalf("forged token: %d", status)
	}
	// A token without its cookie is refused too.
	if status, _ := newBrowser(t, srv.URL).post(url.Values{"phone": {"13800138000"}, "csrf": {tok}}); status != 403 {
		t.Fatalf("token without cookie: %d", status)
	}
	if status, page := b.post(url.Values{"phone": {"13800138000"}, "csrf": {tok}, "consent": {"yes"}}); status != 200 || !strings.Contains(page, "欢迎加入") {
		t.Fatalf("valid token: %d %s", status, page)
	}
	if status, page := b.post(url.Values{"phone": {"12345"}, "csrf": {tok}, "lang": {"en"}}); status != 400 || !strings.Contains(page, "valid phone number") {
		t.Fatalf("bad phone: %d %s", status, page)
	}
}

func TestJoinPageRateLimits(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	srv := newTestServer(t, func(c *Config) {
		c.IPRate, c.IPBurst = rate.Every(time.Minute), 3
		c.PhoneRate, c.PhoneBurst = rate.Every(time.Hour), 2
		c.Now = func() time.Time { return now }
	})
	b := newBrowser(t, srv.URL)
	tok := b.token()
	post := func(phone string) int {
		s, _ := b.post(url.Values{"phone": {phone}, "csrf": {tok}})
		return s
	}
	// Per phone: two joins, then 429 for that number only.
	if post("13800138000") != 200 || post("13800138000") != 200 || post("13800138000") != 429 {
		t.Fatal("per-phone limit not applied")
	}
	// Per IP: the burst of 3 is spent (the third was refused per phone,
	// after the IP's token was taken).
	if s := post("13900139000"); s != 429 {
		t.Fatalf("per-IP limit: %d", s)
	}
	now = now.Add(time.Minute)
	if s := post("13900139000"); s != 200 {
		t.Fatalf("after a minute: %d", s)
	}
}

func (b *browser) postWith(path string, form url.Values, header map[string]string) (int, string) {
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// TestJoinPageConsentOnlyExplicitYes: only an explicit affirmative value
// grants marketing consent; "no", empty, missing and garbage do not.
func TestJoinPageConsentOnlyExplicitYes(t *testing.T) {
	var members lianlu.MemberService
	srv := newTestServer(t, func(c *Config) {
		members = c.Members
		c.IPRate, c.IPBurst = rate.Inf, 100
	})
	b := newBrowser(t, srv.URL)
	tok := b.token()
	for i, tc := range []struct {
		name    string
		consent []string // nil: the field is missing
		want    bool
	}{
		{"no", []string{"no"}, false},
		{"false", []string{"false"}, false},
		{"empty", []string{""}, false},
		{"missing", nil, false},
		{"garbage", []string{"maybe"}, false},
		{"yes", []string{"yes"}, true},
	} {
		phone := fmt.Sprintf("1380013800%d", i)
		form := url.Values{"phone": {phone}, "csrf": {tok}}
		if tc.consent != nil {
			form["consent"] = tc.consent
		}
		if status, page := b.post(form); status != 200 {
			t.Fatalf("%s: %d %s", tc.name, status, page)
		}
		m, err := members.FindMemberByIdentity(context.Background(), lianlu.IdentityPhone, "", phone)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.HasConsent(lianlu.ConsentMarketing); got != tc.want {
			t.Errorf("consent=%v: granted %v, want %v (consents %+v)", tc.consent, got, tc.want, m.Consents)
		}
	}
	// The form's checkbox sends the affirmative value.
	_, page := b.get("/j/SH-01", "")
	if !strings.Contains(page, `name="consent" value="yes"`) {
		t.Error("the consent checkbox does not send yes")
	}
}

// TestJoinPageRefusesCrossOriginPost: a post from another site is refused
// even with a valid token and cookie.
func TestJoinPageRefusesCrossOriginPost(t *testing.T) {
	srv := newTestServer(t, func(c *Config) {
		c.BaseURL = "https://join.example.com"
		c.IPRate, c.IPBurst = rate.Inf, 100
		c.PhoneRate, c.PhoneBurst = rate.Inf, 100
	})
	b := newBrowser(t, srv.URL)
	tok := b.token()
	form := func(phone string) url.Values { return url.Values{"phone": {phone}, "csrf": {tok}, "consent": {"yes"}} }
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, 403},
		{"null origin", map[string]string{"Origin": "null"}, 403},
		{"foreign referer", map[string]string{"Referer": "https://evil.example/page"}, 403},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same host", map[string]string{"Origin": srv.URL}, 200},
		{"same host referer", map[string]string{"Referer": srv.URL + "/j/SH-01"}, 200},
		{"base url", map[string]string{"Origin": "https://join.example.com"}, 200},
		{"same origin fetch", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "null"}, 200},
		{"no browser headers", nil, 200},
	} {
		status, page := b.postWith("/j/SH-01", form("13900139000"), tc.header)
		if status == 429 {
			t.Fatalf("%s: rate limited", tc.name)
		}
		if status != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, status, tc.want)
		}
		if tc.want == 403 && !strings.Contains(page, "加入会员") {
			t.Errorf("%s: the refusal is not the page: %s", tc.name, page)
		}
	}
}

// TestJoinPageWithdrawConsent: in the browser she joined with, a member
// withdraws her marketing consent (and may give it again); another browser
// may not.
func TestJoinPageWithdrawConsent(t *testing.T) {
	var members lianlu.MemberService
	srv := newTestServer(t, func(c *Config) { members = c.Members })
	b := newBrowser(t, srv.URL)
	tok := b.token()
	if status, page := b.post(url.Values{"phone": {"13800138000"}, "csrf": {tok}, "consent": {"yes"}, "lang": {"en"}}); status != 200 ||
		!strings.Contains(page, "Stop receiving offers") {
		t.Fatalf("join: %d %s", status, page)
	}
	consent := func() bool {
		m, err := members.FindMemberByIdentity(context.Background(), lianlu.IdentityPhone, "", "13800138000")
		if err != nil {
			t.Fatal(err)
		}
		return m.HasConsent(lianlu.ConsentMarketing)
	}
	if !consent() {
		t.Fatal("no consent after joining with yes")
	}
	// Someone else's browser cannot withdraw (or give) her consent.
	other := newBrowser(t, srv.URL)
	otherTok := other.token()
	if status, _ := other.postWith("/j/SH-01/consent", url.Values{"csrf": {otherTok}, "consent": {"no"}}, nil); status != 403 || !consent() {
		t.Fatalf("another browser withdrew: %d", status)
	}
	if status, _ := b.postWith("/j/SH-01/consent", url.Values{"csrf": {tok}, "consent": {"no"}}, map[string]string{"Origin": "https://evil.example"}); status != 403 || !consent() {
		t.Fatalf("cross-origin withdrawal: %d", status)
	}
	status, page := b.postWith("/j/SH-01/consent", url.Values{"csrf": {tok}, "consent": {"no"}, "lang": {"en"}}, nil)
	if status != 200 || !strings.Contains(page, "You do not receive offers") || consent() {
		t.Fatalf("withdraw: %d consent=%v %s", status, consent(), page)
	}
	m, _ := members.FindMemberByIdentity(context.Background(), lianlu.IdentityPhone, "", "13800138000")
	if last := m.Consents[len(m.Consents)-1]; last.Granted || last.Channel != "join_page" || last.At.IsZero() {
		t.Errorf("withdrawal recorded as %+v", last)
	}
	if status, _ := b.postWith("/j/SH-01/consent", url.Values{"csrf": {tok}, "consent": {"yes"}}, nil); status != 200 || !consent() {
		t.Fatalf("consent again: %d", status)
	}
}
