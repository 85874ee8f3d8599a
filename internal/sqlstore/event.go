package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lianlu/lianlu"
)

// Event list limits.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
)

// EventService implements lianlu.EventService.
type EventService struct {
	db *DB
}

// NewEventService returns the event log service of db.
func NewEventService(db *DB) *EventService { return &EventService{db: db} }

var _ lianlu.EventService = (*EventService)(nil)

// AppendEvents stores events in one transaction; see lianlu.EventService.
func (s *EventService) AppendEvents(ctx context.Context, events []lianlu.Event) ([]lianlu.AppendResult, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := AppendEvents(ctx, tx, events)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// ValidateEvent checks an event's envelope and fills defaults (Time). The
// returned field errors name fields with prefix.
func ValidateEvent(e *lianlu.Event, prefix string) []lianlu.FieldError {
	var errs []lianlu.FieldError
	bad := func(field, msg string) {
		errs = append(errs, lianlu.FieldError{Field: prefix + field, Message: msg})
	}
	text := func(field, v string, required bool, max int) {
		switch {
		case v == "" && required:
			bad(field, "required")
		case len(v) > max:
			bad(field, "longer than "+strconv.Itoa(max)+" bytes")
		case !utf8.ValidString(v):
			bad(field, "not valid UTF-8")
		case strings.ContainsRune(v, 0):
			bad(field, "contains a NUL character")
		}
	}
	if e.Source == lianlu.CommandSource && !lianlu.IsCommandOwnedType(e.Type) {
		// A command that writes a type outside the command namespaces
		// would let outside callers forge it: a programming error, caught
		// by every test that runs the command.
		bad("type", e.Type+" is written by a command but lies in no command namespace (lianlu.CommandNamespaces)")
	}
	text("id", e.ID, true, lianlu.MaxEventIDLen)
	text("source", e.Source, true, lianlu.MaxEventSourceLen)
	text("type", e.Type, true, lianlu.MaxEventTypeLen)
	text("subject", e.Subject, false, lianlu.MaxEventSubjectLen)
	text("department", e.Department, true, lianlu.MaxEventAttrLen)
	text("actor", e.Actor, false, lianlu.MaxEventAttrLen)
	text("claimed_actor", e.ClaimedActor, false, lianlu.MaxEventAttrLen)
	text("correlation_id", e.CorrelationID, false, lianlu.MaxEventAttrLen)
	text("causation_id", e.CausationID, false, lianlu.MaxEventAttrLen)
	text("dataschema", e.DataSchema, false, lianlu.MaxEventSourceLen)
	if e.Data != nil && !json.Valid(e.Data) {
		bad("data", "not valid JSON")
	} else if hasEscapedNUL(e.Data) {
		// PostgreSQL's jsonb cannot hold U+0000; refuse it on both
		// dialects so that behaviour is the same.
		bad("data", `contains \u0000, which cannot be stored`)
	}
	if !e.Time.IsZero() && (e.Time.Year() < 1 || e.Time.Year() > 9999) {
		bad("time", "out of range")
	}
	return errs
}

// hasEscapedNUL reports whether JSON text contains the escape \u0000 (an
// escape, not an escaped backslash followed by "u0000").
func hasEscapedNUL(b []byte) bool {
	for i := 0; i+6 <= len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if string(b[i+1:i+6]) == "u0000" {
			return true
		}
		i++ // skip the escaped character
	}
	return false
}

// AppendEvents stores events in the caller's transaction, so that a command
// writes its state and its events atomically. For each event whose
// (Source, ID) already exists, the stored event is returned, marked
// Duplicate, and nothing is written. Events without Time get the
// transaction's time.
func AppendEvents(ctx context.Context, tx *Tx, events []lianlu.Event) ([]lianlu.AppendResult, error) {
	if len(events) == 0 {
		return nil, nil
	}
	var errs []lianlu.FieldError
	for i := range events {
		prefix := ""
		if len(events) > 1 {
			prefix = "[" + strconv.Itoa(i) + "]."
		}
		errs = append(errs, ValidateEvent(&events[i], prefix)...)
	}
	if len(errs) > 0 {
		return nil, lianlu.Invalid(errs...)
	}
	return appendValidated(ctx, tx, events)
}

// appendValidated is AppendEvents for events that passed ValidateEvent
// already (the group-commit appender checks each request before it joins
// a group; checking again would cost a second JSON scan of every event).
func appendValidated(ctx context.Context, tx *Tx, events []lianlu.Event) ([]lianlu.AppendResult, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if err := tx.db.dialect.lockAppend(ctx, tx); err != nil {
		return nil, err
	}

	results := make([]lianlu.AppendResult, len(events))
	for i, e := range events {
		e.Seq = 0
		e.RecordedAt = tx.now
		if e.Time.IsZero() {
			e.Time = tx.now
		}
		e.Time = e.Time.UTC().Truncate(time.Microsecond)
		results[i].Event = e
	}

	if tx.db.dialect.name() == "sqlite" {
		if err := insertEventsSQLite(ctx, tx, results); err != nil {
			return nil, err
		}
		tx.recordAppended(results)
		return results, nil
	}
	chunk := min(500, tx.db.dialect.maxParams()/insertEventColumnCount)
	for start := 0; start < len(results); start += chunk {
		end := min(start+chunk, len(results))
		if err := insertEvents(ctx, tx, results[start:end]); err != nil {
			return nil, err
		}
	}
	tx.recordAppended(results)
	return results, nil
}

