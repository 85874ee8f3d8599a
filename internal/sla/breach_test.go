package sla

import (
	"testing"
	"time"
)

func TestDurations(t *testing.T) {
	emitted := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ptr := func(d time.Duration) *time.Time { x := emitted.Add(d); return &x }
	dur := func(d *time.Duration) string {
		if d == nil {
			return "nil"
		}
		return d.String()
	}

	c := Clocks{EmittedAt: emitted, RecordedAt: emitted.Add(time.Minute)}
	if d := c.Durations(); d.SyncDelay != nil || d.Pickup != nil || d.Work != nil || d.Total != nil {
		t.Errorf("undelivered: %s %s %s %s, want all nil", dur(d.SyncDelay), dur(d.Pickup), dur(d.Work), dur(d.Total))
	}

	c.DeliveredAt = emitted.Add(2 * time.Minute)
	c.AcceptedAt = ptr(time.Hour)
	d := c.Durations()
	if dur(d.SyncDelay) != "2m0s" || dur(d.Pickup) != "58m0s" || d.Work != nil || d.Total != nil {
		t.Errorf("accepted: %s %s %s %s", dur(d.SyncDelay), dur(d.Pickup), dur(d.Work), dur(d.Total))
	}

	c.DoneAt = ptr(3 * time.Hour)
	d = c.Durations()
	if dur(d.SyncDelay) != "2m0s" || dur(d.Pickup) != "58m0s" || dur(d.Work) != "2h0m0s" || dur(d.Total) != "3h0m0s" {
		t.Errorf("done: %s %s %s %s", dur(d.SyncDelay), dur(d.Pickup), dur(d.Work), dur(d.Total))
	}
}

