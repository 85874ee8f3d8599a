package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
	"github.com/lianlu/lianlu/internal/collect"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// appendedItem reports one event of a POST /api/v1/events.
type appendedItem struct {
	// Seq is the stored event's position; absent for a duplicate of an
	// event the caller's department may not read, of which the answer
	// tells nothing.
	Seq       int64  `json:"seq,omitempty"`
	ID        string `json:"id"`
	Source    string `json:"source"`
	Duplicate bool   `json:"duplicate"`
	// Effects names what a new business event's command touched, such as
	// "order/12" (see docs/events.md).
	Effects []string `json:"effects,omitempty"`
}

// Ingester stores events and runs the commands of business events in the
// same transaction (*sqlstore.IntakeService).
type Ingester interface {
	Ingest(ctx context.Context, events []lianlu.Event) ([]sqlstore.IngestResult, error)
}

// handlePostEvents accepts CloudEvents in structured, binary and batch
// mode. 201 when anything new was stored, 200 when every event was a
// duplicate.
func (s *Server) handlePostEvents(w http.ResponseWriter, r *http.Request) error {
	p, _ := lianlu.PrincipalFromContext(r.Context())
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	events, err := collect.DecodeCloudEvents(r.Header, body, collect.CloudEventsOptions{MaxEvents: s.cfg.MaxBatchEvents})
	if err != nil {
		return err
	}
	if err := CheckIntake(events, p, s.now()); err != nil {
		return err
	}
	results, err := s.ingest(r.Context(), events)
	if err != nil {
		return err
	}
	items := make([]appendedItem, len(results))
	status := http.StatusOK
	for i, res := range results {
		items[i] = appendedItem{Seq: res.Event.Seq, ID: events[i].ID, Source: events[i].Source, Duplicate: res.Duplicate, Effects: res.Effects}
		if res.Duplicate && !p.IsAdmin() && res.Event.Department != p.Department {
			// Another department's event holds the id: say no more than
			// that it is taken.
			items[i].Seq, items[i].Effects = 0, nil
		}
		if !res.Duplicate {
			status = http.StatusCreated
		}
	}
	return writeJSON(w, status, List[appendedItem]{Items: items})
}

// ingest stores events through the Intake; a server configured without
// one stores plain events and refuses business events, whose commands it
// cannot run.
func (s *Server) ingest(ctx context.Context, events []lianlu.Event) ([]sqlstore.IngestResult, error) {
	if s.cfg.Intake != nil {
		return s.cfg.Intake.Ingest(ctx, events)
	}
	for _, e := range events {
		if collect.IsBusinessType(e.Type) {
			return nil, lianlu.Errorf(lianlu.EUNAVAILABLE, "business event intake is not configured")
		}
	}
	res, err := s.cfg.Events.AppendEvents(ctx, events)
	if err != nil {
		return nil, err
	}
	out := make([]sqlstore.IngestResult, len(res))
	for i, r := range res {
		out[i].AppendResult = r
	}
	return out, nil
}

// CheckIntake applies the intake's rules to events sent from outside
// Lianlu, in place, for POST /api/v1/events and `lianlu import` alike:
//
//   - the trust boundary of the log (lianlu.OutsideEventViolation): no
//     event with Lianlu's own source, the collector's, or a type in their
//     namespaces, whoever the caller is, admin included (EFORBIDDEN naming
//     "source" or "type" and the rule);
//   - departments: a non-admin sends only its own department's events
//     (EFORBIDDEN naming "department"); a standard business event only of
//     a department whose fact it is, admin included (EFORBIDDEN naming
//     "type"); an admin's business event without a department is left
//     without one for the mapping to give it the owner's (see
//     sqlstore.IngestTx); other events without one get the caller's;
//   - the actor is the caller's (p.Actor()); what the event said is kept
//     as ClaimedActor;
//   - the event time, when given, is within the window around now
//     (lianlu.EventTimeProblem; EINVALID naming "time");
//   - business events' data matches their schemas (EINVALID naming the
//     field below "data").
//
// In a batch, fields are prefixed with the event's index ("[3].type").
// Forbidden events are reported before invalid ones.
func CheckIntake(events []lianlu.Event, p lianlu.Principal, now time.Time) error {
	var forbidden, invalid []lianlu.FieldError
	for i := range events {
		e := &events[i]
		prefix := ""
		if len(events) > 1 {
			prefix = "[" + strconv.Itoa(i) + "]."
		}
		if field, rule, msg := lianlu.OutsideEventViolation(*e); field != "" {
			forbidden = append(forbidden, lianlu.FieldError{Field: prefix + field, Message: rule + ": " + msg})
			continue
		}
		owners := lianlu.BusinessEventDepartments(e.Type)
		switch {
		case e.Department == "" && owners != nil && p.IsAdmin() && !slices.Contains(owners, p.Department):
			// The mapping gives it the department whose fact it is.
		case e.Department == "":
			e.Department = p.Department
		case e.Department != p.Department && !p.IsAdmin():
			forbidden = append(forbidden, lianlu.FieldError{Field: prefix + "department", Message: "a " + string(p.Role) + " token of " + p.Department + " may only send its own department's events"})
			continue
		}
		if owners != nil && e.Department != "" && !slices.Contains(owners, e.Department) {
			forbidden = append(forbidden, lianlu.FieldError{Field: prefix + "type", Message: e.Type + " events are sent by " + strings.Join(owners, " or ")})
			continue
		}
		if e.Actor != "" && e.ClaimedActor == "" {
			e.ClaimedActor = e.Actor
		}
		e.Actor = p.Actor()
		if !e.Time.IsZero() {
			if problem := lianlu.EventTimeProblem(e.Time, now); problem != "" {
				invalid = append(invalid, lianlu.FieldError{Field: prefix + "time", Message: problem})
			}
		}
		invalid = append(invalid, collect.ValidateBusinessEvent(*e, prefix)...)
	}
	if len(forbidden) > 0 {
		msg := forbidden[0].Field + ": " + forbidden[0].Message
		if len(forbidden) > 1 {
			msg = fmt.Sprintf("%d events may not be sent; first %s", len(forbidden), msg)
		}
		return &lianlu.Error{Code: lianlu.EFORBIDDEN, Message: msg, Fields: forbidden}
	}
	if len(invalid) > 0 {
		return lianlu.Invalid(invalid...)
	}
	return nil
}

