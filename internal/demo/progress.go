package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lianlu/lianlu/internal/sqlstore"
)

// progress draws a bar with counts while a simulation runs: at most a few
// times a second, on one line that it rewrites.
type progress struct {
	w          io.Writer
	start, end time.Time
	last       time.Time
}

func newProgress(w io.Writer, start, end time.Time) *progress {
	return &progress{w: w, start: start, end: end}
}

func (p *progress) update(ctx context.Context, s *sim, at time.Time) {
	if p.w == nil || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.draw(ctx, s, at, "\r")
}

func (p *progress) done(ctx context.Context, s *sim) {
	if p.w == nil {
		return
	}
	p.draw(ctx, s, p.end, "\r")
	fmt.Fprintln(p.w)
}

func (p *progress) draw(ctx context.Context, s *sim, at time.Time, prefix string) {
	frac := float64(at.Sub(p.start)) / float64(p.end.Sub(p.start))
	frac = min(max(frac, 0), 1)
	const width = 24
	filled := int(frac * width)
	events, _ := sqlstore.NewEventService(s.cfg.DB).MaxSeq(ctx)
	fmt.Fprintf(p.w, "%s  [%s%s] %3.0f%%  %s  members %d · orders %d · events %d ", prefix,
		strings.Repeat("█", filled), strings.Repeat("░", width-filled), frac*100, at.In(s.loc).Format("2006-01-02"),
		s.members, s.orders, events)
}
