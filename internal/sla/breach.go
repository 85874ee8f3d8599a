package sla

import "time"

// Clocks are the instants in the life of a handoff (see DESIGN.md §2).
type Clocks struct {
	// EmittedAt is when the triggering fact happened at its source (the
	// event's time). The SLA, and so DueAt, runs from here.
	EmittedAt time.Time
	// RecordedAt is when Lianlu stored the triggering event.
	RecordedAt time.Time
	// DeliveredAt is when the receiving side had the handoff (record created
	// or webhook acknowledged); zero while it has not.
	DeliveredAt time.Time
	// AcceptedAt is when the receiver started work; nil until then.
	AcceptedAt *time.Time
	// DoneAt is when the completing event arrived; nil until then.
	DoneAt *time.Time
	// DueAt is the deadline; nil when the step has no SLA.
	DueAt *time.Time
}

// Durations are the segments of a handoff's life. A segment is nil until both
// of its ends are known. Skewed source clocks can make a segment negative;
// the values are reported as measured.
type Durations struct {
	// SyncDelay is delivered − emitted: how late the receiver learnt of it.
	SyncDelay *time.Duration
	// Pickup is accepted − delivered.
	Pickup *time.Duration
	// Work is done − accepted.
	Work *time.Duration
	// Total is done − emitted.
	Total *time.Duration
}

// Durations returns the segments of the handoff measured so far, in wall time.
func (c Clocks) Durations() Durations {
	between := func(from, to time.Time) *time.Duration {
		d := to.Sub(from)
		return &d
	}
	var d Durations
	if !c.EmittedAt.IsZero() && !c.DeliveredAt.IsZero() {
		d.SyncDelay = between(c.EmittedAt, c.DeliveredAt)
	}
	if !c.DeliveredAt.IsZero() && c.AcceptedAt != nil {
		d.Pickup = between(c.DeliveredAt, *c.AcceptedAt)
	}
	if c.AcceptedAt != nil && c.DoneAt != nil {
		d.Work = between(*c.AcceptedAt, *c.DoneAt)
	}
	if !c.EmittedAt.IsZero() && c.DoneAt != nil {
		d.Total = between(c.EmittedAt, *c.DoneAt)
	}
	return d
}

// Breach causes: the segment of the handoff that overran.
const (
	// CauseUpstreamSync blames the emitting side or its source system: the
	// trigger reached the receiver too late to leave it a fair share of the
	// time.
	CauseUpstreamSync = "upstream_sync"
	// CausePickup blames the receiver for not starting work before the
	// deadline.
	CausePickup = "pickup"
	// CauseWork blames the receiver for starting in time but finishing late.
	CauseWork = "work"
)

// Breach describes a missed deadline.
type Breach struct {
	// At is when the handoff became breached: its due time.
	At time.Time `json:"at"`
	// Cause is one of CauseUpstreamSync, CausePickup and CauseWork.
	Cause string `json:"cause"`
	// ResponsibleDepartment is the department the breach is charged to.
	ResponsibleDepartment string `json:"responsible_department"`
}

// Defaults of Policy.
const (
	DefaultSyncTolerance = 5 * time.Minute
	DefaultUpstreamShare = 0.5
)

// Policy tunes how breaches are attributed.
type Policy struct {
	// SyncTolerance is the sync delay that is normal plumbing and never
	// blamed on the emitting side. Zero means DefaultSyncTolerance; a
	// negative value means no tolerance.
	SyncTolerance time.Duration
	// UpstreamShare is the share of the SLA budget a late trigger must have
	// consumed for the breach to be charged upstream. Zero means
	// DefaultUpstreamShare (half).
	UpstreamShare float64
	// Calendar, when set, is the receiving department's business calendar
	// (the one DueAt was computed with). The budget and the share of it the
	// sync delay consumed are then measured in business time, so that a
	// trigger that arrives late over a weekend the receiver would not have
	// worked anyway is not blamed upstream. When nil, or when it does not
	// validate, both are measured in wall time.
	Calendar *Calendar
}

func (p Policy) syncTolerance() time.Duration {
	switch {
	case p.SyncTolerance == 0:
		return DefaultSyncTolerance
	case p.SyncTolerance < 0:
		return 0
	}
	return p.SyncTolerance
}

func (p Policy) upstreamShare() float64 {
	if p.UpstreamShare <= 0 {
		return DefaultUpstreamShare
	}
	return p.UpstreamShare
}

// Evaluate decides whether a handoff from fromDept to toDept is breached at
// now, and why.
//
// A handoff with no DueAt has no SLA and is never breached. Otherwise it is
// breached when it is done after DueAt, or not done and now is after DueAt;
// finishing exactly at DueAt is in time. The breach time is DueAt.
//
// DueAt runs from EmittedAt, so the time the trigger took to reach the
// receiver (the sync delay, DeliveredAt − EmittedAt) comes out of the
// receiver's budget (DueAt − EmittedAt). The cause is chosen in this order:
//
//  1. upstream_sync, charged to fromDept, when the trigger was delivered after
//     DueAt (the receiver never had a chance), or when the sync delay exceeded
//     Policy.SyncTolerance and consumed at least Policy.UpstreamShare (half by
//     default) of the budget. Budget and consumed share are measured in
//     business time of Policy.Calendar when it is set, else in wall time. A
//     handoff not yet delivered counts as delivered at the moment it is judged
//     (DoneAt, or now).
//  2. pickup, charged to toDept, when the receiver had not accepted by DueAt
//     (AcceptedAt nil or after DueAt). A handoff done without an acceptance
//     is treated as accepted when done.
//  3. work, charged to toDept, otherwise: accepted in time, finished late.
//
// Because the clocks only ever fill in, the cause found when a breach is first
// detected stays the same on later evaluations, except for a handoff still
// undelivered, which can only stay upstream_sync.
func Evaluate(c Clocks, fromDept, toDept string, now time.Time, p Policy) (breached bool, b Breach) {
	if c.DueAt == nil {
		return false, Breach{}
	}
	due := *c.DueAt
	judged := now
	if c.DoneAt != nil {
		judged = *c.DoneAt
	}
	if !judged.After(due) {
		return false, Breach{}
	}
	b.At = due
	switch {
	case upstreamLate(c, due, judged, p):
		b.Cause, b.ResponsibleDepartment = CauseUpstreamSync, fromDept
	case c.AcceptedAt == nil || c.AcceptedAt.After(due):
		b.Cause, b.ResponsibleDepartment = CausePickup, toDept
	default:
		b.Cause, b.ResponsibleDepartment = CauseWork, toDept
	}
	return true, b
}

// upstreamLate applies rule 1 of Evaluate.
func upstreamLate(c Clocks, due, judged time.Time, p Policy) bool {
	delivered := c.DeliveredAt
	if delivered.IsZero() {
		delivered = judged
	}
	if delivered.After(due) {
		return true
	}
	if c.EmittedAt.IsZero() || delivered.Sub(c.EmittedAt) <= p.syncTolerance() {
		return false
	}
	consumed, budget := delivered.Sub(c.EmittedAt), due.Sub(c.EmittedAt)
	if p.Calendar != nil {
		if cc, err := p.Calendar.compile(); err == nil {
			consumed, budget = cc.between(c.EmittedAt, delivered), cc.between(c.EmittedAt, due)
		}
	}
	return float64(consumed) >= p.upstreamShare()*float64(budget)
}
