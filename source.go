package lianlu

import (
	"context"
	"time"
)

// Source kinds.
var SourceKinds = []string{"web", "app", "pos", "server", "wms", "crm", "other"}

// Source is a system that sends data to the collector with a write key:
// a website, an app, a store's POS, a server. Its events belong to its
// department.
type Source struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Department string     `json:"department"`
	Kind       string     `json:"kind"`
	KeyPrefix  string     `json:"key_prefix"`
	Disabled   bool       `json:"disabled"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

// SourceService manages collector sources and their write keys. A write
// key is shown once; only its hash is stored.
type SourceService interface {
	// CreateSource creates a source and returns its write key. EINVALID
	// for a bad name, kind or unknown department.
	CreateSource(ctx context.Context, s Source) (Source, string, error)
	FindSourceByID(ctx context.Context, id int64) (Source, error)
	FindSources(ctx context.Context, department string, afterID int64, limit int) ([]Source, error)
	// SetSourceDisabled disables or re-enables a source; a disabled
	// source's calls are refused.
	SetSourceDisabled(ctx context.Context, id int64, disabled bool) (Source, error)
	// RotateSourceKey replaces the write key; the old one stops working.
	RotateSourceKey(ctx context.Context, id int64) (Source, string, error)
	// AuthenticateWriteKey returns the enabled source of a write key.
	// EUNAUTHORIZED for an unknown key, EFORBIDDEN for a disabled source.
	AuthenticateWriteKey(ctx context.Context, key string) (Source, error)
}
