package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
)

// ConsoleQueries are the read models of the web console that the domain
// services do not offer: aggregates for the overview, queues ordered by due
// time, newest-first lists and member look-ups. They only read.
type ConsoleQueries struct {
	db *DB
}

// NewConsoleQueries returns the console's read models over db.
func NewConsoleQueries(db *DB) *ConsoleQueries { return &ConsoleQueries{db: db} }

// DayCount is the orders of one local calendar day.
type DayCount struct {
	Day     time.Time // midnight, local
	Online  int64
	Store   int64
	Revenue lianlu.Money
}

// DepartmentHandoffs counts one department's unfinished handoffs: all of
// them, those due within the hour and those already breached, and the
// breaches of today for which it is responsible.
type DepartmentHandoffs struct {
	Department    string
	Open          int64
	DueSoon       int64
	Breached      int64
	BreachedToday int64
}

// SourceRate is the events of one source per hour over a window.
type SourceRate struct {
	Source string
	// Hours holds one count per hour, oldest first.
	Hours []int64
	Total int64
}

// Overview is the console's front page.
type Overview struct {
	Now            time.Time
	OrdersToday    int64
	RevenueToday   lianlu.Money
	Days           []DayCount
	Fulfillments   map[string]int64 // by status
	DeliveredToday int64
	// OpenWorkOrders counts open and accepted work orders by department.
	OpenWorkOrders map[string]int64
	Handoffs       []DepartmentHandoffs
	// Rates are the events per source in the last RateHours hours.
	Rates     []SourceRate
	RateStart time.Time
	Events24h int64
}

// RateHours is the span of Overview.Rates.
const RateHours = 24

// Overview computes the front page at now; days are calendar days in loc.
func (q *ConsoleQueries) Overview(ctx context.Context, now time.Time, loc *time.Location, days int) (Overview, error) {
	ov := Overview{Now: now, Fulfillments: map[string]int64{}, OpenWorkOrders: map[string]int64{}}
	d := q.db.dialect
	local := now.In(loc)
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	first := today.AddDate(0, 0, -(days - 1))
	for i := range days {
		ov.Days = append(ov.Days, DayCount{Day: first.AddDate(0, 0, i)})
	}
	err := q.db.readTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT placed_at, channel, total_minor FROM orders WHERE placed_at >= ? AND placed_at < ?`,
			d.timeArg(first), d.timeArg(today.AddDate(0, 0, 1)))
		if err != nil {
			return fmt.Errorf("orders by day: %w", err)
		}
		for rows.Next() {
			var at time.Time
			var channel string
			var total int64
			if err := rows.Scan(sqlTime{&at}, &channel, &total); err != nil {
				rows.Close()
				return err
			}
			lt := at.In(loc)
			i := int(time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc).Sub(first).Hours()/24 + 0.5)
			if i < 0 || i >= days {
				continue
			}
			if channel == lianlu.ChannelStore {
				ov.Days[i].Store++
			} else {
				ov.Days[i].Online++
			}
			ov.Days[i].Revenue += lianlu.Money(total)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		last := ov.Days[len(ov.Days)-1]
		ov.OrdersToday, ov.RevenueToday = last.Online+last.Store, last.Revenue

		if err := countGroups(ctx, tx, `SELECT status, COUNT(*) FROM fulfillments GROUP BY status`, ov.Fulfillments); err != nil {
			return err
		}
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM fulfillments WHERE delivered_at >= ?`, d.timeArg(today)).Scan(&ov.DeliveredToday); err != nil {
			return fmt.Errorf("delivered today: %w", err)
		}
		if err := countGroups(ctx, tx, `SELECT department, COUNT(*) FROM work_orders WHERE status IN ('open', 'accepted') GROUP BY department`, ov.OpenWorkOrders); err != nil {
			return err
		}
		if ov.Handoffs, err = departmentHandoffs(ctx, tx, now, today); err != nil {
			return err
		}
		ov.RateStart = now.Truncate(time.Hour).Add(-(RateHours - 1) * time.Hour)
		ov.Rates, ov.Events24h, err = sourceRates(ctx, tx, ov.RateStart, RateHours)
		return err
	})
	return ov, err
}

