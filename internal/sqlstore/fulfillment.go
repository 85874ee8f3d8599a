package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/geo"
)

// FulfillmentService implements lianlu.FulfillmentService.
type FulfillmentService struct {
	db *DB
}

// NewFulfillmentService returns the fulfillment service of db.
func NewFulfillmentService(db *DB) *FulfillmentService { return &FulfillmentService{db: db} }

var _ lianlu.FulfillmentService = (*FulfillmentService)(nil)

// Location rules recorded on fulfillments.
const (
	RuleStore          = "store"                 // a store order ships from its store
	RuleNearestInStock = "nearest_with_stock"    // the nearest warehouse that has every line
	RuleFirstInStock   = "first_with_stock"      // no coordinates: the first warehouse that has every line
	RuleBackordered    = "no_warehouse_in_stock" // none has every line: backordered at the nearest
)

const fulfillmentColumns = `f.id, f.order_id, l.code, f.status, f.reservation_id, f.rule, f.short, f.tracking, f.created_at, f.updated_at,
	f.picked_at, f.shipped_at, f.delivered_at, f.cancelled_at`

const fulfillmentFrom = ` FROM fulfillments f JOIN locations l ON l.id = f.location_id`

func scanFulfillment(r rowScanner) (lianlu.Fulfillment, error) {
	var f lianlu.Fulfillment
	var reservation *int64
	var short []byte
	var tracking *string
	err := r.Scan(&f.ID, &f.OrderID, &f.Location, &f.Status, &reservation, &f.Rule, &short, &tracking, sqlTime{&f.CreatedAt}, sqlTime{&f.UpdatedAt},
		nullTime{&f.PickedAt}, nullTime{&f.ShippedAt}, nullTime{&f.DeliveredAt}, nullTime{&f.CancelledAt})
	if err != nil {
		return f, err
	}
	if reservation != nil {
		f.ReservationID = *reservation
	}
	f.Tracking = deref(tracking)
	if short != nil {
		if err := json.Unmarshal(short, &f.Short); err != nil {
			return f, fmt.Errorf("decode short lines: %w", err)
		}
	}
	return f, nil
}

// withLines fills a fulfillment's lines from its order.
func withLines(ctx context.Context, tx *Tx, f lianlu.Fulfillment) (lianlu.Fulfillment, error) {
	o, err := findOrderTx(ctx, tx, f.OrderID)
	if err != nil {
		return f, err
	}
	f.Lines = orderReservationLines(o)
	return f, nil
}

func orderReservationLines(o lianlu.Order) []lianlu.ReservationLine {
	lines := make([]lianlu.ReservationLine, 0, len(o.Lines))
	for _, l := range o.Lines {
		lines = append(lines, lianlu.ReservationLine{SKU: l.SKU, Qty: l.Qty})
	}
	return lines
}

func findFulfillmentTx(ctx context.Context, tx *Tx, where string, arg any) (lianlu.Fulfillment, error) {
	f, err := scanFulfillment(tx.queryRow(ctx, `SELECT `+fulfillmentColumns+fulfillmentFrom+` WHERE `+where, arg))
	if err != nil {
		return f, fmt.Errorf("fulfillment: %w", mapError(err))
	}
	return withLines(ctx, tx, f)
}

func findFulfillmentByOrder(ctx context.Context, tx *Tx, orderID int64) (lianlu.Fulfillment, error) {
	return findFulfillmentTx(ctx, tx, `f.order_id = ?`, orderID)
}

// CreateFulfillment creates an order's fulfillment.
func (s *FulfillmentService) CreateFulfillment(ctx context.Context, orderID int64) (lianlu.Fulfillment, error) {
	var f lianlu.Fulfillment
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		f, err = CreateFulfillmentTx(ctx, tx, orderID)
		return err
	})
	return f, err
}

// candidate is a warehouse that might ship an order.
type candidate struct {
	loc      lianlu.Location
	complete bool
	distance float64
}

