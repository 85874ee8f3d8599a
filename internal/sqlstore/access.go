package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
)

// TokenPrefix starts every API token, so that leaked tokens are easy to
// recognise by secret scanners.
const TokenPrefix = "llt_"

// AccessService implements lianlu.AccessService.
type AccessService struct {
	db *DB
}

// NewAccessService returns the access service of db.
func NewAccessService(db *DB) *AccessService { return &AccessService{db: db} }

var _ lianlu.AccessService = (*AccessService)(nil)

// FindDepartments returns every department.
func (s *AccessService) FindDepartments(ctx context.Context) ([]lianlu.Department, error) {
	rows, err := s.db.readQuery(ctx, `SELECT id, name, created_at FROM departments ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("find departments: %w", err)
	}
	defer rows.Close()
	depts := []lianlu.Department{}
	for rows.Next() {
		var d lianlu.Department
		if err := rows.Scan(&d.ID, &d.Name, sqlTime{&d.CreatedAt}); err != nil {
			return nil, err
		}
		depts = append(depts, d)
	}
	return depts, rows.Err()
}

func departmentExists(ctx context.Context, tx *Tx, id string) (bool, error) {
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM departments WHERE id = ?`, id).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

var nameRe = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} ._:@-]{0,99}$`)

// CreateToken creates a token and returns its secret once.
func (s *AccessService) CreateToken(ctx context.Context, p lianlu.TokenCreate) (lianlu.Token, string, error) {
	var errs []lianlu.FieldError
	if !nameRe.MatchString(p.Name) {
		errs = append(errs, lianlu.FieldError{Field: "name", Message: "1–100 letters, digits, spaces or ._:@- starting with a letter or digit"})
	}
	if !p.Role.Valid() {
		errs = append(errs, lianlu.FieldError{Field: "role", Message: "one of viewer, operator, manager, admin"})
	}
	if p.Department == "" {
		errs = append(errs, lianlu.FieldError{Field: "department", Message: "required"})
	}
	if len(errs) > 0 {
		return lianlu.Token{}, "", lianlu.Invalid(errs...)
	}
	secret, err := newSecret()
	if err != nil {
		return lianlu.Token{}, "", err
	}
	tok := lianlu.Token{
		Name: p.Name, Department: p.Department, Role: p.Role, UserID: p.UserID,
		Prefix: secret[:len(TokenPrefix)+8], CreatedBy: actorOf(ctx),
	}
	err = s.db.WithTx(ctx, func(tx *Tx) error {
		ok, err := departmentExists(ctx, tx, p.Department)
		if err != nil {
			return err
		} else if !ok {
			return lianlu.Invalid(lianlu.FieldError{Field: "department", Message: "unknown department"})
		}
		tok.CreatedAt = tx.now
		var userID any
		if p.UserID != 0 {
			userID = p.UserID
		}
		if err := tx.queryRow(ctx, `INSERT INTO api_tokens (name, department, role, user_id, prefix, hash, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			tok.Name, tok.Department, string(tok.Role), userID, tok.Prefix, hashSecret(secret),
			tx.db.dialect.timeArg(tx.now), tok.CreatedBy).Scan(&tok.ID); err != nil {
			return fmt.Errorf("insert token: %w", mapError(err))
		}
		return WriteAudit(ctx, tx, "token.created", "token", strconv.FormatInt(tok.ID, 10), tok.Department,
			map[string]any{"name": tok.Name, "role": tok.Role})
	})
	if err != nil {
		return lianlu.Token{}, "", err
	}
	return tok, secret, nil
}

// newSecret returns a token: the prefix and 256 random bits.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// hashSecret hashes a token for storage. Tokens carry 256 random bits, so a
// fast hash is enough: there is nothing to brute-force.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

const tokenColumns = `id, name, department, role, user_id, prefix, created_at, created_by, last_used_at, revoked_at`

