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
	// Relevant, when set, is asked once per batch, after the batch is read,
	// for a predicate that tells whether the handler could act on an event;
	// the predicate sees only the events' Seq, Type and Department.
	// A batch of which no event is relevant (without Relevant: a batch
	// with no event that Filter selects) is skipped without a write
	// transaction: the position moves on in memory and is stored at most
	// every PositionFlushInterval (with the next batch that is handled, or
	// on its own). On SQLite, where the one writer connection serves the
	// appends too, this keeps a consumer that sees every event (the flow
	// runner, the webhook fan-out) off the writer while collector traffic
	// it has nothing to do with streams by. The predicate must err on the
	// side of true, and must be taken after the batch was read, so that
	// whatever it consults (flows, webhooks) is at least as new as the
	// events.
	Relevant func(ctx context.Context) (func(lianlu.Event) bool, error)
}

// PositionFlushInterval bounds how long a consumer's position may run
// ahead of the stored one over skipped batches (ConsumerConfig.Relevant).
// After a crash those events are looked at again, which changes nothing
// unless what the handler consults changed meanwhile.
const PositionFlushInterval = time.Second

// Consumer is a named subscription to the event log run as a worker.
type Consumer struct {
	db     *DB
	cfg    ConsumerConfig
	logger *slog.Logger

	mu      sync.Mutex
	stop    chan struct{}
	done    chan struct{}
	running bool

	// Skipped batches move the position from the stored skipFrom to
	// skipTo in memory, since skipSince.
	skipMu    sync.Mutex
	skipFrom  int64
	skipTo    int64
	skipSince time.Time
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
	if from, _ := c.skipped(); from >= 0 {
		// Keep what was skipped, so that a restart does not look again.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.flushSkipped(ctx, from, true); err != nil {
			c.logger.Warn("subscription: store skipped position", slog.Any("error", err))
		}
	}
}

func (c *Consumer) run(ctx context.Context, stop, done chan struct{}) {
	defer close(done)
	backoff := 100 * time.Millisecond
	// woken is true after an in-process append woke the consumer: the
	// ring of recent heads then knows the new events. After a poll (or at
	// the start) the log is read, for events that other processes appended.
	woken := false
	for {
		// Take the wake-up channel before reading, so an append committed
		// during the read is not missed.
		wake := c.db.Appended()
		n, err := c.processOnce(ctx, woken)
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
			woken = true
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
			woken = false
		}
	}
}

// ProcessOnce handles at most one batch and returns how many events it
// handled (or skipped).
func (c *Consumer) ProcessOnce(ctx context.Context) (int, error) { return c.processOnce(ctx, false) }

