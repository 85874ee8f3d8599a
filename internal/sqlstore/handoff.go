package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sla"
)

// HandoffService implements lianlu.HandoffService and the writes the flow
// runner makes.
type HandoffService struct {
	db *DB
}

// NewHandoffService returns the handoff service of db.
func NewHandoffService(db *DB) *HandoffService { return &HandoffService{db: db} }

var _ lianlu.HandoffService = (*HandoffService)(nil)

// HandoffSubject is the event subject of a handoff.
func HandoffSubject(id int64) string { return "handoff/" + strconv.FormatInt(id, 10) }

const handoffColumns = `id, flow, flow_version, step, trigger_seq, subject, from_department, to_department, action, target, completes, accepts,
	status, error, emitted_at, recorded_at, delivered_at, accepted_at, done_at, due_at, breached_at, breach_cause, responsible_department`

func scanHandoff(r rowScanner) (lianlu.Handoff, error) {
	var h lianlu.Handoff
	var target, errText, cause, resp *string
	var completes, accepts []byte
	err := r.Scan(&h.ID, &h.Flow, &h.FlowVersion, &h.Step, &h.TriggerSeq, &h.Subject, &h.FromDepartment, &h.ToDepartment, &h.Action,
		&target, &completes, &accepts, &h.Status, &errText, sqlTime{&h.EmittedAt}, sqlTime{&h.RecordedAt},
		nullTime{&h.DeliveredAt}, nullTime{&h.AcceptedAt}, nullTime{&h.DoneAt}, nullTime{&h.DueAt}, nullTime{&h.BreachedAt}, &cause, &resp)
	if err != nil {
		return h, err
	}
	h.Target, h.Error, h.BreachCause, h.ResponsibleDepartment = deref(target), deref(errText), deref(cause), deref(resp)
	if err := json.Unmarshal(completes, &h.Completes); err != nil {
		return h, fmt.Errorf("decode completes: %w", err)
	}
	if err := json.Unmarshal(accepts, &h.Accepts); err != nil {
		return h, fmt.Errorf("decode accepts: %w", err)
	}
	h.Clocks = handoffClocks(h)
	return h, nil
}

func seconds(d *time.Duration) *float64 {
	if d == nil {
		return nil
	}
	s := d.Seconds()
	return &s
}

func handoffClocks(h lianlu.Handoff) *lianlu.HandoffClocks {
	c := sla.Clocks{EmittedAt: h.EmittedAt, RecordedAt: h.RecordedAt, AcceptedAt: h.AcceptedAt, DoneAt: h.DoneAt, DueAt: h.DueAt}
	if h.DeliveredAt != nil {
		c.DeliveredAt = *h.DeliveredAt
	}
	d := c.Durations()
	return &lianlu.HandoffClocks{SyncDelaySeconds: seconds(d.SyncDelay), PickupSeconds: seconds(d.Pickup), WorkSeconds: seconds(d.Work), TotalSeconds: seconds(d.Total)}
}

// InsertHandoffTx records a new handoff. It returns inserted=false, and
// writes nothing, when the step already has a handoff for this trigger
// (a replay).
func InsertHandoffTx(ctx context.Context, tx *Tx, h *lianlu.Handoff) (inserted bool, err error) {
	completes, _ := json.Marshal(h.Completes)
	accepts, _ := json.Marshal(h.Accepts)
	d := tx.db.dialect
	err = tx.queryRow(ctx, `INSERT INTO handoffs (flow, flow_version, step, trigger_seq, subject, from_department, to_department, action, completes, accepts,
		status, emitted_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (trigger_seq, flow, step) DO NOTHING RETURNING id`,
		h.Flow, h.FlowVersion, h.Step, h.TriggerSeq, h.Subject, h.FromDepartment, h.ToDepartment, h.Action, string(completes), string(accepts),
		h.Status, d.timeArg(h.EmittedAt), d.timeArg(h.RecordedAt)).Scan(&h.ID)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("insert handoff: %w", mapInsertError(err))
	}
	return true, nil
}

// UpdateHandoffTx writes a handoff's mutable fields.
func UpdateHandoffTx(ctx context.Context, tx *Tx, h lianlu.Handoff) error {
	d := tx.db.dialect
	_, err := tx.exec(ctx, `UPDATE handoffs SET target = ?, status = ?, error = ?, delivered_at = ?, accepted_at = ?, done_at = ?, due_at = ?,
		breached_at = ?, breach_cause = ?, responsible_department = ? WHERE id = ?`,
		nullString(h.Target), h.Status, nullString(h.Error), timePtrArg(d, h.DeliveredAt), timePtrArg(d, h.AcceptedAt), timePtrArg(d, h.DoneAt),
		timePtrArg(d, h.DueAt), timePtrArg(d, h.BreachedAt), nullString(h.BreachCause), nullString(h.ResponsibleDepartment), h.ID)
	if err != nil {
		return fmt.Errorf("update handoff %d: %w", h.ID, err)
	}
	return nil
}

