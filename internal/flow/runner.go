package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sla"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// SubscriptionName is the runner's durable position on the event log.
const SubscriptionName = "flow-runner"

// WebhookEnqueuer queues a webhook.post delivery in the runner's
// transaction. When the receiver first acknowledges it, the delivery side
// appends a webhook.delivered event whose data carries handoff_id.
type WebhookEnqueuer func(ctx context.Context, tx *sqlstore.Tx, url, secretRef string, e lianlu.Event, handoffID int64) error

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Logger *slog.Logger
	// ScanInterval is how often overdue handoffs are looked for (default
	// 30s).
	ScanInterval time.Duration
	// Policy tunes breach classification (its Calendar is set per handoff).
	Policy sla.Policy
	// DefaultTimezone is the zone of the default business calendar of
	// departments without a stored one (default Asia/Shanghai).
	DefaultTimezone string
	// EnqueueWebhook carries out webhook.post; without it such steps fail.
	EnqueueWebhook WebhookEnqueuer
	// BatchSize is events per transaction (default 100).
	BatchSize int
	// OnCommitted, when set, is called after each batch commits with the
	// events it handled (for metrics and latency measurement).
	OnCommitted func(events []lianlu.Event)
}

// flowSet is the compiled flows in force, swapped atomically on reload.
type flowSet struct {
	flows    []CompiledFlow
	versions map[string]int
	// advancing holds the event types that accept or complete some step;
	// other events (but cancellations and webhook acknowledgements) cannot
	// change a handoff, so the runner does not look for handoffs for them.
	advancing map[string]bool
}

// Runner runs flows: a subscription on the event log that, for each event,
// completes or accepts the handoffs the event concerns and starts the flows
// it triggers. Its database effects and its position commit together, so a
// replay from any position changes nothing. A scanner marks handoffs
// breached as soon as they are overdue.
type Runner struct {
	db       *sqlstore.DB
	cfg      RunnerConfig
	logger   *slog.Logger
	set      atomic.Pointer[flowSet]
	consumer *sqlstore.Consumer

	mu       sync.Mutex
	scanStop chan struct{}
	scanDone chan struct{}
}

// NewRunner returns a runner over db.
func NewRunner(db *sqlstore.DB, cfg RunnerConfig) *Runner {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = 30 * time.Second
	}
	if cfg.DefaultTimezone == "" {
		cfg.DefaultTimezone = "Asia/Shanghai"
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	r := &Runner{db: db, cfg: cfg, logger: cfg.Logger.With(slog.String("component", "flow-runner"))}
	r.set.Store(&flowSet{versions: map[string]int{}, advancing: map[string]bool{}})
	r.consumer = sqlstore.NewConsumer(db, sqlstore.ConsumerConfig{Name: SubscriptionName, BatchSize: cfg.BatchSize, Handler: r.handle, Relevant: r.relevant, Logger: cfg.Logger})
	return r
}

// Load compiles the stored flows and puts them in force.
func (r *Runner) Load(ctx context.Context) error {
	stored, err := r.db.FindStoredFlows(ctx)
	if err != nil {
		return err
	}
	env, err := validationEnv(ctx, r.db)
	if err != nil {
		return err
	}
	set := &flowSet{versions: map[string]int{}, advancing: map[string]bool{}}
	for _, sf := range stored {
		defs, err := Parse([]byte(sf.YAML))
		if err == nil {
			var cf []CompiledFlow
			if cf, err = CompileAll(defs, env); err == nil {
				set.flows = append(set.flows, cf...)
				set.versions[sf.Name] = sf.Version
				continue
			}
		}
		// A stored flow was valid when saved; if it no longer is (a
		// department removed), it is skipped, loudly.
		r.logger.Error("stored flow does not compile; skipped", slog.String("flow", sf.Name), slog.Any("error", err))
	}
	for _, f := range set.flows {
		for _, st := range f.Steps {
			for _, t := range append(slices.Clone(st.Completes), st.Accepts...) {
				set.advancing[t] = true
			}
		}
	}
	r.set.Store(set)
	return nil
}

