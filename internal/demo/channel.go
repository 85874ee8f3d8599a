package demo

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// Channel fusion in the demo brand: stores made through the store service,
// members who join with a store's QR code (the join page's command),
// interactions in the stores, offer rules the offer engine runs, and
// on-site service requests the dispatcher sends to the nearest store.

// createStores makes the brand's stores through the store service and
// keeps them as the service returns them (their hours decide when the
// simulated visitors come).
func (s *sim) createStores(ctx context.Context) error {
	ctx = as(ctx, "demo:stores", lianlu.DeptStores)
	tz := "Asia/Shanghai"
	s.stores = make([]lianlu.Store, len(Stores))
	for i, st := range Stores {
		name, addr, lat, lng, capacity, radius := st.Name, st.Address, st.Lat, st.Lng, st.Capacity, st.Radius
		got, _, err := s.svc.stores.CreateStore(ctx, lianlu.StoreInput{Code: st.Code, Name: &name, Address: &addr, Lat: &lat, Lng: &lng, Timezone: &tz,
			Hours: st.Hours, Skills: st.Skills, CapacityPerDay: &capacity, ServiceRadiusKm: &radius, Staff: staffOf(i)})
		if err != nil {
			return fmt.Errorf("store %s: %w", st.Code, err)
		}
		s.stores[i] = got
	}
	return nil
}

// loadStores reads the stores back (the live trickle, on a seeded
// database).
func (s *sim) loadStores(ctx context.Context) error {
	s.stores = make([]lianlu.Store, len(Stores))
	for i, st := range Stores {
		got, err := s.svc.stores.FindStoreByCode(ctx, st.Code)
		if err != nil {
			return fmt.Errorf("store %s: %w", st.Code, err)
		}
		s.stores[i] = got
	}
	return nil
}

// openSpans returns the store's opening spans on the local day of t, as
// minutes after midnight.
func (s *sim) openSpans(i int, t time.Time) [][2]int {
	local := t.In(s.loc)
	key := lianlu.Weekdays[(int(local.Weekday())+6)%7]
	if slices.Contains(s.stores[i].Holidays, local.Format(time.DateOnly)) {
		return nil
	}
	var out [][2]int
	for _, sp := range s.stores[i].Hours[key] {
		a, b := clockMinutes(sp[0]), clockMinutes(sp[1])
		if b > a {
			out = append(out, [2]int{a, b})
		}
	}
	return out
}

func clockMinutes(hm string) int {
	t, err := time.Parse("15:04", hm)
	if err != nil {
		return 0
	}
	return t.Hour()*60 + t.Minute()
}

// Offer rules the brand's marketing team runs.
var offerRules = []lianlu.OfferRule{
	{
		Name:        "tried-in-store-not-bought",
		Description: "A member tried a product in a store and has not bought it two days later: a coupon for it online.",
		Triggers:    []string{lianlu.InteractionTried},
		Condition: `!events.exists(e, e.type == "order.placed" && e.time > event.time &&
	has(e.data.lines) && e.data.lines.exists(l, l.sku == event.data.sku))`,
		Delay:      lianlu.Duration(48 * time.Hour),
		Channel:    lianlu.OfferInbox,
		Title:      "还在考虑店里试过的那款吗？线上下单立减 ¥200",
		Body:       "您在门店体验过的商品，凭券线上下单满 ¥1,000 立减 ¥200，14 天内有效。",
		Coupon:     &lianlu.CouponTemplate{ValueOff: yuan(200), MinTotal: yuan(1000), ValidDays: 14},
		Cap:        lianlu.FrequencyCap{Count: 1, Window: lianlu.Duration(30 * 24 * time.Hour)},
		QuietHours: &lianlu.QuietHours{Start: "22:00", End: "08:00"},
		Active:     true,
	},
	{
		Name:        "welcome-new-member",
		Description: "Every member who joins in a store gets a welcome coupon in her inbox.",
		Triggers:    []string{"member.joined"},
		Condition:   `true`,
		Channel:     lianlu.OfferInbox,
		Title:       "欢迎加入青禾会员：¥30 新人券",
		Body:        "满 ¥299 可用，30 天内有效，门店和线上通用。",
		Coupon:      &lianlu.CouponTemplate{ValueOff: yuan(30), MinTotal: yuan(299), ValidDays: 30},
		Cap:         lianlu.FrequencyCap{Count: 1, Window: lianlu.Duration(365 * 24 * time.Hour)},
		Active:      true,
	},
}

