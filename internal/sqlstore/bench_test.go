package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// BenchmarkAppendBatch100 appends batches of 100 events, each batch one
// durable commit (SQLite synchronous=FULL), and reports events/s.
func BenchmarkAppendBatch100(b *testing.B) { benchmarkAppend(b, 100) }

// BenchmarkAppendBatch1000 shows what larger transactions (as a group
// commit would make) gain.
func BenchmarkAppendBatch1000(b *testing.B) { benchmarkAppend(b, 1000) }

func benchmarkAppend(b *testing.B, size int) {
	for _, d := range dialects(b) {
		for _, par := range []int{1, 4} {
			// par × GOMAXPROCS goroutines append at once.
			b.Run(fmt.Sprintf("%s/writers=%d", d, par*runtime.GOMAXPROCS(0)), func(b *testing.B) {
				db := MustOpenDB(b, d)
				s := sqlstore.NewEventService(db)
				data := json.RawMessage(`{"sku":"SKU-1001","qty":2,"unit_price":"199.00","channel":"online","store":"SH-01"}`)
				var n atomic.Int64
				b.SetParallelism(par)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					batch := make([]lianlu.Event, size)
					for pb.Next() {
						base := n.Add(int64(size))
						for i := range batch {
							id := fmt.Sprint(base + int64(i))
							batch[i] = lianlu.Event{ID: id, Source: "bench", Type: "order.placed", Subject: "order/" + id,
								Department: lianlu.DeptSales, Data: data}
						}
						if _, err := s.AppendEvents(ctxT(b), batch); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkSQLiteInsertCeiling measures what SQLite itself (through
// modernc.org/sqlite and database/sql, without Lianlu's code) takes to
// insert batches of 100 rows shaped like events, one transaction each,
// from one goroutine: with the events table's unique key and three read
// indexes, with the unique key only, and with no index; with a durable
// commit (synchronous=FULL, SQLite's own fsync) and without one (NORMAL).
// It bounds what AppendBatch100 can reach on the machine.
func BenchmarkSQLiteInsertCeiling(b *testing.B) {
	schemas := []struct{ name, ddl string }{
		{"four-indexes", `UNIQUE (source, id));
			CREATE INDEX e_type ON events (type, seq);
			CREATE INDEX e_subject ON events (subject, seq);
			CREATE INDEX e_department ON events (department, seq)`},
		{"unique-only", `UNIQUE (source, id))`},
		{"no-index", `CHECK (1))`},
	}
	for _, schema := range schemas {
		for _, sync := range []string{"FULL", "NORMAL"} {
			b.Run(schema.name+"/"+sync, func(b *testing.B) {
				dsn := "file:" + filepath.Join(b.TempDir(), "x.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(" + sync + ")"
				db, err := sql.Open("sqlite", dsn)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				db.SetMaxOpenConns(1)
				if _, err := db.Exec(`CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, source TEXT NOT NULL,
					type TEXT NOT NULL, subject TEXT, time TEXT NOT NULL, recorded_at TEXT NOT NULL, department TEXT NOT NULL,
					actor TEXT, correlation_id TEXT, causation_id TEXT, dataschema TEXT, data TEXT, ` + schema.ddl); err != nil {
					b.Fatal(err)
				}
				data := `{"sku":"SKU-1001","qty":2,"unit_price":"199.00","channel":"online","store":"SH-01"}`
				ctx := context.Background()
				n := 0
				b.ResetTimer()
				for range b.N {
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						b.Fatal(err)
					}
					st, err := tx.PrepareContext(ctx, `INSERT INTO events (id, source, type, subject, time, recorded_at, department, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
					if err != nil {
						b.Fatal(err)
					}
					for range 100 {
						id := strconv.Itoa(n)
						n++
						now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
						if _, err := st.ExecContext(ctx, id, "bench", "order.placed", "order/"+id, now, now, "sales", data); err != nil {
							b.Fatal(err)
						}
					}
					st.Close()
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
