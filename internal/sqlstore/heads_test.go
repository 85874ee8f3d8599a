package sqlstore

import (
	"testing"

	"github.com/lianlu/lianlu"
)

func heads(from, to int64, types ...string) []lianlu.Event {
	var out []lianlu.Event
	for s := from; s <= to; s++ {
		out = append(out, lianlu.Event{Seq: s, Type: types[int(s)%len(types)], Department: "sales"})
	}
	return out
}

func seqs(events []lianlu.Event) []int64 {
	var out []int64
	for _, e := range events {
		out = append(out, e.Seq)
	}
	return out
}

func TestHeadRing_After(t *testing.T) {
	r := newHeadRing()
	// Added out of order, as two commits' completions may run.
	r.add(heads(6, 10, "a.x", "b.x"))
	r.add(heads(1, 5, "a.x", "b.x"))
	for _, tc := range []struct {
		name       string
		filter     lianlu.EventFilter
		limit      int
		want       []int64
		last       int64
		conclusive bool
	}{
		{"a full batch", lianlu.EventFilter{Types: []string{"a.x"}}, 3, []int64{2, 4, 6}, 6, true},
		{"to the end", lianlu.EventFilter{AfterSeq: 6, TypePrefix: "a."}, 10, []int64{8, 10}, 10, true},
		{"nothing selected", lianlu.EventFilter{AfterSeq: 2, Departments: []string{"service"}}, 10, nil, 10, true},
		{"nothing new", lianlu.EventFilter{AfterSeq: 10}, 10, nil, 10, true},
		{"a filter the ring cannot apply", lianlu.EventFilter{Subject: "order/1"}, 10, nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, last, conclusive := r.after(tc.filter, tc.limit)
			if !equalSeqs(seqs(got), tc.want) || last != tc.last || conclusive != tc.conclusive {
				t.Fatalf("after = %v, %d, %v; want %v, %d, %v", seqs(got), last, conclusive, tc.want, tc.last, tc.conclusive)
			}
		})
	}
	// An event the ring never saw (another process appended seq 11) stops
	// the walk before it, inconclusively.
	r.add(heads(12, 13, "a.x"))
	got, last, conclusive := r.after(lianlu.EventFilter{AfterSeq: 8}, 10)
	if !equalSeqs(seqs(got), []int64{9, 10}) || last != 10 || conclusive {
		t.Fatalf("across a gap: %v, %d, %v", seqs(got), last, conclusive)
	}
	// A slot reused by a later event does not answer for the earlier seq.
	r.add([]lianlu.Event{{Seq: 1 + headRingSize, Type: "a.x", Department: "sales"}})
	if _, last, conclusive := r.after(lianlu.EventFilter{AfterSeq: 0}, 100); last != 0 || conclusive {
		t.Fatalf("after reuse: last %d, conclusive %v", last, conclusive)
	}
}

func equalSeqs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