// createOffers saves the brand's offer rules, as marketing would.
func (s *sim) createOffers(ctx context.Context) error {
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "demo:crm", Department: lianlu.DeptMarketing, Role: lianlu.RoleManager})
	for _, r := range offerRules {
		if _, err := s.svc.offers.SaveRule(ctx, r); err != nil {
			return fmt.Errorf("offer rule %s: %w", r.Name, err)
		}
	}
	return nil
}

// extID returns a fresh external id for an interaction, so that a POS
// resending it would record it once.
func (s *sim) extID() string {
	s.extN++
	return fmt.Sprintf("demo-%s%d-%d", s.idPrefix, s.cfg.Seed, s.extN)
}

// storeJoin is a visitor scanning the store's (or a staff member's) QR
// code and joining, through the join page's own command.
func (s *sim) storeJoin(ctx context.Context, i int, c *customer, staff string) error {
	res, err := s.svc.members.Join(as(ctx, "demo:join", lianlu.DeptStores), lianlu.JoinRequest{Store: s.stores[i].Code, Staff: staff, Phone: c.phone,
		Consent: s.chance(0.85), Channel: "store_qr", Locale: "zh-CN"})
	if err != nil {
		return err
	}
	c.storeJoined, c.joined = true, true
	// Her account's phone is now the one she gave in the store: the next
	// time she signs in online, the app identifies her with it.
	c.identified = false
	s.noteMember(c, res.Member.ID)
	if k := slices.Index(s.twice, c); k >= 0 {
		// She was a member online already: she signs in at home.
		s.twice = slices.Delete(s.twice, k, k+1)
		s.at(s.later("", s.now, s.between(3*time.Hour, 30*time.Hour)), func(ctx context.Context) error { return s.sessionOf(ctx, c) })
	}
	return nil
}

// twiceIn returns, now and then, a customer of city who is a member online
// and not yet in a store, coming into one.
func (s *sim) twiceIn(city *City) *customer {
	if len(s.twice) == 0 || !s.chance(0.5) {
		return nil
	}
	for _, c := range s.twice {
		if c.city == city && !c.storeJoined {
			return c
		}
	}
	return nil
}

// noteMember records that Lianlu knows the customer as a member.
func (s *sim) noteMember(c *customer, id int64) {
	if !c.member {
		c.member = true
		s.members++
	}
	if id != 0 {
		s.byMember[id] = c
	}
}

// interact records what a member did in a store, as staff would on the POS.
func (s *sim) interact(ctx context.Context, i int, c *customer, typ, staff, sku string, at time.Time) error {
	_, err := s.svc.members.RecordInteraction(as(ctx, "demo:pos-"+s.stores[i].Code, lianlu.DeptStores), lianlu.Interaction{Type: typ,
		Member: &lianlu.MemberRef{Phone: c.phone}, Store: s.stores[i].Code, Staff: staff, SKU: sku, At: at, ExternalID: s.extID()})
	return err
}

// staffAt picks a staff member of a store.
func (s *sim) staffAt(i int) string {
	staff := s.stores[i].Staff
	if len(staff) == 0 {
		return ""
	}
	return staff[s.rng.IntN(len(staff))].Code
}

