package web

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/lianlu/lianlu"
)

// ResolutionCodes are the outcomes the queue page offers when resolving a
// work order (the service accepts any code; these are the common ones).
var ResolutionCodes = []string{"solved", "contacted", "refunded", "replaced", "repaired", "no_action", "duplicate"}

type queueWorkOrder struct {
	lianlu.WorkOrder
	// Handoff is the flow step that created the work order, with its SLA;
	// for an on-site request, the store's current attempt to accept it.
	Handoff *lianlu.Handoff
	// Request is set for an on-site service request dispatched to a store.
	Request *serviceRequest
}

type queueData struct {
	Department  string
	Store       string
	Departments []lianlu.Department
	Stores      []lianlu.Location
	// OwnStore is set for a user who works in one store (Store).
	OwnStore   bool
	WorkOrders []queueWorkOrder
	Handoffs   []lianlu.Handoff
	// HandoffMore counts the other handoffs beyond the page's limit.
	HandoffMore     int64
	ResolutionCodes []string
	ContactChannels []string
	Back            string
	Done            string
	DoneID          string
}

// queueDone are the outcomes of the queue's actions its flash reports.
var queueDone = []string{"accepted", "contacted", "resolved", "reassigned", "rejected"}

// attemptHandoffs gives each on-site request waiting for its store the
// handoff of that attempt: its SLA is the store's time to accept.
func (c *Console) attemptHandoffs(r *http.Request, wos []queueWorkOrder) error {
	for i := range wos {
		d := wos[i].Dispatch
		if wos[i].Request == nil || !wos[i].Request.Here || d == nil || len(d.Attempts) == 0 {
			continue
		}
		h, err := c.cfg.Handoffs.FindHandoffByID(r.Context(), d.Attempts[len(d.Attempts)-1].HandoffID)
		if err != nil && lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			return err
		} else if err == nil {
			wos[i].Handoff = &h
		}
	}
	return nil
}

// queueLimit bounds each list of the queue page.
const queueLimit = 200

func priorityRank(p string) int { return -slices.Index(lianlu.Priorities, p) }

func (c *Console) handleQueue(w http.ResponseWriter, r *http.Request) error {
	s := sessionOf(r)
	q := r.URL.Query()
	d := queueData{Department: q.Get("department"), Store: q.Get("store"), ResolutionCodes: ResolutionCodes, ContactChannels: lianlu.ContactChannels}
	if done := q.Get("done"); slices.Contains(queueDone, done) {
		if _, err := strconv.ParseInt(q.Get("wo"), 10, 64); err == nil {
			d.Done, d.DoneID = done, q.Get("wo")
		}
	}
	if d.Department == "" {
		d.Department = s.user.Department
		if d.Department == lianlu.DeptAdmin {
			// Administrators have no queue of their own; start with
			// service's, where most work lands.
			d.Department = lianlu.DeptService
		}
	}
	if !seesDepartment(s, d.Department) {
		return lianlu.Errorf(lianlu.EFORBIDDEN, "you see only your own department's queue")
	}
	if own := s.user.Store; own != "" {
		// She works in one store: its queue is hers.
		if d.Store != "" && d.Store != own {
			return lianlu.Errorf(lianlu.EFORBIDDEN, "you see only your own store's queue")
		}
		d.Store, d.OwnStore = own, true
	}
	depts, err := c.cfg.Access.FindDepartments(r.Context())
	if err != nil {
		return err
	}
	d.Departments = depts
	if d.Stores, err = c.cfg.Catalog.FindLocations(r.Context(), lianlu.LocationFilter{Kind: lianlu.LocationStore, Limit: 1000}); err != nil {
		return err
	}
	d.Back = "/queue?" + url.Values{"department": {d.Department}, "store": {d.Store}}.Encode()

	for _, status := range []string{lianlu.WorkOrderOpen, lianlu.WorkOrderAccepted} {
		wos, err := c.cfg.WorkOrders.FindWorkOrders(r.Context(), lianlu.WorkOrderFilter{Department: d.Department, Store: d.Store, Status: status, Limit: queueLimit})
		if err != nil {
			return err
		}
		for _, wo := range wos {
			qw := queueWorkOrder{WorkOrder: wo}
			if wo.Dispatch != nil && wo.Store != "" {
				v := c.viewServiceRequest(s, wo.Store, wo)
				qw.Request = &v
			}
			d.WorkOrders = append(d.WorkOrders, qw)
		}
	}
	targets := make([]string, len(d.WorkOrders))
	for i, wo := range d.WorkOrders {
		targets[i] = "workorder/" + strconv.FormatInt(wo.ID, 10)
	}
	byTarget, err := c.cfg.Queries.HandoffsByTarget(r.Context(), targets)
	if err != nil {
		return err
	}
	for i := range d.WorkOrders {
		if h, ok := byTarget[targets[i]]; ok {
			d.WorkOrders[i].Handoff = &h
		}
	}
	if err := c.attemptHandoffs(r, d.WorkOrders); err != nil {
		return err
	}
	due := func(w queueWorkOrder) time.Time {
		if w.Handoff != nil && w.Handoff.DueAt != nil {
			return *w.Handoff.DueAt
		}
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	sort.SliceStable(d.WorkOrders, func(i, j int) bool {
		a, b := d.WorkOrders[i], d.WorkOrders[j]
		if pa, pb := priorityRank(a.Priority), priorityRank(b.Priority); pa != pb {
			return pa < pb
		}
		if da, db := due(a), due(b); !da.Equal(db) {
			return da.Before(db)
		}
		return a.ID < b.ID
	})

	hs, total, err := c.cfg.Queries.QueueHandoffs(r.Context(), d.Department, queueLimit)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if h.Action == "workorder.create" && h.Target != "" && slices.Contains(targets, h.Target) {
			continue // shown with its work order
		}
		d.Handoffs = append(d.Handoffs, h)
	}
	d.HandoffMore = max(0, total-int64(len(hs)))
	return c.render(w, r, http.StatusOK, "queue", "queue", true, d)
}
