package demo

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
	"github.com/lianlu/lianlu/internal/dispatch"
	"github.com/lianlu/lianlu/internal/geo"
	"github.com/lianlu/lianlu/internal/identity"
	"github.com/lianlu/lianlu/internal/offer"
	"github.com/lianlu/lianlu/internal/sla"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// task is something that happens at a simulated time.
type task struct {
	at  time.Time
	seq int64
	run func(ctx context.Context) error
}

// taskQueue orders tasks by time, then by when they were scheduled, so
// that the order of the simulation never depends on anything but the seed.
type taskQueue []*task

func (q taskQueue) Len() int { return len(q) }
func (q taskQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q taskQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *taskQueue) Push(x any)   { *q = append(*q, x.(*task)) }
func (q *taskQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	*q = old[:len(old)-1]
	return t
}

// customer is a person who shops with the brand.
type customer struct {
	n     int
	phone string
	// altPhone is a second number some use online (a work phone): the
	// member they become online and the one they join in a store as are
	// two, each verified, until an operator merges them.
	altPhone string
	email    string
	city     *City
	anon     string
	// joined: she has an account (a userId); storeJoined: she joined with
	// a store's QR code; member: Lianlu knows her as a member.
	joined, storeJoined, member bool
	// identified: the app has identified her with her current phone.
	identified bool
	// coupon is the code she brings to her next online order, from the
	// member couponMember.
	coupon       string
	couponMember int64
}

// onlinePhone is the number she gives online.
func (c *customer) onlinePhone() string {
	if c.altPhone != "" {
		return c.altPhone
	}
	return c.phone
}

func (c *customer) userID() string { return "cust-" + strconv.Itoa(c.n) }

// services are the ones the API uses.
type services struct {
	catalog      *sqlstore.CatalogService
	inventory    *sqlstore.InventoryService
	orders       *sqlstore.OrderService
	fulfillments *sqlstore.FulfillmentService
	workorders   *sqlstore.WorkOrderService
	feedback     *sqlstore.FeedbackService
	sources      *sqlstore.SourceService
	events       *sqlstore.EventService
	stores       *sqlstore.StoreService
	members      *sqlstore.MemberService
	offers       *offer.Service
}

func newServices(db *sqlstore.DB) services {
	return services{
		catalog: sqlstore.NewCatalogService(db), inventory: sqlstore.NewInventoryService(db), orders: sqlstore.NewOrderService(db),
		fulfillments: sqlstore.NewFulfillmentService(db), workorders: sqlstore.NewWorkOrderService(db),
		feedback: sqlstore.NewFeedbackService(db), sources: sqlstore.NewSourceService(db), events: sqlstore.NewEventService(db),
		stores: sqlstore.NewStoreService(db), members: sqlstore.NewMemberService(db), offers: offer.NewService(db, nil),
	}
}

// consumer is a subscription on the event log the simulation drives: one
// batch at a time, at the simulated time of the task that appended it.
type consumer interface {
	ProcessOnce(ctx context.Context) (int, error)
}

// scanner is a worker's periodic scan (due offers, dispatch deadlines).
type scanner interface {
	ScanOnce(ctx context.Context) (int, error)
}

// demoSources are the collector sources the brand's systems send from.
type demoSources struct{ web, app, pos, server lianlu.Source }

// sourceNames name them (the live trickle finds them by name).
var sourceNames = struct{ web, app, pos, server string }{"青禾商城 网站", "青禾商城 小程序", "门店收银 POS", "商城订单服务"}

type sim struct {
	cfg   Config
	rng   *rand.Rand
	svc   services
	loc   *time.Location
	start time.Time
	end   time.Time
	q     taskQueue
	seq   int64
	now   time.Time

	customers []*customer
	phones    map[string]bool
	srcs      demoSources
	msgN      int64
	orderN    int64
	members   int
	orders    int

	// stores are the brand's stores as the store service holds them.
	stores []lianlu.Store
	// dispatch sends on-site requests to stores; scanner passes on those
	// not accepted in time (nil live: the server's dispatcher does).
	dispatch lianlu.DispatchService
	scanner  scanner
	// consumers run after each task: the identity resolver, the offer
	// engine, the dispatcher's acceptance subscription and the flows (live,
	// only the flows: the server runs the others).
	consumers []consumer
	// scans run with the SLA scan: due offers and dispatch deadlines.
	scans []scanner
	// twice are customers Lianlu knows as one member online (a newsletter
	// email, a second phone) who have not joined in a store yet: when they
	// do, identity rules merge the two, or list a conflict.
	twice []*customer
	// idle is the log's head when each consumer last found nothing.
	idle []int64
	extN int64
	// byMember finds the customer of a member; lastSend is the newest
	// offer send looked at; planned the attempt each request was planned
	// up to.
	byMember map[int64]*customer
	lastSend int64
	planned  map[int64]int

	cals      map[string]*sla.Calendar
	stockGoal map[string]int64 // "location|sku" → level receipts top up to
	progress  *progress

	// live runs on the real clock with delays divided by speed (trickle).
	live  bool
	speed float64
	// idPrefix keeps a live run's ids apart from the history's.
	idPrefix string
	// touchesOnly is set by a task that only sent collector messages.
	touchesOnly bool
}

func newSim(ctx context.Context, cfg Config) (*sim, error) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		loc = time.FixedZone("CST", 8*3600)
	}
	end := cfg.End.UTC().Truncate(time.Minute)
	s := &sim{
		cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x6c69616e6c75)), svc: newServices(cfg.DB), loc: loc,
		end: end, phones: map[string]bool{}, cals: map[string]*sla.Calendar{}, stockGoal: map[string]int64{},
		byMember: map[int64]*customer{}, planned: map[int64]int{},
	}
	// The workers serve runs in the background run here on the simulated
	// clock, driven after each task like the flow runner, so that what
	// they do happens at simulated times and in the same order every run.
	resolver := identity.NewResolver(cfg.DB, identity.Config{Logger: cfg.Logger})
	engine := offer.NewEngine(cfg.DB, offer.EngineConfig{Logger: cfg.Logger})
	dispatcher := dispatch.NewService(cfg.DB, s.svc.stores, dispatch.Config{Logger: cfg.Logger})
	s.svc.offers = offer.NewService(cfg.DB, engine)
	s.dispatch, s.scanner = dispatcher, dispatcher
	s.consumers = []consumer{resolver, engine, dispatcher, cfg.Runner}
	s.scans = []scanner{engine, dispatcher}
	local := end.In(loc)
	s.start = time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, -cfg.Scale.Days)
	s.progress = newProgress(cfg.Progress, s.start, s.end)
	return s, nil
}