// chooseLocation applies the location rule: a store order ships from its
// store; an online order from the nearest active warehouse that has every
// line available (the first such, without coordinates), else it is
// backordered at the nearest warehouse.
func chooseLocation(ctx context.Context, tx *Tx, o lianlu.Order) (lianlu.Location, string, error) {
	if o.Channel == lianlu.ChannelStore {
		l, err := findLocationByCode(ctx, tx, o.Store)
		return l, RuleStore, err
	}
	rows, err := tx.query(ctx, `SELECT `+locationColumns+` FROM locations WHERE kind = ? AND active = ? ORDER BY id`, lianlu.LocationWarehouse, true)
	if err != nil {
		return lianlu.Location{}, "", fmt.Errorf("find warehouses: %w", err)
	}
	var cands []candidate
	for rows.Next() {
		l, err := scanLocation(rows)
		if err != nil {
			rows.Close()
			return lianlu.Location{}, "", err
		}
		cands = append(cands, candidate{loc: l, distance: math.Inf(1)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return lianlu.Location{}, "", err
	}
	if len(cands) == 0 {
		return lianlu.Location{}, "", lianlu.Errorf(lianlu.ECONFLICT, "no active warehouse to ship online orders from")
	}
	hasCoords := o.ShipTo != nil && o.ShipTo.Lat != nil
	for i := range cands {
		c := &cands[i]
		if hasCoords && c.loc.Lat != nil {
			c.distance = geo.DistanceKm(*o.ShipTo.Lat, *o.ShipTo.Lng, *c.loc.Lat, *c.loc.Lng)
		}
		c.complete = true
		for _, l := range o.Lines {
			var avail int64
			err := tx.queryRow(ctx, `SELECT s.on_hand - s.reserved FROM stock s JOIN products p ON p.id = s.product_id WHERE p.sku = ? AND s.location_id = ?`,
				l.SKU, c.loc.ID).Scan(&avail)
			if err != nil && !isNotFound(err) {
				return lianlu.Location{}, "", fmt.Errorf("read stock: %w", err)
			}
			if avail < l.Qty {
				c.complete = false
				break
			}
		}
	}
	// Stable: equal distances keep id order.
	slices.SortStableFunc(cands, func(a, b candidate) int {
		switch {
		case a.distance < b.distance:
			return -1
		case a.distance > b.distance:
			return 1
		}
		return 0
	})
	for _, c := range cands {
		if c.complete {
			if hasCoords && !math.IsInf(c.distance, 1) {
				return c.loc, RuleNearestInStock, nil
			}
			return c.loc, RuleFirstInStock, nil
		}
	}
	return cands[0].loc, RuleBackordered, nil
}

// CreateFulfillmentTx creates an order's fulfillment in the caller's
// transaction (the flow runner's), reserving its stock or recording it as
// backordered with the short lines. A second call returns the first.
func CreateFulfillmentTx(ctx context.Context, tx *Tx, orderID int64) (lianlu.Fulfillment, error) {
	if f, err := findFulfillmentByOrder(ctx, tx, orderID); err == nil {
		return f, nil
	} else if lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
		return f, err
	}
	o, err := findOrderTx(ctx, tx, orderID)
	if err != nil {
		return lianlu.Fulfillment{}, err
	}
	if o.Status != lianlu.OrderPlaced {
		return lianlu.Fulfillment{}, lianlu.Errorf(lianlu.ECONFLICT, "order %d is %s", orderID, o.Status)
	}
	loc, rule, err := chooseLocation(ctx, tx, o)
	if err != nil {
		return lianlu.Fulfillment{}, err
	}
	f := lianlu.Fulfillment{OrderID: o.ID, Location: loc.Code, Rule: rule, Lines: orderReservationLines(o), CreatedAt: tx.now, UpdatedAt: tx.now}
	res, short, err := ReserveTx(ctx, tx, "order/"+strconv.FormatInt(o.ID, 10), loc.Code, f.Lines)
	switch {
	case err == nil:
		f.Status, f.ReservationID = lianlu.FulfillmentReserved, res.ID
	case len(short) > 0:
		f.Status, f.Short = lianlu.FulfillmentBackordered, short
	default:
		return lianlu.Fulfillment{}, err
	}
	var shortJSON, reservation any
	if f.Short != nil {
		b, _ := json.Marshal(f.Short)
		shortJSON = string(b)
	}
	if f.ReservationID != 0 {
		reservation = f.ReservationID
	}
	d := tx.db.dialect
	if err := tx.queryRow(ctx, `INSERT INTO fulfillments (order_id, location_id, status, reservation_id, rule, short, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		o.ID, loc.ID, f.Status, reservation, f.Rule, shortJSON, d.timeArg(tx.now), d.timeArg(tx.now)).Scan(&f.ID); err != nil {
		return lianlu.Fulfillment{}, fmt.Errorf("insert fulfillment: %w", mapError(err))
	}
	if err := appendFulfillmentEvent(ctx, tx, "fulfillment."+f.Status, f); err != nil {
		return lianlu.Fulfillment{}, err
	}
	return f, nil
}

// FulfillmentSubject is the event subject of a fulfillment.
func FulfillmentSubject(id int64) string { return "fulfillment/" + strconv.FormatInt(id, 10) }

// appendFulfillmentEvent appends a fulfillment.* event owned by supply
// chain (stores for store orders); data carries the order's subject so
// that handoffs about the order can be completed by it.
func appendFulfillmentEvent(ctx context.Context, tx *Tx, typ string, f lianlu.Fulfillment) error {
	dept := lianlu.DeptSupplyChain
	if f.Rule == RuleStore {
		dept = lianlu.DeptStores
	}
	_, err := appendCommandEvent(ctx, tx, typ, FulfillmentSubject(f.ID), dept, FulfillmentSubject(f.ID)+"/"+typ,
		map[string]any{"fulfillment": f, "order_subject": OrderSubject(f.OrderID)})
	return err
}

// FindFulfillmentByID returns a fulfillment.
func (s *FulfillmentService) FindFulfillmentByID(ctx context.Context, id int64) (lianlu.Fulfillment, error) {
	var f lianlu.Fulfillment
	err := s.db.readTx(ctx, func(tx *Tx) error {
		var err error
		f, err = findFulfillmentTx(ctx, tx, `f.id = ?`, id)
		return err
	})
	return f, err
}

// FindFulfillments lists fulfillments by id.
func (s *FulfillmentService) FindFulfillments(ctx context.Context, flt lianlu.FulfillmentFilter) ([]lianlu.Fulfillment, error) {
	q := `SELECT ` + fulfillmentColumns + fulfillmentFrom + ` WHERE f.id > ?`
	args := []any{flt.AfterID}
	if flt.OrderID != 0 {
		q += ` AND f.order_id = ?`
		args = append(args, flt.OrderID)
	}
	if flt.Status != "" {
		q += ` AND f.status = ?`
		args = append(args, flt.Status)
	}
	if flt.Location != "" {
		q += ` AND l.code = ?`
		args = append(args, flt.Location)
	}
	out := []lianlu.Fulfillment{}
	err := s.db.readTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, q+` ORDER BY f.id LIMIT `+strconv.Itoa(clampLimit(flt.Limit)), args...)
		if err != nil {
			return fmt.Errorf("find fulfillments: %w", err)
		}
		for rows.Next() {
			f, err := scanFulfillment(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range out {
			if out[i], err = withLines(ctx, tx, out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// transitionFulfillment moves a fulfillment from one of from to status.
func (s *FulfillmentService) transitionFulfillment(ctx context.Context, id int64, from []string, change func(tx *Tx, f *lianlu.Fulfillment) error) (lianlu.Fulfillment, error) {
	var f lianlu.Fulfillment
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		if f, err = findFulfillmentTx(ctx, tx, `f.id = ?`, id); err != nil {
			return err
		}
		if !slices.Contains(from, f.Status) {
			return lianlu.Errorf(lianlu.ECONFLICT, "fulfillment %d is %s", id, f.Status)
		}
		return change(tx, &f)
	})
	return f, err
}

// saveFulfillmentStatus writes a new status guarded by the old one and
// appends its event.
func saveFulfillmentStatus(ctx context.Context, tx *Tx, f *lianlu.Fulfillment, prev string) error {
	d := tx.db.dialect
	f.UpdatedAt = tx.now
	res, err := tx.exec(ctx, `UPDATE fulfillments SET status = ?, tracking = ?, updated_at = ?, picked_at = ?, shipped_at = ?, delivered_at = ?, cancelled_at = ?
		WHERE id = ? AND status = ?`,
		f.Status, nullString(f.Tracking), d.timeArg(tx.now), timePtrArg(d, f.PickedAt), timePtrArg(d, f.ShippedAt),
		timePtrArg(d, f.DeliveredAt), timePtrArg(d, f.CancelledAt), f.ID, prev)
	if err != nil {
		return fmt.Errorf("update fulfillment: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return lianlu.Errorf(lianlu.ECONFLICT, "fulfillment %d changed concurrently", f.ID)
	}
	return appendFulfillmentEvent(ctx, tx, "fulfillment."+f.Status, *f)
}

// PickFulfillment marks a reserved fulfillment picked.
func (s *FulfillmentService) PickFulfillment(ctx context.Context, id int64) (lianlu.Fulfillment, error) {
	return s.transitionFulfillment(ctx, id, []string{lianlu.FulfillmentReserved}, func(tx *Tx, f *lianlu.Fulfillment) error {
		now := tx.now
		prev := f.Status
		f.Status, f.PickedAt = lianlu.FulfillmentPicked, &now
		return saveFulfillmentStatus(ctx, tx, f, prev)
	})
}

// ShipFulfillment marks a picked fulfillment shipped; its reserved stock
// leaves the location.
func (s *FulfillmentService) ShipFulfillment(ctx context.Context, id int64, tracking string) (lianlu.Fulfillment, error) {
	var errs []lianlu.FieldError
	textField(&errs, "tracking", tracking, false, 100)
	if len(errs) > 0 {
		return lianlu.Fulfillment{}, lianlu.Invalid(errs...)
	}
	return s.transitionFulfillment(ctx, id, []string{lianlu.FulfillmentPicked}, func(tx *Tx, f *lianlu.Fulfillment) error {
		if err := ConsumeTx(ctx, tx, f.ReservationID); err != nil {
			return err
		}
		now := tx.now
		prev := f.Status
		f.Status, f.ShippedAt, f.Tracking = lianlu.FulfillmentShipped, &now, tracking
		return saveFulfillmentStatus(ctx, tx, f, prev)
	})
}

// DeliverFulfillment marks a shipped fulfillment delivered.
func (s *FulfillmentService) DeliverFulfillment(ctx context.Context, id int64) (lianlu.Fulfillment, error) {
	return s.transitionFulfillment(ctx, id, []string{lianlu.FulfillmentShipped}, func(tx *Tx, f *lianlu.Fulfillment) error {
		now := tx.now
		prev := f.Status
		f.Status, f.DeliveredAt = lianlu.FulfillmentDelivered, &now
		return saveFulfillmentStatus(ctx, tx, f, prev)
	})
}

// CancelFulfillment cancels an unshipped fulfillment.
func (s *FulfillmentService) CancelFulfillment(ctx context.Context, id int64, reason string) (lianlu.Fulfillment, error) {
	var errs []lianlu.FieldError
	textField(&errs, "reason", reason, false, 500)
	if len(errs) > 0 {
		return lianlu.Fulfillment{}, lianlu.Invalid(errs...)
	}
	return s.transitionFulfillment(ctx, id, []string{lianlu.FulfillmentReserved, lianlu.FulfillmentBackordered, lianlu.FulfillmentPicked},
		func(tx *Tx, f *lianlu.Fulfillment) error {
			out, err := cancelFulfillmentTx(ctx, tx, *f, reason)
			*f = out
			return err
		})
}

func cancelFulfillmentTx(ctx context.Context, tx *Tx, f lianlu.Fulfillment, reason string) (lianlu.Fulfillment, error) {
	if f.ReservationID != 0 {
		if _, err := ReleaseTx(ctx, tx, f.ReservationID); err != nil {
			return f, err
		}
	}
	now := tx.now
	prev := f.Status
	f.Status, f.CancelledAt = lianlu.FulfillmentCancelled, &now
	return f, saveFulfillmentStatus(ctx, tx, &f, prev)
}
