package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// Business events act exactly once, in the intake's transaction, on both
// dialects: a resent event is a duplicate that acts no more, and a failing
// command stores nothing, not even the event.
func TestIngest_BusinessEvents(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{Name: "erp", Role: lianlu.RoleOperator, Department: lianlu.DeptSupplyChain})
		catalog := sqlstore.NewCatalogService(db)
		if _, _, err := catalog.UpsertProduct(ctx, lianlu.Product{SKU: "A", Name: "A", Category: "c", Price: 1000, Active: true}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := catalog.UpsertLocation(ctx, lianlu.Location{Code: "WH", Kind: lianlu.LocationWarehouse, Name: "WH", Active: true}); err != nil {
			t.Fatal(err)
		}
		in := sqlstore.NewIntakeService(db)
		ev := func(id, typ, dept, data string) lianlu.Event {
			return lianlu.Event{ID: id, Source: "erp", Type: typ, Department: dept, Data: json.RawMessage(data)}
		}
		snap := ev("s1", "wms.inventory.snapshot", lianlu.DeptSupplyChain, `{"location":"WH","items":[{"sku":"A","on_hand":7}]}`)
		order := ev("o1", "shop.order.created", lianlu.DeptSales, `{"order_id":"TM-9","lines":[{"sku":"A","qty":2}],"ship_to":{"address":"x"}}`)
		res, err := in.Ingest(ctx, []lianlu.Event{snap, order})
		if err != nil || len(res) != 2 || len(res[0].Effects) != 1 || len(res[1].Effects) != 1 {
			t.Fatalf("ingest: %+v %v", res, err)
		}
		// Resent, and a second snapshot with the same count: nothing acts.
		res, err = in.Ingest(ctx, []lianlu.Event{snap, order, ev("s2", "wms.inventory.snapshot", lianlu.DeptSupplyChain, `{"location":"WH","items":[{"sku":"A","on_hand":7}]}`)})
		if err != nil || !res[0].Duplicate || !res[1].Duplicate || res[0].Effects != nil || res[2].Duplicate {
			t.Fatalf("resend: %+v %v", res, err)
		}
		levels, _ := sqlstore.NewInventoryService(db).FindStockLevels(ctx, lianlu.InventoryFilter{SKU: "A"})
		if len(levels) != 1 || levels[0].OnHand != 7 {
			t.Fatalf("stock %+v", levels)
		}
		orders, _ := sqlstore.NewOrderService(db).FindOrders(ctx, lianlu.OrderFilter{})
		if len(orders) != 1 || orders[0].ExternalID != "TM-9" {
			t.Fatalf("orders %+v", orders)
		}
		adjusted, _ := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{Types: []string{"inventory.adjusted"}})
		if len(adjusted) != 1 {
			t.Fatalf("%d inventory.adjusted events, want 1", len(adjusted))
		}
		// A failing command in a batch: nothing of the batch is stored.
		_, err = in.Ingest(ctx, []lianlu.Event{ev("v1", "service.survey.submitted", lianlu.DeptService, `{"survey_id":"1","rating":1,"order_id":"TM-9"}`),
			ev("o2", "shop.order.created", lianlu.DeptSales, `{"order_id":"TM-10","lines":[{"sku":"B","qty":1}],"ship_to":{"address":"x"}}`)})
		if fs := lianlu.ErrorFields(err); len(fs) != 1 || fs[0].Field != "[1].data.lines[0].sku" {
			t.Fatalf("failing batch: %v", err)
		}
		if es, _ := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{Source: "erp"}); len(es) != 3 {
			t.Fatalf("%d erp events after a failed batch, want 3", len(es))
		}
		if fb, _ := sqlstore.NewFeedbackService(db).FindFeedback(ctx, "", 0, 10); len(fb) != 0 {
			t.Fatalf("feedback of a failed batch: %+v", fb)
		}
	})
}
