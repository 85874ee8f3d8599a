package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
)

// Three stores: one lacks the skill, one is full that day, one is open and
// farther: the request goes to the farther one with the reasons recorded;
// when it accepts, the flow runner completes its attempt's handoff.
func TestE2E_ServiceRequestDispatch(t *testing.T) {
	m := MustRunMain(t)
	a := api{t: t, base: "http://" + m.Addr(), token: adminToken(t, m.Config.DataDir)}
	for _, s := range []map[string]any{
		{"code": "NO-SKILL", "name": "Repairs only", "lat": 31.2350, "lng": 121.4737, "skills": []string{"repair"}, "capacity_per_day": 5, "service_radius_km": 30},
		{"code": "FULL", "name": "Busy", "lat": 31.2400, "lng": 121.4737, "skills": []string{"install"}, "capacity_per_day": 1, "service_radius_km": 30},
		{"code": "FARTHER", "name": "Farther", "lat": 31.3200, "lng": 121.4737, "skills": []string{"install"}, "capacity_per_day": 5, "service_radius_km": 30},
	} {
		a.must("POST", "/api/v1/stores", s, 201, nil)
	}
	date := time.Now().AddDate(0, 0, 2).Format(time.DateOnly)
	request := func(ext string) lianlu.WorkOrder {
		var w lianlu.WorkOrder
		a.must("POST", "/api/v1/service-requests", map[string]any{"external_id": ext, "member": map[string]any{"phone": "13800138000"}, "kind": "on_site",
			"skill": "install", "address": map[string]any{"address": "人民广场", "lat": 31.2304, "lng": 121.4737}, "preferred_date": date}, 201, &w)
		return w
	}
	// Stores just saved on this node are in the dispatcher's index.
	if first := request("SR-1"); first.Store != "FULL" {
		t.Fatalf("first request went to %q: %+v", first.Store, first.Dispatch)
	}
	w := request("SR-2")
	if w.Store != "FARTHER" || w.Dispatch == nil {
		t.Fatalf("second request: %+v", w)
	}
	reasons := map[string][]string{}
	for _, x := range w.Dispatch.Excluded {
		reasons[x.Store] = x.Reasons
	}
	if !slices.Equal(reasons["NO-SKILL"], []string{"lacks_skill"}) || !slices.Equal(reasons["FULL"], []string{"full_on_date"}) || len(w.Dispatch.Candidates) != 1 {
		t.Fatalf("decision: %+v", w.Dispatch)
	}
	var stored lianlu.WorkOrder
	a.must("GET", fmt.Sprintf("/api/v1/service-requests/%d", w.ID), nil, 200, &stored)
	if stored.Dispatch == nil || len(stored.Dispatch.Excluded) != 2 || len(stored.Dispatch.Attempts) != 1 {
		t.Fatalf("stored decision: %+v", stored.Dispatch)
	}
	a.must("POST", fmt.Sprintf("/api/v1/workorders/%d/accept", w.ID), map[string]any{"assignee": "tech-1"}, 200, nil)
	var hs struct{ Items []lianlu.Handoff }
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		a.must("GET", fmt.Sprintf("/api/v1/handoffs?subject=workorder/%d", w.ID), nil, 200, &hs)
		a.must("GET", fmt.Sprintf("/api/v1/service-requests/%d", w.ID), nil, 200, &stored)
		if (len(hs.Items) == 1 && hs.Items[0].Status == "done" && stored.Dispatch.Attempts[0].Outcome == "accepted") || time.Now().After(deadline) {
			break
		}
	}
	if len(hs.Items) != 1 || hs.Items[0].Status != "done" || hs.Items[0].Step != "attempt-1:FARTHER" || stored.Dispatch.Attempts[0].Outcome != "accepted" {
		t.Fatalf("after accept: %+v %+v", hs.Items, stored.Dispatch.Attempts)
	}
	// A request nobody can take goes to service, flagged.
	var flagged lianlu.WorkOrder
	a.must("POST", "/api/v1/service-requests", map[string]any{"member": map[string]any{"phone": "13800138000"}, "skill": "fitting",
		"address": map[string]any{"lat": 31.2304, "lng": 121.4737}, "preferred_date": date}, 201, &flagged)
	if !flagged.Flagged || flagged.Department != "service" || flagged.Store != "" || flagged.Dispatch.ExcludedCounts["lacks_skill"] != 3 {
		t.Fatalf("flagged: %+v", flagged)
	}
}
