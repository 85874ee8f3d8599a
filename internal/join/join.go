// Package join serves the public membership join page that store QR codes
// point at: GET /j/{store} shows a mobile-first form in Chinese or English,
// POST /j/{store} joins the visitor (phone number and marketing consent) and
// shows her inbox of offers in the browser she joined with (a signed member
// cookie), never to another browser that merely types her number. There
// she can also withdraw her marketing consent (POST /j/{store}/consent),
// which stops offers at once, or give it again. It also renders the QR
// codes themselves.
//
// Consent is granted only by an explicit yes (lianlu.ParseConsent): the
// checkbox sends "yes"; "no", an empty or a missing value is no consent.
//
// The page is public, so it defends itself: posts from another origin are
// refused (Sec-Fetch-Site, else Origin, else Referer must name this host or
// the configured base URL), a signed double-submit CSRF token (an HMAC of a
// random cookie value under a server key), per-IP and per-phone rate limits
// with bounded memory, strict security headers and a small body limit. Its templates and messages are its own (templates/ and
// i18n.go), apart from the console's.
package join

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/ratelimit"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

//go:embed templates/*.html
var templateFS embed.FS

// Inbox reads the offers stored for a member (the offers capability's
// inbox channel).
type Inbox interface {
	InboxFor(ctx context.Context, memberID int64, limit int) ([]lianlu.InboxMessage, error)
}

// Config configures the join page. Zero limits take the defaults.
type Config struct {
	Members lianlu.MemberService
	Stores  lianlu.StoreService
	// Inbox, when set, shows the member's offers after she joins.
	Inbox Inbox
	// Key signs CSRF tokens; at least 32 bytes (required).
	Key []byte
	// PhoneRegion reads national phone numbers for the per-phone limit
	// (default CN).
	PhoneRegion string
	// SecureCookie marks the CSRF cookie Secure (serve over https).
	SecureCookie bool
	// BaseURL is the public base URL of the page (config base URL, such as
	// https://ops.example.com): posts whose Origin is its origin are
	// accepted even when a proxy changed the Host header. Posts from the
	// request's own host are accepted too; all others are refused.
	BaseURL string
	// IPRate and IPBurst limit joins per client IP (default 10 a minute,
	// bursts of 5).
	IPRate  rate.Limit
	IPBurst int
	// PhoneRate and PhoneBurst limit joins per phone number (default 5 an
	// hour, bursts of 3).
	PhoneRate  rate.Limit
	PhoneBurst int
	// MaxTracked bounds the IPs and phones each limiter remembers (default
	// 10,000).
	MaxTracked int
	Logger     *slog.Logger
	// Now is the limiters' clock (default time.Now).
	Now func() time.Time
}

// Handler serves /j/{store}.
type Handler struct {
	cfg    Config
	tmpl   *template.Template
	mux    *http.ServeMux
	ips    *ratelimit.Keyed
	phones *ratelimit.Keyed
	// origins refuses cross-origin posts (the standard library's check of
	// Sec-Fetch-Site and Origin); trusted holds the base URL's origin.
	origins *http.CrossOriginProtection
	trusted string
}

// cookieName holds the CSRF nonce.
const cookieName = "lianlu_join"

// memberCookieName holds the signed id of the member who joined in this
// browser: the page shows her inbox only there. Visitors identify by phone
// without a one-time code, so whoever types a number must not see that
// member's offers and coupon codes.
const memberCookieName = "lianlu_member"

// memberCookieAge is how long a browser stays signed in to the inbox.
const memberCookieAge = 180 * 24 * time.Hour

// maxFormBytes bounds a join form body.
const maxFormBytes = 4 << 10

