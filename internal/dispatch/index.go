// Package dispatch decides which store serves an on-site service request:
// hard rules (skill, open on the date, capacity left, within the service
// radius), then a weighted ranking by distance and load, over an in-memory
// index of every store; and the Service that records the decision on a
// work order, asks the store to accept within its SLA and passes the
// request on after a rejection or a timeout.
package dispatch

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/geo"
)

// DefaultWeights rank candidates mostly by distance, then by how busy they
// are that day.
var DefaultWeights = lianlu.DispatchWeights{Distance: 0.7, Load: 0.3}

// Listing limits of a decision: the best candidates and the nearest
// excluded stores are listed; every exclusion is counted.
const (
	MaxListedCandidates = 10
	MaxListedExclusions = 20
)

// reason bits, in the order of lianlu's reason names.
const (
	rInactive = 1 << iota
	rNoLocation
	rSkill
	rClosed
	rFull
	rRadius
	rTried
)

var reasonNames = []string{lianlu.ExcludedInactive, lianlu.ExcludedNoLocation, lianlu.ExcludedSkill, lianlu.ExcludedClosed,
	lianlu.ExcludedFull, lianlu.ExcludedRadius, lianlu.ExcludedTried}

// indexed is one store in the form the rules read fast: coordinates in
// radians with the cosine of the latitude, skills as bits, opening days as
// a weekday mask.
type indexed struct {
	code     string
	active   bool
	located  bool
	lat, lng float64 // radians
	cosLat   float64
	skills   uint64
	open     uint8 // bit per time.Weekday
	holidays map[string]bool
	capacity int
	radiusKm float64
}

// Index holds every store for dispatch. It is immutable once built, so
// requests read it without locks; the service swaps in a new one when
// stores change.
type Index struct {
	stores []indexed
	// skillBit maps a skill to its bit; skills beyond 64 distinct ones
	// share bit 63 and are checked by name.
	skillBit map[string]uint64
	byCode   map[string]int
	skillsOf [][]string
}

// NewIndex builds the index of stores.
func NewIndex(stores []lianlu.Store) *Index {
	ix := &Index{stores: make([]indexed, 0, len(stores)), skillBit: map[string]uint64{}, byCode: make(map[string]int, len(stores)),
		skillsOf: make([][]string, 0, len(stores))}
	rad := math.Pi / 180
	for _, st := range stores {
		s := indexed{code: st.Code, active: st.Active, capacity: st.CapacityPerDay, radiusKm: st.ServiceRadiusKm}
		if st.Lat != nil && st.Lng != nil {
			s.located, s.lat, s.lng = true, *st.Lat*rad, *st.Lng*rad
			s.cosLat = math.Cos(s.lat)
		}
		for _, sk := range st.Skills {
			s.skills |= ix.bit(sk)
		}
		for day, key := range weekdayKeys {
			if len(st.Hours[key]) > 0 {
				s.open |= 1 << day
			}
		}
		if len(st.Holidays) > 0 {
			s.holidays = make(map[string]bool, len(st.Holidays))
			for _, h := range st.Holidays {
				s.holidays[h] = true
			}
		}
		ix.byCode[st.Code] = len(ix.stores)
		ix.stores = append(ix.stores, s)
		ix.skillsOf = append(ix.skillsOf, st.Skills)
	}
	return ix
}

// weekdayKeys are opening-hours keys indexed by time.Weekday.
var weekdayKeys = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func (ix *Index) bit(skill string) uint64 {
	if b, ok := ix.skillBit[skill]; ok {
		return b
	}
	b := uint64(1) << min(len(ix.skillBit), 63)
	ix.skillBit[skill] = b
	return b
}

// Request is what the rules decide on.
type Request struct {
	Skill string
	// Lat and Lng are the service address in degrees.
	Lat, Lng float64
	// Date is the local service date, "2006-01-02".
	Date string
	// Exclude lists stores already tried for this request.
	Exclude []string
}

// ranked is a candidate or exclusion being listed.
type ranked struct {
	i       int
	dist    float64
	score   float64
	load    int
	reasons int
}