func validationEnv(ctx context.Context, db *sqlstore.DB) (ValidationEnv, error) {
	depts, err := sqlstore.NewAccessService(db).FindDepartments(ctx)
	if err != nil {
		return ValidationEnv{}, err
	}
	env := ValidationEnv{Registry: NewRegistry(BuiltinActionSpecs()...)}
	for _, d := range depts {
		env.Departments = append(env.Departments, d.ID)
	}
	return env, nil
}

// Start loads the flows and runs the consumer and the breach scanner.
func (r *Runner) Start(ctx context.Context) error {
	if err := r.Load(ctx); err != nil {
		return err
	}
	if err := r.consumer.Start(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scanStop, r.scanDone = make(chan struct{}), make(chan struct{})
	go r.scanLoop(ctx, r.scanStop, r.scanDone)
	return nil
}

// Stop lets the current batch and scan finish and stops.
func (r *Runner) Stop() {
	r.consumer.Stop()
	r.mu.Lock()
	stop, done := r.scanStop, r.scanDone
	r.scanStop = nil
	r.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// ProcessOnce handles one batch of events (for tests and tools).
func (r *Runner) ProcessOnce(ctx context.Context) (int, error) { return r.consumer.ProcessOnce(ctx) }

func (r *Runner) scanLoop(ctx context.Context, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(r.cfg.ScanInterval)
	defer t.Stop()
	for {
		if _, err := r.ScanOnce(ctx); err != nil && ctx.Err() == nil {
			r.logger.Error("breach scan failed", slog.Any("error", err))
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// calendarFor returns the business calendar of a department.
func (r *Runner) calendarFor(cals map[string]sla.Calendar, dept string) *sla.Calendar {
	if c, ok := cals[dept]; ok {
		return &c
	}
	c := sla.Default(dept, r.cfg.DefaultTimezone)
	return &c
}

// ScanOnce marks overdue handoffs breached, classifying the cause, and
// returns how many it marked.
func (r *Runner) ScanOnce(ctx context.Context) (int, error) {
	n := 0
	err := r.db.WithTx(ctx, func(tx *sqlstore.Tx) error {
		cals, err := sqlstore.FindCalendarsTx(ctx, tx)
		if err != nil {
			return err
		}
		hs, err := sqlstore.FindOverdueHandoffsTx(ctx, tx, tx.Now(), 500)
		if err != nil {
			return err
		}
		for _, h := range hs {
			marked, err := r.evaluateBreach(ctx, tx, &h, cals, tx.Now())
			if err != nil {
				return err
			}
			if marked {
				if err := sqlstore.UpdateHandoffTx(ctx, tx, h); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// evaluateBreach records a breach on h (and appends handoff.breached) when
// it is breached at now and not yet marked.
func (r *Runner) evaluateBreach(ctx context.Context, tx *sqlstore.Tx, h *lianlu.Handoff, cals map[string]sla.Calendar, now time.Time) (bool, error) {
	if h.BreachedAt != nil || h.DueAt == nil {
		return false, nil
	}
	clocks := sla.Clocks{EmittedAt: h.EmittedAt, RecordedAt: h.RecordedAt, AcceptedAt: h.AcceptedAt, DoneAt: h.DoneAt, DueAt: h.DueAt}
	if h.DeliveredAt != nil {
		clocks.DeliveredAt = *h.DeliveredAt
	}
	policy := r.cfg.Policy
	policy.Calendar = r.calendarFor(cals, h.ToDepartment)
	breached, b := sla.Evaluate(clocks, h.FromDepartment, h.ToDepartment, now, policy)
	if !breached {
		return false, nil
	}
	at := b.At
	h.BreachedAt, h.BreachCause, h.ResponsibleDepartment = &at, b.Cause, b.ResponsibleDepartment
	return true, r.appendHandoffEvent(ctx, tx, "handoff.breached", *h)
}

// appendHandoffEvent appends handoff.* owned by the receiving department.
func (r *Runner) appendHandoffEvent(ctx context.Context, tx *sqlstore.Tx, typ string, h lianlu.Handoff) error {
	return sqlstore.AppendHandoffEventTx(ctx, tx, typ, h, "flow:"+h.Flow)
}

// handle is the consumer's handler.
func (r *Runner) handle(ctx context.Context, tx *sqlstore.Tx, events []lianlu.Event) error {
	cals, err := sqlstore.FindCalendarsTx(ctx, tx)
	if err != nil {
		return err
	}
	set := r.set.Load()
	if r.cfg.OnCommitted != nil {
		tx.OnCommit(func() { r.cfg.OnCommitted(events) })
	}
	for _, e := range events {
		if strings.HasPrefix(e.Type, "handoff.") {
			continue // the runner's own records
		}
		if !lianlu.TrustedEvent(e) {
			// Past the intake somehow (lianlu.TrustedEvent): no flow, no
			// handoff and no KPI clock moves on it.
			r.logger.Warn("untrusted event ignored", slog.Int64("seq", e.Seq), slog.String("type", e.Type), slog.String("source", e.Source), slog.String("department", e.Department))
			continue
		}
		if set.advancing[e.Type] || e.Type == "webhook.delivered" || strings.HasSuffix(e.Type, ".cancelled") {
			if err := r.advanceHandoffs(ctx, tx, e, cals); err != nil {
				return fmt.Errorf("event %d: %w", e.Seq, err)
			}
		}
		for i := range set.flows {
			if err := r.trigger(ctx, tx, &set.flows[i], set.versions[set.flows[i].Name], e, cals); err != nil {
				return fmt.Errorf("event %d, flow %s: %w", e.Seq, set.flows[i].Name, err)
			}
		}
	}
	return nil
}

// relevant returns whether the flows in force could act on an event: it
// triggers a flow, or it is of a type that can change a handoff. handle
// does nothing for the others, so batches of only such events (collector
// traffic, mostly) are skipped without a transaction.
func (r *Runner) relevant(context.Context) (func(lianlu.Event) bool, error) {
	set := r.set.Load()
	triggers := make(map[string]bool, len(set.flows))
	for i := range set.flows {
		triggers[set.flows[i].Trigger.Event] = true
	}
	return func(e lianlu.Event) bool {
		if strings.HasPrefix(e.Type, "handoff.") {
			return false // the runner's own records
		}
		return triggers[e.Type] || set.advancing[e.Type] || e.Type == "webhook.delivered" || strings.HasSuffix(e.Type, ".cancelled")
	}, nil
}

// advanceHandoffs applies e to the unfinished handoffs it concerns: those
// whose target or subject is e's subject (and, for webhook.delivered, the
// handoff it names). A command's event (lianlu.IsCommandEvent) moves any
// of them: the command checked who may act. An outside system's fact
// accepts or completes only a handoff to its own department, which is
// the one that does the work and reports it; cancellations and webhook
// acknowledgements are the commands' alone.
func (r *Runner) advanceHandoffs(ctx context.Context, tx *sqlstore.Tx, e lianlu.Event, cals map[string]sla.Calendar) error {
	command := lianlu.IsCommandEvent(e)
	if e.Type == "webhook.delivered" && command {
		var d struct {
			HandoffID int64 `json:"handoff_id"`
		}
		if json.Unmarshal(e.Data, &d) == nil && d.HandoffID != 0 {
			h, err := sqlstore.FindHandoffByIDTx(ctx, tx, d.HandoffID)
			if err != nil {
				return err
			}
			if h.Status == lianlu.HandoffPending {
				t := e.Time
				h.DeliveredAt, h.Status = &t, lianlu.HandoffOpen
				if err := sqlstore.UpdateHandoffTx(ctx, tx, h); err != nil {
					return err
				}
			}
		}
	}
	if e.Subject == "" {
		return nil
	}
	hs, err := sqlstore.FindRelatedHandoffsTx(ctx, tx, e.Subject)
	if err != nil {
		return err
	}
	for _, h := range hs {
		changed := false
		typ := ""
		if !command && e.Department != h.ToDepartment {
			continue
		}
		switch {
		case slices.Contains(h.Completes, e.Type):
			t := e.Time
			h.DoneAt, h.Status, changed, typ = &t, lianlu.HandoffDone, true, "handoff.completed"
			if h.AcceptedAt == nil {
				h.AcceptedAt = &t
			}
			if h.DeliveredAt == nil {
				h.DeliveredAt = &t
			}
		case slices.Contains(h.Accepts, e.Type) && h.AcceptedAt == nil:
			t := e.Time
			h.AcceptedAt, changed, typ = &t, true, "handoff.accepted"
		case command && strings.HasSuffix(e.Type, ".cancelled") && e.Subject == h.Subject:
			h.Status, changed, typ = lianlu.HandoffCancelled, true, "handoff.cancelled"
		}
		if !changed {
			continue
		}
		if h.Status == lianlu.HandoffDone {
			if _, err := r.evaluateBreach(ctx, tx, &h, cals, *h.DoneAt); err != nil {
				return err
			}
		}
		if err := sqlstore.UpdateHandoffTx(ctx, tx, h); err != nil {
			return err
		}
		if err := r.appendHandoffEvent(ctx, tx, typ, h); err != nil {
			return err
		}
		if id, ok := subjectID(h.Subject, "feedback/"); ok && (h.Status == lianlu.HandoffDone || h.Status == lianlu.HandoffCancelled) {
			if _, err := sqlstore.CloseFeedbackIfDoneTx(ctx, tx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// subjectID reads N from "prefixN".
func subjectID(subject, prefix string) (int64, bool) {
	if !strings.HasPrefix(subject, prefix) {
		return 0, false
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(subject, prefix), 10, 64)
	return id, err == nil && id > 0
}

// trigger starts flow f for e when it matches: one handoff per applicable
// step, created once per (event, flow, step).
func (r *Runner) trigger(ctx context.Context, tx *sqlstore.Tx, f *CompiledFlow, version int, e lianlu.Event, cals map[string]sla.Calendar) error {
	ok, err := f.Matches(e)
	if err != nil {
		r.logger.Warn("flow condition failed; flow not started", slog.String("flow", f.Name), slog.Int64("seq", e.Seq), slog.Any("error", err))
		return nil
	}
	if !ok {
		return nil
	}
	for i, st := range f.Steps {
		applies, err := f.StepApplies(i, e)
		if err != nil {
			r.logger.Warn("step condition failed; step skipped", slog.String("flow", f.Name), slog.String("step", st.Name), slog.Any("error", err))
			continue
		}
		if !applies {
			continue
		}
		from := st.From
		if from == "" {
			from = e.Department
		} else if from != e.Department && !lianlu.IsCommandEvent(e) {
			// An outside fact starts work only on behalf of the
			// department that sent it.
			r.logger.Warn("step skipped: the event is not the sending department's", slog.String("flow", f.Name), slog.String("step", st.Name),
				slog.Int64("seq", e.Seq), slog.String("department", e.Department), slog.String("from", from))
			continue
		}
		h := lianlu.Handoff{Flow: f.Name, FlowVersion: version, Step: st.Name, TriggerSeq: e.Seq, Subject: e.Subject, FromDepartment: from,
			ToDepartment: st.To, Action: st.Action, Completes: nonNil(st.Completes), Accepts: nonNil(st.Accepts), Status: lianlu.HandoffOpen,
			EmittedAt: e.Time, RecordedAt: e.RecordedAt}
		inserted, err := sqlstore.InsertHandoffTx(ctx, tx, &h)
		if err != nil {
			return err
		}
		if !inserted {
			continue // a replay: this step already ran for this event
		}
		if s := f.StepSLA[i]; !s.IsZero() {
			cal := r.calendarFor(cals, st.To)
			d := s.Duration + time.Duration(s.BusinessDays)*cal.BusinessDay()
			due, err := cal.AddBusiness(e.Time, d)
			if err != nil {
				return fmt.Errorf("due time in %s's calendar: %w", st.To, err)
			}
			due = due.UTC()
			h.DueAt = &due
		}
		if err := r.runAction(ctx, tx, f, i, e, &h); err != nil {
			return err
		}
		if err := sqlstore.UpdateHandoffTx(ctx, tx, h); err != nil {
			return err
		}
		if err := r.appendHandoffEvent(ctx, tx, "handoff.opened", h); err != nil {
			return err
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// businessError reports errors that are the action's outcome (the order
// was cancelled, a parameter is wrong), not a reason to retry the batch.
func businessError(err error) bool {
	switch lianlu.ErrorCode(err) {
	case lianlu.EINVALID, lianlu.ECONFLICT, lianlu.ENOTFOUND, lianlu.EFORBIDDEN:
		return true
	}
	return false
}

// runAction carries out step i's action inside a savepoint: on a business
// error its writes are undone and the handoff is marked failed.
func (r *Runner) runAction(ctx context.Context, tx *sqlstore.Tx, f *CompiledFlow, i int, e lianlu.Event, h *lianlu.Handoff) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT flow_step`); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	target, delivered, err := r.act(ctx, tx, f, i, e, h)
	if err != nil {
		if !businessError(err) {
			return err
		}
		if _, rbErr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT flow_step`); rbErr != nil {
			return fmt.Errorf("rollback to savepoint: %w", rbErr)
		}
		h.Status, h.Error = lianlu.HandoffFailed, lianlu.ErrorMessage(err)
		r.logger.Warn("flow step failed", slog.String("flow", f.Name), slog.String("step", h.Step), slog.Int64("handoff", h.ID), slog.String("error", h.Error))
	} else {
		h.Target = target
		now := tx.Now()
		if delivered {
			h.DeliveredAt = &now
		} else {
			h.Status = lianlu.HandoffPending
		}
	}
	if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT flow_step`); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// act runs one built-in action and returns the object it created and
// whether the receiver has it now (false while a webhook is unacknowledged).
func (r *Runner) act(ctx context.Context, tx *sqlstore.Tx, f *CompiledFlow, i int, e lianlu.Event, h *lianlu.Handoff) (string, bool, error) {
	params, err := f.ResolveParams(i, e)
	if err != nil {
		return "", false, lianlu.Errorf(lianlu.EINVALID, "parameters: %v", err)
	}
	str := func(k string) string { s, _ := params[k].(string); return s }
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "flow:" + f.Name, Department: h.FromDepartment, Role: lianlu.RoleOperator})
	switch h.Action {
	case ActionFulfillmentCreate:
		id, ok := subjectID(e.Subject, "order/")
		if !ok {
			return "", false, lianlu.Errorf(lianlu.EINVALID, "fulfillment.create needs an order/<id> subject, not %q", e.Subject)
		}
		ful, err := sqlstore.CreateFulfillmentTx(ctx, tx, id)
		if err != nil {
			return "", false, err
		}
		return sqlstore.FulfillmentSubject(ful.ID), true, nil
	case ActionWorkOrderCreate:
		title := str("title")
		if title == "" {
			title = strings.ReplaceAll(str("kind"), "_", " ") + " · " + e.Subject
		}
		wo, err := sqlstore.CreateWorkOrderTx(ctx, tx, lianlu.WorkOrder{Kind: str("kind"), Priority: str("priority"), Department: h.ToDepartment,
			Title: title, Subject: e.Subject, Ref: sqlstore.HandoffSubject(h.ID)})
		if err != nil {
			return "", false, err
		}
		return "workorder/" + strconv.FormatInt(wo.ID, 10), true, nil
	case ActionBacklogAdd:
		id, ok := subjectID(e.Subject, "feedback/")
		if !ok {
			return "", false, lianlu.Errorf(lianlu.EINVALID, "backlog.add needs a feedback/<id> subject, not %q", e.Subject)
		}
		weight, _ := params["weight"].(int64)
		item, err := sqlstore.AddToBacklogTx(ctx, tx, id, weight)
		if err != nil {
			return "", false, err
		}
		return sqlstore.BacklogSubject(item.ID), true, nil
	case ActionNotify:
		data, _ := json.Marshal(map[string]any{"message": str("message"), "channel": str("channel"), "handoff_id": h.ID, "about": e.Subject})
		_, err := sqlstore.AppendEvents(ctx, tx, []lianlu.Event{{ID: sqlstore.HandoffSubject(h.ID) + "/notification", Source: sqlstore.CommandSource,
			Type: "notification.sent", Subject: e.Subject, Department: h.ToDepartment, Actor: "flow:" + f.Name, Time: tx.Now(), Data: data,
			CausationID: e.ID, CorrelationID: e.CorrelationID}})
		return "", err == nil, err
	case ActionWebhookPost:
		if r.cfg.EnqueueWebhook == nil {
			return "", false, lianlu.Errorf(lianlu.ECONFLICT, "webhook delivery is not configured")
		}
		if err := r.cfg.EnqueueWebhook(ctx, tx, str("url"), str("secret_ref"), e, h.ID); err != nil {
			return "", false, err
		}
		return "", false, nil
	default:
		return "", false, lianlu.Errorf(lianlu.EINVALID, "unknown action %s", h.Action)
	}
}

// MarshalYAML renders one definition as the YAML stored for it.
func MarshalYAML(d Definition) (string, error) {
	b, err := yaml.Marshal(d)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Seed stores each definition that is not stored yet (override=false: the
// embedded defaults never overwrite edits) or stores it as a new version
// when it differs (override=true: an operator's --flows file wins).
func Seed(ctx context.Context, db *sqlstore.DB, defs []Definition, override bool) error {
	env, err := validationEnv(ctx, db)
	if err != nil {
		return err
	}
	if err := Validate(defs, env); err != nil {
		return err
	}
	stored, err := db.FindStoredFlows(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, s := range stored {
		have[s.Name] = true
	}
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "flow-seed", Department: lianlu.DeptAdmin, Role: lianlu.RoleAdmin})
	for _, d := range defs {
		if have[d.Name] && !override {
			continue
		}
		y, err := MarshalYAML(d)
		if err != nil {
			return err
		}
		if _, _, err := db.SaveFlowYAML(ctx, d.Name, y, 0); err != nil {
			return fmt.Errorf("seed flow %s: %w", d.Name, err)
		}
	}
	return nil
}

// Service reads and edits stored flows, validating every edit.
type Service struct {
	db     *sqlstore.DB
	runner *Runner
}

// NewService returns the flow service; runner (optional) reloads on edits.
func NewService(db *sqlstore.DB, runner *Runner) *Service { return &Service{db: db, runner: runner} }

// List returns the stored flows.
func (s *Service) List(ctx context.Context) ([]sqlstore.StoredFlow, error) {
	return s.db.FindStoredFlows(ctx)
}

// Get returns one stored flow or ENOTFOUND.
func (s *Service) Get(ctx context.Context, name string) (sqlstore.StoredFlow, error) {
	all, err := s.db.FindStoredFlows(ctx)
	if err != nil {
		return sqlstore.StoredFlow{}, err
	}
	for _, f := range all {
		if f.Name == name {
			return f, nil
		}
	}
	return sqlstore.StoredFlow{}, lianlu.Errorf(lianlu.ENOTFOUND, "flow %s not found", name)
}

// Put validates YAML holding exactly the flow name and stores it as a new
// version (unchanged YAML stores nothing). expectedVersion > 0 guards
// against overwriting someone else's edit (ECONFLICT).
func (s *Service) Put(ctx context.Context, name, text string, expectedVersion int) (sqlstore.StoredFlow, bool, error) {
	defs, err := Parse([]byte(text))
	if err != nil {
		return sqlstore.StoredFlow{}, false, err
	}
	if len(defs) != 1 || defs[0].Name != name {
		return sqlstore.StoredFlow{}, false, lianlu.Invalid(lianlu.FieldError{Field: "name", Message: "the YAML must hold exactly one flow named " + name})
	}
	env, err := validationEnv(ctx, s.db)
	if err != nil {
		return sqlstore.StoredFlow{}, false, err
	}
	if err := Validate(defs, env); err != nil {
		return sqlstore.StoredFlow{}, false, err
	}
	sf, changed, err := s.db.SaveFlowYAML(ctx, name, text, expectedVersion)
	if err != nil {
		return sf, false, err
	}
	if changed && s.runner != nil {
		if err := s.runner.Load(ctx); err != nil {
			return sf, changed, fmt.Errorf("reload flows: %w", err)
		}
	}
	return sf, changed, nil
}
