package offer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// SubscriptionName is the engine's position on the event log.
const SubscriptionName = "offers"

// Reasons a send was suppressed or dropped.
const (
	ReasonNoConsent    = "no_consent"
	ReasonFrequencyCap = "frequency_cap"
	ReasonCondition    = "condition_no_longer_holds"
	ReasonRuleInactive = "rule_inactive"
	// ReasonChannel: the channel refused the offer as configured (its
	// webhook was disabled since the rule was saved, say); the coupon,
	// already issued, is the one a later send gives her.
	ReasonChannel = "channel_unavailable"
)

// EngineConfig configures an Engine. Zero fields take the defaults.
type EngineConfig struct {
	Logger *slog.Logger
	// ScanInterval is how often sends waiting for a delay or the end of
	// quiet hours are looked at (default 15s).
	ScanInterval time.Duration
	// RecentEvents is how many of the member's latest events a condition
	// sees (default 200).
	RecentEvents int
	// Channels carry offers by channel name; default the inbox and the
	// webhook channel.
	Channels map[string]Channel
}

// Engine evaluates offer rules from the event log and sends their offers.
type Engine struct {
	db       *sqlstore.DB
	cfg      EngineConfig
	logger   *slog.Logger
	consumer *sqlstore.Consumer

	cacheMu sync.Mutex
	cache   map[int64]compiled // by rule id

	mu      sync.Mutex
	running bool
	stop    chan struct{}
	done    chan struct{}
	wake    chan struct{}
}

// compiled is a rule's condition compiled for the rule version it was
// compiled from.
type compiled struct {
	updatedAt time.Time
	prg       *flow.Program
}

// NewEngine returns an engine over db; Start runs it.
func NewEngine(db *sqlstore.DB, cfg EngineConfig) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = 15 * time.Second
	}
	if cfg.RecentEvents <= 0 {
		cfg.RecentEvents = 200
	}
	if cfg.Channels == nil {
		cfg.Channels = map[string]Channel{lianlu.OfferInbox: Inbox{}, lianlu.OfferWebhook: Webhook{}}
	}
	e := &Engine{db: db, cfg: cfg, logger: cfg.Logger.With(slog.String("component", "offers")), cache: map[int64]compiled{}, wake: make(chan struct{}, 1)}
	e.consumer = sqlstore.NewConsumer(db, sqlstore.ConsumerConfig{Name: SubscriptionName, Filter: lianlu.EventFilter{Types: lianlu.OfferTriggers},
		Handler: e.handle, Relevant: e.relevant, Logger: cfg.Logger})
	return e
}

// relevant tells the subscription which events some active rule triggers
// on, so that batches of the others (collector touches at full rate, when
// no rule listens to them) are skipped without reading their data or
// taking the writer.
func (e *Engine) relevant(ctx context.Context) (func(lianlu.Event) bool, error) {
	rules, err := e.db.FindActiveOfferRules(ctx)
	if err != nil {
		return nil, err
	}
	after := map[string]int64{} // trigger type → the lowest AfterSeq of its rules
	for _, r := range rules {
		for _, t := range r.Triggers {
			if s, ok := after[t]; !ok || r.AfterSeq < s {
				after[t] = r.AfterSeq
			}
		}
	}
	return func(ev lianlu.Event) bool {
		s, ok := after[ev.Type]
		// Relevance sees only seq, type and department; handle checks
		// that the trigger is trusted.
		return ok && ev.Seq > s
	}, nil
}

// invalidate is called when a rule was saved on this node.
func (e *Engine) invalidate() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Start runs the subscription and the scanner of scheduled sends.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running {
		return lianlu.Errorf(lianlu.ECONFLICT, "offer engine already running")
	}
	if err := e.consumer.Start(ctx); err != nil {
		return err
	}
	e.running, e.stop, e.done = true, make(chan struct{}), make(chan struct{})
	go e.loop(ctx, e.stop, e.done)
	return nil
}

// Stop ends the background work and waits for it.
func (e *Engine) Stop() {
	e.mu.Lock()
	if !e.running {
		e.mu.Unlock()
		return
	}
	close(e.stop)
	done := e.done
	e.running = false
	e.mu.Unlock()
	<-done
	e.consumer.Stop()
}