// countGroups reads (key, count) rows into m.
func countGroups(ctx context.Context, tx *Tx, query string, m map[string]int64, args ...any) error {
	rows, err := tx.query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		m[k] = n
	}
	return rows.Err()
}

func departmentHandoffs(ctx context.Context, tx *Tx, now, today time.Time) ([]DepartmentHandoffs, error) {
	d := tx.db.dialect
	byDept := map[string]*DepartmentHandoffs{}
	var order []string
	get := func(dept string) *DepartmentHandoffs {
		if h, ok := byDept[dept]; ok {
			return h
		}
		byDept[dept] = &DepartmentHandoffs{Department: dept}
		order = append(order, dept)
		return byDept[dept]
	}
	rows, err := tx.query(ctx, `SELECT to_department, COUNT(*),
		SUM(CASE WHEN breached_at IS NULL AND due_at IS NOT NULL AND due_at < ? THEN 1 ELSE 0 END),
		SUM(CASE WHEN breached_at IS NOT NULL THEN 1 ELSE 0 END)
		FROM handoffs WHERE status IN ('open', 'pending') GROUP BY to_department ORDER BY to_department`, d.timeArg(now.Add(time.Hour)))
	if err != nil {
		return nil, fmt.Errorf("handoffs by department: %w", err)
	}
	for rows.Next() {
		var dept string
		var open, soon, breached int64
		if err := rows.Scan(&dept, &open, &soon, &breached); err != nil {
			rows.Close()
			return nil, err
		}
		h := get(dept)
		h.Open, h.DueSoon, h.Breached = open, soon, breached
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = tx.query(ctx, `SELECT responsible_department, COUNT(*) FROM handoffs WHERE breached_at >= ? AND responsible_department IS NOT NULL
		GROUP BY responsible_department ORDER BY responsible_department`, d.timeArg(today))
	if err != nil {
		return nil, fmt.Errorf("breaches today: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var dept string
		var n int64
		if err := rows.Scan(&dept, &n); err != nil {
			return nil, err
		}
		get(dept).BreachedToday = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]DepartmentHandoffs, 0, len(order))
	for _, dept := range order {
		out = append(out, *byDept[dept])
	}
	return out, nil
}

// firstSeqRecordedSince finds the lowest seq recorded at or after t by
// bisecting the primary key: recorded_at grows with seq (commit order), and
// a few point reads are cheaper than scanning a log without a time index.
// It returns 0 when no event is that recent.
func firstSeqRecordedSince(ctx context.Context, tx *Tx, t time.Time) (int64, error) {
	var maxSeq *int64
	if err := tx.queryRow(ctx, `SELECT MAX(seq) FROM events`).Scan(&maxSeq); err != nil {
		return 0, fmt.Errorf("max seq: %w", err)
	}
	if maxSeq == nil {
		return 0, nil
	}
	at := func(seq int64) (int64, time.Time, error) {
		var s int64
		var rec time.Time
		err := tx.queryRow(ctx, `SELECT seq, recorded_at FROM events WHERE seq >= ? ORDER BY seq LIMIT 1`, seq).Scan(&s, sqlTime{&rec})
		return s, rec, err
	}
	last, rec, err := at(*maxSeq)
	if err != nil {
		return 0, fmt.Errorf("last event: %w", err)
	}
	if rec.Before(t) {
		return 0, nil
	}
	// ans is the lowest seq known to be recent enough; [lo, hi) is where
	// a lower one may still be.
	ans, lo, hi := last, int64(1), last
	for lo < hi {
		mid := lo + (hi-lo)/2
		s, rec, err := at(mid)
		if err != nil {
			return 0, fmt.Errorf("bisect events: %w", err)
		}
		if rec.Before(t) {
			lo = s + 1
		} else {
			ans, hi = s, mid
		}
	}
	return ans, nil
}

// sourceRates counts events per source and hour from start on.
func sourceRates(ctx context.Context, tx *Tx, start time.Time, hours int) ([]SourceRate, int64, error) {
	from, err := firstSeqRecordedSince(ctx, tx, start)
	if err != nil || from == 0 {
		return []SourceRate{}, 0, err
	}
	bucket := tx.db.dialect.hourBucket("recorded_at")
	// Grouped by hour first: grouped by source first, SQLite walks the
	// whole (source, id) index instead of the seq range.
	rows, err := tx.query(ctx, `SELECT source, `+bucket+`, COUNT(*) FROM events WHERE seq >= ? GROUP BY `+bucket+`, source`, from)
	if err != nil {
		return nil, 0, fmt.Errorf("event rates: %w", err)
	}
	defer rows.Close()
	var out []SourceRate
	index := map[string]int{}
	var total int64
	for rows.Next() {
		var src, hour string
		var n int64
		if err := rows.Scan(&src, &hour, &n); err != nil {
			return nil, 0, err
		}
		t, err := time.Parse("2006-01-02T15", hour)
		if err != nil {
			return nil, 0, fmt.Errorf("event rate hour %q: %w", hour, err)
		}
		i := int(t.Sub(start) / time.Hour)
		if i < 0 || i >= hours {
			continue
		}
		k, ok := index[src]
		if !ok {
			k, index[src] = len(out), len(out)
			out = append(out, SourceRate{Source: src, Hours: make([]int64, hours)})
		}
		out[k].Hours[i] += n
		out[k].Total += n
		total += n
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	slices.SortFunc(out, func(a, b SourceRate) int { return strings.Compare(a.Source, b.Source) })
	return out, total, nil
}

// QueueHandoffs returns the unfinished handoffs to department, those due
// first first (no due time last), at most limit, and how many there are.
func (q *ConsoleQueries) QueueHandoffs(ctx context.Context, department string, limit int) ([]lianlu.Handoff, int64, error) {
	var n int64
	if err := q.db.readRow(ctx, `SELECT COUNT(*) FROM handoffs WHERE to_department = ? AND status IN ('open', 'pending')`, department).Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("count queue handoffs: %w", err)
	}
	rows, err := q.db.readQuery(ctx, `SELECT `+handoffColumns+` FROM handoffs WHERE to_department = ? AND status IN ('open', 'pending')
		ORDER BY CASE WHEN due_at IS NULL THEN 1 ELSE 0 END, due_at, id LIMIT `+strconv.Itoa(clampLimit(limit)), department)
	if err != nil {
		return nil, 0, fmt.Errorf("queue handoffs: %w", err)
	}
	hs, err := collectHandoffs(rows)
	return hs, n, err
}

// HandoffsByTarget returns the handoffs whose action created one of the
// targets (such as "workorder/7"), keyed by target; the latest wins.
func (q *ConsoleQueries) HandoffsByTarget(ctx context.Context, targets []string) (map[string]lianlu.Handoff, error) {
	out := map[string]lianlu.Handoff{}
	for start := 0; start < len(targets); start += 500 {
		chunk := targets[start:min(start+500, len(targets))]
		args := make([]any, len(chunk))
		for i, t := range chunk {
			args[i] = t
		}
		rows, err := q.db.readQuery(ctx, `SELECT `+handoffColumns+` FROM handoffs WHERE target IN (`+placeholders(len(chunk))+`) ORDER BY id`, args...)
		if err != nil {
			return nil, fmt.Errorf("handoffs by target: %w", err)
		}
		hs, err := collectHandoffs(rows)
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			out[h.Target] = h
		}
	}
	return out, nil
}

