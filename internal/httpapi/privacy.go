package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/lianlu/lianlu"
)

// privacyRoutes are the endpoints of members' consent and
// personal-information rights (docs/privacy.md). Requests are recorded by
// the departments that see members' contact details; they are handled —
// export, correction, erasure, completion or refusal — by managers of the
// privacy department (service) and by admins.
func (s *Server) privacyRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/api/v1/members/{id}/consents", handler: s.handlePostConsent, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "POST", Path: "/api/v1/members/{id}/privacy-requests", handler: s.handlePostPrivacyRequest, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/members/{id}/export", handler: s.handleExportMember, Auth: true, MinRole: lianlu.RoleManager},
		{Method: "POST", Path: "/api/v1/members/{id}/correct", handler: s.handleCorrectMember, Auth: true, MinRole: lianlu.RoleManager},
		{Method: "POST", Path: "/api/v1/members/{id}/erase", handler: s.handleEraseMember, Auth: true, MinRole: lianlu.RoleManager},
		{Method: "GET", Path: "/api/v1/privacy-requests", handler: s.handleListPrivacyRequests, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/privacy-requests/{id}", handler: s.handleGetPrivacyRequest, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/privacy-requests/{id}/complete", handler: s.handleCompletePrivacyRequest, Auth: true, MinRole: lianlu.RoleManager},
		{Method: "POST", Path: "/api/v1/privacy-requests/{id}/refuse", handler: s.handleRefusePrivacyRequest, Auth: true, MinRole: lianlu.RoleManager},
	}
}

func (s *Server) privacy() (lianlu.PrivacyService, error) {
	if s.cfg.Privacy == nil {
		return nil, lianlu.Errorf(lianlu.EUNAVAILABLE, "personal-information requests are not configured")
	}
	return s.cfg.Privacy, nil
}

// requirePrivacyOfficer allows the privacy department and the admin
// department (the route asks for managers) and admins.
func requirePrivacyOfficer(r *http.Request) error {
	return requireDepartment(r, lianlu.PrivacyDepartment, lianlu.DeptAdmin)
}

// ConsentInput is the body of POST /api/v1/members/{id}/consents.
type ConsentInput struct {
	// Purpose defaults to marketing.
	Purpose string `json:"purpose"`
	// Granted is required: true records the yes the member gave
	// explicitly, false her no or her withdrawal.
	Granted *bool  `json:"granted"`
	Channel string `json:"channel"`
	Store   string `json:"store"`
}

func (s *Server) handlePostConsent(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.members()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in ConsentInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Granted == nil {
		return lianlu.Invalid(lianlu.FieldError{Field: "granted", Message: "required: true for the yes she gave, false for her no or withdrawal"})
	}
	// Anyone who speaks with members records a withdrawal (marketing
	// handles unsubscribes); a yes only the departments that see them.
	depts := lianlu.PIIDepartments
	if !*in.Granted {
		depts = append([]string{lianlu.DeptMarketing}, depts...)
	}
	if err := requireDepartment(r, depts...); err != nil {
		return err
	}
	m, err := ms.SetConsent(r.Context(), id, lianlu.Consent{Purpose: in.Purpose, Granted: *in.Granted, Channel: in.Channel, Store: in.Store})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, forCaller(r, m))
}

func (s *Server) handlePostPrivacyRequest(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.privacy()
	if err != nil {
		return err
	}
	if err := requirePII(r); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in lianlu.PrivacyRequestInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p, err := ps.RecordPrivacyRequest(r.Context(), id, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/privacy-requests/"+strconv.FormatInt(p.ID, 10))
	return writeJSON(w, http.StatusCreated, p)
}

func (s *Server) handleExportMember(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.privacy()
	if err != nil {
		return err
	}
	if err := requirePrivacyOfficer(r); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	x, err := ps.ExportMember(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="member-`+strconv.FormatInt(x.Member.ID, 10)+`.json"`)
	return writeJSON(w, http.StatusOK, x)
}

func (s *Server) handleCorrectMember(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.privacy()
	if err != nil {
		return err
	}
	if err := requirePrivacyOfficer(r); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in lianlu.MemberCorrection
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	m, err := ps.CorrectMember(r.Context(), id, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

func (s *Server) handleEraseMember(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.privacy()
	if err != nil {
		return err
	}
	if err := requirePrivacyOfficer(r); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rep, err := ps.EraseMember(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

func (s *Server) handleListPrivacyRequests(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.privacy()
	if err != nil {
		return err
	}
	if err := requirePII(r); err != nil {
		return err
	}
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	member, err := queryInt64(r, "member")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := lianlu.PrivacyRequestFilter{MemberID: member, Status: q.Get("status"), Kind: q.Get("kind"), AfterID: after, Limit: limit}
	switch f.Status {
	case "", lianlu.PrivacyOpen, lianlu.PrivacyCompleted, lianlu.PrivacyRefused:
	default:
		return lianlu.Invalid(lianlu.FieldError{Field: "status", Message: "open, completed or refused"})
	}
	if f.Kind != "" && !slices.Contains(lianlu.PrivacyRequestKinds, f.Kind) {
		return lianlu.Invalid(lianlu.FieldError{Field: "kind", Message: "one of " + strings.Join(lianlu.PrivacyRequestKinds, ", ")})
	}
	items, err := ps.FindPrivacyRequests(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(p lianlu.PrivacyRequest) int64 { return p.ID }))
}

func (s *Server) handleGetPrivacyRequest(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.privacy()
	if err != nil {
		return err
	}
	if err := requirePII(r); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p, err := ps.FindPrivacyRequestByID(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// PrivacyCloseInput is the body of completing (resolution, optional) or
// refusing (reason, required) a request.
type PrivacyCloseInput struct {
	Resolution string `json:"resolution,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

func (s *Server) closePrivacyRequest(w http.ResponseWriter, r *http.Request, refuse bool) error {
	ps, err := s.privacy()
	if err != nil {
		return err
	}
	if err := requirePrivacyOfficer(r); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in PrivacyCloseInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var p lianlu.PrivacyRequest
	if refuse {
		if in.Resolution != "" {
			return lianlu.Invalid(lianlu.FieldError{Field: "resolution", Message: "a refusal gives its reason in reason"})
		}
		p, err = ps.RefusePrivacyRequest(r.Context(), id, in.Reason)
	} else {
		if in.Reason != "" {
			return lianlu.Invalid(lianlu.FieldError{Field: "reason", Message: "only a refusal has a reason; say what was done in resolution"})
		}
		p, err = ps.CompletePrivacyRequest(r.Context(), id, in.Resolution)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleCompletePrivacyRequest(w http.ResponseWriter, r *http.Request) error {
	return s.closePrivacyRequest(w, r, false)
}

func (s *Server) handleRefusePrivacyRequest(w http.ResponseWriter, r *http.Request) error {
	return s.closePrivacyRequest(w, r, true)
}
