package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
)

type eventsData struct {
	Filter      url.Values
	Events      []lianlu.Event
	Sources     []lianlu.Source
	Departments []lianlu.Department
	SourceNames map[string]string
	Limit       int
}

// eventsLimit is how many events the live log shows.
const eventsLimit = 100

// handleEvents is the live event log with filters, and the collector
// sources. Non-admins see their own department's events, as in the API.
func (c *Console) handleEvents(w http.ResponseWriter, r *http.Request) error {
	s := sessionOf(r)
	q := r.URL.Query()
	p := s.principal()
	f := lianlu.EventFilter{TypePrefix: strings.TrimSpace(q.Get("type")), Source: strings.TrimSpace(q.Get("source")),
		Subject: strings.TrimSpace(q.Get("subject")), Limit: eventsLimit, Departments: access.EventDepartments(p)}
	dept := q.Get("department")
	if dept != "" && f.Departments == nil {
		f.Departments = []string{dept}
	}
	d := eventsData{Filter: url.Values{"type": {f.TypePrefix}, "source": {f.Source}, "subject": {f.Subject}, "department": {dept}}, Limit: eventsLimit}
	var err error
	if d.Events, err = c.cfg.Queries.LatestEvents(r.Context(), f); err != nil {
		return err
	}
	for i := range d.Events {
		d.Events[i] = access.EventFor(p, d.Events[i])
	}
	srcDept := ""
	if s.user.Role != lianlu.RoleAdmin {
		srcDept = s.user.Department
	}
	if d.Sources, err = c.cfg.Sources.FindSources(r.Context(), srcDept, 0, 200); err != nil {
		return err
	}
	if d.SourceNames, err = c.sourceNames(r); err != nil {
		return err
	}
	if d.Departments, err = c.cfg.Access.FindDepartments(r.Context()); err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "events", "events", true, d)
}
