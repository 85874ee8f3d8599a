package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// requireDepartment allows admins and members of any of depts.
func requireDepartment(r *http.Request, depts ...string) error {
	p, _ := lianlu.PrincipalFromContext(r.Context())
	if p.IsAdmin() || slices.Contains(depts, p.Department) {
		return nil
	}
	return lianlu.Errorf(lianlu.EFORBIDDEN, "only the %s department (or an admin) may do this", strings.Join(depts, " or "))
}

// pathID reads the positive integer {id} of the path.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, lianlu.Invalid(lianlu.FieldError{Field: "id", Message: "must be a positive integer"})
	}
	return id, nil
}

// queryInt64 reads an optional positive integer query parameter.
func queryInt64(r *http.Request, key string) (int64, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, lianlu.Invalid(lianlu.FieldError{Field: key, Message: "must be a non-negative integer"})
	}
	return n, nil
}

// queryLimit reads limit (1–1000, default 100).
func queryLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, lianlu.Invalid(lianlu.FieldError{Field: "limit", Message: "must be between 1 and 1000"})
	}
	return n, nil
}

// productInput is the body of POST /api/v1/products; active defaults to
// true.
type productInput struct {
	SKU      string        `json:"sku"`
	Name     string        `json:"name"`
	Category string        `json:"category"`
	Price    *lianlu.Money `json:"price"`
	Active   *bool         `json:"active"`
}

// upserted wraps an upserted record with what happened to it.
type upserted[T any] struct {
	Result lianlu.UpsertResult `json:"result"`
	Item   T                   `json:"item"`
}

func upsertStatus(res lianlu.UpsertResult) int {
	if res == lianlu.UpsertCreated {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (s *Server) handlePostProduct(w http.ResponseWriter, r *http.Request) error {
	if err := requireDepartment(r, lianlu.DeptProduct); err != nil {
		return err
	}
	var in productInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Price == nil {
		return lianlu.Invalid(lianlu.FieldError{Field: "price", Message: "required, a decimal string such as \"199.00\""})
	}
	p := lianlu.Product{SKU: in.SKU, Name: in.Name, Category: in.Category, Price: *in.Price, Active: in.Active == nil || *in.Active}
	p, res, err := s.cfg.Catalog.UpsertProduct(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, upsertStatus(res), upserted[lianlu.Product]{Result: res, Item: p})
}

func (s *Server) handleGetProducts(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	f := lianlu.ProductFilter{AfterID: after, Limit: limit, Category: r.URL.Query().Get("category")}
	switch r.URL.Query().Get("active") {
	case "":
	case "true", "false":
		active := r.URL.Query().Get("active") == "true"
		f.Active = &active
	default:
		return lianlu.Invalid(lianlu.FieldError{Field: "active", Message: "true or false"})
	}
	ps, err := s.cfg.Catalog.FindProducts(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(ps, limit, func(x lianlu.Product) int64 { return x.ID }))
}

func (s *Server) handleGetProduct(w http.ResponseWriter, r *http.Request) error {
	p, err := s.cfg.Catalog.FindProductBySKU(r.Context(), r.PathValue("sku"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// locationInput is the body of POST /api/v1/locations; active defaults to
// true and timezone to Asia/Shanghai.
type locationInput struct {
	Code     string   `json:"code"`
	Kind     string   `json:"kind"`
	Name     string   `json:"name"`
	Address  string   `json:"address"`
	Lat      *float64 `json:"lat"`
	Lng      *float64 `json:"lng"`
	Timezone string   `json:"timezone"`
	Active   *bool    `json:"active"`
}

func (s *Server) handlePostLocation(w http.ResponseWriter, r *http.Request) error {
	var in locationInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Kind != lianlu.LocationStore && in.Kind != lianlu.LocationWarehouse {
		return lianlu.Invalid(lianlu.FieldError{Field: "kind", Message: "warehouse or store"})
	}
	if err := requireDepartment(r, sqlstore.LocationDepartment(in.Kind)); err != nil {
		return err
	}
	l := lianlu.Location{Code: in.Code, Kind: in.Kind, Name: in.Name, Address: in.Address, Lat: in.Lat, Lng: in.Lng,
		Timezone: in.Timezone, Active: in.Active == nil || *in.Active}
	l, res, err := s.cfg.Catalog.UpsertLocation(r.Context(), l)
	if err != nil {
		return err
	}
	return writeJSON(w, upsertStatus(res), upserted[lianlu.Location]{Result: res, Item: l})
}

func (s *Server) handleGetLocations(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	kind := r.URL.Query().Get("kind")
	if kind != "" && kind != lianlu.LocationStore && kind != lianlu.LocationWarehouse {
		return lianlu.Invalid(lianlu.FieldError{Field: "kind", Message: "warehouse or store"})
	}
	ls, err := s.cfg.Catalog.FindLocations(r.Context(), lianlu.LocationFilter{Kind: kind, AfterID: after, Limit: limit})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(ls, limit, func(x lianlu.Location) int64 { return x.ID }))
}

func (s *Server) handleGetLocation(w http.ResponseWriter, r *http.Request) error {
	l, err := s.cfg.Catalog.FindLocationByCode(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l)
}
