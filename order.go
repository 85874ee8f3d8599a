package lianlu

import (
	"context"
	"time"
)

// Order channels.
const (
	ChannelOnline = "online"
	ChannelStore  = "store"
)

// Order statuses.
const (
	OrderPlaced    = "placed"
	OrderCancelled = "cancelled"
)

// MemberRef names the member of an order: an id, or a contact that finds
// or creates the member (phone in E.164 or national form, or email).
type MemberRef struct {
	ID    int64  `json:"id,omitempty"`
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
}

// OrderLine is one SKU of an order.
type OrderLine struct {
	SKU       string `json:"sku"`
	Qty       int64  `json:"qty"`
	UnitPrice Money  `json:"unit_price"`
	LineTotal Money  `json:"line_total"`
}

// Address is where an online order ships to.
type Address struct {
	Name    string   `json:"name,omitempty"`
	Phone   string   `json:"phone,omitempty"`
	Address string   `json:"address"`
	City    string   `json:"city,omitempty"`
	Lat     *float64 `json:"lat,omitempty"`
	Lng     *float64 `json:"lng,omitempty"`
}

// Order is a sale, online or in a store.
type Order struct {
	ID int64 `json:"id"`
	// ExternalID is the order's id in the channel it came from; it makes
	// placing idempotent.
	ExternalID string      `json:"external_id"`
	Channel    string      `json:"channel"`
	Store      string      `json:"store,omitempty"`
	MemberID   int64       `json:"member_id,omitempty"`
	Lines      []OrderLine `json:"lines"`
	Coupon     string      `json:"coupon,omitempty"`
	ShipTo     *Address    `json:"ship_to,omitempty"`
	// Discount is taken off the lines' sum: the member's price tier (on
	// lines at catalogue price) and the coupon's value.
	Discount Money `json:"discount"`
	// Total is what the customer pays: the lines less Discount.
	Total     Money     `json:"total"`
	Status    string    `json:"status"`
	PlacedAt  time.Time `json:"placed_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// OrderPlacement is the input of PlaceOrder.
type OrderPlacement struct {
	ExternalID string      `json:"external_id"`
	Channel    string      `json:"channel"`
	Store      string      `json:"store"`
	Member     *MemberRef  `json:"member"`
	Lines      []OrderLine `json:"lines"`
	Coupon     string      `json:"coupon"`
	ShipTo     *Address    `json:"ship_to"`
	// PlacedAt is when the order was placed in its channel (default now).
	PlacedAt time.Time `json:"placed_at"`
}

// OrderFilter selects orders.
type OrderFilter struct {
	Channel  string
	Store    string
	Status   string
	MemberID int64
	AfterID  int64
	Limit    int
}

// OrderService places and cancels orders.
type OrderService interface {
	// PlaceOrder validates and stores an order and appends order.placed,
	// which starts the order flow. Placing the same ExternalID again
	// returns the stored order with created=false. EINVALID names the bad
	// field (unknown SKU, non-positive qty, no lines, unknown store, an
	// unknown coupon or another member's); ECONFLICT for a coupon already
	// redeemed or out of its validity. A member's price tier lowers lines
	// at catalogue price, in stores and online alike; a coupon is redeemed
	// with the order (offer.redeemed).
	PlaceOrder(ctx context.Context, p OrderPlacement) (o Order, created bool, err error)
	// FindOrderByID returns an order or ENOTFOUND.
	FindOrderByID(ctx context.Context, id int64) (Order, error)
	// FindOrders lists orders by id.
	FindOrders(ctx context.Context, f OrderFilter) ([]Order, error)
	// CancelOrder cancels an order, cancels its fulfillments that have not
	// shipped (releasing their stock) and appends order.cancelled.
	// ECONFLICT when it is already cancelled or has shipped.
	CancelOrder(ctx context.Context, id int64, reason string) (Order, error)
}
