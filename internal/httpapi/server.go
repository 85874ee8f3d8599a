// Package httpapi serves Lianlu's REST API under /api/v1, the operational
// endpoints (/healthz, /readyz, /metrics) and the OpenAPI document. Handlers
// return errors; one adapter turns them into RFC 9457 problem documents.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
	"github.com/lianlu/lianlu/internal/webhook"
)

// Store is what the API needs from storage beyond the domain services:
// readiness, subscription positions, change notification and idempotency
// keys. *sqlstore.DB implements it.
type Store interface {
	Ping(ctx context.Context) error
	PendingMigrations(ctx context.Context) (int, error)
	Appended() <-chan struct{}
	IdempotencyStore
}

// Config configures a Server.
type Config struct {
	Events lianlu.EventService
	// Intake stores POST /api/v1/events and runs business events'
	// commands.
	Intake     Ingester
	Access     lianlu.AccessService
	Catalog    lianlu.CatalogService
	Inventory  lianlu.InventoryService
	WorkOrders lianlu.WorkOrderService
	// Orders places, reads and cancels orders.
	Orders lianlu.OrderService
	// Fulfillments reads fulfillments and moves them through their states.
	Fulfillments lianlu.FulfillmentService
	Feedback     lianlu.FeedbackService
	Handoffs     lianlu.HandoffService
	Flows        FlowStore
	Calendars    CalendarStore
	Sources      lianlu.SourceService
	// Appender stores collector events with group commit.
	Appender Appender
	// Plans keeps sources' tracking plans; nil collects without plans.
	Plans PlanStore
	// Freshness is fed by the appender with the collector's new events;
	// nil answers the freshness endpoint from the database alone.
	Freshness *collect.Freshness
	// LastEvents finds when a source's latest event was stored, after a
	// restart emptied Freshness (*sqlstore.EventService).
	LastEvents LastEventFinder
	// SegmentLimits bound collector messages (zero fields: defaults).
	SegmentLimits collect.SegmentLimits
	Store         Store
	Logger        *slog.Logger
	// Webhooks manages outbound webhook subscriptions and reads the
	// delivery log; nil answers its endpoints with 503.
	Webhooks webhook.Service
	// Registry receives the API's metrics; nil creates a private one.
	Registry *prometheus.Registry
	// MaxBodyBytes caps ordinary request bodies (default 1 MiB).
	MaxBodyBytes int64
	// MaxEventBodyBytes caps POST /api/v1/events bodies (default 5 MiB).
	MaxEventBodyBytes int64
	// MaxBatchEvents caps events in one CloudEvents batch (default 1000).
	MaxBatchEvents int
	// PollInterval is how often streams look for events appended by other
	// nodes (default 1s).
	PollInterval time.Duration
	// Heartbeat is the SSE keep-alive interval (default 15s).
	Heartbeat time.Duration
	// Version is reported by /healthz.
	Version string
	// Stores manages stores; Members members, identities and timelines.
	Stores  lianlu.StoreService
	Members lianlu.MemberService
	// Privacy records and handles members' personal-information requests
	// (export, correction, erasure); nil answers its endpoints with 503.
	Privacy lianlu.PrivacyService
	// BaseURL is the public base of join URLs (QR codes).
	BaseURL string
	// Join, when set, serves the public join page under /j/.
	Join http.Handler
	// Dispatch sends on-site service requests to stores.
	Dispatch lianlu.DispatchService
	// Offers manages offer rules and reads sends and coupons.
	Offers lianlu.OfferService
	// Console, when set, serves every path the API does not (the web
	// console at /).
	Console http.Handler
	// Now is the server's clock, against which outside event times are
	// checked (default time.Now).
	Now func() time.Time
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	mux     *http.ServeMux
	routes  []Route
	metrics *metrics

	// closing is closed when the server shuts down, so that long-lived
	// streams end and graceful shutdown can finish.
	closeOnce sync.Once
	closing   chan struct{}
}

