package web

import (
	"context"
	"slices"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/timeline"
)

// dot is an event on a swimlane chart.
type dot struct {
	X, Y  float64
	Class string
	Title string
}

// swimlaneChart draws an object's timeline: one lane per department, each
// handoff a bar from when it was emitted to when it was done (or now, if
// still open) with a tick at its due time, each event a dot.
type swimlaneChart struct {
	chart
	Dots  []dot
	Ticks []rect
}

// timelineView is a timeline with its chart.
type timelineView struct {
	timeline.Timeline
	Chart swimlaneChart
}

// buildTimeline gathers subject's timeline as p may see it (timeline.Build,
// as the API).
func (c *Console) buildTimeline(ctx context.Context, p lianlu.Principal, tr *translator, subject string) (timelineView, error) {
	tl, err := timeline.Build(ctx, p, c.cfg.Events, c.cfg.Handoffs, subject)
	if err != nil {
		return timelineView{}, err
	}
	return timelineView{Timeline: tl, Chart: swimlane(tr, tl, c.cfg.Now(), c.cfg.Location)}, nil
}

func swimlane(tr *translator, tl timeline.Timeline, now time.Time, loc *time.Location) swimlaneChart {
	var ch swimlaneChart
	ch.Width = 1000
	if len(tl.Items) == 0 {
		ch.Empty = tr.T("timeline.empty")
		return ch
	}
	var lanes []string
	lane := func(d string) int {
		if i := slices.Index(lanes, d); i >= 0 {
			return i
		}
		lanes = append(lanes, d)
		return len(lanes) - 1
	}
	start, end := tl.Items[0].At, tl.Items[0].At
	stretch := func(t time.Time) {
		if t.Before(start) {
			start = t
		}
		if t.After(end) {
			end = t
		}
	}
	for _, it := range tl.Items {
		stretch(it.At)
		if it.Event != nil {
			lane(it.Event.Department)
		}
		if h := it.Handoff; h != nil {
			lane(h.FromDepartment)
			lane(h.ToDepartment)
			stretch(h.EmittedAt)
			if h.DoneAt != nil {
				stretch(*h.DoneAt)
			} else if h.Status == lianlu.HandoffOpen || h.Status == lianlu.HandoffPending {
				stretch(now)
			}
			// Due times in the past stretch the axis; those still ahead
			// sit at its right edge, so that a young object's bars are
			// not squeezed against the left.
			if h.DueAt != nil && h.DueAt.Before(now) {
				stretch(*h.DueAt)
			}
		}
	}
	if !end.After(start) {
		end = start.Add(time.Minute)
	}
	const labelW, laneH, top = 110.0, 34.0, 8.0
	plotW := ch.Width - labelW - 16
	ch.Height = top + float64(len(lanes))*laneH + 28
	x := func(t time.Time) float64 { return labelW + float64(t.Sub(start))/float64(end.Sub(start))*plotW }
	y := func(d string) float64 { return top + float64(lane(d))*laneH }
	for _, d := range lanes {
		ch.Labels = append(ch.Labels, label{X: labelW - 8, Y: y(d) + laneH/2 + 4, Text: deptLabel(tr, d), Anchor: "end"})
		ch.Grid = append(ch.Grid, gridLine{Y: y(d) + laneH, X2: ch.Width - 8})
	}
	for i := 0; i <= 4; i++ {
		t := start.Add(time.Duration(float64(end.Sub(start)) * float64(i) / 4))
		ch.Labels = append(ch.Labels, label{X: x(t), Y: ch.Height - 8, Text: tr.Time(t, now), Anchor: "middle"})
	}
	for _, it := range tl.Items {
		switch {
		case it.Handoff != nil:
			h := it.Handoff
			stop := now
			if h.DoneAt != nil {
				stop = *h.DoneAt
			} else if h.Status != lianlu.HandoffOpen && h.Status != lianlu.HandoffPending {
				stop = it.At
			}
			class := "ok"
			switch {
			case h.BreachedAt != nil:
				class = "bad"
			case h.Status == lianlu.HandoffOpen || h.Status == lianlu.HandoffPending:
				class = "open"
			case h.Status == lianlu.HandoffFailed || h.Status == lianlu.HandoffCancelled:
				class = "muted"
			}
			x0 := x(h.EmittedAt)
			ch.Rects = append(ch.Rects, rect{X: x0, Y: y(h.ToDepartment) + 9, W: max(3, x(stop)-x0), H: laneH - 18, Class: class,
				Title: h.Flow + " · " + h.Step + " → " + deptLabel(tr, h.ToDepartment) + ": " + tr.T("handoff.status."+h.Status)})
			if h.DueAt != nil {
				class, at := "due", *h.DueAt
				if at.After(end) {
					class, at = "due later", end
				}
				ch.Ticks = append(ch.Ticks, rect{X: x(at) - 1, Y: y(h.ToDepartment) + 4, W: 2, H: laneH - 8, Class: class,
					Title: tr.T("timeline.due", tr.Time(*h.DueAt, now))})
			}
		case it.Event != nil:
			ch.Dots = append(ch.Dots, dot{X: x(it.At), Y: y(it.Event.Department) + laneH/2, Class: "ev", Title: it.Event.Type + " · " + tr.Time(it.At, now)})
		}
	}
	ch.Legend = []legendItem{
		{Name: tr.T("timeline.legend.done"), Class: "ok"}, {Name: tr.T("timeline.legend.open"), Class: "open"},
		{Name: tr.T("timeline.legend.breached"), Class: "bad"}, {Name: tr.T("timeline.legend.due"), Class: "due"},
		{Name: tr.T("timeline.legend.event"), Class: "ev"},
	}
	return ch
}
