package dispatch_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/dispatch"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

// BenchmarkRequestService10k measures a whole service request among
// 10,000 stores on SQLite with durable commits: member lookup, the day's
// loads, the decision, the work order, the attempt handoff and their
// events in one transaction. Setting up the stores takes a while.
func BenchmarkRequestService10k(b *testing.B) {
	db := sqlstoretest.MustOpen(b, "sqlite", sqlstore.Options{})
	ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{Name: "bench", Department: "admin", Role: lianlu.RoleAdmin})
	stores := sqlstore.NewStoreService(db)
	r := rand.New(rand.NewPCG(7, 11))
	skills := []string{"install", "repair", "fitting", "clean", "measure"}
	for i := range 10_000 {
		code := fmt.Sprintf("S%05d", i)
		capacity, radius := 1+r.IntN(8), 5+r.Float64()*45
		if _, _, err := stores.CreateStore(ctx, lianlu.StoreInput{Code: code, Name: &code, Lat: f(22 + r.Float64()*18), Lng: f(110 + r.Float64()*12),
			Skills: []string{skills[i%5], skills[(i+2)%5]}, CapacityPerDay: &capacity, ServiceRadiusKm: &radius}); err != nil {
			b.Fatal(err)
		}
	}
	svc := dispatch.NewService(db, stores, dispatch.Config{})
	if err := svc.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := lianlu.ServiceRequest{Member: &lianlu.MemberRef{Phone: fmt.Sprintf("+86138%08d", i%1000)}, Skill: skills[i%3],
			Address: &lianlu.Address{Lat: f(24 + r.Float64()*14), Lng: f(112 + r.Float64()*8)}, PreferredDate: "2026-12-06"}
		start := time.Now()
		if _, _, err := svc.RequestService(ctx, req); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99_µs")
}