// AppendHandoffEventTx appends a handoff.* event (handoff.opened,
// handoff.breached, …) about h, owned by the receiving department. Its id is
// the handoff and the change, so each change is recorded once.
func AppendHandoffEventTx(ctx context.Context, tx *Tx, typ string, h lianlu.Handoff, actor string) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	id := HandoffSubject(h.ID) + "/" + strings.TrimPrefix(typ, "handoff.")
	_, err = AppendEvents(ctx, tx, []lianlu.Event{{ID: id, Source: CommandSource, Type: typ, Subject: HandoffSubject(h.ID),
		Department: h.ToDepartment, Actor: actor, Time: tx.now, Data: b}})
	return err
}

// FindRelatedHandoffsTx returns the unfinished handoffs about subject:
// those whose target or subject it is.
func FindRelatedHandoffsTx(ctx context.Context, tx *Tx, subject string) ([]lianlu.Handoff, error) {
	rows, err := tx.query(ctx, `SELECT `+handoffColumns+` FROM handoffs WHERE (target = ? OR subject = ?) AND status IN (?, ?) ORDER BY id`,
		subject, subject, lianlu.HandoffOpen, lianlu.HandoffPending)
	if err != nil {
		return nil, fmt.Errorf("find related handoffs: %w", err)
	}
	return collectHandoffs(rows)
}

// FindHandoffByIDTx reads one handoff in tx.
func FindHandoffByIDTx(ctx context.Context, tx *Tx, id int64) (lianlu.Handoff, error) {
	h, err := scanHandoff(tx.queryRow(ctx, `SELECT `+handoffColumns+` FROM handoffs WHERE id = ?`, id))
	if err != nil {
		return h, fmt.Errorf("handoff %d: %w", id, mapError(err))
	}
	return h, nil
}

// FindHandoffsBySubjectTx returns every handoff about subject.
func FindHandoffsBySubjectTx(ctx context.Context, tx *Tx, subject string) ([]lianlu.Handoff, error) {
	rows, err := tx.query(ctx, `SELECT `+handoffColumns+` FROM handoffs WHERE subject = ? ORDER BY id`, subject)
	if err != nil {
		return nil, fmt.Errorf("find handoffs: %w", err)
	}
	return collectHandoffs(rows)
}

// FindOverdueHandoffsTx returns unfinished, unbreached handoffs due before
// now, oldest first.
func FindOverdueHandoffsTx(ctx context.Context, tx *Tx, now time.Time, limit int) ([]lianlu.Handoff, error) {
	rows, err := tx.query(ctx, `SELECT `+handoffColumns+` FROM handoffs WHERE status IN (?, ?) AND breached_at IS NULL AND due_at < ? ORDER BY due_at LIMIT `+strconv.Itoa(limit),
		lianlu.HandoffOpen, lianlu.HandoffPending, tx.db.dialect.timeArg(now))
	if err != nil {
		return nil, fmt.Errorf("find overdue handoffs: %w", err)
	}
	return collectHandoffs(rows)
}

