package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// BenchmarkAppendBatch100 appends batches of 100 events, each batch one
// durable commit (SQLite synchronous=FULL), and reports events/s.
func BenchmarkAppendBatch100(b *testing.B) {
	for _, d := range dialects(b) {
		for _, par := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/writers=%d", d, par), func(b *testing.B) {
				db := MustOpenDB(b, d)
				s := sqlstore.NewEventService(db)
				data := json.RawMessage(`{"sku":"SKU-1001","qty":2,"unit_price":"199.00","channel":"online","store":"SH-01"}`)
				var n atomic.Int64
				b.SetParallelism(par)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					batch := make([]lianlu.Event, 100)
					for pb.Next() {
						base := n.Add(100)
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
				b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
