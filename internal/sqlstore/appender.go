package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lianlu/lianlu"
)

// AppenderConfig bounds group commits.
type AppenderConfig struct {
	// MaxEvents caps the events of one shared transaction (default 5000).
	MaxEvents int
	// MaxDelay is how long the first request of a group waits for others
	// to join it (default 500µs). Requests that arrive while a commit is
	// in progress join the next group without waiting, and a group's fsync
	// overlaps the next group's inserts, so a long wait only adds latency.
	MaxDelay time.Duration
	// Committed, when set, is called after each commit with the results of
	// the events it stored (duplicates marked), for in-memory statistics
	// such as freshness. It must be quick and must not block.
	Committed func(results []lianlu.AppendResult)
}

// Appender appends events with group commit: concurrent Append calls are
// merged into shared transactions, bounded in size and time, so throughput
// does not collapse to one durable commit per request. Append returns only
// after its events are committed.
type Appender struct {
	db   *DB
	cfg  AppenderConfig
	reqs chan *appendRequest
	// acks carries committed groups, in commit order, to the goroutine
	// that waits for each to be durable and answers its requests, while
	// the loop goes on to the next group.
	acks chan committedGroup

	// mu is held for reading while a request is queued, so that Stop
	// (which takes it for writing) never misses a queued request.
	mu      sync.RWMutex
	stop    chan struct{}
	done    chan struct{}
	running bool
}

type appendRequest struct {
	ctx    context.Context
	events []lianlu.Event
	// violations are tracking plan violations to tally in the same
	// transaction; their EventIndex refers to events.
	violations []lianlu.PlanViolation
	results    []lianlu.AppendResult
	err        error
	done       chan struct{}
}

// committedGroup is a group whose shared transaction committed; durable
// waits until it is on disk.
type committedGroup struct {
	group   []*appendRequest
	results []lianlu.AppendResult
	durable func() error
}

// ErrAppenderStopped is returned by Append after Stop.
var ErrAppenderStopped = &lianlu.Error{Code: lianlu.EUNAVAILABLE, Message: "the event log is shutting down"}

// NewAppender returns an appender; Start runs it.
func NewAppender(db *DB, cfg AppenderConfig) *Appender {
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 5000
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 500 * time.Microsecond
	}
	return &Appender{db: db, cfg: cfg, reqs: make(chan *appendRequest, 1024)}
}

// Start runs the commit loop until Stop.
func (a *Appender) Start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		return
	}
	a.running = true
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	a.acks = make(chan committedGroup, 64)
	acked := make(chan struct{})
	go a.acknowledge(a.acks, acked)
	go a.loop(a.stop, a.acks, acked, a.done)
}

// Stop commits what is queued and stops.
func (a *Appender) Stop() {
	a.mu.Lock()
	if !a.running {
		a.mu.Unlock()
		return
	}
	a.running = false
	close(a.stop)
	done := a.done
	a.mu.Unlock()
	<-done
}

// Append validates events and stores them in a shared transaction; see
// AppendEvents for the results. Invalid events fail only their own request.
func (a *Appender) Append(ctx context.Context, events []lianlu.Event) ([]lianlu.AppendResult, error) {
	return a.AppendChecked(ctx, events, nil)
}

// AppendChecked is Append that also tallies tracking plan violations in the
// same transaction: those of flagged events (by index into events) count
// when the event is new, those of blocked messages (EventIndex -1) always.
// A request may hold only blocked violations and no events.
func (a *Appender) AppendChecked(ctx context.Context, events []lianlu.Event, violations []lianlu.PlanViolation) ([]lianlu.AppendResult, error) {
	var errs []lianlu.FieldError
	for i := range events {
		prefix := ""
		if len(events) > 1 {
			prefix = "[" + strconv.Itoa(i) + "]."
		}
		errs = append(errs, ValidateEvent(&events[i], prefix)...)
	}
	if len(errs) > 0 {
		return nil, lianlu.Invalid(errs...)
	}
	if len(events) == 0 && len(violations) == 0 {
		return nil, nil
	}
	req := &appendRequest{ctx: ctx, events: events, violations: violations, done: make(chan struct{})}
	a.mu.RLock()
	if !a.running {
		a.mu.RUnlock()
		return nil, ErrAppenderStopped
	}
	select {
	case a.reqs <- req:
		a.mu.RUnlock()
	case <-ctx.Done():
		a.mu.RUnlock()
		return nil, ctx.Err()
	}
	// Once queued, the request is committed or failed by the loop; the
	// caller waits for the outcome even if its context ends, so that an
	// acknowledged write is never in doubt.
	<-req.done
	return req.results, req.err
}

