package httpapi

import (
	"net/http"
	"strings"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
)

type workOrderInput struct {
	Kind       string `json:"kind"`
	Priority   string `json:"priority"`
	Department string `json:"department"`
	Store      string `json:"store"`
	Title      string `json:"title"`
	Subject    string `json:"subject"`
	Ref        string `json:"ref"`
}

func (s *Server) handlePostWorkOrder(w http.ResponseWriter, r *http.Request) error {
	var in workOrderInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	queue := in.Department
	if queue == "" {
		queue = lianlu.DefaultWorkOrderQueue
	}
	if p, _ := lianlu.PrincipalFromContext(r.Context()); !p.IsAdmin() && !lianlu.MayCreateWorkOrder(p.Department, queue) {
		return &lianlu.Error{Code: lianlu.EFORBIDDEN, Message: p.Department + " may not put work in " + queue + "'s queue",
			Fields: []lianlu.FieldError{{Field: "department", Message: "the queue of " + queue + " takes work from " + queue + workOrderSendersText(queue)}}}
	}
	wo, err := s.cfg.WorkOrders.CreateWorkOrder(r.Context(), lianlu.WorkOrder{Kind: in.Kind, Priority: in.Priority, Department: in.Department,
		Store: in.Store, Title: in.Title, Subject: in.Subject, Ref: in.Ref})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, wo)
}

func (s *Server) handleGetWorkOrders(w http.ResponseWriter, r *http.Request) error {
	p, _ := lianlu.PrincipalFromContext(r.Context())
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := lianlu.WorkOrderFilter{Department: q.Get("department"), Store: q.Get("store"), Status: q.Get("status"), Subject: q.Get("subject"), AfterID: after, Limit: limit}
	if !p.IsAdmin() {
		if f.Department != "" && f.Department != p.Department {
			return lianlu.Errorf(lianlu.EFORBIDDEN, "a non-admin token sees only its own department's queue")
		}
		f.Department = p.Department
	}
	switch f.Status {
	case "", lianlu.WorkOrderOpen, lianlu.WorkOrderAccepted, lianlu.WorkOrderResolved:
	default:
		return lianlu.Invalid(lianlu.FieldError{Field: "status", Message: "open, accepted or resolved"})
	}
	items, err := s.cfg.WorkOrders.FindWorkOrders(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(x lianlu.WorkOrder) int64 { return x.ID }))
}

// workOrderFromPath returns the work order of the path if the caller's
// department owns its queue (admins see all); others get 404, so that the
// existence of other queues' work is not revealed.
func (s *Server) workOrderFromPath(r *http.Request) (lianlu.WorkOrder, error) {
	id, err := pathID(r)
	if err != nil {
		return lianlu.WorkOrder{}, err
	}
	wo, err := s.cfg.WorkOrders.FindWorkOrderByID(r.Context(), id)
	if err != nil {
		return wo, err
	}
	if p, _ := lianlu.PrincipalFromContext(r.Context()); !access.SeesWorkOrder(p, wo) {
		return lianlu.WorkOrder{}, lianlu.Errorf(lianlu.ENOTFOUND, "work order %d not found", id)
	}
	return wo, nil
}

func (s *Server) handleGetWorkOrder(w http.ResponseWriter, r *http.Request) error {
	wo, err := s.workOrderFromPath(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wo)
}

type acceptInput struct {
	Assignee string `json:"assignee"`
}

// decodeOptionalJSON decodes a body when there is one.
func decodeOptionalJSON(r *http.Request, v any) error {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return nil
	}
	return decodeJSON(r, v)
}

func (s *Server) handleAcceptWorkOrder(w http.ResponseWriter, r *http.Request) error {
	wo, err := s.workOrderFromPath(r)
	if err != nil {
		return err
	}
	var in acceptInput
	if err := decodeOptionalJSON(r, &in); err != nil {
		return err
	}
	wo, err = s.cfg.WorkOrders.AcceptWorkOrder(r.Context(), wo.ID, in.Assignee)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wo)
}

type resolveInput struct {
	ResolutionCode string `json:"resolution_code"`
	Note           string `json:"note"`
}

func (s *Server) handleResolveWorkOrder(w http.ResponseWriter, r *http.Request) error {
	wo, err := s.workOrderFromPath(r)
	if err != nil {
		return err
	}
	var in resolveInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	wo, err = s.cfg.WorkOrders.ResolveWorkOrder(r.Context(), wo.ID, in.ResolutionCode, in.Note)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wo)
}

type contactInput struct {
	Channel string `json:"channel"`
	Note    string `json:"note"`
}

func (s *Server) handleContactWorkOrder(w http.ResponseWriter, r *http.Request) error {
	wo, err := s.workOrderFromPath(r)
	if err != nil {
		return err
	}
	var in contactInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	wo, err = s.cfg.WorkOrders.RecordContact(r.Context(), wo.ID, in.Channel, in.Note)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wo)
}

type reassignInput struct {
	Department string `json:"department"`
	Store      string `json:"store"`
	Reason     string `json:"reason"`
}

func (s *Server) handleReassignWorkOrder(w http.ResponseWriter, r *http.Request) error {
	wo, err := s.workOrderFromPath(r)
	if err != nil {
		return err
	}
	var in reassignInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	wo, err = s.cfg.WorkOrders.ReassignWorkOrder(r.Context(), wo.ID, in.Department, in.Store, in.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wo)
}

// workOrderSendersText lists the other departments that may create work
// in queue, for a refusal.
func workOrderSendersText(queue string) string {
	var others []string
	for _, d := range []string{lianlu.DeptMarketing, lianlu.DeptSales, lianlu.DeptService, lianlu.DeptStores, lianlu.DeptSupplyChain, lianlu.DeptProduct} {
		if d != queue && lianlu.MayCreateWorkOrder(d, queue) {
			others = append(others, d)
		}
	}
	if len(others) == 0 {
		return " (and admins)"
	}
	return ", " + strings.Join(others, ", ") + " (and admins)"
}
