package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sla"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// Config configures a Service. Zero fields take the defaults.
type Config struct {
	// Weights rank candidates (default DefaultWeights).
	Weights lianlu.DispatchWeights
	// AcceptSLA is how long a store has to accept, in business time of its
	// opening hours (default 2h).
	AcceptSLA time.Duration
	// ScanInterval is how often attempts past their deadline are passed on
	// (default 30s).
	ScanInterval time.Duration
	// RefreshInterval is how often the store index checks for changes made
	// by other nodes (default 5s); this node's changes refresh it at once.
	RefreshInterval time.Duration
	Logger          *slog.Logger
}

// Service dispatches on-site service requests to stores; it implements
// lianlu.DispatchService. Stores are held in an in-memory Index, rebuilt
// when they change, so that a decision among thousands of stores reads no
// store rows.
type Service struct {
	db     *sqlstore.DB
	stores lianlu.StoreService
	cfg    Config
	logger *slog.Logger

	state    atomic.Pointer[indexState]
	consumer *sqlstore.Consumer

	mu      sync.Mutex
	running bool
	stop    chan struct{}
	done    chan struct{}
}

type indexState struct {
	ix *Index
	fp string
	// changed is closed by the next store change on this node.
	changed <-chan struct{}
}

var _ lianlu.DispatchService = (*Service)(nil)

