package httpapi

import (
	"net/http"

	"github.com/lianlu/lianlu"
)

// offerRoutes are the offer rule, send and coupon endpoints.
func (s *Server) offerRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/api/v1/offers", handler: s.handlePostOffer, Auth: true, MinRole: lianlu.RoleManager},
		{Method: "GET", Path: "/api/v1/offers", handler: s.handleListOffers, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/offers/{id}", handler: s.handleGetOffer, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "PUT", Path: "/api/v1/offers/{id}", handler: s.handlePutOffer, Auth: true, MinRole: lianlu.RoleManager},
		{Method: "GET", Path: "/api/v1/offer-sends", handler: s.handleListOfferSends, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/coupons/{code}", handler: s.handleGetCoupon, Auth: true, MinRole: lianlu.RoleViewer},
	}
}

func (s *Server) offers() (lianlu.OfferService, error) {
	if s.cfg.Offers == nil {
		return nil, lianlu.Errorf(lianlu.EUNAVAILABLE, "offers are not configured")
	}
	return s.cfg.Offers, nil
}

// offerInput is the editable part of an offer rule; active defaults to
// true.
type offerInput struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Triggers    []string        `json:"triggers"`
	Condition   string          `json:"condition"`
	Delay       lianlu.Duration `json:"delay"`
	Channel     string          `json:"channel"`
	WebhookURL  string          `json:"webhook_url"`
	SecretRef   string          `json:"secret_ref"`
	// AllowContacts is an admin's to grant (see lianlu.OfferRule).
	AllowContacts bool                   `json:"allow_contacts"`
	Title         string                 `json:"title"`
	Body          string                 `json:"body"`
	Coupon        *lianlu.CouponTemplate `json:"coupon"`
	Cap           lianlu.FrequencyCap    `json:"frequency_cap"`
	QuietHours    *lianlu.QuietHours     `json:"quiet_hours"`
	Timezone      string                 `json:"timezone"`
	Active        *bool                  `json:"active"`
}

func (in offerInput) rule(id int64) lianlu.OfferRule {
	return lianlu.OfferRule{ID: id, Name: in.Name, Description: in.Description, Triggers: in.Triggers, Condition: in.Condition, Delay: in.Delay,
		Channel: in.Channel, WebhookURL: in.WebhookURL, SecretRef: in.SecretRef, AllowContacts: in.AllowContacts, Title: in.Title, Body: in.Body, Coupon: in.Coupon, Cap: in.Cap,
		QuietHours: in.QuietHours, Timezone: in.Timezone, Active: in.Active == nil || *in.Active}
}

func (s *Server) saveOffer(w http.ResponseWriter, r *http.Request, id int64, status int) error {
	os, err := s.offers()
	if err != nil {
		return err
	}
	if err := requireDepartment(r, lianlu.DeptMarketing); err != nil {
		return err
	}
	var in offerInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	rule, err := os.SaveRule(r.Context(), in.rule(id))
	if err != nil {
		return err
	}
	return writeJSON(w, status, rule)
}

func (s *Server) handlePostOffer(w http.ResponseWriter, r *http.Request) error {
	return s.saveOffer(w, r, 0, http.StatusCreated)
}

func (s *Server) handlePutOffer(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	return s.saveOffer(w, r, id, http.StatusOK)
}

func (s *Server) handleListOffers(w http.ResponseWriter, r *http.Request) error {
	os, err := s.offers()
	if err != nil {
		return err
	}
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	items, err := os.FindRules(r.Context(), after, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(x lianlu.OfferRule) int64 { return x.ID }))
}

func (s *Server) handleGetOffer(w http.ResponseWriter, r *http.Request) error {
	os, err := s.offers()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rule, err := os.FindRule(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rule)
}

// handleListOfferSends lists sends newest first (?member=, ?rule=); the
// cursor is the last id of the previous page.
func (s *Server) handleListOfferSends(w http.ResponseWriter, r *http.Request) error {
	os, err := s.offers()
	if err != nil {
		return err
	}
	if err := requireDepartment(r, lianlu.OfferDepartments...); err != nil {
		return err
	}
	before, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	member, err := queryInt64(r, "member")
	if err != nil {
		return err
	}
	rule, err := queryInt64(r, "rule")
	if err != nil {
		return err
	}
	items, err := os.FindSends(r.Context(), member, rule, before, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(x lianlu.OfferSend) int64 { return x.ID }))
}

func (s *Server) handleGetCoupon(w http.ResponseWriter, r *http.Request) error {
	os, err := s.offers()
	if err != nil {
		return err
	}
	if err := requireDepartment(r, lianlu.OfferDepartments...); err != nil {
		return err
	}
	c, err := os.FindCoupon(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}