func TestEvaluate(t *testing.T) {
	// Emitted Monday 09:00 UTC with a 4h SLA: due 13:00.
	emitted := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return emitted.Add(d) }
	ptr := func(d time.Duration) *time.Time { x := at(d); return &x }
	due := ptr(4 * time.Hour)
	onTime := at(30 * time.Second)

	// Emitted Friday 17:30, 30 minutes before closing, with a 4h business
	// SLA: due Monday 12:30. The trigger reaches the receiver on Monday 09:00.
	office := Default("office", "UTC")
	friday := time.Date(2026, 3, 6, 17, 30, 0, 0, time.UTC)
	mondayDue, err := office.AddBusiness(friday, 4*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	monday := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	weekend := Clocks{EmittedAt: friday, RecordedAt: monday, DeliveredAt: monday, DueAt: &mondayDue}

	tests := []struct {
		name      string
		clocks    Clocks
		now       time.Time
		policy    Policy
		breached  bool
		cause     string
		responsib string
	}{
		{
			name:   "no SLA",
			clocks: Clocks{EmittedAt: emitted, RecordedAt: onTime, DeliveredAt: onTime},
			now:    at(1000 * time.Hour),
		},
		{
			name:   "not due yet",
			clocks: Clocks{EmittedAt: emitted, RecordedAt: onTime, DeliveredAt: onTime, DueAt: due},
			now:    at(3 * time.Hour),
		},
		{
			name:   "exactly at due",
			clocks: Clocks{EmittedAt: emitted, RecordedAt: onTime, DeliveredAt: onTime, DueAt: due},
			now:    at(4 * time.Hour),
		},
		{
			name:   "done in time",
			clocks: Clocks{EmittedAt: emitted, RecordedAt: onTime, DeliveredAt: onTime, AcceptedAt: ptr(time.Hour), DoneAt: ptr(4 * time.Hour), DueAt: due},
			now:    at(100 * time.Hour),
		},
		{
			name:     "untouched past due: pickup",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: onTime, DeliveredAt: onTime, DueAt: due},
			now:      at(4*time.Hour + time.Second),
			breached: true, cause: CausePickup, responsib: "warehouse",
		},
		{
			name:     "accepted after due: pickup",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: onTime, DeliveredAt: onTime, AcceptedAt: ptr(5 * time.Hour), DoneAt: ptr(6 * time.Hour), DueAt: due},
			now:      at(100 * time.Hour),
			breached: true, cause: CausePickup, responsib: "warehouse",
		},
		{
			name:     "done late without acceptance: pickup",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: onTime, DeliveredAt: onTime, DoneAt: ptr(5 * time.Hour), DueAt: due},
			now:      at(5 * time.Hour),
			breached: true, cause: CausePickup, responsib: "warehouse",
		},
		{
			name:     "accepted in time, done late: work",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: onTime, DeliveredAt: onTime, AcceptedAt: ptr(time.Hour), DoneAt: ptr(5 * time.Hour), DueAt: due},
			now:      at(5 * time.Hour),
			breached: true, cause: CauseWork, responsib: "warehouse",
		},
		{
			name:     "accepted in time, still open: work",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: onTime, DeliveredAt: onTime, AcceptedAt: ptr(time.Hour), DueAt: due},
			now:      at(5 * time.Hour),
			breached: true, cause: CauseWork, responsib: "warehouse",
		},
		{
			name:     "trigger arrived late: upstream_sync",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: at(150 * time.Minute), DeliveredAt: at(150 * time.Minute), AcceptedAt: ptr(3 * time.Hour), DoneAt: ptr(5 * time.Hour), DueAt: due},
			now:      at(5 * time.Hour),
			breached: true, cause: CauseUpstreamSync, responsib: "sales",
		},
		{
			name:     "trigger arrived late and untouched: upstream_sync",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: at(2 * time.Hour), DeliveredAt: at(2 * time.Hour), DueAt: due},
			now:      at(5 * time.Hour),
			breached: true, cause: CauseUpstreamSync, responsib: "sales",
		},
		{
			name:     "delivered after due: upstream_sync",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: at(5 * time.Hour), DeliveredAt: at(5 * time.Hour), DueAt: due},
			now:      at(5 * time.Hour),
			breached: true, cause: CauseUpstreamSync, responsib: "sales",
		},
		{
			name:     "not yet delivered: upstream_sync",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: onTime, DueAt: due},
			now:      at(5 * time.Hour),
			breached: true, cause: CauseUpstreamSync, responsib: "sales",
		},
		{
			name:     "late trigger that left most of the budget: pickup",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: at(time.Hour), DeliveredAt: at(time.Hour), DueAt: due},
			now:      at(5 * time.Hour),
			breached: true, cause: CausePickup, responsib: "warehouse",
		},
		{
			name:     "delay within tolerance never blames upstream",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: at(90 * time.Second), DeliveredAt: at(90 * time.Second), DueAt: ptr(2 * time.Minute)},
			now:      at(time.Hour),
			breached: true, cause: CausePickup, responsib: "warehouse",
		},
		{
			name:     "larger tolerance",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: at(150 * time.Minute), DeliveredAt: at(150 * time.Minute), AcceptedAt: ptr(3 * time.Hour), DoneAt: ptr(5 * time.Hour), DueAt: due},
			now:      at(5 * time.Hour),
			policy:   Policy{SyncTolerance: 3 * time.Hour},
			breached: true, cause: CauseWork, responsib: "warehouse",
		},
		{
			name:     "smaller upstream share",
			clocks:   Clocks{EmittedAt: emitted, RecordedAt: at(time.Hour), DeliveredAt: at(time.Hour), DueAt: due},
			now:      at(5 * time.Hour),
			policy:   Policy{UpstreamShare: 0.25},
			breached: true, cause: CauseUpstreamSync, responsib: "sales",
		},
		{
			name:     "over a weekend, wall time: upstream_sync",
			clocks:   weekend,
			now:      monday.Add(4 * time.Hour),
			breached: true, cause: CauseUpstreamSync, responsib: "sales",
		},
		{
			name:     "over a weekend, business time: pickup",
			clocks:   weekend,
			now:      monday.Add(4 * time.Hour),
			policy:   Policy{Calendar: &office},
			breached: true, cause: CausePickup, responsib: "warehouse",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			breached, b := Evaluate(tt.clocks, "sales", "warehouse", tt.now, tt.policy)
			if breached != tt.breached {
				t.Fatalf("breached = %t, want %t (%+v)", breached, tt.breached, b)
			}
			if !breached {
				if b != (Breach{}) {
					t.Errorf("breach = %+v, want zero", b)
				}
				return
			}
			if !b.At.Equal(*tt.clocks.DueAt) || b.Cause != tt.cause || b.ResponsibleDepartment != tt.responsib {
				t.Errorf("breach = %+v, want at %s cause %s charged to %s", b, tt.clocks.DueAt, tt.cause, tt.responsib)
			}
		})
	}
}
