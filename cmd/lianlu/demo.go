package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/lianlu/lianlu/internal/config"
	"github.com/lianlu/lianlu/internal/demo"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// runDemo fills a fresh database with the demo brand's simulated history.
func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var scaleName, end string
	var seed uint64
	cfg, fs, err := loadConfig("demo", args, getenv, stderr, func(c *config.Config, fs *flag.FlagSet) {
		c.RegisterStorageFlags(fs)
		fs.StringVar(&scaleName, "scale", "small", "small (seconds), medium or large (over a million events, for benchmarks)")
		fs.Uint64Var(&seed, "seed", 1, "random seed: the same seed gives the same history")
		fs.StringVar(&end, "end", "", "RFC 3339 time the history ends at (default: the start of this hour)")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo takes no arguments\n")
		return errUsage
	}
	scale, err := demo.ScaleByName(scaleName)
	if err != nil {
		return describe(err)
	}
	var endAt time.Time
	if end != "" {
		if endAt, err = time.Parse(time.RFC3339, end); err != nil {
			return fmt.Errorf("--end must be an RFC 3339 time such as 2026-12-01T18:00:00+08:00")
		}
	}
	sum, err := seedDemo(ctx, cfg, newLogger(cfg, stderr), scale, seed, endAt, stderr)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "%s: %d members, %d orders, %d events, %d feedback, %d work orders, %d handoffs (%d past their SLA)\n",
		demo.BrandName, sum.Members, sum.Orders, sum.Events, sum.Feedback, sum.WorkOrders, sum.Handoffs, sum.Breached)
	return nil
}

// seedDemo opens the database on the demo's clock, migrates it, and seeds
// the flows and the demo's history, driving a flow runner of its own. The
// seeding is a bulk load into a fresh database that can simply be redone,
// so it commits without waiting for the disk (SQLite synchronous=NORMAL,
// PostgreSQL synchronous_commit=off); the database is closed, and so
// durable, when it returns.
func seedDemo(ctx context.Context, cfg config.Config, logger *slog.Logger, scale demo.Scale, seed uint64, end time.Time, progress io.Writer) (demo.Summary, error) {
	clock := &demo.Clock{}
	cfg.SQLiteSynchronous = "NORMAL"
	if cfg.DB != "" {
		u, err := url.Parse(cfg.DB)
		if err != nil {
			return demo.Summary{}, fmt.Errorf("--db: %w", err)
		}
		q := u.Query()
		q.Set("synchronous_commit", "off")
		u.RawQuery = q.Encode()
		cfg.DB = u.String()
	}
	db, err := openDBClock(ctx, cfg, logger, clock.Now)
	if err != nil {
		return demo.Summary{}, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return demo.Summary{}, err
	}
	if err := flow.Seed(ctx, db, flow.Defaults(), false); err != nil {
		return demo.Summary{}, fmt.Errorf("seed default flows: %w", err)
	}
	webhooks := sqlstore.NewWebhookService(db)
	runner := flow.NewRunner(db, flow.RunnerConfig{EnqueueWebhook: webhooks.EnqueueFlowWebhook})
	// One caller at a time: nothing to wait for to group with.
	appender := sqlstore.NewAppender(db, sqlstore.AppenderConfig{MaxDelay: time.Microsecond})
	appender.Start()
	defer appender.Stop()
	start := time.Now()
	sum, err := demo.Seed(ctx, demo.Config{DB: db, Clock: clock, Runner: runner, Appender: appender, Scale: scale, Seed: seed, End: end, Progress: progress})
	if err == nil && progress != nil {
		fmt.Fprintf(progress, "  seeded the %s demo in %s\n", scale.Name, time.Since(start).Round(100*time.Millisecond))
	}
	return sum, err
}

// prepareDemo seeds the small demo into an empty database before the
// server opens it (serve --demo); a database with data is left as it is.
func (m *Main) prepareDemo(ctx context.Context) error {
	fmt.Fprintf(m.Stdout, "Seeding the demo brand %s (small scale)…\n", demo.BrandName)
	// The history ends now, so that today's figures are under way.
	sum, err := seedDemo(ctx, m.Config, m.Logger, demo.Scales[0], 1, time.Now(), m.Stdout)
	switch {
	case err == demo.ErrNotEmpty:
		fmt.Fprintln(m.Stdout, "The database already has data: the demo keeps it and adds live activity.")
		return nil
	case err != nil:
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(m.Stdout, "Demo seeded: %d members, %d orders, %d events, %d handoffs (%d past their SLA).\n",
		sum.Members, sum.Orders, sum.Events, sum.Handoffs, sum.Breached)
	return nil
}

// startTrickle keeps simulated activity going until Close.
func (m *Main) startTrickle() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	m.trickleStop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		err := demo.Trickle(ctx, demo.TrickleConfig{DB: m.DB, Appender: m.Appender, Runner: m.Runner, Dispatch: m.Dispatch, Seed: 1, Logger: m.Logger})
		if err != nil {
			m.Logger.Error("demo trickle stopped", slog.Any("error", err))
		}
	}()
}
