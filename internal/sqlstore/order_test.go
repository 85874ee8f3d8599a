package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// mustWarehouses adds warehouses in Guangzhou and Beijing (Shanghai comes
// from mustCatalog) and stock.
func mustWarehouses(t *testing.T, db *sqlstore.DB, stock map[string]int64) {
	t.Helper()
	ctx := ctxT(t)
	c := sqlstore.NewCatalogService(db)
	for _, l := range []lianlu.Location{
		{Code: "WH-GZ", Kind: "warehouse", Name: "Guangzhou DC", Lat: f64(23.13), Lng: f64(113.26), Active: true},
		{Code: "WH-BJ", Kind: "warehouse", Name: "Beijing DC", Lat: f64(39.90), Lng: f64(116.41), Active: true},
	} {
		if _, _, err := c.UpsertLocation(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	inv := sqlstore.NewInventoryService(db)
	for key, n := range stock {
		var sku, loc string
		fmt.Sscanf(key, "%s %s", &sku, &loc)
		if _, err := inv.Adjust(ctx, lianlu.Adjustment{SKU: sku, Location: loc, Delta: n, Reason: "receipt"}); err != nil {
			t.Fatal(err)
		}
	}
}

func online(ext string, lat, lng float64, lines ...lianlu.OrderLine) lianlu.OrderPlacement {
	return lianlu.OrderPlacement{ExternalID: ext, Channel: "online", Lines: lines,
		ShipTo: &lianlu.Address{Address: "somewhere", Lat: &lat, Lng: &lng}, Member: &lianlu.MemberRef{Phone: "138 0013 8000"}}
}

func TestOrders_PlaceValidateIdempotent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		mustCatalog(t, db)
		s := sqlstore.NewOrderService(db)
		placedAt := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
		p := online("SHOP-1", 31.2, 121.5, lianlu.OrderLine{SKU: "SKU-1", Qty: 2}, lianlu.OrderLine{SKU: "SKU-2", Qty: 1, UnitPrice: 8900})
		p.PlacedAt = placedAt
		o, created, err := s.PlaceOrder(ctx, p)
		if err != nil || !created {
			t.Fatalf("place: %v %v", created, err)
		}
		if o.Total != 2*199900+8900 || o.Lines[0].UnitPrice != 199900 || o.MemberID == 0 || !o.PlacedAt.Equal(placedAt) {
			t.Fatalf("order %+v", o)
		}
		again, created, err := s.PlaceOrder(ctx, p)
		if err != nil || created || again.ID != o.ID {
			t.Fatalf("same external id: %+v %v %v", again, created, err)
		}
		// The same member is found by another spelling of the phone.
		p2 := online("SHOP-2", 31.2, 121.5, lianlu.OrderLine{SKU: "SKU-1", Qty: 1})
		p2.Member = &lianlu.MemberRef{Phone: "+86 138-0013-8000"}
		o2, _, err := s.PlaceOrder(ctx, p2)
		if err != nil || o2.MemberID != o.MemberID {
			t.Fatalf("member by phone: %d vs %d, %v", o2.MemberID, o.MemberID, err)
		}
		got, err := s.FindOrderByID(ctx, o.ID)
		if err != nil || len(got.Lines) != 2 || got.ShipTo == nil || *got.ShipTo.Lat != 31.2 {
			t.Fatalf("find: %+v %v", got, err)
		}
		es, _ := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{Types: []string{"order.placed"}})
		if len(es) != 2 || !es[0].Time.Equal(placedAt) || es[0].Subject != sqlstore.OrderSubject(o.ID) || es[0].Department != "sales" {
			t.Fatalf("order.placed events: %+v", es)
		}

		for name, tc := range map[string]struct {
			p      lianlu.OrderPlacement
			fields []string
		}{
			"empty lines":       {lianlu.OrderPlacement{ExternalID: "X", Channel: "online", ShipTo: &lianlu.Address{Address: "a"}}, []string{"lines"}},
			"bad qty and sku":   {online("X", 1, 1, lianlu.OrderLine{SKU: "", Qty: 0}), []string{"lines[0].sku", "lines[0].qty"}},
			"unknown sku":       {online("X", 1, 1, lianlu.OrderLine{SKU: "NOPE", Qty: 1}), []string{"lines[0].sku"}},
			"no channel":        {lianlu.OrderPlacement{ExternalID: "X", Lines: []lianlu.OrderLine{{SKU: "SKU-1", Qty: 1}}}, []string{"channel"}},
			"store without one": {lianlu.OrderPlacement{ExternalID: "X", Channel: "store", Lines: []lianlu.OrderLine{{SKU: "SKU-1", Qty: 1}}}, []string{"store"}},
			"warehouse as store": {lianlu.OrderPlacement{ExternalID: "X", Channel: "store", Store: "WH-SH",
				Lines: []lianlu.OrderLine{{SKU: "SKU-1", Qty: 1}}}, []string{"store"}},
			"bad phone": {lianlu.OrderPlacement{ExternalID: "X", Channel: "store", Store: "ST-BJ", Member: &lianlu.MemberRef{Phone: "12"},
				Lines: []lianlu.OrderLine{{SKU: "SKU-1", Qty: 1}}}, []string{"member.phone"}},
			"unknown member": {lianlu.OrderPlacement{ExternalID: "X", Channel: "store", Store: "ST-BJ", Member: &lianlu.MemberRef{ID: 999},
				Lines: []lianlu.OrderLine{{SKU: "SKU-1", Qty: 1}}}, []string{"member.id"}},
			"coupon": {lianlu.OrderPlacement{ExternalID: "X", Channel: "store", Store: "ST-BJ", Coupon: "SAVE10",
				Lines: []lianlu.OrderLine{{SKU: "SKU-1", Qty: 1}}}, []string{"coupon"}},
		} {
			_, _, err := s.PlaceOrder(ctx, tc.p)
			fs := lianlu.ErrorFields(err)
			var names []string
			for _, f := range fs {
				names = append(names, f.Field)
			}
			if fmt.Sprint(names) != fmt.Sprint(tc.fields) {
				t.Errorf("%s: fields %v, want %v (%v)", name, names, tc.fields, err)
			}
		}
		if os, _ := s.FindOrders(ctx, lianlu.OrderFilter{}); len(os) != 2 {
			t.Fatalf("invalid orders were stored: %d", len(os))
		}
	})
}

