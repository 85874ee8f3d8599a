package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
	"github.com/lianlu/lianlu/internal/config"
	"github.com/lianlu/lianlu/internal/dispatch"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/httpapi"
	"github.com/lianlu/lianlu/internal/identity"
	"github.com/lianlu/lianlu/internal/join"
	"github.com/lianlu/lianlu/internal/offer"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/web"
	"github.com/lianlu/lianlu/internal/webhook"
)

// Main is a running Lianlu server. End-to-end tests use it as the binary
// does: NewMain, set Config, Run, then Close.
type Main struct {
	Config config.Config
	// Stdout receives the start-up message; Logger receives logs.
	Stdout io.Writer
	Logger *slog.Logger

	DB     *sqlstore.DB
	API    *httpapi.Server
	server *http.Server
	ln     net.Listener
	served chan error

	closeOnce sync.Once
	closeErr  error

	// Webhooks is the outbound webhook worker (with its fan-out
	// subscription), running from Run until Close.
	Webhooks     *webhook.Worker
	webhooksStop context.CancelFunc
	// Runner runs the flows and the SLA breach scanner.
	Runner *flow.Runner
	// Appender stores collector events with group commit.
	Appender *sqlstore.Appender
	// Identity links collector identify and alias calls to members.
	Identity *identity.Resolver
	// Dispatch sends on-site service requests to stores and passes them on
	// when a store does not accept in time.
	Dispatch *dispatch.Service
	// Offers evaluates offer rules from the log and sends what comes due.
	Offers *offer.Engine
	// Console is the web console, served at /.
	Console *web.Console
	// consoleHint says how to sign in to the console (printed at start).
	consoleHint string
	// trickleStop ends the demo's live activity (serve --demo).
	trickleStop func()
	// Freshness tracks the collector sources' arrivals and lags.
	Freshness *collect.Freshness
	// Plans serves the collector compiled tracking plans from its cache;
	// changes through it apply at once.
	Plans *sqlstore.TrackingPlanService
	// sweepStop ends the hourly deletion of expired Idempotency-Key
	// records and waits for it.
	sweepStop func()
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main {
	return &Main{Config: config.Default(), Stdout: io.Discard, Logger: slog.New(slog.DiscardHandler)}
}

// Run opens and migrates the database, makes sure an admin token exists,
// and starts serving HTTP. It returns once the server is listening.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Config.Validate(); err != nil {
		return err
	}
	if m.Config.Demo {
		if err := m.prepareDemo(ctx); err != nil {
			return err
		}
	}
	db, err := openDB(ctx, m.Config, m.Logger)
	if err != nil {
		return err
	}
	m.DB = db
	applied, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) > 0 {
		m.Logger.Info("migrations applied", slog.Any("migrations", applied))
	}
	access := sqlstore.NewAccessService(db)
	if err := m.bootstrapAdminToken(ctx, access); err != nil {
		return err
	}
	sessions := sqlstore.NewSessionService(db)
	if err := m.bootstrapAdminUser(ctx, access, sessions); err != nil {
		return err
	}

	if err := m.seedFlows(ctx); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		sqlstore.NewMetricsCollector(db))
	// One outbound policy for everything that sends to a configured URL.
	outbound, err := m.Config.OutboundPolicy()
	if err != nil {
		return err
	}
	webhooks := sqlstore.NewWebhookService(db)
	webhooks.Outbound = outbound
	m.Runner = flow.NewRunner(db, flow.RunnerConfig{Logger: m.Logger, ScanInterval: m.Config.SLAScanInterval, EnqueueWebhook: webhooks.EnqueueFlowWebhook})
	m.Freshness = collect.NewFreshness(collect.SegmentSourcePrefix, nil)
	reg.MustRegister(m.Freshness)
	m.Appender = sqlstore.NewAppender(db, sqlstore.AppenderConfig{Committed: m.Freshness.Observe})
	m.Appender.Start()
	// Listen before building the API: join URLs default to the address
	// actually bound (a :0 port in tests).
	m.ln, err = net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Addr, err)
	}
	baseURL := m.Config.PublicBaseURL()
	if m.Config.BaseURL == "" {
		baseURL = "http://" + m.Addr()
	}
	stores, members := sqlstore.NewStoreService(db), sqlstore.NewMemberService(db)
	joinKey, err := m.joinKey()
	if err != nil {
		return err
	}
	m.Offers = offer.NewEngine(db, offer.EngineConfig{Logger: m.Logger})
	offers := offer.NewService(db, m.Offers)
	offers.Outbound = outbound
	joinPage, err := join.New(join.Config{Members: members, Stores: stores, Inbox: offers, Key: joinKey, PhoneRegion: m.Config.PhoneRegion, BaseURL: baseURL,
		SecureCookie: strings.HasPrefix(baseURL, "https://"), Logger: m.Logger})
	if err != nil {
		return err
	}
	m.Dispatch = dispatch.NewService(db, stores, dispatch.Config{Logger: m.Logger, AcceptSLA: m.Config.DispatchAcceptSLA, ScanInterval: m.Config.DispatchScanInterval,
		Weights: lianlu.DispatchWeights{Distance: m.Config.DispatchDistanceWeight, Load: m.Config.DispatchLoadWeight}})
	if m.Console, err = m.newConsole(db, access, sessions, consoleChannel{stores: stores, members: members, offers: offers, baseURL: baseURL}); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	events := sqlstore.NewEventService(db)
	m.Plans = sqlstore.NewTrackingPlanService(db)
	m.API = httpapi.NewServer(httpapi.Config{
		Dispatch:          m.Dispatch,
		Offers:            offers,
		Stores:            stores,
		Members:           members,
		Privacy:           sqlstore.NewPrivacyService(db, sqlstore.PrivacyConfig{SLA: m.Config.PrivacySLA}),
		BaseURL:           baseURL,
		Join:              joinPage,
		Events:            events,
		Intake:            sqlstore.NewIntakeService(db),
		LastEvents:        events,
		Plans:             m.Plans,
		Freshness:         m.Freshness,
		Access:            access,
		Catalog:           sqlstore.NewCatalogService(db),
		Inventory:         sqlstore.NewInventoryService(db),
		WorkOrders:        sqlstore.NewWorkOrderService(db),
		Orders:            sqlstore.NewOrderService(db),
		Fulfillments:      sqlstore.NewFulfillmentService(db),
		Store:             db,
		Webhooks:          webhooks,
		Feedback:          sqlstore.NewFeedbackService(db),
		Handoffs:          sqlstore.NewHandoffService(db),
		Flows:             flow.NewService(db, m.Runner),
		Calendars:         db,
		Sources:           sqlstore.NewSourceService(db),
		Appender:          m.Appender,
		Logger:            m.Logger,
		Registry:          reg,
		MaxBodyBytes:      m.Config.MaxBodyBytes,
		MaxEventBodyBytes: m.Config.MaxEventBodyBytes,
		MaxBatchEvents:    m.Config.MaxBatchEvents,
		PollInterval:      m.Config.PollInterval,
		Version:           Version,
		Console:           m.Console.Handler(),
	})
	// The worker outlives ctx (a signal): Close stops it gracefully, letting
	// requests in flight finish and be recorded.
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.webhooksStop = stop
	m.Webhooks = webhook.NewWorker(webhook.Config{Store: webhooks, FanOut: webhooks.FanOut(), Outbound: outbound, Logger: m.Logger, PollInterval: m.Config.PollInterval})
	if err := m.Webhooks.Start(wctx); err != nil {
		return fmt.Errorf("start webhook worker: %w", err)
	}
	if err := m.Runner.Start(wctx); err != nil {
		return fmt.Errorf("start flow runner: %w", err)
	}
	m.Identity = identity.NewResolver(db, identity.Config{Logger: m.Logger})
	if err := m.Identity.Start(wctx); err != nil {
		return fmt.Errorf("start identity resolver: %w", err)
	}
	if err := m.Dispatch.Start(wctx); err != nil {
		return fmt.Errorf("start dispatcher: %w", err)
	}
	if err := m.Offers.Start(wctx); err != nil {
		return fmt.Errorf("start offer engine: %w", err)
	}
	m.startIdempotencySweep(wctx)
	m.server = &http.Server{
		Handler:           m.API.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	m.server.RegisterOnShutdown(m.API.Close)
	m.server.RegisterOnShutdown(m.Console.Close)
	m.served = make(chan error, 1)
	go func() { m.served <- m.server.Serve(m.ln) }()
	m.Logger.Info("serving", slog.String("addr", m.Addr()), slog.String("dialect", db.Dialect()))
	fmt.Fprintf(m.Stdout, "Lianlu %s is serving on http://%s (database: %s)\n", Version, m.Addr(), m.describeDB())
	if m.consoleHint != "" {
		fmt.Fprintf(m.Stdout, "Console: %s/ — %s\n", m.Config.ConsoleURL(m.Addr()), m.consoleHint)
	}
	if m.Config.Demo {
		m.startTrickle()
	}
	return nil
}

