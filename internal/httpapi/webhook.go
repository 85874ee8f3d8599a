package httpapi

import (
	"net/http"
	"strconv"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/webhook"
)

// Webhook endpoints need the manager role. A manager sees and manages only
// the webhooks (and deliveries) of their own department; an admin sees all.

func (s *Server) webhooks() (webhook.Service, error) {
	if s.cfg.Webhooks == nil {
		return nil, lianlu.Errorf(lianlu.EUNAVAILABLE, "webhooks are not configured on this server")
	}
	return s.cfg.Webhooks, nil
}

type webhookInput struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types"`
	Department  string   `json:"department"`
	Description string   `json:"description"`
}

func (s *Server) handlePostWebhook(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	var in webhookInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p, _ := lianlu.PrincipalFromContext(r.Context())
	if !p.IsAdmin() {
		if in.Department != "" && in.Department != p.Department {
			return lianlu.Errorf(lianlu.EFORBIDDEN, "a manager creates webhooks for their own department's events only")
		}
		in.Department = p.Department
	}
	created, err := svc.CreateWebhook(r.Context(), webhook.Create{URL: in.URL, EventTypes: in.EventTypes, Department: in.Department, Description: in.Description})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/webhooks/"+strconv.FormatInt(created.ID, 10))
	return writeJSON(w, http.StatusCreated, created)
}

func (s *Server) handleGetWebhooks(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := webhook.Filter{Department: q.Get("department"), Status: q.Get("status"), AfterID: after, Limit: limit}
	switch f.Status {
	case "", webhook.StatusActive, webhook.StatusDisabled:
	default:
		return lianlu.Invalid(lianlu.FieldError{Field: "status", Message: "active or disabled"})
	}
	p, _ := lianlu.PrincipalFromContext(r.Context())
	if !p.IsAdmin() {
		if f.Department != "" && f.Department != p.Department {
			return lianlu.Errorf(lianlu.EFORBIDDEN, "a manager sees only their own department's webhooks")
		}
		f.Department = p.Department
	}
	items, err := svc.FindWebhooks(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(x webhook.Webhook) int64 { return x.ID }))
}

// webhookFromPath returns the webhook of the path if the caller may see it;
// others get 404, so that other departments' webhooks are not revealed.
func (s *Server) webhookFromPath(r *http.Request) (webhook.Service, webhook.Webhook, error) {
	svc, err := s.webhooks()
	if err != nil {
		return nil, webhook.Webhook{}, err
	}
	id, err := pathID(r)
	if err != nil {
		return nil, webhook.Webhook{}, err
	}
	wh, err := svc.FindWebhookByID(r.Context(), id)
	if err != nil {
		return nil, wh, err
	}
	p, _ := lianlu.PrincipalFromContext(r.Context())
	if !p.IsAdmin() && wh.Department != p.Department {
		return nil, webhook.Webhook{}, lianlu.Errorf(lianlu.ENOTFOUND, "webhook %d not found", id)
	}
	return svc, wh, nil
}

func (s *Server) handleGetWebhook(w http.ResponseWriter, r *http.Request) error {
	_, wh, err := s.webhookFromPath(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wh)
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) error {
	svc, wh, err := s.webhookFromPath(r)
	if err != nil {
		return err
	}
	if _, err := svc.DisableWebhook(r.Context(), wh.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleRotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	svc, wh, err := s.webhookFromPath(r)
	if err != nil {
		return err
	}
	rotated, err := svc.RotateWebhookSecret(r.Context(), wh.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rotated)
}

// deliveryFilter reads status, cursor and limit of a delivery log query.
func deliveryFilter(r *http.Request) (webhook.DeliveryFilter, error) {
	before, err := queryInt64(r, "cursor")
	if err != nil {
		return webhook.DeliveryFilter{}, err
	}
	limit, err := queryLimit(r)
	if err != nil {
		return webhook.DeliveryFilter{}, err
	}
	f := webhook.DeliveryFilter{Status: r.URL.Query().Get("status"), BeforeID: before, Limit: limit}
	switch f.Status {
	case "", webhook.DeliveryPending, webhook.DeliveryDelivered, webhook.DeliveryDead:
	default:
		return f, lianlu.Invalid(lianlu.FieldError{Field: "status", Message: "pending, delivered or dead"})
	}
	return f, nil
}

func writeDeliveries(w http.ResponseWriter, items []webhook.Delivery, limit int) error {
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(x webhook.Delivery) int64 { return x.ID }))
}

func (s *Server) handleGetWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	svc, wh, err := s.webhookFromPath(r)
	if err != nil {
		return err
	}
	f, err := deliveryFilter(r)
	if err != nil {
		return err
	}
	f.WebhookID = wh.ID
	items, err := svc.FindDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	return writeDeliveries(w, items, f.Limit)
}

// handleGetDeliveries lists every delivery the caller may see, also direct
// ones from flows (filter handoff=).
func (s *Server) handleGetDeliveries(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	f, err := deliveryFilter(r)
	if err != nil {
		return err
	}
	if f.WebhookID, err = queryInt64(r, "webhook"); err != nil {
		return err
	}
	if f.HandoffID, err = queryInt64(r, "handoff"); err != nil {
		return err
	}
	if p, _ := lianlu.PrincipalFromContext(r.Context()); !p.IsAdmin() {
		f.Department = p.Department
	}
	items, err := svc.FindDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	return writeDeliveries(w, items, f.Limit)
}

func (s *Server) handleReplayDelivery(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := svc.FindDeliveryByID(r.Context(), id)
	if err != nil {
		return err
	}
	if p, _ := lianlu.PrincipalFromContext(r.Context()); !p.IsAdmin() && d.Department != p.Department {
		return lianlu.Errorf(lianlu.ENOTFOUND, "webhook delivery %d not found", id)
	}
	replay, err := svc.ReplayDelivery(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, replay)
}