// NewService returns a dispatcher over db; stores (optional) signals this
// node's store changes.
func NewService(db *sqlstore.DB, stores lianlu.StoreService, cfg Config) *Service {
	if cfg.Weights == (lianlu.DispatchWeights{}) {
		cfg.Weights = DefaultWeights
	}
	if cfg.AcceptSLA <= 0 {
		cfg.AcceptSLA = 2 * time.Hour
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = 30 * time.Second
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{db: db, stores: stores, cfg: cfg, logger: cfg.Logger.With(slog.String("component", "dispatch"))}
	s.consumer = sqlstore.NewConsumer(db, sqlstore.ConsumerConfig{Name: SubscriptionName, Filter: lianlu.EventFilter{Types: []string{"workorder.accepted"}},
		Handler: s.handleAccepted, Logger: cfg.Logger})
	return s
}

// SubscriptionName is the dispatcher's position on the event log: it
// marks an attempt accepted when its store accepts the work order (the
// flow runner completes the attempt's handoff).
const SubscriptionName = "dispatch"

func (s *Service) handleAccepted(ctx context.Context, tx *sqlstore.Tx, events []lianlu.Event) error {
	for _, e := range events {
		if !lianlu.TrustedEvent(e) {
			continue // not the work order command's (lianlu.TrustedEvent)
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(e.Subject, "workorder/"), 10, 64)
		if err != nil {
			continue
		}
		w, err := sqlstore.FindWorkOrderTx(ctx, tx, id)
		if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		if w.Dispatch == nil || len(w.Dispatch.Attempts) == 0 {
			continue
		}
		a := &w.Dispatch.Attempts[len(w.Dispatch.Attempts)-1]
		if a.Outcome != lianlu.AttemptPending || a.Store != w.Store {
			continue
		}
		t := e.Time
		a.Outcome, a.EndedAt = lianlu.AttemptAccepted, &t
		if err := sqlstore.SaveDispatchDecisionTx(ctx, tx, id, w.Dispatch); err != nil {
			return err
		}
	}
	return nil
}

// ProcessOnce handles one batch of acceptances (for tests).
func (s *Service) ProcessOnce(ctx context.Context) (int, error) { return s.consumer.ProcessOnce(ctx) }

// Refresh rebuilds the store index from the database.
func (s *Service) Refresh(ctx context.Context) error {
	var changed <-chan struct{}
	if s.stores != nil {
		// Taken before reading, so that a change committed during the read
		// leaves the new index stale, not lost.
		changed = s.stores.StoresChanged()
	}
	stores, fp, err := s.db.AllStores(ctx)
	if err != nil {
		return err
	}
	s.state.Store(&indexState{ix: NewIndex(stores), fp: fp, changed: changed})
	return nil
}

// index returns the current index, rebuilding it first when this node
// changed a store since (so a store just saved is dispatched to at once).
func (s *Service) index(ctx context.Context) (*Index, error) {
	if st := s.state.Load(); st != nil {
		select {
		case <-st.changed:
		default:
			return st.ix, nil
		}
	}
	if err := s.Refresh(ctx); err != nil {
		return nil, err
	}
	return s.state.Load().ix, nil
}

// Start loads the index and runs the refresher and the deadline scanner
// until Stop or ctx ends.
func (s *Service) Start(ctx context.Context) error {
	if err := s.Refresh(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return lianlu.Errorf(lianlu.ECONFLICT, "dispatcher already running")
	}
	if err := s.consumer.Start(ctx); err != nil {
		return err
	}
	s.running, s.stop, s.done = true, make(chan struct{}), make(chan struct{})
	go s.loop(ctx, s.stop, s.done)
	return nil
}

// Stop ends the background work and waits for it.
func (s *Service) Stop() {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	close(s.stop)
	done := s.done
	s.running = false
	s.mu.Unlock()
	<-done
	s.consumer.Stop()
}

func (s *Service) loop(ctx context.Context, stop, done chan struct{}) {
	defer close(done)
	scan := time.NewTicker(s.cfg.ScanInterval)
	defer scan.Stop()
	refresh := time.NewTicker(s.cfg.RefreshInterval)
	defer refresh.Stop()
	for {
		var changed <-chan struct{}
		if st := s.state.Load(); st != nil {
			changed = st.changed
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-changed:
			if _, err := s.index(ctx); err != nil && ctx.Err() == nil {
				s.logger.Error("refresh store index", slog.Any("error", err))
			}
		case <-refresh.C:
			fp, err := s.db.StoresFingerprint(ctx)
			if st := s.state.Load(); err == nil && (st == nil || st.fp != fp) {
				err = s.Refresh(ctx)
			}
			if err != nil && ctx.Err() == nil {
				s.logger.Error("refresh store index", slog.Any("error", err))
			}
		case <-scan.C:
			if _, err := s.ScanOnce(ctx); err != nil && ctx.Err() == nil {
				s.logger.Error("dispatch deadline scan", slog.Any("error", err))
			}
		}
	}
}

var skillRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

func validateRequest(r *lianlu.ServiceRequest) []lianlu.FieldError {
	var errs []lianlu.FieldError
	if r.Kind == "" {
		r.Kind = lianlu.ServiceOnSite
	}
	if r.Kind != lianlu.ServiceOnSite {
		errs = append(errs, lianlu.FieldError{Field: "kind", Message: "on_site (the only kind dispatched to stores)"})
	}
	if r.Member == nil {
		errs = append(errs, lianlu.FieldError{Field: "member", Message: "required: id, phone or email"})
	}
	r.Skill = strings.ToLower(strings.TrimSpace(r.Skill))
	if !skillRe.MatchString(r.Skill) {
		errs = append(errs, lianlu.FieldError{Field: "skill", Message: "a skill such as install, repair or fitting"})
	}
	switch {
	case r.Address == nil || r.Address.Lat == nil || r.Address.Lng == nil:
		errs = append(errs, lianlu.FieldError{Field: "address.lat", Message: "the address needs lat and lng"})
	case *r.Address.Lat < -90 || *r.Address.Lat > 90 || *r.Address.Lng < -180 || *r.Address.Lng > 180:
		errs = append(errs, lianlu.FieldError{Field: "address.lat", Message: "lat −90…90, lng −180…180"})
	}
	if r.Address != nil && len(r.Address.Address) > 500 {
		errs = append(errs, lianlu.FieldError{Field: "address.address", Message: "at most 500 bytes"})
	}
	if d, ok := ParseDate(r.PreferredDate); !ok {
		errs = append(errs, lianlu.FieldError{Field: "preferred_date", Message: "a date such as 2026-12-03"})
	} else {
		// The decision, the day's lock and the loads all read the date
		// as stored: keep it in one normal form.
		r.PreferredDate = d.Format(time.DateOnly)
	}
	// The work order's ref is the external id behind a prefix, within the
	// 128 bytes a work order ref may have.
	if max := 128 - len(serviceRequestRefPrefix); len(r.ExternalID) > max {
		errs = append(errs, lianlu.FieldError{Field: "external_id", Message: fmt.Sprintf("at most %d bytes", max)})
	}
	return errs
}

// serviceRequestRefPrefix makes a request's external id its work order's
// ref.
const serviceRequestRefPrefix = "service_request:"

// RequestService creates an on-site work order and dispatches it.
func (s *Service) RequestService(ctx context.Context, r lianlu.ServiceRequest) (lianlu.WorkOrder, bool, error) {
	if errs := validateRequest(&r); len(errs) > 0 {
		return lianlu.WorkOrder{}, false, lianlu.Invalid(errs...)
	}
	ix, err := s.index(ctx)
	if err != nil {
		return lianlu.WorkOrder{}, false, err
	}
	if r.Title == "" {
		r.Title = "On-site " + r.Skill
		if r.Address.Address != "" {
			r.Title += " · " + r.Address.Address
		}
		if rs := []rune(r.Title); len(rs) > 200 {
			r.Title = string(rs[:200])
		}
	}
	ref := ""
	if r.ExternalID != "" {
		ref = serviceRequestRefPrefix + r.ExternalID
	}
	var w lianlu.WorkOrder
	created := false
	err = s.db.WithTx(ctx, func(tx *sqlstore.Tx) error {
		if ref != "" {
			prev, err := sqlstore.FindWorkOrderByRefTx(ctx, tx, ref)
			if err == nil {
				w = prev
				return nil
			} else if lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
				return err
			}
		}
		member, err := sqlstore.ResolveMemberTx(ctx, tx, *r.Member, "member.")
		if err != nil {
			return err
		}
		if err := sqlstore.LockDispatchDateTx(ctx, tx, r.PreferredDate); err != nil {
			return err
		}
		loads, err := sqlstore.StoreLoadsTx(ctx, tx, r.PreferredDate)
		if err != nil {
			return err
		}
		d := ix.Decide(Request{Skill: r.Skill, Lat: *r.Address.Lat, Lng: *r.Address.Lng, Date: r.PreferredDate}, func(c string) int { return loads[c] }, s.cfg.Weights)
		w = lianlu.WorkOrder{Kind: lianlu.WorkOrderOnSite, Priority: r.Priority, Department: lianlu.DeptStores, Store: d.Store, Title: r.Title,
			Subject: r.Subject, Ref: ref, MemberID: member, ServiceDate: r.PreferredDate, Dispatch: &d, Flagged: d.Flagged}
		if w.Subject == "" {
			w.Subject = sqlstore.MemberSubject(member)
		}
		if d.Flagged {
			w.Department = lianlu.DeptService
		}
		if w, err = sqlstore.CreateWorkOrderTx(ctx, tx, w); err != nil {
			return err
		}
		created = true
		if d.Flagged {
			return nil
		}
		seq, err := sqlstore.LastEventSeqTx(ctx, tx, "workorder/"+strconv.FormatInt(w.ID, 10))
		if err != nil {
			return err
		}
		if err := s.openAttempt(ctx, tx, &w, ix, seq); err != nil {
			return err
		}
		_, err = sqlstore.SaveDispatchTx(ctx, tx, &w, "")
		return err
	})
	if err != nil {
		return lianlu.WorkOrder{}, false, err
	}
	return w, created, nil
}

