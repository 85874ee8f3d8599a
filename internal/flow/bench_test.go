package flow_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

// BenchmarkOrderToFulfillment places orders at a steady 200 orders/s for
// LIANLU_BENCH_SECONDS (default 10) while the runner runs live, and reports
// the latency from the order's commit to the commit of the runner batch
// that created its fulfillment and work order (p50, p99, max). Run with
// -benchtime 1x: the load is fixed by rate and duration, not b.N.
func BenchmarkOrderToFulfillment(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			for range b.N {
				benchOrderFlow(b, dialect)
			}
		})
	}
}

func benchOrderFlow(b *testing.B, dialect string) {
	ctx := context.Background()
	db := sqlstoretest.MustOpen(b, dialect, sqlstore.Options{})
	cat := sqlstore.NewCatalogService(db)
	inv := sqlstore.NewInventoryService(db)
	lat, lng := 31.23, 121.47
	cat.UpsertLocation(ctx, lianlu.Location{Code: "WH-SH", Kind: "warehouse", Name: "DC", Lat: &lat, Lng: &lng, Active: true})
	for i := range 50 {
		sku := fmt.Sprintf("SKU-%d", i)
		cat.UpsertProduct(ctx, lianlu.Product{SKU: sku, Name: sku, Category: "c", Price: 9900, Active: true})
		inv.Adjust(ctx, lianlu.Adjustment{SKU: sku, Location: "WH-SH", Delta: 1_000_000, Reason: "receipt"})
	}
	if err := flow.Seed(ctx, db, flow.Defaults(), false); err != nil {
		b.Fatal(err)
	}

	var mu sync.Mutex
	placed := map[string]time.Time{}  // order subject → PlaceOrder returned
	handled := map[string]time.Time{} // order subject → the runner's batch committed
	r := flow.NewRunner(db, flow.RunnerConfig{OnCommitted: func(events []lianlu.Event) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if e.Type == "order.placed" {
				handled[e.Subject] = now
			}
		}
	}})
	if err := r.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer r.Stop()

	seconds := 10
	if v := os.Getenv("LIANLU_BENCH_SECONDS"); v != "" {
		fmt.Sscan(v, &seconds)
	}
	const rate = 200
	orders := sqlstore.NewOrderService(db)
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range rate * seconds {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, _, err := orders.PlaceOrder(ctx, lianlu.OrderPlacement{ExternalID: fmt.Sprintf("B-%d", i), Channel: "online",
				Lines:  []lianlu.OrderLine{{SKU: fmt.Sprintf("SKU-%d", i%50), Qty: 1}},
				ShipTo: &lianlu.Address{Address: "x", Lat: &lat, Lng: &lng}})
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			placed[sqlstore.OrderSubject(o.ID)] = time.Now()
			mu.Unlock()
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(handled)
		mu.Unlock()
		if n >= rate*seconds || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if len(handled) < rate*seconds || len(placed) < rate*seconds {
		b.Fatalf("%d of %d orders placed, %d processed", len(placed), rate*seconds, len(handled))
	}
	// The runner, woken by the order's commit, can finish before
	// PlaceOrder has returned to its caller: that latency counts as 0.
	var lat1 []time.Duration
	for subject, at := range placed {
		lat1 = append(lat1, max(0, handled[subject].Sub(at)))
	}
	slices.Sort(lat1)
	q := func(p float64) time.Duration { return lat1[int(p*float64(len(lat1)-1))] }
	b.ReportMetric(float64(q(0.50).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(lat1[len(lat1)-1].Microseconds())/1000, "max_ms")
	b.ReportMetric(float64(len(lat1)), "orders")
}
