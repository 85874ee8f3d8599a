package lianlu

import (
	"context"
	"slices"
	"time"
)

// Seeded departments. Every department is a row in the departments table;
// these are the ones every installation starts with.
const (
	DeptMarketing   = "marketing"
	DeptSales       = "sales"
	DeptService     = "service"
	DeptSupplyChain = "supply_chain"
	DeptProduct     = "product"
	DeptStores      = "stores"
	DeptAdmin       = "admin"
)

// Department is one organisational unit that owns data and receives work.
type Department struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Role is a level of permission, ordered: each role can do what the ones
// before it can.
type Role string

// Roles from least to most privileged.
const (
	RoleViewer   Role = "viewer"
	RoleOperator Role = "operator"
	RoleManager  Role = "manager"
	RoleAdmin    Role = "admin"
)

var roleOrder = []Role{RoleViewer, RoleOperator, RoleManager, RoleAdmin}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(roleOrder, r) }

// AtLeast reports whether r grants everything min grants.
func (r Role) AtLeast(min Role) bool {
	return slices.Index(roleOrder, r) >= slices.Index(roleOrder, min) && r.Valid()
}

// User is a person who uses the console or owns tokens.
type User struct {
	ID          int64  `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Department  string `json:"department"`
	Role        Role   `json:"role"`
	// Store is the store a user of the stores department works in (its
	// code): the console shows her that store's queue only. Empty for
	// everyone else, and for store staff who see every store.
	Store     string    `json:"store,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Token is an API token without its secret. The secret is shown once, when
// the token is created, and only its hash is stored.
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Department string     `json:"department"`
	Role       Role       `json:"role"`
	UserID     int64      `json:"user_id,omitempty"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// AuditEntry records one security-relevant action.
type AuditEntry struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	TargetType string    `json:"target_type"`
	TargetID   string    `json:"target_id"`
	Department string    `json:"department,omitempty"`
	RequestID  string    `json:"request_id,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// Principal is the authenticated caller of a request.
type Principal struct {
	TokenID    int64
	UserID     int64
	Name       string
	Department string
	Role       Role
}

// IsAdmin reports whether the principal has the admin role.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// Actor is how the principal appears in audit entries and event actors.
func (p Principal) Actor() string {
	switch {
	case p.TokenID != 0:
		return "token:" + p.Name
	case p.UserID != 0:
		// A console user signed in with a password.
		return "user:" + p.Name
	default:
		return p.Name
	}
}

type contextKey int

const (
	principalKey contextKey = iota
	requestIDKey
)

// NewContextWithPrincipal returns ctx carrying the authenticated principal.
func NewContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFromContext returns the principal of ctx, if any.
func PrincipalFromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey).(Principal)
	return p, ok
}

// NewContextWithRequestID returns ctx carrying a request id.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestIDFromContext returns the request id of ctx or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// TokenCreate holds the parameters of a new API token.
type TokenCreate struct {
	Name       string `json:"name"`
	Department string `json:"department"`
	Role       Role   `json:"role"`
	UserID     int64  `json:"user_id,omitempty"`
}

// AccessService manages departments, users, tokens and the audit log.
type AccessService interface {
	// FindDepartments returns every department.
	FindDepartments(ctx context.Context) ([]Department, error)
	// CreateToken creates a token and returns it with its secret, which is
	// never retrievable again. EINVALID for an unknown department or role.
	CreateToken(ctx context.Context, p TokenCreate) (Token, string, error)
	// FindTokens lists tokens, newest first, without secrets.
	FindTokens(ctx context.Context, includeRevoked bool) ([]Token, error)
	// RevokeToken revokes a token. ENOTFOUND for an unknown id, ECONFLICT
	// when it is already revoked.
	RevokeToken(ctx context.Context, id int64) error
	// Authenticate returns the principal of a token secret. EUNAUTHORIZED
	// for an unknown or revoked token.
	Authenticate(ctx context.Context, secret string) (Principal, error)
	// CreateUser creates a user. ECONFLICT when the username is taken;
	// EINVALID names the field (a store that is not a store, or a store
	// for a user outside the stores department).
	CreateUser(ctx context.Context, u User) (User, error)
	// FindUsers lists users.
	FindUsers(ctx context.Context) ([]User, error)
	// FindAuditEntries returns audit entries with ID < before (0: newest),
	// newest first.
	FindAuditEntries(ctx context.Context, before int64, limit int) ([]AuditEntry, error)
}