func (e *Engine) loop(ctx context.Context, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(e.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.wake:
		}
		if _, err := e.ScanOnce(ctx); err != nil && ctx.Err() == nil {
			e.logger.Error("offer scan failed", slog.Any("error", err))
		}
	}
}

// ProcessOnce evaluates one batch of events (for tests and tools).
func (e *Engine) ProcessOnce(ctx context.Context) (int, error) { return e.consumer.ProcessOnce(ctx) }

// rule is an active rule with its compiled condition.
type rule struct {
	lianlu.OfferRule
	prg *flow.Program
}

// activeRules reads the active rules in tx and compiles what changed since
// the last read: rules saved on any node take effect at the next batch.
func (e *Engine) activeRules(ctx context.Context, tx *sqlstore.Tx) ([]rule, error) {
	rs, err := sqlstore.FindActiveOfferRulesTx(ctx, tx)
	if err != nil {
		return nil, err
	}
	e.cacheMu.Lock()
	defer e.cacheMu.Unlock()
	out := make([]rule, 0, len(rs))
	for _, r := range rs {
		c, ok := e.cache[r.ID]
		if !ok || !c.updatedAt.Equal(r.UpdatedAt) {
			prg, err := Compile(r.Condition)
			if err != nil {
				// Stored rules were valid when saved; skip one that no
				// longer compiles, loudly.
				e.logger.Error("offer rule does not compile; skipped", slog.Int64("rule", r.ID), slog.Any("error", err))
				continue
			}
			c = compiled{updatedAt: r.UpdatedAt, prg: prg}
			e.cache[r.ID] = c
		}
		out = append(out, rule{OfferRule: r, prg: c.prg})
	}
	return out, nil
}

func (e *Engine) handle(ctx context.Context, tx *sqlstore.Tx, events []lianlu.Event) error {
	rules, err := e.activeRules(ctx, tx)
	if err != nil || len(rules) == 0 {
		return err
	}
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "system:offers", Department: lianlu.DeptMarketing, Role: lianlu.RoleOperator})
	for _, ev := range events {
		if !lianlu.TrustedEvent(ev) {
			// A member.joined or touch that reached the log past the
			// intake (lianlu.TrustedEvent) offers nothing.
			continue
		}
		var triggered []rule
		for _, r := range rules {
			if ev.Seq > r.AfterSeq && slices.Contains(r.Triggers, ev.Type) {
				triggered = append(triggered, r)
			}
		}
		if len(triggered) == 0 {
			continue
		}
		member, err := sqlstore.MemberOfEventTx(ctx, tx, ev)
		if err != nil {
			return err
		}
		if member == 0 {
			continue
		}
		for _, r := range triggered {
			if err := e.decide(ctx, tx, r, member, ev); err != nil {
				return fmt.Errorf("event %d, offer rule %d: %w", ev.Seq, r.ID, err)
			}
		}
	}
	return nil
}

// decide records what rule r makes of trigger ev for a member: nothing when
// the condition does not hold; a suppressed send without consent or past
// the frequency cap; else a send, delivered at once unless a delay or
// quiet hours put it later.
func (e *Engine) decide(ctx context.Context, tx *sqlstore.Tx, r rule, memberID int64, ev lianlu.Event) error {
	now := tx.Now()
	s := sqlstore.DueSend{OfferSend: lianlu.OfferSend{RuleID: r.ID, MemberID: memberID, TriggerSeq: ev.Seq, Channel: r.Channel, Status: lianlu.SendScheduled, DueAt: now}}
	if r.Delay > 0 {
		// The condition is judged when the delay is over.
		if due := ev.Time.Add(time.Duration(r.Delay)); due.After(now) {
			s.DueAt = due
		}
		_, err := sqlstore.InsertOfferSendTx(ctx, tx, &s)
		return err
	}
	m, err := sqlstore.FindMemberTx(ctx, tx, memberID)
	if err != nil {
		return err
	}
	holds, reason, err := e.evaluate(ctx, tx, r, m, ev, now)
	if err != nil || (!holds && reason == "") {
		return err
	}
	s.Evaluated = true
	if reason != "" {
		s.Status, s.Reason = lianlu.SendSuppressed, reason
		_, err := sqlstore.InsertOfferSendTx(ctx, tx, &s)
		return err
	}
	s.DueAt = e.afterQuietHours(ctx, tx, r, m, now)
	inserted, err := sqlstore.InsertOfferSendTx(ctx, tx, &s)
	if err != nil || !inserted || s.DueAt.After(now) {
		return err
	}
	return e.deliver(ctx, tx, r.OfferRule, &s, m)
}

