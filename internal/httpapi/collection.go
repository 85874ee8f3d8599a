package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
)

// LastEventFinder finds when a source's latest event was stored
// (*sqlstore.EventService).
type LastEventFinder interface {
	// LastRecordedAt returns the recorded_at of the source's latest event,
	// nil when it has none.
	LastRecordedAt(ctx context.Context, source string) (*time.Time, error)
}

// collectionRoutes are the endpoints of tracking plans, violations and
// freshness of collector sources.
func (s *Server) collectionRoutes() []Route {
	return []Route{
		{Method: "PUT", Path: "/api/v1/sources/{id}/tracking-plan", handler: s.handlePutTrackingPlan, Auth: true, MinRole: lianlu.RoleManager},
		{Method: "GET", Path: "/api/v1/sources/{id}/tracking-plan", handler: s.handleGetTrackingPlan, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/sources/{id}/violations", handler: s.handleGetViolations, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/sources/{id}/freshness", handler: s.handleGetFreshness, Auth: true, MinRole: lianlu.RoleViewer},
	}
}

// trackingPlanInput is the body of PUT …/tracking-plan. allow_unplanned
// defaults to true: a plan that lists a few events does not refuse the
// others unless it says so.
type trackingPlanInput struct {
	Mode           string                     `json:"mode"`
	AllowUnplanned *bool                      `json:"allow_unplanned"`
	Events         map[string]json.RawMessage `json:"events"`
}

func (s *Server) plans() (PlanStore, error) {
	if s.cfg.Plans == nil {
		return nil, lianlu.Errorf(lianlu.EUNAVAILABLE, "tracking plans are not configured")
	}
	return s.cfg.Plans, nil
}

func (s *Server) handlePutTrackingPlan(w http.ResponseWriter, r *http.Request) error {
	plans, err := s.plans()
	if err != nil {
		return err
	}
	src, err := s.sourceFromPath(r)
	if err != nil {
		return err
	}
	var in trackingPlanInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p := lianlu.TrackingPlan{SourceID: src.ID, Mode: in.Mode, AllowUnplanned: in.AllowUnplanned == nil || *in.AllowUnplanned, Events: in.Events}
	p, err = plans.PutTrackingPlan(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleGetTrackingPlan(w http.ResponseWriter, r *http.Request) error {
	plans, err := s.plans()
	if err != nil {
		return err
	}
	src, err := s.sourceFromPath(r)
	if err != nil {
		return err
	}
	p, err := plans.FindTrackingPlan(r.Context(), src.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleGetViolations(w http.ResponseWriter, r *http.Request) error {
	plans, err := s.plans()
	if err != nil {
		return err
	}
	src, err := s.sourceFromPath(r)
	if err != nil {
		return err
	}
	event := r.URL.Query().Get("event")
	if len(event) > collect.MaxSegmentEventNameLen {
		return lianlu.Invalid(lianlu.FieldError{Field: "event", Message: "too long"})
	}
	items, err := plans.FindViolations(r.Context(), src.ID, event)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, List[lianlu.ViolationCount]{Items: items})
}

// freshnessView is the body of GET …/freshness. Durations are seconds.
type freshnessView struct {
	SourceID    int64      `json:"source_id"`
	LastEventAt *time.Time `json:"last_event_at"`
	// LastEventFrom says where last_event_at came from: "window" (this
	// process saw the event) or "database" (after a restart).
	LastEventFrom   string  `json:"last_event_from,omitempty"`
	WindowSeconds   float64 `json:"window_seconds"`
	WindowEvents    int64   `json:"window_events"`
	EventsPerMinute float64 `json:"events_per_minute"`
	LagP50Seconds   float64 `json:"lag_p50_seconds"`
	LagP95Seconds   float64 `json:"lag_p95_seconds"`
}

func (s *Server) handleGetFreshness(w http.ResponseWriter, r *http.Request) error {
	src, err := s.sourceFromPath(r)
	if err != nil {
		return err
	}
	name := collect.SegmentSourcePrefix + strconv.FormatInt(src.ID, 10)
	var f collect.SourceFreshness
	if s.cfg.Freshness != nil {
		f = s.cfg.Freshness.Source(name)
	}
	v := freshnessView{SourceID: src.ID, LastEventAt: f.LastEventAt, WindowSeconds: collect.FreshnessWindow.Seconds(),
		WindowEvents: f.WindowEvents, EventsPerMinute: f.EventsPerMinute, LagP50Seconds: f.LagP50.Seconds(), LagP95Seconds: f.LagP95.Seconds()}
	if v.LastEventAt != nil {
		v.LastEventFrom = "window"
	} else if s.cfg.LastEvents != nil {
		if v.LastEventAt, err = s.cfg.LastEvents.LastRecordedAt(r.Context(), name); err != nil {
			return err
		}
		if v.LastEventAt != nil {
			v.LastEventFrom = "database"
		}
	}
	return writeJSON(w, http.StatusOK, v)
}
