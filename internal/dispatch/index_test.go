package dispatch

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
)

func f(v float64) *float64 { return &v }

func store(code string, lat, lng float64, skills []string, capacity int, radius float64) lianlu.Store {
	h := lianlu.OpeningHours{}
	for _, d := range lianlu.Weekdays {
		h[d] = [][2]string{{"10:00", "22:00"}}
	}
	return lianlu.Store{Location: lianlu.Location{Code: code, Kind: "store", Lat: f(lat), Lng: f(lng), Timezone: "Asia/Shanghai", Active: true},
		Hours: h, Skills: skills, CapacityPerDay: capacity, ServiceRadiusKm: radius}
}

func TestDecideRules(t *testing.T) {
	// The customer is at People's Square, Shanghai.
	const lat, lng = 31.2304, 121.4737
	closedSun := store("CLOSED-SUN", 31.231, 121.474, []string{"install"}, 5, 30)
	delete(closedSun.Hours, "sun")
	holiday := store("HOLIDAY", 31.232, 121.475, []string{"install"}, 5, 30)
	holiday.Holidays = []string{"2026-12-06"}
	inactive := store("INACTIVE", 31.23, 121.47, []string{"install"}, 5, 30)
	inactive.Active = false
	unlocated := store("NOWHERE", 0, 0, []string{"install"}, 5, 30)
	unlocated.Lat, unlocated.Lng = nil, nil
	stores := []lianlu.Store{
		store("NO-SKILL", 31.2305, 121.4738, []string{"repair"}, 5, 30),
		store("FULL", 31.24, 121.48, []string{"install"}, 2, 30),
		store("FAR", 31.30, 121.55, []string{"install", "repair"}, 5, 30), // ~11 km
		store("TOO-FAR", 31.90, 121.50, []string{"install"}, 5, 30),       // ~74 km
		store("NO-CAPACITY", 31.2306, 121.4739, []string{"install"}, 0, 30),
		closedSun, holiday, inactive, unlocated,
	}
	ix := NewIndex(stores)
	loads := map[string]int{"FULL": 2, "FAR": 1}
	load := func(s string) int { return loads[s] }
	for _, tc := range []struct {
		name    string
		req     Request
		store   string
		reasons map[string][]string
	}{
		{"sunday: only the far store qualifies", Request{Skill: "install", Lat: lat, Lng: lng, Date: "2026-12-06"}, "FAR", map[string][]string{
			"NO-SKILL": {"lacks_skill"}, "FULL": {"full_on_date"}, "TOO-FAR": {"out_of_radius"}, "NO-CAPACITY": {"full_on_date"},
			"CLOSED-SUN": {"closed_on_date"}, "HOLIDAY": {"closed_on_date"}, "INACTIVE": {"inactive"}, "NOWHERE": {"no_location"},
		}},
		{"monday: the nearer open stores win", Request{Skill: "install", Lat: lat, Lng: lng, Date: "2026-12-07"}, "CLOSED-SUN", nil},
		{"already tried", Request{Skill: "install", Lat: lat, Lng: lng, Date: "2026-12-06", Exclude: []string{"FAR"}}, "", map[string][]string{"FAR": {"already_tried"}}},
		{"unknown skill", Request{Skill: "paint", Lat: lat, Lng: lng, Date: "2026-12-06"}, "", map[string][]string{"FAR": {"lacks_skill"}}},
		{"bad date", Request{Skill: "install", Lat: lat, Lng: lng, Date: "someday"}, "", map[string][]string{"FAR": {"closed_on_date"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := ix.Decide(tc.req, load, DefaultWeights)
			if d.Store != tc.store || d.Flagged != (tc.store == "") {
				t.Fatalf("store %q flagged %v, want %q: %+v", d.Store, d.Flagged, tc.store, d.Candidates)
			}
			got := map[string][]string{}
			for _, x := range d.Excluded {
				got[x.Store] = x.Reasons
			}
			for s, want := range tc.reasons {
				if !slices.Equal(got[s], want) {
					t.Errorf("%s excluded for %v, want %v", s, got[s], want)
				}
			}
			n := 0
			for _, c := range d.ExcludedCounts {
				n += c
			}
			if n < len(d.Excluded) || len(d.Candidates)+len(d.Excluded) != len(stores) {
				t.Errorf("counts %v, %d candidates, %d excluded", d.ExcludedCounts, len(d.Candidates), len(d.Excluded))
			}
		})
	}
}

func TestDecideRanking(t *testing.T) {
	// Two stores at 5 and 10 km with radius 20: by distance the nearer
	// wins; when it is nearly full and load weighs more, the farther does.
	near := store("NEAR", 31.2754, 121.4737, []string{"install"}, 10, 20) // 5 km north
	far := store("FAR", 31.3203, 121.4737, []string{"install"}, 10, 20)   // 10 km north
	ix := NewIndex([]lianlu.Store{far, near})
	req := Request{Skill: "install", Lat: 31.2304, Lng: 121.4737, Date: "2026-12-07"}
	loads := map[string]int{"NEAR": 9}
	load := func(s string) int { return loads[s] }
	if d := ix.Decide(req, load, lianlu.DispatchWeights{Distance: 1}); d.Store != "NEAR" || d.Candidates[1].Store != "FAR" {
		t.Fatalf("distance only: %+v", d.Candidates)
	}
	if d := ix.Decide(req, load, DefaultWeights); d.Store != "FAR" {
		// NEAR: 0.7*0.25 + 0.3*0.9 = 0.445; FAR: 0.7*0.5 + 0 = 0.35.
		t.Fatalf("default weights: %+v", d.Candidates)
	}
	if d := ix.Decide(req, load, DefaultWeights); d.Candidates[0].DistanceKm < 9.9 || d.Candidates[0].DistanceKm > 10.1 {
		t.Fatalf("distance: %+v", d.Candidates[0])
	}
}

func TestInsertRankedKeepsBest(t *testing.T) {
	var list []ranked
	r := rand.New(rand.NewPCG(1, 2))
	var all []float64
	for i := range 500 {
		v := r.Float64()
		all = append(all, v)
		list = insertRanked(list, ranked{i: i, dist: v}, 20, nearer)
	}
	sort.Float64s(all)
	for i, e := range list {
		if e.dist != all[i] {
			t.Fatalf("position %d: %v, want %v", i, e.dist, all[i])
		}
	}
}

// benchStores spreads n stores over eastern China, a fifth of them with
// each skill, so that a request sees a realistic mix of candidates and
// exclusions.
func benchStores(n int) []lianlu.Store {
	r := rand.New(rand.NewPCG(7, 11))
	skills := []string{"install", "repair", "fitting", "clean", "measure"}
	out := make([]lianlu.Store, n)
	for i := range out {
		out[i] = store(fmt.Sprintf("S%05d", i), 22+r.Float64()*18, 110+r.Float64()*12, []string{skills[i%5], skills[(i+2)%5]}, 1+r.IntN(8), 5+r.Float64()*45)
		if i%7 == 0 {
			delete(out[i].Hours, "sun")
		}
	}
	return out
}

// BenchmarkDecide10k measures one dispatch decision among 10,000 stores
// (the rules, the ranking and the listed reasons), reporting p50 and p99.
func BenchmarkDecide10k(b *testing.B) {
	ix := NewIndex(benchStores(10_000))
	r := rand.New(rand.NewPCG(3, 5))
	loads := map[string]int{}
	for i := range 3000 {
		loads[fmt.Sprintf("S%05d", r.IntN(10_000))] = i % 6
	}
	load := func(s string) int { return loads[s] }
	reqs := make([]Request, 256)
	for i := range reqs {
		reqs[i] = Request{Skill: []string{"install", "repair", "fitting"}[i%3], Lat: 24 + r.Float64()*14, Lng: 112 + r.Float64()*8, Date: "2026-12-06"}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		d := ix.Decide(reqs[i%len(reqs)], load, DefaultWeights)
		lat = append(lat, time.Since(start))
		if d.StoresConsidered != 10_000 {
			b.Fatal("not all stores considered")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99_µs")
}

// Stores without a location at the end of a full exclusion list must not
// hide a located store from it: located stores are listed first.
func TestDecideListsLocatedExclusionsFirst(t *testing.T) {
	var stores []lianlu.Store
	for i := range MaxListedExclusions {
		s := store(fmt.Sprintf("NOWHERE-%02d", i), 0, 0, []string{"install"}, 5, 30)
		s.Lat, s.Lng = nil, nil
		stores = append(stores, s)
	}
	stores = append(stores, store("FAR-AWAY", 35.0, 121.47, []string{"install"}, 5, 30)) // ~420 km north
	d := NewIndex(stores).Decide(Request{Skill: "install", Lat: 31.2304, Lng: 121.4737, Date: "2026-12-07"}, func(string) int { return 0 }, lianlu.DispatchWeights{Distance: 1})
	if !slices.ContainsFunc(d.Excluded, func(x lianlu.DispatchExclusion) bool { return x.Store == "FAR-AWAY" && x.DistanceKm != nil }) {
		t.Fatalf("the located store is not among the exclusions: %+v", d.Excluded)
	}
}

// validateRequest keeps the date in the normal form the decision reads,
// and bounds the external id so that its work order ref fits.
func TestValidateRequestNormalises(t *testing.T) {
	lat, lng := 31.23, 121.47
	r := lianlu.ServiceRequest{Member: &lianlu.MemberRef{ID: 1}, Kind: "on_site", Skill: "install",
		Address: &lianlu.Address{Lat: &lat, Lng: &lng}, PreferredDate: " 2026-12-07 "}
	if errs := validateRequest(&r); len(errs) != 0 || r.PreferredDate != "2026-12-07" {
		t.Fatalf("errors %v, date %q", errs, r.PreferredDate)
	}
	r.ExternalID = fmt.Sprintf("%0*d", 128-len(serviceRequestRefPrefix)+1, 0)
	errs := validateRequest(&r)
	if len(errs) != 1 || errs[0].Field != "external_id" {
		t.Fatalf("a too long external id: %v", errs)
	}
}
