package lianlu

import (
	"context"
	"time"
)

// Weekdays are the keys of OpeningHours, Monday first.
var Weekdays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// Service skills a store may offer on site. Stores may name others; these
// are the ones the demo brand and the documentation use.
const (
	SkillInstall = "install"
	SkillRepair  = "repair"
	SkillFitting = "fitting"
)

// OpeningHours lists a store's opening spans per weekday, keyed "mon" to
// "sun", each span a pair of local "HH:MM" times such as ["10:00", "22:00"]
// (the same shape as a business calendar's hours). A weekday that is
// missing or empty is closed.
type OpeningHours map[string][][2]string

// StaffMember is a person working in a store; QR codes and joins name her
// by Code.
type StaffMember struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	Active bool   `json:"active"`
}

// Store is a location of kind store with what the channel-fusion
// capabilities need: opening hours, the on-site service it can do and how
// much per day, how far it travels, and its staff.
type Store struct {
	Location
	Hours OpeningHours `json:"hours"`
	// Holidays are local dates ("2026-10-01") the store is closed.
	Holidays []string `json:"holidays"`
	// Skills are the on-site services the store performs, such as install.
	Skills []string `json:"skills"`
	// CapacityPerDay is how many on-site jobs the store takes per local day.
	CapacityPerDay int `json:"capacity_per_day"`
	// ServiceRadiusKm is how far from the store on-site service goes.
	ServiceRadiusKm float64       `json:"service_radius_km"`
	Staff           []StaffMember `json:"staff"`
}

// StoreInput creates or changes a store. On PATCH, nil fields keep their
// value; on POST they take defaults (open 10:00–22:00 every day, no skills,
// capacity 0, radius 0, active).
type StoreInput struct {
	Code            string        `json:"code"`
	Name            *string       `json:"name"`
	Address         *string       `json:"address"`
	Lat             *float64      `json:"lat"`
	Lng             *float64      `json:"lng"`
	Timezone        *string       `json:"timezone"`
	Active          *bool         `json:"active"`
	Hours           OpeningHours  `json:"hours"`
	Holidays        []string      `json:"holidays"`
	Skills          []string      `json:"skills"`
	CapacityPerDay  *int          `json:"capacity_per_day"`
	ServiceRadiusKm *float64      `json:"service_radius_km"`
	Staff           []StaffMember `json:"staff"`
}

// StoreFilter selects stores.
type StoreFilter struct {
	Skill   string
	AfterID int64
	Limit   int
}

// StoreService manages stores: locations of kind store with their service
// attributes. Every change appends store.upserted.
type StoreService interface {
	// CreateStore creates a store, or replaces the attributes of the store
	// with in.Code (an upsert, as for locations). EINVALID names the field;
	// ECONFLICT when the code belongs to a warehouse.
	CreateStore(ctx context.Context, in StoreInput) (Store, UpsertResult, error)
	// UpdateStore changes the given fields of a store. ENOTFOUND for an
	// unknown store; EINVALID names the field.
	UpdateStore(ctx context.Context, in StoreInput) (Store, error)
	// FindStoreByCode returns a store or ENOTFOUND.
	FindStoreByCode(ctx context.Context, code string) (Store, error)
	// FindStores lists stores by id.
	FindStores(ctx context.Context, f StoreFilter) ([]Store, error)
	// StoresChanged returns a channel closed at the next committed store
	// change in this process (the dispatcher refreshes its index on it).
	StoresChanged() <-chan struct{}
}

// Interaction types: offline interactions recorded by store staff.
const (
	InteractionVisit   = "store.visited"
	InteractionTried   = "product.tried"
	InteractionConsult = "staff.consulted"
)

// Interaction is an offline interaction in a store: a visit, a product
// tried, a consultation with a staff member.
type Interaction struct {
	// Type is InteractionVisit, InteractionTried or InteractionConsult.
	Type   string     `json:"type"`
	Member *MemberRef `json:"member"`
	Store  string     `json:"store"`
	Staff  string     `json:"staff,omitempty"`
	// SKU is the product tried or consulted about.
	SKU  string `json:"sku,omitempty"`
	Note string `json:"note,omitempty"`
	// At is when it happened (default now).
	At time.Time `json:"at"`
	// ExternalID makes recording idempotent (a POS's own id).
	ExternalID string `json:"external_id,omitempty"`
	// Channel says how it was recorded (default "staff"; "qr" for joins).
	Channel string `json:"channel,omitempty"`
}
