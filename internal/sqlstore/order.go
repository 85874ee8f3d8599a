package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
)

// OrderService implements lianlu.OrderService.
type OrderService struct {
	db *DB
}

// NewOrderService returns the order service of db.
func NewOrderService(db *DB) *OrderService { return &OrderService{db: db} }

var _ lianlu.OrderService = (*OrderService)(nil)

// Order limits.
const (
	maxOrderLines = 200
	maxLineQty    = 100_000
)

// OrderSubject is the event subject of an order.
func OrderSubject(id int64) string { return "order/" + strconv.FormatInt(id, 10) }

func validatePlacement(p *lianlu.OrderPlacement) []lianlu.FieldError {
	var errs []lianlu.FieldError
	p.ExternalID = strings.TrimSpace(p.ExternalID)
	if p.ExternalID == "" || len(p.ExternalID) > maxReferenceLength {
		errs = append(errs, lianlu.FieldError{Field: "external_id", Message: "required, at most 128 bytes"})
	}
	switch p.Channel {
	case lianlu.ChannelOnline:
		if p.Store != "" {
			errs = append(errs, lianlu.FieldError{Field: "store", Message: "only for store orders"})
		}
		if p.ShipTo == nil || strings.TrimSpace(p.ShipTo.Address) == "" {
			errs = append(errs, lianlu.FieldError{Field: "ship_to.address", Message: "required for online orders"})
		}
	case lianlu.ChannelStore:
		if p.Store == "" {
			errs = append(errs, lianlu.FieldError{Field: "store", Message: "required for store orders"})
		}
	default:
		errs = append(errs, lianlu.FieldError{Field: "channel", Message: "online or store"})
	}
	if p.ShipTo != nil {
		textField(&errs, "ship_to.address", p.ShipTo.Address, false, 500)
		textField(&errs, "ship_to.name", p.ShipTo.Name, false, 100)
		textField(&errs, "ship_to.city", p.ShipTo.City, false, 100)
		if (p.ShipTo.Lat == nil) != (p.ShipTo.Lng == nil) ||
			(p.ShipTo.Lat != nil && (*p.ShipTo.Lat < -90 || *p.ShipTo.Lat > 90 || *p.ShipTo.Lng < -180 || *p.ShipTo.Lng > 180)) {
			errs = append(errs, lianlu.FieldError{Field: "ship_to.lat", Message: "lat (−90…90) and lng (−180…180) go together"})
		}
	}
	if len(p.Coupon) > 64 {
		errs = append(errs, lianlu.FieldError{Field: "coupon", Message: "at most 64 bytes"})
	}
	if len(p.Lines) == 0 {
		errs = append(errs, lianlu.FieldError{Field: "lines", Message: "at least one line"})
	} else if len(p.Lines) > maxOrderLines {
		errs = append(errs, lianlu.FieldError{Field: "lines", Message: "at most 200 lines"})
	}
	for i, l := range p.Lines {
		if l.SKU == "" {
			errs = append(errs, lianlu.FieldError{Field: fmt.Sprintf("lines[%d].sku", i), Message: "required"})
		}
		if l.Qty <= 0 || l.Qty > maxLineQty {
			errs = append(errs, lianlu.FieldError{Field: fmt.Sprintf("lines[%d].qty", i), Message: "a positive integer up to 100000"})
		}
		if l.UnitPrice < 0 {
			errs = append(errs, lianlu.FieldError{Field: fmt.Sprintf("lines[%d].unit_price", i), Message: "must not be negative"})
		}
	}
	if !p.PlacedAt.IsZero() && (p.PlacedAt.Year() < 2000 || p.PlacedAt.Year() > 9999) {
		errs = append(errs, lianlu.FieldError{Field: "placed_at", Message: "out of range"})
	}
	return errs
}

// PlaceOrder stores an order and appends order.placed.
func (s *OrderService) PlaceOrder(ctx context.Context, p lianlu.OrderPlacement) (lianlu.Order, bool, error) {
	if errs := validatePlacement(&p); len(errs) > 0 {
		return lianlu.Order{}, false, lianlu.Invalid(errs...)
	}
	var o lianlu.Order
	created := false
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		o, created, err = placeOrderTx(ctx, tx, p)
		return err
	})
	if lianlu.ErrorCode(err) == lianlu.ECONFLICT && strings.Contains(lianlu.ErrorMessage(err), "already exists") {
		// Another request placed the same external id at the same time
		// (PostgreSQL); it won, and this is its duplicate.
		o, err = s.findOrderByExternalID(ctx, p.ExternalID)
		return o, false, err
	}
	return o, created, err
}

