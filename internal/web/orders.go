package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

type ordersData struct {
	Orders []sqlstore.OrderSummary
	Query  string
	Missed bool
}

func (c *Console) handleOrders(w http.ResponseWriter, r *http.Request) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q != "" {
		// An order number goes straight to the order.
		if id, err := strconv.ParseInt(strings.TrimPrefix(q, "#"), 10, 64); err == nil && id > 0 {
			if _, err := c.cfg.Orders.FindOrderByID(r.Context(), id); err == nil {
				http.Redirect(w, r, "/orders/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
				return nil
			}
		}
	}
	orders, err := c.cfg.Queries.RecentOrders(r.Context(), "", 0, 50)
	if err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "orders", "orders", true, ordersData{Orders: orders, Query: q, Missed: q != ""})
}

type orderData struct {
	Order       lianlu.Order
	Fulfillment *lianlu.Fulfillment
	WorkOrders  []lianlu.WorkOrder
	Timeline    timelineView
}

func (c *Console) handleOrder(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	o, err := c.cfg.Orders.FindOrderByID(r.Context(), id)
	if err != nil {
		return err
	}
	p := sessionOf(r).principal()
	d := orderData{Order: access.OrderFor(p, o)}
	fs, err := c.cfg.Fulfillments.FindFulfillments(r.Context(), lianlu.FulfillmentFilter{OrderID: id, Limit: 1})
	if err != nil {
		return err
	}
	if len(fs) > 0 {
		d.Fulfillment = &fs[0]
	}
	wos, err := c.cfg.WorkOrders.FindWorkOrders(r.Context(), lianlu.WorkOrderFilter{Subject: sqlstore.OrderSubject(id), Limit: 100})
	if err != nil {
		return err
	}
	for _, wo := range wos {
		// Only the queues the user may see, as in the API.
		if access.SeesWorkOrder(p, wo) {
			d.WorkOrders = append(d.WorkOrders, wo)
		}
	}
	if d.Timeline, err = c.buildTimeline(r.Context(), p, c.translatorOf(r), sqlstore.OrderSubject(id)); err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "order", "orders", true, d)
}
