package collect

import (
	"math"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lianlu/lianlu"
)

// Freshness window: FreshnessSlots slots of FreshnessSlot each.
const (
	FreshnessSlot   = 10 * time.Second
	FreshnessSlots  = 30
	FreshnessWindow = FreshnessSlot * FreshnessSlots
)

// Lag histogram: bucket i holds lags up to lagBase·lagGrowth^i; lags at or
// below lagBase (and negative ones, from clocks a little ahead) go to
// bucket 0, lags beyond the last bound to the last bucket. Quantiles are
// read as a bucket's upper bound, so they are at most 20 % high.
const (
	lagBuckets = 128
	lagBase    = time.Millisecond
	lagGrowth  = 1.2
)

// lagBounds are the buckets' upper bounds; the last is about four months (132 days).
var lagBounds = func() [lagBuckets]time.Duration {
	var b [lagBuckets]time.Duration
	f := float64(lagBase)
	for i := range b {
		b[i] = time.Duration(f)
		f *= lagGrowth
	}
	return b
}()

func lagBucket(lag time.Duration) int {
	if lag <= lagBase {
		return 0
	}
	if lag > lagBounds[lagBuckets-1] {
		// Beyond the last bound (about four months): the last bucket. The
		// index computed below would lie past the table.
		return lagBuckets - 1
	}
	i := int(math.Ceil(math.Log(float64(lag)/float64(lagBase)) / math.Log(lagGrowth)))
	for i > 0 && lagBounds[i-1] >= lag { // guard against rounding
		i--
	}
	return min(i, lagBuckets-1)
}

type freshSlot struct {
	start int64 // unix time of the slot's start / FreshnessSlot
	n     int64
	hist  [lagBuckets]uint32
}

type freshSource struct {
	last  time.Time // latest recorded_at seen
	slots [FreshnessSlots]freshSlot
}

// Freshness keeps, per event source, the last event received and a
// sliding window of arrivals and of lags (recorded_at − time): the input
// of the data-timeliness KPI. It is fed after each commit with the new
// events (sqlstore.AppenderConfig.Committed) and costs one lock and a few
// additions per event; nothing is read from the database. It is safe for
// concurrent use. The zero value is not usable; call NewFreshness.
type Freshness struct {
	prefix string
	now    func() time.Time

	mu      sync.Mutex
	sources map[string]*freshSource

	descLast, descRate, descLag, descWindow *prometheus.Desc
}

// NewFreshness returns a tracker of the sources whose name starts with
// prefix ("segment:" for the collector's sources). now is the clock (nil:
// time.Now).
func NewFreshness(prefix string, now func() time.Time) *Freshness {
	if now == nil {
		now = time.Now
	}
	return &Freshness{
		prefix: prefix, now: now, sources: map[string]*freshSource{},
		descLast:   prometheus.NewDesc("lianlu_source_last_event_timestamp_seconds", "When the source's latest event was stored (recorded_at), as Unix time.", []string{"source"}, nil),
		descRate:   prometheus.NewDesc("lianlu_source_events_per_minute", "Events stored from the source per minute over the sliding window.", []string{"source"}, nil),
		descLag:    prometheus.NewDesc("lianlu_source_lag_seconds", "Lag recorded_at − event time of the source's events over the sliding window.", []string{"source", "quantile"}, nil),
		descWindow: prometheus.NewDesc("lianlu_source_window_events", "Events from the source in the sliding window.", []string{"source"}, nil),
	}
}

// Observe records the newly stored events of results; duplicates and
// events of other sources are ignored.
func (f *Freshness) Observe(results []lianlu.AppendResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var cur *freshSource
	var curName string
	for i := range results {
		r := &results[i]
		if r.Duplicate || !strings.HasPrefix(r.Event.Source, f.prefix) {
			continue
		}
		if cur == nil || r.Event.Source != curName {
			curName = r.Event.Source
			if cur = f.sources[curName]; cur == nil {
				if len(f.sources) >= 10000 {
					continue // bounded memory against a flood of sources
				}
				cur = &freshSource{}
				f.sources[curName] = cur
			}
		}
		at := r.Event.RecordedAt
		if at.After(cur.last) {
			cur.last = at
		}
		k := at.Unix() / int64(FreshnessSlot/time.Second)
		s := &cur.slots[k%FreshnessSlots]
		if s.start != k {
			*s = freshSlot{start: k}
		}
		s.n++
		s.hist[lagBucket(at.Sub(r.Event.Time))]++
	}
}

// SourceFreshness is what Freshness knows of one source.
type SourceFreshness struct {
	// LastEventAt is the recorded_at of the latest event seen, nil when
	// none was seen since the process started.
	LastEventAt *time.Time
	// WindowEvents counts the events of the window; EventsPerMinute is
	// that count over the window's length in minutes.
	WindowEvents    int64
	EventsPerMinute float64
	// LagP50 and LagP95 are quantiles of recorded_at − time over the
	// window, zero without events.
	LagP50, LagP95 time.Duration
}

// Source returns the freshness of one source (such as "segment:7").
func (f *Freshness) Source(name string) SourceFreshness {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snapshot(f.sources[name])
}

func (f *Freshness) snapshot(s *freshSource) SourceFreshness {
	var out SourceFreshness
	if s == nil {
		return out
	}
	if !s.last.IsZero() {
		last := s.last
		out.LastEventAt = &last
	}
	now := f.now().Unix() / int64(FreshnessSlot/time.Second)
	var hist [lagBuckets]uint64
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.n == 0 || sl.start <= now-FreshnessSlots || sl.start > now {
			continue
		}
		out.WindowEvents += sl.n
		for b, c := range sl.hist {
			hist[b] += uint64(c)
		}
	}
	out.EventsPerMinute = float64(out.WindowEvents) / FreshnessWindow.Minutes()
	out.LagP50 = quantile(&hist, out.WindowEvents, 0.50)
	out.LagP95 = quantile(&hist, out.WindowEvents, 0.95)
	return out
}

func quantile(hist *[lagBuckets]uint64, n int64, q float64) time.Duration {
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range hist {
		if seen += c; seen >= rank {
			if i == 0 {
				return 0
			}
			return lagBounds[i]
		}
	}
	return lagBounds[lagBuckets-1]
}

// Describe implements prometheus.Collector.
func (f *Freshness) Describe(ch chan<- *prometheus.Desc) {
	ch <- f.descLast
	ch <- f.descRate
	ch <- f.descLag
	ch <- f.descWindow
}

// Collect implements prometheus.Collector.
func (f *Freshness) Collect(ch chan<- prometheus.Metric) {
	f.mu.Lock()
	snaps := make(map[string]SourceFreshness, len(f.sources))
	for name, s := range f.sources {
		snaps[name] = f.snapshot(s)
	}
	f.mu.Unlock()
	for name, s := range snaps {
		if s.LastEventAt != nil {
			ch <- prometheus.MustNewConstMetric(f.descLast, prometheus.GaugeValue, float64(s.LastEventAt.UnixNano())/1e9, name)
		}
		ch <- prometheus.MustNewConstMetric(f.descRate, prometheus.GaugeValue, s.EventsPerMinute, name)
		ch <- prometheus.MustNewConstMetric(f.descWindow, prometheus.GaugeValue, float64(s.WindowEvents), name)
		ch <- prometheus.MustNewConstMetric(f.descLag, prometheus.GaugeValue, s.LagP50.Seconds(), name, "0.5")
		ch <- prometheus.MustNewConstMetric(f.descLag, prometheus.GaugeValue, s.LagP95.Seconds(), name, "0.95")
	}
}
