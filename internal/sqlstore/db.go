// Package sqlstore implements Lianlu's storage on SQLite (modernc.org/sqlite,
// pure Go) and PostgreSQL (pgx v5): the event log, subscriptions, access
// control and the service implementations. Both dialects pass one
// conformance suite.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/lianlu/lianlu"
)

// Options configure Open.
type Options struct {
	// URL is a postgres:// URL. Empty means SQLite at Path.
	URL string
	// Path is the SQLite database file; used when URL is empty.
	Path string
	// Synchronous is SQLite's synchronous pragma: "FULL" (default; every
	// commit is durable against power loss) or "NORMAL" (durable against a
	// process crash only).
	Synchronous string
	// ReadConns caps the reader pool (default 4).
	ReadConns int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives operational logs; default discards.
	Logger *slog.Logger
	// PollInterval is how often subscription workers look for events that
	// another node appended (in-process appends wake them at once).
	// Default 1s.
	PollInterval time.Duration
	// PhoneRegion is the ISO 3166 region in which phone numbers without a
	// country code are read (default CN).
	PhoneRegion string
}

// DB is a handle to the database with a writer pool, a reader pool and the
// in-process append notifier.
type DB struct {
	dialect dialect
	writer  *sql.DB
	reader  *sql.DB
	now     func() time.Time
	logger  *slog.Logger
	poll    time.Duration
	// phoneRegion reads national phone numbers (Options.PhoneRegion).
	phoneRegion string

	// walSync, on SQLite with synchronous=FULL, makes each commit durable
	// after the writer connection is released (see walSyncer).
	walSync *walSyncer

	// heads remembers the latest events this process appended, for
	// subscriptions to look at before they read the log.
	heads *headRing

	// appendedTotal counts events appended by this process.
	appendedTotal atomic.Int64

	// notify is closed and replaced after every commit that appended events.
	mu     sync.Mutex
	notify chan struct{}

	stmtMu sync.Mutex
	rebind map[string]string
}

// Open opens the database. It does not migrate; call Migrate.
func Open(ctx context.Context, opts Options) (*DB, error) {
	db := &DB{
		now:    opts.Now,
		logger: opts.Logger,
		poll:   opts.PollInterval,
		notify: make(chan struct{}),
		heads:  newHeadRing(),

		phoneRegion: opts.PhoneRegion,
		rebind:      map[string]string{},
	}
	if db.now == nil {
		db.now = time.Now
	}
	if db.logger == nil {
		db.logger = slog.New(slog.DiscardHandler)
	}
	if db.poll <= 0 {
		db.poll = time.Second
	}
	if db.phoneRegion == "" {
		db.phoneRegion = DefaultPhoneRegion
	}
	readConns := opts.ReadConns
	if readConns <= 0 {
		readConns = 4
	}

	var err error
	switch {
	case opts.URL != "":
		if !strings.HasPrefix(opts.URL, "postgres://") && !strings.HasPrefix(opts.URL, "postgresql://") {
			return nil, lianlu.Errorf(lianlu.EINVALID, "database URL must start with postgres://")
		}
		db.dialect = postgresDialect{}
		if db.writer, err = sql.Open("pgx", opts.URL); err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.writer.SetMaxOpenConns(16)
		db.writer.SetMaxIdleConns(16)
		db.reader = db.writer
	default:
		if opts.Path == "" {
			return nil, lianlu.Errorf(lianlu.EINVALID, "SQLite path required")
		}
		if dir := filepath.Dir(opts.Path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create data directory: %w", err)
			}
		}
		// Create the file owner-only; SQLite gives its -wal and -shm files
		// the same permissions.
		if f, err := os.OpenFile(opts.Path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			return nil, fmt.Errorf("create database file: %w", err)
		} else {
			f.Close()
		}
		sync := strings.ToUpper(opts.Synchronous)
		if sync == "" {
			sync = "FULL"
		}
		if sync != "FULL" && sync != "NORMAL" {
			return nil, lianlu.Errorf(lianlu.EINVALID, "synchronous must be FULL or NORMAL")
		}
		db.dialect = sqliteDialect{}
		if sync == "FULL" {
			// FULL durability by an fsync of the log outside the writer
			// lock; SQLite itself commits as NORMAL (see walSyncer).
			db.walSync = newWALSyncer(opts.Path, db.logger)
			sync = "NORMAL"
		}
		// busy_timeout first so that the other pragmas wait for locks too.
		dsn := func(extra string) string {
			q := url.Values{}
			q.Add("_pragma", "busy_timeout(10000)")
			q.Add("_pragma", "journal_mode(WAL)")
			q.Add("_pragma", "foreign_keys(1)")
			q.Add("_pragma", "synchronous("+sync+")")
			if extra != "" {
				q.Add("_txlock", extra)
			}
			return "file:" + opts.Path + "?" + q.Encode()
		}
		if db.writer, err = sql.Open("sqlite", dsn("immediate")); err != nil {
			return nil, fmt.Errorf("open sqlite writer: %w", err)
		}
		// One writer connection: SQLite allows one writer at a time, and
		// queuing in Go is cheaper than SQLITE_BUSY retries.
		db.writer.SetMaxOpenConns(1)
		db.writer.SetMaxIdleConns(1)
		db.writer.SetConnMaxLifetime(0)
		db.writer.SetConnMaxIdleTime(0)
		if db.reader, err = sql.Open("sqlite", dsn("")); err != nil {
			db.writer.Close()
			return nil, fmt.Errorf("open sqlite reader: %w", err)
		}
		db.reader.SetMaxOpenConns(readConns)
		db.reader.SetMaxIdleConns(readConns)
	}
	if err := db.writer.PingContext(ctx); err != nil {
		db.Close()
		return nil, lianlu.Errorf(lianlu.EUNAVAILABLE, "database unreachable: %v", err)
	}
	return db, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	var errs []error
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}
	if db.reader != nil && db.reader != db.writer {
		errs = append(errs, db.reader.Close())
	}
	return errors.Join(errs...)
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect.name() }

