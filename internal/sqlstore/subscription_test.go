package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

// countHandler counts events per type into a table, in the consumer's
// transaction.
func countHandler(ctx context.Context, tx *sqlstore.Tx, events []lianlu.Event) error {
	for _, e := range events {
		if _, err := tx.ExecContext(ctx, rebind(tx, `UPDATE test_counts SET n = n + 1 WHERE type = ?`), e.Type); err != nil {
			return err
		}
	}
	return nil
}

func rebind(tx *sqlstore.Tx, q string) string { return tx.Rebind(q) }

func mustCountTable(t *testing.T, db *sqlstore.DB, types ...string) {
	t.Helper()
	err := db.WithTx(ctxT(t), func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctxT(t), `CREATE TABLE test_counts (type TEXT PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
			return err
		}
		for _, typ := range types {
			if _, err := tx.ExecContext(ctxT(t), rebind(tx, `INSERT INTO test_counts (type, n) VALUES (?, 0)`), typ); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func counts(t *testing.T, db *sqlstore.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := db.WithTx(ctxT(t), func(tx *sqlstore.Tx) error {
		rows, err := tx.QueryContext(ctxT(t), `SELECT type, n FROM test_counts`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var typ string
			var n int
			if err := rows.Scan(&typ, &n); err != nil {
				return err
			}
			out[typ] = n
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func appendN(t *testing.T, s *sqlstore.EventService, prefix string, n int, types ...string) {
	t.Helper()
	for i := 0; i < n; i += 50 {
		var batch []lianlu.Event
		for j := i; j < min(i+50, n); j++ {
			batch = append(batch, ev("sub", fmt.Sprintf("%s-%d", prefix, j), types[j%len(types)]))
		}
		if _, err := s.AppendEvents(ctxT(t), batch); err != nil {
			t.Fatal(err)
		}
	}
}

var errKilled = errors.New("killed")

// A consumer killed in the middle of a batch (its transaction never
// commits) and restarted ends with counts equal to the events.
func TestConsumer_ExactlyOnceAcrossKill(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		s := sqlstore.NewEventService(db)
		mustCountTable(t, db, "a.x", "b.x")
		appendN(t, s, "pre", 1000, "a.x", "b.x")

		// First run: after 4 committed batches, the fifth batch does its
		// writes and then the process "dies" before commit.
		var batches atomic.Int32
		killed := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		c := sqlstore.NewConsumer(db, sqlstore.ConsumerConfig{
			Name: "counter", BatchSize: 100,
			Handler: func(hctx context.Context, tx *sqlstore.Tx, events []lianlu.Event) error {
				if err := countHandler(hctx, tx, events); err != nil {
					return err
				}
				if batches.Add(1) == 5 {
					cancel()
					close(killed)
					return errKilled
				}
				return nil
			},
		})
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-killed
		c.Stop()
		mid := counts(t, db)
		if got := mid["a.x"] + mid["b.x"]; got != 400 {
			t.Fatalf("after kill: %d events counted, want the 400 of committed batches", got)
		}

		// More events arrive while it is down; the restarted consumer
		// resumes from its committed position and is woken by new appends.
		appendN(t, s, "post", 500, "a.x", "b.x")
		c2 := sqlstore.NewConsumer(db, sqlstore.ConsumerConfig{Name: "counter", BatchSize: 100, Handler: countHandler})
		if err := c2.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer c2.Stop()
		appendN(t, s, "live", 100, "a.x", "b.x")
		waitFor(t, func() bool {
			got := counts(t, db)
			return got["a.x"]+got["b.x"] >= 1600
		})
		c2.Stop()
		got := counts(t, db)
		if got["a.x"] != 800 || got["b.x"] != 800 {
			t.Fatalf("counts = %v, want 800 each", got)
		}
		subs, err := db.FindSubscriptions(ctxT(t))
		if err != nil || len(subs) != 1 {
			t.Fatalf("subscriptions = %v, %v", subs, err)
		}
		max, _ := s.MaxSeq(ctxT(t))
		if subs[0].Position != max {
			t.Errorf("position %d, want %d", subs[0].Position, max)
		}
	})
}

// Two consumers with the same name (two nodes) never process an event twice.
func TestConsumer_SameNameTwoWorkers(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		s := sqlstore.NewEventService(db)
		mustCountTable(t, db, "a.x")
		var workers []*sqlstore.Consumer
		for range 2 {
			c := sqlstore.NewConsumer(db, sqlstore.ConsumerConfig{Name: "shared", BatchSize: 7, Handler: countHandler})
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			workers = append(workers, c)
		}
		appendN(t, s, "x", 700, "a.x")
		waitFor(t, func() bool { return counts(t, db)["a.x"] >= 700 })
		for _, c := range workers {
			c.Stop()
		}
		if got := counts(t, db)["a.x"]; got != 700 {
			t.Fatalf("count = %d, want 700", got)
		}
	})
}

// A filtered consumer sees only its events; a failing handler is retried
// and its batch is not skipped.
func TestConsumer_FilterAndRetry(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		s := sqlstore.NewEventService(db)
		mustCountTable(t, db, "a.x", "b.x")
		var failures atomic.Int32
		c := sqlstore.NewConsumer(db, sqlstore.ConsumerConfig{
			Name: "only-a", Filter: lianlu.EventFilter{TypePrefix: "a."},
			Handler: func(ctx context.Context, tx *sqlstore.Tx, events []lianlu.Event) error {
				if failures.Add(1) <= 2 {
					return errors.New("transient")
				}
				return countHandler(ctx, tx, events)
			},
		})
		appendN(t, s, "f", 100, "a.x", "b.x")
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer c.Stop()
		waitFor(t, func() bool { return counts(t, db)["a.x"] >= 50 })
		c.Stop()
		got := counts(t, db)
		if got["a.x"] != 50 || got["b.x"] != 0 {
			t.Fatalf("counts = %v", got)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A consumer with a relevance predicate skips batches of irrelevant events
// without handing them to its handler, still handles every relevant event
// exactly once (also the irrelevant ones that share its batch), and stores
// the position it reached when stopped.
func TestConsumer_SkipsIrrelevantBatches(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		s := sqlstore.NewEventService(db)
		mustCountTable(t, db, "noise.x", "order.x")
		var handled atomic.Int64
		var batches atomic.Int64
		relevant := func(context.Context) (func(lianlu.Event) bool, error) {
			return func(e lianlu.Event) bool {
				if e.Seq == 0 || e.Department == "" {
					t.Errorf("predicate got %+v", e)
				}
				return e.Type == "order.x"
			}, nil
		}
		cfg := sqlstore.ConsumerConfig{Name: "skipper", BatchSize: 100, Relevant: relevant,
			Handler: func(ctx context.Context, tx *sqlstore.Tx, events []lianlu.Event) error {
				batches.Add(1)
				handled.Add(int64(len(events)))
				return countHandler(ctx, tx, events)
			}}
		appendN(t, s, "noise", 1000, "noise.x")
		appendN(t, s, "mixed", 20, "noise.x", "order.x")
		appendN(t, s, "noise2", 500, "noise.x")
		c := sqlstore.NewConsumer(db, cfg)
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return counts(t, db)["order.x"] == 10 })
		head, _ := s.MaxSeq(context.Background())
		waitFor(t, func() bool {
			// The consumer has looked at everything, skipping as it went.
			n, err := c.ProcessOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return n == 0
		})
		c.Stop()
		got := counts(t, db)
		if got["order.x"] != 10 || handled.Load() > 100 || batches.Load() != 1 {
			t.Fatalf("counts %v, %d events in %d batches handled; want the one mixed batch", got, handled.Load(), batches.Load())
		}
		subs, err := db.FindSubscriptions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(subs, func(sub sqlstore.Subscription) bool { return sub.Name == "skipper" })
		if i < 0 || subs[i].Position != head {
			t.Fatalf("stored positions %+v after stop, head %d", subs, head)
		}
		// Restarted, it handles new relevant events once and nothing old.
		appendN(t, s, "later", 4, "order.x", "noise.x")
		c2 := sqlstore.NewConsumer(db, cfg)
		if err := c2.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer c2.Stop()
		waitFor(t, func() bool { return counts(t, db)["order.x"] == 12 })
		// Nothing is left to handle, so nothing can be counted again.
		for {
			n, err := c2.ProcessOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		if got := counts(t, db)["order.x"]; got != 12 {
			t.Fatalf("order.x counted %d times, want 12", got)
		}
	})
}

// A consumer finds, exactly once, the events that another handle on the
// same database appended (another process, or another node on
// PostgreSQL), also when they fall between its own process's appends,
// which the in-memory ring of recent events knows and the others' it does
// not.
func TestConsumer_SeesEventsOfOtherHandles(t *testing.T) {
	for _, d := range dialects(t) {
		t.Run(d, func(t *testing.T) {
			opts := sqlstoretest.Options(t, d, sqlstore.Options{PollInterval: 20 * time.Millisecond})
			here, there := sqlstoretest.OpenAt(t, opts), sqlstoretest.OpenAt(t, opts)
			mustCountTable(t, here, "a.x", "b.x")
			c := sqlstore.NewConsumer(here, sqlstore.ConsumerConfig{Name: "both", BatchSize: 16,
				Filter: lianlu.EventFilter{TypePrefix: "a."}, Handler: countHandler})
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer c.Stop()
			for round := range 6 {
				s := sqlstore.NewEventService(here)
				if round%2 == 1 {
					s = sqlstore.NewEventService(there)
				}
				appendN(t, s, fmt.Sprint("r", round), 40, "a.x", "b.x")
			}
			waitFor(t, func() bool { return counts(t, here)["a.x"] >= 120 })
			time.Sleep(100 * time.Millisecond) // several more polls
			c.Stop()
			if got := counts(t, here); got["a.x"] != 120 || got["b.x"] != 0 {
				t.Fatalf("counts %v, want a.x 120 (each once) and no b.x", got)
			}
		})
	}
}