// Addr returns the address the server listens on.
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

func (m *Main) describeDB() string {
	if m.Config.DB != "" {
		return "PostgreSQL"
	}
	return "SQLite at " + m.Config.SQLitePath()
}

// Close shuts down gracefully: in-flight requests finish (streams end),
// then the database closes. Calling it again does nothing.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	var errs []error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		defer cancel()
		if err := m.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
		if err := <-m.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	} else if m.ln != nil {
		m.ln.Close()
	}
	if m.trickleStop != nil {
		m.trickleStop()
	}
	if m.Appender != nil {
		m.Appender.Stop()
	}
	if m.Runner != nil {
		m.Runner.Stop()
	}
	if m.Identity != nil {
		m.Identity.Stop()
	}
	if m.Dispatch != nil {
		m.Dispatch.Stop()
	}
	if m.Offers != nil {
		m.Offers.Stop()
	}
	if m.Webhooks != nil {
		m.Webhooks.Stop()
		m.webhooksStop()
	}
	if m.sweepStop != nil {
		m.sweepStop()
	}
	if m.DB != nil {
		errs = append(errs, m.DB.Close())
	}
	return errors.Join(errs...)
}

// seedFlows stores the embedded default flows that are not stored yet,
// then the --flows file's definitions (which replace stored ones).
func (m *Main) seedFlows(ctx context.Context) error {
	if err := flow.Seed(ctx, m.DB, flow.Defaults(), false); err != nil {
		return fmt.Errorf("seed default flows: %w", err)
	}
	if m.Config.FlowsFile == "" {
		return nil
	}
	b, err := os.ReadFile(m.Config.FlowsFile)
	if err != nil {
		return fmt.Errorf("--flows: %w", err)
	}
	defs, err := flow.Parse(b)
	if err == nil {
		err = flow.Seed(ctx, m.DB, defs, true)
	}
	if err != nil {
		return fmt.Errorf("--flows %s: %s", m.Config.FlowsFile, describe(err))
	}
	return nil
}

