package demo

import (
	"container/heap"
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// TrickleConfig configures Trickle.
type TrickleConfig struct {
	DB       *sqlstore.DB
	Appender *sqlstore.Appender
	// Runner is the server's running flow runner; Trickle also drives it
	// so that it can act on what the flows created at once.
	Runner *flow.Runner
	// Dispatch is the server's dispatcher (on-site requests go through
	// it; its own scan passes on those not accepted in time). Nil: the
	// trickle makes no on-site requests.
	Dispatch lianlu.DispatchService
	Seed     uint64
	// Speed divides the brand's delays (default 120: a follow-up picked up
	// after 35 minutes is picked up after 18 seconds).
	Speed float64
	// Every is the mean time between two online visits (default 4s); store
	// visits come about half as often.
	Every  time.Duration
	Logger *slog.Logger
}

// Trickle keeps the demo brand alive on the real clock until ctx ends:
// visits, touches and orders arrive every few seconds, and the work the
// history left open (and the new work) moves on, compressed in time. It
// needs the sources the demo seeded; without them it returns at once.
func Trickle(ctx context.Context, cfg TrickleConfig) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Speed <= 0 {
		cfg.Speed = 120
	}
	if cfg.Every <= 0 {
		cfg.Every = 4 * time.Second
	}
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		loc = time.FixedZone("CST", 8*3600)
	}
	now := time.Now().UTC()
	s := &sim{
		cfg: Config{DB: cfg.DB, Runner: cfg.Runner, Appender: cfg.Appender, Scale: Scales[0], Seed: cfg.Seed, Logger: cfg.Logger},
		rng: rand.New(rand.NewPCG(cfg.Seed, uint64(now.UnixNano()))), svc: newServices(cfg.DB), loc: loc,
		start: now, end: now, now: now, phones: map[string]bool{}, stockGoal: map[string]int64{},
		live: true, speed: cfg.Speed, idPrefix: "L" + strconv.FormatInt(now.Unix(), 36) + "-",
		progress: newProgress(nil, now, now), byMember: map[int64]*customer{}, planned: map[int64]int{},
		// The server runs the identity resolver, the offer engine and the
		// dispatcher's subscription itself.
		consumers: []consumer{cfg.Runner}, dispatch: cfg.Dispatch,
	}
	ok, err := s.findSources(ctx)
	if err != nil {
		return err
	}
	if !ok {
		cfg.Logger.Info("demo trickle not started: the demo's collector sources are missing (the database was not seeded by the demo)")
		return nil
	}
	if err := s.loadStores(ctx); err != nil {
		cfg.Logger.Info("demo trickle not started: the demo's stores are missing", slog.Any("error", err))
		return nil
	}
	s.planStock()
	if err := s.adopt(ctx); err != nil {
		return err
	}
	every := cfg.Every
	var visit, session func(ctx context.Context) error
	session = func(ctx context.Context) error {
		s.at(s.now.Add(s.expDur(every)), session)
		return s.onlineSession(ctx)
	}
	visit = func(ctx context.Context) error {
		s.at(s.now.Add(s.expDur(2*every)), visit)
		if i := s.openStore(); i >= 0 {
			return s.storeVisit(ctx, i)
		}
		return nil
	}
	var triage, restock func(ctx context.Context) error
	triage = func(ctx context.Context) error {
		s.at(s.now.Add(3*time.Minute), triage)
		return s.triage(ctx)
	}
	restock = func(ctx context.Context) error {
		s.at(s.now.Add(10*time.Minute), restock)
		return s.receipts(ctx, s.idPrefix+strconv.FormatInt(s.now.Unix(), 36))
	}
	s.at(s.now, session)
	s.at(s.now.Add(every), visit)
	s.at(s.now.Add(time.Minute), triage)
	s.at(s.now.Add(5*time.Minute), restock)
	return s.runLive(ctx)
}

// findSources looks up the demo's collector sources by name.
func (s *sim) findSources(ctx context.Context) (bool, error) {
	srcs, err := s.svc.sources.FindSources(ctx, "", 0, 1000)
	if err != nil {
		return false, err
	}
	found := 0
	for _, src := range srcs {
		for _, m := range []struct {
			name string
			into *lianlu.Source
		}{{sourceNames.web, &s.srcs.web}, {sourceNames.app, &s.srcs.app}, {sourceNames.pos, &s.srcs.pos}, {sourceNames.server, &s.srcs.server}} {
			if src.Name == m.name && !src.Disabled && m.into.ID == 0 {
				*m.into = src
				found++
			}
		}
	}
	return found == 4, nil
}

// adopt plans the work the history left open: work orders to pick up and
// resolve, fulfillments to pick, ship and deliver.
func (s *sim) adopt(ctx context.Context) error {
	for _, status := range []string{lianlu.WorkOrderOpen, lianlu.WorkOrderAccepted} {
		wos, err := s.svc.workorders.FindWorkOrders(ctx, lianlu.WorkOrderFilter{Status: status, Limit: 1000})
		if err != nil {
			return err
		}
		for _, wo := range wos {
			s.planWork(wo)
		}
	}
	for _, status := range []string{lianlu.FulfillmentReserved, lianlu.FulfillmentPicked, lianlu.FulfillmentShipped} {
		fs, err := s.svc.fulfillments.FindFulfillments(ctx, lianlu.FulfillmentFilter{Status: status, Limit: 1000})
		if err != nil {
			return err
		}
		for _, f := range fs {
			o, err := s.svc.orders.FindOrderByID(ctx, f.OrderID)
			if err != nil {
				return err
			}
			s.planFulfillment(f, o, nil)
		}
	}
	return nil
}

// openStore picks a store that is open now (by its opening hours in the
// store service), by foot traffic; -1 when none is.
func (s *sim) openStore() int {
	local := s.now.In(s.loc)
	m := local.Hour()*60 + local.Minute()
	var open []int
	var ws []float64
	for i, st := range Stores {
		for _, sp := range s.openSpans(i, s.now) {
			if m >= sp[0] && m < sp[1]-20 {
				open = append(open, i)
				ws = append(ws, st.Weight)
				break
			}
		}
	}
	if len(open) == 0 {
		return -1
	}
	return open[s.pick(ws)]
}

// runLive runs tasks when their time comes, until ctx ends. A failed task
// is logged and the brand carries on.
func (s *sim) runLive(ctx context.Context) error {
	for s.q.Len() > 0 {
		next := s.q[0]
		if wait := time.Until(next.at); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		heap.Pop(&s.q)
		s.now = time.Now().UTC().Truncate(time.Microsecond)
		err := next.run(ctx)
		if err == nil {
			err = s.flush(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !outcome(err) {
			s.cfg.Logger.Warn("demo trickle step failed", slog.Any("error", err))
		}
	}
	return nil
}