func collectHandoffs(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}) ([]lianlu.Handoff, error) {
	defer rows.Close()
	out := []lianlu.Handoff{}
	for rows.Next() {
		h, err := scanHandoff(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// FindHandoffByID returns a handoff.
func (s *HandoffService) FindHandoffByID(ctx context.Context, id int64) (lianlu.Handoff, error) {
	var h lianlu.Handoff
	err := s.db.readTx(ctx, func(tx *Tx) error {
		var err error
		h, err = FindHandoffByIDTx(ctx, tx, id)
		return err
	})
	return h, err
}

// FindHandoffs lists handoffs by id.
func (s *HandoffService) FindHandoffs(ctx context.Context, f lianlu.HandoffFilter) ([]lianlu.Handoff, error) {
	q := `SELECT ` + handoffColumns + ` FROM handoffs WHERE id > ?`
	args := []any{f.AfterID}
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if f.Department != "" {
		q += ` AND (from_department = ? OR to_department = ?)`
		args = append(args, f.Department, f.Department)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Breached != nil {
		if *f.Breached {
			q += ` AND breached_at IS NOT NULL`
		} else {
			q += ` AND breached_at IS NULL`
		}
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY id LIMIT `+strconv.Itoa(clampLimit(f.Limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("find handoffs: %w", err)
	}
	return collectHandoffs(rows)
}

// FindCalendarsTx returns the stored calendars by department.
func FindCalendarsTx(ctx context.Context, tx *Tx) (map[string]sla.Calendar, error) {
	rows, err := tx.query(ctx, `SELECT department, calendar FROM calendars`)
	if err != nil {
		return nil, fmt.Errorf("find calendars: %w", err)
	}
	defer rows.Close()
	out := map[string]sla.Calendar{}
	for rows.Next() {
		var dept string
		var b []byte
		if err := rows.Scan(&dept, &b); err != nil {
			return nil, err
		}
		var c sla.Calendar
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("decode calendar of %s: %w", dept, err)
		}
		out[dept] = c
	}
	return out, rows.Err()
}

// FindCalendars returns the stored calendars by department.
func (db *DB) FindCalendars(ctx context.Context) (map[string]sla.Calendar, error) {
	var out map[string]sla.Calendar
	err := db.readTx(ctx, func(tx *Tx) error {
		var err error
		out, err = FindCalendarsTx(ctx, tx)
		return err
	})
	return out, err
}

// SaveCalendar validates and stores a department's business calendar,
// audited. EINVALID for an unknown department or a bad calendar.
func (db *DB) SaveCalendar(ctx context.Context, department string, c sla.Calendar) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return db.WithTx(ctx, func(tx *Tx) error {
		ok, err := departmentExists(ctx, tx, department)
		if err != nil {
			return err
		} else if !ok {
			return lianlu.Invalid(lianlu.FieldError{Field: "department", Message: "unknown department"})
		}
		if _, err := tx.exec(ctx, `INSERT INTO calendars (department, calendar, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (department) DO UPDATE SET calendar = excluded.calendar, updated_at = excluded.updated_at`,
			department, string(b), tx.db.dialect.timeArg(tx.now)); err != nil {
			return fmt.Errorf("save calendar: %w", err)
		}
		return WriteAudit(ctx, tx, "calendar.updated", "calendar", department, department, nil)
	})
}

// StoredFlow is a flow definition's YAML with its version.
type StoredFlow struct {
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	YAML      string    `json:"yaml"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// FindStoredFlows returns every stored flow.
func (db *DB) FindStoredFlows(ctx context.Context) ([]StoredFlow, error) {
	rows, err := db.readQuery(ctx, `SELECT name, version, yaml, updated_at, updated_by FROM flows ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find flows: %w", err)
	}
	defer rows.Close()
	out := []StoredFlow{}
	for rows.Next() {
		var f StoredFlow
		if err := rows.Scan(&f.Name, &f.Version, &f.YAML, sqlTime{&f.UpdatedAt}, &f.UpdatedBy); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// SaveFlowYAML stores a new version of a flow when its YAML differs from
// the current one (callers validate first). With expectedVersion > 0 the
// save fails with ECONFLICT unless that is the current version (optimistic
// locking for editors). It returns the stored flow and whether it changed.
func (db *DB) SaveFlowYAML(ctx context.Context, name, yaml string, expectedVersion int) (StoredFlow, bool, error) {
	var out StoredFlow
	changed := false
	err := db.WithTx(ctx, func(tx *Tx) error {
		var cur StoredFlow
		err := tx.queryRow(ctx, `SELECT name, version, yaml, updated_at, updated_by FROM flows WHERE name = ?`, name).
			Scan(&cur.Name, &cur.Version, &cur.YAML, sqlTime{&cur.UpdatedAt}, &cur.UpdatedBy)
		exists := err == nil
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("find flow: %w", err)
		}
		if expectedVersion > 0 && (!exists || cur.Version != expectedVersion) {
			return lianlu.Errorf(lianlu.ECONFLICT, "flow %s is at version %d, not %d", name, cur.Version, expectedVersion)
		}
		if exists && cur.YAML == yaml {
			out = cur
			return nil
		}
		d := tx.db.dialect
		out = StoredFlow{Name: name, Version: cur.Version + 1, YAML: yaml, UpdatedAt: tx.now, UpdatedBy: actorOf(ctx)}
		if exists {
			_, err = tx.exec(ctx, `UPDATE flows SET version = ?, yaml = ?, updated_at = ?, updated_by = ? WHERE name = ?`,
				out.Version, yaml, d.timeArg(tx.now), out.UpdatedBy, name)
		} else {
			_, err = tx.exec(ctx, `INSERT INTO flows (name, version, yaml, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)`,
				name, out.Version, yaml, d.timeArg(tx.now), out.UpdatedBy)
		}
		if err != nil {
			return fmt.Errorf("save flow: %w", mapError(err))
		}
		if _, err := tx.exec(ctx, `INSERT INTO flow_versions (name, version, yaml, created_at, created_by) VALUES (?, ?, ?, ?, ?)`,
			name, out.Version, yaml, d.timeArg(tx.now), out.UpdatedBy); err != nil {
			return fmt.Errorf("save flow version: %w", err)
		}
		changed = true
		if _, err := appendCommandEvent(ctx, tx, "flow.updated", "flow/"+name, lianlu.DeptAdmin, "", map[string]any{"name": name, "version": out.Version}); err != nil {
			return err
		}
		return WriteAudit(ctx, tx, "flow.updated", "flow", name, lianlu.DeptAdmin, map[string]any{"version": out.Version})
	})
	return out, changed, err
}