// evaluate judges the rule's condition for a member, then her consent and
// the frequency cap: holds, or the reason it is suppressed ("" when the
// condition does not hold).
func (e *Engine) evaluate(ctx context.Context, tx *sqlstore.Tx, r rule, m lianlu.Member, ev lianlu.Event, now time.Time) (bool, string, error) {
	recent, err := sqlstore.MemberEventsTx(ctx, tx, m.ID, 0, e.cfg.RecentEvents)
	if err != nil {
		return false, "", err
	}
	vars, err := Vars(m, recent, ev, now)
	if err != nil {
		return false, "", err
	}
	ok, err := r.prg.EvalBoolVars(vars)
	if err != nil {
		e.logger.Warn("offer condition failed; not sent", slog.Int64("rule", r.ID), slog.Int64("seq", ev.Seq), slog.Any("error", err))
		return false, "", nil
	}
	if !ok {
		return false, "", nil
	}
	if !m.HasConsent(lianlu.ConsentMarketing) {
		return false, ReasonNoConsent, nil
	}
	if r.Cap.Count > 0 {
		n, err := sqlstore.CountRecentSendsTx(ctx, tx, r.ID, m.ID, now.Add(-time.Duration(r.Cap.Window)))
		if err != nil {
			return false, "", err
		}
		if n >= r.Cap.Count {
			return false, ReasonFrequencyCap, nil
		}
	}
	return true, "", nil
}

// afterQuietHours returns now, or the end of the rule's quiet hours when
// now falls in them, in the member's home store's time zone (else the
// rule's).
func (e *Engine) afterQuietHours(ctx context.Context, tx *sqlstore.Tx, r rule, m lianlu.Member, now time.Time) time.Time {
	if r.QuietHours == nil {
		return now
	}
	tz := r.Timezone
	if m.HomeStore != "" {
		if st, err := sqlstore.FindStoreTx(ctx, tx, m.HomeStore); err == nil {
			tz = st.Timezone
		}
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return now
	}
	return QuietEnd(*r.QuietHours, now.In(loc)).UTC()
}

// QuietEnd returns t when it is outside the quiet hours q, else the end of
// the quiet period t is in. Times of q are local to t's location; a period
// may span midnight (22:00 to 08:00).
func QuietEnd(q lianlu.QuietHours, t time.Time) time.Time {
	start, ok1 := minutes(q.Start)
	end, ok2 := minutes(q.End)
	if !ok1 || !ok2 || start == end {
		return t
	}
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	at := func(d time.Time, m int) time.Time {
		return time.Date(d.Year(), d.Month(), d.Day(), m/60, m%60, 0, 0, d.Location())
	}
	now := t.Hour()*60 + t.Minute()
	switch {
	case start < end && now >= start && now < end:
		return at(day, end)
	case start > end && now >= start:
		return at(day.AddDate(0, 0, 1), end)
	case start > end && now < end:
		return at(day, end)
	}
	return t
}

func minutes(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	return hh*60 + mm, ok && err1 == nil && err2 == nil && hh < 24 && mm < 60
}

