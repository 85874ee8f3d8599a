package web

import (
	"cmp"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/join"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// mapView is the stores' SVG map: an equirectangular projection scaled
// for the frame's middle latitude, framed around the locations (at least
// mapMinSpan degrees wide), with a graticule every 5 or 10 degrees.
type mapView struct {
	Width, Height float64
	Stores        []mapPoint
	Warehouses    []mapPoint
	Meridians     []label
	Parallels     []label
	Empty         string
}

// mapPoint is a location on the map; R is a store's service radius in
// map units (0 for none).
type mapPoint struct {
	X, Y, R float64
	Code    string
	Name    string
	Label   bool
}

const (
	mapWidth   = 640.0
	mapMinSpan = 16.0
	mapPad     = 2.5
)

// storeMap draws locs; radius gives a store's service radius in km.
func storeMap(tr *translator, locs []lianlu.Location, radius map[string]float64) mapView {
	m := mapView{Width: mapWidth}
	var pts []lianlu.Location
	lngMin, lngMax, latMin, latMax := 180.0, -180.0, 90.0, -90.0
	for _, l := range locs {
		if l.Lat == nil || l.Lng == nil {
			continue
		}
		pts = append(pts, l)
		lngMin, lngMax = math.Min(lngMin, *l.Lng), math.Max(lngMax, *l.Lng)
		latMin, latMax = math.Min(latMin, *l.Lat), math.Max(latMax, *l.Lat)
	}
	if len(pts) == 0 {
		m.Empty = tr.T("stores.map.empty")
		return m
	}
	grow := func(lo, hi float64) (float64, float64) {
		lo, hi = lo-mapPad, hi+mapPad
		if hi-lo < mapMinSpan {
			mid := (lo + hi) / 2
			lo, hi = mid-mapMinSpan/2, mid+mapMinSpan/2
		}
		return lo, hi
	}
	lngMin, lngMax = grow(lngMin, lngMax)
	latMin, latMax = grow(latMin, latMax)
	latMin, latMax = math.Max(latMin, -85), math.Min(latMax, 85)
	k := math.Cos((latMin + latMax) / 2 * math.Pi / 180)
	m.Height = math.Round(mapWidth * (latMax - latMin) / ((lngMax - lngMin) * k))
	x := func(lng float64) float64 { return (lng - lngMin) / (lngMax - lngMin) * m.Width }
	y := func(lat float64) float64 { return (latMax - lat) / (latMax - latMin) * m.Height }
	step := 10.0
	if lngMax-lngMin < 30 {
		step = 5
	}
	for lng := math.Ceil(lngMin/step) * step; lng < lngMax; lng += step {
		m.Meridians = append(m.Meridians, label{X: x(lng), Y: m.Height - 4, Text: tr.T("map.east", int(lng))})
	}
	for lat := math.Ceil(latMin/step) * step; lat < latMax; lat += step {
		m.Parallels = append(m.Parallels, label{X: 4, Y: y(lat) - 3, Text: tr.T("map.north", int(lat))})
	}
	var labelled []mapPoint
	for _, l := range pts {
		// A degree of latitude is 111.2 km everywhere.
		p := mapPoint{X: x(*l.Lng), Y: y(*l.Lat), R: radius[l.Code] / 111.2 * m.Height / (latMax - latMin), Code: l.Code, Name: l.Name, Label: true}
		if l.Kind != lianlu.LocationStore {
			m.Warehouses = append(m.Warehouses, p)
			continue
		}
		// Label a store unless one already labelled is close by.
		for _, q := range labelled {
			if math.Abs(q.Y-p.Y) < 14 && math.Abs(q.X-p.X) < 90 {
				p.Label = false
				break
			}
		}
		if p.Label {
			labelled = append(labelled, p)
		}
		m.Stores = append(m.Stores, p)
	}
	return m
}

// storeRow is a store in the list: its hours today in its own time zone.
type storeRow struct {
	lianlu.Store
	Today   [][2]string
	OpenNow bool
}

type storesData struct {
	Stores     []storeRow
	Warehouses []lianlu.Location
	Map        mapView
}

// weekdayKey is t's key in lianlu.OpeningHours ("mon" … "sun").
func weekdayKey(t time.Time) string { return lianlu.Weekdays[(int(t.Weekday())+6)%7] }

// storeNow is the time in the store's zone (the console's when unknown).
func (c *Console) storeNow(st lianlu.Store) time.Time {
	now := c.cfg.Now()
	if loc, err := time.LoadLocation(st.Timezone); err == nil && st.Timezone != "" {
		return now.In(loc)
	}
	return now.In(c.cfg.Location)
}

// openAt reports whether local time t is within one of spans ("HH:MM"
// pairs, compared as text, which orders them as times).
func openAt(spans [][2]string, t time.Time) bool {
	hm := t.Format("15:04")
	for _, sp := range spans {
		if hm >= sp[0] && hm < sp[1] {
			return true
		}
	}
	return false
}

// allStores reads every store through the store service, by id, and the
// locations of kind store that were created as plain locations (without
// hours, skills or staff yet).
func (c *Console) allStores(r *http.Request) ([]lianlu.Store, error) {
	var out []lianlu.Store
	seen := map[string]bool{}
	for after := int64(0); ; {
		page, err := c.cfg.Stores.FindStores(r.Context(), lianlu.StoreFilter{AfterID: after, Limit: 500})
		if err != nil {
			return nil, err
		}
		for _, st := range page {
			seen[st.Code] = true
		}
		out = append(out, page...)
		if len(page) < 500 || len(out) >= maxListedStores {
			break
		}
		after = page[len(page)-1].ID
	}
	locs, err := c.cfg.Catalog.FindLocations(r.Context(), lianlu.LocationFilter{Kind: lianlu.LocationStore, Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, l := range locs {
		if !seen[l.Code] {
			out = append(out, lianlu.Store{Location: l})
		}
	}
	slices.SortFunc(out, func(a, b lianlu.Store) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// findStore returns a store by code: through the store service, or a
// location of kind store without store attributes yet.
func (c *Console) findStore(r *http.Request, code string) (lianlu.Store, error) {
	st, err := c.cfg.Stores.FindStoreByCode(r.Context(), code)
	if lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
		return st, err
	}
	l, err := c.cfg.Catalog.FindLocationByCode(r.Context(), code)
	if err != nil {
		return lianlu.Store{}, err
	}
	if l.Kind != lianlu.LocationStore {
		return lianlu.Store{}, notFound()
	}
	return lianlu.Store{Location: l}, nil
}

// maxListedStores bounds the stores page.
const maxListedStores = 5000

func (c *Console) handleStores(w http.ResponseWriter, r *http.Request) error {
	stores, err := c.allStores(r)
	if err != nil {
		return err
	}
	locs, err := c.cfg.Catalog.FindLocations(r.Context(), lianlu.LocationFilter{Kind: lianlu.LocationWarehouse, Limit: 1000})
	if err != nil {
		return err
	}
	d := storesData{Warehouses: locs}
	radius := map[string]float64{}
	for _, st := range stores {
		now := c.storeNow(st)
		today := st.Hours[weekdayKey(now)]
		if slices.Contains(st.Holidays, now.Format(time.DateOnly)) {
			today = nil
		}
		d.Stores = append(d.Stores, storeRow{Store: st, Today: today, OpenNow: st.Active && openAt(today, now)})
		locs = append(locs, st.Location)
		radius[st.Code] = st.ServiceRadiusKm
	}
	d.Map = storeMap(c.translatorOf(r), locs, radius)
	return c.render(w, r, http.StatusOK, "stores", "stores", false, d)
}

// weekdayHours is one row of a store's opening hours.
type weekdayHours struct {
	Day   string
	Spans [][2]string
	Today bool
}

// staffQR is a staff member with her own join URL.
type staffQR struct {
	lianlu.StaffMember
	JoinURL string
}

// serviceRequest is an on-site request as a store's page shows it.
type serviceRequest struct {
	lianlu.WorkOrder
	// Here is set while the request waits for this store to accept it.
	Here bool
	// PassedOn is set when this store was asked before another one.
	PassedOn bool
	Excluded []reasonCount
	// CanAct: the user may accept or reject it for this store.
	CanAct bool
}

// reasonCount is how many stores one dispatch rule excluded.
type reasonCount struct {
	Reason string
	N      int
}

type storeData struct {
	Store      lianlu.Store
	Hours      []weekdayHours
	OpenNow    bool
	JoinURL    string
	Staff      []staffQR
	Requests   []serviceRequest
	SeesWork   bool
	Orders     []sqlstore.OrderSummary
	WorkOrders []lianlu.WorkOrder
	Back       string
	Done       string
	DoneID     string
}

// serviceRequestLimit bounds a store page's service requests.
const serviceRequestLimit = 50

func (c *Console) handleStore(w http.ResponseWriter, r *http.Request) error {
	st, err := c.findStore(r, r.PathValue("code"))
	if err != nil {
		return err
	}
	now := c.storeNow(st)
	d := storeData{Store: st, JoinURL: join.URL(c.joinBase(), st.Code, ""), Back: "/stores/" + url.PathEscape(st.Code)}
	if done := r.URL.Query().Get("done"); slices.Contains([]string{"accepted", "rejected"}, done) {
		if _, err := strconv.ParseInt(r.URL.Query().Get("wo"), 10, 64); err == nil {
			d.Done, d.DoneID = done, r.URL.Query().Get("wo")
		}
	}
	for _, day := range lianlu.Weekdays {
		d.Hours = append(d.Hours, weekdayHours{Day: day, Spans: st.Hours[day], Today: day == weekdayKey(now)})
	}
	d.OpenNow = st.Active && !slices.Contains(st.Holidays, now.Format(time.DateOnly)) && openAt(st.Hours[weekdayKey(now)], now)
	for _, m := range st.Staff {
		if m.Active {
			d.Staff = append(d.Staff, staffQR{StaffMember: m, JoinURL: join.URL(c.joinBase(), st.Code, m.Code)})
		}
	}
	if d.Orders, err = c.cfg.Queries.RecentOrders(r.Context(), st.Code, 0, 20); err != nil {
		return err
	}
	s := sessionOf(r)
	// Service requests carry members and addresses: the departments that
	// handle them see them, as in the API.
	d.SeesWork = seesDepartment(s, lianlu.DeptStores) || seesDepartment(s, lianlu.DeptService)
	if d.SeesWork {
		wos, err := c.cfg.Queries.ServiceRequests(r.Context(), st.Code, serviceRequestLimit)
		if err != nil {
			return err
		}
		for _, wo := range wos {
			d.Requests = append(d.Requests, c.viewServiceRequest(s, st.Code, wo))
		}
	}
	for _, status := range []string{lianlu.WorkOrderOpen, lianlu.WorkOrderAccepted} {
		wos, err := c.cfg.WorkOrders.FindWorkOrders(r.Context(), lianlu.WorkOrderFilter{Store: st.Code, Status: status, Limit: 100})
		if err != nil {
			return err
		}
		for _, wo := range wos {
			if wo.Dispatch == nil && seesDepartment(s, wo.Department) {
				d.WorkOrders = append(d.WorkOrders, wo)
			}
		}
	}
	return c.render(w, r, http.StatusOK, "store", "stores", true, d)
}

// viewServiceRequest prepares a request for a store's page (or a queue).
func (c *Console) viewServiceRequest(s *session, store string, wo lianlu.WorkOrder) serviceRequest {
	v := serviceRequest{WorkOrder: wo}
	if d := wo.Dispatch; d != nil {
		for reason, n := range d.ExcludedCounts {
			v.Excluded = append(v.Excluded, reasonCount{Reason: reason, N: n})
		}
		slices.SortFunc(v.Excluded, func(a, b reasonCount) int {
			if a.N != b.N {
				return b.N - a.N
			}
			return strings.Compare(a.Reason, b.Reason)
		})
		if n := len(d.Attempts); n > 0 {
			last := d.Attempts[n-1]
			v.Here = wo.Status == lianlu.WorkOrderOpen && last.Outcome == lianlu.AttemptPending && last.Store == store && wo.Store == store
		}
		v.PassedOn = wo.Store != store
	}
	v.CanAct = v.Here && s.user.Role.AtLeast(lianlu.RoleOperator) && seesStore(s, store)
	return v
}

// joinBase is the base of the join URLs QR codes encode.
func (c *Console) joinBase() string {
	if c.cfg.JoinBaseURL != "" {
		return c.cfg.JoinBaseURL
	}
	return c.cfg.BaseURL
}

// handleStoreQR serves a store's (or, with ?staff=, a staff member's) join
// QR code, rendered as the API renders it; ?download=1 saves it as a file.
func (c *Console) handleStoreQR(format string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		st, err := c.findStore(r, r.PathValue("code"))
		if err != nil {
			return err
		}
		staff := r.URL.Query().Get("staff")
		q, err := join.RenderStoreQR(st, c.joinBase(), staff, format, 0)
		if err != nil {
			return err
		}
		h := w.Header()
		h.Set("Content-Type", q.ContentType)
		h.Set("Cache-Control", "private, max-age=300")
		h.Set("X-Join-URL", q.URL)
		if r.URL.Query().Get("download") != "" {
			name := "qr-" + st.Code
			if staff != "" {
				name += "-" + staff
			}
			h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + "." + format}))
		}
		_, err = w.Write(q.Body)
		return err
	}
}

// handleRejectServiceRequest is a store saying it cannot take an on-site
// request: the dispatcher asks the next store.
func (c *Console) handleRejectServiceRequest(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	wo, err := c.cfg.WorkOrders.FindWorkOrderByID(r.Context(), id)
	if err != nil {
		return err
	}
	s := sessionOf(r)
	if wo.Kind != lianlu.WorkOrderOnSite || wo.Dispatch == nil || !seesDepartment(s, lianlu.DeptStores) || !seesStore(s, wo.Store) {
		return notFound()
	}
	if wo, err = c.cfg.Dispatch.RejectServiceRequest(r.Context(), id, strings.TrimSpace(r.PostForm.Get("reason"))); err != nil {
		return err
	}
	afterAction(w, r, "rejected", wo)
	return nil
}
