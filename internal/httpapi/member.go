package httpapi

import (
	"net/http"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
)

// memberRoutes are the member, identity and tier endpoints.
func (s *Server) memberRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/members", handler: s.handleFindMembers, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/members/{id}", handler: s.handleGetMember, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "PATCH", Path: "/api/v1/members/{id}", handler: s.handlePatchMember, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/members/{id}/timeline", handler: s.handleMemberTimeline, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/members/{id}/identities", handler: s.handleAddIdentity, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "POST", Path: "/api/v1/members/{id}/merge", handler: s.handleMergeMember, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/identity-conflicts", handler: s.handleListConflicts, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/identity-conflicts/{id}/dismiss", handler: s.handleDismissConflict, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/member-tiers", handler: s.handleListTiers, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "PUT", Path: "/api/v1/member-tiers/{tier}", handler: s.handlePutTier, Auth: true, MinRole: lianlu.RoleManager},
	}
}

func (s *Server) members() (lianlu.MemberService, error) {
	if s.cfg.Members == nil {
		return nil, lianlu.Errorf(lianlu.EUNAVAILABLE, "members are not configured")
	}
	return s.cfg.Members, nil
}

// requirePII allows the departments that see members' contact details.
func requirePII(r *http.Request) error {
	return requireDepartment(r, lianlu.PIIDepartments...)
}

// forCaller masks a member's PII unless the caller's department may see
// it (access.MemberFor).
func forCaller(r *http.Request, m lianlu.Member) lianlu.Member {
	p, _ := lianlu.PrincipalFromContext(r.Context())
	return access.MemberFor(p, m)
}

// handleFindMembers finds the member holding an identity: ?phone=,
// ?email=, or ?kind=&value= (and namespace= for external ids).
func (s *Server) handleFindMembers(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.members()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	kind, ns, value := q.Get("kind"), q.Get("namespace"), q.Get("value")
	switch {
	case q.Get("phone") != "":
		kind, value = lianlu.IdentityPhone, q.Get("phone")
	case q.Get("email") != "":
		kind, value = lianlu.IdentityEmail, q.Get("email")
	case kind == "" || value == "":
		return lianlu.Invalid(lianlu.FieldError{Field: "phone", Message: "give phone, email, or kind and value"})
	}
	if p, _ := lianlu.PrincipalFromContext(r.Context()); !access.MayFindBy(p, kind) {
		return lianlu.Errorf(lianlu.EFORBIDDEN, "only departments that see members' contact details may find members by %s", kind)
	}
	items := []lianlu.Member{}
	m, err := ms.FindMemberByIdentity(r.Context(), kind, ns, value)
	switch {
	case err == nil:
		items = append(items, forCaller(r, m))
	case lianlu.ErrorCode(err) != lianlu.ENOTFOUND:
		return err
	}
	return writeJSON(w, http.StatusOK, List[lianlu.Member]{Items: items})
}

func (s *Server) handleGetMember(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.members()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	m, err := ms.FindMemberByID(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, forCaller(r, m))
}

func (s *Server) handlePatchMember(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.members()
	if err != nil {
		return err
	}
	if err := requireDepartment(r, append([]string{lianlu.DeptMarketing}, lianlu.PIIDepartments...)...); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in lianlu.MemberUpdate
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Traits != nil {
		// Traits may hold personal data: only departments that may read
		// them write them.
		if err := requirePII(r); err != nil {
			return err
		}
	}
	if in.Tier != nil {
		// A price tier is a sales decision.
		if err := requireDepartment(r, lianlu.DeptSales, lianlu.DeptStores); err != nil {
			return err
		}
	}
	m, err := ms.UpdateMember(r.Context(), id, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, forCaller(r, m))
}

// MemberTimeline is the body of GET /api/v1/members/{id}/timeline.
type MemberTimeline struct {
	MemberID   int64                  `json:"member_id"`
	Items      []lianlu.TimelineEntry `json:"items"`
	NextCursor string                 `json:"next_cursor"`
}

func (s *Server) handleMemberTimeline(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.members()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	before, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	// The caller sees the events the events API gives her, masked as it
	// masks them.
	p, _ := lianlu.PrincipalFromContext(r.Context())
	items, err := ms.Timeline(r.Context(), id, lianlu.TimelineFilter{BeforeSeq: before, Limit: limit, Departments: access.EventDepartments(p)})
	if err != nil {
		return err
	}
	for i := range items {
		items[i].Event = access.EventFor(p, items[i].Event)
	}
	page := pageByID(items, limit, func(e lianlu.TimelineEntry) int64 { return e.Event.Seq })
	return writeJSON(w, http.StatusOK, MemberTimeline{MemberID: id, Items: page.Items, NextCursor: page.NextCursor})
}

type identityInput struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Value     string `json:"value"`
	Verified  bool   `json:"verified"`
}

func (s *Server) handleAddIdentity(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.members()
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
	var in identityInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p, _ := lianlu.PrincipalFromContext(r.Context())
	m, err := ms.AddIdentity(r.Context(), id, lianlu.Identity{Kind: in.Kind, Namespace: in.Namespace, Value: in.Value, Verified: in.Verified, Source: p.Actor()})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

type mergeInput struct {
	From   int64  `json:"from"`
	Reason string `json:"reason"`
}

func (s *Server) handleMergeMember(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.members()
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
	var in mergeInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.From < 1 {
		return lianlu.Invalid(lianlu.FieldError{Field: "from", Message: "the id of the member to merge into this one"})
	}
	m, err := ms.MergeMembers(r.Context(), id, in.From, in.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

func (s *Server) handleListConflicts(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.members()
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
	status := r.URL.Query().Get("status")
	switch status {
	case "", lianlu.ConflictOpen, lianlu.ConflictMerged, lianlu.ConflictDismissed:
	default:
		return lianlu.Invalid(lianlu.FieldError{Field: "status", Message: "open, merged or dismissed"})
	}
	items, err := ms.FindConflicts(r.Context(), status, after, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(c lianlu.IdentityConflict) int64 { return c.ID }))
}

func (s *Server) handleDismissConflict(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.members()
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
	c, err := ms.DismissConflict(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) handleListTiers(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.members()
	if err != nil {
		return err
	}
	ts, err := ms.FindTiers(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, List[lianlu.MemberTier]{Items: ts})
}

type tierInput struct {
	Name            string `json:"name"`
	DiscountPercent int    `json:"discount_percent"`
}

func (s *Server) handlePutTier(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.members()
	if err != nil {
		return err
	}
	if err := requireDepartment(r, lianlu.DeptSales); err != nil {
		return err
	}
	var in tierInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	t, err := ms.SaveTier(r.Context(), lianlu.MemberTier{Tier: r.PathValue("tier"), Name: in.Name, DiscountPercent: in.DiscountPercent})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}