// New checks the configuration and parses the templates.
func New(cfg Config) (*Handler, error) {
	if len(cfg.Key) < 32 {
		return nil, lianlu.Errorf(lianlu.EINVALID, "join: the CSRF key must be at least 32 bytes")
	}
	if cfg.Members == nil || cfg.Stores == nil {
		return nil, lianlu.Errorf(lianlu.EINVALID, "join: members and stores are required")
	}
	if cfg.PhoneRegion == "" {
		cfg.PhoneRegion = sqlstore.DefaultPhoneRegion
	}
	if cfg.IPRate <= 0 {
		cfg.IPRate, cfg.IPBurst = rate.Every(6*time.Second), 5
	}
	if cfg.PhoneRate <= 0 {
		cfg.PhoneRate, cfg.PhoneBurst = rate.Every(12*time.Minute), 3
	}
	if cfg.IPBurst <= 0 {
		cfg.IPBurst = 1
	}
	if cfg.PhoneBurst <= 0 {
		cfg.PhoneBurst = 1
	}
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = 10_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t, err := template.New("join.html").Funcs(template.FuncMap{"t": func(m map[string]string, k string) string { return m[k] }}).
		ParseFS(templateFS, "templates/join.html")
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, tmpl: t, mux: http.NewServeMux(),
		ips: ratelimit.New(cfg.IPRate, cfg.IPBurst, cfg.MaxTracked), phones: ratelimit.New(cfg.PhoneRate, cfg.PhoneBurst, cfg.MaxTracked),
		origins: http.NewCrossOriginProtection()}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, lianlu.Errorf(lianlu.EINVALID, "join: the base URL must be an absolute http(s) URL")
		}
		h.trusted = u.Scheme + "://" + u.Host
		if err := h.origins.AddTrustedOrigin(h.trusted); err != nil {
			return nil, lianlu.Errorf(lianlu.EINVALID, "join: base URL: %v", err)
		}
	}
	h.mux.HandleFunc("GET /j/{store}", h.get)
	h.mux.HandleFunc("POST /j/{store}", h.post)
	h.mux.HandleFunc("POST /j/{store}/consent", h.postConsent)
	return h, nil
}

// ServeHTTP serves the join page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// page is the template's data.
type page struct {
	Lang      string
	T         map[string]string
	Switch    string // URL of the page in the other language
	SwitchTo  string // name of the other language
	Store     lianlu.Store
	Staff     string
	CSRF      string
	Phone     string
	Consent   bool
	Error     string
	Done      bool
	First     bool
	Offers    []lianlu.InboxMessage
	HasOffers bool
	// ShowInbox is set when this browser is the member's (it holds her
	// member cookie); Hidden counts the offers not shown otherwise.
	ShowInbox bool
	Hidden    int
	// Owner is set in the member's own browser: it shows her marketing
	// consent (Subscribed) with the form that withdraws it or gives it
	// again.
	Owner      bool
	Subscribed bool
	// ConsentChanged confirms a withdrawal or a new consent.
	ConsentChanged bool
}

func (h *Handler) newPage(w http.ResponseWriter, r *http.Request, st lianlu.Store) page {
	lang := chooseLang(r)
	p := page{Lang: lang, T: messages[lang], Store: st, Staff: r.URL.Query().Get("s")}
	if r.Method == http.MethodPost {
		p.Staff = r.PostFormValue("s")
	}
	other := langEN
	if lang == langEN {
		other = langZH
	}
	q := r.URL.Query()
	q.Set("lang", other)
	if p.Staff != "" {
		q.Set("s", p.Staff)
	}
	p.Switch = "/j/" + st.Code + "?" + q.Encode()
	p.SwitchTo = messages[other]["language_name"]
	p.CSRF = h.csrfToken(w, r)
	return p
}

func (h *Handler) render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := h.tmpl.Execute(w, p); err != nil {
		h.cfg.Logger.Error("join page template failed", slog.Any("error", err))
	}
}

func (h *Handler) store(w http.ResponseWriter, r *http.Request) (lianlu.Store, bool) {
	st, err := h.cfg.Stores.FindStoreByCode(r.Context(), r.PathValue("store"))
	if err == nil && st.Active {
		return st, true
	}
	if err != nil && lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
		h.cfg.Logger.Error("join page: find store", slog.Any("error", err))
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return st, false
	}
	lang := chooseLang(r)
	h.render(w, http.StatusNotFound, page{Lang: lang, T: messages[lang], Error: messages[lang]["err_store"]})
	return st, false
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	st, ok := h.store(w, r)
	if !ok {
		return
	}
	p := h.newPage(w, r, st)
	if id := h.memberFromCookie(r); id != 0 {
		h.fillInbox(r.Context(), &p, id, true)
		p.Owner = true
		h.fillConsent(r.Context(), &p, id)
	}
	h.render(w, http.StatusOK, p)
}

