package lianlu

import (
	"context"
	"time"
)

// Feedback statuses: open until both product and service have finished
// their part.
const (
	FeedbackOpen   = "open"
	FeedbackClosed = "closed"
)

// Feedback is a customer's after-sales rating and comment.
type Feedback struct {
	ID          int64  `json:"id"`
	Rating      int    `json:"rating"`
	ProblemType string `json:"problem_type"`
	Text        string `json:"text"`
	OrderID     int64  `json:"order_id,omitempty"`
	MemberID    int64  `json:"member_id,omitempty"`
	// SKU is the product the feedback is about (given, or the order's
	// first line).
	SKU         string     `json:"sku,omitempty"`
	Status      string     `json:"status"`
	ProductDone bool       `json:"product_done"`
	ServiceDone bool       `json:"service_done"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
}

// FeedbackInput is the body of a feedback submission.
type FeedbackInput struct {
	Rating      int        `json:"rating"`
	ProblemType string     `json:"problem_type"`
	Text        string     `json:"text"`
	OrderID     int64      `json:"order"`
	Member      *MemberRef `json:"member"`
	SKU         string     `json:"sku"`
}

// Backlog item statuses.
const (
	BacklogOpen    = "open"
	BacklogTriaged = "triaged"
	BacklogDone    = "done"
)

// BacklogItem is a product problem; repeated complaints of the same problem
// type about the same SKU add weight to one item.
type BacklogItem struct {
	ID          int64     `json:"id"`
	ProblemType string    `json:"problem_type"`
	SKU         string    `json:"sku"`
	Title       string    `json:"title"`
	Weight      int64     `json:"weight"`
	Status      string    `json:"status"`
	FeedbackIDs []int64   `json:"feedback_ids"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// FeedbackService takes feedback and keeps the product backlog.
type FeedbackService interface {
	// SubmitFeedback stores feedback and appends feedback.submitted, which
	// starts the feedback flow. EINVALID for a bad rating, missing problem
	// type or unknown order.
	SubmitFeedback(ctx context.Context, in FeedbackInput) (Feedback, error)
	FindFeedbackByID(ctx context.Context, id int64) (Feedback, error)
	FindFeedback(ctx context.Context, status string, afterID int64, limit int) ([]Feedback, error)
	FindBacklogItemByID(ctx context.Context, id int64) (BacklogItem, error)
	FindBacklogItems(ctx context.Context, status string, afterID int64, limit int) ([]BacklogItem, error)
	// TriageBacklogItem marks an item triaged (appends backlog.triaged).
	// ECONFLICT unless it is open.
	TriageBacklogItem(ctx context.Context, id int64, note string) (BacklogItem, error)
}
