package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
)

// WorkOrderService implements lianlu.WorkOrderService.
type WorkOrderService struct {
	db *DB
}

// NewWorkOrderService returns the work order service of db.
func NewWorkOrderService(db *DB) *WorkOrderService { return &WorkOrderService{db: db} }

var _ lianlu.WorkOrderService = (*WorkOrderService)(nil)

const workOrderColumns = `w.id, w.kind, w.priority, w.status, w.department, l.code, w.assignee, w.title, w.subject, w.ref,
	w.resolution_code, w.resolution_note, w.created_at, w.updated_at, w.accepted_at, w.resolved_at, w.member_id, w.service_date, w.dispatch, w.flagged,
	w.contacted_at`

const workOrderFrom = ` FROM work_orders w LEFT JOIN locations l ON l.id = w.store_id`

func scanWorkOrder(r rowScanner) (lianlu.WorkOrder, error) {
	var w lianlu.WorkOrder
	var store, assignee, subject, ref, code, note, date *string
	var member *int64
	var dispatch []byte
	err := r.Scan(&w.ID, &w.Kind, &w.Priority, &w.Status, &w.Department, &store, &assignee, &w.Title, &subject, &ref,
		&code, &note, sqlTime{&w.CreatedAt}, sqlTime{&w.UpdatedAt}, nullTime{&w.AcceptedAt}, nullTime{&w.ResolvedAt}, &member, &date, &dispatch, &w.Flagged,
		nullTime{&w.ContactedAt})
	if err != nil {
		return w, err
	}
	w.Store, w.Assignee, w.Subject, w.Ref, w.ResolutionCode, w.ResolutionNote = deref(store), deref(assignee), deref(subject), deref(ref), deref(code), deref(note)
	w.MemberID, w.ServiceDate = derefInt(member), deref(date)
	if dispatch != nil {
		w.Dispatch = &lianlu.DispatchDecision{}
		if err := json.Unmarshal(dispatch, w.Dispatch); err != nil {
			return w, fmt.Errorf("decode dispatch: %w", err)
		}
	}
	return w, nil
}

func findWorkOrder(ctx context.Context, tx *Tx, id int64) (lianlu.WorkOrder, error) {
	w, err := scanWorkOrder(tx.queryRow(ctx, `SELECT `+workOrderColumns+workOrderFrom+` WHERE w.id = ?`, id))
	if err != nil {
		return w, fmt.Errorf("work order %d: %w", id, mapError(err))
	}
	return w, nil
}

// resolveQueue checks a department and an optional store code and returns
// the store's row id (0 without a store).
func resolveQueue(ctx context.Context, tx *Tx, department, store string) (int64, error) {
	var errs []lianlu.FieldError
	ok, err := departmentExists(ctx, tx, department)
	if err != nil {
		return 0, err
	} else if !ok {
		errs = append(errs, lianlu.FieldError{Field: "department", Message: "unknown department " + department})
	}
	var storeID int64
	if store != "" {
		l, err := findLocationByCode(ctx, tx, store)
		switch {
		case lianlu.ErrorCode(err) == lianlu.ENOTFOUND || (err == nil && l.Kind != lianlu.LocationStore):
			errs = append(errs, lianlu.FieldError{Field: "store", Message: "unknown store " + store})
		case err != nil:
			return 0, err
		default:
			storeID = l.ID
		}
	}
	if len(errs) > 0 {
		return 0, lianlu.Invalid(errs...)
	}
	return storeID, nil
}

// CreateWorkOrder opens a work order.
func (s *WorkOrderService) CreateWorkOrder(ctx context.Context, w lianlu.WorkOrder) (lianlu.WorkOrder, error) {
	var out lianlu.WorkOrder
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		out, err = CreateWorkOrderTx(ctx, tx, w)
		return err
	})
	return out, err
}

