package sqlstore

import (
	"slices"
	"strings"
	"sync"

	"github.com/lianlu/lianlu"
)

// headRingSize is how many of the latest events appended by this process
// the ring remembers (a power of two).
const headRingSize = 1 << 16

// headRing remembers the seq, type and department of the events this
// process appended most recently, so that subscriptions can tell whether
// new events concern them without reading the log. It is only an
// accelerator: a slot holds an event only if that event is committed with
// that seq, and whatever it does not know is read from the database.
type headRing struct {
	mu    sync.RWMutex
	slots []lianlu.Event // by seq modulo headRingSize; only Seq, Type, Department
	hi    int64          // the highest seq added
}

func newHeadRing() *headRing { return &headRing{slots: make([]lianlu.Event, headRingSize)} }

// add records committed events.
func (r *headRing) add(events []lianlu.Event) {
	if len(events) == 0 {
		return
	}
	r.mu.Lock()
	for _, e := range events {
		r.slots[e.Seq&(headRingSize-1)] = e
		r.hi = max(r.hi, e.Seq)
	}
	r.mu.Unlock()
}

// ringFilterable reports whether the ring can apply f: it knows types and
// departments only.
func ringFilterable(f lianlu.EventFilter) bool {
	return f.Subject == "" && f.Source == "" && f.From.IsZero() && f.To.IsZero()
}

// after walks the events after f.AfterSeq in seq order and returns those
// that f selects, at most limit. last is the highest seq it looked at (or
// f.AfterSeq). conclusive is true when the walk collected limit events or
// reached the last event this process appended; otherwise it stopped at an
// event it does not know (appended by another process, or its commit not
// yet recorded), and the caller reads on from last in the database.
func (r *headRing) after(f lianlu.EventFilter, limit int) (events []lianlu.Event, last int64, conclusive bool) {
	last = f.AfterSeq
	if !ringFilterable(f) {
		return nil, last, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for s := f.AfterSeq + 1; ; s++ {
		if s > r.hi {
			return events, last, true
		}
		e := r.slots[s&(headRingSize-1)]
		if e.Seq != s {
			return events, last, false
		}
		last = s
		if selects(f, e) {
			events = append(events, e)
			if len(events) >= limit {
				return events, last, true
			}
		}
	}
}

// selects applies the type and department parts of f to e.
func selects(f lianlu.EventFilter, e lianlu.Event) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	if len(f.Departments) > 0 && !slices.Contains(f.Departments, e.Department) {
		return false
	}
	return f.TypePrefix == "" || strings.HasPrefix(e.Type, f.TypePrefix)
}