// OrderSummary is an order without its lines, for lists.
type OrderSummary struct {
	ID         int64
	ExternalID string
	Channel    string
	Store      string
	MemberID   int64
	Total      lianlu.Money
	Status     string
	PlacedAt   time.Time
}

// RecentOrders lists the newest orders, optionally of one store or member.
func (q *ConsoleQueries) RecentOrders(ctx context.Context, store string, memberID int64, limit int) ([]OrderSummary, error) {
	query := `SELECT o.id, o.external_id, o.channel, l.code, o.member_id, o.total_minor, o.status, o.placed_at` + orderFrom + ` WHERE 1 = 1`
	var args []any
	if store != "" {
		query += ` AND l.code = ?`
		args = append(args, store)
	}
	if memberID != 0 {
		query += ` AND o.member_id = ?`
		args = append(args, memberID)
	}
	rows, err := q.db.readQuery(ctx, query+` ORDER BY o.id DESC LIMIT `+strconv.Itoa(clampLimit(limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("recent orders: %w", err)
	}
	defer rows.Close()
	out := []OrderSummary{}
	for rows.Next() {
		var o OrderSummary
		var code *string
		var member *int64
		var total int64
		if err := rows.Scan(&o.ID, &o.ExternalID, &o.Channel, &code, &member, &total, &o.Status, sqlTime{&o.PlacedAt}); err != nil {
			return nil, err
		}
		o.Store, o.Total = deref(code), lianlu.Money(total)
		if member != nil {
			o.MemberID = *member
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// RecentFeedback lists the newest feedback, optionally of one member.
func (q *ConsoleQueries) RecentFeedback(ctx context.Context, memberID int64, limit int) ([]lianlu.Feedback, error) {
	query := `SELECT ` + feedbackColumns + ` FROM feedback`
	var args []any
	if memberID != 0 {
		query += ` WHERE member_id = ?`
		args = append(args, memberID)
	}
	rows, err := q.db.readQuery(ctx, query+` ORDER BY id DESC LIMIT `+strconv.Itoa(clampLimit(limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("recent feedback: %w", err)
	}
	defer rows.Close()
	out := []lianlu.Feedback{}
	for rows.Next() {
		f, err := scanFeedback(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// LatestEvents returns the newest events matching f, newest first
// (f.AfterSeq and f.Limit apply as in FindEvents).
func (q *ConsoleQueries) LatestEvents(ctx context.Context, f lianlu.EventFilter) ([]lianlu.Event, error) {
	query, args := eventQuery(q.db.dialect, f, eventColumns, "seq DESC")
	rows, err := q.db.readQuery(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("latest events: %w", err)
	}
	return collectEvents(rows)
}

// RecentMembers lists the newest members that were not merged into
// another, with their profile (no identities).
func (q *ConsoleQueries) RecentMembers(ctx context.Context, limit int) ([]lianlu.Member, error) {
	rows, err := q.db.readQuery(ctx, `SELECT `+memberColumns+memberFrom+` WHERE m.merged_into IS NULL ORDER BY m.id DESC LIMIT `+strconv.Itoa(clampLimit(limit)))
	if err != nil {
		return nil, fmt.Errorf("recent members: %w", err)
	}
	defer rows.Close()
	out := []lianlu.Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ServiceRequests lists the on-site requests dispatched to a store, newest
// first: those assigned to it now and those it was asked to accept before
// they went to another store (their dispatch attempts name it).
func (q *ConsoleQueries) ServiceRequests(ctx context.Context, store string, limit int) ([]lianlu.WorkOrder, error) {
	limit = clampLimit(limit)
	rows, err := q.db.readQuery(ctx, `SELECT `+workOrderColumns+workOrderFrom+` WHERE w.kind = ? AND w.dispatch IS NOT NULL AND l.code = ?
		ORDER BY w.id DESC LIMIT `+strconv.Itoa(limit), lianlu.WorkOrderOnSite, store)
	if err != nil {
		return nil, fmt.Errorf("service requests: %w", err)
	}
	out, err := collectWorkOrders(rows)
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	for _, w := range out {
		seen[w.ID] = true
	}
	// Attempts are the dispatch flow's handoffs, one per store asked
	// ("attempt-2:SH-01"); the work order is their target.
	rows, err = q.db.readQuery(ctx, `SELECT target FROM handoffs WHERE flow = ? AND step LIKE ? AND target IS NOT NULL ORDER BY id DESC LIMIT `+strconv.Itoa(limit),
		DispatchFlow, "attempt-%:"+store)
	if err != nil {
		return nil, fmt.Errorf("service request attempts: %w", err)
	}
	var earlier []int64
	for rows.Next() {
		var target string
		if err := rows.Scan(&target); err != nil {
			rows.Close()
			return nil, err
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(target, "workorder/"), 10, 64)
		if err == nil && !seen[id] {
			seen[id] = true
			earlier = append(earlier, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, id := range earlier {
		w, err := scanWorkOrder(q.db.readRow(ctx, `SELECT `+workOrderColumns+workOrderFrom+` WHERE w.id = ?`, id))
		if err != nil {
			return nil, fmt.Errorf("service request %d: %w", id, mapError(err))
		}
		// LIKE's _ matches any character: keep only what named this store.
		if w.Dispatch != nil && slices.ContainsFunc(w.Dispatch.Attempts, func(a lianlu.DispatchAttempt) bool { return a.Store == store }) {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b lianlu.WorkOrder) int { return cmp.Compare(b.ID, a.ID) })
	return out[:min(len(out), limit)], nil
}

// OfferStats counts what one offer rule did: its sends by status and its
// coupons, issued and redeemed.
type OfferStats struct {
	Sends    map[string]int64
	Coupons  int64
	Redeemed int64
	// RedeemedValue is the face value of the redeemed coupons.
	RedeemedValue lianlu.Money
}

// OfferStats counts every rule's sends and coupons, by rule id.
func (q *ConsoleQueries) OfferStats(ctx context.Context) (map[int64]OfferStats, error) {
	out := map[int64]OfferStats{}
	rows, err := q.db.readQuery(ctx, `SELECT rule_id, status, COUNT(*) FROM offer_sends GROUP BY rule_id, status`)
	if err != nil {
		return nil, fmt.Errorf("offer sends: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		var status string
		if err := rows.Scan(&id, &status, &n); err != nil {
			return nil, err
		}
		st := out[id]
		if st.Sends == nil {
			st.Sends = map[string]int64{}
		}
		st.Sends[status] = n
		out[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.db.readQuery(ctx, `SELECT rule_id, COUNT(*), SUM(CASE WHEN status = ? THEN 1 ELSE 0 END),
		SUM(CASE WHEN status = ? THEN value_minor ELSE 0 END) FROM coupons GROUP BY rule_id`, lianlu.CouponRedeemed, lianlu.CouponRedeemed)
	if err != nil {
		return nil, fmt.Errorf("offer coupons: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, n, redeemed, value int64
		if err := rows.Scan(&id, &n, &redeemed, &value); err != nil {
			return nil, err
		}
		st := out[id]
		st.Coupons, st.Redeemed, st.RedeemedValue = n, redeemed, lianlu.Money(value)
		out[id] = st
	}
	return out, rows.Err()
}

// Counts are the sizes of the main tables, for the demo's summary and
// tests.
type Counts struct {
	Members, Orders, Events, Feedback, WorkOrders, Handoffs, Breached int64
}

// Counts counts members, orders, events, feedback, work orders, handoffs
// and breached handoffs.
func (q *ConsoleQueries) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	err := q.db.readRow(ctx, `SELECT (SELECT COUNT(*) FROM members), (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM events),
		(SELECT COUNT(*) FROM feedback), (SELECT COUNT(*) FROM work_orders), (SELECT COUNT(*) FROM handoffs),
		(SELECT COUNT(*) FROM handoffs WHERE breached_at IS NOT NULL)`).
		Scan(&c.Members, &c.Orders, &c.Events, &c.Feedback, &c.WorkOrders, &c.Handoffs, &c.Breached)
	if err != nil {
		return c, fmt.Errorf("counts: %w", err)
	}
	return c, nil
}
