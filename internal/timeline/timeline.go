// Package timeline gathers the cross-department history of one object (an
// order, a feedback): the events about it and about the objects its
// handoffs created, and the handoffs with their clocks, in time order. The
// API and the console show the same timeline.
package timeline

import (
	"context"
	"sort"
	"time"

	"github.com/lianlu/lianlu"
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

// Build gathers every event about subject and about the objects its
// handoffs created, and the handoffs with their clocks, in time order
// (events by when they happened, handoffs by when they were delivered).
func Build(ctx context.Context, events lianlu.EventService, handoffs lianlu.HandoffService, subject string) (Timeline, error) {
	tl := Timeline{Subject: subject, Items: []Item{}}
	hs, err := handoffs.FindHandoffs(ctx, lianlu.HandoffFilter{Subject: subject, Limit: 1000})
	if err != nil {
		return tl, err
	}
	tl.Handoffs = hs
	subjects := []string{subject}
	for _, h := range hs {
		if h.Target != "" {
			subjects = append(subjects, h.Target)
		}
		subjects = append(subjects, sqlstore.HandoffSubject(h.ID))
	}
	seen := map[int64]bool{}
	for _, sub := range subjects {
		es, err := events.FindEvents(ctx, lianlu.EventFilter{Subject: sub, Limit: 1000})
		if err != nil {
			return tl, err
		}
		for i := range es {
			if seen[es[i].Seq] || es[i].Type == "handoff.opened" {
				continue
			}
			seen[es[i].Seq] = true
			tl.Items = append(tl.Items, Item{At: es[i].Time, Kind: "event", Event: &es[i]})
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
