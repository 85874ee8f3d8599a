package lianlu

import (
	"context"
	"time"
)

// Fulfillment statuses. A fulfillment is reserved (stock held at its
// location) or backordered (short), then picked, shipped and delivered; it
// can be cancelled until it ships.
const (
	FulfillmentReserved    = "reserved"
	FulfillmentBackordered = "backordered"
	FulfillmentPicked      = "picked"
	FulfillmentShipped     = "shipped"
	FulfillmentDelivered   = "delivered"
	FulfillmentCancelled   = "cancelled"
)

// Fulfillment is supply chain's work to get an order's goods to the
// customer from one location.
type Fulfillment struct {
	ID            int64             `json:"id"`
	OrderID       int64             `json:"order_id"`
	Location      string            `json:"location"`
	Status        string            `json:"status"`
	Lines         []ReservationLine `json:"lines"`
	Short         []ShortLine       `json:"short,omitempty"`
	ReservationID int64             `json:"reservation_id,omitempty"`
	// Rule says why Location was chosen.
	Rule        string     `json:"rule"`
	Tracking    string     `json:"tracking,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	PickedAt    *time.Time `json:"picked_at,omitempty"`
	ShippedAt   *time.Time `json:"shipped_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	CancelledAt *time.Time `json:"cancelled_at,omitempty"`
}

// FulfillmentFilter selects fulfillments.
type FulfillmentFilter struct {
	OrderID  int64
	Status   string
	Location string
	AfterID  int64
	Limit    int
}

// FulfillmentService runs fulfillments through their states. Each change
// appends a fulfillment.* event in the same transaction; illegal
// transitions are ECONFLICT.
type FulfillmentService interface {
	// CreateFulfillment creates the fulfillment of an order (at most one
	// per order: a second call returns the first), choosing the location
	// by rule and reserving stock, or recording the order as backordered.
	CreateFulfillment(ctx context.Context, orderID int64) (Fulfillment, error)
	FindFulfillmentByID(ctx context.Context, id int64) (Fulfillment, error)
	FindFulfillments(ctx context.Context, f FulfillmentFilter) ([]Fulfillment, error)
	// PickFulfillment: reserved → picked.
	PickFulfillment(ctx context.Context, id int64) (Fulfillment, error)
	// ShipFulfillment: picked → shipped; the reserved stock leaves on hand.
	ShipFulfillment(ctx context.Context, id int64, tracking string) (Fulfillment, error)
	// DeliverFulfillment: shipped → delivered.
	DeliverFulfillment(ctx context.Context, id int64) (Fulfillment, error)
	// CancelFulfillment: reserved, backordered or picked → cancelled,
	// releasing reserved stock.
	CancelFulfillment(ctx context.Context, id int64, reason string) (Fulfillment, error)
}
