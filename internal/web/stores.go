package web

import (
	"math"
	"net/http"

	"github.com/lianlu/lianlu"
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

// mapPoint is a location on the map.
type mapPoint struct {
	X, Y  float64
	Code  string
	Name  string
	Label bool
}

const (
	mapWidth   = 640.0
	mapMinSpan = 16.0
	mapPad     = 2.5
)

func storeMap(tr *translator, locs []lianlu.Location) mapView {
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
		p := mapPoint{X: x(*l.Lng), Y: y(*l.Lat), Code: l.Code, Name: l.Name, Label: true}
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

type storesData struct {
	Stores     []lianlu.Location
	Warehouses []lianlu.Location
	Map        mapView
}

func (c *Console) handleStores(w http.ResponseWriter, r *http.Request) error {
	locs, err := c.cfg.Catalog.FindLocations(r.Context(), lianlu.LocationFilter{Limit: 1000})
	if err != nil {
		return err
	}
	var d storesData
	for _, l := range locs {
		if l.Kind == lianlu.LocationStore {
			d.Stores = append(d.Stores, l)
		} else {
			d.Warehouses = append(d.Warehouses, l)
		}
	}
	d.Map = storeMap(c.translatorOf(r), locs)
	return c.render(w, r, http.StatusOK, "stores", "stores", false, d)
}

// storeData is one store's page. Opening hours, staff and the QR code to
// join the membership belong here once stores carry them (the store and
// member services of the channel capability).
type storeData struct {
	Store      lianlu.Location
	Orders     []sqlstore.OrderSummary
	WorkOrders []lianlu.WorkOrder
}

func (c *Console) handleStore(w http.ResponseWriter, r *http.Request) error {
	l, err := c.cfg.Catalog.FindLocationByCode(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	if l.Kind != lianlu.LocationStore {
		return notFound()
	}
	d := storeData{Store: l}
	if d.Orders, err = c.cfg.Queries.RecentOrders(r.Context(), l.Code, 0, 20); err != nil {
		return err
	}
	s := sessionOf(r)
	for _, status := range []string{lianlu.WorkOrderOpen, lianlu.WorkOrderAccepted} {
		wos, err := c.cfg.WorkOrders.FindWorkOrders(r.Context(), lianlu.WorkOrderFilter{Store: l.Code, Status: status, Limit: 100})
		if err != nil {
			return err
		}
		for _, wo := range wos {
			if seesDepartment(s, wo.Department) {
				d.WorkOrders = append(d.WorkOrders, wo)
			}
		}
	}
	return c.render(w, r, http.StatusOK, "store", "stores", true, d)
}
