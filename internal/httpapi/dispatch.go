package httpapi

import (
	"net/http"

	"github.com/lianlu/lianlu"
)

// dispatchRoutes are the on-site service request endpoints.
func (s *Server) dispatchRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/api/v1/service-requests", handler: s.handlePostServiceRequest, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/service-requests/{id}", handler: s.handleGetServiceRequest, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/service-requests/{id}/reject", handler: s.handleRejectServiceRequest, Auth: true, MinRole: lianlu.RoleOperator},
	}
}

func (s *Server) dispatcher() (lianlu.DispatchService, error) {
	if s.cfg.Dispatch == nil {
		return nil, lianlu.Errorf(lianlu.EUNAVAILABLE, "dispatch is not configured")
	}
	return s.cfg.Dispatch, nil
}

// handlePostServiceRequest creates an on-site work order and dispatches
// it; the body is the work order with its dispatch decision.
func (s *Server) handlePostServiceRequest(w http.ResponseWriter, r *http.Request) error {
	d, err := s.dispatcher()
	if err != nil {
		return err
	}
	if err := requireDepartment(r, lianlu.DeptService, lianlu.DeptSales, lianlu.DeptStores); err != nil {
		return err
	}
	var in lianlu.ServiceRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	wo, created, err := d.RequestService(r.Context(), in)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(w, status, wo)
}

// serviceRequestFromPath returns the on-site work order of the path for
// service, stores and admins.
func (s *Server) serviceRequestFromPath(r *http.Request) (lianlu.WorkOrder, error) {
	if err := requireDepartment(r, lianlu.DeptService, lianlu.DeptStores); err != nil {
		return lianlu.WorkOrder{}, err
	}
	id, err := pathID(r)
	if err != nil {
		return lianlu.WorkOrder{}, err
	}
	wo, err := s.cfg.WorkOrders.FindWorkOrderByID(r.Context(), id)
	if err != nil {
		return wo, err
	}
	if wo.Kind != lianlu.WorkOrderOnSite || wo.Dispatch == nil {
		return lianlu.WorkOrder{}, lianlu.Errorf(lianlu.ENOTFOUND, "service request %d not found", id)
	}
	return wo, nil
}

func (s *Server) handleGetServiceRequest(w http.ResponseWriter, r *http.Request) error {
	wo, err := s.serviceRequestFromPath(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wo)
}

type rejectInput struct {
	Reason string `json:"reason"`
}

func (s *Server) handleRejectServiceRequest(w http.ResponseWriter, r *http.Request) error {
	d, err := s.dispatcher()
	if err != nil {
		return err
	}
	if err := requireDepartment(r, lianlu.DeptStores); err != nil {
		return err
	}
	wo, err := s.serviceRequestFromPath(r)
	if err != nil {
		return err
	}
	var in rejectInput
	if err := decodeOptionalJSON(r, &in); err != nil {
		return err
	}
	wo, err = d.RejectServiceRequest(r.Context(), wo.ID, in.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wo)
}
