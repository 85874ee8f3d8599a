package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

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
