package httpapi

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
	"github.com/lianlu/lianlu/internal/sla"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/timeline"
)

// FlowStore reads and edits stored flows (flow.Service implements it).
type FlowStore interface {
	List(ctx context.Context) ([]sqlstore.StoredFlow, error)
	Get(ctx context.Context, name string) (sqlstore.StoredFlow, error)
	Put(ctx context.Context, name, yaml string, expectedVersion int) (sqlstore.StoredFlow, bool, error)
}

// CalendarStore keeps departments' business calendars (*sqlstore.DB).
type CalendarStore interface {
	FindCalendars(ctx context.Context) (map[string]sla.Calendar, error)
	SaveCalendar(ctx context.Context, department string, c sla.Calendar) error
}

// ---- feedback and backlog

type feedbackInput struct {
	Rating      int               `json:"rating"`
	ProblemType string            `json:"problem_type"`
	Text        string            `json:"text"`
	Order       int64             `json:"order"`
	Member      *lianlu.MemberRef `json:"member"`
	SKU         string            `json:"sku"`
}

func (s *Server) handlePostFeedback(w http.ResponseWriter, r *http.Request) error {
	// Feedback is what customers told the departments that deal with
	// them; it starts work in service's and product's queues.
	if err := requireDepartment(r, lianlu.FeedbackDepartments...); err != nil {
		return err
	}
	var in feedbackInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	f, err := s.cfg.Feedback.SubmitFeedback(r.Context(), lianlu.FeedbackInput{Rating: in.Rating, ProblemType: in.ProblemType, Text: in.Text,
		OrderID: in.Order, Member: in.Member, SKU: in.SKU})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, f)
}

// feedbackView is feedback with the handoffs of its loop.
type feedbackView struct {
	lianlu.Feedback
	Handoffs []lianlu.Handoff `json:"handoffs"`
}

func (s *Server) handleGetFeedback(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	f, err := s.cfg.Feedback.FindFeedbackByID(r.Context(), id)
	if err != nil {
		return err
	}
	hs, err := s.cfg.Handoffs.FindHandoffs(r.Context(), lianlu.HandoffFilter{Subject: sqlstore.FeedbackSubject(id), Limit: 1000})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, feedbackView{Feedback: f, Handoffs: hs})
}

func (s *Server) handleListFeedback(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	if status != "" && status != lianlu.FeedbackOpen && status != lianlu.FeedbackClosed {
		return lianlu.Invalid(lianlu.FieldError{Field: "status", Message: "open or closed"})
	}
	items, err := s.cfg.Feedback.FindFeedback(r.Context(), status, after, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(x lianlu.Feedback) int64 { return x.ID }))
}

func (s *Server) handleListBacklog(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "", lianlu.BacklogOpen, lianlu.BacklogTriaged, lianlu.BacklogDone:
	default:
		return lianlu.Invalid(lianlu.FieldError{Field: "status", Message: "open, triaged or done"})
	}
	items, err := s.cfg.Feedback.FindBacklogItems(r.Context(), status, after, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(x lianlu.BacklogItem) int64 { return x.ID }))
}

func (s *Server) handleGetBacklogItem(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	b, err := s.cfg.Feedback.FindBacklogItemByID(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, b)
}

type triageInput struct {
	Note string `json:"note"`
}

func (s *Server) handleTriageBacklogItem(w http.ResponseWriter, r *http.Request) error {
	if err := requireDepartment(r, lianlu.DeptProduct); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in triageInput
	if err := decodeOptionalJSON(r, &in); err != nil {
		return err
	}
	b, err := s.cfg.Feedback.TriageBacklogItem(r.Context(), id, in.Note)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, b)
}

// ---- handoffs

func (s *Server) handleListHandoffs(w http.ResponseWriter, r *http.Request) error {
	p, _ := lianlu.PrincipalFromContext(r.Context())
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := lianlu.HandoffFilter{Subject: q.Get("subject"), Department: q.Get("department"), Status: q.Get("status"), AfterID: after, Limit: limit}
	switch f.Status {
	case "", lianlu.HandoffPending, lianlu.HandoffOpen, lianlu.HandoffDone, lianlu.HandoffFailed, lianlu.HandoffCancelled:
	default:
		return lianlu.Invalid(lianlu.FieldError{Field: "status", Message: "pending, open, done, failed or cancelled"})
	}
	switch q.Get("breached") {
	case "":
	case "true", "false":
		b := q.Get("breached") == "true"
		f.Breached = &b
	default:
		return lianlu.Invalid(lianlu.FieldError{Field: "breached", Message: "true or false"})
	}
	if !p.IsAdmin() {
		if f.Department != "" && f.Department != p.Department {
			return lianlu.Errorf(lianlu.EFORBIDDEN, "a non-admin token sees only handoffs from or to its own department")
		}
		f.Department = p.Department
	}
	items, err := s.cfg.Handoffs.FindHandoffs(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(x lianlu.Handoff) int64 { return x.ID }))
}