func placeOrderTx(ctx context.Context, tx *Tx, p lianlu.OrderPlacement) (lianlu.Order, bool, error) {
	if id, err := orderIDByExternal(ctx, tx, p.ExternalID); err == nil {
		o, err := findOrderTx(ctx, tx, id)
		return o, false, err
	} else if !isNotFound(err) {
		return lianlu.Order{}, false, err
	}
	var errs []lianlu.FieldError
	o := lianlu.Order{ExternalID: p.ExternalID, Channel: p.Channel, Store: p.Store, ShipTo: p.ShipTo, Status: lianlu.OrderPlaced,
		PlacedAt: p.PlacedAt.UTC().Truncate(time.Microsecond), UpdatedAt: tx.now}
	if o.PlacedAt.IsZero() {
		o.PlacedAt = tx.now
	} else if problem := lianlu.EventTimeProblem(o.PlacedAt, tx.now); problem != "" {
		// The time of order.placed, from which the flows' SLAs run.
		errs = append(errs, lianlu.FieldError{Field: "placed_at", Message: problem})
	}
	var storeID any
	if p.Store != "" {
		l, err := findLocationByCode(ctx, tx, p.Store)
		if err != nil || l.Kind != lianlu.LocationStore {
			if err != nil && lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
				return o, false, err
			}
			errs = append(errs, lianlu.FieldError{Field: "store", Message: "unknown store " + p.Store})
		} else {
			storeID = l.ID
		}
	}
	productIDs := make([]int64, len(p.Lines))
	var catalogueTotal lianlu.Money // lines at catalogue price, which a tier lowers
	for i, l := range p.Lines {
		prod, err := findProductBySKU(ctx, tx, l.SKU)
		switch {
		case lianlu.ErrorCode(err) == lianlu.ENOTFOUND:
			errs = append(errs, lianlu.FieldError{Field: fmt.Sprintf("lines[%d].sku", i), Message: "unknown SKU " + l.SKU})
			continue
		case err != nil:
			return o, false, err
		case !prod.Active:
			errs = append(errs, lianlu.FieldError{Field: fmt.Sprintf("lines[%d].sku", i), Message: "SKU " + l.SKU + " is not active"})
			continue
		}
		productIDs[i] = prod.ID
		price := l.UnitPrice
		if price == 0 {
			price = prod.Price
		}
		if l.Qty > 0 && int64(price) > math.MaxInt64/l.Qty/int64(maxOrderLines) {
			errs = append(errs, lianlu.FieldError{Field: fmt.Sprintf("lines[%d].unit_price", i), Message: "too large"})
			continue
		}
		line := lianlu.OrderLine{SKU: l.SKU, Qty: l.Qty, UnitPrice: price, LineTotal: price * lianlu.Money(l.Qty)}
		o.Lines = append(o.Lines, line)
		o.Total += line.LineTotal
		if l.UnitPrice == 0 {
			catalogueTotal += line.LineTotal
		}
	}
	if p.Member != nil {
		id, err := resolveMemberTx(ctx, tx, *p.Member, "member.")
		if fs := lianlu.ErrorFields(err); len(fs) > 0 {
			errs = append(errs, fs...)
		} else if err != nil {
			return o, false, err
		}
		o.MemberID = id
	}
	if len(errs) > 0 {
		return o, false, lianlu.Invalid(errs...)
	}
	if o.MemberID != 0 {
		pct, err := memberTierDiscountTx(ctx, tx, o.MemberID)
		if err != nil {
			return o, false, err
		}
		o.Discount = catalogueTotal * lianlu.Money(pct) / 100
	}
	var coupon lianlu.Coupon
	var couponDiscount lianlu.Money
	if p.Coupon != "" {
		var err error
		if coupon, err = checkCouponTx(ctx, tx, p.Coupon, o.MemberID, o.Total-o.Discount, tx.now); err != nil {
			return o, false, err
		}
		o.Coupon = coupon.Code
		couponDiscount = min(coupon.ValueOff, o.Total-o.Discount)
		o.Discount += couponDiscount
	}
	o.Total -= o.Discount
	var shipTo any
	if o.ShipTo != nil {
		b, _ := json.Marshal(o.ShipTo)
		shipTo = string(b)
	}
	var member any
	if o.MemberID != 0 {
		member = o.MemberID
	}
	d := tx.db.dialect
	if err := tx.queryRow(ctx, `INSERT INTO orders (external_id, channel, store_id, member_id, coupon, ship_to, total_minor, discount_minor, status, placed_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		o.ExternalID, o.Channel, storeID, member, nullString(o.Coupon), shipTo, int64(o.Total), int64(o.Discount), o.Status, d.timeArg(o.PlacedAt), d.timeArg(tx.now)).Scan(&o.ID); err != nil {
		return o, false, fmt.Errorf("insert order: %w", mapError(err))
	}
	if o.Coupon != "" {
		if err := redeemCouponTx(ctx, tx, coupon, o.ID, couponDiscount); err != nil {
			return o, false, err
		}
	}
	for i, l := range o.Lines {
		if _, err := tx.exec(ctx, `INSERT INTO order_lines (order_id, line_no, product_id, qty, unit_price_minor) VALUES (?, ?, ?, ?, ?)`,
			o.ID, i+1, productIDs[i], l.Qty, int64(l.UnitPrice)); err != nil {
			return o, false, fmt.Errorf("insert order line: %w", err)
		}
	}
	b, err := json.Marshal(o)
	if err != nil {
		return o, false, err
	}
	e := lianlu.Event{ID: OrderSubject(o.ID) + "/placed", Source: CommandSource, Type: "order.placed", Subject: OrderSubject(o.ID),
		Department: lianlu.DeptSales, Actor: actorOf(ctx), CorrelationID: lianlu.RequestIDFromContext(ctx), Time: o.PlacedAt, Data: b}
	res, err := AppendEvents(ctx, tx, []lianlu.Event{e})
	if err != nil {
		return o, false, err
	}
	if res[0].Duplicate {
		// The order is new, so its event cannot exist: something wrote
		// Lianlu's own id past the intake. Place nothing rather than an
		// order without the event its flows start from.
		return o, false, fmt.Errorf("place order %d: the id %s/%s of its order.placed is taken by event %d", o.ID, e.Source, e.ID, res[0].Event.Seq)
	}
	return o, true, nil
}

func orderIDByExternal(ctx context.Context, tx *Tx, externalID string) (int64, error) {
	var id int64
	err := tx.queryRow(ctx, `SELECT id FROM orders WHERE external_id = ?`, externalID).Scan(&id)
	return id, err
}

const orderColumns = `o.id, o.external_id, o.channel, l.code, o.member_id, o.coupon, o.ship_to, o.total_minor, o.discount_minor, o.status, o.placed_at, o.updated_at`

const orderFrom = ` FROM orders o LEFT JOIN locations l ON l.id = o.store_id`

func scanOrder(r rowScanner) (lianlu.Order, error) {
	var o lianlu.Order
	var store, coupon *string
	var member *int64
	var shipTo []byte
	var total, discount int64
	if err := r.Scan(&o.ID, &o.ExternalID, &o.Channel, &store, &member, &coupon, &shipTo, &total, &discount, &o.Status,
		sqlTime{&o.PlacedAt}, sqlTime{&o.UpdatedAt}); err != nil {
		return o, err
	}
	o.Store, o.Coupon, o.Total, o.Discount = deref(store), deref(coupon), lianlu.Money(total), lianlu.Money(discount)
	if member != nil {
		o.MemberID = *member
	}
	if shipTo != nil {
		o.ShipTo = &lianlu.Address{}
		if err := json.Unmarshal(shipTo, o.ShipTo); err != nil {
			return o, fmt.Errorf("decode ship_to: %w", err)
		}
	}
	return o, nil
}

// findOrderTx reads an order with its lines in tx.
func findOrderTx(ctx context.Context, tx *Tx, id int64) (lianlu.Order, error) {
	o, err := scanOrder(tx.queryRow(ctx, `SELECT `+orderColumns+orderFrom+` WHERE o.id = ?`, id))
	if err != nil {
		return o, fmt.Errorf("order %d: %w", id, mapError(err))
	}
	rows, err := tx.query(ctx, `SELECT p.sku, ol.qty, ol.unit_price_minor FROM order_lines ol JOIN products p ON p.id = ol.product_id WHERE ol.order_id = ? ORDER BY ol.line_no`, id)
	if err != nil {
		return o, fmt.Errorf("order lines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l lianlu.OrderLine
		var price int64
		if err := rows.Scan(&l.SKU, &l.Qty, &price); err != nil {
			return o, err
		}
		l.UnitPrice = lianlu.Money(price)
		l.LineTotal = l.UnitPrice * lianlu.Money(l.Qty)
		o.Lines = append(o.Lines, l)
	}
	return o, rows.Err()
}

// readTx runs f in a read-only transaction on the reader pool, so that
// helpers written for *Tx serve reads with one snapshot.
func (db *DB) readTx(ctx context.Context, f func(tx *Tx) error) error {
	tx, err := db.reader.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return f(&Tx{Tx: tx, db: db, now: db.Now()})
}

// FindOrderByID returns an order.
func (s *OrderService) FindOrderByID(ctx context.Context, id int64) (lianlu.Order, error) {
	var o lianlu.Order
	err := s.db.readTx(ctx, func(tx *Tx) error {
		var err error
		o, err = findOrderTx(ctx, tx, id)
		return err
	})
	return o, err
}

func (s *OrderService) findOrderByExternalID(ctx context.Context, externalID string) (lianlu.Order, error) {
	var o lianlu.Order
	err := s.db.readTx(ctx, func(tx *Tx) error {
		id, err := orderIDByExternal(ctx, tx, externalID)
		if err != nil {
			return fmt.Errorf("order %s: %w", externalID, mapError(err))
		}
		o, err = findOrderTx(ctx, tx, id)
		return err
	})
	return o, err
}

// FindOrders lists orders by id, with their lines.
func (s *OrderService) FindOrders(ctx context.Context, f lianlu.OrderFilter) ([]lianlu.Order, error) {
	q := `SELECT o.id` + orderFrom + ` WHERE o.id > ?`
	args := []any{f.AfterID}
	for col, v := range map[string]string{"o.channel": f.Channel, "l.code": f.Store, "o.status": f.Status} {
		if v != "" {
			q += ` AND ` + col + ` = ?`
			args = append(args, v)
		}
	}
	if f.MemberID != 0 {
		q += ` AND o.member_id = ?`
		args = append(args, f.MemberID)
	}
	out := []lianlu.Order{}
	err := s.db.readTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, q+` ORDER BY o.id LIMIT `+strconv.Itoa(clampLimit(f.Limit)), args...)
		if err != nil {
			return fmt.Errorf("find orders: %w", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			o, err := findOrderTx(ctx, tx, id)
			if err != nil {
				return err
			}
			out = append(out, o)
		}
		return nil
	})
	return out, err
}

// CancelOrder cancels an order and its unshipped fulfillment.
func (s *OrderService) CancelOrder(ctx context.Context, id int64, reason string) (lianlu.Order, error) {
	var errs []lianlu.FieldError
	textField(&errs, "reason", reason, false, 500)
	if len(errs) > 0 {
		return lianlu.Order{}, lianlu.Invalid(errs...)
	}
	var o lianlu.Order
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		if o, err = findOrderTx(ctx, tx, id); err != nil {
			return err
		}
		if o.Status == lianlu.OrderCancelled {
			return lianlu.Errorf(lianlu.ECONFLICT, "order %d is already cancelled", id)
		}
		f, err := findFulfillmentByOrder(ctx, tx, id)
		switch {
		case err == nil:
			switch f.Status {
			case lianlu.FulfillmentShipped, lianlu.FulfillmentDelivered:
				return lianlu.Errorf(lianlu.ECONFLICT, "order %d has shipped; start an after-sales return instead", id)
			case lianlu.FulfillmentCancelled:
			default:
				if _, err := cancelFulfillmentTx(ctx, tx, f, "order cancelled"); err != nil {
					return err
				}
			}
		case lianlu.ErrorCode(err) != lianlu.ENOTFOUND:
			return err
		}
		res, err := tx.exec(ctx, `UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
			lianlu.OrderCancelled, tx.db.dialect.timeArg(tx.now), id, lianlu.OrderPlaced)
		if err != nil {
			return fmt.Errorf("cancel order: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return lianlu.Errorf(lianlu.ECONFLICT, "order %d changed concurrently", id)
		}
		o.Status, o.UpdatedAt = lianlu.OrderCancelled, tx.now
		_, err = appendCommandEvent(ctx, tx, "order.cancelled", OrderSubject(id), lianlu.DeptSales, OrderSubject(id)+"/cancelled",
			map[string]any{"order": o, "reason": reason})
		return err
	})
	return o, err
}
