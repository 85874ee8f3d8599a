package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// Concurrent appends through the group-commit appender are all stored once,
// each request gets its own results, and an invalid request fails alone.
func TestAppender_GroupCommit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		a := sqlstore.NewAppender(db, sqlstore.AppenderConfig{MaxEvents: 300})
		a.Start()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for c := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range 10 {
					batch := []lianlu.Event{ev("g", fmt.Sprintf("%d-%d-a", c, n), "t.x"), ev("g", fmt.Sprintf("%d-%d-b", c, n), "t.x")}
					res, err := a.Append(context.Background(), batch)
					if err != nil {
						errs <- err
						return
					}
					if len(res) != 2 || res[0].Event.ID != batch[0].ID || res[1].Event.ID != batch[1].ID || res[0].Event.Seq == 0 {
						errs <- fmt.Errorf("results %+v", res)
						return
					}
				}
			}()
		}
		// A request with an unknown department fails; the others do not.
		bad := ev("g", "bad", "t.x")
		bad.Department = "nowhere"
		if _, err := a.Append(context.Background(), []lianlu.Event{bad}); lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Errorf("unknown department: %v", err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// A retry of the same ids stores nothing new.
		res, err := a.Append(context.Background(), []lianlu.Event{ev("g", "0-0-a", "t.x")})
		if err != nil || !res[0].Duplicate {
			t.Fatalf("retry: %+v %v", res, err)
		}
		a.Stop()
		if _, err := a.Append(context.Background(), []lianlu.Event{ev("g", "late", "t.x")}); err != sqlstore.ErrAppenderStopped {
			t.Fatalf("after stop: %v", err)
		}
		all, _ := sqlstore.NewEventService(db).FindEvents(context.Background(), lianlu.EventFilter{Limit: 1000})
		if len(all) != 640 {
			t.Fatalf("stored %d events, want 640", len(all))
		}
	})
}