// recordAppended counts the new events of results and keeps their heads
// for the ring that subscriptions look at after the commit.
func (tx *Tx) recordAppended(results []lianlu.AppendResult) {
	for _, r := range results {
		if !r.Duplicate {
			tx.appended++
			tx.heads = append(tx.heads, lianlu.Event{Seq: r.Event.Seq, Type: r.Event.Type, Department: r.Event.Department})
		}
	}
}

type eventKey struct{ source, id string }

// eventArgs returns the INSERT arguments of one event, in the column order
// of insertEventColumns.
func eventArgs(d dialect, e lianlu.Event) []any {
	return []any{e.ID, e.Source, e.Type, nullString(e.Subject), d.timeArg(e.Time), d.timeArg(e.RecordedAt),
		e.Department, nullString(e.Actor), nullString(e.CorrelationID), nullString(e.CausationID),
		nullString(e.DataSchema), jsonArg(e.Data), nullString(e.ClaimedActor)}
}

const insertEventColumns = `id, source, type, subject, time, recorded_at, department, actor, correlation_id, causation_id, dataschema, data, claimed_actor`

// insertEventColumnCount is the number of insertEventColumns.
const insertEventColumnCount = 13

// insertEventRow is the VALUES row of one event.
var insertEventRow = "(" + strings.TrimSuffix(strings.Repeat("?, ", insertEventColumnCount), ", ") + ")"

// insertEvents inserts one chunk with a multi-row INSERT … ON CONFLICT DO
// NOTHING RETURNING; the keys not returned were duplicates, whose stored
// events are then read back.
func insertEvents(ctx context.Context, tx *Tx, rs []lianlu.AppendResult) error {
	d := tx.db.dialect
	var b strings.Builder
	b.WriteString(`INSERT INTO events (` + insertEventColumns + `) VALUES `)
	args := make([]any, 0, len(rs)*insertEventColumnCount)
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(insertEventRow)
		args = append(args, eventArgs(d, r.Event)...)
	}
	b.WriteString(` ON CONFLICT (source, id) DO NOTHING RETURNING seq, source, id`)
	rows, err := tx.query(ctx, b.String(), args...)
	if err != nil {
		return fmt.Errorf("insert events: %w", mapInsertError(err))
	}
	defer rows.Close()
	inserted := make(map[eventKey]int64, len(rs))
	for rows.Next() {
		var seq int64
		var k eventKey
		if err := rows.Scan(&seq, &k.source, &k.id); err != nil {
			return fmt.Errorf("scan inserted event: %w", err)
		}
		inserted[k] = seq
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("insert events: %w", mapInsertError(err))
	}
	rows.Close()

	claimed := make(map[eventKey]bool, len(inserted))
	for i := range rs {
		k := eventKey{rs[i].Event.Source, rs[i].Event.ID}
		if seq, ok := inserted[k]; ok && !claimed[k] {
			// The first occurrence in the batch is the one stored.
			claimed[k] = true
			rs[i].Event.Seq = seq
			continue
		}
		if seq, ok := inserted[k]; ok {
			// A repeat within the same batch: the same stored event.
			rs[i] = lianlu.AppendResult{Event: rs[firstIndex(rs, k)].Event, Duplicate: true}
			rs[i].Event.Seq = seq
			continue
		}
		stored, err := findEventByKey(ctx, tx, k)
		if err != nil {
			return err
		}
		rs[i] = lianlu.AppendResult{Event: stored, Duplicate: true}
	}
	return nil
}

func firstIndex(rs []lianlu.AppendResult, k eventKey) int {
	for i := range rs {
		if rs[i].Event.Source == k.source && rs[i].Event.ID == k.id {
			return i
		}
	}
	return -1
}

// mapInsertError reports an unknown department as invalid input rather than
// an internal error.
func mapInsertError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "FOREIGN KEY") || strings.Contains(msg, "foreign key") {
		return lianlu.Invalid(lianlu.FieldError{Field: "department", Message: "unknown department"})
	}
	return err
}

const eventColumns = `seq, id, source, type, subject, time, recorded_at, department, actor, correlation_id, causation_id, dataschema, data, claimed_actor`

type rowScanner interface{ Scan(dest ...any) error }