// openAttempt records that w.Store is asked to accept w: a handoff from
// service to the stores department due after the acceptance SLA in the
// store's opening hours, and an attempt on the decision.
func (s *Service) openAttempt(ctx context.Context, tx *sqlstore.Tx, w *lianlu.WorkOrder, ix *Index, triggerSeq int64) error {
	now := tx.Now()
	n := len(w.Dispatch.Attempts) + 1
	subject := "workorder/" + strconv.FormatInt(w.ID, 10)
	h := lianlu.Handoff{Flow: sqlstore.DispatchFlow, FlowVersion: 1, Step: fmt.Sprintf("attempt-%d:%s", n, w.Store), TriggerSeq: triggerSeq,
		Subject: subject, FromDepartment: lianlu.DeptService, ToDepartment: lianlu.DeptStores, Action: "dispatch.assign", Target: subject,
		Completes: []string{"workorder.accepted"}, Accepts: []string{}, Status: lianlu.HandoffOpen, EmittedAt: now, RecordedAt: now, DeliveredAt: &now}
	if inserted, err := sqlstore.InsertHandoffTx(ctx, tx, &h); err != nil {
		return err
	} else if !inserted {
		return lianlu.Errorf(lianlu.ECONFLICT, "attempt %d of work order %d exists", n, w.ID)
	}
	due := s.dueAt(ctx, tx, w.Store, now)
	h.DueAt = &due
	if err := sqlstore.UpdateHandoffTx(ctx, tx, h); err != nil {
		return err
	}
	if err := sqlstore.AppendHandoffEventTx(ctx, tx, "handoff.opened", h, "system:dispatch"); err != nil {
		return err
	}
	w.Dispatch.Attempts = append(w.Dispatch.Attempts, lianlu.DispatchAttempt{N: n, Store: w.Store, HandoffID: h.ID, StartedAt: now, DueAt: &due,
		Outcome: lianlu.AttemptPending})
	return nil
}

