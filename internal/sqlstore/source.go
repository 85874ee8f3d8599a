package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lianlu/lianlu"
)

// WriteKeyPrefix starts every collector write key.
const WriteKeyPrefix = "wk_"

// WriteKeyCacheTTL is how long an authenticated write key is trusted
// without reading the database. Changes made by this process take effect at
// once; other nodes see a disabled source or rotated key within the TTL.
const WriteKeyCacheTTL = 10 * time.Second

// SourceService implements lianlu.SourceService.
type SourceService struct {
	db *DB

	// cache holds recently authenticated write keys by hash: a collector
	// call would otherwise spend a fifth of its time on this lookup.
	mu    sync.Mutex
	cache map[string]cachedSource
}

type cachedSource struct {
	src     lianlu.Source
	expires time.Time
}

// NewSourceService returns the source service of db.
func NewSourceService(db *DB) *SourceService {
	return &SourceService{db: db, cache: map[string]cachedSource{}}
}

// forget drops every cached key, after a change to any source.
func (s *SourceService) forget() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

var _ lianlu.SourceService = (*SourceService)(nil)

func newWriteKey() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random write key: %w", err)
	}
	return WriteKeyPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

const sourceColumns = `id, name, department, kind, key_prefix, created_at, updated_at, disabled_at`

func scanSource(r rowScanner) (lianlu.Source, error) {
	var s lianlu.Source
	err := r.Scan(&s.ID, &s.Name, &s.Department, &s.Kind, &s.KeyPrefix, sqlTime{&s.CreatedAt}, sqlTime{&s.UpdatedAt}, nullTime{&s.DisabledAt})
	s.Disabled = s.DisabledAt != nil
	return s, err
}

// CreateSource creates a source and its write key.
func (s *SourceService) CreateSource(ctx context.Context, src lianlu.Source) (lianlu.Source, string, error) {
	src.Name = strings.TrimSpace(src.Name)
	var errs []lianlu.FieldError
	textField(&errs, "name", src.Name, true, 100)
	if !slices.Contains(lianlu.SourceKinds, src.Kind) {
		errs = append(errs, lianlu.FieldError{Field: "kind", Message: "one of " + strings.Join(lianlu.SourceKinds, ", ")})
	}
	if src.Department == "" {
		errs = append(errs, lianlu.FieldError{Field: "department", Message: "required"})
	}
	if len(errs) > 0 {
		return lianlu.Source{}, "", lianlu.Invalid(errs...)
	}
	key, err := newWriteKey()
	if err != nil {
		return lianlu.Source{}, "", err
	}
	err = s.db.WithTx(ctx, func(tx *Tx) error {
		ok, err := departmentExists(ctx, tx, src.Department)
		if err != nil {
			return err
		} else if !ok {
			return lianlu.Invalid(lianlu.FieldError{Field: "department", Message: "unknown department"})
		}
		d := tx.db.dialect
		src.KeyPrefix, src.CreatedAt, src.UpdatedAt = key[:len(WriteKeyPrefix)+6], tx.now, tx.now
		if err := tx.queryRow(ctx, `INSERT INTO sources (name, department, kind, key_hash, key_prefix, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			src.Name, src.Department, src.Kind, hashSecret(key), src.KeyPrefix, d.timeArg(tx.now), d.timeArg(tx.now)).Scan(&src.ID); err != nil {
			return fmt.Errorf("insert source: %w", mapError(err))
		}
		return WriteAudit(ctx, tx, "source.created", "source", strconv.FormatInt(src.ID, 10), src.Department, map[string]any{"name": src.Name, "kind": src.Kind})
	})
	if err != nil {
		return lianlu.Source{}, "", err
	}
	return src, key, nil
}

// FindSourceByID returns a source.
func (s *SourceService) FindSourceByID(ctx context.Context, id int64) (lianlu.Source, error) {
	src, err := scanSource(s.db.readRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = ?`, id))
	if err != nil {
		return src, fmt.Errorf("source %d: %w", id, mapError(err))
	}
	return src, nil
}

// FindSources lists sources by id, optionally of one department.
func (s *SourceService) FindSources(ctx context.Context, department string, afterID int64, limit int) ([]lianlu.Source, error) {
	q := `SELECT ` + sourceColumns + ` FROM sources WHERE id > ?`
	args := []any{afterID}
	if department != "" {
		q += ` AND department = ?`
		args = append(args, department)
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY id LIMIT `+strconv.Itoa(clampLimit(limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("find sources: %w", err)
	}
	defer rows.Close()
	out := []lianlu.Source{}
	for rows.Next() {
		src, err := scanSource(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, rows.Err()
}

// SetSourceDisabled disables or enables a source.
func (s *SourceService) SetSourceDisabled(ctx context.Context, id int64, disabled bool) (lianlu.Source, error) {
	var src lianlu.Source
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		if src, err = scanSource(tx.queryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = ?`, id)); err != nil {
			return fmt.Errorf("source %d: %w", id, mapError(err))
		}
		if src.Disabled == disabled {
			return nil
		}
		var at any
		action := "source.enabled"
		if disabled {
			at, action = tx.db.dialect.timeArg(tx.now), "source.disabled"
			now := tx.now
			src.DisabledAt = &now
		} else {
			src.DisabledAt = nil
		}
		src.Disabled, src.UpdatedAt = disabled, tx.now
		if _, err := tx.exec(ctx, `UPDATE sources SET disabled_at = ?, updated_at = ? WHERE id = ?`, at, tx.db.dialect.timeArg(tx.now), id); err != nil {
			return fmt.Errorf("update source: %w", err)
		}
		return WriteAudit(ctx, tx, action, "source", strconv.FormatInt(id, 10), src.Department, nil)
	})
	s.forget()
	return src, err
}

