package lianlu

import (
	"context"
	"encoding/json"
	"time"
)

// Event is one immutable business fact on the event log, with a
// CloudEvents-shaped envelope. (Source, ID) is unique: it is the idempotency
// key of every write.
type Event struct {
	// Seq is the global position on the log: strictly increasing and equal
	// to commit order. Zero until the event is stored.
	Seq int64 `json:"seq"`
	// ID is unique per Source.
	ID     string `json:"id"`
	Source string `json:"source"`
	// Type is a dotted name such as "order.placed".
	Type string `json:"type"`
	// Subject names the object, such as "order/O-1001".
	Subject string `json:"subject,omitempty"`
	// Time is when the fact happened at its source.
	Time time.Time `json:"time"`
	// RecordedAt is when Lianlu stored the event.
	RecordedAt time.Time `json:"recorded_at"`
	// Department owns the event; non-admin readers see only their own.
	Department string `json:"department"`
	// Actor is who made the event happen, always in the server's words:
	// the credential of the caller (a token, a user, a collector source)
	// or the Lianlu component that acted ("flow:order_placed").
	Actor string `json:"actor,omitempty"`
	// ClaimedActor is the actor an outside event named itself (the
	// CloudEvents actor extension), kept for reference and never trusted:
	// "user:admin" from a marketing token stays a claim.
	ClaimedActor  string `json:"claimed_actor,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	// DataSchema is an optional URI of the schema Data follows.
	DataSchema string `json:"dataschema,omitempty"`
	// Data is the JSON payload; nil when the event carries none.
	Data json.RawMessage `json:"data,omitempty"`
}

// Limits of the envelope, enforced on every append.
const (
	MaxEventIDLen      = 256
	MaxEventSourceLen  = 512
	MaxEventTypeLen    = 256
	MaxEventSubjectLen = 512
	MaxEventAttrLen    = 256
)

// EventFilter selects events from the log. Zero fields do not filter.
type EventFilter struct {
	// AfterSeq returns only events with Seq > AfterSeq.
	AfterSeq int64
	// Types matches any of the listed exact types.
	Types []string
	// TypePrefix matches types starting with it, such as "order.".
	TypePrefix string
	Subject    string
	Source     string
	// Departments matches any of the listed departments.
	Departments []string
	// From and To bound Time (From inclusive, To exclusive).
	From, To time.Time
	// Limit caps the result; the store applies a default and a maximum.
	Limit int
}

// AppendResult reports one appended event: Event is the stored event, and
// Duplicate is true when an event with the same (Source, ID) already existed
// and nothing was written.
type AppendResult struct {
	Event     Event
	Duplicate bool
}

// EventService appends to and reads the event log.
type EventService interface {
	// AppendEvents validates and stores events in one transaction, returning
	// one result per input in input order. Returns EINVALID (with field
	// errors prefixed by the event's index) when any event is invalid, in
	// which case nothing is stored.
	AppendEvents(ctx context.Context, events []Event) ([]AppendResult, error)
	// FindEvents returns events matching filter in Seq order.
	FindEvents(ctx context.Context, filter EventFilter) ([]Event, error)
	// FindEventBySeq returns the event at seq or ENOTFOUND.
	FindEventBySeq(ctx context.Context, seq int64) (Event, error)
	// MaxSeq returns the highest committed seq, 0 on an empty log.
	MaxSeq(ctx context.Context) (int64, error)
}
