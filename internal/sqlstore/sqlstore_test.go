package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

// dialects returns the storage backends to exercise. The PostgreSQL
// subtests skip, saying why, when LIANLU_TEST_POSTGRES_URL is not set.
func dialects(testing.TB) []string { return sqlstoretest.Dialects }

// forEachDialect runs f as a subtest per dialect.
func forEachDialect(t *testing.T, f func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	for _, d := range dialects(t) {
		t.Run(d, func(t *testing.T) {
			f(t, MustOpenDB(t, d))
		})
	}
}

// MustOpenDB opens and migrates a fresh database of the dialect.
func MustOpenDB(tb testing.TB, dialect string) *sqlstore.DB {
	tb.Helper()
	return sqlstoretest.MustOpen(tb, dialect, sqlstore.Options{})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