// as returns ctx acting as a system of the brand: its events and audit
// entries name it.
func as(ctx context.Context, name, dept string) context.Context {
	return lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: name, Department: dept, Role: lianlu.RoleOperator})
}

// at schedules f at t; tasks after the end of the simulation are dropped
// (the live trickle carries on from the database's state).
func (s *sim) at(t time.Time, f func(ctx context.Context) error) {
	if t.After(s.end) && !s.live {
		return
	}
	if t.Before(s.now) {
		t = s.now
	}
	s.seq++
	heap.Push(&s.q, &task{at: t, seq: s.seq, run: f})
}

func (s *sim) run(ctx context.Context) error {
	s.now = s.start
	s.cfg.Clock.Set(s.start)
	if err := s.setup(ctx); err != nil {
		return fmt.Errorf("demo setup: %w", err)
	}
	for day := s.start; day.Before(s.end); day = day.AddDate(0, 0, 1) {
		d := day
		s.at(d, func(ctx context.Context) error { return s.planDay(ctx, d) })
	}
	for t := s.start; t.Before(s.end); t = t.Add(30 * time.Minute) {
		s.at(t, s.scanBreaches)
	}
	for s.q.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := heap.Pop(&s.q).(*task)
		s.now = t.at
		s.cfg.Clock.Set(t.at)
		s.touchesOnly = false
		if err := t.run(ctx); err != nil && !outcome(err) {
			return fmt.Errorf("demo at %s: %w", t.at.In(s.loc).Format(time.DateTime), err)
		}
		// Touches start no flow: the runner passes over them with the
		// next task's events.
		if !s.touchesOnly {
			if err := s.flush(ctx); err != nil {
				return err
			}
		}
		s.progress.update(ctx, s, t.at)
	}
	s.cfg.Clock.Set(s.end)
	if _, err := s.cfg.Runner.ScanOnce(ctx); err != nil {
		return err
	}
	s.progress.done(ctx, s)
	return nil
}

// outcome reports errors that are what happens in a real business (the
// order was cancelled before it was picked, stock ran out) rather than a
// failure of the simulation.
func outcome(err error) bool {
	switch lianlu.ErrorCode(err) {
	case lianlu.ECONFLICT, lianlu.ENOTFOUND:
		return true
	}
	return false
}

// flush runs the flows on what the last task appended, at its time.
// flush runs the identity resolver, the offer engine, the dispatcher and
// the flows on what the last task appended, at its time, until none has
// anything left (what one appends may concern another). A consumer that
// found nothing is not asked again until the log grows.
func (s *sim) flush(ctx context.Context) error {
	if len(s.idle) != len(s.consumers) {
		s.idle = make([]int64, len(s.consumers))
	}
	head, err := s.svc.events.MaxSeq(ctx)
	if err != nil {
		return err
	}
	for {
		total := 0
		for i, c := range s.consumers {
			if s.idle[i] == head {
				continue
			}
			n, err := c.ProcessOnce(ctx)
			if err != nil {
				return fmt.Errorf("demo consumers: %w", err)
			}
			if n == 0 {
				s.idle[i] = head
				continue
			}
			total += n
			if head, err = s.svc.events.MaxSeq(ctx); err != nil {
				return err
			}
		}
		if total == 0 {
			return nil
		}
	}
}

// scanBreaches marks handoffs past their SLA, sends the offers that came
// due, passes on on-site requests not accepted in time, and lets members
// act on the offers they got.
func (s *sim) scanBreaches(ctx context.Context) error {
	if _, err := s.cfg.Runner.ScanOnce(ctx); err != nil {
		return err
	}
	for _, sc := range s.scans {
		if _, err := sc.ScanOnce(ctx); err != nil {
			return err
		}
	}
	if err := s.flush(ctx); err != nil {
		return err
	}
	return s.followOffers(ctx)
}

// ---- random helpers

func (s *sim) chance(p float64) bool { return s.rng.Float64() < p }

func (s *sim) between(a, b time.Duration) time.Duration {
	if b <= a {
		return a
	}
	return a + time.Duration(s.rng.Int64N(int64(b-a)))
}

// expDur is an exponentially distributed duration with the given mean.
func (s *sim) expDur(mean time.Duration) time.Duration {
	return time.Duration(s.rng.ExpFloat64() * float64(mean))
}

