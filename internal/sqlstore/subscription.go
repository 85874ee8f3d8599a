package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lianlu/lianlu"
)

// Handler processes a batch of events inside tx. Its database effects and
// the subscription's new position commit together, so each event's effects
// happen exactly once. Effects outside the database must be idempotent by
// event id. An error rolls the whole batch back; it is retried with backoff.
type Handler func(ctx context.Context, tx *Tx, events []lianlu.Event) error

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	// Name identifies the subscription; its position is stored under it.
	Name string
	// Filter selects the events the handler sees (AfterSeq and Limit are
	// ignored). Events it excludes are skipped.
	Filter lianlu.EventFilter
	// BatchSize is the most events per transaction (default 100).
	BatchSize int
	// Handler processes each batch.
	Handler Handler
	// Logger receives errors; default the DB's logger.
	Logger *slog.Logger
	// MaxBackoff caps the delay between retries after errors (default 30s).
	MaxBackoff time.Duration
}

// Consumer is a named subscription to the event log run as a worker.
type Consumer struct {
	db     *DB
	cfg    ConsumerConfig
	logger *slog.Logger

	mu      sync.Mutex
	stop    chan struct{}
	done    chan struct{}
	running bool
}

// NewConsumer returns a consumer; Start runs it.
func NewConsumer(db *DB, cfg ConsumerConfig) *Consumer {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	logger := cfg.Logger
	if logger == nil {
		logger = db.logger
	}
	return &Consumer{db: db, cfg: cfg, logger: logger.With(slog.String("subscription", cfg.Name))}
}

// Name returns the subscription name.
func (c *Consumer) Name() string { return c.cfg.Name }

// Start runs the consumer in a goroutine until Stop is called or ctx ends.
// New in-process appends wake it at once; appends by other processes are
// found by polling.
func (c *Consumer) Start(ctx context.Context) error {
	if c.cfg.Name == "" || c.cfg.Handler == nil {
		return lianlu.Errorf(lianlu.EINVALID, "consumer needs a name and a handler")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return lianlu.Errorf(lianlu.ECONFLICT, "consumer %s already running", c.cfg.Name)
	}
	c.running = true
	c.stop = make(chan struct{})
	c.done = make(chan struct{})
	go c.run(ctx, c.stop, c.done)
	return nil
}

// Stop asks the consumer to finish its current batch and waits until it has
// returned. The stored position is then the last committed batch.
func (c *Consumer) Stop() {
	c.mu.Lock()
	if !c.running {
		c.mu.Unlock()
		return
	}
	close(c.stop)
	done := c.done
	c.running = false
	c.mu.Unlock()
	<-done
}

func (c *Consumer) run(ctx context.Context, stop, done chan struct{}) {
	defer close(done)
	backoff := 100 * time.Millisecond
	for {
		// Take the wake-up channel before reading, so an append committed
		// during the read is not missed.
		wake := c.db.Appended()
		n, err := c.ProcessOnce(ctx)
		var wait time.Duration
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			c.logger.Error("subscription batch failed", slog.Any("error", err), slog.Duration("retry_in", backoff))
			wait = backoff
			backoff = min(backoff*2, c.cfg.MaxBackoff)
		case n >= c.cfg.BatchSize:
			backoff = 100 * time.Millisecond
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			default:
				continue
			}
		default:
			backoff = 100 * time.Millisecond
			wait = c.db.poll
		}
		timer := time.NewTimer(wait)
		select {
		case <-stop:
			timer.Stop()
			return
		case <-ctx.Done():
			timer.Stop()
			return
		case <-wake:
			if err != nil {
				// After an error, wait out the backoff anyway.
				select {
				case <-timer.C:
				case <-stop:
					return
				case <-ctx.Done():
					return
				}
			}
			timer.Stop()
		case <-timer.C:
		}
	}
}

// ProcessOnce handles at most one batch and returns how many events it
// handled.
func (c *Consumer) ProcessOnce(ctx context.Context) (int, error) {
	tx, err := c.db.BeginTx(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	pos, err := lockSubscription(ctx, tx, c.cfg.Name)
	if err != nil {
		return 0, err
	}
	filter := c.cfg.Filter
	filter.AfterSeq = pos
	filter.Limit = c.cfg.BatchSize
	events, err := findEventsTx(ctx, tx, filter)
	if err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return 0, nil
	}
	if err := c.cfg.Handler(ctx, tx, events); err != nil {
		return 0, fmt.Errorf("subscription %s: handler: %w", c.cfg.Name, err)
	}
	if _, err := tx.exec(ctx, `UPDATE subscriptions SET position = ?, updated_at = ? WHERE name = ?`,
		events[len(events)-1].Seq, tx.db.dialect.timeArg(tx.now), c.cfg.Name); err != nil {
		return 0, fmt.Errorf("subscription %s: save position: %w", c.cfg.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return len(events), nil
}

// lockSubscription creates the subscription if needed, locks its row for
// the transaction (so that two nodes never process the same batch) and
// returns its position.
func lockSubscription(ctx context.Context, tx *Tx, name string) (int64, error) {
	if _, err := tx.exec(ctx, `INSERT INTO subscriptions (name, position, updated_at) VALUES (?, 0, ?) ON CONFLICT (name) DO NOTHING`,
		name, tx.db.dialect.timeArg(tx.now)); err != nil {
		return 0, fmt.Errorf("subscription %s: create: %w", name, err)
	}
	var pos int64
	if err := tx.queryRow(ctx, tx.db.dialect.lockSubscriptionSQL(), name).Scan(&pos); err != nil {
		return 0, fmt.Errorf("subscription %s: position: %w", name, err)
	}
	return pos, nil
}

// Subscription is a named consumer's stored position.
type Subscription struct {
	Name      string    `json:"name"`
	Position  int64     `json:"position"`
	UpdatedAt time.Time `json:"updated_at"`
}

// FindSubscriptions returns every stored subscription position.
func (db *DB) FindSubscriptions(ctx context.Context) ([]Subscription, error) {
	rows, err := db.readQuery(ctx, `SELECT name, position, updated_at FROM subscriptions ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find subscriptions: %w", err)
	}
	defer rows.Close()
	var subs []Subscription
	for rows.Next() {
		var s Subscription
		if err := rows.Scan(&s.Name, &s.Position, sqlTime{&s.UpdatedAt}); err != nil {
			return nil, err
		}
		subs = append(subs, s)
	}
	return subs, rows.Err()
}

// ResetSubscription moves a subscription's position (for replays).
func (db *DB) ResetSubscription(ctx context.Context, name string, position int64) error {
	if position < 0 {
		return errors.New("position must not be negative")
	}
	return db.WithTx(ctx, func(tx *Tx) error {
		if _, err := lockSubscription(ctx, tx, name); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `UPDATE subscriptions SET position = ?, updated_at = ? WHERE name = ?`,
			position, tx.db.dialect.timeArg(tx.now), name)
		return err
	})
}