// handlerFunc is an API handler: it writes a success response or returns
// an error that the adapter turns into a problem document.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// Route is one registered endpoint.
type Route struct {
	Method  string
	Path    string
	handler handlerFunc
	// Auth requires a valid token with at least MinRole.
	Auth    bool
	MinRole lianlu.Role
	// MaxBody overrides the default body limit.
	MaxBody int64
	// ShowsSecret marks an endpoint whose success response shows a secret
	// once (a token, a write key, a signing secret): with an
	// Idempotency-Key only the request's fingerprint and status are kept,
	// and a repeat answers 409 instead of showing the secret again.
	ShowsSecret bool
}

// NewServer builds the API and its routes.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxEventBodyBytes <= 0 {
		cfg.MaxEventBodyBytes = 5 << 20
	}
	if cfg.MaxBatchEvents <= 0 {
		cfg.MaxBatchEvents = 1000
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.SegmentLimits.MaxRequestBytes <= 0 {
		cfg.SegmentLimits.MaxRequestBytes = 500 << 10
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, mux: http.NewServeMux(), closing: make(chan struct{})}
	s.metrics = newMetrics(cfg.Registry)
	s.routes = []Route{
		{Method: "GET", Path: "/healthz", handler: s.handleHealthz},
		{Method: "GET", Path: "/readyz", handler: s.handleReadyz},
		{Method: "GET", Path: "/api/openapi.json", handler: s.handleOpenAPI},

		{Method: "POST", Path: "/api/v1/events", handler: s.handlePostEvents, Auth: true, MinRole: lianlu.RoleOperator, MaxBody: cfg.MaxEventBodyBytes},
		{Method: "GET", Path: "/api/v1/events", handler: s.handleGetEvents, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/events/{seq}", handler: s.handleGetEvent, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/stream", handler: s.handleStream, Auth: true, MinRole: lianlu.RoleViewer},

		{Method: "GET", Path: "/api/v1/departments", handler: s.handleGetDepartments, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/tokens", handler: s.handleGetTokens, Auth: true, MinRole: lianlu.RoleAdmin},
		{Method: "POST", Path: "/api/v1/tokens", handler: s.handlePostToken, Auth: true, MinRole: lianlu.RoleAdmin, ShowsSecret: true},
		{Method: "DELETE", Path: "/api/v1/tokens/{id}", handler: s.handleDeleteToken, Auth: true, MinRole: lianlu.RoleAdmin},
		{Method: "GET", Path: "/api/v1/users", handler: s.handleGetUsers, Auth: true, MinRole: lianlu.RoleAdmin},
		{Method: "POST", Path: "/api/v1/users", handler: s.handlePostUser, Auth: true, MinRole: lianlu.RoleAdmin},
		{Method: "GET", Path: "/api/v1/audit", handler: s.handleGetAudit, Auth: true, MinRole: lianlu.RoleAdmin},
		{Method: "GET", Path: "/api/v1/whoami", handler: s.handleWhoami, Auth: true, MinRole: lianlu.RoleViewer},

		{Method: "POST", Path: "/api/v1/products", handler: s.handlePostProduct, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/products", handler: s.handleGetProducts, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/products/{sku}", handler: s.handleGetProduct, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/locations", handler: s.handlePostLocation, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/locations", handler: s.handleGetLocations, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/locations/{code}", handler: s.handleGetLocation, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/inventory/adjustments", handler: s.handlePostAdjustment, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/inventory", handler: s.handleGetInventory, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/inventory/reservations", handler: s.handlePostReservation, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/inventory/reservations/{id}", handler: s.handleGetReservation, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/inventory/reservations/{id}/release", handler: s.handleReleaseReservation, Auth: true, MinRole: lianlu.RoleOperator},

		{Method: "POST", Path: "/api/v1/workorders", handler: s.handlePostWorkOrder, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/workorders", handler: s.handleGetWorkOrders, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/workorders/{id}", handler: s.handleGetWorkOrder, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/workorders/{id}/accept", handler: s.handleAcceptWorkOrder, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "POST", Path: "/api/v1/workorders/{id}/contact", handler: s.handleContactWorkOrder, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "POST", Path: "/api/v1/workorders/{id}/resolve", handler: s.handleResolveWorkOrder, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "POST", Path: "/api/v1/workorders/{id}/reassign", handler: s.handleReassignWorkOrder, Auth: true, MinRole: lianlu.RoleOperator},

		{Method: "POST", Path: "/api/v1/webhooks", handler: s.handlePostWebhook, Auth: true, MinRole: lianlu.RoleManager, ShowsSecret: true},
		{Method: "GET", Path: "/api/v1/webhooks", handler: s.handleGetWebhooks, Auth: true, MinRole: lianlu.RoleManager},
		{Method: "GET", Path: "/api/v1/webhooks/{id}", handler: s.handleGetWebhook, Auth: true, MinRole: lianlu.RoleManager},
		{Method: "DELETE", Path: "/api/v1/webhooks/{id}", handler: s.handleDeleteWebhook, Auth: true, MinRole: lianlu.RoleManager},
		{Method: "POST", Path: "/api/v1/webhooks/{id}/rotate-secret", handler: s.handleRotateWebhookSecret, Auth: true, MinRole: lianlu.RoleManager, ShowsSecret: true},
		{Method: "GET", Path: "/api/v1/webhooks/{id}/deliveries", handler: s.handleGetWebhookDeliveries, Auth: true, MinRole: lianlu.RoleManager},
		{Method: "GET", Path: "/api/v1/webhooks/deliveries", handler: s.handleGetDeliveries, Auth: true, MinRole: lianlu.RoleManager},
		{Method: "POST", Path: "/api/v1/webhooks/deliveries/{id}/replay", handler: s.handleReplayDelivery, Auth: true, MinRole: lianlu.RoleManager},

		{Method: "POST", Path: "/api/v1/orders", handler: s.handlePostOrder, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/orders", handler: s.handleGetOrders, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/orders/{id}", handler: s.handleGetOrder, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/orders/{id}/cancel", handler: s.handleCancelOrder, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/fulfillments", handler: s.handleGetFulfillments, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/fulfillments/{id}", handler: s.handleGetFulfillment, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/fulfillments/{id}/pick", handler: s.handlePickFulfillment, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "POST", Path: "/api/v1/fulfillments/{id}/ship", handler: s.handleShipFulfillment, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "POST", Path: "/api/v1/fulfillments/{id}/deliver", handler: s.handleDeliverFulfillment, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "POST", Path: "/api/v1/fulfillments/{id}/cancel", handler: s.handleCancelFulfillment, Auth: true, MinRole: lianlu.RoleOperator},

		{Method: "POST", Path: "/api/v1/feedback", handler: s.handlePostFeedback, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/feedback", handler: s.handleListFeedback, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/feedback/{id}", handler: s.handleGetFeedback, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/feedback/{id}/timeline", handler: s.handleFeedbackTimeline, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/backlog", handler: s.handleListBacklog, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/backlog/{id}", handler: s.handleGetBacklogItem, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/backlog/{id}/triage", handler: s.handleTriageBacklogItem, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/orders/{id}/timeline", handler: s.handleOrderTimeline, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/handoffs", handler: s.handleListHandoffs, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/handoffs/{id}", handler: s.handleGetHandoff, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/flows", handler: s.handleListFlows, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/flows/{name}", handler: s.handleGetFlow, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "PUT", Path: "/api/v1/flows/{name}", handler: s.handlePutFlow, Auth: true, MinRole: lianlu.RoleAdmin},
		{Method: "GET", Path: "/api/v1/calendars", handler: s.handleGetCalendars, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "PUT", Path: "/api/v1/calendars/{department}", handler: s.handlePutCalendar, Auth: true, MinRole: lianlu.RoleManager},

		{Method: "POST", Path: "/api/v1/sources", handler: s.handlePostSource, Auth: true, MinRole: lianlu.RoleManager, ShowsSecret: true},
		{Method: "GET", Path: "/api/v1/sources", handler: s.handleListSources, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/sources/{id}", handler: s.handleGetSource, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/sources/{id}/disable", handler: s.setSourceDisabled(true), Auth: true, MinRole: lianlu.RoleManager},
		{Method: "POST", Path: "/api/v1/sources/{id}/enable", handler: s.setSourceDisabled(false), Auth: true, MinRole: lianlu.RoleManager},
		{Method: "POST", Path: "/api/v1/sources/{id}/rotate-key", handler: s.handleRotateSourceKey, Auth: true, MinRole: lianlu.RoleManager, ShowsSecret: true},
	}
	s.routes = append(s.routes, s.collectionRoutes()...)
	for _, call := range segmentCalls {
		s.routes = append(s.routes,
			Route{Method: "POST", Path: "/v1/" + call, handler: s.handleSegment(call), MaxBody: int64(cfg.SegmentLimits.MaxRequestBytes)},
			Route{Method: "OPTIONS", Path: "/v1/" + call, handler: s.handleCollectorPreflight})
	}
	s.routes = append(s.routes, s.storeRoutes()...)
	s.routes = append(s.routes, s.memberRoutes()...)
	s.routes = append(s.routes, s.privacyRoutes()...)
	s.routes = append(s.routes, s.dispatchRoutes()...)
	s.routes = append(s.routes, s.offerRoutes()...)
	for _, rt := range s.routes {
		s.mux.Handle(rt.Method+" "+rt.Path, s.adapt(rt))
	}
	if cfg.Join != nil {
		s.mux.Handle("/j/", cfg.Join)
	}
	s.mux.Handle("GET /metrics", s.metrics.handler(cfg.Registry))
	// Anything else under /api is a problem document, not the mux's text;
	// under /api/v1 only for an authenticated caller.
	notFound := func(w http.ResponseWriter, r *http.Request) error {
		return lianlu.Errorf(lianlu.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path)
	}
	s.mux.Handle("/api/", s.adapt(Route{handler: notFound}))
	s.mux.Handle("/api/v1/", s.adapt(Route{handler: notFound, Auth: true, MinRole: lianlu.RoleViewer}))
	if cfg.Console != nil {
		s.mux.Handle("/", cfg.Console)
	}
	return s
}

// now reads the server's clock.
func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

// Routes returns the registered endpoints (for the OpenAPI test).
func (s *Server) Routes() []Route { return s.routes }

// Handler returns the root handler with the request middleware.
func (s *Server) Handler() http.Handler {
	return s.withRequestLog(s.mux)
}

// Close ends open streams; call it when shutdown begins.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// adapt wraps a route's handler: body limit, authentication, role check,
// idempotency keys and the error adapter.
func (s *Server) adapt(rt Route) http.Handler {
	limit := rt.MaxBody
	if limit <= 0 {
		limit = s.cfg.MaxBodyBytes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if rt.Auth {
			p, err := s.authenticate(r)
			if err != nil {
				writeError(w, r, s.logger, err)
				return
			}
			if !p.Role.AtLeast(rt.MinRole) {
				writeError(w, r, s.logger, lianlu.Errorf(lianlu.EFORBIDDEN, "this endpoint needs the %s role", rt.MinRole))
				return
			}
			r = r.WithContext(lianlu.NewContextWithPrincipal(r.Context(), p))
			if r.Method == http.MethodPost && r.Header.Get("Idempotency-Key") != "" {
				s.serveIdempotent(w, r, p, rt)
				return
			}
		}
		if err := rt.handler(w, r); err != nil {
			writeError(w, r, s.logger, err)
		}
	})
}

// authenticate reads the bearer token.
func (s *Server) authenticate(r *http.Request) (lianlu.Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return lianlu.Principal{}, lianlu.Errorf(lianlu.EUNAUTHORIZED, "missing Authorization: Bearer token")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return lianlu.Principal{}, lianlu.Errorf(lianlu.EUNAUTHORIZED, "Authorization must be a Bearer token")
	}
	return s.cfg.Access.Authenticate(r.Context(), strings.TrimSpace(token))
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.cfg.Version})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		return lianlu.Errorf(lianlu.EUNAVAILABLE, "database unreachable")
	}
	n, err := s.cfg.Store.PendingMigrations(ctx)
	if err != nil {
		return lianlu.Errorf(lianlu.EUNAVAILABLE, "cannot read migrations")
	}
	if n > 0 {
		return lianlu.Errorf(lianlu.EUNAVAILABLE, "%d migrations pending", n)
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
