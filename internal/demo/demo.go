// Package demo simulates the brand of brand.go on a real Lianlu database: its
// catalogue, stores and warehouses, members who join in stores and online,
// campaigns whose touches arrive through the Segment collector's code path,
// online and store orders, stock receipts, service work, feedback and
// on-site service requests, with the delays people really take, so that
// some handoffs breach their SLAs.
//
// Everything goes through the services the API uses (no table is written
// directly), on a simulated clock (Clock) that the database is opened with:
// events, handoffs and clocks carry the simulated times. For a given scale
// and seed the run is deterministic: the same calls in the same order, so
// the same counts of members, orders and events.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// Scale sizes a simulation.
type Scale struct {
	Name string
	// Days of history, ending at Config.End.
	Days int
	// SessionsPerDay are online visits (web and mini-program) on an average
	// day; about one in ten ends in an order.
	SessionsPerDay float64
	// VisitsPerStoreDay are customers walking into each store on an average
	// day; about two in five buy.
	VisitsPerStoreDay float64
}

// Scales: small seeds in seconds (CI, the first run); medium gives weeks
// of history; large is for benchmarks (over a million events).
var Scales = []Scale{
	{Name: "small", Days: 10, SessionsPerDay: 110, VisitsPerStoreDay: 1.3},
	{Name: "medium", Days: 45, SessionsPerDay: 500, VisitsPerStoreDay: 5},
	{Name: "large", Days: 90, SessionsPerDay: 1500, VisitsPerStoreDay: 6},
}

// ScaleByName returns the named scale.
func ScaleByName(name string) (Scale, error) {
	for _, s := range Scales {
		if s.Name == name {
			return s, nil
		}
	}
	return Scale{}, lianlu.Invalid(lianlu.FieldError{Field: "scale", Message: "small, medium or large"})
}

// Clock is the simulation's clock: a fixed instant while a simulation
// runs, the real time otherwise. Open the database with its Now.
type Clock struct {
	mu    sync.Mutex
	t     time.Time
	fixed bool
}

// Now returns the simulated time while one is set, else the real time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fixed {
		return c.t
	}
	return time.Now()
}

// Set fixes the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t, c.fixed = t, true
	c.mu.Unlock()
}

// Release returns the clock to real time.
func (c *Clock) Release() {
	c.mu.Lock()
	c.fixed = false
	c.mu.Unlock()
}

// Config configures a simulation.
type Config struct {
	DB *sqlstore.DB
	// Clock must be the clock DB was opened with.
	Clock *Clock
	// Runner runs the flows; the simulation drives it (do not Start it
	// before Seed returns) so that handoffs open at the simulated time.
	Runner *flow.Runner
	// Appender stores the collector's events (started).
	Appender *sqlstore.Appender
	Scale    Scale
	Seed     uint64
	// End is when the simulated history ends. Default: the start of the
	// current hour, so that runs with the same seed within an hour give
	// the same history.
	End time.Time
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
	Logger   *slog.Logger
}

// Summary counts what a simulation left in the database.
type Summary = sqlstore.Counts

// ErrNotEmpty is returned by Seed for a database that already has orders
// or products: the demo fills only an empty one.
var ErrNotEmpty = lianlu.Errorf(lianlu.ECONFLICT, "the database is not empty; the demo fills a fresh database only")

// IsEmpty reports whether db holds no catalogue and no orders yet.
func IsEmpty(ctx context.Context, db *sqlstore.DB) (bool, error) {
	ps, err := sqlstore.NewCatalogService(db).FindProducts(ctx, lianlu.ProductFilter{Limit: 1})
	if err != nil {
		return false, err
	}
	os, err := sqlstore.NewOrderService(db).FindOrders(ctx, lianlu.OrderFilter{Limit: 1})
	if err != nil {
		return false, err
	}
	return len(ps) == 0 && len(os) == 0, nil
}

// Seed fills an empty database with the brand and its simulated history,
// and leaves the clock released.
func Seed(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.End.IsZero() {
		cfg.End = time.Now().Truncate(time.Hour)
	}
	if cfg.Scale.Days <= 0 {
		return Summary{}, fmt.Errorf("demo: scale %q has no days", cfg.Scale.Name)
	}
	empty, err := IsEmpty(ctx, cfg.DB)
	if err != nil {
		return Summary{}, err
	}
	if !empty {
		return Summary{}, ErrNotEmpty
	}
	defer cfg.Clock.Release()
	s, err := newSim(ctx, cfg)
	if err != nil {
		return Summary{}, err
	}
	if err := s.run(ctx); err != nil {
		return Summary{}, err
	}
	return sqlstore.NewConsoleQueries(cfg.DB).Counts(ctx)
}
