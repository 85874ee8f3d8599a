package lianlu

import (
	"context"
	"time"
)

// Session is a signed-in console user's session. Its secret lives only in
// the browser's cookie; the database keeps a hash of it.
type Session struct {
	ID         int64     `json:"id"`
	UserID     int64     `json:"user_id"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
}

// MinPasswordLen is the shortest console password accepted.
const MinPasswordLen = 10

// SessionService signs console users in and out: passwords (stored as
// argon2id hashes) and database-backed sessions.
type SessionService interface {
	// SetPassword sets a user's console password. EINVALID for a password
	// shorter than MinPasswordLen or longer than 1024 bytes, ENOTFOUND for
	// an unknown user. The change is audited and ends the user's sessions.
	SetPassword(ctx context.Context, username, password string) error
	// Login checks a user name and password and opens a session valid for
	// ttl, returning its secret once. EUNAUTHORIZED for an unknown user, a
	// wrong password, a user without a password or a disabled user (one
	// error for all, so that user names cannot be probed).
	Login(ctx context.Context, username, password string, ttl time.Duration) (Session, User, string, error)
	// AuthenticateSession returns the session of a secret and its user.
	// EUNAUTHORIZED for an unknown or expired session or a disabled user.
	AuthenticateSession(ctx context.Context, secret string) (Session, User, error)
	// Logout ends the session of a secret; an unknown secret is no error.
	Logout(ctx context.Context, secret string) error
	// FindUserByUsername returns a user or ENOTFOUND.
	FindUserByUsername(ctx context.Context, username string) (User, error)
}