func scanToken(r rowScanner) (lianlu.Token, error) {
	var t lianlu.Token
	var role string
	var userID *int64
	err := r.Scan(&t.ID, &t.Name, &t.Department, &role, &userID, &t.Prefix, sqlTime{&t.CreatedAt}, &t.CreatedBy,
		nullTime{&t.LastUsedAt}, nullTime{&t.RevokedAt})
	t.Role = lianlu.Role(role)
	if userID != nil {
		t.UserID = *userID
	}
	return t, err
}

// FindTokens lists tokens, newest first.
func (s *AccessService) FindTokens(ctx context.Context, includeRevoked bool) ([]lianlu.Token, error) {
	q := `SELECT ` + tokenColumns + ` FROM api_tokens`
	if !includeRevoked {
		q += ` WHERE revoked_at IS NULL`
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("find tokens: %w", err)
	}
	defer rows.Close()
	toks := []lianlu.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
	}
	return toks, rows.Err()
}

// RevokeToken revokes a token.
func (s *AccessService) RevokeToken(ctx context.Context, id int64) error {
	return s.db.WithTx(ctx, func(tx *Tx) error {
		t, err := scanToken(tx.queryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = ?`, id))
		if err != nil {
			return fmt.Errorf("revoke token %d: %w", id, mapError(err))
		}
		if t.RevokedAt != nil {
			return lianlu.Errorf(lianlu.ECONFLICT, "token %d is already revoked", id)
		}
		if _, err := tx.exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ?`, tx.db.dialect.timeArg(tx.now), id); err != nil {
			return fmt.Errorf("revoke token %d: %w", id, err)
		}
		return WriteAudit(ctx, tx, "token.revoked", "token", strconv.FormatInt(id, 10), t.Department,
			map[string]any{"name": t.Name})
	})
}

// lastUsedGranularity limits last_used_at writes to one per token per
// minute, so authentication stays a read.
const lastUsedGranularity = time.Minute

// Authenticate returns the principal of a token secret.
func (s *AccessService) Authenticate(ctx context.Context, secret string) (lianlu.Principal, error) {
	unauthorized := lianlu.Errorf(lianlu.EUNAUTHORIZED, "invalid or revoked token")
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 128 {
		return lianlu.Principal{}, unauthorized
	}
	hash := hashSecret(secret)
	var stored string
	var t lianlu.Token
	row := s.db.readRow(ctx, `SELECT hash, `+tokenColumns+` FROM api_tokens WHERE hash = ?`, hash)
	var role string
	var userID *int64
	err := row.Scan(&stored, &t.ID, &t.Name, &t.Department, &role, &userID, &t.Prefix, sqlTime{&t.CreatedAt},
		&t.CreatedBy, nullTime{&t.LastUsedAt}, nullTime{&t.RevokedAt})
	if err != nil {
		if lianlu.ErrorCode(mapError(err)) == lianlu.ENOTFOUND {
			return lianlu.Principal{}, unauthorized
		}
		return lianlu.Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) != 1 || t.RevokedAt != nil {
		return lianlu.Principal{}, unauthorized
	}
	now := s.db.Now()
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= lastUsedGranularity {
		if err := s.db.WithTx(ctx, func(tx *Tx) error {
			_, err := tx.exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, tx.db.dialect.timeArg(tx.now), t.ID)
			return err
		}); err != nil {
			s.db.logger.Warn("record token use", "token_id", t.ID, "error", err)
		}
	}
	p := lianlu.Principal{TokenID: t.ID, Name: t.Name, Department: t.Department, Role: lianlu.Role(role)}
	if userID != nil {
		p.UserID = *userID
	}
	return p, nil
}

var usernameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,63}$`)

// CreateUser creates a user.
func (s *AccessService) CreateUser(ctx context.Context, u lianlu.User) (lianlu.User, error) {
	var errs []lianlu.FieldError
	if !usernameRe.MatchString(u.Username) {
		errs = append(errs, lianlu.FieldError{Field: "username", Message: "2–64 lowercase letters, digits or ._- starting with a letter or digit"})
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Username
	} else if len(u.DisplayName) > 200 {
		errs = append(errs, lianlu.FieldError{Field: "display_name", Message: "longer than 200 bytes"})
	}
	if !u.Role.Valid() {
		errs = append(errs, lianlu.FieldError{Field: "role", Message: "one of viewer, operator, manager, admin"})
	}
	if u.Department == "" {
		errs = append(errs, lianlu.FieldError{Field: "department", Message: "required"})
	}
	if len(errs) > 0 {
		return lianlu.User{}, lianlu.Invalid(errs...)
	}
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		ok, err := departmentExists(ctx, tx, u.Department)
		if err != nil {
			return err
		} else if !ok {
			return lianlu.Invalid(lianlu.FieldError{Field: "department", Message: "unknown department"})
		}
		if u.Store != "" {
			if u.Department != lianlu.DeptStores {
				return lianlu.Invalid(lianlu.FieldError{Field: "store", Message: "only for users of the stores department"})
			}
			l, err := findLocationByCode(ctx, tx, u.Store)
			if lianlu.ErrorCode(err) == lianlu.ENOTFOUND || (err == nil && l.Kind != lianlu.LocationStore) {
				return lianlu.Invalid(lianlu.FieldError{Field: "store", Message: "no store " + u.Store})
			} else if err != nil {
				return err
			}
		}
		u.CreatedAt = tx.now
		if err := tx.queryRow(ctx, `INSERT INTO users (username, display_name, department, role, store, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			u.Username, u.DisplayName, u.Department, string(u.Role), nullString(u.Store), tx.db.dialect.timeArg(tx.now)).Scan(&u.ID); err != nil {
			if isUniqueViolation(err) {
				return lianlu.Errorf(lianlu.ECONFLICT, "username %q is taken", u.Username)
			}
			return fmt.Errorf("insert user: %w", err)
		}
		return WriteAudit(ctx, tx, "user.created", "user", strconv.FormatInt(u.ID, 10), u.Department,
			map[string]any{"username": u.Username, "role": u.Role, "store": u.Store})
	})
	return u, err
}

// FindUsers lists users.
func (s *AccessService) FindUsers(ctx context.Context) ([]lianlu.User, error) {
	rows, err := s.db.readQuery(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	defer rows.Close()
	users := []lianlu.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, rows.Err()
}

// actorOf names the caller of ctx for audit entries.
func actorOf(ctx context.Context) string {
	if p, ok := lianlu.PrincipalFromContext(ctx); ok {
		return p.Actor()
	}
	return "system"
}

// WriteAudit records an audit entry in tx, attributed to ctx's principal
// and request.
func WriteAudit(ctx context.Context, tx *Tx, action, targetType, targetID, department string, detail map[string]any) error {
	var d any
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return fmt.Errorf("audit detail: %w", err)
		}
		d = string(b)
	}
	_, err := tx.exec(ctx, `INSERT INTO audit_log (at, actor, action, target_type, target_id, department, request_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		tx.db.dialect.timeArg(tx.now), actorOf(ctx), action, targetType, targetID, nullString(department),
		nullString(lianlu.RequestIDFromContext(ctx)), d)
	if err != nil {
		return fmt.Errorf("write audit: %w", err)
	}
	return nil
}

// FindAuditEntries returns audit entries newest first.
func (s *AccessService) FindAuditEntries(ctx context.Context, before int64, limit int) ([]lianlu.AuditEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := `SELECT id, at, actor, action, target_type, target_id, department, request_id, detail FROM audit_log`
	var args []any
	if before > 0 {
		q += ` WHERE id < ?`
		args = append(args, before)
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY id DESC LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("find audit entries: %w", err)
	}
	defer rows.Close()
	entries := []lianlu.AuditEntry{}
	for rows.Next() {
		var e lianlu.AuditEntry
		var dept, reqID, detail *string
		if err := rows.Scan(&e.ID, sqlTime{&e.At}, &e.Actor, &e.Action, &e.TargetType, &e.TargetID, &dept, &reqID, &detail); err != nil {
			return nil, err
		}
		e.Department, e.RequestID, e.Detail = deref(dept), deref(reqID), deref(detail)
		entries = append(entries, e)
	}
	return entries, rows.Err()
}
