package web

import (
	"math"
	"net/http"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// The map's frame: mainland China and its coasts, in degrees.
const (
	mapLngMin, mapLngMax = 73.0, 135.5
	mapLatMin, mapLatMax = 17.5, 54.0
	mapWidth             = 640.0
)

// mapPoint is a location on the map.
type mapPoint struct {
	X, Y  float64
	Code  string
	Name  string
	Kind  string
	Label bool
}

// mapView is the stores' SVG map: an equirectangular projection scaled
// for the frame's middle latitude, with a graticule every 10 degrees.
type mapView struct {
	Width, Height float64
	Points        []mapPoint
	Meridians     []label
	Parallels     []label
	Empty         string
}

func storeMap(tr *translator, locs []lianlu.Location) mapView {
	k := math.Cos((mapLatMin + mapLatMax) / 2 * math.Pi / 180)
	m := mapView{Width: mapWidth, Height: math.Round(mapWidth * (mapLatMax - mapLatMin) / ((mapLngMax - mapLngMin) * k))}
	x := func(lng float64) float64 { return (lng - mapLngMin) / (mapLngMax - mapLngMin) * m.Width }
	y := func(lat float64) float64 { return (mapLatMax - lat) / (mapLatMax - mapLatMin) * m.Height }
	for lng := 80.0; lng < mapLngMax; lng += 10 {
		m.Meridians = append(m.Meridians, label{X: x(lng), Y: m.Height - 4, Text: tr.T("map.east", int(lng))})
	}
	for lat := 20.0; lat < mapLatMax; lat += 10 {
		m.Parallels = append(m.Parallels, label{X: 4, Y: y(lat) - 3, Text: tr.T("map.north", int(lat))})
	}
	for _, l := range locs {
		if l.Lat == nil || l.Lng == nil || *l.Lng < mapLngMin || *l.Lng > mapLngMax || *l.Lat < mapLatMin || *l.Lat > mapLatMax {
			continue
		}
		p := mapPoint{X: x(*l.Lng), Y: y(*l.Lat), Code: l.Code, Name: l.Name, Kind: l.Kind}
		// Label a point unless one already labelled is close by.
		p.Label = true
		for _, q := range m.Points {
			if q.Label && math.Hypot(q.X-p.X, q.Y-p.Y) < 28 {
				p.Label = false
				break
			}
		}
		m.Points = append(m.Points, p)
	}
	if len(m.Points) == 0 {
		m.Empty = tr.T("stores.map.empty")
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