// The same order posted concurrently creates one order.
func TestOrders_ConcurrentSameExternalID(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		mustCatalog(t, db)
		s := sqlstore.NewOrderService(db)
		var wg sync.WaitGroup
		ids := make([]int64, 8)
		createdN := 0
		var mu sync.Mutex
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, created, err := s.PlaceOrder(context.Background(), online("DUP-1", 30, 120, lianlu.OrderLine{SKU: "SKU-1", Qty: 1}))
				if err != nil {
					t.Errorf("place: %v", err)
					return
				}
				mu.Lock()
				ids[i] = o.ID
				if created {
					createdN++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("ids %v", ids)
			}
		}
		os, _ := s.FindOrders(ctxT(t), lianlu.OrderFilter{})
		es, _ := sqlstore.NewEventService(db).FindEvents(ctxT(t), lianlu.EventFilter{Types: []string{"order.placed"}})
		if createdN != 1 || len(os) != 1 || len(es) != 1 {
			t.Fatalf("created %d, %d orders, %d events", createdN, len(os), len(es))
		}
	})
}

func TestFulfillments_LocationRuleAndLifecycle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		mustCatalog(t, db)
		// SKU-1 in Shanghai (3) and Guangzhou (5); SKU-2 only in Guangzhou.
		mustWarehouses(t, db, map[string]int64{"SKU-1 WH-SH": 3, "SKU-1 WH-GZ": 5, "SKU-2 WH-GZ": 2, "SKU-1 ST-BJ": 1})
		orders := sqlstore.NewOrderService(db)
		fs := sqlstore.NewFulfillmentService(db)
		inv := sqlstore.NewInventoryService(db)
		place := func(p lianlu.OrderPlacement) lianlu.Fulfillment {
			t.Helper()
			o, _, err := orders.PlaceOrder(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			f, err := fs.CreateFulfillment(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		// Near Shanghai, SKU-1 only: Shanghai has it.
		f1 := place(online("A", 31.0, 121.0, lianlu.OrderLine{SKU: "SKU-1", Qty: 2}))
		if f1.Location != "WH-SH" || f1.Status != "reserved" || f1.Rule != sqlstore.RuleNearestInStock {
			t.Fatalf("f1 %+v", f1)
		}
		// Near Shanghai but needs SKU-2: only Guangzhou has every line.
		f2 := place(online("B", 31.0, 121.0, lianlu.OrderLine{SKU: "SKU-1", Qty: 1}, lianlu.OrderLine{SKU: "SKU-2", Qty: 1}))
		if f2.Location != "WH-GZ" || f2.Status != "reserved" {
			t.Fatalf("f2 %+v", f2)
		}
		// Nobody has 50: backordered at the nearest, with the short line.
		f3 := place(online("C", 39.9, 116.4, lianlu.OrderLine{SKU: "SKU-1", Qty: 50}))
		if f3.Location != "WH-BJ" || f3.Status != "backordered" || f3.Rule != sqlstore.RuleBackordered || len(f3.Short) != 1 || f3.Short[0].Requested != 50 {
			t.Fatalf("f3 %+v", f3)
		}
		// A store order ships from its store.
		f4 := place(lianlu.OrderPlacement{ExternalID: "D", Channel: "store", Store: "ST-BJ", Lines: []lianlu.OrderLine{{SKU: "SKU-1", Qty: 1}}})
		if f4.Location != "ST-BJ" || f4.Status != "reserved" || f4.Rule != sqlstore.RuleStore {
			t.Fatalf("f4 %+v", f4)
		}
		// Creating again returns the same fulfillment.
		if again, err := fs.CreateFulfillment(ctx, f1.OrderID); err != nil || again.ID != f1.ID {
			t.Fatalf("second create: %+v %v", again, err)
		}

		// Lifecycle: illegal transitions are conflicts; shipping takes the
		// stock off hand.
		if _, err := fs.ShipFulfillment(ctx, f1.ID, ""); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Fatalf("ship before pick: %v", err)
		}
		if _, err := fs.PickFulfillment(ctx, f1.ID); err != nil {
			t.Fatal(err)
		}
		shipped, err := fs.ShipFulfillment(ctx, f1.ID, "SF123")
		if err != nil || shipped.ShippedAt == nil || shipped.Tracking != "SF123" {
			t.Fatalf("ship: %+v %v", shipped, err)
		}
		levels, _ := inv.FindStockLevels(ctx, lianlu.InventoryFilter{SKU: "SKU-1", Location: "WH-SH"})
		if levels[0].OnHand != 1 || levels[0].Reserved != 0 {
			t.Fatalf("stock after ship: %+v", levels[0])
		}
		if _, err := fs.CancelFulfillment(ctx, f1.ID, ""); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Fatalf("cancel shipped: %v", err)
		}
		if _, err := orders.CancelOrder(ctx, f1.OrderID, ""); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Fatalf("cancel shipped order: %v", err)
		}
		if d, err := fs.DeliverFulfillment(ctx, f1.ID); err != nil || d.Status != "delivered" {
			t.Fatalf("deliver: %+v %v", d, err)
		}
		// Cancelling an order releases its fulfillment's stock.
		o2, err := orders.CancelOrder(ctx, f2.OrderID, "customer changed mind")
		if err != nil || o2.Status != "cancelled" {
			t.Fatalf("cancel order: %+v %v", o2, err)
		}
		got, _ := fs.FindFulfillmentByID(ctx, f2.ID)
		if got.Status != "cancelled" {
			t.Fatalf("fulfillment of cancelled order: %+v", got)
		}
		levels, _ = inv.FindStockLevels(ctx, lianlu.InventoryFilter{Location: "WH-GZ"})
		for _, l := range levels {
			if l.Reserved != 0 {
				t.Fatalf("stock still reserved after cancel: %+v", l)
			}
		}
		if _, err := orders.CancelOrder(ctx, f2.OrderID, ""); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Fatalf("cancel twice: %v", err)
		}
		if _, err := fs.CreateFulfillment(ctx, f2.OrderID); err != nil {
			t.Fatalf("existing fulfillment of cancelled order: %v", err)
		}
		list, _ := fs.FindFulfillments(ctx, lianlu.FulfillmentFilter{Status: "backordered"})
		if len(list) != 1 || list[0].ID != f3.ID || len(list[0].Lines) != 1 {
			t.Fatalf("backordered list: %+v", list)
		}
		es, _ := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{Subject: sqlstore.FulfillmentSubject(f1.ID)})
		var types []string
		for _, e := range es {
			types = append(types, e.Type)
		}
		if fmt.Sprint(types) != "[fulfillment.reserved fulfillment.picked fulfillment.shipped fulfillment.delivered]" {
			t.Fatalf("events %v", types)
		}
	})
}
