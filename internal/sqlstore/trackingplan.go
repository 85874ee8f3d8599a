package sqlstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
)

// PlanCacheTTL is how long a compiled tracking plan is used without
// reading the database. A change made by this process applies at once;
// other nodes see it within the TTL, as with write keys.
const PlanCacheTTL = WriteKeyCacheTTL

// TrackingPlanService implements lianlu.TrackingPlanService and serves the
// collector compiled plans from a cache.
type TrackingPlanService struct {
	db *DB

	mu    sync.Mutex
	cache map[int64]cachedPlan
}

type cachedPlan struct {
	plan    *collect.Plan // nil: the source has no plan
	expires time.Time
}

var _ lianlu.TrackingPlanService = (*TrackingPlanService)(nil)

// NewTrackingPlanService returns the tracking plan service of db.
func NewTrackingPlanService(db *DB) *TrackingPlanService {
	return &TrackingPlanService{db: db, cache: map[int64]cachedPlan{}}
}

// PutTrackingPlan validates (compiles) and stores a plan as a new version.
func (s *TrackingPlanService) PutTrackingPlan(ctx context.Context, p lianlu.TrackingPlan) (lianlu.TrackingPlan, error) {
	if p.Events == nil {
		p.Events = map[string]json.RawMessage{}
	}
	if _, err := collect.CompilePlan(p); err != nil {
		return lianlu.TrackingPlan{}, err
	}
	events, err := json.Marshal(p.Events)
	if err != nil {
		return lianlu.TrackingPlan{}, fmt.Errorf("encode plan: %w", err)
	}
	err = s.db.WithTx(ctx, func(tx *Tx) error {
		src, err := scanSource(tx.queryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = ?`, p.SourceID))
		if err != nil {
			return fmt.Errorf("source %d: %w", p.SourceID, mapError(err))
		}
		var version int64
		err = tx.queryRow(ctx, `SELECT version FROM tracking_plans WHERE source_id = ?`, p.SourceID).Scan(&version)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("read plan version: %w", err)
		}
		p.Version, p.UpdatedAt, p.UpdatedBy = version+1, tx.now, actorOf(ctx)
		d := tx.db.dialect
		if _, err := tx.exec(ctx, `INSERT INTO tracking_plans (source_id, mode, allow_unplanned, events, version, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (source_id) DO UPDATE SET mode = excluded.mode, allow_unplanned = excluded.allow_unplanned, events = excluded.events,
			version = excluded.version, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			p.SourceID, p.Mode, p.AllowUnplanned, string(events), p.Version, d.timeArg(tx.now), p.UpdatedBy); err != nil {
			return fmt.Errorf("store plan: %w", err)
		}
		names := make([]string, 0, len(p.Events))
		for n := range p.Events {
			names = append(names, n)
		}
		slices.Sort(names)
		return WriteAudit(ctx, tx, "tracking_plan.updated", "source", strconv.FormatInt(p.SourceID, 10), src.Department,
			map[string]any{"mode": p.Mode, "allow_unplanned": p.AllowUnplanned, "events": names, "version": p.Version})
	})
	if err != nil {
		return lianlu.TrackingPlan{}, err
	}
	s.mu.Lock()
	delete(s.cache, p.SourceID)
	s.mu.Unlock()
	return p, nil
}

// FindTrackingPlan returns a source's plan.
func (s *TrackingPlanService) FindTrackingPlan(ctx context.Context, sourceID int64) (lianlu.TrackingPlan, error) {
	p := lianlu.TrackingPlan{SourceID: sourceID}
	var events string
	var by *string
	err := s.db.readRow(ctx, `SELECT mode, allow_unplanned, events, version, updated_at, updated_by FROM tracking_plans WHERE source_id = ?`, sourceID).
		Scan(&p.Mode, &p.AllowUnplanned, &events, &p.Version, sqlTime{&p.UpdatedAt}, &by)
	if err != nil {
		return p, fmt.Errorf("tracking plan of source %d: %w", sourceID, mapError(err))
	}
	p.UpdatedBy = deref(by)
	if err := json.Unmarshal([]byte(events), &p.Events); err != nil {
		return p, fmt.Errorf("decode tracking plan: %w", err)
	}
	return p, nil
}

// CompiledPlan returns a source's compiled plan, nil when it has none,
// from a cache (see PlanCacheTTL): the collector calls it per request.
func (s *TrackingPlanService) CompiledPlan(ctx context.Context, sourceID int64) (*collect.Plan, error) {
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[sourceID]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.plan, nil
	}
	var plan *collect.Plan
	p, err := s.FindTrackingPlan(ctx, sourceID)
	switch {
	case lianlu.ErrorCode(err) == lianlu.ENOTFOUND:
	case err != nil:
		return nil, err
	default:
		if plan, err = collect.CompilePlan(p); err != nil {
			// Stored plans were compiled when stored; a library upgrade
			// that rejects one must not stop the collector.
			s.db.logger.Error("stored tracking plan does not compile; collecting without it", "source_id", sourceID, "error", err)
			plan = nil
		}
	}
	s.mu.Lock()
	if len(s.cache) >= 10000 {
		clear(s.cache)
	}
	s.cache[sourceID] = cachedPlan{plan: plan, expires: now.Add(PlanCacheTTL)}
	s.mu.Unlock()
	return plan, nil
}