// processOnce is ProcessOnce; useRing lets it look at the ring of recent
// heads before reading the log.
func (c *Consumer) processOnce(ctx context.Context, useRing bool) (int, error) {
	var stored, ahead int64 = -1, -1
	// Without a relevance predicate, a look on the reader pool would only
	// repeat the batch's own query: the ring is what makes the look cheap.
	if useRing || c.cfg.Relevant != nil {
		n, done, err := c.skipIrrelevant(ctx, useRing)
		if done || err != nil {
			return n, err
		}
		stored, ahead = c.skipped()
	}
	tx, err := c.db.BeginTx(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	pos, err := lockSubscription(ctx, tx, c.cfg.Name)
	if err != nil {
		return 0, err
	}
	if pos == stored && ahead > pos {
		// The skipped events commit with this batch's position.
		pos = ahead
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
	c.resetSkip()
	return len(events), nil
}

// skipped returns the stored position that skipped batches started from
// and the position they reached, -1 and -1 when there are none.
func (c *Consumer) skipped() (from, to int64) {
	c.skipMu.Lock()
	defer c.skipMu.Unlock()
	if c.skipTo <= c.skipFrom {
		return -1, -1
	}
	return c.skipFrom, c.skipTo
}

func (c *Consumer) resetSkip() {
	c.skipMu.Lock()
	c.skipFrom, c.skipTo, c.skipSince = 0, 0, time.Time{}
	c.skipMu.Unlock()
}

// skipIrrelevant looks at the next batch without a write transaction and,
// when none of its events is relevant (ConsumerConfig.Relevant; without
// it, when there are none), skips it: the position moves on in memory.
// With useRing the batch is first taken from the ring of events this
// process appended; what the ring does not know is read on the reader
// pool, only seq, type and department. done is false when the batch must
// be handled (or a skip was undone because another node moved the
// position).
func (c *Consumer) skipIrrelevant(ctx context.Context, useRing bool) (n int, done bool, err error) {
	var stored int64
	if err := c.db.readRow(ctx, `SELECT position FROM subscriptions WHERE name = ?`, c.cfg.Name).Scan(&stored); err != nil && !isNotFound(err) {
		return 0, false, fmt.Errorf("subscription %s: position: %w", c.cfg.Name, err)
	}
	from, to := c.skipped()
	pos := stored
	if from == stored {
		pos = to
	} else if from >= 0 {
		c.resetSkip() // another node moved the position
	}
	filter := c.cfg.Filter
	filter.AfterSeq = pos
	filter.Limit = c.cfg.BatchSize
	var events []lianlu.Event
	last := pos // the highest seq looked at
	conclusive := false
	if useRing {
		events, last, conclusive = c.db.heads.after(filter, c.cfg.BatchSize)
	}
	if !conclusive {
		filter.AfterSeq = last
		filter.Limit = c.cfg.BatchSize - len(events)
		// Only what relevance needs: reading the data of events that are
		// skipped would cost more than the rest of the skip.
		query, args := eventQuery(c.db.dialect, filter, "seq, type, department", "seq")
		rows, err := c.db.readQuery(ctx, query, args...)
		if err != nil {
			return 0, false, fmt.Errorf("subscription %s: find events: %w", c.cfg.Name, err)
		}
		for rows.Next() {
			var e lianlu.Event
			if err := rows.Scan(&e.Seq, &e.Type, &e.Department); err != nil {
				rows.Close()
				return 0, false, fmt.Errorf("subscription %s: scan event: %w", c.cfg.Name, err)
			}
			events = append(events, e)
			last = e.Seq
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, false, fmt.Errorf("subscription %s: find events: %w", c.cfg.Name, err)
		}
	}
	if last <= pos {
		return 0, true, c.flushSkipped(ctx, stored, false)
	}
	if len(events) > 0 {
		if c.cfg.Relevant == nil {
			return 0, false, nil
		}
		relevant, err := c.cfg.Relevant(ctx)
		if err != nil {
			return 0, false, fmt.Errorf("subscription %s: relevance: %w", c.cfg.Name, err)
		}
		for _, e := range events {
			if relevant(e) {
				return 0, false, nil
			}
		}
	}
	c.skipMu.Lock()
	if c.skipTo <= c.skipFrom || c.skipFrom != stored {
		c.skipFrom, c.skipSince = stored, time.Now()
	}
	c.skipTo = last
	c.skipMu.Unlock()
	return len(events), true, c.flushSkipped(ctx, stored, false)
}

// flushSkipped stores the position reached by skipped batches once they
// are PositionFlushInterval old (or when force is set). The update applies
// only if the stored position is still the one they started from.
func (c *Consumer) flushSkipped(ctx context.Context, stored int64, force bool) error {
	c.skipMu.Lock()
	from, to, since := c.skipFrom, c.skipTo, c.skipSince
	c.skipMu.Unlock()
	if to <= from || from != stored || !force && time.Since(since) < PositionFlushInterval {
		return nil
	}
	tx, err := c.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := lockSubscription(ctx, tx, c.cfg.Name); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `UPDATE subscriptions SET position = ?, updated_at = ? WHERE name = ? AND position = ?`,
		to, tx.db.dialect.timeArg(tx.now), c.cfg.Name, from); err != nil {
		return fmt.Errorf("subscription %s: save position: %w", c.cfg.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	c.resetSkip()
	return nil
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
