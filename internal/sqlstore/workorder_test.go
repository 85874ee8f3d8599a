package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

func TestWorkOrders(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := lianlu.NewContextWithPrincipal(ctxT(t), lianlu.Principal{TokenID: 1, Name: "svc", Department: "service", Role: lianlu.RoleOperator})
		mustCatalog(t, db)
		s := sqlstore.NewWorkOrderService(db)

		w, err := s.CreateWorkOrder(ctx, lianlu.WorkOrder{Kind: "order_followup", Title: "Call about O-1", Subject: "order/O-1", Ref: "flow:order_placed:1:followup"})
		if err != nil || w.Status != "open" || w.Priority != "normal" || w.Department != "service" || w.ID == 0 {
			t.Fatalf("create: %+v %v", w, err)
		}
		again, err := s.CreateWorkOrder(ctx, lianlu.WorkOrder{Kind: "order_followup", Title: "Call about O-1", Ref: "flow:order_placed:1:followup"})
		if err != nil || again.ID != w.ID {
			t.Fatalf("same ref created another: %+v %v", again, err)
		}
		_, err = s.CreateWorkOrder(ctx, lianlu.WorkOrder{Kind: "hug", Priority: "meh", Title: " "})
		if len(lianlu.ErrorFields(err)) != 3 {
			t.Fatalf("invalid: %v", lianlu.ErrorFields(err))
		}
		_, err = s.CreateWorkOrder(ctx, lianlu.WorkOrder{Kind: "on_site", Title: "Install", Department: "nowhere", Store: "WH-SH"})
		if f := lianlu.ErrorFields(err); len(f) != 2 || f[0].Field != "department" || f[1].Field != "store" {
			t.Fatalf("unknown queue: %v", f)
		}
		onsite, err := s.CreateWorkOrder(ctx, lianlu.WorkOrder{Kind: "on_site", Priority: "urgent", Title: "Install AP100", Department: "stores", Store: "ST-BJ", Subject: "order/O-2"})
		if err != nil || onsite.Store != "ST-BJ" {
			t.Fatalf("store work order: %+v %v", onsite, err)
		}

		if got, _ := s.FindWorkOrders(ctx, lianlu.WorkOrderFilter{Department: "stores", Store: "ST-BJ", Status: "open"}); len(got) != 1 || got[0].ID != onsite.ID {
			t.Fatalf("store queue: %+v", got)
		}
		if got, _ := s.FindWorkOrders(ctx, lianlu.WorkOrderFilter{Subject: "order/O-1"}); len(got) != 1 || got[0].ID != w.ID {
			t.Fatalf("by subject: %+v", got)
		}

		// Two operators accept at once: exactly one wins.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.AcceptWorkOrder(ctx, w.ID, fmt.Sprintf("agent-%d", i))
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
				} else if lianlu.ErrorCode(err) != lianlu.ECONFLICT {
					t.Errorf("accept: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d accepts won", wins)
		}
		got, _ := s.FindWorkOrderByID(ctx, w.ID)
		if got.Status != "accepted" || got.AcceptedAt == nil || got.Assignee == "" {
			t.Fatalf("accepted: %+v", got)
		}
		moved, err := s.ReassignWorkOrder(ctx, w.ID, "sales", "", "customer wants a discount")
		if err != nil || moved.Status != "open" || moved.Department != "sales" || moved.AcceptedAt != nil || moved.Assignee != "" {
			t.Fatalf("reassign: %+v %v", moved, err)
		}
		if _, err := s.ReassignWorkOrder(ctx, w.ID, "sales", "", ""); lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Fatalf("reassign to same queue: %v", err)
		}
		if _, err := s.ResolveWorkOrder(ctx, w.ID, "bad code!", ""); lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Fatalf("bad code: %v", err)
		}
		done, err := s.ResolveWorkOrder(ctx, w.ID, "contacted", "Called, all fine")
		if err != nil || done.Status != "resolved" || done.ResolvedAt == nil || done.AcceptedAt == nil || done.ResolutionCode != "contacted" {
			t.Fatalf("resolve: %+v %v", done, err)
		}
		for _, f := range []func() error{
			func() error { _, err := s.ResolveWorkOrder(ctx, w.ID, "again", ""); return err },
			func() error { _, err := s.AcceptWorkOrder(ctx, w.ID, ""); return err },
			func() error { _, err := s.ReassignWorkOrder(ctx, w.ID, "service", "", ""); return err },
		} {
			if err := f(); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
				t.Fatalf("transition of resolved work order: %v", err)
			}
		}
		if _, err := s.AcceptWorkOrder(ctx, 9999, ""); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Fatalf("unknown: %v", err)
		}
		es, _ := sqlstore.NewEventService(db).FindEvents(context.Background(), lianlu.EventFilter{Subject: fmt.Sprintf("workorder/%d", w.ID)})
		var types []string
		for _, e := range es {
			types = append(types, e.Type+"@"+e.Department)
		}
		if fmt.Sprint(types) != "[workorder.created@service workorder.accepted@service workorder.reassigned@sales workorder.resolved@sales]" {
			t.Fatalf("events: %v", types)
		}
	})
}