// bootstrapAdminToken creates the first admin token when the database has
// none, writes it to <data>/admin.token with mode 0600 and prints the path,
// never the token.
func (m *Main) bootstrapAdminToken(ctx context.Context, access *sqlstore.AccessService) error {
	toks, err := access.FindTokens(ctx, true)
	if err != nil {
		return err
	}
	path := m.Config.AdminTokenPath()
	if len(toks) > 0 {
		if _, err := os.Stat(path); err == nil {
			fmt.Fprintf(m.Stdout, "Admin token: %s\n", path)
		}
		return nil
	}
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "bootstrap", Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
	_, secret, err := access.CreateToken(ctx, lianlu.TokenCreate{Name: "bootstrap admin", Department: lianlu.DeptAdmin, Role: lianlu.RoleAdmin})
	if err != nil {
		return fmt.Errorf("create admin token: %w", err)
	}
	if err := writeSecretFile(path, secret+"\n"); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	fmt.Fprintf(m.Stdout, "Admin token written to %s (mode 0600). Use it as: Authorization: Bearer $(cat %s)\n", path, path)
	return nil
}

// writeSecretFile writes a file readable only by its owner, atomically.
func writeSecretFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin.token.*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func openDB(ctx context.Context, cfg config.Config, logger *slog.Logger) (*sqlstore.DB, error) {
	return openDBClock(ctx, cfg, logger, nil)
}