// deliver sends a scheduled send: her consent is checked again, her coupon
// issued, the channel given the offer, and offer.sent appended.
func (e *Engine) deliver(ctx context.Context, tx *sqlstore.Tx, r lianlu.OfferRule, s *sqlstore.DueSend, m lianlu.Member) error {
	now := tx.Now()
	if !m.HasConsent(lianlu.ConsentMarketing) {
		s.Status, s.Reason = lianlu.SendSuppressed, ReasonNoConsent
		return sqlstore.UpdateOfferSendTx(ctx, tx, *s)
	}
	var coupon *lianlu.Coupon
	if r.Coupon != nil {
		c, err := sqlstore.IssueCouponTx(ctx, tx, r.ID, m.ID, *r.Coupon)
		if err != nil {
			return err
		}
		coupon, s.Coupon = &c, c.Code
	}
	ch, ok := e.cfg.Channels[r.Channel]
	if !ok {
		return fmt.Errorf("no offer channel %q", r.Channel)
	}
	if err := ch.Send(ctx, tx, Message{SendID: s.ID, Rule: r, Member: m, Coupon: coupon, At: now}); lianlu.ErrorCode(err) == lianlu.EINVALID {
		// A rule that cannot be sent is that rule's problem: failing the
		// transaction would hold back every other rule and event.
		e.logger.Warn("offer not sent: the channel refused it", slog.Int64("rule", r.ID), slog.Any("error", err))
		s.Status, s.Reason = lianlu.SendDropped, ReasonChannel
		return sqlstore.UpdateOfferSendTx(ctx, tx, *s)
	} else if err != nil {
		return err
	}
	s.Status, s.SentAt = lianlu.SendSent, &now
	if err := sqlstore.UpdateOfferSendTx(ctx, tx, *s); err != nil {
		return err
	}
	data := map[string]any{"send_id": s.ID, "rule_id": r.ID, "rule": r.Name, "member_id": m.ID, "channel": r.Channel, "title": r.Title, "trigger_seq": s.TriggerSeq}
	if coupon != nil {
		data["coupon"], data["valid_until"], data["value_off"] = coupon.Code, coupon.ValidUntil, coupon.ValueOff
	}
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = sqlstore.AppendEvents(ctx, tx, []lianlu.Event{{ID: "offer_send/" + strconv.FormatInt(s.ID, 10) + "/sent", Source: sqlstore.CommandSource,
		Type: "offer.sent", Subject: sqlstore.MemberSubject(m.ID), Department: lianlu.DeptMarketing, Actor: "system:offers", Time: now, Data: b}})
	return err
}

// ScanOnce looks at the scheduled sends that came due: a delayed rule's
// condition is judged now (and the send dropped when it no longer holds),
// and what holds is delivered. It returns how many sends it looked at.
func (e *Engine) ScanOnce(ctx context.Context) (int, error) {
	if due, err := e.db.HasDueSends(ctx, e.db.Now()); err != nil || !due {
		return 0, err
	}
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "system:offers", Department: lianlu.DeptMarketing, Role: lianlu.RoleOperator})
	n := 0
	err := e.db.WithTx(ctx, func(tx *sqlstore.Tx) error {
		sends, err := sqlstore.FindDueSendsTx(ctx, tx, tx.Now(), 100)
		if err != nil {
			return err
		}
		rules, err := e.activeRules(ctx, tx)
		if err != nil {
			return err
		}
		byID := map[int64]rule{}
		for _, r := range rules {
			byID[r.ID] = r
		}
		for i := range sends {
			s := &sends[i]
			n++
			r, ok := byID[s.RuleID]
			if !ok {
				s.Status, s.Reason = lianlu.SendDropped, ReasonRuleInactive
				if err := sqlstore.UpdateOfferSendTx(ctx, tx, *s); err != nil {
					return err
				}
				continue
			}
			m, err := sqlstore.FindMemberTx(ctx, tx, s.MemberID)
			if err != nil {
				return err
			}
			if m.MergedInto != 0 {
				if m, err = sqlstore.FindMemberTx(ctx, tx, m.MergedInto); err != nil {
					return err
				}
			}
			now := tx.Now()
			if !s.Evaluated {
				trigger, err := sqlstore.FindEventBySeqTx(ctx, tx, s.TriggerSeq)
				if err != nil {
					return err
				}
				holds, reason, err := e.evaluate(ctx, tx, r, m, trigger, now)
				if err != nil {
					return err
				}
				s.Evaluated = true
				if !holds {
					s.Status, s.Reason = lianlu.SendDropped, ReasonCondition
					if reason != "" {
						s.Status, s.Reason = lianlu.SendSuppressed, reason
					}
					if err := sqlstore.UpdateOfferSendTx(ctx, tx, *s); err != nil {
						return err
					}
					continue
				}
				if s.DueAt = e.afterQuietHours(ctx, tx, r, m, now); s.DueAt.After(now) {
					if err := sqlstore.UpdateOfferSendTx(ctx, tx, *s); err != nil {
						return err
					}
					continue
				}
			}
			if err := e.deliver(ctx, tx, r.OfferRule, s, m); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