// fillInbox puts the member's offers on the page when the browser is hers,
// and only their number otherwise.
func (h *Handler) fillInbox(ctx context.Context, p *page, memberID int64, owner bool) {
	if h.cfg.Inbox == nil {
		return
	}
	offers, err := h.cfg.Inbox.InboxFor(ctx, memberID, 20)
	if err != nil {
		h.cfg.Logger.Error("join page: inbox", slog.Any("error", err))
		return
	}
	if owner {
		p.ShowInbox, p.Offers, p.HasOffers = true, offers, len(offers) > 0
	} else {
		p.Hidden = len(offers)
	}
}

// fillConsent puts the member's marketing consent on her own page.
func (h *Handler) fillConsent(ctx context.Context, p *page, memberID int64) {
	m, err := h.cfg.Members.FindMemberByID(ctx, memberID)
	if err != nil {
		h.cfg.Logger.Error("join page: member", slog.Any("error", err))
		return
	}
	p.Subscribed = m.HasConsent(lianlu.ConsentMarketing)
}

// setMemberCookie signs the browser in to memberID's inbox.
func (h *Handler) setMemberCookie(w http.ResponseWriter, memberID int64) {
	exp := h.cfg.Now().Add(memberCookieAge).Unix()
	v := strconv.FormatInt(memberID, 10) + "." + strconv.FormatInt(exp, 10)
	http.SetCookie(w, &http.Cookie{Name: memberCookieName, Value: v + "." + h.signMember(v), Path: "/j/", HttpOnly: true,
		Secure: h.cfg.SecureCookie, SameSite: http.SameSiteLaxMode, MaxAge: int(memberCookieAge / time.Second)})
}

// memberFromCookie returns the member the browser is signed in as, or 0.
func (h *Handler) memberFromCookie(r *http.Request) int64 {
	c, err := r.Cookie(memberCookieName)
	if err != nil || len(c.Value) > 128 {
		return 0
	}
	i := strings.LastIndexByte(c.Value, '.')
	if i < 0 || !hmac.Equal([]byte(c.Value[i+1:]), []byte(h.signMember(c.Value[:i]))) {
		return 0
	}
	idText, expText, ok := strings.Cut(c.Value[:i], ".")
	id, err1 := strconv.ParseInt(idText, 10, 64)
	exp, err2 := strconv.ParseInt(expText, 10, 64)
	if !ok || err1 != nil || err2 != nil || id <= 0 || h.cfg.Now().Unix() > exp {
		return 0
	}
	return id
}