func scanEvent(r rowScanner) (lianlu.Event, error) {
	var e lianlu.Event
	var subject, actor, corr, cause, schema, claimed *string
	var data []byte
	err := r.Scan(&e.Seq, &e.ID, &e.Source, &e.Type, &subject, sqlTime{&e.Time}, sqlTime{&e.RecordedAt},
		&e.Department, &actor, &corr, &cause, &schema, &data, &claimed)
	if err != nil {
		return e, err
	}
	e.Subject, e.Actor, e.CorrelationID, e.CausationID, e.DataSchema = deref(subject), deref(actor), deref(corr), deref(cause), deref(schema)
	e.ClaimedActor = deref(claimed)
	if data != nil {
		e.Data = json.RawMessage(data)
	}
	return e, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func findEventByKey(ctx context.Context, tx *Tx, k eventKey) (lianlu.Event, error) {
	e, err := scanEvent(tx.queryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE source = ? AND id = ?`, k.source, k.id))
	if err != nil {
		return e, fmt.Errorf("find event %s/%s: %w", k.source, k.id, mapError(err))
	}
	return e, nil
}

// FindEventBySeq returns the event at seq.
func (s *EventService) FindEventBySeq(ctx context.Context, seq int64) (lianlu.Event, error) {
	e, err := scanEvent(s.db.readRow(ctx, `SELECT `+eventColumns+` FROM events WHERE seq = ?`, seq))
	if err != nil {
		return e, fmt.Errorf("find event %d: %w", seq, mapError(err))
	}
	return e, nil
}

// FindEventBySeqTx reads the event at seq in tx, or ENOTFOUND.
func FindEventBySeqTx(ctx context.Context, tx *Tx, seq int64) (lianlu.Event, error) {
	e, err := scanEvent(tx.queryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE seq = ?`, seq))
	if err != nil {
		return e, fmt.Errorf("find event %d: %w", seq, mapError(err))
	}
	return e, nil
}

// MaxSeq returns the highest committed seq.
func (s *EventService) MaxSeq(ctx context.Context) (int64, error) {
	var n *int64
	if err := s.db.readRow(ctx, `SELECT MAX(seq) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("max seq: %w", err)
	}
	if n == nil {
		return 0, nil
	}
	return *n, nil
}

// FindEvents returns events matching filter in seq order.
func (s *EventService) FindEvents(ctx context.Context, filter lianlu.EventFilter) ([]lianlu.Event, error) {
	query, args := buildEventQuery(s.db.dialect, filter)
	rows, err := s.db.readQuery(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	return collectEvents(rows)
}

// findEventsTx reads events inside a transaction (used by consumers so that
// they read and commit their position atomically).
func findEventsTx(ctx context.Context, tx *Tx, filter lianlu.EventFilter) ([]lianlu.Event, error) {
	query, args := buildEventQuery(tx.db.dialect, filter)
	rows, err := tx.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	return collectEvents(rows)
}

func collectEvents(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}) ([]lianlu.Event, error) {
	defer rows.Close()
	events := []lianlu.Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return events, nil
}

// buildEventQuery turns a filter into SQL. Every filter is an index prefix
// or a residual predicate on a seq-ordered scan.
func buildEventQuery(d dialect, f lianlu.EventFilter) (string, []any) {
	return eventQuery(d, f, eventColumns, "seq")
}

// eventQuery is buildEventQuery with the columns and the ORDER BY given
// (callers pass constants).
func eventQuery(d dialect, f lianlu.EventFilter, columns, order string) (string, []any) {
	var where []string
	var args []any
	where = append(where, "seq > ?")
	args = append(args, f.AfterSeq)
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		where = append(where, col+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ")+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("type", f.Types)
	in("department", f.Departments)
	if f.TypePrefix != "" {
		// Range rather than LIKE: no escaping, and it uses the type index.
		where = append(where, "type >= ? AND type < ?")
		args = append(args, f.TypePrefix, f.TypePrefix+"\U0010FFFF")
	}
	if f.Subject != "" {
		where = append(where, "subject = ?")
		args = append(args, f.Subject)
	}
	if f.Source != "" {
		where = append(where, "source = ?")
		args = append(args, f.Source)
	}
	if !f.From.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, d.timeArg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "time < ?")
		args = append(args, d.timeArg(f.To))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultEventLimit
	}
	limit = min(limit, MaxEventLimit)
	return `SELECT ` + columns + ` FROM events WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY ` + order + ` LIMIT ` + strconv.Itoa(limit), args
}

// LastRecordedAt returns when the source's latest event was stored, nil
// when it has none. It reads the (source, id) index for the source's
// highest seq, then that one row: the freshness endpoint's fallback after
// a restart, not a hot path.
func (s *EventService) LastRecordedAt(ctx context.Context, source string) (*time.Time, error) {
	var at *time.Time
	err := s.db.readRow(ctx, `SELECT recorded_at FROM events WHERE seq = (SELECT MAX(seq) FROM events WHERE source = ?)`, source).Scan(nullTime{&at})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last event of %s: %w", source, err)
	}
	return at, nil
}
