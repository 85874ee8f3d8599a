package access

import (
	"slices"

	"github.com/lianlu/lianlu"
)

// Which objects of other departments a caller may read at all. Each rule
// is decided here once; the API and the console (lists, single objects,
// timelines, streams) all ask these functions, so that no way of reading
// shows what another refuses.

// EventDepartments returns the departments whose events p may read: nil
// (every department) for an admin, else p's own. Filters of the event
// log (lianlu.EventFilter.Departments) take it as it is.
func EventDepartments(p lianlu.Principal) []string {
	if p.IsAdmin() {
		return nil
	}
	return []string{p.Department}
}

// SeesEvent reports whether p may read e (EventDepartments).
func SeesEvent(p lianlu.Principal, e lianlu.Event) bool {
	depts := EventDepartments(p)
	return depts == nil || slices.Contains(depts, e.Department)
}

// SeesHandoff reports whether p may read a handoff: an admin, or the
// department that handed over or the one that received it.
func SeesHandoff(p lianlu.Principal, h lianlu.Handoff) bool {
	return p.IsAdmin() || p.Department == h.FromDepartment || p.Department == h.ToDepartment
}

// SeesWorkOrder reports whether p may read a work order: an admin, or the
// department whose queue holds it. (Its title may hold the customer's
// address: an on-site request names where to go.)
func SeesWorkOrder(p lianlu.Principal, w lianlu.WorkOrder) bool {
	return p.IsAdmin() || p.Department == w.Department
}
