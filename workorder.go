package lianlu

import (
	"context"
	"slices"
	"time"
)

// Work order kinds.
const (
	WorkOrderOrderFollowup    = "order_followup"
	WorkOrderAfterSales       = "after_sales"
	WorkOrderOnSite           = "on_site"
	WorkOrderFeedbackFollowup = "feedback_followup"
)

// WorkOrderKinds lists the kinds.
var WorkOrderKinds = []string{WorkOrderOrderFollowup, WorkOrderAfterSales, WorkOrderOnSite, WorkOrderFeedbackFollowup}

// DefaultWorkOrderQueue is the queue of a work order created without one.
const DefaultWorkOrderQueue = DeptService

// workOrderSenders maps the queues that take customer work from other
// departments to those departments: service's and the stores', from the
// departments that deal with customers (sales, service, stores). Flows and
// dispatch create work by their own rules; these are the API's.
var workOrderSenders = map[string][]string{
	DeptService: {DeptSales, DeptStores},
	DeptStores:  {DeptService, DeptSales},
}

// MayCreateWorkOrder reports whether a non-admin of department dept may
// create a work order in queue: in its own queue always; in service's or
// the stores' when it deals with customers. Marketing, product and supply
// chain put no work in other departments' queues: their requests to
// service go through flows, whose handoffs the KPIs measure.
func MayCreateWorkOrder(dept, queue string) bool {
	return dept == queue || slices.Contains(workOrderSenders[queue], dept)
}

// Priorities.
const (
	PriorityNormal = "normal"
	PriorityHigh   = "high"
	PriorityUrgent = "urgent"
)

// Priorities lists the priorities from lowest to highest.
var Priorities = []string{PriorityNormal, PriorityHigh, PriorityUrgent}

// Work order statuses: open → accepted → resolved; reassignment sends it
// back to open in another queue.
const (
	WorkOrderOpen     = "open"
	WorkOrderAccepted = "accepted"
	WorkOrderResolved = "resolved"
)

// WorkOrder is a unit of service work in a department's queue, or in one
// store's queue when Store is set.
type WorkOrder struct {
	ID       int64  `json:"id"`
	Kind     string `json:"kind"`
	Priority string `json:"priority"`
	Status   string `json:"status"`
	// Department owns the queue; Store narrows it to one store.
	Department string `json:"department"`
	Store      string `json:"store,omitempty"`
	Assignee   string `json:"assignee,omitempty"`
	Title      string `json:"title"`
	// Subject is the object the work is about, such as "order/O-1001".
	Subject string `json:"subject,omitempty"`
	// Ref makes creation idempotent: a second create with the same ref
	// returns the first work order.
	Ref string `json:"ref,omitempty"`
	// MemberID is the member the work is for, when known.
	MemberID int64 `json:"member_id,omitempty"`
	// ServiceDate is the local date of on-site work ("2026-12-03").
	ServiceDate string `json:"service_date,omitempty"`
	// Dispatch records how an on-site request was assigned to a store.
	Dispatch *DispatchDecision `json:"dispatch,omitempty"`
	// Flagged work needs a person's attention: no store could take it.
	Flagged        bool       `json:"flagged,omitempty"`
	ResolutionCode string     `json:"resolution_code,omitempty"`
	ResolutionNote string     `json:"resolution_note,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	AcceptedAt     *time.Time `json:"accepted_at,omitempty"`
	// ContactedAt is when the customer was first contacted about it.
	ContactedAt *time.Time `json:"contacted_at,omitempty"`
	ResolvedAt  *time.Time `json:"resolved_at,omitempty"`
}

// Contact channels of RecordContact.
var ContactChannels = []string{"phone", "sms", "email", "chat", "visit", "other"}

// WorkOrderFilter selects work orders.
type WorkOrderFilter struct {
	Department string
	Store      string
	Status     string
	Subject    string
	AfterID    int64
	Limit      int
}

// WorkOrderService manages service work orders. Every change appends a
// workorder.* event in the same transaction.
type WorkOrderService interface {
	// CreateWorkOrder opens a work order. EINVALID for bad fields or an
	// unknown department or store.
	CreateWorkOrder(ctx context.Context, w WorkOrder) (WorkOrder, error)
	// FindWorkOrderByID returns a work order or ENOTFOUND.
	FindWorkOrderByID(ctx context.Context, id int64) (WorkOrder, error)
	// FindWorkOrders lists work orders, oldest first.
	FindWorkOrders(ctx context.Context, f WorkOrderFilter) ([]WorkOrder, error)
	// AcceptWorkOrder marks that assignee started work. ECONFLICT unless
	// the work order is open.
	AcceptWorkOrder(ctx context.Context, id int64, assignee string) (WorkOrder, error)
	// ResolveWorkOrder closes it with a resolution code. ECONFLICT when it
	// is already resolved.
	ResolveWorkOrder(ctx context.Context, id int64, code, note string) (WorkOrder, error)
	// RecordContact records that the customer was contacted about it
	// (channel one of ContactChannels, an optional note): it appends
	// workorder.contacted, sets ContactedAt the first time and leaves the
	// status as it is. ECONFLICT when it is resolved.
	RecordContact(ctx context.Context, id int64, channel, note string) (WorkOrder, error)
	// ReassignWorkOrder moves it to another department's (or store's)
	// queue, open again. ECONFLICT when it is resolved.
	ReassignWorkOrder(ctx context.Context, id int64, department, store, reason string) (WorkOrder, error)
}
