// Package web is Lianlu's console: server-rendered pages (html/template)
// in Chinese and English, with CSS and a little JavaScript written for it,
// all embedded in the binary. Every page reads without JavaScript; the
// script adds live updates over Server-Sent Events and SLA countdowns.
//
// Each page or action has its own file; the templates each page is made of
// are declared in one table (templates.go) and parsed and checked when the
// console is built, so a broken template stops the start, not a request.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/ratelimit"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// FlowStore reads and edits stored flows (flow.Service implements it).
type FlowStore interface {
	List(ctx context.Context) ([]sqlstore.StoredFlow, error)
	Get(ctx context.Context, name string) (sqlstore.StoredFlow, error)
	Put(ctx context.Context, name, yaml string, expectedVersion int) (sqlstore.StoredFlow, bool, error)
}

// Queries are the console's read models (*sqlstore.ConsoleQueries).
type Queries interface {
	Overview(ctx context.Context, now time.Time, loc *time.Location, days int) (sqlstore.Overview, error)
	QueueHandoffs(ctx context.Context, department string, limit int) ([]lianlu.Handoff, int64, error)
	HandoffsByTarget(ctx context.Context, targets []string) (map[string]lianlu.Handoff, error)
	RecentOrders(ctx context.Context, store string, memberID int64, limit int) ([]sqlstore.OrderSummary, error)
	RecentFeedback(ctx context.Context, memberID int64, limit int) ([]lianlu.Feedback, error)
	LatestEvents(ctx context.Context, f lianlu.EventFilter) ([]lianlu.Event, error)
	RecentMembers(ctx context.Context, limit int) ([]lianlu.Member, error)
	ServiceRequests(ctx context.Context, store string, limit int) ([]lianlu.WorkOrder, error)
	OfferStats(ctx context.Context) (map[int64]sqlstore.OfferStats, error)
}

// Notifier tells when events were appended (*sqlstore.DB).
type Notifier interface {
	Appended() <-chan struct{}
}

// Config configures the console. The services are the same the API uses.
type Config struct {
	Events       lianlu.EventService
	Access       lianlu.AccessService
	Sessions     lianlu.SessionService
	Catalog      lianlu.CatalogService
	Orders       lianlu.OrderService
	Fulfillments lianlu.FulfillmentService
	WorkOrders   lianlu.WorkOrderService
	Feedback     lianlu.FeedbackService
	Handoffs     lianlu.HandoffService
	Sources      lianlu.SourceService
	Stores       lianlu.StoreService
	Members      lianlu.MemberService
	Offers       lianlu.OfferService
	Dispatch     lianlu.DispatchService
	Flows        FlowStore
	Queries      Queries
	Notifier     Notifier
	Logger       *slog.Logger

	// BaseURL is where people open the console; an https URL makes the
	// cookies Secure even when TLS ends at a proxy.
	BaseURL string
	// JoinBaseURL is the base of the join URLs store QR codes encode (the
	// API's, so that both give the same codes); default BaseURL.
	JoinBaseURL string
	// Location is the time zone dates are shown and days counted in
	// (default Asia/Shanghai).
	Location *time.Location
	// SessionTTL is how long a sign-in lasts (default 12h).
	SessionTTL time.Duration
	// PollInterval is how often the live stream looks for events appended
	// by other nodes (default 1s).
	PollInterval time.Duration
	// LiveThrottle is the least time between two live notifications of one
	// page (default 1s), so that a burst of events costs one refresh.
	LiveThrottle time.Duration
	// Now is the clock of countdowns and "today" (default time.Now), and
	// of the sign-in limits.
	Now func() time.Time
	// LoginIPRate and LoginIPBurst limit sign-in attempts per client IP
	// (default 10 a minute, bursts of 20): each attempt costs an argon2id
	// hash, so this also bounds the CPU one client can take.
	LoginIPRate  rate.Limit
	LoginIPBurst int
	// LoginFailRate and LoginFailBurst limit failed sign-ins per user name
	// and client address (default 10 in a row, then one every 30s): the
	// attempts are locked, not the account, so that someone guessing from
	// one address cannot lock its owner out elsewhere. A refused attempt
	// is not checked and costs no token.
	LoginFailRate  rate.Limit
	LoginFailBurst int
	// LoginUserRate and LoginUserBurst count failed sign-ins per user name
	// from every address together (default 30, then one a minute), against
	// guessing one account's password from many addresses. Past them every
	// attempt on that account, the owner's too, waits LoginUserDelay
	// (default 3s) before its password is checked: delayed, never refused.
	LoginUserRate  rate.Limit
	LoginUserBurst int
	LoginUserDelay time.Duration
	// Sleep waits d or until ctx ends (default a timer); tests record the
	// delays instead of waiting.
	Sleep func(ctx context.Context, d time.Duration) error
	// Version is shown in the footer.
	Version string
	// Strict makes a missing translation an error (tests).
	Strict bool
}