// followOffers looks at the offers sent since the last look: some members
// come back for what a coupon offers and use it online.
func (s *sim) followOffers(ctx context.Context) error {
	var fresh []lianlu.OfferSend
	for before := int64(0); ; {
		page, err := s.svc.offers.FindSends(ctx, 0, 0, before, 200)
		if err != nil {
			return err
		}
		done := len(page) < 200
		for _, o := range page {
			if o.ID <= s.lastSend {
				done = true
				break
			}
			fresh = append(fresh, o)
		}
		if done || len(page) == 0 {
			break
		}
		before = page[len(page)-1].ID
	}
	if len(fresh) == 0 {
		return nil
	}
	s.lastSend = fresh[0].ID
	slices.SortFunc(fresh, func(a, b lianlu.OfferSend) int { return int(a.ID - b.ID) })
	for _, o := range fresh {
		c := s.byMember[o.MemberID]
		if o.Status != lianlu.SendSent || o.Coupon == "" || c == nil || !s.chance(0.4) {
			continue
		}
		cp, err := s.svc.offers.FindCoupon(ctx, o.Coupon)
		if err != nil {
			return err
		}
		at := s.later("", s.now, s.between(2*time.Hour, time.Duration(float64(cp.ValidUntil.Sub(s.now))*0.8)))
		code := cp.Code
		s.at(at, func(ctx context.Context) error { return s.redeem(ctx, c, code) })
	}
	return nil
}

// redeem is a member coming back online with her coupon: she buys what she
// tried (or what the season sells) for at least the coupon's minimum.
func (s *sim) redeem(ctx context.Context, c *customer, code string) error {
	cp, err := s.svc.offers.FindCoupon(ctx, code)
	if err != nil || cp.Status != lianlu.CouponIssued || !s.now.Before(cp.ValidUntil) {
		return err
	}
	var lines []lianlu.OrderLine
	for range 6 {
		lines = s.basket(s.now, nil)
		if basketTotal(lines) >= cp.MinTotal {
			break
		}
	}
	if basketTotal(lines) < cp.MinTotal {
		return nil
	}
	c.coupon, c.couponMember = code, cp.MemberID
	return s.placeOnline(ctx, c, lines, nil)
}

func basketTotal(lines []lianlu.OrderLine) lianlu.Money {
	var t lianlu.Money
	for _, l := range lines {
		t += productOf(l.SKU).Price * lianlu.Money(l.Qty)
	}
	return t
}

// requestOnSite asks the dispatcher for an installation or repair visit at
// the customer's address: the nearest store that has the skill, is open
// that day, has capacity left and reaches the address gets it.
func (s *sim) requestOnSite(ctx context.Context, o lianlu.Order, c *customer) error {
	if s.dispatch == nil {
		return nil
	}
	var lat, lng float64
	switch {
	case o.ShipTo != nil && o.ShipTo.Lat != nil:
		lat, lng = *o.ShipTo.Lat, *o.ShipTo.Lng
	case c != nil:
		lat, lng = c.city.Lat+(s.rng.Float64()-0.5)*0.1, c.city.Lng+(s.rng.Float64()-0.5)*0.1
	default:
		i := slices.IndexFunc(Stores, func(st Store) bool { return st.Code == o.Store })
		if i < 0 {
			return nil // nowhere to send a technician
		}
		lat, lng = Stores[i].Lat+(s.rng.Float64()-0.5)*0.1, Stores[i].Lng+(s.rng.Float64()-0.5)*0.1
	}
	skill, what := lianlu.SkillInstall, "上门安装"
	if s.chance(0.4) {
		skill, what = lianlu.SkillRepair, "上门维修"
	}
	member := &lianlu.MemberRef{ID: o.MemberID}
	if o.MemberID == 0 {
		if c == nil {
			return nil
		}
		member = &lianlu.MemberRef{Phone: c.phone}
	}
	date := s.now.In(s.loc).AddDate(0, 0, 1+s.rng.IntN(2)).Format(time.DateOnly)
	addr := ""
	if o.ShipTo != nil {
		addr = o.ShipTo.Address
	}
	wo, _, err := s.dispatch.RequestService(as(ctx, "demo:service", lianlu.DeptService), lianlu.ServiceRequest{
		ExternalID: "onsite-" + s.idPrefix + strconv.FormatInt(o.ID, 10), Member: member, Kind: lianlu.ServiceOnSite, Skill: skill,
		Address: &lianlu.Address{Address: addr, Lat: &lat, Lng: &lng}, PreferredDate: date,
		Title: what + " · " + productOf(o.Lines[0].SKU).Name, Subject: sqlstore.OrderSubject(o.ID)})
	if err != nil {
		return err
	}
	if err := s.flush(ctx); err != nil {
		return err
	}
	return s.planAttempt(wo)
}

