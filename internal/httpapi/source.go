package httpapi

import (
	"net/http"

	"github.com/lianlu/lianlu"
)

type sourceInput struct {
	Name       string `json:"name"`
	Department string `json:"department"`
	Kind       string `json:"kind"`
}

// sourceWithKey is the one response that carries a write key.
type sourceWithKey struct {
	lianlu.Source
	WriteKey string `json:"write_key"`
}

// sourceFromPath returns the source of the path if the caller's department
// owns it (admins see all); others get 404.
func (s *Server) sourceFromPath(r *http.Request) (lianlu.Source, error) {
	id, err := pathID(r)
	if err != nil {
		return lianlu.Source{}, err
	}
	src, err := s.cfg.Sources.FindSourceByID(r.Context(), id)
	if err != nil {
		return src, err
	}
	p, _ := lianlu.PrincipalFromContext(r.Context())
	if !p.IsAdmin() && p.Department != src.Department {
		return lianlu.Source{}, lianlu.Errorf(lianlu.ENOTFOUND, "source %d not found", id)
	}
	return src, nil
}

func (s *Server) handlePostSource(w http.ResponseWriter, r *http.Request) error {
	var in sourceInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p, _ := lianlu.PrincipalFromContext(r.Context())
	if in.Department == "" {
		in.Department = p.Department
	}
	if err := requireDepartment(r, in.Department); err != nil {
		return err
	}
	src, key, err := s.cfg.Sources.CreateSource(r.Context(), lianlu.Source{Name: in.Name, Department: in.Department, Kind: in.Kind})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, sourceWithKey{Source: src, WriteKey: key})
}

func (s *Server) handleListSources(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	p, _ := lianlu.PrincipalFromContext(r.Context())
	dept := r.URL.Query().Get("department")
	if !p.IsAdmin() {
		if dept != "" && dept != p.Department {
			return lianlu.Errorf(lianlu.EFORBIDDEN, "a non-admin token sees only its own department's sources")
		}
		dept = p.Department
	}
	items, err := s.cfg.Sources.FindSources(r.Context(), dept, after, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(x lianlu.Source) int64 { return x.ID }))
}

func (s *Server) handleGetSource(w http.ResponseWriter, r *http.Request) error {
	src, err := s.sourceFromPath(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, src)
}

func (s *Server) setSourceDisabled(disabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		src, err := s.sourceFromPath(r)
		if err != nil {
			return err
		}
		src, err = s.cfg.Sources.SetSourceDisabled(r.Context(), src.ID, disabled)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, src)
	}
}

func (s *Server) handleRotateSourceKey(w http.ResponseWriter, r *http.Request) error {
	src, err := s.sourceFromPath(r)
	if err != nil {
		return err
	}
	src, key, err := s.cfg.Sources.RotateSourceKey(r.Context(), src.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sourceWithKey{Source: src, WriteKey: key})
}