func (s *Server) handleGetHandoff(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	h, err := s.cfg.Handoffs.FindHandoffByID(r.Context(), id)
	if err != nil {
		return err
	}
	if p, _ := lianlu.PrincipalFromContext(r.Context()); !access.SeesHandoff(p, h) {
		return lianlu.Errorf(lianlu.ENOTFOUND, "handoff %d not found", id)
	}
	return writeJSON(w, http.StatusOK, h)
}

// ---- timelines

// Timeline is the cross-department view of one object.
type Timeline = timeline.Timeline

// timeline gathers the history of subject as the caller may see it (see
// timeline.Build).
func (s *Server) timeline(ctx context.Context, subject string) (Timeline, error) {
	p, _ := lianlu.PrincipalFromContext(ctx)
	return timeline.Build(ctx, p, s.cfg.Events, s.cfg.Handoffs, subject)
}

func (s *Server) handleOrderTimeline(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Orders.FindOrderByID(r.Context(), id); err != nil {
		return err
	}
	tl, err := s.timeline(r.Context(), sqlstore.OrderSubject(id))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, tl)
}

func (s *Server) handleFeedbackTimeline(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Feedback.FindFeedbackByID(r.Context(), id); err != nil {
		return err
	}
	tl, err := s.timeline(r.Context(), sqlstore.FeedbackSubject(id))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, tl)
}

// ---- flows and calendars

func (s *Server) handleListFlows(w http.ResponseWriter, r *http.Request) error {
	fs, err := s.cfg.Flows.List(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, List[sqlstore.StoredFlow]{Items: fs})
}

func (s *Server) handleGetFlow(w http.ResponseWriter, r *http.Request) error {
	f, err := s.cfg.Flows.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Accept")); mt == "application/yaml" {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("ETag", strconv.Quote(strconv.Itoa(f.Version)))
		_, err := io.WriteString(w, f.YAML)
		return err
	}
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(f.Version)))
	return writeJSON(w, http.StatusOK, f)
}

// handlePutFlow stores a new version of a flow from a YAML body. If-Match
// with the version (the ETag) guards against overwriting another edit.
func (s *Server) handlePutFlow(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/yaml", "application/x-yaml", "text/yaml":
	default:
		return lianlu.Errorf(lianlu.EUNSUPPORTED, "Content-Type must be application/yaml")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	expected := 0
	if m := r.Header.Get("If-Match"); m != "" {
		v, err := strconv.Unquote(m)
		if err != nil {
			v = m
		}
		if expected, err = strconv.Atoi(v); err != nil || expected < 1 {
			return lianlu.Invalid(lianlu.FieldError{Field: "If-Match", Message: "the flow's version, as its ETag gives it"})
		}
	}
	f, changed, err := s.cfg.Flows.Put(r.Context(), r.PathValue("name"), string(body), expected)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(f.Version)))
	status := http.StatusOK
	if changed && f.Version == 1 {
		status = http.StatusCreated
	}
	return writeJSON(w, status, f)
}

// calendarView is a department's calendar and whether it is the default.
type calendarView struct {
	Department string       `json:"department"`
	Default    bool         `json:"default"`
	Calendar   sla.Calendar `json:"calendar"`
}

func (s *Server) handleGetCalendars(w http.ResponseWriter, r *http.Request) error {
	cals, err := s.cfg.Calendars.FindCalendars(r.Context())
	if err != nil {
		return err
	}
	depts, err := s.cfg.Access.FindDepartments(r.Context())
	if err != nil {
		return err
	}
	items := make([]calendarView, 0, len(depts))
	for _, d := range depts {
		c, ok := cals[d.ID]
		if !ok {
			c = sla.Default(d.ID, "Asia/Shanghai")
		}
		items = append(items, calendarView{Department: d.ID, Default: !ok, Calendar: c})
	}
	return writeJSON(w, http.StatusOK, List[calendarView]{Items: items})
}

func (s *Server) handlePutCalendar(w http.ResponseWriter, r *http.Request) error {
	dept := r.PathValue("department")
	if err := requireDepartment(r, dept); err != nil {
		return err
	}
	var c sla.Calendar
	if err := decodeJSON(r, &c); err != nil {
		return err
	}
	if c.Name == "" {
		c.Name = dept
	}
	if err := s.cfg.Calendars.SaveCalendar(r.Context(), dept, c); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, calendarView{Department: dept, Calendar: c})
}
