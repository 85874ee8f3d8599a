package collect_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
)

func TestFreshness(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := now
	f := collect.NewFreshness("segment:", func() time.Time { return clock })
	var rs []lianlu.AppendResult
	// 100 events of segment:1 over the last minute: 90 with a 100 ms lag,
	// 10 with a 30 s lag; one duplicate and one event of another source.
	for i := range 100 {
		rec := now.Add(-time.Duration(i) * 500 * time.Millisecond)
		lag := 100 * time.Millisecond
		if i%10 == 0 {
			lag = 30 * time.Second
		}
		rs = append(rs, lianlu.AppendResult{Event: lianlu.Event{Source: "segment:1", RecordedAt: rec, Time: rec.Add(-lag)}})
	}
	rs = append(rs, lianlu.AppendResult{Event: lianlu.Event{Source: "segment:1", RecordedAt: now.Add(time.Minute), Time: now}, Duplicate: true},
		lianlu.AppendResult{Event: lianlu.Event{Source: "shop", RecordedAt: now, Time: now}})
	f.Observe(rs)

	s := f.Source("segment:1")
	if s.LastEventAt == nil || !s.LastEventAt.Equal(now) {
		t.Fatalf("last event %v", s.LastEventAt)
	}
	if s.WindowEvents != 100 || s.EventsPerMinute != 100/collect.FreshnessWindow.Minutes() {
		t.Fatalf("window %d, rate %v", s.WindowEvents, s.EventsPerMinute)
	}
	// Quantiles are bucket upper bounds: at most 20 % high, never low.
	if s.LagP50 < 100*time.Millisecond || s.LagP50 > 120*time.Millisecond {
		t.Fatalf("p50 %v", s.LagP50)
	}
	if s.LagP95 < 30*time.Second || s.LagP95 > 36*time.Second {
		t.Fatalf("p95 %v", s.LagP95)
	}
	if got := f.Source("shop"); got.LastEventAt != nil {
		t.Fatalf("other prefix tracked: %+v", got)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(f)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP lianlu_source_window_events Events from the source in the sliding window.
# TYPE lianlu_source_window_events gauge
lianlu_source_window_events{source="segment:1"} 100
`), "lianlu_source_window_events"); err != nil {
		t.Fatal(err)
	}

	// The window slides: later, the old events leave it; the last event
	// is still known.
	clock = now.Add(collect.FreshnessWindow + collect.FreshnessSlot)
	s = f.Source("segment:1")
	if s.WindowEvents != 0 || s.LagP95 != 0 || s.LastEventAt == nil {
		t.Fatalf("after the window: %+v", s)
	}
	// A slot reused by a later period starts from zero.
	f.Observe([]lianlu.AppendResult{{Event: lianlu.Event{Source: "segment:1", RecordedAt: clock, Time: clock.Add(-2 * time.Second)}}})
	s = f.Source("segment:1")
	if s.WindowEvents != 1 || s.LagP50 < 2*time.Second || s.LagP50 > 2400*time.Millisecond {
		t.Fatalf("reused slot: %+v", s)
	}
}

// TestFreshness_OldEventsDoNotPanic: a collector message months or years
// old (an SDK's offline queue, an import of history) lands in the last
// lag bucket; it used to index past the bucket table and crash the
// appender's goroutine, and with it the server.
func TestFreshness_OldEventsDoNotPanic(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f := collect.NewFreshness("segment:", func() time.Time { return now })
	for _, lag := range []time.Duration{200 * 24 * time.Hour, 26 * 365 * 24 * time.Hour, 1<<63 - 1} {
		f.Observe([]lianlu.AppendResult{{Event: lianlu.Event{Source: "segment:1", RecordedAt: now, Time: now.Add(-lag)}}})
	}
	if s := f.Source("segment:1"); s.WindowEvents != 3 || s.LagP50 <= 24*time.Hour {
		t.Fatalf("old events: %+v", s)
	}
}