// FindViolations returns a source's violation counts, most frequent first.
func (s *TrackingPlanService) FindViolations(ctx context.Context, sourceID int64, event string) ([]lianlu.ViolationCount, error) {
	q := `SELECT event_name, rule, field, message, flagged, blocked, first_seen_at, last_seen_at, last_message_id FROM tracking_violations WHERE source_id = ?`
	args := []any{sourceID}
	if event != "" {
		q += ` AND event_name = ?`
		args = append(args, event)
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY flagged + blocked DESC, event_name, rule, field LIMIT 1000`, args...)
	if err != nil {
		return nil, fmt.Errorf("find violations: %w", err)
	}
	defer rows.Close()
	out := []lianlu.ViolationCount{}
	for rows.Next() {
		var v lianlu.ViolationCount
		if err := rows.Scan(&v.Event, &v.Rule, &v.Field, &v.Message, &v.Flagged, &v.Blocked, sqlTime{&v.FirstSeenAt}, sqlTime{&v.LastSeenAt}, &v.LastMessageID); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

type violationKey struct {
	source             int64
	event, rule, field string
}

type violationTally struct {
	message, messageID string
	flagged, blocked   int64
}

// recordViolationsTx adds violations to the tally in tx. A flagged
// violation counts only when its event was newly stored (results holds
// the append results of the events the indexes refer to), so that an SDK
// retry does not count twice; a blocked one counts each time.
func recordViolationsTx(ctx context.Context, tx *Tx, vs []lianlu.PlanViolation, results []lianlu.AppendResult) error {
	if len(vs) == 0 {
		return nil
	}
	tally := map[violationKey]*violationTally{}
	for _, v := range vs {
		flagged := v.EventIndex >= 0
		if flagged && (v.EventIndex >= len(results) || results[v.EventIndex].Duplicate) {
			continue
		}
		k := violationKey{v.SourceID, v.Event, v.Rule, v.Field}
		t := tally[k]
		if t == nil {
			t = &violationTally{}
			tally[k] = t
		}
		t.message, t.messageID = v.Message, v.MessageID
		if flagged {
			t.flagged++
		} else {
			t.blocked++
		}
	}
	keys := make([]violationKey, 0, len(tally))
	for k := range tally {
		keys = append(keys, k)
	}
	// One order everywhere, so that concurrent PostgreSQL transactions
	// never wait for each other in a cycle.
	slices.SortFunc(keys, func(a, b violationKey) int {
		return cmp.Or(cmp.Compare(a.source, b.source), cmp.Compare(a.event, b.event), cmp.Compare(a.rule, b.rule), cmp.Compare(a.field, b.field))
	})
	now := tx.db.dialect.timeArg(tx.now)
	for _, k := range keys {
		t := tally[k]
		if _, err := tx.exec(ctx, `INSERT INTO tracking_violations (source_id, event_name, rule, field, message, flagged, blocked, first_seen_at, last_seen_at, last_message_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (source_id, event_name, rule, field) DO UPDATE SET message = excluded.message,
			flagged = tracking_violations.flagged + excluded.flagged, blocked = tracking_violations.blocked + excluded.blocked,
			last_seen_at = excluded.last_seen_at, last_message_id = excluded.last_message_id`,
			k.source, k.event, k.rule, k.field, t.message, t.flagged, t.blocked, now, now, t.messageID); err != nil {
			return fmt.Errorf("record violations: %w", err)
		}
	}
	return nil
}
