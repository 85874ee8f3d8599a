package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/lianlu/lianlu"
)

// dialect holds what differs between SQLite and PostgreSQL. Queries are
// written once with ? placeholders; only what cannot be shared is here.
type dialect interface {
	name() string
	// timeArg converts a time to the stored representation.
	timeArg(t time.Time) any
	// lockAppend serialises appends to the event log until the transaction
	// ends, so that seq order equals commit order.
	lockAppend(ctx context.Context, tx *Tx) error
	// lockSubscription locks one subscription row for the transaction.
	lockSubscriptionSQL() string
	// maxParams is the most bind parameters one statement may carry.
	maxParams() int
	// hourBucket is an SQL expression of a time column's UTC hour as text
	// "2006-01-02T15", for grouping.
	hourBucket(col string) string
}

// timeLayout is SQLite's stored time format: fixed width, so that text
// order is time order, in UTC with microseconds.
const timeLayout = "2006-01-02T15:04:05.000000Z"

type sqliteDialect struct{}

func (sqliteDialect) name() string { return "sqlite" }

func (sqliteDialect) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeLayout)
}

// SQLite has a single writer connection and BEGIN IMMEDIATE: appends are
// already serialised.
func (sqliteDialect) lockAppend(context.Context, *Tx) error { return nil }

func (sqliteDialect) lockSubscriptionSQL() string {
	return `SELECT position FROM subscriptions WHERE name = ?`
}

func (sqliteDialect) maxParams() int { return 32000 }

// Stored times are fixed-width UTC text: the hour is a prefix.
func (sqliteDialect) hourBucket(col string) string { return "substr(" + col + ", 1, 13)" }

type postgresDialect struct{}

func (postgresDialect) name() string { return "postgres" }

func (postgresDialect) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// appendLockKey is the advisory lock that serialises event appends on
// PostgreSQL. It is held from just before the insert until commit, so a
// transaction that takes a lower seq always commits first.
const appendLockKey = 0x6c69616e6c75 // "lianlu"

func (postgresDialect) lockAppend(ctx context.Context, tx *Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(appendLockKey)); err != nil {
		return fmt.Errorf("lock event log: %w", err)
	}
	return nil
}

func (postgresDialect) lockSubscriptionSQL() string {
	return `SELECT position FROM subscriptions WHERE name = ? FOR UPDATE`
}

func (postgresDialect) maxParams() int { return 65000 }

func (postgresDialect) hourBucket(col string) string {
	return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')"
}

// sqlTime scans a time stored by either dialect.
type sqlTime struct{ t *time.Time }

func (s sqlTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.t = time.Time{}
	case time.Time:
		*s.t = v.UTC()
	case string:
		return s.parse(v)
	case []byte:
		return s.parse(string(v))
	default:
		return fmt.Errorf("cannot scan %T into time", v)
	}
	return nil
}

func (s sqlTime) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("parse stored time %q: %w", v, err)
	}
	*s.t = t.UTC()
	return nil
}

// nullTime scans a nullable time into a *time.Time.
type nullTime struct{ t **time.Time }

func (s nullTime) Scan(v any) error {
	if v == nil {
		*s.t = nil
		return nil
	}
	var t time.Time
	if err := (sqlTime{&t}).Scan(v); err != nil {
		return err
	}
	*s.t = &t
	return nil
}

var _ sql.Scanner = sqlTime{}

// jsonArg passes JSON so that PostgreSQL's jsonb and SQLite's text both
// accept it; nil stays NULL.
func jsonArg(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// nullString maps "" to NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// mapError turns driver errors into application errors at the storage
// boundary: no rows is not_found, a unique violation is conflict.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &lianlu.Error{Code: lianlu.ENOTFOUND, Message: "not found"}
	}
	if isUniqueViolation(err) {
		return &lianlu.Error{Code: lianlu.ECONFLICT, Message: "already exists"}
	}
	return err
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		c := sqErr.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func isNotFound(err error) bool { return errors.Is(err, sql.ErrNoRows) }
