package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
)

// SessionPrefix starts every console session secret.
const SessionPrefix = "lls_"

// SessionService implements lianlu.SessionService: console passwords
// (argon2id) and database-backed sessions (hashed secrets).
type SessionService struct {
	db *DB
	// Params are the argon2id costs of new password hashes; stored hashes
	// carry their own. Tests lower them.
	Params access.Params
	// dummy is a hash verified when the user is unknown, so that a login
	// takes as long whether or not the user name exists.
	dummyOnce sync.Once
	dummy     string
}

// NewSessionService returns the session service of db.
func NewSessionService(db *DB) *SessionService {
	return &SessionService{db: db, Params: access.DefaultParams}
}

var _ lianlu.SessionService = (*SessionService)(nil)

const userColumns = `id, username, display_name, department, role, store, created_at`

func scanUser(r rowScanner, extra ...any) (lianlu.User, error) {
	var u lianlu.User
	var role string
	var store *string
	err := r.Scan(append([]any{&u.ID, &u.Username, &u.DisplayName, &u.Department, &role, &store, sqlTime{&u.CreatedAt}}, extra...)...)
	u.Role, u.Store = lianlu.Role(role), deref(store)
	return u, err
}

// FindUserByUsername returns a user.
func (s *SessionService) FindUserByUsername(ctx context.Context, username string) (lianlu.User, error) {
	u, err := scanUser(s.db.readRow(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, username))
	if err != nil {
		return u, fmt.Errorf("user %s: %w", username, mapError(err))
	}
	return u, nil
}

// SetPassword hashes and stores a user's password and ends the user's
// sessions.
func (s *SessionService) SetPassword(ctx context.Context, username, password string) error {
	if len(password) < lianlu.MinPasswordLen || len(password) > 1024 {
		return lianlu.Invalid(lianlu.FieldError{Field: "password", Message: "10 to 1024 bytes"})
	}
	hash, err := access.HashPassword(password, s.Params)
	if err != nil {
		return err
	}
	return s.db.WithTx(ctx, func(tx *Tx) error {
		u, err := scanUser(tx.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, username))
		if err != nil {
			return fmt.Errorf("user %s: %w", username, mapError(err))
		}
		if _, err := tx.exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, u.ID); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if _, err := tx.exec(ctx, `DELETE FROM console_sessions WHERE user_id = ?`, u.ID); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		return WriteAudit(ctx, tx, "user.password_set", "user", strconv.FormatInt(u.ID, 10), u.Department,
			map[string]any{"username": u.Username})
	})
}

var errBadLogin = lianlu.Errorf(lianlu.EUNAUTHORIZED, "wrong user name or password")

