package httpapi

import (
	"net/http"
	"strconv"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/join"
)

// storeRoutes are the store endpoints: stores, their QR codes and offline
// interactions.
func (s *Server) storeRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/api/v1/stores", handler: s.handlePostStore, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/stores", handler: s.handleGetStores, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/stores/{code}", handler: s.handleGetStore, Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "PATCH", Path: "/api/v1/stores/{code}", handler: s.handlePatchStore, Auth: true, MinRole: lianlu.RoleOperator},
		{Method: "GET", Path: "/api/v1/stores/{code}/qr.png", handler: s.handleStoreQR("png"), Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "GET", Path: "/api/v1/stores/{code}/qr.svg", handler: s.handleStoreQR("svg"), Auth: true, MinRole: lianlu.RoleViewer},
		{Method: "POST", Path: "/api/v1/interactions", handler: s.handlePostInteraction, Auth: true, MinRole: lianlu.RoleOperator},
	}
}

func (s *Server) stores() (lianlu.StoreService, error) {
	if s.cfg.Stores == nil {
		return nil, lianlu.Errorf(lianlu.EUNAVAILABLE, "stores are not configured")
	}
	return s.cfg.Stores, nil
}

func (s *Server) handlePostStore(w http.ResponseWriter, r *http.Request) error {
	stores, err := s.stores()
	if err != nil {
		return err
	}
	if err := requireDepartment(r, lianlu.DeptStores); err != nil {
		return err
	}
	var in lianlu.StoreInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	st, res, err := stores.CreateStore(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, upsertStatus(res), upserted[lianlu.Store]{Result: res, Item: st})
}

func (s *Server) handlePatchStore(w http.ResponseWriter, r *http.Request) error {
	stores, err := s.stores()
	if err != nil {
		return err
	}
	if err := requireDepartment(r, lianlu.DeptStores); err != nil {
		return err
	}
	var in lianlu.StoreInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Code != "" && in.Code != r.PathValue("code") {
		return lianlu.Invalid(lianlu.FieldError{Field: "code", Message: "a store's code cannot change"})
	}
	in.Code = r.PathValue("code")
	st, err := stores.UpdateStore(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleGetStores(w http.ResponseWriter, r *http.Request) error {
	stores, err := s.stores()
	if err != nil {
		return err
	}
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	items, err := stores.FindStores(r.Context(), lianlu.StoreFilter{Skill: r.URL.Query().Get("skill"), AfterID: after, Limit: limit})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(x lianlu.Store) int64 { return x.ID }))
}

func (s *Server) handleGetStore(w http.ResponseWriter, r *http.Request) error {
	stores, err := s.stores()
	if err != nil {
		return err
	}
	st, err := stores.FindStoreByCode(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// handleStoreQR serves the store's join QR code, for a staff member with
// ?staff=CODE; PNGs are ?size= pixels square.
func (s *Server) handleStoreQR(format string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		stores, err := s.stores()
		if err != nil {
			return err
		}
		st, err := stores.FindStoreByCode(r.Context(), r.PathValue("code"))
		if err != nil {
			return err
		}
		size := 0
		if v := r.URL.Query().Get("size"); v != "" {
			if size, err = strconv.Atoi(v); err != nil {
				return lianlu.Invalid(lianlu.FieldError{Field: "size", Message: "pixels between 128 and 2048"})
			}
		}
		q, err := join.RenderStoreQR(st, s.cfg.BaseURL, r.URL.Query().Get("staff"), format, size)
		if err != nil {
			return err
		}
		w.Header().Set("X-Join-URL", q.URL)
		w.Header().Set("Cache-Control", "private, max-age=300")
		w.Header().Set("Content-Type", q.ContentType)
		_, err = w.Write(q.Body)
		return err
	}
}

func (s *Server) handlePostInteraction(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Members == nil {
		return lianlu.Errorf(lianlu.EUNAVAILABLE, "members are not configured")
	}
	if err := requireDepartment(r, lianlu.DeptStores); err != nil {
		return err
	}
	var in lianlu.Interaction
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	e, err := s.cfg.Members.RecordInteraction(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, e)
}
