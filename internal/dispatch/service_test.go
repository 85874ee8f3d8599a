package dispatch_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/dispatch"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func f(v float64) *float64 { return &v }

func allDay() lianlu.OpeningHours {
	h := lianlu.OpeningHours{}
	for _, d := range lianlu.Weekdays {
		h[d] = [][2]string{{"00:00", "24:00"}}
	}
	return h
}

func TestDispatchService(t *testing.T) {
	for _, dialect := range sqlstoretest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)} // 10:00 in Shanghai
			db, err := sqlstore.Open(context.Background(), sqlstoretest.Options(t, dialect, sqlstore.Options{Now: clk.Now}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 1, Name: "svc", Department: "service", Role: lianlu.RoleAdmin})
			stores := sqlstore.NewStoreService(db)
			mk := func(code string, lat float64, skills []string, capacity int) {
				t.Helper()
				if _, _, err := stores.CreateStore(ctx, lianlu.StoreInput{Code: code, Name: &code, Lat: f(lat), Lng: f(121.4737), Hours: allDay(),
					Skills: skills, CapacityPerDay: &capacity, ServiceRadiusKm: f(30)}); err != nil {
					t.Fatal(err)
				}
			}
			// The customer is at 31.2304 N; stores lie due north.
			mk("NEAR-NO-SKILL", 31.2350, []string{"repair"}, 5) // 0.5 km
			mk("NEAR-FULL", 31.2400, []string{"install"}, 1)    // 1 km
			mk("FARTHER", 31.3200, []string{"install"}, 5)      // 10 km
			if _, err := sqlstore.NewWorkOrderService(db).CreateWorkOrder(ctx, lianlu.WorkOrder{Kind: "on_site", Department: "stores", Store: "NEAR-FULL",
				Title: "earlier job", ServiceDate: "2026-12-03"}); err != nil {
				t.Fatal(err)
			}
			svc := dispatch.NewService(db, stores, dispatch.Config{})
			req := lianlu.ServiceRequest{ExternalID: "SR-1", Member: &lianlu.MemberRef{Phone: "13800138000"}, Skill: "install",
				Address: &lianlu.Address{Address: "人民广场", Lat: f(31.2304), Lng: f(121.4737)}, PreferredDate: "2026-12-03"}
			w, created, err := svc.RequestService(ctx, req)
			if err != nil || !created {
				t.Fatal(err)
			}
			d := w.Dispatch
			if w.Store != "FARTHER" || w.Department != "stores" || w.Flagged || w.MemberID == 0 || d == nil || len(d.Candidates) != 1 {
				t.Fatalf("decision: %+v %+v", w, d)
			}
			reasons := map[string][]string{}
			for _, x := range d.Excluded {
				reasons[x.Store] = x.Reasons
			}
			if !slices.Equal(reasons["NEAR-NO-SKILL"], []string{"lacks_skill"}) || !slices.Equal(reasons["NEAR-FULL"], []string{"full_on_date"}) {
				t.Fatalf("reasons: %v", reasons)
			}
			if len(d.Attempts) != 1 || d.Attempts[0].Store != "FARTHER" || d.Attempts[0].DueAt == nil || !d.Attempts[0].DueAt.Equal(clk.Now().Add(2*time.Hour)) {
				t.Fatalf("attempt: %+v", d.Attempts)
			}
			// Stored as returned, and idempotent by external id.
			again, created, err := svc.RequestService(ctx, req)
			if err != nil || created || again.ID != w.ID || again.Dispatch.Store != "FARTHER" {
				t.Fatalf("repeat: %+v %v %v", again, created, err)
			}

			// Another store opens; FARTHER lets the deadline pass.
			mk("FARTHEST", 31.4000, []string{"install"}, 5) // 19 km
			if err := svc.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			if n, err := svc.ScanOnce(ctx); err != nil || n != 0 {
				t.Fatalf("early scan: %d %v", n, err)
			}
			clk.Add(2*time.Hour + time.Minute)
			if n, err := svc.ScanOnce(ctx); err != nil || n != 1 {
				t.Fatalf("scan: %d %v", n, err)
			}
			w, _ = sqlstore.NewWorkOrderService(db).FindWorkOrderByID(ctx, w.ID)
			if w.Store != "FARTHEST" || len(w.Dispatch.Attempts) != 2 || w.Dispatch.Attempts[0].Outcome != "timed_out" || w.Dispatch.Attempts[1].Outcome != "pending" {
				t.Fatalf("after timeout: %+v %+v", w, w.Dispatch.Attempts)
			}
			hs, err := sqlstore.NewHandoffService(db).FindHandoffs(ctx, lianlu.HandoffFilter{Subject: fmt.Sprintf("workorder/%d", w.ID)})
			if err != nil || len(hs) != 2 {
				t.Fatalf("handoffs: %+v %v", hs, err)
			}
			if hs[0].Step != "attempt-1:FARTHER" || hs[0].Status != "failed" || hs[0].BreachCause != "pickup" || hs[0].ResponsibleDepartment != "stores" ||
				hs[1].Step != "attempt-2:FARTHEST" || hs[1].Status != "open" || hs[1].DueAt == nil {
				t.Fatalf("handoffs: %+v", hs)
			}
			// FARTHEST rejects: nobody is left, so service gets it, flagged.
			if _, err := svc.RejectServiceRequest(ctx, w.ID, "no technician"); err != nil {
				t.Fatal(err)
			}
			w, _ = sqlstore.NewWorkOrderService(db).FindWorkOrderByID(ctx, w.ID)
			if w.Department != "service" || w.Store != "" || !w.Flagged || w.Dispatch.Attempts[1].Outcome != "rejected" || w.Dispatch.ExcludedCounts["already_tried"] != 2 {
				t.Fatalf("after rejection: %+v %+v", w, w.Dispatch)
			}
			if _, err := svc.RejectServiceRequest(ctx, w.ID, ""); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
				t.Fatalf("reject without a store: %v", err)
			}

			// A second request: the store accepts, and the attempt says so.
			req.ExternalID = "SR-2"
			w2, _, err := svc.RequestService(ctx, req)
			if err != nil || w2.Store != "FARTHER" {
				t.Fatalf("second request: %+v %v", w2, err)
			}
			if _, err := sqlstore.NewWorkOrderService(db).AcceptWorkOrder(ctx, w2.ID, "tech-1"); err != nil {
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
			w2, _ = sqlstore.NewWorkOrderService(db).FindWorkOrderByID(ctx, w2.ID)
			if w2.Dispatch.Attempts[0].Outcome != "accepted" {
				t.Fatalf("accepted attempt: %+v", w2.Dispatch.Attempts)
			}
			clk.Add(5 * time.Hour)
			if n, err := svc.ScanOnce(ctx); err != nil || n != 0 {
				t.Fatalf("an accepted request was passed on: %d %v", n, err)
			}

			// Invalid requests name their fields.
			_, _, err = svc.RequestService(ctx, lianlu.ServiceRequest{Kind: "remote", Skill: "Install Now", PreferredDate: "tomorrow"})
			if len(lianlu.ErrorFields(err)) != 5 {
				t.Fatalf("invalid: %v", lianlu.ErrorFields(err))
			}
		})
	}
}