// planAttempt decides what the store asked to accept a request does: most
// accept within the SLA, some reject it, some let it time out (the
// dispatcher then asks the next store). A request no store could take is
// the service department's to handle.
func (s *sim) planAttempt(wo lianlu.WorkOrder) error {
	d := wo.Dispatch
	if d == nil || wo.Status != lianlu.WorkOrderOpen {
		return nil
	}
	if wo.Flagged || len(d.Attempts) == 0 {
		s.planWork(wo)
		return nil
	}
	a := d.Attempts[len(d.Attempts)-1]
	if a.Outcome != lianlu.AttemptPending || s.planned[wo.ID] >= a.N {
		return nil
	}
	s.planned[wo.ID] = a.N
	id, store := wo.ID, a.Store
	due := s.now.Add(2 * time.Hour)
	if a.DueAt != nil {
		due = *a.DueAt
	}
	pAccept, pReject := 0.68, 0.14
	if s.live {
		// The server's dispatcher times out on the real clock; live
		// stores answer.
		pAccept, pReject = 0.85, 0.15
	}
	if a.N >= 3 {
		pAccept = 0.95
	}
	switch r := s.rng.Float64(); {
	case r < pAccept:
		at := s.later(lianlu.DeptStores, s.now, s.between(5*time.Minute, 100*time.Minute))
		if !s.live && !at.Before(due) {
			at = due.Add(-time.Duration(1+s.rng.IntN(20)) * time.Minute)
		}
		tech := store + " 技师"
		s.at(at, func(ctx context.Context) error {
			w, err := s.svc.workorders.AcceptWorkOrder(as(ctx, tech, lianlu.DeptStores), id, tech)
			if err != nil {
				return err
			}
			done := s.later(lianlu.DeptStores, s.now, s.between(3*time.Hour, 30*time.Hour))
			code := "solved"
			if w.Dispatch != nil && w.Dispatch.Skill == lianlu.SkillRepair {
				code = "repaired"
			}
			s.at(done, func(ctx context.Context) error {
				_, err := s.svc.workorders.ResolveWorkOrder(as(ctx, tech, lianlu.DeptStores), id, code, "")
				return err
			})
			return nil
		})
	case r < pAccept+pReject:
		at := s.later(lianlu.DeptStores, s.now, s.between(5*time.Minute, 60*time.Minute))
		reason := []string{"当天技师已排满", "缺少安装配件", "技师请假"}[s.rng.IntN(3)]
		s.at(at, func(ctx context.Context) error {
			w, err := s.dispatch.RejectServiceRequest(as(ctx, "demo:pos-"+store, lianlu.DeptStores), id, reason)
			if err != nil {
				return err
			}
			if err := s.flush(ctx); err != nil {
				return err
			}
			return s.planAttempt(w)
		})
	default:
		if s.live {
			return nil
		}
		// Nobody picks up: the dispatcher's deadline scan passes it on.
		s.at(due.Add(time.Minute), func(ctx context.Context) error {
			if _, err := s.scanner.ScanOnce(ctx); err != nil {
				return err
			}
			if err := s.flush(ctx); err != nil {
				return err
			}
			w, err := s.svc.workorders.FindWorkOrderByID(ctx, id)
			if err != nil {
				return err
			}
			return s.planAttempt(w)
		})
	}
	return nil
}
