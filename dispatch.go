package lianlu

import (
	"context"
	"time"
)

// Service request kinds (only on-site service is dispatched to stores).
const ServiceOnSite = "on_site"

// ServiceRequest asks for on-site service at an address: Lianlu dispatches
// it to the nearest store that can do it.
type ServiceRequest struct {
	// ExternalID makes the request idempotent (the channel's own id).
	ExternalID string     `json:"external_id"`
	Member     *MemberRef `json:"member"`
	Kind       string     `json:"kind"`
	Skill      string     `json:"skill"`
	Address    *Address   `json:"address"`
	// PreferredDate is the local date ("2026-12-03") the service is wanted.
	PreferredDate string `json:"preferred_date"`
	Title         string `json:"title"`
	Priority      string `json:"priority"`
	// Subject is what the service is about, such as "order/12".
	Subject string `json:"subject"`
}

// Reasons a store is not a candidate for a request.
const (
	ExcludedInactive   = "inactive"
	ExcludedNoLocation = "no_location"
	ExcludedSkill      = "lacks_skill"
	ExcludedClosed     = "closed_on_date"
	ExcludedFull       = "full_on_date"
	ExcludedRadius     = "out_of_radius"
	ExcludedTried      = "already_tried"
)

// DispatchCandidate is a store that passed every hard rule, with its rank.
type DispatchCandidate struct {
	Store      string  `json:"store"`
	DistanceKm float64 `json:"distance_km"`
	// Load is the on-site work already assigned to the store that day.
	Load     int `json:"load"`
	Capacity int `json:"capacity"`
	// Score ranks candidates, lower first: the weighted sum of distance as
	// a share of the service radius and load as a share of capacity.
	Score float64 `json:"score"`
}

// DispatchExclusion says why a store was not a candidate.
type DispatchExclusion struct {
	Store string `json:"store"`
	// DistanceKm is nil for a store without a location.
	DistanceKm *float64 `json:"distance_km,omitempty"`
	Reasons    []string `json:"reasons"`
}

// Dispatch attempt outcomes.
const (
	AttemptPending  = "pending"
	AttemptAccepted = "accepted"
	AttemptRejected = "rejected"
	AttemptTimedOut = "timed_out"
)

// DispatchAttempt is one store's turn to accept a request: a handoff from
// service to the store with the acceptance SLA.
type DispatchAttempt struct {
	N         int        `json:"n"`
	Store     string     `json:"store"`
	HandoffID int64      `json:"handoff_id"`
	StartedAt time.Time  `json:"started_at"`
	DueAt     *time.Time `json:"due_at,omitempty"`
	Outcome   string     `json:"outcome"`
	Reason    string     `json:"reason,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
}

// DispatchWeights weigh the ranking of candidates.
type DispatchWeights struct {
	Distance float64 `json:"distance"`
	Load     float64 `json:"load"`
}

// DispatchDecision is where a request went and why, stored on its work
// order: the request, the ranked candidates, the stores excluded with their
// reasons (the nearest ones listed, all counted) and each attempt.
type DispatchDecision struct {
	Skill   string          `json:"skill"`
	Date    string          `json:"date"`
	Lat     float64         `json:"lat"`
	Lng     float64         `json:"lng"`
	Weights DispatchWeights `json:"weights"`
	// Store is the chosen store; empty when none qualified (Flagged).
	Store      string              `json:"store,omitempty"`
	Candidates []DispatchCandidate `json:"candidates"`
	Excluded   []DispatchExclusion `json:"excluded"`
	// ExcludedCounts counts every excluded store by reason.
	ExcludedCounts map[string]int `json:"excluded_counts"`
	// StoresConsidered is how many stores the rules were applied to.
	StoresConsidered int `json:"stores_considered"`
	// Flagged is set when no store qualified and the request went to the
	// service department's queue.
	Flagged  bool              `json:"flagged"`
	Attempts []DispatchAttempt `json:"attempts"`
}

// DispatchService dispatches on-site service requests to stores.
type DispatchService interface {
	// RequestService creates an on-site work order and assigns it to the
	// best store (or, with none, to the service queue, flagged); the store
	// must accept within its SLA. A repeated ExternalID returns the first
	// work order with created=false. EINVALID names the field.
	RequestService(ctx context.Context, r ServiceRequest) (w WorkOrder, created bool, err error)
	// RejectServiceRequest records the assigned store's refusal and passes
	// the request to the next candidate. ENOTFOUND, or ECONFLICT unless
	// the work order is open and waiting for a store.
	RejectServiceRequest(ctx context.Context, workOrderID int64, reason string) (WorkOrder, error)
}