// poisson draws a count with mean lambda.
func (s *sim) poisson(lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 50 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*s.rng.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= s.rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// pick returns an index by weight.
func (s *sim) pick(weights []float64) int {
	var sum float64
	for _, w := range weights {
		sum += w
	}
	r := s.rng.Float64() * sum
	for i, w := range weights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(weights) - 1
}

// later returns when something that takes d after from happens: d of
// working time in dept's calendar (wall time for dept ""), or, live, d
// compressed by the speed-up so that a visitor sees work move.
func (s *sim) later(dept string, from time.Time, d time.Duration) time.Time {
	switch {
	case s.live:
		return from.Add(time.Duration(float64(d) / s.speed))
	case dept == "":
		return from.Add(d)
	}
	return s.business(dept, from, d)
}

// business adds working time in a department's calendar.
func (s *sim) business(dept string, from time.Time, d time.Duration) time.Time {
	t, err := s.cals[dept].AddBusiness(from, d)
	if err != nil {
		return from.Add(d)
	}
	return t.UTC()
}

// weekday weighs days: people shop at weekends.
var weekday = [7]float64{1.35, 0.85, 0.8, 0.85, 0.9, 1.05, 1.45} // Sunday first

// dayFactor is the demand of a day: weekday and the 11.11 peak.
func (s *sim) dayFactor(day time.Time) float64 {
	l := day.In(s.loc)
	f := weekday[l.Weekday()]
	if l.Month() == time.November && l.Day() >= 8 && l.Day() <= 11 {
		f *= 1.6 + float64(l.Day()-8)*0.5
	}
	return f
}

// onlineHour and storeHour are the share of a day's traffic per local hour.
var (
	onlineHour = [24]float64{0.8, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 2, 2.6, 3, 3.2, 4, 3.6, 3, 3, 3.2, 3.4, 3.6, 4.4, 5.4, 6, 5.2, 2.6}
)

// ---- setup: the brand's master data, sources, calendars and stock

func (s *sim) setup(ctx context.Context) error {
	admin := lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "demo", Department: lianlu.DeptAdmin, Role: lianlu.RoleAdmin})
	for _, p := range Products {
		if _, _, err := s.svc.catalog.UpsertProduct(as(ctx, "demo:pim", lianlu.DeptProduct), lianlu.Product{SKU: p.SKU, Name: p.Name, Category: p.Category, Price: p.Price, Active: true}); err != nil {
			return err
		}
	}
	for _, w := range Warehouses {
		lat, lng := w.Lat, w.Lng
		if _, _, err := s.svc.catalog.UpsertLocation(as(ctx, "demo:wms", lianlu.DeptSupplyChain), lianlu.Location{Code: w.Code, Kind: lianlu.LocationWarehouse,
			Name: w.Name, Address: w.Address, Lat: &lat, Lng: &lng, Timezone: "Asia/Shanghai", Active: true}); err != nil {
			return err
		}
	}
	if err := s.createStores(ctx); err != nil {
		return err
	}
	if err := s.createOffers(ctx); err != nil {
		return err
	}
	// When each department works: service and the stores every day,
	// supply chain six days, product and sales office hours.
	every := []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	for _, c := range []struct {
		dept, from, to string
		days           []string
	}{
		{lianlu.DeptService, "09:00", "21:00", every},
		{lianlu.DeptStores, "10:00", "22:00", every},
		{lianlu.DeptSupplyChain, "08:00", "20:00", every[:6]},
		{lianlu.DeptProduct, "09:30", "18:30", every[:5]},
		{lianlu.DeptSales, "09:00", "18:00", every[:5]},
		{lianlu.DeptMarketing, "09:30", "18:30", every[:5]},
	} {
		cal := sla.Calendar{Name: c.dept, Timezone: "Asia/Shanghai", Hours: map[string][]sla.Span{}}
		for _, d := range c.days {
			cal.Hours[d] = []sla.Span{{Start: c.from, End: c.to}}
		}
		if err := s.cfg.DB.SaveCalendar(admin, c.dept, cal); err != nil {
			return err
		}
		s.cals[c.dept] = &cal
	}
	for _, src := range []struct {
		name, dept, kind string
		into             *lianlu.Source
	}{
		{sourceNames.web, lianlu.DeptMarketing, "web", &s.srcs.web},
		{sourceNames.app, lianlu.DeptMarketing, "app", &s.srcs.app},
		{sourceNames.pos, lianlu.DeptStores, "pos", &s.srcs.pos},
		{sourceNames.server, lianlu.DeptSales, "server", &s.srcs.server},
	} {
		_, key, err := s.svc.sources.CreateSource(admin, lianlu.Source{Name: src.name, Department: src.dept, Kind: src.kind})
		if err != nil {
			return err
		}
		// As the collector does with each call's key.
		if *src.into, err = s.svc.sources.AuthenticateWriteKey(ctx, key); err != nil {
			return err
		}
	}
	s.planStock()
	if err := s.receipts(ctx, "init"); err != nil {
		return err
	}
	if err := s.cfg.Runner.Load(ctx); err != nil {
		return err
	}
	return nil
}

// expectedDaily estimates a SKU's orders per day, for stock planning.
func (s *sim) expectedDaily(p Product) float64 {
	orders := s.cfg.Scale.SessionsPerDay*0.1 + s.cfg.Scale.VisitsPerStoreDay*float64(len(Stores))*0.4
	cat := slices.IndexFunc(Categories, func(c Category) bool { return c.ID == p.Category })
	month := Categories[cat].Month[s.end.In(s.loc).Month()-1]
	var catSum, popSum float64
	for _, c := range Categories {
		catSum += c.Month[s.end.In(s.loc).Month()-1]
	}
	for _, q := range Products {
		if q.Category == p.Category {
			popSum += q.Popularity
		}
	}
	return orders * 1.3 * month / catSum * p.Popularity / popSum
}

// hotSKUs sell faster in winter than supply chain planned for: they run
// short and orders of them are backordered.
var hotSKUs = []string{"QH-SA-HT22", "QH-WH-16G"}

// planStock sets each location's stock goal: warehouses a week and a half
// of the demand nearest to them, stores a few of each.
func (s *sim) planStock() {
	share := make([]float64, len(Warehouses))
	var total float64
	for _, c := range Cities {
		share[nearestWarehouse(c.Lat, c.Lng)] += c.Weight
		total += c.Weight
	}
	for i, w := range Warehouses {
		for _, p := range Products {
			online := s.expectedDaily(p) * s.cfg.Scale.SessionsPerDay * 0.1 /
				(s.cfg.Scale.SessionsPerDay*0.1 + s.cfg.Scale.VisitsPerStoreDay*float64(len(Stores))*0.4)
			goal := online * share[i] / total * 10
			if slices.Contains(hotSKUs, p.SKU) {
				goal *= 0.45
			}
			s.stockGoal[w.Code+"|"+p.SKU] = int64(math.Ceil(goal)) + 2
		}
	}
	for _, st := range Stores {
		for _, p := range Products {
			goal := int64(3 + st.Weight*3)
			if slices.Contains(hotSKUs, p.SKU) {
				goal = 2
			}
			s.stockGoal[st.Code+"|"+p.SKU] = goal
		}
	}
}

func nearestWarehouse(lat, lng float64) int {
	best, bestD := 0, math.MaxFloat64
	for i, w := range Warehouses {
		if d := geo.DistanceKm(lat, lng, w.Lat, w.Lng); d < bestD {
			best, bestD = i, d
		}
	}
	return best
}