// eventFilterFromQuery reads the shared filters of /events and /stream and
// restricts non-admin callers to their own department.
func eventFilterFromQuery(q url.Values, p lianlu.Principal) (lianlu.EventFilter, error) {
	var f lianlu.EventFilter
	var errs []lianlu.FieldError
	for _, key := range []string{"after", "cursor"} {
		if v := q.Get(key); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				errs = append(errs, lianlu.FieldError{Field: key, Message: "must be a non-negative integer seq"})
			}
			f.AfterSeq = max(f.AfterSeq, n)
		}
	}
	for _, v := range q["type"] {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				f.Types = append(f.Types, t)
			}
		}
	}
	if len(f.Types) > 50 {
		errs = append(errs, lianlu.FieldError{Field: "type", Message: "at most 50 types"})
	}
	f.TypePrefix = q.Get("type_prefix")
	f.Subject = q.Get("subject")
	f.Source = q.Get("source")
	for _, key := range []string{"from", "to"} {
		if v := q.Get(key); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				errs = append(errs, lianlu.FieldError{Field: key, Message: "must be an RFC 3339 time"})
			}
			if key == "from" {
				f.From = t
			} else {
				f.To = t
			}
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			errs = append(errs, lianlu.FieldError{Field: "limit", Message: "must be between 1 and 1000"})
		}
		f.Limit = n
	}
	if len(errs) > 0 {
		return f, lianlu.Invalid(errs...)
	}
	f.Departments = access.EventDepartments(p)
	if dept := q.Get("department"); dept != "" {
		if f.Departments != nil && !slices.Contains(f.Departments, dept) {
			return f, lianlu.Errorf(lianlu.EFORBIDDEN, "a non-admin token reads only its own department's events")
		}
		f.Departments = []string{dept}
	}
	return f, nil
}

func (s *Server) handleGetEvents(w http.ResponseWriter, r *http.Request) error {
	p, _ := lianlu.PrincipalFromContext(r.Context())
	f, err := eventFilterFromQuery(r.URL.Query(), p)
	if err != nil {
		return err
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	events, err := s.cfg.Events.FindEvents(r.Context(), f)
	if err != nil {
		return err
	}
	for i := range events {
		events[i] = access.EventFor(p, events[i])
	}
	return writeJSON(w, http.StatusOK, pageByID(events, f.Limit, func(e lianlu.Event) int64 { return e.Seq }))
}

func (s *Server) handleGetEvent(w http.ResponseWriter, r *http.Request) error {
	p, _ := lianlu.PrincipalFromContext(r.Context())
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		return lianlu.Invalid(lianlu.FieldError{Field: "seq", Message: "must be a positive integer"})
	}
	e, err := s.cfg.Events.FindEventBySeq(r.Context(), seq)
	if err != nil {
		return err
	}
	if !access.SeesEvent(p, e) {
		// Not 403: do not reveal that the event exists.
		return lianlu.Errorf(lianlu.ENOTFOUND, "event %d not found", seq)
	}
	return writeJSON(w, http.StatusOK, access.EventFor(p, e))
}

// handleStream is a Server-Sent Events feed of new events with the filters
// of GET /api/v1/events. Each message's id is the event's seq, so a client
// resumes with Last-Event-ID; without it the feed starts at the log's head
// (or at ?after=).
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) error {
	p, _ := lianlu.PrincipalFromContext(r.Context())
	q := r.URL.Query()
	f, err := eventFilterFromQuery(q, p)
	if err != nil {
		return err
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n < 0 {
			return lianlu.Invalid(lianlu.FieldError{Field: "Last-Event-ID", Message: "must be a seq"})
		}
		f.AfterSeq = n
	} else if q.Get("after") == "" && q.Get("cursor") == "" {
		head, err := s.cfg.Events.MaxSeq(r.Context())
		if err != nil {
			return err
		}
		f.AfterSeq = head
	}
	f.Limit = 500
	rc := http.NewResponseController(w)
	// Streams outlive the server's write timeout.
	rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\n\n")
	if err := rc.Flush(); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		wake := s.cfg.Store.Appended()
		events, err := s.cfg.Events.FindEvents(r.Context(), f)
		if err != nil {
			if r.Context().Err() == nil {
				s.logger.ErrorContext(r.Context(), "stream read", "error", err)
			}
			return nil // headers are sent; the client reconnects
		}
		for _, e := range events {
			b, _ := json.Marshal(access.EventFor(p, e))
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, b)
			f.AfterSeq = e.Seq
		}
		if len(events) > 0 {
			if err := rc.Flush(); err != nil {
				return nil
			}
		}
		if len(events) == f.Limit {
			continue
		}
		poll := time.NewTimer(s.cfg.PollInterval)
		select {
		case <-r.Context().Done():
			poll.Stop()
			return nil
		case <-s.closing:
			poll.Stop()
			return nil
		case <-wake:
		case <-poll.C:
		case <-heartbeat.C:
			fmt.Fprintf(w, ": keep-alive\n\n")
			if err := rc.Flush(); err != nil {
				poll.Stop()
				return nil
			}
		}
		poll.Stop()
	}
}
