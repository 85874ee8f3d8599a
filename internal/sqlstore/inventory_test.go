package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

func f64(v float64) *float64 { return &v }

// mustCatalog creates SKU-1, SKU-2 and locations WH-SH (warehouse) and
// ST-BJ (store).
func mustCatalog(t *testing.T, db *sqlstore.DB) *sqlstore.CatalogService {
	t.Helper()
	ctx := ctxT(t)
	c := sqlstore.NewCatalogService(db)
	for _, p := range []lianlu.Product{
		{SKU: "SKU-1", Name: "空气净化器 A1", Category: "air", Price: 199900, Active: true},
		{SKU: "SKU-2", Name: "Filter F2", Category: "air", Price: 9900, Active: true},
	} {
		if _, _, err := c.UpsertProduct(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []lianlu.Location{
		{Code: "WH-SH", Kind: "warehouse", Name: "Shanghai DC", Lat: f64(31.23), Lng: f64(121.47), Active: true},
		{Code: "ST-BJ", Kind: "store", Name: "Beijing Sanlitun", Lat: f64(39.93), Lng: f64(116.45), Timezone: "Asia/Shanghai", Active: true},
	} {
		if _, _, err := c.UpsertLocation(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestCatalog_Upserts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		c := mustCatalog(t, db)
		p, res, err := c.UpsertProduct(ctx, lianlu.Product{SKU: "SKU-1", Name: "空气净化器 A1", Category: "air", Price: 199900, Active: true})
		if err != nil || res != lianlu.UpsertUnchanged {
			t.Fatalf("same product again: %v %v", res, err)
		}
		p2, res, err := c.UpsertProduct(ctx, lianlu.Product{SKU: "SKU-1", Name: "空气净化器 A1", Category: "air", Price: 189900, Active: true})
		if err != nil || res != lianlu.UpsertUpdated || p2.ID != p.ID || p2.Price != 189900 || p2.CreatedAt != p.CreatedAt {
			t.Fatalf("update: %+v %v %v", p2, res, err)
		}
		got, err := c.FindProductBySKU(ctx, "SKU-1")
		if err != nil || got.Price.String() != "1899.00" || got.Name != "空气净化器 A1" {
			t.Fatalf("find: %+v %v", got, err)
		}
		if _, err := c.FindProductBySKU(ctx, "nope"); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Fatalf("unknown sku: %v", err)
		}
		_, _, err = c.UpsertProduct(ctx, lianlu.Product{SKU: "bad sku!", Price: -1})
		if fields := lianlu.ErrorFields(err); len(fields) != 4 {
			t.Fatalf("invalid product: %v", fields)
		}
		inactive := false
		if ps, _ := c.FindProducts(ctx, lianlu.ProductFilter{Active: &inactive}); len(ps) != 0 {
			t.Fatalf("inactive products: %v", ps)
		}
		if ps, _ := c.FindProducts(ctx, lianlu.ProductFilter{Category: "air", Limit: 1}); len(ps) != 1 || ps[0].SKU != "SKU-1" {
			t.Fatalf("paged products: %v", ps)
		}
		if ps, _ := c.FindProducts(ctx, lianlu.ProductFilter{AfterID: p.ID}); len(ps) != 1 || ps[0].SKU != "SKU-2" {
			t.Fatalf("second page: %v", ps)
		}

		_, _, err = c.UpsertLocation(ctx, lianlu.Location{Code: "WH-SH", Kind: "store", Name: "x", Active: true})
		if lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Fatalf("kind change: %v", err)
		}
		_, _, err = c.UpsertLocation(ctx, lianlu.Location{Code: "X", Kind: "shed", Name: "", Lat: f64(91), Timezone: "Mars/Olympus"})
		if fields := lianlu.ErrorFields(err); len(fields) != 5 {
			t.Fatalf("invalid location: %v", fields)
		}
		stores, err := c.FindLocations(ctx, lianlu.LocationFilter{Kind: "store"})
		if err != nil || len(stores) != 1 || stores[0].Code != "ST-BJ" || *stores[0].Lat != 39.93 || stores[0].Timezone != "Asia/Shanghai" {
			t.Fatalf("stores: %+v %v", stores, err)
		}
		// Each change appended one product.upserted or location.upserted.
		es, _ := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{TypePrefix: "product."})
		if len(es) != 3 || es[0].Department != "product" || es[0].Subject != "product/SKU-1" {
			t.Fatalf("product events: %d %+v", len(es), es)
		}
		es, _ = sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{Types: []string{"location.upserted"}})
		if len(es) != 2 || es[0].Department != "supply_chain" || es[1].Department != "stores" {
			t.Fatalf("location events: %+v", es)
		}
	})
}