// CreateWorkOrderTx opens a work order in the caller's transaction (flows
// create work orders in the same transaction as their handoff).
func CreateWorkOrderTx(ctx context.Context, tx *Tx, w lianlu.WorkOrder) (lianlu.WorkOrder, error) {
	if w.Priority == "" {
		w.Priority = lianlu.PriorityNormal
	}
	if w.Department == "" {
		w.Department = lianlu.DeptService
	}
	w.Title = strings.TrimSpace(w.Title)
	var errs []lianlu.FieldError
	if !slices.Contains(lianlu.WorkOrderKinds, w.Kind) {
		errs = append(errs, lianlu.FieldError{Field: "kind", Message: "one of " + strings.Join(lianlu.WorkOrderKinds, ", ")})
	}
	if !slices.Contains(lianlu.Priorities, w.Priority) {
		errs = append(errs, lianlu.FieldError{Field: "priority", Message: "one of " + strings.Join(lianlu.Priorities, ", ")})
	}
	textField(&errs, "title", w.Title, true, 200)
	textField(&errs, "subject", w.Subject, false, lianlu.MaxEventSubjectLen)
	textField(&errs, "assignee", w.Assignee, false, 100)
	if len(w.Ref) > maxReferenceLength {
		errs = append(errs, lianlu.FieldError{Field: "ref", Message: "at most 128 bytes"})
	}
	if len(errs) > 0 {
		return lianlu.WorkOrder{}, lianlu.Invalid(errs...)
	}
	if w.Ref != "" {
		prev, err := scanWorkOrder(tx.queryRow(ctx, `SELECT `+workOrderColumns+workOrderFrom+` WHERE w.ref = ?`, w.Ref))
		if err == nil {
			return prev, nil
		} else if !isNotFound(err) {
			return lianlu.WorkOrder{}, fmt.Errorf("find work order by ref: %w", err)
		}
	}
	storeID, err := resolveQueue(ctx, tx, w.Department, w.Store)
	if err != nil {
		return lianlu.WorkOrder{}, err
	}
	d := tx.db.dialect
	w.Status, w.CreatedAt, w.UpdatedAt, w.AcceptedAt, w.ResolvedAt = lianlu.WorkOrderOpen, tx.now, tx.now, nil, nil
	var store any
	if storeID != 0 {
		store = storeID
	}
	var dispatch, member any
	if w.Dispatch != nil {
		b, err := json.Marshal(w.Dispatch)
		if err != nil {
			return lianlu.WorkOrder{}, err
		}
		dispatch = string(b)
	}
	if w.MemberID != 0 {
		member = w.MemberID
	}
	if err := tx.queryRow(ctx, `INSERT INTO work_orders (kind, priority, status, department, store_id, assignee, title, subject, ref, created_at, updated_at,
		member_id, service_date, dispatch, flagged)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		w.Kind, w.Priority, w.Status, w.Department, store, nullString(w.Assignee), w.Title, nullString(w.Subject), nullString(w.Ref),
		d.timeArg(tx.now), d.timeArg(tx.now), member, nullString(w.ServiceDate), dispatch, w.Flagged).Scan(&w.ID); err != nil {
		return lianlu.WorkOrder{}, fmt.Errorf("insert work order: %w", mapError(err))
	}
	if err := appendWorkOrderEvent(ctx, tx, "workorder.created", w); err != nil {
		return lianlu.WorkOrder{}, err
	}
	return w, nil
}

// appendWorkOrderEvent appends a workorder.* event owned by the queue's
// department. Its subject is the work order; the object it is about is in
// data.subject.
func appendWorkOrderEvent(ctx context.Context, tx *Tx, typ string, w lianlu.WorkOrder) error {
	return appendWorkOrderEventData(ctx, tx, typ, w, w)
}

// appendWorkOrderEventData appends a workorder.* event about w with data.
func appendWorkOrderEventData(ctx context.Context, tx *Tx, typ string, w lianlu.WorkOrder, data any) error {
	_, err := appendCommandEvent(ctx, tx, typ, "workorder/"+strconv.FormatInt(w.ID, 10), w.Department, "", data)
	return err
}

// FindWorkOrderByID returns a work order.
func (s *WorkOrderService) FindWorkOrderByID(ctx context.Context, id int64) (lianlu.WorkOrder, error) {
	w, err := scanWorkOrder(s.db.readRow(ctx, `SELECT `+workOrderColumns+workOrderFrom+` WHERE w.id = ?`, id))
	if err != nil {
		return w, fmt.Errorf("work order %d: %w", id, mapError(err))
	}
	return w, nil
}

// FindWorkOrders lists work orders oldest first.
func (s *WorkOrderService) FindWorkOrders(ctx context.Context, f lianlu.WorkOrderFilter) ([]lianlu.WorkOrder, error) {
	q := `SELECT ` + workOrderColumns + workOrderFrom + ` WHERE w.id > ?`
	args := []any{f.AfterID}
	for col, v := range map[string]string{"w.department": f.Department, "l.code": f.Store, "w.status": f.Status, "w.subject": f.Subject} {
		if v != "" {
			q += ` AND ` + col + ` = ?`
			args = append(args, v)
		}
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY w.id LIMIT `+strconv.Itoa(clampLimit(f.Limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("find work orders: %w", err)
	}
	return collectWorkOrders(rows)
}

// collectWorkOrders reads work order rows and closes them.
func collectWorkOrders(rows *sql.Rows) ([]lianlu.WorkOrder, error) {
	defer rows.Close()
	out := []lianlu.WorkOrder{}
	for rows.Next() {
		w, err := scanWorkOrder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// transition changes a work order whose status is one of from, then appends
// its event.
func (s *WorkOrderService) transition(ctx context.Context, id int64, from []string, typ string, change func(tx *Tx, w *lianlu.WorkOrder) error) (lianlu.WorkOrder, error) {
	return s.transitionWith(ctx, id, from, typ, change, nil)
}

// transitionWith is transition with the event's data made by eventData
// from the changed work order (nil: the work order itself).
func (s *WorkOrderService) transitionWith(ctx context.Context, id int64, from []string, typ string, change func(tx *Tx, w *lianlu.WorkOrder) error,
	eventData func(w lianlu.WorkOrder) any) (lianlu.WorkOrder, error) {
	var w lianlu.WorkOrder
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		if w, err = findWorkOrder(ctx, tx, id); err != nil {
			return err
		}
		if !slices.Contains(from, w.Status) {
			return lianlu.Errorf(lianlu.ECONFLICT, "work order %d is %s", id, w.Status)
		}
		prev := w.Status
		if err := change(tx, &w); err != nil {
			return err
		}
		w.UpdatedAt = tx.now
		d := tx.db.dialect
		var store any
		if w.Store != "" {
			l, err := findLocationByCode(ctx, tx, w.Store)
			if err != nil {
				return err
			}
			store = l.ID
		}
		// The status guard makes concurrent transitions safe on both
		// dialects: only one of two racing accepts changes a row.
		res, err := tx.exec(ctx, `UPDATE work_orders SET status = ?, department = ?, store_id = ?, assignee = ?, resolution_code = ?, resolution_note = ?,
			updated_at = ?, accepted_at = ?, resolved_at = ?, contacted_at = ? WHERE id = ? AND status = ?`,
			w.Status, w.Department, store, nullString(w.Assignee), nullString(w.ResolutionCode), nullString(w.ResolutionNote),
			d.timeArg(tx.now), timePtrArg(d, w.AcceptedAt), timePtrArg(d, w.ResolvedAt), timePtrArg(d, w.ContactedAt), id, prev)
		if err != nil {
			return fmt.Errorf("update work order: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return lianlu.Errorf(lianlu.ECONFLICT, "work order %d changed concurrently", id)
		}
		if eventData != nil {
			return appendWorkOrderEventData(ctx, tx, typ, w, eventData(w))
		}
		return appendWorkOrderEvent(ctx, tx, typ, w)
	})
	return w, err
}

func timePtrArg(d dialect, t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.timeArg(*t)
}

// AcceptWorkOrder marks the start of work.
func (s *WorkOrderService) AcceptWorkOrder(ctx context.Context, id int64, assignee string) (lianlu.WorkOrder, error) {
	if len(assignee) > 100 {
		return lianlu.WorkOrder{}, lianlu.Invalid(lianlu.FieldError{Field: "assignee", Message: "at most 100 bytes"})
	}
	return s.transition(ctx, id, []string{lianlu.WorkOrderOpen}, "workorder.accepted", func(tx *Tx, w *lianlu.WorkOrder) error {
		now := tx.now
		w.Status, w.AcceptedAt = lianlu.WorkOrderAccepted, &now
		if assignee == "" {
			assignee = actorOf(ctx)
		}
		w.Assignee = assignee
		return nil
	})
}

// ResolveWorkOrder closes a work order.
func (s *WorkOrderService) ResolveWorkOrder(ctx context.Context, id int64, code, note string) (lianlu.WorkOrder, error) {
	var errs []lianlu.FieldError
	if !codeRe.MatchString(code) {
		errs = append(errs, lianlu.FieldError{Field: "resolution_code", Message: "1–64 letters, digits or ._-, such as solved or refunded"})
	}
	textField(&errs, "resolution_note", note, false, 2000)
	if len(errs) > 0 {
		return lianlu.WorkOrder{}, lianlu.Invalid(errs...)
	}
	return s.transition(ctx, id, []string{lianlu.WorkOrderOpen, lianlu.WorkOrderAccepted}, "workorder.resolved", func(tx *Tx, w *lianlu.WorkOrder) error {
		now := tx.now
		w.Status, w.ResolvedAt, w.ResolutionCode, w.ResolutionNote = lianlu.WorkOrderResolved, &now, code, note
		if w.AcceptedAt == nil {
			// Resolved without an explicit accept: work started now.
			w.AcceptedAt = &now
		}
		return nil
	})
}

// RecordContact records a contact with the customer about a work order.
func (s *WorkOrderService) RecordContact(ctx context.Context, id int64, channel, note string) (lianlu.WorkOrder, error) {
	var errs []lianlu.FieldError
	if !slices.Contains(lianlu.ContactChannels, channel) {
		errs = append(errs, lianlu.FieldError{Field: "channel", Message: "one of " + strings.Join(lianlu.ContactChannels, ", ")})
	}
	textField(&errs, "note", note, false, 2000)
	if len(errs) > 0 {
		return lianlu.WorkOrder{}, lianlu.Invalid(errs...)
	}
	type contact struct {
		Channel string `json:"channel"`
		Note    string `json:"note,omitempty"`
	}
	return s.transitionWith(ctx, id, []string{lianlu.WorkOrderOpen, lianlu.WorkOrderAccepted}, "workorder.contacted", func(tx *Tx, w *lianlu.WorkOrder) error {
		if w.ContactedAt == nil {
			now := tx.now
			w.ContactedAt = &now
		}
		return nil
	}, func(w lianlu.WorkOrder) any {
		return struct {
			lianlu.WorkOrder
			Contact contact `json:"contact"`
		}{w, contact{channel, note}}
	})
}

// ReassignWorkOrder moves a work order to another queue.
func (s *WorkOrderService) ReassignWorkOrder(ctx context.Context, id int64, department, store, reason string) (lianlu.WorkOrder, error) {
	var errs []lianlu.FieldError
	if department == "" {
		errs = append(errs, lianlu.FieldError{Field: "department", Message: "required"})
	}
	textField(&errs, "reason", reason, false, 500)
	if len(errs) > 0 {
		return lianlu.WorkOrder{}, lianlu.Invalid(errs...)
	}
	return s.transition(ctx, id, []string{lianlu.WorkOrderOpen, lianlu.WorkOrderAccepted}, "workorder.reassigned", func(tx *Tx, w *lianlu.WorkOrder) error {
		if _, err := resolveQueue(ctx, tx, department, store); err != nil {
			return err
		}
		if w.Department == department && w.Store == store {
			return lianlu.Invalid(lianlu.FieldError{Field: "department", Message: "the work order is already in this queue"})
		}
		w.Department, w.Store, w.Status, w.Assignee, w.AcceptedAt = department, store, lianlu.WorkOrderOpen, "", nil
		return nil
	})
}
