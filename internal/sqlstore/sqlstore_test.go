package sqlstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"database/sql"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/lianlu/lianlu/internal/sqlstore"
)

// dialects returns the storage backends to exercise. The PostgreSQL
// subtests skip, saying why, when LIANLU_TEST_POSTGRES_URL is not set.
func dialects(testing.TB) []string { return []string{"sqlite", "postgres"} }

// forEachDialect runs f as a subtest per dialect.
func forEachDialect(t *testing.T, f func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	for _, d := range dialects(t) {
		t.Run(d, func(t *testing.T) {
			f(t, MustOpenDB(t, d))
		})
	}
}

// MustOpenDB opens and migrates a fresh database of the dialect: a temporary
// SQLite file, or a new PostgreSQL schema dropped at cleanup.
func MustOpenDB(tb testing.TB, dialect string) *sqlstore.DB {
	tb.Helper()
	opts := sqlstore.Options{}
	switch dialect {
	case "sqlite":
		opts.Path = filepath.Join(tb.TempDir(), "lianlu.db")
	case "postgres":
		opts.URL = MustPostgresSchema(tb)
	default:
		tb.Fatalf("unknown dialect %q", dialect)
	}
	db, err := sqlstore.Open(context.Background(), opts)
	if err != nil {
		tb.Fatalf("open %s: %v", dialect, err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate %s: %v", dialect, err)
	}
	return db
}

// MustPostgresSchema creates a schema in the test database and returns a URL
// whose search_path points at it.
func MustPostgresSchema(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("LIANLU_TEST_POSTGRES_URL")
	if base == "" {
		tb.Skip("PostgreSQL tests need LIANLU_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
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
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
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

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
