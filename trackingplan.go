package lianlu

import (
	"context"
	"encoding/json"
	"time"
)

// Tracking plan modes.
const (
	// PlanAllow stores every message; the plan documents but does not check.
	PlanAllow = "allow"
	// PlanFlag stores every message and counts (and marks) violations.
	PlanFlag = "flag"
	// PlanBlock refuses the messages that violate the plan and counts them.
	PlanBlock = "block"
)

// PlanModes lists the tracking plan modes.
var PlanModes = []string{PlanAllow, PlanFlag, PlanBlock}

// TrackingPlan is what a source's track calls must look like: one JSON
// Schema per event name, which the message's properties must satisfy.
type TrackingPlan struct {
	SourceID int64  `json:"source_id"`
	Mode     string `json:"mode"`
	// AllowUnplanned lets track calls whose event the plan does not name
	// through; when false they are violations (rule "unplanned").
	AllowUnplanned bool `json:"allow_unplanned"`
	// Events maps an event name to the JSON Schema (draft 2020-12 unless
	// the schema says otherwise) of its properties.
	Events    map[string]json.RawMessage `json:"events"`
	Version   int64                      `json:"version"`
	UpdatedAt time.Time                  `json:"updated_at"`
	UpdatedBy string                     `json:"updated_by,omitempty"`
}

// PlanViolation is one way one message broke its source's tracking plan.
type PlanViolation struct {
	SourceID int64
	// Event is the track call's event name.
	Event string
	// Rule is the JSON Schema keyword that failed ("required", "type",
	// "enum", …) or "unplanned".
	Rule string
	// Field is the offending value's location, such as "properties.sku";
	// "properties" for the whole object.
	Field     string
	Message   string
	MessageID string
	// EventIndex is the index, in the events appended with it, of the
	// flagged message whose storing counts the violation (a duplicate is
	// not counted again); -1 for a blocked message, which is not stored
	// and is counted each time it arrives.
	EventIndex int
}

// ViolationCount is the tally of one (event, rule, field) of a source.
type ViolationCount struct {
	Event         string    `json:"event"`
	Rule          string    `json:"rule"`
	Field         string    `json:"field"`
	Message       string    `json:"message"`
	Flagged       int64     `json:"flagged"`
	Blocked       int64     `json:"blocked"`
	FirstSeenAt   time.Time `json:"first_seen_at"`
	LastSeenAt    time.Time `json:"last_seen_at"`
	LastMessageID string    `json:"last_message_id"`
}

// TrackingPlanService keeps sources' tracking plans and their violations.
type TrackingPlanService interface {
	// PutTrackingPlan stores a source's plan as a new version and writes
	// an audit entry. EINVALID names the bad mode or event schema
	// ("events.<name>"); ENOTFOUND for an unknown source.
	PutTrackingPlan(ctx context.Context, p TrackingPlan) (TrackingPlan, error)
	// FindTrackingPlan returns a source's plan or ENOTFOUND.
	FindTrackingPlan(ctx context.Context, sourceID int64) (TrackingPlan, error)
	// FindViolations returns a source's violation counts, optionally of
	// one event, most frequent first.
	FindViolations(ctx context.Context, sourceID int64, event string) ([]ViolationCount, error)
}