// Now returns the current time of the injected clock, in UTC, truncated to
// the microseconds both dialects store.
func (db *DB) Now() time.Time { return db.now().UTC().Truncate(time.Microsecond) }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.reader.PingContext(ctx); err != nil {
		return lianlu.Errorf(lianlu.EUNAVAILABLE, "database unreachable")
	}
	return nil
}

// Appended returns a channel closed at the next in-process commit that
// appends events. Readers in other processes fall back to polling.
func (db *DB) Appended() <-chan struct{} {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.notify
}

// signalAppend wakes everything waiting on appended.
func (db *DB) signalAppend() {
	db.mu.Lock()
	close(db.notify)
	db.notify = make(chan struct{})
	db.mu.Unlock()
}

// q rewrites a query written with ? placeholders for the dialect.
func (db *DB) q(query string) string {
	if db.dialect.name() != "postgres" {
		return query
	}
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if s, ok := db.rebind[query]; ok {
		return s
	}
	s := rebindDollar(query)
	if len(db.rebind) < 4096 {
		db.rebind[query] = s
	}
	return s
}

// rebindDollar turns ? placeholders into $1, $2, … outside string literals.
func rebindDollar(query string) string {
	var b strings.Builder
	n := 0
	inQuote := false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Tx is a write transaction with the time it began, so that every row and
// event a command writes carries the same "now".
type Tx struct {
	*sql.Tx
	db       *DB
	now      time.Time
	appended int64 // new events appended in this transaction
	// heads are the new events' Seq, Type and Department.
	heads    []lianlu.Event
	onCommit []func()
}

// BeginTx starts a write transaction on the writer pool.
func (db *DB) BeginTx(ctx context.Context) (*Tx, error) {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &Tx{Tx: tx, db: db, now: db.Now()}, nil
}

// Now returns the transaction's time.
func (tx *Tx) Now() time.Time { return tx.now }

// OnCommit registers f to run after a successful commit.
func (tx *Tx) OnCommit(f func()) { tx.onCommit = append(tx.onCommit, f) }

// Commit commits, waits until the commit is durable, and then wakes
// subscribers if events were appended.
func (tx *Tx) Commit() error {
	durable, err := tx.commitWritten()
	if err != nil {
		return err
	}
	return durable()
}

// commitWritten commits without waiting for the commit to be durable, so
// that the caller can start its next transaction during the fsync (the
// group commit does). durable waits for it, then wakes subscribers and
// runs the OnCommit functions; the commit is acknowledged only once
// durable has returned nil.
func (tx *Tx) commitWritten() (durable func() error, err error) {
	if err := tx.Tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", mapError(err))
	}
	var n uint64
	if s := tx.db.walSync; s != nil {
		n = s.committedOne()
	}
	return func() error {
		if s := tx.db.walSync; s != nil {
			if err := s.wait(n); err != nil {
				return fmt.Errorf("commit: %w", err)
			}
		}
		if tx.appended > 0 {
			tx.db.appendedTotal.Add(tx.appended)
			tx.db.heads.add(tx.heads)
			tx.db.signalAppend()
		}
		for _, f := range tx.onCommit {
			f()
		}
		return nil
	}, nil
}

// exec, query and queryRow rewrite placeholders for the dialect.
func (tx *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.ExecContext(ctx, tx.db.q(query), args...)
}

func (tx *Tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.QueryContext(ctx, tx.db.q(query), args...)
}

func (tx *Tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.QueryRowContext(ctx, tx.db.q(query), args...)
}

// WithTx runs f in a write transaction, committing when f returns nil.
func (db *DB) WithTx(ctx context.Context, f func(tx *Tx) error) error {
	tx, err := db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// readQuery and readRow run a query on the reader pool.
func (db *DB) readQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.reader.QueryContext(ctx, db.q(query), args...)
}

func (db *DB) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	return db.reader.QueryRowContext(ctx, db.q(query), args...)
}

// Rebind rewrites a query written with ? placeholders for the dialect, for
// callers outside this package that run their own SQL in a Tx.
func (tx *Tx) Rebind(query string) string { return tx.db.q(query) }
