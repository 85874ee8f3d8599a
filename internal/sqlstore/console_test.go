package sqlstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/dispatch"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

func TestConsoleQueries_Overview(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, db *sqlstore.DB, clock *whClock) {
		ctx := lianlu.NewContextWithPrincipal(ctxT(t), lianlu.Principal{Name: "test", Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
		loc := time.FixedZone("CST", 8*3600)
		// 2026-03-02 09:00 UTC is 17:00 in Shanghai, a Monday.
		catalog := sqlstore.NewCatalogService(db)
		if _, _, err := catalog.UpsertProduct(ctx, lianlu.Product{SKU: "A", Name: "A", Category: "c", Price: 1000, Active: true}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := catalog.UpsertLocation(ctx, lianlu.Location{Code: "S", Kind: lianlu.LocationStore, Name: "S", Active: true}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := catalog.UpsertLocation(ctx, lianlu.Location{Code: "W", Kind: lianlu.LocationWarehouse, Name: "W", Active: true}); err != nil {
			t.Fatal(err)
		}
		for _, l := range []string{"W", "S"} {
			if _, err := sqlstore.NewInventoryService(db).Adjust(ctx, lianlu.Adjustment{SKU: "A", Location: l, Delta: 100, Reason: "receipt"}); err != nil {
				t.Fatal(err)
			}
		}
		runner := flow.NewRunner(db, flow.RunnerConfig{})
		if err := flow.Seed(ctx, db, flow.Defaults(), false); err != nil {
			t.Fatal(err)
		}
		if err := runner.Load(ctx); err != nil {
			t.Fatal(err)
		}
		orders := sqlstore.NewOrderService(db)
		place := func(n int, at time.Time, channel string) {
			p := lianlu.OrderPlacement{ExternalID: fmt.Sprintf("O-%d", n), Channel: channel, Lines: []lianlu.OrderLine{{SKU: "A", Qty: 1}}, PlacedAt: at,
				Member: &lianlu.MemberRef{Phone: fmt.Sprintf("1381234%04d", n)}}
			if channel == lianlu.ChannelStore {
				p.Store = "S"
			} else {
				p.ShipTo = &lianlu.Address{Address: "x"}
			}
			if _, _, err := orders.PlaceOrder(ctx, p); err != nil {
				t.Fatal(err)
			}
			if _, err := runner.ProcessOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		now := clock.Now()
		place(1, now.Add(-30*time.Minute), lianlu.ChannelOnline)  // today (Shanghai)
		place(2, now.Add(-2*time.Hour), lianlu.ChannelStore)      // today
		place(3, now.Add(-18*time.Hour), lianlu.ChannelOnline)    // yesterday, Shanghai time
		place(4, now.Add(-20*24*time.Hour), lianlu.ChannelOnline) // outside the chart
		// Events recorded over the last hours from two sources.
		events := sqlstore.NewEventService(db)
		for h := 0; h < 5; h++ {
			for i := 0; i <= h; i++ {
				if _, err := events.AppendEvents(ctx, []lianlu.Event{{ID: fmt.Sprintf("e-%d-%d", h, i), Source: "segment:9", Type: "segment.track", Department: "marketing"}}); err != nil {
					t.Fatal(err)
				}
			}
			clock.Add(time.Hour)
		}
		for {
			n, err := runner.ProcessOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		// Orders 4 and 3 are long overdue for their follow-ups.
		if _, err := runner.ScanOnce(ctx); err != nil {
			t.Fatal(err)
		}
		q := sqlstore.NewConsoleQueries(db)
		now = clock.Now()
		ov, err := q.Overview(ctx, now, loc, 14)
		if err != nil {
			t.Fatal(err)
		}
		// Orders 1 and 2 were placed today in Shanghai, order 3 late
		// yesterday evening there.
		if len(ov.Days) != 14 || ov.OrdersToday != 2 || ov.Days[13].Store != 1 || ov.Days[12].Online != 1 || ov.RevenueToday != 2000 {
			t.Fatalf("days %+v today %d", ov.Days, ov.OrdersToday)
		}
		var total int64
		for _, d := range ov.Days {
			total += d.Online + d.Store
		}
		if total != 3 {
			t.Fatalf("orders in the 14-day chart = %d, want 3 (%+v)", total, ov.Days)
		}
		if ov.Fulfillments[lianlu.FulfillmentReserved] != 4 {
			t.Fatalf("fulfillments %+v", ov.Fulfillments)
		}
		if ov.OpenWorkOrders[lianlu.DeptService] != 4 {
			t.Fatalf("open work orders %+v", ov.OpenWorkOrders)
		}
		var service *sqlstore.DepartmentHandoffs
		for i := range ov.Handoffs {
			if ov.Handoffs[i].Department == lianlu.DeptService {
				service = &ov.Handoffs[i]
			}
		}
		if service == nil || service.Open != 4 || service.Breached == 0 {
			t.Fatalf("handoffs by department %+v", ov.Handoffs)
		}
		var seg *sqlstore.SourceRate
		for i := range ov.Rates {
			if ov.Rates[i].Source == "segment:9" {
				seg = &ov.Rates[i]
			}
		}
		if seg == nil || seg.Total != 15 || len(seg.Hours) != sqlstore.RateHours {
			t.Fatalf("segment:9 rate %+v", seg)
		}
		// Hour by hour: 1, 2, 3, 4, 5 events, in the last five hours
		// but the current one.
		got := seg.Hours[sqlstore.RateHours-6 : sqlstore.RateHours-1]
		for i, n := range got {
			if n != int64(i+1) {
				t.Fatalf("events per hour %v, want 1..5", got)
			}
		}

		hs, n, err := q.QueueHandoffs(ctx, lianlu.DeptService, 10)
		if err != nil || n != 4 || len(hs) != 4 {
			t.Fatalf("service queue handoffs %d %v", n, err)
		}
		for i := 1; i < len(hs); i++ {
			if hs[i].DueAt.Before(*hs[i-1].DueAt) {
				t.Fatal("queue handoffs are not in due order")
			}
		}
		recent, err := q.RecentOrders(ctx, "", 0, 2)
		if err != nil || len(recent) != 2 || recent[0].ID != 4 {
			t.Fatalf("recent orders %+v %v", recent, err)
		}
		if store, _ := q.RecentOrders(ctx, "S", 0, 10); len(store) != 1 || store[0].Channel != lianlu.ChannelStore {
			t.Fatalf("store orders %+v", store)
		}
		latest, err := q.LatestEvents(ctx, lianlu.EventFilter{Source: "segment:9", Limit: 3})
		if err != nil || len(latest) != 3 || latest[0].Seq < latest[1].Seq {
			t.Fatalf("latest events %+v %v", latest, err)
		}
		c, err := q.Counts(ctx)
		if err != nil || c.Orders != 4 || c.Members != 4 || c.Breached == 0 {
			t.Fatalf("counts %+v %v", c, err)
		}
	})
}

// TestConsoleQueries_MembersAndServiceRequests: the newest members leave
// out those merged into another; a store's service requests are those
// assigned to it and those it was asked to accept before they moved on.
func TestConsoleQueries_MembersAndServiceRequests(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, db *sqlstore.DB, clock *whClock) {
		ctx := lianlu.NewContextWithPrincipal(ctxT(t), lianlu.Principal{Name: "test", Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
		stores := sqlstore.NewStoreService(db)
		for i, code := range []string{"A_1", "AX1", "B"} {
			lat, lng := 31.2+float64(i)*0.01, 121.4
			if _, _, err := stores.CreateStore(ctx, lianlu.StoreInput{Code: code, Name: &code, Lat: &lat, Lng: &lng, Skills: []string{"install"},
				CapacityPerDay: ptrTo(5), ServiceRadiusKm: ptrTo(50.0)}); err != nil {
				t.Fatal(err)
			}
		}
		members := sqlstore.NewMemberService(db)
		a, err := members.Join(ctx, lianlu.JoinRequest{Store: "B", Phone: "13800138000"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := members.Join(ctx, lianlu.JoinRequest{Store: "B", Phone: "13900139000"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := members.MergeMembers(ctx, a.Member.ID, b.Member.ID, "same person"); err != nil {
			t.Fatal(err)
		}
		q := sqlstore.NewConsoleQueries(db)
		ms, err := q.RecentMembers(ctx, 10)
		if err != nil || len(ms) != 1 || ms[0].ID != a.Member.ID || ms[0].JoinedStore != "B" {
			t.Fatalf("recent members %+v %v", ms, err)
		}

		d := dispatch.NewService(db, stores, dispatch.Config{})
		lat, lng := 31.2, 121.4
		wo, _, err := d.RequestService(ctx, lianlu.ServiceRequest{Member: &lianlu.MemberRef{ID: a.Member.ID}, Skill: "install",
			Address: &lianlu.Address{Lat: &lat, Lng: &lng}, PreferredDate: "2026-03-03"})
		if err != nil || wo.Store != "A_1" {
			t.Fatalf("dispatch %+v %v", wo, err)
		}
		if wo, err = d.RejectServiceRequest(ctx, wo.ID, "no technician"); err != nil || wo.Store != "AX1" {
			t.Fatalf("reject %+v %v", wo, err)
		}
		for store, want := range map[string]int{"A_1": 1, "AX1": 1, "B": 0} {
			got, err := q.ServiceRequests(ctx, store, 10)
			if err != nil || len(got) != want || (want == 1 && (got[0].ID != wo.ID || len(got[0].Dispatch.Attempts) != 2)) {
				t.Errorf("service requests of %s: %+v %v", store, got, err)
			}
		}
	})
}

func ptrTo[T any](v T) *T { return &v }
