package web

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// overviewDays is the span of the orders chart.
const overviewDays = 14

// maxRateSeries is how many sources the event-rate chart draws; the rest
// are summed as "other".
const maxRateSeries = 5

type overviewData struct {
	O              sqlstore.Overview
	InProgress     int64
	Backordered    int64
	OpenWorkOrders int64
	BreachedOpen   int64
	OrdersChart    chart
	HandoffChart   chart
	RateChart      chart
	Handoffs       []sqlstore.DepartmentHandoffs
	WorkOrderDepts []deptCount
}

type deptCount struct {
	Department string
	N          int64
}

func (c *Console) handleOverview(w http.ResponseWriter, r *http.Request) error {
	tr := c.translatorOf(r)
	now := c.cfg.Now()
	ov, err := c.cfg.Queries.Overview(r.Context(), now, c.cfg.Location, overviewDays)
	if err != nil {
		return err
	}
	d := overviewData{O: ov, Handoffs: ov.Handoffs}
	d.InProgress = ov.Fulfillments[lianlu.FulfillmentReserved] + ov.Fulfillments[lianlu.FulfillmentPicked] + ov.Fulfillments[lianlu.FulfillmentShipped]
	d.Backordered = ov.Fulfillments[lianlu.FulfillmentBackordered]
	for dept, n := range ov.OpenWorkOrders {
		d.OpenWorkOrders += n
		d.WorkOrderDepts = append(d.WorkOrderDepts, deptCount{dept, n})
	}
	sort.Slice(d.WorkOrderDepts, func(i, j int) bool { return d.WorkOrderDepts[i].Department < d.WorkOrderDepts[j].Department })
	for _, h := range ov.Handoffs {
		d.BreachedOpen += h.Breached
	}

	// Orders per day, stacked by channel.
	var labels []string
	online := series{Name: tr.T("channel.online"), Class: "s0"}
	store := series{Name: tr.T("channel.store"), Class: "s1"}
	var orders int64
	for _, day := range ov.Days {
		labels = append(labels, day.Day.Format("01-02"))
		online.Values = append(online.Values, day.Online)
		store.Values = append(store.Values, day.Store)
		orders += day.Online + day.Store
	}
	d.OrdersChart = stackedBars(tr, labels, []series{online, store}, 560, 220, 2)
	d.OrdersChart.Title = tr.T("overview.chart.orders")
	if orders == 0 {
		d.OrdersChart.Empty = tr.T("overview.chart.orders.empty", overviewDays)
	}

	// Handoffs per receiving department: on track, due within the hour,
	// breached.
	var rows []hrow
	for _, h := range ov.Handoffs {
		if h.Open == 0 {
			continue
		}
		rows = append(rows, hrow{Label: deptLabel(tr, h.Department), Segments: []hseg{
			{Value: h.Open - h.DueSoon - h.Breached, Class: "ok", Name: tr.T("overview.handoffs.ontrack")},
			{Value: h.DueSoon, Class: "warn", Name: tr.T("overview.handoffs.duesoon")},
			{Value: h.Breached, Class: "bad", Name: tr.T("overview.handoffs.breached")},
		}})
	}
	d.HandoffChart = hbars(tr, rows, []legendItem{
		{Name: tr.T("overview.handoffs.ontrack"), Class: "ok"},
		{Name: tr.T("overview.handoffs.duesoon"), Class: "warn"},
		{Name: tr.T("overview.handoffs.breached"), Class: "bad"},
	}, 560)
	d.HandoffChart.Title = tr.T("overview.chart.handoffs")
	if len(rows) == 0 {
		d.HandoffChart.Empty = tr.T("overview.chart.handoffs.empty")
	}

	// Events per source and hour.
	names, err := c.sourceNames(r)
	if err != nil {
		return err
	}
	rates := append([]sqlstore.SourceRate(nil), ov.Rates...)
	sort.SliceStable(rates, func(i, j int) bool { return rates[i].Total > rates[j].Total })
	var ss []series
	var other series
	for i, rt := range rates {
		if i < maxRateSeries {
			ss = append(ss, series{Name: sourceLabel(tr, names, rt.Source), Class: "s" + strconv.Itoa(i), Values: rt.Hours})
			continue
		}
		if other.Values == nil {
			other = series{Name: tr.T("overview.rate.other"), Class: "s5", Values: make([]int64, len(rt.Hours))}
		}
		for h, n := range rt.Hours {
			other.Values[h] += n
		}
	}
	if other.Values != nil {
		ss = append(ss, other)
	}
	var hours []string
	for i := range sqlstore.RateHours {
		hours = append(hours, ov.RateStart.Add(time.Duration(i)*time.Hour).In(c.cfg.Location).Format("15h"))
	}
	d.RateChart = lines(tr, hours, ss, 560, 220, 4)
	d.RateChart.Title = tr.T("overview.chart.rate")
	if len(ss) == 0 {
		d.RateChart.Empty = tr.T("overview.chart.rate.empty")
	}
	return c.render(w, r, http.StatusOK, "overview", "overview", true, d)
}

// sourceNames maps the event source of each collector source
// ("segment:<id>") to its name.
func (c *Console) sourceNames(r *http.Request) (map[string]string, error) {
	srcs, err := c.cfg.Sources.FindSources(r.Context(), "", 0, 1000)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, s := range srcs {
		names[collect.SegmentSourcePrefix+strconv.FormatInt(s.ID, 10)] = s.Name
	}
	return names, nil
}

// sourceLabel names an event source: a collector source by its name,
// Lianlu's own commands as such, others as they are.
func sourceLabel(tr *translator, names map[string]string, src string) string {
	if n, ok := names[src]; ok {
		return n
	}
	if src == sqlstore.CommandSource {
		return tr.T("source.commands")
	}
	return strings.TrimSpace(src)
}

// deptLabel names a department in the user's language; departments added
// later than the seeded ones show their id.
func deptLabel(tr *translator, dept string) string {
	if tr.Has("dept." + dept) {
		return tr.T("dept." + dept)
	}
	return dept
}
