package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// TestTrust_Ingest: the intake's mapping refuses what the trust boundary
// refuses even when called without the API's checks, holds business
// events to their departments, admins' too, and gives an admin's stock
// count the counted location's department.
func TestTrust_Ingest(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{Name: "ops", Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
		catalog := sqlstore.NewCatalogService(db)
		if _, _, err := catalog.UpsertProduct(ctx, lianlu.Product{SKU: "A", Name: "A", Category: "c", Price: 1000, Active: true}); err != nil {
			t.Fatal(err)
		}
		for _, l := range []lianlu.Location{{Code: "WH", Kind: lianlu.LocationWarehouse, Name: "WH", Active: true}, {Code: "ST", Kind: lianlu.LocationStore, Name: "ST", Active: true}} {
			if _, _, err := catalog.UpsertLocation(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		in := sqlstore.NewIntakeService(db)
		ev := func(id, source, typ, dept, data string) lianlu.Event {
			return lianlu.Event{ID: id, Source: source, Type: typ, Department: dept, Data: json.RawMessage(data)}
		}
		for name, tc := range map[string]struct {
			e           lianlu.Event
			code, field string
		}{
			"own source":         {ev("order/1/placed", lianlu.CommandSource, "crm.note", lianlu.DeptSales, `{}`), lianlu.EFORBIDDEN, "source"},
			"own type":           {ev("x", "shop", "fulfillment.shipped", lianlu.DeptSupplyChain, `{}`), lianlu.EFORBIDDEN, "type"},
			"collector type":     {ev("x", "crm", "segment.identify", lianlu.DeptMarketing, `{}`), lianlu.EFORBIDDEN, "type"},
			"another's order":    {ev("x", "shop", "shop.order.created", lianlu.DeptMarketing, `{"order_id":"M","lines":[{"sku":"A","qty":1}],"ship_to":{"address":"x"}}`), lianlu.EFORBIDDEN, "department"},
			"another's count":    {ev("x", "wms", "wms.inventory.snapshot", lianlu.DeptSupplyChain, `{"location":"ST","items":[{"sku":"A","on_hand":1}]}`), lianlu.EFORBIDDEN, "data.location"},
			"admin's own dept":   {ev("x", "survey", "service.survey.submitted", lianlu.DeptAdmin, `{"survey_id":"1","rating":1}`), lianlu.EFORBIDDEN, "department"},
			"marketing's survey": {ev("x", "survey", "service.survey.submitted", lianlu.DeptMarketing, `{"survey_id":"1","rating":1}`), lianlu.EFORBIDDEN, "department"},
		} {
			_, err := in.Ingest(ctx, []lianlu.Event{tc.e})
			if fs := lianlu.ErrorFields(err); lianlu.ErrorCode(err) != tc.code || len(fs) != 1 || fs[0].Field != tc.field {
				t.Errorf("%s: %v %+v", name, err, fs)
			}
		}
		if es, _ := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{TypePrefix: "s"}); len(es) != 0 {
			t.Fatalf("refused events stored: %+v", es)
		}
		// An admin's business events without a department are the owners'.
		res, err := in.Ingest(ctx, []lianlu.Event{
			ev("c1", "pos", "wms.inventory.snapshot", "", `{"location":"ST","items":[{"sku":"A","on_hand":3}]}`),
			ev("c2", "wms", "wms.inventory.snapshot", "", `{"location":"WH","items":[{"sku":"A","on_hand":5}]}`),
			ev("o1", "shop", "shop.order.created", "", `{"order_id":"A-1","lines":[{"sku":"A","qty":1}],"ship_to":{"address":"x"}}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []string{lianlu.DeptStores, lianlu.DeptSupplyChain, lianlu.DeptSales} {
			if got := res[i].Event.Department; got != want || !lianlu.TrustedEvent(res[i].Event) {
				t.Errorf("event %d: department %s, want %s", i, got, want)
			}
		}
	})
}

// TestTrust_SquattedOrderEvent: if Lianlu's own order.placed id was taken
// past the intake, placing that order fails whole instead of leaving an
// order without the event its flows start from.
func TestTrust_SquattedOrderEvent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{Name: "ops", Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
		if _, _, err := sqlstore.NewCatalogService(db).UpsertProduct(ctx, lianlu.Product{SKU: "A", Name: "A", Category: "c", Price: 1000, Active: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := sqlstore.NewEventService(db).AppendEvents(ctx, []lianlu.Event{{ID: "order/1/placed", Source: lianlu.CommandSource, Type: "member.updated", Department: lianlu.DeptMarketing}}); err != nil {
			t.Fatal(err)
		}
		orders := sqlstore.NewOrderService(db)
		_, _, err := orders.PlaceOrder(ctx, lianlu.OrderPlacement{ExternalID: "SQ-1", Channel: lianlu.ChannelOnline, Lines: []lianlu.OrderLine{{SKU: "A", Qty: 1}},
			ShipTo: &lianlu.Address{Address: "x"}})
		if err == nil {
			t.Fatal("an order was placed whose order.placed id was taken")
		}
		if os, _ := orders.FindOrders(ctx, lianlu.OrderFilter{}); len(os) != 0 {
			t.Fatalf("orders %+v", os)
		}
	})
}

// TestTrust_ClaimedActorStored: the claimed actor is kept apart from the
// actor on both dialects, on both append paths.
func TestTrust_ClaimedActorStored(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		e := lianlu.Event{ID: "a-1", Source: "crm", Type: "crm.note", Department: lianlu.DeptSales, Actor: "token:crm", ClaimedActor: "user:admin"}
		res, err := sqlstore.NewEventService(db).AppendEvents(ctx, []lianlu.Event{e})
		if err != nil {
			t.Fatal(err)
		}
		app := sqlstore.NewAppender(db, sqlstore.AppenderConfig{})
		app.Start()
		defer app.Stop()
		e.ID = "a-2"
		if _, err := app.Append(ctx, []lianlu.Event{e}); err != nil {
			t.Fatal(err)
		}
		es, err := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{AfterSeq: res[0].Event.Seq - 1})
		if err != nil || len(es) != 2 {
			t.Fatalf("events %+v %v", es, err)
		}
		for _, got := range es {
			if got.Actor != "token:crm" || got.ClaimedActor != "user:admin" {
				t.Errorf("%s: actor %q, claimed %q", got.ID, got.Actor, got.ClaimedActor)
			}
		}
	})
}