// Console serves the console's pages.
type Console struct {
	cfg     Config
	logger  *slog.Logger
	mux     *http.ServeMux
	pages   *pageSet
	closing chan struct{}
	secure  bool

	// loginIPs, loginFails and loginUserFails are the sign-in limits
	// (Config.LoginIP*, Config.LoginFail* per user name and address,
	// Config.LoginUser* per user name).
	loginIPs, loginFails, loginUserFails *ratelimit.Keyed

	// pagePaths are the paths of the GET routes behind sign-in (Pages).
	pagePaths []string
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// maxLoginKeys bounds the client IPs, user names and pairs of them each
// sign-in limit remembers.
const maxLoginKeys = 10000

// New builds the console, parsing and checking every template.
func New(cfg Config) (*Console, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600)
		}
		cfg.Location = loc
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.LiveThrottle <= 0 {
		cfg.LiveThrottle = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LoginIPRate <= 0 || cfg.LoginIPBurst <= 0 {
		cfg.LoginIPRate, cfg.LoginIPBurst = rate.Every(6*time.Second), 20
	}
	if cfg.LoginFailRate <= 0 || cfg.LoginFailBurst <= 0 {
		cfg.LoginFailRate, cfg.LoginFailBurst = rate.Every(30*time.Second), 10
	}
	if cfg.LoginUserRate <= 0 || cfg.LoginUserBurst <= 0 {
		cfg.LoginUserRate, cfg.LoginUserBurst = rate.Every(time.Minute), 30
	}
	if cfg.LoginUserDelay <= 0 {
		cfg.LoginUserDelay = 3 * time.Second
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	c := &Console{cfg: cfg, logger: cfg.Logger.With(slog.String("component", "console")), mux: http.NewServeMux(),
		closing: make(chan struct{}), secure: strings.HasPrefix(cfg.BaseURL, "https://"),
		loginIPs:       ratelimit.New(cfg.LoginIPRate, cfg.LoginIPBurst, maxLoginKeys),
		loginFails:     ratelimit.New(cfg.LoginFailRate, cfg.LoginFailBurst, maxLoginKeys),
		loginUserFails: ratelimit.New(cfg.LoginUserRate, cfg.LoginUserBurst, maxLoginKeys)}
	ps, err := parsePages(c)
	if err != nil {
		return nil, err
	}
	c.pages = ps
	c.routes()
	return c, nil
}

// Close ends open live streams; call it when shutdown begins.
func (c *Console) Close() {
	select {
	case <-c.closing:
	default:
		close(c.closing)
	}
}

// Pages returns the path patterns of the console's GET routes behind
// sign-in, such as "/orders/{id}", so that tests can walk every page.
func (c *Console) Pages() []string { return slices.Clone(c.pagePaths) }

// Handler returns the console's handler, to be mounted at "/".
func (c *Console) Handler() http.Handler { return c.withHeaders(c.mux) }

// route is one console endpoint: public ones (login, static files) skip
// the session; the others need a signed-in user with at least MinRole.
type route struct {
	pattern string
	handler handlerFunc
	public  bool
	minRole lianlu.Role
}

// handlerFunc renders a page or carries out an action, or returns an error
// that the adapter shows as an error page.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (c *Console) routes() {
	rs := []route{
		{pattern: "GET /login", handler: c.handleLoginPage, public: true},
		{pattern: "POST /login", handler: c.handleLogin, public: true},
		{pattern: "POST /logout", handler: c.handleLogout, public: true},
		{pattern: "POST /lang", handler: c.handleLang, public: true},
		{pattern: "GET /static/", handler: c.handleStatic, public: true},
		{pattern: "GET /favicon.ico", handler: c.handleFavicon, public: true},

		{pattern: "GET /{$}", handler: c.handleOverview},
		{pattern: "GET /live", handler: c.handleLive},
		{pattern: "GET /queue", handler: c.handleQueue},
		{pattern: "POST /workorders/{id}/accept", handler: c.handleAcceptWorkOrder, minRole: lianlu.RoleOperator},
		{pattern: "POST /workorders/{id}/contact", handler: c.handleContactWorkOrder, minRole: lianlu.RoleOperator},
		{pattern: "POST /workorders/{id}/resolve", handler: c.handleResolveWorkOrder, minRole: lianlu.RoleOperator},
		{pattern: "POST /workorders/{id}/reassign", handler: c.handleReassignWorkOrder, minRole: lianlu.RoleOperator},
		{pattern: "GET /orders", handler: c.handleOrders},
		{pattern: "GET /orders/{id}", handler: c.handleOrder},
		{pattern: "GET /feedback", handler: c.handleFeedbackList},
		{pattern: "GET /feedback/{id}", handler: c.handleFeedback},
		{pattern: "GET /stores", handler: c.handleStores},
		{pattern: "GET /stores/{code}", handler: c.handleStore},
		{pattern: "GET /stores/{code}/qr.png", handler: c.handleStoreQR("png")},
		{pattern: "GET /stores/{code}/qr.svg", handler: c.handleStoreQR("svg")},
		{pattern: "POST /service-requests/{id}/reject", handler: c.handleRejectServiceRequest, minRole: lianlu.RoleOperator},
		{pattern: "GET /members", handler: c.handleMembers},
		{pattern: "GET /members/{id}", handler: c.handleMember},
		{pattern: "POST /members/{id}/merge", handler: c.handleMergeMember, minRole: lianlu.RoleOperator},
		{pattern: "POST /identity-conflicts/{id}/merge", handler: c.handleMergeConflict, minRole: lianlu.RoleOperator},
		{pattern: "POST /identity-conflicts/{id}/dismiss", handler: c.handleDismissConflict, minRole: lianlu.RoleOperator},
		{pattern: "GET /offers", handler: c.handleOffers},
		{pattern: "GET /events", handler: c.handleEvents},
		{pattern: "GET /flows", handler: c.handleFlows},
		{pattern: "GET /flows/{name}", handler: c.handleFlow},
		{pattern: "POST /flows/{name}", handler: c.handleSaveFlow, minRole: lianlu.RoleAdmin},
	}
	for _, rt := range rs {
		c.mux.Handle(rt.pattern, c.adapt(rt))
		if method, path, _ := strings.Cut(rt.pattern, " "); method == http.MethodGet && !rt.public {
			c.pagePaths = append(c.pagePaths, path)
		}
	}
	c.mux.Handle("/", c.adapt(route{handler: func(w http.ResponseWriter, r *http.Request) error {
		return lianlu.Errorf(lianlu.ENOTFOUND, "no such page")
	}}))
}

// withHeaders sets the security headers of every console response: a
// strict Content-Security-Policy (no inline script or style), no framing,
// no MIME sniffing.
func (c *Console) withHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