// loop gathers and commits groups until stop; then it lets the
// acknowledging goroutine finish before closing done.
func (a *Appender) loop(stop chan struct{}, acks chan committedGroup, acked, done chan struct{}) {
	defer func() {
		close(acks)
		<-acked
		close(done)
	}()
	for {
		var first *appendRequest
		select {
		case first = <-a.reqs:
		case <-stop:
			// Drain what was queued before Stop.
			for {
				select {
				case r := <-a.reqs:
					a.commit([]*appendRequest{r})
				default:
					return
				}
			}
		}
		group := []*appendRequest{first}
		n := len(first.events)
		timer := time.NewTimer(a.cfg.MaxDelay)
	gather:
		for n < a.cfg.MaxEvents {
			select {
			case r := <-a.reqs:
				group = append(group, r)
				n += len(r.events)
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		a.commit(group)
	}
}

// acknowledge answers committed groups in commit order once each is
// durable.
func (a *Appender) acknowledge(acks <-chan committedGroup, acked chan struct{}) {
	defer close(acked)
	for g := range acks {
		err := g.durable()
		if err == nil && a.cfg.Committed != nil && len(g.results) > 0 {
			a.cfg.Committed(g.results)
		}
		i := 0
		for _, r := range g.group {
			if err != nil {
				r.err = err
			} else {
				r.results = g.results[i : i+len(r.events)]
			}
			i += len(r.events)
			close(r.done)
		}
	}
}

// commit stores a group in one transaction and hands it to acknowledge.
// If the shared transaction fails, each request is retried alone, so that
// one request's problem (an unknown department) does not fail the others.
func (a *Appender) commit(group []*appendRequest) {
	if len(group) > 1 {
		if err := a.commitTogether(group); err == nil {
			return
		}
	}
	for _, r := range group {
		res, durable, err := a.appendAlone(r)
		if err != nil {
			r.err = err
			close(r.done)
			continue
		}
		a.acks <- committedGroup{group: []*appendRequest{r}, results: res, durable: durable}
	}
}

func (a *Appender) commitTogether(group []*appendRequest) error {
	var all []lianlu.Event
	var vs []lianlu.PlanViolation
	for _, r := range group {
		for _, v := range r.violations {
			if v.EventIndex >= 0 {
				v.EventIndex += len(all)
			}
			vs = append(vs, v)
		}
		all = append(all, r.events...)
	}
	res, durable, err := a.appendAll(context.Background(), all, vs)
	if err != nil {
		return err
	}
	a.acks <- committedGroup{group: group, results: res, durable: durable}
	return nil
}

func (a *Appender) appendAlone(r *appendRequest) ([]lianlu.AppendResult, func() error, error) {
	return a.appendAll(context.WithoutCancel(r.ctx), r.events, r.violations)
}

// appendAll stores events and tallies violations in one transaction and
// commits it; the caller acknowledges once durable has returned nil.
func (a *Appender) appendAll(ctx context.Context, events []lianlu.Event, violations []lianlu.PlanViolation) ([]lianlu.AppendResult, func() error, error) {
	tx, err := a.db.BeginTx(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	if events, err = resolveMemberSubjectsTx(ctx, tx, events); err != nil {
		return nil, nil, err
	}
	// Append validated every request before it was queued.
	res, err := appendValidated(ctx, tx, events)
	if err != nil {
		return nil, nil, err
	}
	if err := recordViolationsTx(ctx, tx, violations, res); err != nil {
		return nil, nil, err
	}
	durable, err := tx.commitWritten()
	if err != nil {
		return nil, nil, err
	}
	return res, durable, nil
}

// collectorSubjectPrefixes are the subjects the collector gives messages,
// by the identity kind they name: user/<userId>, anon/<anonymousId>.
var collectorSubjectPrefixes = map[string]string{lianlu.IdentityUserID: "user/", lianlu.IdentityAnonymousID: "anon/"}

// collectorIdentity reads a collector subject as the identity it names.
func collectorIdentity(subject string) (kind, value string, ok bool) {
	for kind, prefix := range collectorSubjectPrefixes {
		if v, found := strings.CutPrefix(subject, prefix); found && strings.TrimSpace(v) != "" {
			return kind, strings.TrimSpace(v), true
		}
	}
	return "", "", false
}

// resolveMemberSubjectsTx returns events with the collector's whose userId
// or anonymousId already belongs to a member given that member's subject,
// member/<id>, instead of user/<userId> or anon/<anonymousId> (a copy when
// any changes; the caller's slice is left as it was). One query per kind
// and chunk of distinct ids, in the group commit's transaction, so that
// what links an id to a member (an earlier identify, a merge) and the
// events that follow agree.
func resolveMemberSubjectsTx(ctx context.Context, tx *Tx, events []lianlu.Event) ([]lianlu.Event, error) {
	type ident struct{ kind, value string }
	at := map[int]ident{} // event index → the identity its subject names
	wanted := map[string][]string{}
	seen := map[ident]bool{}
	for i, e := range events {
		if !strings.HasPrefix(e.Source, "segment:") {
			continue
		}
		kind, value, ok := collectorIdentity(e.Subject)
		if !ok {
			continue
		}
		k := ident{kind, value}
		at[i] = k
		if !seen[k] {
			seen[k] = true
			wanted[kind] = append(wanted[kind], value)
		}
	}
	if len(at) == 0 {
		return events, nil
	}
	members := map[ident]int64{}
	for kind, values := range wanted {
		for start := 0; start < len(values); start += 500 {
			chunk := values[start:min(start+500, len(values))]
			args := make([]any, 0, len(chunk)+1)
			args = append(args, kind)
			for _, v := range chunk {
				args = append(args, v)
			}
			rows, err := tx.query(ctx, `SELECT value, member_id FROM member_identities WHERE kind = ? AND namespace = '' AND value IN (`+placeholders(len(chunk))+`)`, args...)
			if err != nil {
				return nil, fmt.Errorf("resolve collector subjects: %w", err)
			}
			for rows.Next() {
				var v string
				var id int64
				if err := rows.Scan(&v, &id); err != nil {
					rows.Close()
					return nil, fmt.Errorf("resolve collector subjects: %w", err)
				}
				members[ident{kind, v}] = id
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return nil, fmt.Errorf("resolve collector subjects: %w", err)
			}
		}
	}
	if len(members) == 0 {
		return events, nil
	}
	out := slices.Clone(events)
	for i, k := range at {
		if id, ok := members[k]; ok {
			out[i].Subject = MemberSubject(id)
		}
	}
	return out, nil
}
