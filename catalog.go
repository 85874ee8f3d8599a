package lianlu

import (
	"context"
	"time"
)

// Product is one SKU of the catalogue. The catalogue is shared master data:
// every department reads it; the product department (or an admin) writes it.
type Product struct {
	ID        int64     `json:"id"`
	SKU       string    `json:"sku"`
	Name      string    `json:"name"`
	Category  string    `json:"category"`
	Price     Money     `json:"price"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Location kinds.
const (
	LocationWarehouse = "warehouse"
	LocationStore     = "store"
)

// Location is a warehouse or a store that holds stock.
type Location struct {
	ID       int64    `json:"id"`
	Code     string   `json:"code"`
	Kind     string   `json:"kind"`
	Name     string   `json:"name"`
	Address  string   `json:"address"`
	Lat      *float64 `json:"lat"`
	Lng      *float64 `json:"lng"`
	Timezone string   `json:"timezone"`
	// Active locations take part in stock allocation.
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ProductFilter selects products. Zero fields do not filter.
type ProductFilter struct {
	Category string
	Active   *bool
	// AfterID pages by id.
	AfterID int64
	Limit   int
}

// LocationFilter selects locations.
type LocationFilter struct {
	Kind    string
	AfterID int64
	Limit   int
}

// UpsertResult tells whether an upsert created, changed or left a record.
type UpsertResult string

// Upsert outcomes.
const (
	UpsertCreated   UpsertResult = "created"
	UpsertUpdated   UpsertResult = "updated"
	UpsertUnchanged UpsertResult = "unchanged"
)

// CatalogService manages products and locations. Writes are idempotent:
// an upsert with the same content changes nothing and appends no event.
type CatalogService interface {
	// UpsertProduct creates or updates the product with p.SKU and appends
	// product.upserted. EINVALID for bad fields.
	UpsertProduct(ctx context.Context, p Product) (Product, UpsertResult, error)
	// FindProductBySKU returns the product or ENOTFOUND.
	FindProductBySKU(ctx context.Context, sku string) (Product, error)
	// FindProducts lists products by id.
	FindProducts(ctx context.Context, f ProductFilter) ([]Product, error)
	// UpsertLocation creates or updates the location with l.Code and
	// appends location.upserted. EINVALID for bad fields; ECONFLICT when
	// the kind of an existing location would change.
	UpsertLocation(ctx context.Context, l Location) (Location, UpsertResult, error)
	// FindLocationByCode returns the location or ENOTFOUND.
	FindLocationByCode(ctx context.Context, code string) (Location, error)
	// FindLocations lists locations by id.
	FindLocations(ctx context.Context, f LocationFilter) ([]Location, error)
}