// Decide applies the hard rules to every store (active, located, has the
// skill, open on the date, capacity left that day given load, the address
// within its service radius, not tried before), then ranks the candidates
// by w. load returns a store's on-site work already assigned that day. The
// decision lists the best MaxListedCandidates candidates and the nearest
// MaxListedExclusions excluded stores with their reasons, and counts every
// exclusion by reason. A malformed date excludes every store as closed.
func (ix *Index) Decide(req Request, load func(store string) int, w lianlu.DispatchWeights) lianlu.DispatchDecision {
	d := lianlu.DispatchDecision{Skill: req.Skill, Date: req.Date, Lat: req.Lat, Lng: req.Lng, Weights: w,
		Candidates: []lianlu.DispatchCandidate{}, Excluded: []lianlu.DispatchExclusion{}, ExcludedCounts: map[string]int{},
		Attempts: []lianlu.DispatchAttempt{}, StoresConsidered: len(ix.stores)}
	dayBit := uint8(0)
	if t, err := time.Parse(time.DateOnly, req.Date); err == nil {
		dayBit = 1 << t.Weekday()
	}
	skillBit, known := ix.skillBit[req.Skill]
	exclude := map[int]bool{}
	for _, c := range req.Exclude {
		if i, ok := ix.byCode[c]; ok {
			exclude[i] = true
		}
	}
	rad := math.Pi / 180
	lat, lng := req.Lat*rad, req.Lng*rad
	cosLat := math.Cos(lat)
	var cands, excl []ranked
	var counts [7]int // by reason bit
	for i := range ix.stores {
		s := &ix.stores[i]
		r := 0
		if !s.active {
			r |= rInactive
		}
		if !known || s.skills&skillBit == 0 || (skillBit == 1<<63 && !slices.Contains(ix.skillsOf[i], req.Skill)) {
			r |= rSkill
		}
		if s.open&dayBit == 0 || s.holidays[req.Date] {
			r |= rClosed
		}
		if exclude[i] {
			r |= rTried
		}
		dist := -1.0
		switch {
		case !s.located:
			r |= rNoLocation
		case math.Abs(lat-s.lat)*geo.EarthRadiusKm > s.radiusKm && len(excl) == MaxListedExclusions &&
			excl[MaxListedExclusions-1].dist >= 0 && math.Abs(lat-s.lat)*geo.EarthRadiusKm >= excl[MaxListedExclusions-1].dist:
			// The latitude difference alone puts the store beyond its
			// radius and beyond the listed exclusions: no need for the
			// exact distance, which most of a country's stores skip.
			r |= rRadius
		default:
			dist = haversine(lat, lng, cosLat, s.lat, s.lng, s.cosLat)
			if dist > s.radiusKm {
				r |= rRadius
			}
		}
		l := 0
		switch {
		case s.capacity <= 0:
			r |= rFull
		case r == 0:
			// Load is looked up only for stores the other rules let
			// through.
			if l = load(s.code); l >= s.capacity {
				r |= rFull
			}
		}
		if r != 0 {
			for b := range reasonNames {
				if r&(1<<b) != 0 {
					counts[b]++
				}
			}
			excl = insertRanked(excl, ranked{i: i, dist: dist, reasons: r}, MaxListedExclusions, nearer)
			continue
		}
		score := w.Distance*ratio(dist, s.radiusKm) + w.Load*ratio(float64(l), float64(s.capacity))
		cands = insertRanked(cands, ranked{i: i, dist: dist, score: score, load: l}, MaxListedCandidates, better)
	}
	for b, n := range counts {
		if n > 0 {
			d.ExcludedCounts[reasonNames[b]] = n
		}
	}
	for _, c := range cands {
		s := ix.stores[c.i]
		d.Candidates = append(d.Candidates, lianlu.DispatchCandidate{Store: s.code, DistanceKm: round(c.dist), Load: c.load, Capacity: s.capacity, Score: round(c.score)})
	}
	for _, e := range excl {
		x := lianlu.DispatchExclusion{Store: ix.stores[e.i].code}
		if e.dist >= 0 {
			v := round(e.dist)
			x.DistanceKm = &v
		}
		for b, name := range reasonNames {
			if e.reasons&(1<<b) != 0 {
				x.Reasons = append(x.Reasons, name)
			}
		}
		d.Excluded = append(d.Excluded, x)
	}
	if len(d.Candidates) > 0 {
		d.Store = d.Candidates[0].Store
	} else {
		d.Flagged = true
	}
	return d
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 1
	}
	return a / b
}

func round(v float64) float64 { return math.Round(v*1000) / 1000 }

// better orders candidates by score, then distance, then code.
func better(a, b ranked) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return a.dist < b.dist
}

// nearer orders exclusions by distance, unlocated stores last.
func nearer(a, b ranked) bool {
	if (a.dist < 0) != (b.dist < 0) {
		return a.dist >= 0
	}
	return a.dist < b.dist
}

// insertRanked keeps the n best of list by less, in order: a bounded
// insertion that costs nothing for the many stores that do not make it.
func insertRanked(list []ranked, x ranked, n int, less func(a, b ranked) bool) []ranked {
	if len(list) == n && !less(x, list[n-1]) {
		return list
	}
	pos, _ := slices.BinarySearchFunc(list, x, func(e, t ranked) int {
		if less(t, e) {
			return 1
		}
		return -1
	})
	if len(list) < n {
		list = append(list, ranked{})
	}
	copy(list[pos+1:], list[pos:len(list)-1])
	list[pos] = x
	return list
}

// haversine is DistanceKm on radians with the latitudes' cosines given.
func haversine(lat1, lng1, cos1, lat2, lng2, cos2 float64) float64 {
	sLat := math.Sin((lat2 - lat1) / 2)
	sLng := math.Sin((lng2 - lng1) / 2)
	a := sLat*sLat + cos1*cos2*sLng*sLng
	return 2 * geo.EarthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}

// storeCodes lists the codes of attempts, for Request.Exclude.
func storeCodes(attempts []lianlu.DispatchAttempt) []string {
	out := make([]string, 0, len(attempts))
	for _, a := range attempts {
		out = append(out, a.Store)
	}
	return out
}

// ParseDate checks a local service date.
func ParseDate(s string) (time.Time, bool) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	return t, err == nil
}
