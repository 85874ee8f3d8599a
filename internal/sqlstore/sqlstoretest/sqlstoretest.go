// Package sqlstoretest opens throwaway databases for tests of every
// package: a temporary SQLite file, or a fresh schema in the PostgreSQL
// database named by LIANLU_TEST_POSTGRES_URL (tests skip with a message
// when it is not set).
package sqlstoretest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/lianlu/lianlu/internal/sqlstore"
)

// EnvPostgresURL names the variable holding the test database's URL.
const EnvPostgresURL = "LIANLU_TEST_POSTGRES_URL"

// Dialects are the storage backends every storage test runs on.
var Dialects = []string{"sqlite", "postgres"}

// PostgresURL creates a schema in the test database, dropped at cleanup,
// and returns a URL whose search_path points at it. It skips the test when
// no test database is configured.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		tb.Skip("PostgreSQL tests need " + EnvPostgresURL + " (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if db, err := sql.Open("pgx", base); err == nil {
			db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Options returns opts with the location of a fresh database of dialect.
func Options(tb testing.TB, dialect string, opts sqlstore.Options) sqlstore.Options {
	tb.Helper()
	switch dialect {
	case "sqlite":
		opts.Path = filepath.Join(tb.TempDir(), "lianlu.db")
	case "postgres":
		opts.URL = PostgresURL(tb)
	default:
		tb.Fatalf("unknown dialect %q", dialect)
	}
	return opts
}

// MustOpen opens and migrates a fresh database of dialect, closed at
// cleanup.
func MustOpen(tb testing.TB, dialect string, opts sqlstore.Options) *sqlstore.DB {
	tb.Helper()
	return OpenAt(tb, Options(tb, dialect, opts))
}

// OpenAt opens and migrates the database opts names (a location from
// Options, opened again as another process would), closed at cleanup.
func OpenAt(tb testing.TB, opts sqlstore.Options) *sqlstore.DB {
	tb.Helper()
	db, err := sqlstore.Open(context.Background(), opts)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return db
}