// RotateSourceKey replaces a source's write key.
func (s *SourceService) RotateSourceKey(ctx context.Context, id int64) (lianlu.Source, string, error) {
	key, err := newWriteKey()
	if err != nil {
		return lianlu.Source{}, "", err
	}
	var src lianlu.Source
	err = s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		if src, err = scanSource(tx.queryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = ?`, id)); err != nil {
			return fmt.Errorf("source %d: %w", id, mapError(err))
		}
		src.KeyPrefix, src.UpdatedAt = key[:len(WriteKeyPrefix)+6], tx.now
		if _, err := tx.exec(ctx, `UPDATE sources SET key_hash = ?, key_prefix = ?, updated_at = ? WHERE id = ?`,
			hashSecret(key), src.KeyPrefix, tx.db.dialect.timeArg(tx.now), id); err != nil {
			return fmt.Errorf("rotate key: %w", err)
		}
		return WriteAudit(ctx, tx, "source.key_rotated", "source", strconv.FormatInt(id, 10), src.Department, nil)
	})
	s.forget()
	if err != nil {
		return lianlu.Source{}, "", err
	}
	return src, key, nil
}

// AuthenticateWriteKey returns the enabled source of a write key.
func (s *SourceService) AuthenticateWriteKey(ctx context.Context, key string) (lianlu.Source, error) {
	if !strings.HasPrefix(key, WriteKeyPrefix) || len(key) > 128 {
		return lianlu.Source{}, lianlu.Errorf(lianlu.EUNAUTHORIZED, "unknown write key")
	}
	hash := hashSecret(key)
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[hash]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.src, nil
	}
	var stored string
	row := s.db.readRow(ctx, `SELECT key_hash, `+sourceColumns+` FROM sources WHERE key_hash = ?`, hash)
	var src lianlu.Source
	err := row.Scan(&stored, &src.ID, &src.Name, &src.Department, &src.Kind, &src.KeyPrefix, sqlTime{&src.CreatedAt}, sqlTime{&src.UpdatedAt}, nullTime{&src.DisabledAt})
	if isNotFound(err) || (err == nil && subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) != 1) {
		return lianlu.Source{}, lianlu.Errorf(lianlu.EUNAUTHORIZED, "unknown write key")
	}
	if err != nil {
		return lianlu.Source{}, fmt.Errorf("authenticate write key: %w", err)
	}
	if src.DisabledAt != nil {
		src.Disabled = true
		return src, lianlu.Errorf(lianlu.EFORBIDDEN, "source %d is disabled", src.ID)
	}
	s.mu.Lock()
	if len(s.cache) >= 10000 {
		clear(s.cache)
	}
	s.cache[hash] = cachedSource{src: src, expires: now.Add(WriteKeyCacheTTL)}
	s.mu.Unlock()
	return src, nil
}