// receipts tops every location up to its goal: purchase receipts at the
// warehouses, transfers into the stores.
func (s *sim) receipts(ctx context.Context, batch string) error {
	codes := make([]string, 0, len(Warehouses)+len(Stores))
	for _, w := range Warehouses {
		codes = append(codes, w.Code)
	}
	for _, st := range Stores {
		codes = append(codes, st.Code)
	}
	for i, code := range codes {
		levels, err := s.svc.inventory.FindStockLevels(ctx, lianlu.InventoryFilter{Location: code, Limit: 1000})
		if err != nil {
			return err
		}
		onHand := map[string]int64{}
		for _, l := range levels {
			onHand[l.SKU] = l.OnHand
		}
		reason, actor, dept := "receipt", "demo:wms", lianlu.DeptSupplyChain
		if i >= len(Warehouses) {
			reason, actor, dept = "transfer_in", "demo:stores", lianlu.DeptStores
		}
		for _, p := range Products {
			goal := s.stockGoal[code+"|"+p.SKU]
			if batch != "init" && slices.Contains(hotSKUs, p.SKU) && s.chance(0.5) {
				continue // the supplier could not deliver this week
			}
			if d := goal - onHand[p.SKU]; d > 0 {
				if _, err := s.svc.inventory.Adjust(as(ctx, actor, dept), lianlu.Adjustment{SKU: p.SKU, Location: code, Delta: d, Reason: reason,
					ExternalID: "demo-" + batch + "-" + code + "-" + p.SKU}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ---- each day's arrivals

func (s *sim) planDay(ctx context.Context, day time.Time) error {
	f := s.dayFactor(day)
	local := day.In(s.loc)
	// Online sessions, spread over the day's hours.
	lift := 1.0
	for _, c := range s.activeCampaigns(day) {
		lift *= c.Lift
	}
	n := s.poisson(s.cfg.Scale.SessionsPerDay * f * lift)
	for range n {
		h := s.pick(onlineHour[:])
		t := day.Add(time.Duration(h)*time.Hour + s.between(0, time.Hour))
		s.at(t, func(ctx context.Context) error { return s.onlineSession(ctx) })
	}
	// Store visits during opening hours, busier in the afternoon and
	// evening.
	for i := range Stores {
		v := s.poisson(s.cfg.Scale.VisitsPerStoreDay * Stores[i].Weight * f)
		spans := s.openSpans(i, day.Add(12*time.Hour))
		if len(spans) == 0 {
			continue // closed that day
		}
		for range v {
			// The square root leans visits towards the evening.
			sp := spans[s.rng.IntN(len(spans))]
			m := sp[0] + int(math.Sqrt(s.rng.Float64())*float64(max(sp[1]-sp[0]-20, 1)))
			t := day.Add(time.Duration(m) * time.Minute)
			store := i
			s.at(t, func(ctx context.Context) error { return s.storeVisit(ctx, store) })
		}
	}
	// Mondays: purchase receipts at the warehouses and transfers to the
	// stores. Mondays and Thursdays: product triages its backlog.
	switch local.Weekday() {
	case time.Monday:
		batch := local.Format("20060102")
		s.at(day.Add(10*time.Hour), func(ctx context.Context) error { return s.receipts(ctx, batch) })
		s.at(day.Add(10*time.Hour+30*time.Minute), s.triage)
	case time.Thursday:
		s.at(day.Add(15*time.Hour), s.triage)
	}
	return nil
}

func (s *sim) activeCampaigns(t time.Time) []Campaign {
	var out []Campaign
	for _, c := range Campaigns {
		from, to := s.end.AddDate(0, 0, -c.From), s.end.AddDate(0, 0, -c.To)
		if !t.Before(from) && !t.After(to) {
			out = append(out, c)
		}
	}
	return out
}

// customerFor returns a returning customer (in city, when given) or a new
// one.
func (s *sim) customerFor(city *City, pNew float64) *customer {
	if len(s.customers) > 20 && !s.chance(pNew) {
		for range 8 {
			c := s.customers[s.rng.IntN(len(s.customers))]
			if city == nil || c.city == city {
				return c
			}
		}
	}
	if city == nil {
		ws := make([]float64, len(Cities))
		for i, c := range Cities {
			ws[i] = c.Weight
		}
		city = &Cities[s.pick(ws)]
	}
	c := &customer{n: len(s.customers) + 1, city: city, anon: fmt.Sprintf("anon-%016x", s.rng.Uint64())}
	for c.phone == "" || s.phones[c.phone] {
		prefixes := []string{"138", "139", "137", "136", "135", "150", "151", "152", "158", "159", "186", "187", "188", "189", "177", "199"}
		c.phone = prefixes[s.rng.IntN(len(prefixes))] + fmt.Sprintf("%08d", s.rng.IntN(100000000))
	}
	s.phones[c.phone] = true
	if s.chance(0.1) {
		for c.altPhone == "" || s.phones[c.altPhone] {
			c.altPhone = "177" + fmt.Sprintf("%08d", s.rng.IntN(100000000))
		}
		s.phones[c.altPhone] = true
	}
	if s.chance(0.3) {
		c.email = fmt.Sprintf("qh%d.%s@example.com", c.n, strings.ToLower(fmt.Sprintf("%x", s.rng.Uint32()%0xfff)))
	}
	s.customers = append(s.customers, c)
	return c
}

// basket picks an order's lines, following the season and the campaigns.
func (s *sim) basket(t time.Time, promoted []string) []lianlu.OrderLine {
	month := t.In(s.loc).Month() - 1
	ws := make([]float64, len(Products))
	for i, p := range Products {
		cat := Categories[slices.IndexFunc(Categories, func(c Category) bool { return c.ID == p.Category })]
		ws[i] = cat.Month[month] * p.Popularity
		if slices.Contains(promoted, p.Category) {
			ws[i] *= 1.8
		}
	}
	lines := []lianlu.OrderLine{{SKU: Products[s.pick(ws)].SKU, Qty: 1}}
	if s.chance(0.22) {
		second := Products[s.pick(ws)].SKU
		if second != lines[0].SKU {
			lines = append(lines, lianlu.OrderLine{SKU: second, Qty: 1})
		}
	}
	if p := productOf(lines[0].SKU); !categoryOf(p).Big && s.chance(0.15) {
		lines[0].Qty = 2
	}
	return lines
}

func productOf(sku string) Product {
	return Products[slices.IndexFunc(Products, func(p Product) bool { return p.SKU == sku })]
}

func categoryOf(p Product) Category {
	return Categories[slices.IndexFunc(Categories, func(c Category) bool { return c.ID == p.Category })]
}

// ---- the collector path: Segment messages decoded and appended exactly
// as POST /v1/batch does

type message map[string]any

func (s *sim) messageID() string {
	s.msgN++
	return fmt.Sprintf("demo-%s%d-%d", s.idPrefix, s.cfg.Seed, s.msgN)
}

// send posts messages as one batch call from src, received a moment after
// last, the time of the last of them. Live, the messages are moved back so
// that the call arrives now.
func (s *sim) send(ctx context.Context, src lianlu.Source, msgs []message, last time.Time) error {
	received := last.Add(s.between(time.Second, 15*time.Second))
	if s.live {
		shift := received.Sub(s.now)
		for _, m := range msgs {
			if t, err := time.Parse(time.RFC3339Nano, m["timestamp"].(string)); err == nil {
				m["timestamp"] = t.Add(-shift).UTC().Format(time.RFC3339Nano)
			}
		}
		received = s.now
	}
	return collectSegment(ctx, s.cfg.Appender, src, msgs, received)
}

// appender stores events with group commit (*sqlstore.Appender).
type appender interface {
	Append(context.Context, []lianlu.Event) ([]lianlu.AppendResult, error)
}

// collectSegment decodes messages as a Segment batch call from src with
// collect.DecodeSegment and stores them with the group-commit appender:
// the collector's own path, minus HTTP.
func collectSegment(ctx context.Context, appender appender, src lianlu.Source, msgs []message, receivedAt time.Time) error {
	batch := make([]any, len(msgs))
	for i, m := range msgs {
		batch[i] = m
	}
	body, err := json.Marshal(map[string]any{"batch": batch, "sentAt": receivedAt.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return err
	}
	res, err := collect.DecodeSegment(collect.SegmentRequest{Call: collect.SegmentBatch, Body: body, ReceivedAt: receivedAt.UTC(),
		SourceID: strconv.FormatInt(src.ID, 10)}, collect.SegmentLimits{}, nil)
	if err != nil {
		return err
	}
	if len(res.Invalid) > 0 {
		return fmt.Errorf("demo: invalid Segment message: %+v", res.Invalid[0])
	}
	for i := range res.Events {
		res.Events[i].Department = src.Department
	}
	_, err = appender.Append(ctx, res.Events)
	return err
}

func (s *sim) stamp(m message, t time.Time) message {
	m["messageId"] = s.messageID()
	m["timestamp"] = t.UTC().Format(time.RFC3339Nano)
	return m
}

// onlineSession is a visit to the web shop or the mini-program: pages and
// products viewed (with the campaign that brought the visitor), perhaps a
// share, a sign-up, and an order.
func (s *sim) onlineSession(ctx context.Context) error {
	return s.sessionOf(ctx, s.customerFor(nil, 0.55))
}

// sessionOf is customer c's visit online.
func (s *sim) sessionOf(ctx context.Context, c *customer) error {
	t := s.now
	src, device := s.srcs.web, "web"
	if s.chance(0.45) {
		src, device = s.srcs.app, "miniprogram"
	}
	var camp *Campaign
	var promoted []string
	active := s.activeCampaigns(t)
	if len(active) > 0 && s.chance(0.55) {
		camp = &active[s.rng.IntN(len(active))]
		promoted = camp.Categories
	}
	ctxInfo := message{"library": message{"name": "analytics.js", "version": "4.1.0"}, "locale": "zh-CN",
		"device": message{"type": device}, "location": message{"city": c.city.Name, "country": "China"}}
	if camp != nil {
		utm := camp.Sources[s.rng.IntN(len(camp.Sources))]
		ctxInfo["campaign"] = message{"name": camp.Name, "source": utm[0], "medium": utm[1], "content": camp.Slug}
	}
	ids := func(m message) message {
		m["anonymousId"] = c.anon
		if c.joined {
			m["userId"] = c.userID()
		}
		m["context"] = ctxInfo
		return m
	}
	var msgs []message
	landing := "/"
	if camp != nil {
		landing = "/campaign/" + camp.Slug
	}
	msgs = append(msgs, s.stamp(ids(message{"type": "page", "name": "Landing", "properties": message{"path": landing}}), t))
	switch {
	case c.joined && !c.identified:
		// Signed in: the app identifies her with her account's phone,
		// which links this device's touches to her membership.
		c.identified = true
		traits := message{"phone": c.phone}
		if c.email != "" {
			traits["email"] = c.email
		}
		msgs = append(msgs, s.stamp(ids(message{"type": "identify", "traits": traits}), t))
	case !c.joined && !c.member && c.email != "" && s.chance(0.08):
		// She signs up for the newsletter with her email only: a member
		// with an unverified email, merged into her membership once she
		// signs in with her phone.
		s.noteMember(c, 0)
		s.twice = append(s.twice, c)
		msgs = append(msgs, s.stamp(ids(message{"type": "identify", "traits": message{"email": c.email, "newsletter": true}}), t),
			s.stamp(ids(message{"type": "track", "event": "Newsletter Subscribed", "properties": message{"channel": device}}), t))
	}
	basket := s.basket(t, promoted)
	viewed := 1 + s.rng.IntN(3)
	for i := range viewed {
		t = t.Add(s.between(20*time.Second, 3*time.Minute))
		p := productOf(basket[0].SKU)
		if i > 0 {
			p = Products[s.rng.IntN(len(Products))]
		}
		msgs = append(msgs, s.stamp(ids(message{"type": "track", "event": "Product Viewed",
			"properties": message{"product_id": p.SKU, "name": p.Name, "category": p.Category, "price": p.Price.String(), "currency": "CNY"}}), t))
	}
	if s.chance(0.18) {
		t = t.Add(s.between(10*time.Second, time.Minute))
		msgs = append(msgs, s.stamp(ids(message{"type": "track", "event": "Product Shared",
			"properties": message{"product_id": basket[0].SKU, "share_via": "wechat"}}), t))
	}
	conv := 0.085
	if camp != nil {
		conv = 0.13
	}
	if s.live {
		// A visitor watching the console should see orders arrive.
		conv *= 2.5
	}
	buys := s.chance(conv)
	if buys || s.chance(0.3) {
		t = t.Add(s.between(30*time.Second, 2*time.Minute))
		msgs = append(msgs, s.stamp(ids(message{"type": "track", "event": "Product Added",
			"properties": message{"product_id": basket[0].SKU, "quantity": basket[0].Qty}}), t))
	}
	if buys && !c.joined {
		// Checking out needs an account: the visitor joins online.
		c.joined, c.identified = true, true
		if c.altPhone != "" {
			s.twice = append(s.twice, c)
		}
		t = t.Add(s.between(30*time.Second, 2*time.Minute))
		traits := message{"phone": c.onlinePhone(), "city": c.city.Name, "joined_via": "online"}
		if c.email != "" {
			traits["email"] = c.email
		}
		if camp != nil {
			traits["joined_campaign"] = camp.Slug
		}
		msgs = append(msgs, s.stamp(ids(message{"type": "identify", "traits": traits}), t),
			s.stamp(ids(message{"type": "track", "event": "Signed Up", "properties": message{"method": "phone", "channel": device}}), t))
	}
	if err := s.send(ctx, src, msgs, t); err != nil {
		return err
	}
	if !buys {
		s.touchesOnly = true
		return nil
	}
	placed := s.later("", t, s.between(time.Minute, 6*time.Minute))
	s.at(placed, func(ctx context.Context) error { return s.placeOnline(ctx, c, basket, camp) })
	return nil
}

// memberRef names the customer on an order by the phone she gives there.
func (s *sim) memberRef(c *customer, phone string) *lianlu.MemberRef {
	s.noteMember(c, 0)
	return &lianlu.MemberRef{Phone: phone}
}

func (s *sim) placeOnline(ctx context.Context, c *customer, lines []lianlu.OrderLine, camp *Campaign) error {
	s.orderN++
	lat := c.city.Lat + (s.rng.Float64()-0.5)*0.12
	lng := c.city.Lng + (s.rng.Float64()-0.5)*0.12
	district := c.city.Districts[s.rng.IntN(len(c.city.Districts))]
	addr := fmt.Sprintf("%s%s%d号%d室", district, []string{"人民路", "建设路", "中山路", "解放路", "和平路", "长江路"}[s.rng.IntN(6)], 1+s.rng.IntN(300), 101+s.rng.IntN(2000))
	p := lianlu.OrderPlacement{
		ExternalID: fmt.Sprintf("WEB-%s%s-%06d", s.idPrefix, s.now.In(s.loc).Format("20060102"), s.orderN), Channel: lianlu.ChannelOnline,
		Member: s.memberRef(c, c.onlinePhone()), Lines: lines, PlacedAt: s.now,
		ShipTo: &lianlu.Address{Name: "顾客" + strconv.Itoa(c.n), Phone: c.onlinePhone(), Address: addr, City: c.city.Name, Lat: &lat, Lng: &lng},
	}
	if c.coupon != "" {
		// She signs in with the membership the coupon was sent to.
		p.Coupon, p.Member = c.coupon, &lianlu.MemberRef{ID: c.couponMember}
		c.coupon = ""
	}
	shop := as(ctx, "demo:shop", lianlu.DeptSales)
	o, _, err := s.svc.orders.PlaceOrder(shop, p)
	if p.Coupon != "" && (outcome(err) || lianlu.ErrorCode(err) == lianlu.EINVALID) {
		// The coupon was no good after all (used up, expired): she pays
		// the full price.
		p.Coupon = ""
		o, _, err = s.svc.orders.PlaceOrder(shop, p)
	}
	if err != nil {
		return err
	}
	s.orders++
	// The shop's server reports the order to the collector, as Segment's
	// e-commerce spec has it: attribution joins it to the touches.
	props := message{"order_id": strconv.FormatInt(o.ID, 10), "external_id": o.ExternalID, "revenue": o.Total.String(), "currency": "CNY"}
	if camp != nil {
		props["campaign"] = camp.Slug
	}
	if err := s.send(ctx, s.srcs.server, []message{s.stamp(message{"type": "track", "event": "Order Completed", "userId": c.userID(),
		"anonymousId": c.anon, "properties": props}, s.now)}, s.now); err != nil {
		return err
	}
	if err := s.flush(ctx); err != nil {
		return err
	}
	return s.afterOrder(ctx, o, c)
}

// storeVisit is a customer in a store: perhaps joining the membership with
// the store's QR code (the join page's command, with the staff member who
// showed her the code), trying a product and talking to staff (recorded on
// the POS for members), buying.
func (s *sim) storeVisit(ctx context.Context, i int) error {
	st := &Stores[i]
	city := &Cities[slices.IndexFunc(Cities, func(c City) bool { return c.Name == st.City })]
	c := s.twiceIn(city)
	if c == nil {
		c = s.customerFor(city, 0.6)
	}
	t := s.now
	staff := s.staffAt(i)
	switch {
	case !c.storeJoined && (!c.joined || c.altPhone != "") && s.chance(0.45):
		if err := s.storeJoin(ctx, i, c, staff); err != nil {
			return err
		}
	case c.storeJoined:
		if err := s.interact(ctx, i, c, lianlu.InteractionVisit, staff, "", t); err != nil {
			return err
		}
	}
	lines := s.basket(t, nil)
	if c.storeJoined && s.chance(0.6) {
		if err := s.interact(ctx, i, c, lianlu.InteractionTried, staff, lines[0].SKU, t); err != nil {
			return err
		}
		if s.chance(0.35) {
			if err := s.interact(ctx, i, c, lianlu.InteractionConsult, staff, lines[0].SKU, t); err != nil {
				return err
			}
		}
	}
	if !s.chance(0.42) {
		return nil
	}
	placed := s.later("", t, s.between(8*time.Minute, 40*time.Minute))
	// A store on batch uploads sends its sales some time later: the order
	// is recorded after it was placed (the handoffs' sync delay).
	recorded := placed
	if st.Batch > 0 {
		recorded = s.later("", placed, s.between(time.Minute, time.Duration(st.Batch)*time.Minute))
	}
	s.at(recorded, func(ctx context.Context) error { return s.placeStore(ctx, st, c, lines, placed) })
	return nil
}

func (s *sim) placeStore(ctx context.Context, st *Store, c *customer, lines []lianlu.OrderLine, placed time.Time) error {
	s.orderN++
	var member *lianlu.MemberRef
	if c.storeJoined || s.chance(0.5) {
		member = s.memberRef(c, c.phone)
	}
	o, _, err := s.svc.orders.PlaceOrder(as(ctx, "demo:pos-"+st.Code, lianlu.DeptStores), lianlu.OrderPlacement{
		ExternalID: fmt.Sprintf("POS-%s-%s%06d", st.Code, s.idPrefix, s.orderN), Channel: lianlu.ChannelStore, Store: st.Code,
		Member: member, Lines: lines, PlacedAt: placed,
	})
	if err != nil {
		return err
	}
	s.orders++
	if err := s.flush(ctx); err != nil {
		return err
	}
	return s.afterOrder(ctx, o, c)
}

// ---- what follows an order: fulfillment, follow-up, feedback, service

func (s *sim) afterOrder(ctx context.Context, o lianlu.Order, c *customer) error {
	fs, err := s.svc.fulfillments.FindFulfillments(ctx, lianlu.FulfillmentFilter{OrderID: o.ID, Limit: 1})
	if err != nil {
		return err
	}
	if len(fs) == 1 {
		s.planFulfillment(fs[0], o, c)
		if fs[0].Status == lianlu.FulfillmentBackordered {
			// The backorder flow opened service work about the
			// fulfillment.
			if err := s.planWorkOrders(ctx, sqlstore.FulfillmentSubject(fs[0].ID)); err != nil {
				return err
			}
		}
	}
	return s.planWorkOrders(ctx, sqlstore.OrderSubject(o.ID))
}

func (s *sim) planFulfillment(f lianlu.Fulfillment, o lianlu.Order, c *customer) {
	wms := "demo:wms"
	switch {
	case f.Status == lianlu.FulfillmentBackordered:
		// Sales calls the customer about the delay; some cancel.
		subject := sqlstore.FulfillmentSubject(f.ID)
		delay := s.expDur(80 * time.Minute)
		if s.chance(0.15) {
			delay = s.between(4*time.Hour, 9*time.Hour)
		}
		s.at(s.later(lianlu.DeptSales, s.now, delay), func(ctx context.Context) error { return s.customerContacted(ctx, subject) })
		if s.chance(0.45) {
			s.at(s.later("", s.now, s.between(20*time.Hour, 96*time.Hour)), func(ctx context.Context) error {
				_, err := s.svc.orders.CancelOrder(as(ctx, "demo:shop", lianlu.DeptSales), o.ID, "顾客因缺货取消")
				return err
			})
		}
	case o.Channel == lianlu.ChannelStore:
		// Taken home at once, or delivered and installed in a few days.
		wms = "demo:pos-" + o.Store
		pick := s.later("", s.now, s.between(5*time.Minute, 25*time.Minute))
		ship := s.later("", pick, s.between(2*time.Minute, 15*time.Minute))
		deliver := ship
		if categoryOf(productOf(o.Lines[0].SKU)).Big {
			deliver = s.later(lianlu.DeptStores, ship, s.between(6*time.Hour, 40*time.Hour))
		}
		s.fulfil(f, o, c, wms, pick, ship, deliver)
	default:
		// Supply chain picks in working hours; now and then a pick waits
		// for the next shift and beyond the SLA.
		pickAfter := s.expDur(3 * time.Hour)
		if s.chance(0.07) {
			pickAfter = s.between(22*time.Hour, 40*time.Hour)
		}
		pick := s.later(lianlu.DeptSupplyChain, s.now, pickAfter)
		ship := s.later(lianlu.DeptSupplyChain, pick, s.between(30*time.Minute, 3*time.Hour))
		deliver := s.later("", ship, s.between(20*time.Hour, 90*time.Hour))
		if h := deliver.In(s.loc).Hour(); !s.live && (h < 9 || h > 20) {
			// Couriers deliver in the daytime.
			deliver = deliver.Add(time.Duration((33-h)%24) * time.Hour)
		}
		s.fulfil(f, o, c, wms, pick, ship, deliver)
	}
}

func (s *sim) fulfil(f lianlu.Fulfillment, o lianlu.Order, c *customer, actor string, pick, ship, deliver time.Time) {
	dept := lianlu.DeptSupplyChain
	if o.Channel == lianlu.ChannelStore {
		dept = lianlu.DeptStores
	}
	s.at(pick, func(ctx context.Context) error {
		_, err := s.svc.fulfillments.PickFulfillment(as(ctx, actor, dept), f.ID)
		return err
	})
	tracking := fmt.Sprintf("SF%012d", s.rng.Int64N(1e12))
	s.at(ship, func(ctx context.Context) error {
		_, err := s.svc.fulfillments.ShipFulfillment(as(ctx, actor, dept), f.ID, tracking)
		return err
	})
	s.at(deliver, func(ctx context.Context) error {
		if _, err := s.svc.fulfillments.DeliverFulfillment(as(ctx, actor, dept), f.ID); err != nil {
			return err
		}
		s.afterDelivery(o, c)
		return nil
	})
}

// customerContacted is sales' CRM telling Lianlu that the customer was
// called (a CloudEvent, as other systems send them).
func (s *sim) customerContacted(ctx context.Context, subject string) error {
	_, err := s.svc.events.AppendEvents(ctx, []lianlu.Event{{ID: "contacted/" + subject, Source: "crm", Type: "customer.contacted",
		Subject: subject, Department: lianlu.DeptSales, Actor: "crm:" + Agents[s.rng.IntN(len(Agents))], Time: s.now,
		Data: json.RawMessage(`{"channel":"phone","outcome":"informed_of_delay"}`)}})
	if err != nil {
		return err
	}
	return s.flush(ctx)
}

// planWorkOrders schedules the service agents' work on the open work
// orders about subject: picked up quickly, but not always within the SLA.
func (s *sim) planWorkOrders(ctx context.Context, subject string) error {
	wos, err := s.svc.workorders.FindWorkOrders(ctx, lianlu.WorkOrderFilter{Subject: subject, Status: lianlu.WorkOrderOpen, Limit: 20})
	if err != nil {
		return err
	}
	for _, wo := range wos {
		s.planWork(wo)
	}
	return nil
}

func (s *sim) planWork(wo lianlu.WorkOrder) {
	mean, late, code := 35*time.Minute, 0.12, "contacted"
	switch {
	case wo.Priority == lianlu.PriorityHigh || wo.Priority == lianlu.PriorityUrgent:
		mean, late = 18*time.Minute, 0.1
	case wo.Kind == lianlu.WorkOrderFeedbackFollowup:
		mean, late = 70*time.Minute, 0.1
	}
	if wo.Kind == lianlu.WorkOrderFeedbackFollowup {
		code = []string{"solved", "solved", "refunded", "replaced", "contacted"}[s.rng.IntN(5)]
	}
	pickup := s.expDur(mean)
	if s.chance(late) {
		pickup = s.between(2*time.Hour, 6*time.Hour)
	}
	agent := Agents[s.rng.IntN(len(Agents))]
	accept := s.later(wo.Department, s.now, pickup)
	work := s.between(4*time.Minute, 35*time.Minute)
	resolve := s.later(wo.Department, accept, work)
	id := wo.ID
	s.at(accept, func(ctx context.Context) error {
		_, err := s.svc.workorders.AcceptWorkOrder(as(ctx, agent, wo.Department), id, agent)
		return err
	})
	if wo.Kind == lianlu.WorkOrderOrderFollowup {
		// The agent calls the customer a quarter of the way into the work:
		// the follow-up step's "first contact" (no extra random draw, so
		// a seed's history stays as it was otherwise).
		s.at(s.later(wo.Department, accept, work/4), func(ctx context.Context) error {
			_, err := s.svc.workorders.RecordContact(as(ctx, agent, wo.Department), id, "phone", "")
			return err
		})
	}
	s.at(resolve, func(ctx context.Context) error {
		_, err := s.svc.workorders.ResolveWorkOrder(as(ctx, agent, wo.Department), id, code, "")
		return err
	})
}

// afterDelivery: some customers write feedback; big appliances get
// installation and repair visits from the nearest store; a few ask to
// return.
func (s *sim) afterDelivery(o lianlu.Order, c *customer) {
	big := categoryOf(productOf(o.Lines[0].SKU)).Big
	if s.chance(0.24) {
		at := s.later("", s.now, s.between(6*time.Hour, 5*24*time.Hour))
		if h := at.In(s.loc).Hour(); h < 8 && !s.live {
			at = at.Add(10 * time.Hour)
		}
		s.at(at, func(ctx context.Context) error { return s.submitFeedback(ctx, o) })
	}
	if big && s.chance(0.12) {
		s.at(s.later("", s.now, s.between(2*time.Hour, 40*time.Hour)), func(ctx context.Context) error { return s.requestOnSite(ctx, o, c) })
	}
	if s.chance(0.025) {
		s.at(s.later("", s.now, s.between(24*time.Hour, 6*24*time.Hour)), func(ctx context.Context) error {
			wo, err := s.svc.workorders.CreateWorkOrder(as(ctx, "demo:shop", lianlu.DeptSales), lianlu.WorkOrder{Kind: lianlu.WorkOrderAfterSales,
				Priority: lianlu.PriorityNormal, Department: lianlu.DeptService, Title: "退换货申请 · " + productOf(o.Lines[0].SKU).Name,
				Subject: sqlstore.OrderSubject(o.ID), Ref: "return/" + sqlstore.OrderSubject(o.ID)})
			if err != nil {
				return err
			}
			s.planWork(wo)
			return nil
		})
	}
}

var ratings = []float64{0.06, 0.07, 0.12, 0.25, 0.5} // 1 to 5 stars

func (s *sim) submitFeedback(ctx context.Context, o lianlu.Order) error {
	rating := 1 + s.pick(ratings)
	p := productOf(o.Lines[0].SKU)
	problem := "praise"
	if rating <= 4 {
		probs := categoryOf(p).Problems
		if o.Channel == lianlu.ChannelOnline && s.chance(0.2) {
			probs = []string{"delivery_late", "delivery_damage"}
		}
		problem = probs[s.rng.IntN(len(probs))]
	}
	texts := feedbackTexts[problem]
	f, err := s.svc.feedback.SubmitFeedback(as(ctx, "demo:survey", lianlu.DeptService), lianlu.FeedbackInput{
		Rating: rating, ProblemType: problem, Text: texts[s.rng.IntN(len(texts))], OrderID: o.ID, SKU: p.SKU})
	if err != nil {
		return err
	}
	if err := s.flush(ctx); err != nil {
		return err
	}
	return s.planWorkOrders(ctx, sqlstore.FeedbackSubject(f.ID))
}

// triage is product's backlog meeting: most open items are looked at, a
// few slip to the next meeting.
func (s *sim) triage(ctx context.Context) error {
	items, err := s.svc.feedback.FindBacklogItems(ctx, lianlu.BacklogOpen, 0, 1000)
	if err != nil {
		return err
	}
	for _, it := range items {
		if !s.chance(0.8) {
			continue
		}
		if _, err := s.svc.feedback.TriageBacklogItem(as(ctx, "产品·周敏", lianlu.DeptProduct), it.ID, "已排入迭代评估"); err != nil && !errors.Is(err, context.Canceled) && !outcome(err) {
			return err
		}
	}
	return nil
}
