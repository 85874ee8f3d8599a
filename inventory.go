package lianlu

import (
	"context"
	"time"
)

// StockLevel is the stock of one SKU at one location. Available is
// OnHand − Reserved and never negative.
type StockLevel struct {
	SKU       string    `json:"sku"`
	Location  string    `json:"location"`
	OnHand    int64     `json:"on_hand"`
	Reserved  int64     `json:"reserved"`
	Available int64     `json:"available"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Adjustment changes the on-hand stock of a SKU at a location: a receipt,
// a count correction, damage.
type Adjustment struct {
	ID       int64  `json:"id"`
	SKU      string `json:"sku"`
	Location string `json:"location"`
	Delta    int64  `json:"delta"`
	Reason   string `json:"reason"`
	// ExternalID makes the adjustment idempotent when given: a second
	// adjustment with the same ExternalID returns the first.
	ExternalID string    `json:"external_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	Actor      string    `json:"actor"`
	// Level is the stock after the adjustment.
	Level StockLevel `json:"level"`
}

// Adjustment reasons.
var AdjustmentReasons = []string{"receipt", "count", "damage", "return", "transfer_in", "transfer_out", "correction"}

// ReservationLine is one SKU and quantity of a reservation.
type ReservationLine struct {
	SKU string `json:"sku"`
	Qty int64  `json:"qty"`
}

// Reservation statuses.
const (
	ReservationActive   = "active"
	ReservationReleased = "released"
	ReservationConsumed = "consumed"
)

// Reservation holds stock at one location for a reference (a fulfillment,
// an order). It is all-or-nothing: either every line is reserved or none.
type Reservation struct {
	ID        int64             `json:"id"`
	Ref       string            `json:"ref"`
	Location  string            `json:"location"`
	Status    string            `json:"status"`
	Lines     []ReservationLine `json:"lines"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// ShortLine reports a line that could not be reserved.
type ShortLine struct {
	SKU       string `json:"sku"`
	Requested int64  `json:"requested"`
	Available int64  `json:"available"`
}

// InventoryFilter selects stock levels.
type InventoryFilter struct {
	SKU      string
	Location string
	// After pages by (sku, location) as "sku|location".
	After string
	Limit int
}

// InventoryService keeps stock per SKU × location. Reservations are atomic
// on both dialects: concurrent reservations of the last units reserve
// exactly what exists.
type InventoryService interface {
	// Adjust changes on-hand stock and appends inventory.adjusted. EINVALID
	// for unknown SKU or location, zero delta or unknown reason; ECONFLICT
	// when the result would be below zero or below what is reserved.
	Adjust(ctx context.Context, a Adjustment) (Adjustment, error)
	// Reserve reserves every line at the location for ref and appends
	// inventory.reserved. When stock is short it reserves nothing and
	// returns the short lines with ECONFLICT. A second Reserve with the
	// same ref returns the existing reservation.
	Reserve(ctx context.Context, ref, location string, lines []ReservationLine) (Reservation, []ShortLine, error)
	// Release returns a reservation's stock and appends
	// inventory.released. ENOTFOUND for an unknown id; ECONFLICT when it is
	// not active.
	Release(ctx context.Context, id int64) (Reservation, error)
	// FindReservationByID returns a reservation or ENOTFOUND.
	FindReservationByID(ctx context.Context, id int64) (Reservation, error)
	// FindStockLevels lists stock levels ordered by SKU and location.
	FindStockLevels(ctx context.Context, f InventoryFilter) ([]StockLevel, error)
}
