// Package timeline gathers the cross-department history of one object (an
// order, a feedback): the events about it and about the objects its
// handoffs created, and the handoffs with their clocks, in time order. The
// API and the console show the same timeline, and show a reader only what
// the events and handoffs APIs would show her (internal/access).
package timeline

import (
	"context"
	"sort"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// Item is one entry of a timeline: an event or a handoff.
type Item struct {
	At      time.Time       `json:"at"`
	Kind    string          `json:"kind"`
	Event   *lianlu.Event   `json:"event,omitempty"`
	Handoff *lianlu.Handoff `json:"handoff,omitempty"`
}

// Timeline is the cross-department view of one object.
type Timeline struct {
	Subject  string           `json:"subject"`
	Items    []Item           `json:"items"`
	Handoffs []lianlu.Handoff `json:"handoffs"`
}

// Build gathers, for reader p, every event about subject and about the
// objects its handoffs created, and the handoffs with their clocks, in
// time order (events by when they happened, handoffs by when they were
// delivered). p sees the events of the departments access.EventDepartments
// gives her, their data as access.EventFor masks it, and the handoffs
// access.SeesHandoff lets her read: what GET /api/v1/events/{seq} and
// GET /api/v1/handoffs/{id} would show her, no more.
func Build(ctx context.Context, p lianlu.Principal, events lianlu.EventService, handoffs lianlu.HandoffService, subject string) (Timeline, error) {
	tl := Timeline{Subject: subject, Items: []Item{}, Handoffs: []lianlu.Handoff{}}
	all, err := handoffs.FindHandoffs(ctx, lianlu.HandoffFilter{Subject: subject, Limit: 1000})
	if err != nil {
		return tl, err
	}
	// The objects every handoff created belong to the history, whether or
	// not p may see the handoff itself: their events are filtered below.
	subjects := []string{subject}
	for _, h := range all {
		if h.Target != "" {
			subjects = append(subjects, h.Target)
		}
		subjects = append(subjects, sqlstore.HandoffSubject(h.ID))
		if access.SeesHandoff(p, h) {
			tl.Handoffs = append(tl.Handoffs, h)
		}
	}
	hs := tl.Handoffs
	seen := map[int64]bool{}
	depts := access.EventDepartments(p)
	for _, sub := range subjects {
		es, err := events.FindEvents(ctx, lianlu.EventFilter{Subject: sub, Departments: depts, Limit: 1000})
		if err != nil {
			return tl, err
		}
		for i := range es {
			if seen[es[i].Seq] || es[i].Type == "handoff.opened" {
				continue
			}
			seen[es[i].Seq] = true
			e := access.EventFor(p, es[i])
			tl.Items = append(tl.Items, Item{At: e.Time, Kind: "event", Event: &e})
		}
	}
	for i := range hs {
		at := hs[i].RecordedAt
		if hs[i].DeliveredAt != nil {
			at = *hs[i].DeliveredAt
		}
		tl.Items = append(tl.Items, Item{At: at, Kind: "handoff", Handoff: &hs[i]})
	}
	sort.SliceStable(tl.Items, func(i, j int) bool {
		a, b := tl.Items[i], tl.Items[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		// Same instant: the event that caused a handoff comes first.
		return a.Kind == "event" && b.Kind == "handoff"
	})
	return tl, nil
}