// Login checks the password outside any write transaction (argon2id is
// slow on purpose) and then opens the session.
func (s *SessionService) Login(ctx context.Context, username, password string, ttl time.Duration) (lianlu.Session, lianlu.User, string, error) {
	if ttl <= 0 {
		return lianlu.Session{}, lianlu.User{}, "", lianlu.Errorf(lianlu.EINVALID, "session lifetime must be positive")
	}
	if len(password) > 1024 || len(username) > 64 {
		return lianlu.Session{}, lianlu.User{}, "", errBadLogin
	}
	var hash *string
	var disabled *time.Time
	u, err := scanUser(s.db.readRow(ctx, `SELECT `+userColumns+`, password_hash, disabled_at FROM users WHERE username = ?`, username),
		&hash, nullTime{&disabled})
	if err != nil && !isNotFound(err) {
		return lianlu.Session{}, lianlu.User{}, "", fmt.Errorf("login: %w", err)
	}
	if err != nil || hash == nil {
		s.burn(password)
		return lianlu.Session{}, lianlu.User{}, "", errBadLogin
	}
	if err := access.VerifyPassword(password, *hash); err != nil {
		if !errors.Is(err, access.ErrMismatch) {
			s.db.logger.Warn("stored password hash unreadable", "user_id", u.ID, "error", err)
		}
		return lianlu.Session{}, lianlu.User{}, "", errBadLogin
	}
	if disabled != nil {
		return lianlu.Session{}, lianlu.User{}, "", errBadLogin
	}
	secret, err := newSessionSecret()
	if err != nil {
		return lianlu.Session{}, lianlu.User{}, "", err
	}
	var sess lianlu.Session
	err = s.db.WithTx(ctx, func(tx *Tx) error {
		d := tx.db.dialect
		if _, err := tx.exec(ctx, `DELETE FROM console_sessions WHERE expires_at < ?`, d.timeArg(tx.now)); err != nil {
			return fmt.Errorf("delete expired sessions: %w", err)
		}
		sess = lianlu.Session{UserID: u.ID, CreatedAt: tx.now, ExpiresAt: tx.now.Add(ttl), LastSeenAt: tx.now}
		if err := tx.queryRow(ctx, `INSERT INTO console_sessions (hash, user_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			hashSecret(secret), u.ID, d.timeArg(sess.CreatedAt), d.timeArg(sess.ExpiresAt), d.timeArg(sess.LastSeenAt)).Scan(&sess.ID); err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		ctx := lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{UserID: u.ID, Name: u.Username, Department: u.Department, Role: u.Role})
		return WriteAudit(ctx, tx, "user.login", "user", strconv.FormatInt(u.ID, 10), u.Department, nil)
	})
	if err != nil {
		return lianlu.Session{}, lianlu.User{}, "", err
	}
	return sess, u, secret, nil
}

// burn spends the time of one verification on a hash that cannot match.
func (s *SessionService) burn(password string) {
	s.dummyOnce.Do(func() { s.dummy, _ = access.HashPassword("not a password of anyone", s.Params) })
	access.VerifyPassword(password, s.dummy)
}

func newSessionSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random session: %w", err)
	}
	return SessionPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// sessionTouchGranularity limits last_seen_at writes to one a minute per
// session, so that authenticating a page view stays a read.
const sessionTouchGranularity = time.Minute

// AuthenticateSession returns the session of a secret and its user.
func (s *SessionService) AuthenticateSession(ctx context.Context, secret string) (lianlu.Session, lianlu.User, error) {
	unauthorized := lianlu.Errorf(lianlu.EUNAUTHORIZED, "not signed in or the session has expired")
	if !strings.HasPrefix(secret, SessionPrefix) || len(secret) > 128 {
		return lianlu.Session{}, lianlu.User{}, unauthorized
	}
	var sess lianlu.Session
	var disabled *time.Time
	u, err := scanUser(s.db.readRow(ctx, `SELECT u.id, u.username, u.display_name, u.department, u.role, u.store, u.created_at, u.disabled_at,
		s.id, s.created_at, s.expires_at, s.last_seen_at
		FROM console_sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ?`, hashSecret(secret)),
		nullTime{&disabled}, &sess.ID, sqlTime{&sess.CreatedAt}, sqlTime{&sess.ExpiresAt}, sqlTime{&sess.LastSeenAt})
	if isNotFound(err) {
		return lianlu.Session{}, lianlu.User{}, unauthorized
	} else if err != nil {
		return lianlu.Session{}, lianlu.User{}, fmt.Errorf("authenticate session: %w", err)
	}
	sess.UserID = u.ID
	now := s.db.Now()
	if !now.Before(sess.ExpiresAt) || disabled != nil {
		return lianlu.Session{}, lianlu.User{}, unauthorized
	}
	if now.Sub(sess.LastSeenAt) >= sessionTouchGranularity {
		if err := s.db.WithTx(ctx, func(tx *Tx) error {
			_, err := tx.exec(ctx, `UPDATE console_sessions SET last_seen_at = ? WHERE id = ?`, tx.db.dialect.timeArg(tx.now), sess.ID)
			return err
		}); err != nil {
			s.db.logger.Warn("record session use", "session_id", sess.ID, "error", err)
		} else {
			sess.LastSeenAt = now
		}
	}
	return sess, u, nil
}

// Logout deletes the session of a secret.
func (s *SessionService) Logout(ctx context.Context, secret string) error {
	if !strings.HasPrefix(secret, SessionPrefix) {
		return nil
	}
	return s.db.WithTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `DELETE FROM console_sessions WHERE hash = ?`, hashSecret(secret))
		return err
	})
}