// dueAt adds the acceptance SLA to now in the store's opening hours; a
// store whose hours do not make a calendar gets wall time.
func (s *Service) dueAt(ctx context.Context, tx *sqlstore.Tx, store string, now time.Time) time.Time {
	st, err := sqlstore.FindStoreTx(ctx, tx, store)
	if err == nil {
		cal := sqlstore.StoreCalendar(st)
		if due, err := cal.AddBusiness(now, s.cfg.AcceptSLA); err == nil {
			return due.UTC()
		}
	}
	return now.Add(s.cfg.AcceptSLA)
}

// pendingAttempt returns the work order's attempt waiting for its store.
func pendingAttempt(w lianlu.WorkOrder) (*lianlu.DispatchAttempt, bool) {
	if w.Kind != lianlu.WorkOrderOnSite || w.Status != lianlu.WorkOrderOpen || w.Dispatch == nil || len(w.Dispatch.Attempts) == 0 {
		return nil, false
	}
	a := &w.Dispatch.Attempts[len(w.Dispatch.Attempts)-1]
	return a, a.Outcome == lianlu.AttemptPending && a.Store == w.Store
}

// RejectServiceRequest passes a request its store refused to the next
// candidate.
func (s *Service) RejectServiceRequest(ctx context.Context, id int64, reason string) (lianlu.WorkOrder, error) {
	reason = strings.TrimSpace(reason)
	if len(reason) > 500 {
		return lianlu.WorkOrder{}, lianlu.Invalid(lianlu.FieldError{Field: "reason", Message: "at most 500 bytes"})
	}
	ix, err := s.index(ctx)
	if err != nil {
		return lianlu.WorkOrder{}, err
	}
	var w lianlu.WorkOrder
	err = s.db.WithTx(ctx, func(tx *sqlstore.Tx) error {
		if w, err = sqlstore.FindWorkOrderTx(ctx, tx, id); err != nil {
			return err
		}
		a, ok := pendingAttempt(w)
		if !ok {
			return lianlu.Errorf(lianlu.ECONFLICT, "work order %d is not waiting for a store to accept it", id)
		}
		msg := "rejected by " + a.Store
		if reason != "" {
			msg += ": " + reason
		}
		if err := s.endAttempt(ctx, tx, &w, a, lianlu.AttemptRejected, msg, false); err != nil {
			return err
		}
		return s.reassign(ctx, tx, &w, ix)
	})
	return w, err
}