func TestInventory_AdjustAndReserve(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		mustCatalog(t, db)
		inv := sqlstore.NewInventoryService(db)
		a, err := inv.Adjust(ctx, lianlu.Adjustment{SKU: "SKU-1", Location: "WH-SH", Delta: 10, Reason: "receipt", ExternalID: "ASN-1"})
		if err != nil || a.Level.OnHand != 10 || a.Level.Available != 10 {
			t.Fatalf("receipt: %+v %v", a, err)
		}
		again, err := inv.Adjust(ctx, lianlu.Adjustment{SKU: "SKU-1", Location: "WH-SH", Delta: 10, Reason: "receipt", ExternalID: "ASN-1"})
		if err != nil || again.ID != a.ID || again.Level.OnHand != 10 {
			t.Fatalf("repeated external id applied twice: %+v %v", again, err)
		}
		_, err = inv.Adjust(ctx, lianlu.Adjustment{SKU: "nope", Location: "nowhere", Delta: 0, Reason: "gift"})
		if fields := lianlu.ErrorFields(err); len(fields) != 2 { // delta and reason first
			t.Fatalf("invalid adjustment: %v", fields)
		}
		_, err = inv.Adjust(ctx, lianlu.Adjustment{SKU: "nope", Location: "nowhere", Delta: 1, Reason: "receipt"})
		if fields := lianlu.ErrorFields(err); len(fields) != 2 || fields[0].Field != "sku" || fields[1].Field != "location" {
			t.Fatalf("unknown sku and location: %v", fields)
		}

		r, short, err := inv.Reserve(ctx, "F-1", "WH-SH", []lianlu.ReservationLine{{SKU: "SKU-1", Qty: 3}, {SKU: "SKU-1", Qty: 4}})
		if err != nil || short != nil || r.Lines[0].Qty != 7 {
			t.Fatalf("reserve: %+v %v %v", r, short, err)
		}
		// Same ref: the same reservation, nothing more reserved.
		if r2, _, err := inv.Reserve(ctx, "F-1", "WH-SH", []lianlu.ReservationLine{{SKU: "SKU-1", Qty: 7}}); err != nil || r2.ID != r.ID {
			t.Fatalf("same ref: %+v %v", r2, err)
		}
		// Short on SKU-2: nothing is reserved, SKU-1 included.
		_, short, err = inv.Reserve(ctx, "F-2", "WH-SH", []lianlu.ReservationLine{{SKU: "SKU-1", Qty: 2}, {SKU: "SKU-2", Qty: 1}})
		if lianlu.ErrorCode(err) != lianlu.ECONFLICT || len(short) != 1 || short[0].SKU != "SKU-2" || short[0].Available != 0 {
			t.Fatalf("short: %v %v", short, err)
		}
		levels, _ := inv.FindStockLevels(ctx, lianlu.InventoryFilter{SKU: "SKU-1"})
		if len(levels) != 1 || levels[0].Reserved != 7 || levels[0].Available != 3 {
			t.Fatalf("levels after short reservation: %+v", levels)
		}
		// On hand may not drop below what is reserved.
		if _, err := inv.Adjust(ctx, lianlu.Adjustment{SKU: "SKU-1", Location: "WH-SH", Delta: -4, Reason: "damage"}); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Fatalf("adjust below reserved: %v", err)
		}
		rel, err := inv.Release(ctx, r.ID)
		if err != nil || rel.Status != lianlu.ReservationReleased {
			t.Fatalf("release: %+v %v", rel, err)
		}
		if _, err := inv.Release(ctx, r.ID); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Fatalf("second release: %v", err)
		}
		if _, err := inv.Release(ctx, 9999); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Fatalf("unknown release: %v", err)
		}
		if _, err := inv.Adjust(ctx, lianlu.Adjustment{SKU: "SKU-2", Location: "WH-SH", Delta: 5, Reason: "count"}); err != nil {
			t.Fatal(err)
		}
		levels, _ = inv.FindStockLevels(ctx, lianlu.InventoryFilter{Location: "WH-SH"})
		if len(levels) != 2 || levels[0].SKU != "SKU-1" || levels[0].Reserved != 0 || levels[0].Available != 10 {
			t.Fatalf("levels after release: %+v", levels)
		}
		if page, _ := inv.FindStockLevels(ctx, lianlu.InventoryFilter{After: "SKU-1|WH-SH"}); len(page) != 1 || page[0].SKU != "SKU-2" {
			t.Fatalf("paged levels: %+v", page)
		}
		es, _ := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{TypePrefix: "inventory."})
		var types []string
		for _, e := range es {
			types = append(types, e.Type)
		}
		if fmt.Sprint(types) != "[inventory.adjusted inventory.reserved inventory.released inventory.adjusted]" {
			t.Fatalf("inventory events: %v", types)
		}
	})
}

// 50 concurrent reservations of one unit each, 10 units in stock: exactly
// 10 succeed and exactly 10 units are reserved.
func TestInventory_ConcurrentReservationsNeverOversell(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		mustCatalog(t, db)
		inv := sqlstore.NewInventoryService(db)
		if _, err := inv.Adjust(ctx, lianlu.Adjustment{SKU: "SKU-1", Location: "ST-BJ", Delta: 10, Reason: "receipt"}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, shortCount := 0, 0
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, short, err := inv.Reserve(context.Background(), fmt.Sprintf("O-%d", i), "ST-BJ", []lianlu.ReservationLine{{SKU: "SKU-1", Qty: 1}})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case len(short) == 1:
					shortCount++
				default:
					t.Errorf("reserve %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		levels, _ := inv.FindStockLevels(ctx, lianlu.InventoryFilter{SKU: "SKU-1", Location: "ST-BJ"})
		if ok != 10 || shortCount != 40 || levels[0].Reserved != 10 || levels[0].Available != 0 {
			t.Fatalf("%d reserved, %d short, level %+v", ok, shortCount, levels)
		}
	})
}
