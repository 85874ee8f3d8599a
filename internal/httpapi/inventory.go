package httpapi

import (
	"net/http"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// requireLocationDepartment allows admins and the department that owns the
// location (stores for a store, supply chain for a warehouse).
func (s *Server) requireLocationDepartment(r *http.Request, code string) error {
	l, err := s.cfg.Catalog.FindLocationByCode(r.Context(), code)
	if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
		return lianlu.Invalid(lianlu.FieldError{Field: "location", Message: "unknown location " + code})
	} else if err != nil {
		return err
	}
	return requireDepartment(r, sqlstore.LocationDepartment(l.Kind))
}

type adjustmentInput struct {
	SKU        string `json:"sku"`
	Location   string `json:"location"`
	Delta      int64  `json:"delta"`
	Reason     string `json:"reason"`
	ExternalID string `json:"external_id"`
}

func (s *Server) handlePostAdjustment(w http.ResponseWriter, r *http.Request) error {
	var in adjustmentInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Location == "" {
		return lianlu.Invalid(lianlu.FieldError{Field: "location", Message: "required"})
	}
	if err := s.requireLocationDepartment(r, in.Location); err != nil {
		return err
	}
	a, err := s.cfg.Inventory.Adjust(r.Context(), lianlu.Adjustment{SKU: in.SKU, Location: in.Location, Delta: in.Delta, Reason: in.Reason, ExternalID: in.ExternalID})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, a)
}

func (s *Server) handleGetInventory(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	levels, err := s.cfg.Inventory.FindStockLevels(r.Context(), lianlu.InventoryFilter{SKU: q.Get("sku"), Location: q.Get("location"), After: q.Get("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	list := List[lianlu.StockLevel]{Items: levels}
	if len(levels) == limit {
		last := levels[len(levels)-1]
		list.NextCursor = last.SKU + "|" + last.Location
	}
	return writeJSON(w, http.StatusOK, list)
}

type reservationInput struct {
	Ref      string                   `json:"ref"`
	Location string                   `json:"location"`
	Lines    []lianlu.ReservationLine `json:"lines"`
}

// shortProblem is the 409 body of a reservation that could not be met: a
// problem document plus the short lines.
type shortProblem struct {
	Problem
	Short []lianlu.ShortLine `json:"short"`
}

func (s *Server) handlePostReservation(w http.ResponseWriter, r *http.Request) error {
	var in reservationInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Location == "" {
		return lianlu.Invalid(lianlu.FieldError{Field: "location", Message: "required"})
	}
	if err := s.requireLocationDepartment(r, in.Location); err != nil {
		return err
	}
	res, short, err := s.cfg.Inventory.Reserve(r.Context(), in.Ref, in.Location, in.Lines)
	if len(short) > 0 {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusConflict)
		return encodeJSON(w, shortProblem{Problem: Problem{
			Type: "urn:lianlu:problem:conflict", Title: http.StatusText(http.StatusConflict), Status: http.StatusConflict,
			Detail: lianlu.ErrorMessage(err), Instance: r.URL.Path, Code: lianlu.ECONFLICT, RequestID: lianlu.RequestIDFromContext(r.Context()),
		}, Short: short})
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, res)
}

func (s *Server) reservationFromPath(r *http.Request) (lianlu.Reservation, error) {
	id, err := pathID(r)
	if err != nil {
		return lianlu.Reservation{}, err
	}
	return s.cfg.Inventory.FindReservationByID(r.Context(), id)
}

func (s *Server) handleGetReservation(w http.ResponseWriter, r *http.Request) error {
	res, err := s.reservationFromPath(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleReleaseReservation(w http.ResponseWriter, r *http.Request) error {
	res, err := s.reservationFromPath(r)
	if err != nil {
		return err
	}
	if err := s.requireLocationDepartment(r, res.Location); err != nil {
		return err
	}
	res, err = s.cfg.Inventory.Release(r.Context(), res.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}
