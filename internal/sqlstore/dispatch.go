package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/lianlu/lianlu"
)

// DispatchFlow names the handoffs of dispatch attempts: one per store
// asked to accept an on-site request.
const DispatchFlow = "dispatch"

// ResolveMemberTx finds the member a reference names, creating one for a
// contact not known yet; field errors are prefixed with prefix.
func ResolveMemberTx(ctx context.Context, tx *Tx, ref lianlu.MemberRef, prefix string) (int64, error) {
	return resolveMemberTx(ctx, tx, ref, prefix)
}

// LockDispatchDateTx serialises dispatch decisions for one service date
// until the transaction ends, so that two requests cannot both take a
// store's last slot that day. SQLite's single writer serialises already.
func LockDispatchDateTx(ctx context.Context, tx *Tx, date string) error {
	if tx.db.dialect.name() != "postgres" {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte("dispatch:" + date))
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
		return fmt.Errorf("lock dispatch date: %w", err)
	}
	return nil
}

// StoreLoadsTx counts the on-site work orders assigned to each store on a
// service date (resolved ones included: they took the slot).
func StoreLoadsTx(ctx context.Context, tx *Tx, date string) (map[string]int, error) {
	rows, err := tx.query(ctx, `SELECT l.code, COUNT(*) FROM work_orders w JOIN locations l ON l.id = w.store_id
		WHERE w.service_date = ? AND w.kind = ? GROUP BY l.code`, date, lianlu.WorkOrderOnSite)
	if err != nil {
		return nil, fmt.Errorf("store loads: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var code string
		var n int
		if err := rows.Scan(&code, &n); err != nil {
			return nil, err
		}
		out[code] = n
	}
	return out, rows.Err()
}

// FindWorkOrderTx reads a work order in tx.
func FindWorkOrderTx(ctx context.Context, tx *Tx, id int64) (lianlu.WorkOrder, error) {
	return findWorkOrder(ctx, tx, id)
}

// FindWorkOrderByRefTx returns the work order with ref, or ENOTFOUND.
func FindWorkOrderByRefTx(ctx context.Context, tx *Tx, ref string) (lianlu.WorkOrder, error) {
	w, err := scanWorkOrder(tx.queryRow(ctx, `SELECT `+workOrderColumns+workOrderFrom+` WHERE w.ref = ?`, ref))
	if err != nil {
		return w, fmt.Errorf("work order %s: %w", ref, mapError(err))
	}
	return w, nil
}

// SaveDispatchTx writes an open work order's queue (department and store),
// flag and dispatch decision, reopening it unassigned, and appends typ
// (such as workorder.reassigned) unless typ is empty. It returns the seq of
// the appended event. ECONFLICT when the work order is no longer open.
func SaveDispatchTx(ctx context.Context, tx *Tx, w *lianlu.WorkOrder, typ string) (int64, error) {
	var store any
	if w.Store != "" {
		id, err := storeIDByCode(ctx, tx, w.Store, "store")
		if err != nil {
			return 0, err
		}
		store = id
	}
	b, err := json.Marshal(w.Dispatch)
	if err != nil {
		return 0, err
	}
	d := tx.db.dialect
	w.UpdatedAt, w.Assignee, w.AcceptedAt = tx.now, "", nil
	res, err := tx.exec(ctx, `UPDATE work_orders SET department = ?, store_id = ?, assignee = NULL, accepted_at = NULL, flagged = ?, dispatch = ?, updated_at = ?
		WHERE id = ? AND status = ?`, w.Department, store, w.Flagged, string(b), d.timeArg(tx.now), w.ID, lianlu.WorkOrderOpen)
	if err != nil {
		return 0, fmt.Errorf("save dispatch: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, lianlu.Errorf(lianlu.ECONFLICT, "work order %d is not open", w.ID)
	}
	if typ == "" {
		return 0, nil
	}
	e, err := appendCommandEvent(ctx, tx, typ, "workorder/"+strconv.FormatInt(w.ID, 10), w.Department, "", w)
	return e.Seq, err
}

// LastEventSeqTx returns the seq of the latest event about subject (0 for
// none), such as the workorder.created a command just appended.
func LastEventSeqTx(ctx context.Context, tx *Tx, subject string) (int64, error) {
	var seq *int64
	if err := tx.queryRow(ctx, `SELECT MAX(seq) FROM events WHERE subject = ?`, subject).Scan(&seq); err != nil {
		return 0, fmt.Errorf("last event: %w", err)
	}
	return derefInt(seq), nil
}

// FindExpiredAttemptsTx returns open dispatch attempts whose acceptance
// deadline passed before now, oldest first.
func FindExpiredAttemptsTx(ctx context.Context, tx *Tx, now time.Time, limit int) ([]lianlu.Handoff, error) {
	rows, err := tx.query(ctx, `SELECT `+handoffColumns+` FROM handoffs WHERE flow = ? AND status = ? AND accepted_at IS NULL AND due_at < ?
		ORDER BY due_at LIMIT `+strconv.Itoa(limit), DispatchFlow, lianlu.HandoffOpen, tx.db.dialect.timeArg(now))
	if err != nil {
		return nil, fmt.Errorf("find expired attempts: %w", err)
	}
	return collectHandoffs(rows)
}

// SaveDispatchDecisionTx rewrites only a work order's dispatch decision
// (an attempt's outcome).
func SaveDispatchDecisionTx(ctx context.Context, tx *Tx, id int64, d *lianlu.DispatchDecision) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `UPDATE work_orders SET dispatch = ? WHERE id = ?`, string(b), id); err != nil {
		return fmt.Errorf("save dispatch decision: %w", err)
	}
	return nil
}