// endAttempt closes the attempt and its handoff (failed, with the reason;
// breached in pickup when it timed out).
func (s *Service) endAttempt(ctx context.Context, tx *sqlstore.Tx, w *lianlu.WorkOrder, a *lianlu.DispatchAttempt, outcome, reason string, timedOut bool) error {
	now := tx.Now()
	a.Outcome, a.Reason, a.EndedAt = outcome, reason, &now
	h, err := sqlstore.FindHandoffByIDTx(ctx, tx, a.HandoffID)
	if err != nil {
		return err
	}
	if h.Status != lianlu.HandoffOpen && h.Status != lianlu.HandoffPending {
		return nil
	}
	h.Status, h.Error = lianlu.HandoffFailed, reason
	if timedOut && h.BreachedAt == nil && h.DueAt != nil {
		due := *h.DueAt
		h.BreachedAt, h.BreachCause, h.ResponsibleDepartment = &due, sla.CausePickup, h.ToDepartment
		if err := sqlstore.AppendHandoffEventTx(ctx, tx, "handoff.breached", h, "system:dispatch"); err != nil {
			return err
		}
	}
	if err := sqlstore.UpdateHandoffTx(ctx, tx, h); err != nil {
		return err
	}
	return sqlstore.AppendHandoffEventTx(ctx, tx, "handoff.failed", h, "system:dispatch")
}

// reassign decides again without the stores already tried: the next
// candidate gets a new attempt; with none the work goes to the service
// department's queue, flagged.
func (s *Service) reassign(ctx context.Context, tx *sqlstore.Tx, w *lianlu.WorkOrder, ix *Index) error {
	d := w.Dispatch
	if err := sqlstore.LockDispatchDateTx(ctx, tx, d.Date); err != nil {
		return err
	}
	loads, err := sqlstore.StoreLoadsTx(ctx, tx, d.Date)
	if err != nil {
		return err
	}
	next := ix.Decide(Request{Skill: d.Skill, Lat: d.Lat, Lng: d.Lng, Date: d.Date, Exclude: storeCodes(d.Attempts)}, func(c string) int { return loads[c] }, d.Weights)
	next.Attempts = slices.Clone(d.Attempts)
	w.Dispatch, w.Store, w.Flagged = &next, next.Store, next.Flagged
	w.Department = lianlu.DeptStores
	if next.Flagged {
		w.Department = lianlu.DeptService
		_, err := sqlstore.SaveDispatchTx(ctx, tx, w, "workorder.reassigned")
		return err
	}
	seq, err := sqlstore.SaveDispatchTx(ctx, tx, w, "workorder.reassigned")
	if err != nil {
		return err
	}
	if err := s.openAttempt(ctx, tx, w, ix, seq); err != nil {
		return err
	}
	_, err = sqlstore.SaveDispatchTx(ctx, tx, w, "")
	return err
}

// ScanOnce passes every attempt past its acceptance deadline to the next
// candidate and returns how many it passed on.
func (s *Service) ScanOnce(ctx context.Context) (int, error) {
	ix, err := s.index(ctx)
	if err != nil {
		return 0, err
	}
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "system:dispatch", Department: lianlu.DeptService, Role: lianlu.RoleOperator})
	n := 0
	err = s.db.WithTx(ctx, func(tx *sqlstore.Tx) error {
		hs, err := sqlstore.FindExpiredAttemptsTx(ctx, tx, tx.Now(), 200)
		if err != nil {
			return err
		}
		for _, h := range hs {
			id, err := strconv.ParseInt(strings.TrimPrefix(h.Subject, "workorder/"), 10, 64)
			if err != nil {
				continue
			}
			w, err := sqlstore.FindWorkOrderTx(ctx, tx, id)
			if err != nil {
				return err
			}
			a, ok := pendingAttempt(w)
			if !ok || a.HandoffID != h.ID {
				// Accepted meanwhile (the flow runner completes the
				// handoff) or moved by hand: not this scanner's to pass on.
				continue
			}
			if err := s.endAttempt(ctx, tx, &w, a, lianlu.AttemptTimedOut, "not accepted by "+a.Store+" in time", true); err != nil {
				return err
			}
			if err := s.reassign(ctx, tx, &w, ix); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