func (h *Handler) signMember(v string) string {
	m := hmac.New(sha256.New, h.cfg.Key)
	m.Write([]byte("join-member|" + v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	st, ok := h.store(w, r)
	if !ok {
		return
	}
	valid := h.checkCSRF(r)
	p := h.newPage(w, r, st)
	p.Phone, p.Consent = strings.TrimSpace(r.PostFormValue("phone")), lianlu.ParseConsent(r.PostFormValue("consent"))
	fail := func(status int, key string) {
		p.Error = p.T[key]
		h.render(w, status, p)
	}
	if !h.sameOrigin(r) {
		fail(http.StatusForbidden, "err_origin")
		return
	}
	if !valid {
		fail(http.StatusForbidden, "err_csrf")
		return
	}
	now := h.cfg.Now()
	if !h.ips.Allow(ratelimit.ClientIP(r), now) {
		w.Header().Set("Retry-After", "60")
		fail(http.StatusTooManyRequests, "err_rate")
		return
	}
	phone, err := sqlstore.NormalizePhone(p.Phone, h.cfg.PhoneRegion)
	if err != nil {
		fail(http.StatusBadRequest, "err_phone")
		return
	}
	if !h.phones.Allow(phone, now) {
		w.Header().Set("Retry-After", "600")
		fail(http.StatusTooManyRequests, "err_rate")
		return
	}
	ctx := lianlu.NewContextWithPrincipal(r.Context(), lianlu.Principal{Name: "join:" + st.Code, Department: lianlu.DeptStores, Role: lianlu.RoleOperator})
	res, err := h.cfg.Members.Join(ctx, lianlu.JoinRequest{Store: st.Code, Staff: p.Staff, Phone: phone, Consent: p.Consent, Locale: p.Lang})
	switch {
	case lianlu.ErrorCode(err) == lianlu.EINVALID:
		fail(http.StatusBadRequest, "err_phone")
		return
	case err != nil:
		h.cfg.Logger.Error("join failed", slog.String("store", st.Code), slog.Any("error", err))
		fail(http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	p.Done, p.First, p.Phone = true, res.First, ""
	// The browser that created the member is hers; any other browser that
	// types the same number records a visit but sees no offers.
	owner := res.First || h.memberFromCookie(r) == res.Member.ID
	if owner {
		h.setMemberCookie(w, res.Member.ID)
		p.Owner, p.Subscribed = true, res.Member.HasConsent(lianlu.ConsentMarketing)
	}
	h.fillInbox(ctx, &p, res.Member.ID, owner)
	h.render(w, http.StatusOK, p)
}

// postConsent withdraws the marketing consent of the member this browser
// belongs to (any value but an explicit yes), or gives it again (yes). Only
// her own browser, signed in by the member cookie, may.
func (h *Handler) postConsent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	st, ok := h.store(w, r)
	if !ok {
		return
	}
	valid := h.checkCSRF(r)
	p := h.newPage(w, r, st)
	fail := func(status int, key string) {
		p.Error = p.T[key]
		h.render(w, status, p)
	}
	if !h.sameOrigin(r) {
		fail(http.StatusForbidden, "err_origin")
		return
	}
	if !valid {
		fail(http.StatusForbidden, "err_csrf")
		return
	}
	id := h.memberFromCookie(r)
	if id == 0 {
		fail(http.StatusForbidden, "err_not_member")
		return
	}
	ctx := lianlu.NewContextWithPrincipal(r.Context(), lianlu.Principal{Name: "member:" + strconv.FormatInt(id, 10), Department: lianlu.DeptStores, Role: lianlu.RoleOperator})
	m, err := h.cfg.Members.SetConsent(ctx, id, lianlu.Consent{Purpose: lianlu.ConsentMarketing, Granted: lianlu.ParseConsent(r.PostFormValue("consent")),
		Channel: "join_page", Store: st.Code})
	if err != nil {
		h.cfg.Logger.Error("join page: consent", slog.String("store", st.Code), slog.Any("error", err))
		fail(http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	p.Owner, p.ConsentChanged, p.Subscribed = true, true, m.HasConsent(lianlu.ConsentMarketing)
	h.fillInbox(ctx, &p, id, true)
	h.render(w, http.StatusOK, p)
}

// sameOrigin reports whether a post comes from this site: the standard
// library's cross-origin check (Sec-Fetch-Site, else Origin against the
// Host or the base URL), and, when a browser sent neither header, a
// Referer, if any, of this host or the base URL. Clients that send none of
// them are not browsers and carry no visitor's cookies.
func (h *Handler) sameOrigin(r *http.Request) bool {
	if h.origins.Check(r) != nil {
		return false
	}
	if r.Header.Get("Sec-Fetch-Site") != "" || r.Header.Get("Origin") != "" {
		return true
	}
	ref := r.Header.Get("Referer")
	if ref == "" {
		return true
	}
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" {
		return false
	}
	return u.Host == r.Host || (h.trusted != "" && u.Scheme+"://"+u.Host == h.trusted)
}

// csrfToken returns the form token for the request's nonce cookie, setting
// a new cookie when there is none.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	nonce := ""
	if c, err := r.Cookie(cookieName); err == nil && len(c.Value) == 22 {
		nonce = c.Value
	} else {
		b := make([]byte, 16)
		rand.Read(b)
		nonce = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: nonce, Path: "/j/", HttpOnly: true, Secure: h.cfg.SecureCookie,
			SameSite: http.SameSiteLaxMode, MaxAge: 86400})
	}
	return h.sign(nonce)
}

func (h *Handler) sign(nonce string) string {
	m := hmac.New(sha256.New, h.cfg.Key)
	m.Write([]byte("join-csrf|" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF verifies the double-submit token: the form's token must be the
// server's signature of the cookie's nonce, which another site can neither
// read nor forge.
func (h *Handler) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(h.sign(c.Value)))
}
