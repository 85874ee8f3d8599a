package lianlu

import (
	"context"
	"time"
)

// Handoff statuses: open until the completing event arrives (done);
// pending while its delivery is not acknowledged (a webhook); failed when
// the action could not be carried out; cancelled when its object was.
const (
	HandoffPending   = "pending"
	HandoffOpen      = "open"
	HandoffDone      = "done"
	HandoffFailed    = "failed"
	HandoffCancelled = "cancelled"
)

// Handoff is one department's request to another, created by a flow step:
// the unit the collaboration KPIs measure (DESIGN.md §2).
type Handoff struct {
	ID             int64  `json:"id"`
	Flow           string `json:"flow"`
	FlowVersion    int    `json:"flow_version"`
	Step           string `json:"step"`
	TriggerSeq     int64  `json:"trigger_seq"`
	Subject        string `json:"subject"`
	FromDepartment string `json:"from_department"`
	ToDepartment   string `json:"to_department"`
	Action         string `json:"action"`
	// Target is the object the action created, such as "fulfillment/12".
	Target    string   `json:"target,omitempty"`
	Completes []string `json:"completes"`
	Accepts   []string `json:"accepts"`
	Status    string   `json:"status"`
	Error     string   `json:"error,omitempty"`

	EmittedAt   time.Time  `json:"emitted_at"`
	RecordedAt  time.Time  `json:"recorded_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	AcceptedAt  *time.Time `json:"accepted_at,omitempty"`
	DoneAt      *time.Time `json:"done_at,omitempty"`
	DueAt       *time.Time `json:"due_at,omitempty"`

	BreachedAt            *time.Time `json:"breached_at,omitempty"`
	BreachCause           string     `json:"breach_cause,omitempty"`
	ResponsibleDepartment string     `json:"responsible_department,omitempty"`

	// Clocks are derived: sync delay, pickup, work and total, in seconds.
	Clocks *HandoffClocks `json:"clocks,omitempty"`
}

// HandoffClocks are a handoff's derived durations in seconds; nil while a
// segment has not ended.
type HandoffClocks struct {
	SyncDelaySeconds *float64 `json:"sync_delay_seconds"`
	PickupSeconds    *float64 `json:"pickup_seconds"`
	WorkSeconds      *float64 `json:"work_seconds"`
	TotalSeconds     *float64 `json:"total_seconds"`
}

// HandoffFilter selects handoffs.
type HandoffFilter struct {
	Subject string
	// Department matches either side.
	Department string
	Status     string
	// Breached, when set, selects breached (true) or unbreached handoffs.
	Breached *bool
	AfterID  int64
	Limit    int
}

// HandoffService reads handoffs; the flow runner writes them.
type HandoffService interface {
	FindHandoffByID(ctx context.Context, id int64) (Handoff, error)
	FindHandoffs(ctx context.Context, f HandoffFilter) ([]Handoff, error)
}
