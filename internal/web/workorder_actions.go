package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/lianlu/lianlu"
)

// workOrderForAction returns the work order of the path if the user's
// department owns its queue (admins act on any); others get 404, as in the
// API, so that other queues' work is not revealed.
func (c *Console) workOrderForAction(r *http.Request) (lianlu.WorkOrder, error) {
	id, err := pathID(r)
	if err != nil {
		return lianlu.WorkOrder{}, err
	}
	wo, err := c.cfg.WorkOrders.FindWorkOrderByID(r.Context(), id)
	if err != nil {
		return wo, err
	}
	if s := sessionOf(r); !seesDepartment(s, wo.Department) || (wo.Store != "" && !seesStore(s, wo.Store)) {
		return lianlu.WorkOrder{}, notFound()
	}
	return wo, nil
}

// afterAction goes back to the queue (or the store page the form was
// sent from), saying what was done.
func afterAction(w http.ResponseWriter, r *http.Request, done string, wo lianlu.WorkOrder) {
	back := r.PostForm.Get("back")
	if back == "" || safeNext(back) != back || !(strings.HasPrefix(back, "/queue") || strings.HasPrefix(back, "/stores/")) {
		back = "/queue?department=" + wo.Department
	}
	sep := "&"
	if !strings.Contains(back, "?") {
		sep = "?"
	}
	http.Redirect(w, r, back+sep+"done="+done+"&wo="+strconv.FormatInt(wo.ID, 10), http.StatusSeeOther)
}

func (c *Console) handleAcceptWorkOrder(w http.ResponseWriter, r *http.Request) error {
	wo, err := c.workOrderForAction(r)
	if err != nil {
		return err
	}
	if wo, err = c.cfg.WorkOrders.AcceptWorkOrder(r.Context(), wo.ID, sessionOf(r).user.Username); err != nil {
		return err
	}
	afterAction(w, r, "accepted", wo)
	return nil
}

func (c *Console) handleContactWorkOrder(w http.ResponseWriter, r *http.Request) error {
	wo, err := c.workOrderForAction(r)
	if err != nil {
		return err
	}
	if wo, err = c.cfg.WorkOrders.RecordContact(r.Context(), wo.ID, r.PostForm.Get("channel"), strings.TrimSpace(r.PostForm.Get("note"))); err != nil {
		return err
	}
	afterAction(w, r, "contacted", wo)
	return nil
}

func (c *Console) handleResolveWorkOrder(w http.ResponseWriter, r *http.Request) error {
	wo, err := c.workOrderForAction(r)
	if err != nil {
		return err
	}
	if wo, err = c.cfg.WorkOrders.ResolveWorkOrder(r.Context(), wo.ID, r.PostForm.Get("resolution_code"), strings.TrimSpace(r.PostForm.Get("note"))); err != nil {
		return err
	}
	afterAction(w, r, "resolved", wo)
	return nil
}

func (c *Console) handleReassignWorkOrder(w http.ResponseWriter, r *http.Request) error {
	wo, err := c.workOrderForAction(r)
	if err != nil {
		return err
	}
	if wo, err = c.cfg.WorkOrders.ReassignWorkOrder(r.Context(), wo.ID, r.PostForm.Get("department"), r.PostForm.Get("store"),
		strings.TrimSpace(r.PostForm.Get("reason"))); err != nil {
		return err
	}
	// The work order has left this queue: go back to where it came from.
	afterAction(w, r, "reassigned", wo)
	return nil
}