// openMigrated opens the database for a CLI command, logging to stderr,
// and applies pending migrations.
func openMigrated(ctx context.Context, cfg config.Config, stderr io.Writer) (*sqlstore.DB, error) {
	db, err := openDB(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openDBClock opens the database with a clock (nil: the real one).
func openDBClock(ctx context.Context, cfg config.Config, logger *slog.Logger, now func() time.Time) (*sqlstore.DB, error) {
	return sqlstore.Open(ctx, sqlstore.Options{
		URL:          cfg.DB,
		Path:         cfg.SQLitePath(),
		Synchronous:  cfg.SQLiteSynchronous,
		Logger:       logger,
		PollInterval: cfg.PollInterval,
		PhoneRegion:  cfg.PhoneRegion,
		Now:          now,
	})
}

// joinKey returns the key that signs the join page's CSRF tokens: the
// configured secret, or a random key kept in the data directory (created
// on first start, mode 0600) so that tokens survive restarts.
func (m *Main) joinKey() ([]byte, error) {
	if m.Config.JoinSecret != "" {
		return []byte(m.Config.JoinSecret), nil
	}
	path := m.Config.JoinKeyPath()
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return []byte(strings.TrimSpace(string(b))), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read join key: %w", err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	s := hex.EncodeToString(key)
	if err := writeSecretFile(path, s+"\n"); err != nil {
		return nil, fmt.Errorf("write join key: %w", err)
	}
	return []byte(s), nil
}

// loadConfig reads defaults, then the environment, then flags.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer, register func(*config.Config, *flag.FlagSet)) (config.Config, *flag.FlagSet, error) {
	cfg := config.Default()
	if err := cfg.LoadEnv(getenv); err != nil {
		return cfg, nil, err
	}
	fs := flag.NewFlagSet("lianlu "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	register(&cfg, fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, fs, errUsage
		}
		return cfg, fs, errUsage
	}
	return cfg, fs, cfg.Validate()
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, fs, err := loadConfig("serve", args, getenv, stderr, (*config.Config).RegisterServeFlags)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve takes no arguments\n")
		return errUsage
	}
	m := NewMain()
	m.Config = cfg
	m.Stdout = stdout
	m.Logger = newLogger(cfg, stderr)
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	select {
	case <-ctx.Done():
		m.Logger.Info("shutting down")
	case err := <-m.served:
		m.served <- err // for Close
		m.Logger.Error("server stopped", slog.Any("error", err))
	}
	return m.Close()
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("migrate", args, getenv, stderr, (*config.Config).RegisterStorageFlags)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	return nil
}

// startIdempotencySweep deletes expired Idempotency-Key records now and
// every hour until Close, so that a stored response lasts no longer than
// sqlstore.IdempotencyTTL (versions before issue 10 kept the responses of
// token and write-key creation whole, secrets included).
func (m *Main) startIdempotencySweep(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	m.sweepStop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Hour)
		defer tick.Stop()
		for {
			n, err := m.DB.DeleteExpiredIdempotencyKeys(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				m.Logger.Warn("delete expired idempotency keys", slog.Any("error", err))
			case n > 0:
				m.Logger.Info("expired idempotency keys deleted", slog.Int64("deleted", n))
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}
