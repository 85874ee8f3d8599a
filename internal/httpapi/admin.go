package httpapi

import (
	"net/http"
	"strconv"

	"github.com/lianlu/lianlu"
)

func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request) error {
	p, _ := lianlu.PrincipalFromContext(r.Context())
	return writeJSON(w, http.StatusOK, map[string]any{
		"token_id": p.TokenID, "name": p.Name, "department": p.Department, "role": p.Role,
	})
}

func (s *Server) handleGetDepartments(w http.ResponseWriter, r *http.Request) error {
	depts, err := s.cfg.Access.FindDepartments(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, List[lianlu.Department]{Items: depts})
}

func (s *Server) handleGetTokens(w http.ResponseWriter, r *http.Request) error {
	toks, err := s.cfg.Access.FindTokens(r.Context(), r.URL.Query().Get("include_revoked") == "true")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, List[lianlu.Token]{Items: toks})
}

// createdToken is the one response that carries a token's secret.
type createdToken struct {
	lianlu.Token
	Secret string `json:"token"`
}

func (s *Server) handlePostToken(w http.ResponseWriter, r *http.Request) error {
	var req lianlu.TokenCreate
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	tok, secret, err := s.cfg.Access.CreateToken(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, createdToken{Token: tok, Secret: secret})
}

func (s *Server) handleDeleteToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.cfg.Access.RevokeToken(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleGetUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.cfg.Access.FindUsers(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, List[lianlu.User]{Items: users})
}

type userCreate struct {
	Username    string      `json:"username"`
	DisplayName string      `json:"display_name"`
	Department  string      `json:"department"`
	Role        lianlu.Role `json:"role"`
	Store       string      `json:"store"`
}

func (s *Server) handlePostUser(w http.ResponseWriter, r *http.Request) error {
	var req userCreate
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.cfg.Access.CreateUser(r.Context(), lianlu.User{Username: req.Username, DisplayName: req.DisplayName, Department: req.Department, Role: req.Role, Store: req.Store})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, u)
}

func (s *Server) handleGetAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var before int64
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return lianlu.Invalid(lianlu.FieldError{Field: "cursor", Message: "must be a positive integer"})
		}
		before = n
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return lianlu.Invalid(lianlu.FieldError{Field: "limit", Message: "must be between 1 and 1000"})
		}
		limit = n
	}
	entries, err := s.cfg.Access.FindAuditEntries(r.Context(), before, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(entries, limit, func(x lianlu.AuditEntry) int64 { return x.ID }))
}
