package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// Idempotency-Key retention: a completed key replays its response for
// IdempotencyTTL; a reservation whose request never finished (a crash) can
// be taken over after IdempotencyPendingTTL.
const (
	IdempotencyTTL        = 24 * time.Hour
	IdempotencyPendingTTL = 5 * time.Minute
)

// IdempotencyRecord is the stored outcome of a request made with an
// Idempotency-Key.
type IdempotencyRecord struct {
	Method      string
	Path        string
	RequestHash string
	// Done is false while the first request is still running.
	Done        bool
	Status      int
	ContentType string
	Body        []byte
	CreatedAt   time.Time
}

// ReserveIdempotencyKey claims key for principal. It returns reserved=true
// when the caller should run the request and later Complete or Release the
// key; otherwise it returns the existing record (done or in progress).
func (db *DB) ReserveIdempotencyKey(ctx context.Context, principal, key, method, path, requestHash string) (IdempotencyRecord, bool, error) {
	var rec IdempotencyRecord
	reserved := false
	err := db.WithTx(ctx, func(tx *Tx) error {
		var status *int
		var ct *string
		err := tx.queryRow(ctx, `SELECT method, path, request_hash, status, content_type, body, created_at FROM idempotency_keys WHERE principal = ? AND key = ?`,
			principal, key).Scan(&rec.Method, &rec.Path, &rec.RequestHash, &status, &ct, &rec.Body, sqlTime{&rec.CreatedAt})
		found := err == nil
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("find idempotency key: %w", err)
		}
		if found {
			rec.Done = status != nil
			if status != nil {
				rec.Status = *status
			}
			rec.ContentType = deref(ct)
			age := tx.now.Sub(rec.CreatedAt)
			if (rec.Done && age < IdempotencyTTL) || (!rec.Done && age < IdempotencyPendingTTL) {
				return nil
			}
			if _, err := tx.exec(ctx, `DELETE FROM idempotency_keys WHERE principal = ? AND key = ?`, principal, key); err != nil {
				return fmt.Errorf("expire idempotency key: %w", err)
			}
		}
		if _, err := tx.exec(ctx, `INSERT INTO idempotency_keys (principal, key, method, path, request_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			principal, key, method, path, requestHash, tx.db.dialect.timeArg(tx.now)); err != nil {
			return fmt.Errorf("reserve idempotency key: %w", mapError(err))
		}
		reserved = true
		rec = IdempotencyRecord{}
		return nil
	})
	return rec, reserved, err
}

// CompleteIdempotencyKey stores the response of a reserved key.
func (db *DB) CompleteIdempotencyKey(ctx context.Context, principal, key string, status int, contentType string, body []byte) error {
	return db.WithTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE idempotency_keys SET status = ?, content_type = ?, body = ? WHERE principal = ? AND key = ?`,
			status, contentType, body, principal, key)
		return err
	})
}

// ReleaseIdempotencyKey forgets a reserved key, so that a request that
// failed on the server may be retried.
func (db *DB) ReleaseIdempotencyKey(ctx context.Context, principal, key string) error {
	return db.WithTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `DELETE FROM idempotency_keys WHERE principal = ? AND key = ? AND status IS NULL`, principal, key)
		return err
	})
}

// DeleteExpiredIdempotencyKeys removes completed keys older than the TTL
// and returns how many it removed.
func (db *DB) DeleteExpiredIdempotencyKeys(ctx context.Context) (int64, error) {
	var n int64
	err := db.WithTx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, tx.db.dialect.timeArg(tx.now.Add(-IdempotencyTTL)))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
