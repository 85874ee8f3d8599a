package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// orderLineInput is one line of POST /api/v1/orders; a missing unit_price
// takes the catalogue price.
type orderLineInput struct {
	SKU       string        `json:"sku"`
	Qty       int64         `json:"qty"`
	UnitPrice *lianlu.Money `json:"unit_price"`
}

// orderInput is the body of POST /api/v1/orders. placed_at is read as a
// string so that a bad timestamp is reported against its field.
type orderInput struct {
	ExternalID string            `json:"external_id"`
	Channel    string            `json:"channel"`
	Store      string            `json:"store"`
	Member     *lianlu.MemberRef `json:"member"`
	Lines      []orderLineInput  `json:"lines"`
	Coupon     string            `json:"coupon"`
	ShipTo     *lianlu.Address   `json:"ship_to"`
	PlacedAt   string            `json:"placed_at"`
}

func (s *Server) handlePostOrder(w http.ResponseWriter, r *http.Request) error {
	if err := requireDepartment(r, lianlu.DeptSales, lianlu.DeptStores); err != nil {
		return err
	}
	var in orderInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p := lianlu.OrderPlacement{ExternalID: in.ExternalID, Channel: in.Channel, Store: in.Store, Member: in.Member,
		Coupon: in.Coupon, ShipTo: in.ShipTo}
	if in.PlacedAt != "" {
		t, err := time.Parse(time.RFC3339Nano, in.PlacedAt)
		if err != nil {
			return lianlu.Invalid(lianlu.FieldError{Field: "placed_at", Message: "not an RFC 3339 timestamp"})
		}
		p.PlacedAt = t
	}
	for _, l := range in.Lines {
		line := lianlu.OrderLine{SKU: l.SKU, Qty: l.Qty}
		if l.UnitPrice != nil {
			line.UnitPrice = *l.UnitPrice
		}
		p.Lines = append(p.Lines, line)
	}
	o, created, err := s.cfg.Orders.PlaceOrder(r.Context(), p)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(w, status, orderFor(r, o))
}

func (s *Server) handleGetOrders(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	member, err := queryInt64(r, "member")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := lianlu.OrderFilter{Channel: q.Get("channel"), Store: q.Get("store"), Status: q.Get("status"), MemberID: member, AfterID: after, Limit: limit}
	switch f.Channel {
	case "", lianlu.ChannelOnline, lianlu.ChannelStore:
	default:
		return lianlu.Invalid(lianlu.FieldError{Field: "channel", Message: "online or store"})
	}
	switch f.Status {
	case "", lianlu.OrderPlaced, lianlu.OrderCancelled:
	default:
		return lianlu.Invalid(lianlu.FieldError{Field: "status", Message: "placed or cancelled"})
	}
	items, err := s.cfg.Orders.FindOrders(r.Context(), f)
	if err != nil {
		return err
	}
	for i := range items {
		items[i] = orderFor(r, items[i])
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(x lianlu.Order) int64 { return x.ID }))
}

func (s *Server) handleGetOrder(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	o, err := s.cfg.Orders.FindOrderByID(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, orderFor(r, o))
}

// orderFor masks an order's ship-to unless the caller's department may
// see it (access.OrderFor).
func orderFor(r *http.Request, o lianlu.Order) lianlu.Order {
	p, _ := lianlu.PrincipalFromContext(r.Context())
	return access.OrderFor(p, o)
}

// cancelReasonInput is the optional body of the cancel actions.
type cancelReasonInput struct {
	Reason string `json:"reason"`
}

func (s *Server) handleCancelOrder(w http.ResponseWriter, r *http.Request) error {
	if err := requireDepartment(r, lianlu.DeptSales, lianlu.DeptStores); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in cancelReasonInput
	if err := decodeOptionalJSON(r, &in); err != nil {
		return err
	}
	o, err := s.cfg.Orders.CancelOrder(r.Context(), id, in.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, orderFor(r, o))
}

var fulfillmentStatuses = []string{lianlu.FulfillmentReserved, lianlu.FulfillmentBackordered, lianlu.FulfillmentPicked,
	lianlu.FulfillmentShipped, lianlu.FulfillmentDelivered, lianlu.FulfillmentCancelled}

func (s *Server) handleGetFulfillments(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	order, err := queryInt64(r, "order")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := lianlu.FulfillmentFilter{OrderID: order, Status: q.Get("status"), Location: q.Get("location"), AfterID: after, Limit: limit}
	if f.Status != "" && !slices.Contains(fulfillmentStatuses, f.Status) {
		return lianlu.Invalid(lianlu.FieldError{Field: "status", Message: strings.Join(fulfillmentStatuses, ", ")})
	}
	items, err := s.cfg.Fulfillments.FindFulfillments(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageByID(items, limit, func(x lianlu.Fulfillment) int64 { return x.ID }))
}

func (s *Server) fulfillmentFromPath(r *http.Request) (lianlu.Fulfillment, error) {
	id, err := pathID(r)
	if err != nil {
		return lianlu.Fulfillment{}, err
	}
	return s.cfg.Fulfillments.FindFulfillmentByID(r.Context(), id)
}

func (s *Server) handleGetFulfillment(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fulfillmentFromPath(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, f)
}

// fulfillmentToChange returns the fulfillment of the path if the caller may
// move it: the department that owns its location (supply chain for a
// warehouse, stores for a store) or an admin.
func (s *Server) fulfillmentToChange(r *http.Request) (lianlu.Fulfillment, error) {
	f, err := s.fulfillmentFromPath(r)
	if err != nil {
		return f, err
	}
	l, err := s.cfg.Catalog.FindLocationByCode(r.Context(), f.Location)
	if err != nil {
		return f, err
	}
	return f, requireDepartment(r, sqlstore.LocationDepartment(l.Kind))
}

func (s *Server) handlePickFulfillment(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fulfillmentToChange(r)
	if err != nil {
		return err
	}
	if f, err = s.cfg.Fulfillments.PickFulfillment(r.Context(), f.ID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, f)
}

// shipInput is the optional body of the ship action.
type shipInput struct {
	Tracking string `json:"tracking"`
}

func (s *Server) handleShipFulfillment(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fulfillmentToChange(r)
	if err != nil {
		return err
	}
	var in shipInput
	if err := decodeOptionalJSON(r, &in); err != nil {
		return err
	}
	if f, err = s.cfg.Fulfillments.ShipFulfillment(r.Context(), f.ID, in.Tracking); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, f)
}

func (s *Server) handleDeliverFulfillment(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fulfillmentToChange(r)
	if err != nil {
		return err
	}
	if f, err = s.cfg.Fulfillments.DeliverFulfillment(r.Context(), f.ID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, f)
}

func (s *Server) handleCancelFulfillment(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fulfillmentToChange(r)
	if err != nil {
		return err
	}
	var in cancelReasonInput
	if err := decodeOptionalJSON(r, &in); err != nil {
		return err
	}
	if f, err = s.cfg.Fulfillments.CancelFulfillment(r.Context(), f.ID, in.Reason); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, f)
}
