package dispatch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/dispatch"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

// TestDispatch_IgnoresForgedAcceptance: a workorder.accepted that reached
// the log past the intake, not from the work order command, does not mark
// the store's attempt accepted, so the request still moves on when the
// store lets its deadline pass.
func TestDispatch_IgnoresForgedAcceptance(t *testing.T) {
	for _, dialect := range sqlstoretest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)}
			db := sqlstoretest.MustOpen(t, dialect, sqlstore.Options{Now: clk.Now})
			ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 1, Name: "svc", Department: "service", Role: lianlu.RoleAdmin})
			stores := sqlstore.NewStoreService(db)
			for _, code := range []string{"NEAR", "FAR"} {
				lat := map[string]float64{"NEAR": 31.24, "FAR": 31.32}[code]
				capacity := 5
				if _, _, err := stores.CreateStore(ctx, lianlu.StoreInput{Code: code, Name: &code, Lat: f(lat), Lng: f(121.4737), Hours: allDay(),
					Skills: []string{"install"}, CapacityPerDay: &capacity, ServiceRadiusKm: f(30)}); err != nil {
					t.Fatal(err)
				}
			}
			svc := dispatch.NewService(db, stores, dispatch.Config{})
			w, _, err := svc.RequestService(ctx, lianlu.ServiceRequest{ExternalID: "SR-F", Member: &lianlu.MemberRef{Phone: "13800138000"}, Skill: "install",
				Address: &lianlu.Address{Address: "人民广场", Lat: f(31.2304), Lng: f(121.4737)}, PreferredDate: "2026-12-03"})
			if err != nil || w.Store != "NEAR" {
				t.Fatalf("request: %+v %v", w, err)
			}
			if _, err := sqlstore.NewEventService(db).AppendEvents(ctx, []lianlu.Event{
				{ID: "f-1", Source: "pos", Type: "workorder.accepted", Subject: fmt.Sprintf("workorder/%d", w.ID), Department: lianlu.DeptStores},
			}); err != nil {
				t.Fatal(err)
			}
			for {
				n, err := svc.ProcessOnce(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			w, _ = sqlstore.NewWorkOrderService(db).FindWorkOrderByID(ctx, w.ID)
			if got := w.Dispatch.Attempts[0].Outcome; got != lianlu.AttemptPending {
				t.Fatalf("a forged acceptance made the attempt %s", got)
			}
			clk.Add(2*time.Hour + time.Minute)
			if n, err := svc.ScanOnce(ctx); err != nil || n != 1 {
				t.Fatalf("the unaccepted request was not passed on: %d %v", n, err)
			}
		})
	}
}
