package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lianlu/lianlu"
)

// InventoryService implements lianlu.InventoryService.
type InventoryService struct {
	db *DB
}

// NewInventoryService returns the inventory service of db.
func NewInventoryService(db *DB) *InventoryService { return &InventoryService{db: db} }

var _ lianlu.InventoryService = (*InventoryService)(nil)

// Limits of inventory commands.
const (
	maxAdjustDelta       = 1_000_000_000
	maxReservationLines  = 500
	maxReferenceLength   = 128
	maxAdjustReasonBytes = 64
)

// ids resolves a SKU and a location code to their row ids, reporting
// unknown ones as invalid fields.
func resolveSKULocation(ctx context.Context, tx *Tx, sku, location string) (productID, locationID int64, kind string, err error) {
	var errs []lianlu.FieldError
	p, err := findProductBySKU(ctx, tx, sku)
	if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
		errs = append(errs, lianlu.FieldError{Field: "sku", Message: "unknown SKU " + sku})
	} else if err != nil {
		return 0, 0, "", err
	}
	l, err := findLocationByCode(ctx, tx, location)
	if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
		errs = append(errs, lianlu.FieldError{Field: "location", Message: "unknown location " + location})
	} else if err != nil {
		return 0, 0, "", err
	}
	if len(errs) > 0 {
		return 0, 0, "", lianlu.Invalid(errs...)
	}
	return p.ID, l.ID, l.Kind, nil
}

// ensureStockRow creates the zero stock row of a SKU at a location.
func ensureStockRow(ctx context.Context, tx *Tx, productID, locationID int64) error {
	_, err := tx.exec(ctx, `INSERT INTO stock (product_id, location_id, on_hand, reserved, updated_at) VALUES (?, ?, 0, 0, ?) ON CONFLICT (product_id, location_id) DO NOTHING`,
		productID, locationID, tx.db.dialect.timeArg(tx.now))
	if err != nil {
		return fmt.Errorf("create stock row: %w", err)
	}
	return nil
}

func stockLevel(ctx context.Context, tx *Tx, productID, locationID int64) (lianlu.StockLevel, error) {
	var s lianlu.StockLevel
	err := tx.queryRow(ctx, `SELECT p.sku, l.code, s.on_hand, s.reserved, s.updated_at FROM stock s
		JOIN products p ON p.id = s.product_id JOIN locations l ON l.id = s.location_id
		WHERE s.product_id = ? AND s.location_id = ?`, productID, locationID).
		Scan(&s.SKU, &s.Location, &s.OnHand, &s.Reserved, sqlTime{&s.UpdatedAt})
	if err != nil {
		return s, fmt.Errorf("read stock: %w", mapError(err))
	}
	s.Available = s.OnHand - s.Reserved
	return s, nil
}

// Adjust changes on-hand stock.
func (s *InventoryService) Adjust(ctx context.Context, a lianlu.Adjustment) (lianlu.Adjustment, error) {
	var errs []lianlu.FieldError
	if a.SKU == "" {
		errs = append(errs, lianlu.FieldError{Field: "sku", Message: "required"})
	}
	if a.Location == "" {
		errs = append(errs, lianlu.FieldError{Field: "location", Message: "required"})
	}
	if a.Delta == 0 || a.Delta > maxAdjustDelta || a.Delta < -maxAdjustDelta {
		errs = append(errs, lianlu.FieldError{Field: "delta", Message: "a non-zero integer within ±1,000,000,000"})
	}
	if !slices.Contains(lianlu.AdjustmentReasons, a.Reason) {
		errs = append(errs, lianlu.FieldError{Field: "reason", Message: "one of " + strings.Join(lianlu.AdjustmentReasons, ", ")})
	}
	if len(a.ExternalID) > maxReferenceLength {
		errs = append(errs, lianlu.FieldError{Field: "external_id", Message: "at most 128 bytes"})
	}
	if len(errs) > 0 {
		return lianlu.Adjustment{}, lianlu.Invalid(errs...)
	}
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		a, err = adjustTx(ctx, tx, a)
		return err
	})
	if err != nil {
		return lianlu.Adjustment{}, err
	}
	return a, nil
}

// adjustTx applies a validated adjustment in the caller's transaction (see
// Adjust) and returns it as recorded.
func adjustTx(ctx context.Context, tx *Tx, a lianlu.Adjustment) (lianlu.Adjustment, error) {
	a.Actor = actorOf(ctx)
	err := func() error {
		d := tx.db.dialect
		productID, locationID, kind, err := resolveSKULocation(ctx, tx, a.SKU, a.Location)
		if err != nil {
			return err
		}
		if a.ExternalID != "" {
			var prev lianlu.Adjustment
			err := tx.queryRow(ctx, `SELECT id, delta, reason, actor, created_at FROM stock_adjustments WHERE external_id = ?`, a.ExternalID).
				Scan(&prev.ID, &prev.Delta, &prev.Reason, &prev.Actor, sqlTime{&prev.CreatedAt})
			if err == nil {
				// Already applied: return it as it was recorded.
				prev.SKU, prev.Location, prev.ExternalID = a.SKU, a.Location, a.ExternalID
				prev.Level, err = stockLevel(ctx, tx, productID, locationID)
				a = prev
				return err
			} else if !isNotFound(err) {
				return fmt.Errorf("find adjustment: %w", err)
			}
		}
		if err := ensureStockRow(ctx, tx, productID, locationID); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `UPDATE stock SET on_hand = on_hand + ?, updated_at = ? WHERE product_id = ? AND location_id = ? AND on_hand + ? >= reserved`,
			a.Delta, d.timeArg(tx.now), productID, locationID, a.Delta)
		if err != nil {
			return fmt.Errorf("adjust stock: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			level, err := stockLevel(ctx, tx, productID, locationID)
			if err != nil {
				return err
			}
			return lianlu.Errorf(lianlu.ECONFLICT, "adjustment of %d would leave %s at %s below what is reserved (on hand %d, reserved %d)",
				a.Delta, a.SKU, a.Location, level.OnHand, level.Reserved)
		}
		a.CreatedAt = tx.now
		if err := tx.queryRow(ctx, `INSERT INTO stock_adjustments (product_id, location_id, delta, reason, external_id, actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			productID, locationID, a.Delta, a.Reason, nullString(a.ExternalID), a.Actor, d.timeArg(tx.now)).Scan(&a.ID); err != nil {
			return fmt.Errorf("record adjustment: %w", mapError(err))
		}
		if a.Level, err = stockLevel(ctx, tx, productID, locationID); err != nil {
			return err
		}
		_, err = appendCommandEvent(ctx, tx, "inventory.adjusted", "stock/"+a.SKU+"@"+a.Location, LocationDepartment(kind),
			"adjustment/"+strconv.FormatInt(a.ID, 10), a)
		return err
	}()
	return a, err
}

// mergeLines validates reservation lines and adds up repeated SKUs.
func mergeLines(lines []lianlu.ReservationLine) ([]lianlu.ReservationLine, error) {
	var errs []lianlu.FieldError
	if len(lines) == 0 {
		errs = append(errs, lianlu.FieldError{Field: "lines", Message: "at least one line"})
	} else if len(lines) > maxReservationLines {
		errs = append(errs, lianlu.FieldError{Field: "lines", Message: "at most 500 lines"})
	}
	sum := map[string]int64{}
	var order []string
	for i, l := range lines {
		if l.SKU == "" {
			errs = append(errs, lianlu.FieldError{Field: fmt.Sprintf("lines[%d].sku", i), Message: "required"})
		}
		if l.Qty <= 0 || l.Qty > maxAdjustDelta {
			errs = append(errs, lianlu.FieldError{Field: fmt.Sprintf("lines[%d].qty", i), Message: "a positive integer"})
		}
		if _, ok := sum[l.SKU]; !ok {
			order = append(order, l.SKU)
		}
		sum[l.SKU] += l.Qty
	}
	if len(errs) > 0 {
		return nil, lianlu.Invalid(errs...)
	}
	out := make([]lianlu.ReservationLine, len(order))
	for i, sku := range order {
		out[i] = lianlu.ReservationLine{SKU: sku, Qty: sum[sku]}
	}
	return out, nil
}

// Reserve reserves every line or none.
func (s *InventoryService) Reserve(ctx context.Context, ref, location string, lines []lianlu.ReservationLine) (lianlu.Reservation, []lianlu.ShortLine, error) {
	var r lianlu.Reservation
	var short []lianlu.ShortLine
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		r, short, err = ReserveTx(ctx, tx, ref, location, lines)
		return err
	})
	return r, short, err
}

// ReserveTx reserves stock inside the caller's transaction, so that a
// command (a fulfillment) and its reservation commit together. When stock is
// short it returns the short lines and ECONFLICT, having changed nothing the
// caller must undo: the caller rolls back or records the shortage.
func ReserveTx(ctx context.Context, tx *Tx, ref, location string, lines []lianlu.ReservationLine) (lianlu.Reservation, []lianlu.ShortLine, error) {
	if ref == "" || len(ref) > maxReferenceLength {
		return lianlu.Reservation{}, nil, lianlu.Invalid(lianlu.FieldError{Field: "ref", Message: "1–128 bytes"})
	}
	if location == "" {
		return lianlu.Reservation{}, nil, lianlu.Invalid(lianlu.FieldError{Field: "location", Message: "required"})
	}
	lines, err := mergeLines(lines)
	if err != nil {
		return lianlu.Reservation{}, nil, err
	}
	if prev, err := findReservation(ctx, tx, `r.ref = ?`, ref); err == nil {
		return prev, nil, nil
	} else if lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
		return lianlu.Reservation{}, nil, err
	}
	d := tx.db.dialect
	loc, err := findLocationByCode(ctx, tx, location)
	if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
		return lianlu.Reservation{}, nil, lianlu.Invalid(lianlu.FieldError{Field: "location", Message: "unknown location " + location})
	} else if err != nil {
		return lianlu.Reservation{}, nil, err
	}
	type resolved struct {
		line      lianlu.ReservationLine
		productID int64
	}
	var rs []resolved
	var errs []lianlu.FieldError
	for i, l := range lines {
		p, err := findProductBySKU(ctx, tx, l.SKU)
		if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
			errs = append(errs, lianlu.FieldError{Field: fmt.Sprintf("lines[%d].sku", i), Message: "unknown SKU " + l.SKU})
			continue
		} else if err != nil {
			return lianlu.Reservation{}, nil, err
		}
		rs = append(rs, resolved{l, p.ID})
	}
	if len(errs) > 0 {
		return lianlu.Reservation{}, nil, lianlu.Invalid(errs...)
	}
	// Lock stock rows in product order, so that two reservations of the
	// same SKUs never wait for each other in a cycle.
	sort.Slice(rs, func(i, j int) bool { return rs[i].productID < rs[j].productID })
	var short []lianlu.ShortLine
	for _, x := range rs {
		if err := ensureStockRow(ctx, tx, x.productID, loc.ID); err != nil {
			return lianlu.Reservation{}, nil, err
		}
		// The condition is re-checked under the row lock, so concurrent
		// reservations never take more than is available.
		res, err := tx.exec(ctx, `UPDATE stock SET reserved = reserved + ?, updated_at = ? WHERE product_id = ? AND location_id = ? AND on_hand - reserved >= ?`,
			x.line.Qty, d.timeArg(tx.now), x.productID, loc.ID, x.line.Qty)
		if err != nil {
			return lianlu.Reservation{}, nil, fmt.Errorf("reserve stock: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			level, err := stockLevel(ctx, tx, x.productID, loc.ID)
			if err != nil {
				return lianlu.Reservation{}, nil, err
			}
			short = append(short, lianlu.ShortLine{SKU: x.line.SKU, Requested: x.line.Qty, Available: level.Available})
		}
	}
	if len(short) > 0 {
		// Undo the lines that were reserved; the caller's transaction may
		// go on to record the shortage.
		for _, x := range rs {
			if slices.ContainsFunc(short, func(s lianlu.ShortLine) bool { return s.SKU == x.line.SKU }) {
				continue
			}
			if _, err := tx.exec(ctx, `UPDATE stock SET reserved = reserved - ? WHERE product_id = ? AND location_id = ?`, x.line.Qty, x.productID, loc.ID); err != nil {
				return lianlu.Reservation{}, nil, fmt.Errorf("undo reservation: %w", err)
			}
		}
		return lianlu.Reservation{}, short, lianlu.Errorf(lianlu.ECONFLICT, "not enough stock at %s for %d of %d lines", location, len(short), len(rs))
	}
	r := lianlu.Reservation{Ref: ref, Location: location, Status: lianlu.ReservationActive, Lines: lines, CreatedAt: tx.now, UpdatedAt: tx.now}
	if err := tx.queryRow(ctx, `INSERT INTO reservations (ref, location_id, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		ref, loc.ID, r.Status, d.timeArg(tx.now), d.timeArg(tx.now)).Scan(&r.ID); err != nil {
		return lianlu.Reservation{}, nil, fmt.Errorf("insert reservation: %w", mapError(err))
	}
	for _, x := range rs {
		if _, err := tx.exec(ctx, `INSERT INTO reservation_lines (reservation_id, product_id, qty) VALUES (?, ?, ?)`, r.ID, x.productID, x.line.Qty); err != nil {
			return lianlu.Reservation{}, nil, fmt.Errorf("insert reservation line: %w", err)
		}
	}
	if _, err := appendCommandEvent(ctx, tx, "inventory.reserved", "reservation/"+strconv.FormatInt(r.ID, 10), LocationDepartment(loc.Kind),
		"reservation/"+strconv.FormatInt(r.ID, 10)+"/reserved", r); err != nil {
		return lianlu.Reservation{}, nil, err
	}
	return r, nil, nil
}

// Release returns a reservation's stock.
func (s *InventoryService) Release(ctx context.Context, id int64) (lianlu.Reservation, error) {
	var r lianlu.Reservation
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		r, err = ReleaseTx(ctx, tx, id)
		return err
	})
	return r, err
}

// ReleaseTx releases a reservation inside the caller's transaction.
func ReleaseTx(ctx context.Context, tx *Tx, id int64) (lianlu.Reservation, error) {
	d := tx.db.dialect
	res, err := tx.exec(ctx, `UPDATE reservations SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
		lianlu.ReservationReleased, d.timeArg(tx.now), id, lianlu.ReservationActive)
	if err != nil {
		return lianlu.Reservation{}, fmt.Errorf("release reservation: %w", err)
	}
	r, err := findReservation(ctx, tx, `r.id = ?`, id)
	if err != nil {
		return r, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return r, lianlu.Errorf(lianlu.ECONFLICT, "reservation %d is %s", id, r.Status)
	}
	if _, err := tx.exec(ctx, `UPDATE stock SET reserved = reserved - (SELECT qty FROM reservation_lines rl WHERE rl.reservation_id = ? AND rl.product_id = stock.product_id), updated_at = ?
		WHERE location_id = (SELECT location_id FROM reservations WHERE id = ?) AND product_id IN (SELECT product_id FROM reservation_lines WHERE reservation_id = ?)`,
		id, d.timeArg(tx.now), id, id); err != nil {
		return r, fmt.Errorf("return reserved stock: %w", err)
	}
	loc, err := findLocationByCode(ctx, tx, r.Location)
	if err != nil {
		return r, err
	}
	_, err = appendCommandEvent(ctx, tx, "inventory.released", "reservation/"+strconv.FormatInt(id, 10), LocationDepartment(loc.Kind),
		"reservation/"+strconv.FormatInt(id, 10)+"/released", r)
	return r, err
}

func findReservation(ctx context.Context, tx *Tx, where string, arg any) (lianlu.Reservation, error) {
	var r lianlu.Reservation
	err := tx.queryRow(ctx, `SELECT r.id, r.ref, l.code, r.status, r.created_at, r.updated_at FROM reservations r JOIN locations l ON l.id = r.location_id WHERE `+where, arg).
		Scan(&r.ID, &r.Ref, &r.Location, &r.Status, sqlTime{&r.CreatedAt}, sqlTime{&r.UpdatedAt})
	if err != nil {
		return r, fmt.Errorf("reservation: %w", mapError(err))
	}
	rows, err := tx.query(ctx, `SELECT p.sku, rl.qty FROM reservation_lines rl JOIN products p ON p.id = rl.product_id WHERE rl.reservation_id = ? ORDER BY p.sku`, r.ID)
	if err != nil {
		return r, fmt.Errorf("reservation lines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l lianlu.ReservationLine
		if err := rows.Scan(&l.SKU, &l.Qty); err != nil {
			return r, err
		}
		r.Lines = append(r.Lines, l)
	}
	return r, rows.Err()
}

// FindReservationByID returns a reservation.
func (s *InventoryService) FindReservationByID(ctx context.Context, id int64) (lianlu.Reservation, error) {
	var r lianlu.Reservation
	err := s.db.readTx(ctx, func(tx *Tx) error {
		var err error
		r, err = findReservation(ctx, tx, `r.id = ?`, id)
		return err
	})
	return r, err
}

// FindStockLevels lists stock levels ordered by SKU and location code.
func (s *InventoryService) FindStockLevels(ctx context.Context, f lianlu.InventoryFilter) ([]lianlu.StockLevel, error) {
	q := `SELECT p.sku, l.code, s.on_hand, s.reserved, s.updated_at FROM stock s
		JOIN products p ON p.id = s.product_id JOIN locations l ON l.id = s.location_id WHERE 1 = 1`
	var args []any
	if f.SKU != "" {
		q += ` AND p.sku = ?`
		args = append(args, f.SKU)
	}
	if f.Location != "" {
		q += ` AND l.code = ?`
		args = append(args, f.Location)
	}
	if f.After != "" {
		sku, code, _ := strings.Cut(f.After, "|")
		q += ` AND (p.sku > ? OR (p.sku = ? AND l.code > ?))`
		args = append(args, sku, sku, code)
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY p.sku, l.code LIMIT `+strconv.Itoa(clampLimit(f.Limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("find stock: %w", err)
	}
	defer rows.Close()
	out := []lianlu.StockLevel{}
	for rows.Next() {
		var st lianlu.StockLevel
		if err := rows.Scan(&st.SKU, &st.Location, &st.OnHand, &st.Reserved, sqlTime{&st.UpdatedAt}); err != nil {
			return nil, err
		}
		st.Available = st.OnHand - st.Reserved
		out = append(out, st)
	}
	return out, rows.Err()
}

// ConsumeTx takes an active reservation's stock off hand (the goods left
// the location) in the caller's transaction.
func ConsumeTx(ctx context.Context, tx *Tx, id int64) error {
	d := tx.db.dialect
	res, err := tx.exec(ctx, `UPDATE reservations SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
		lianlu.ReservationConsumed, d.timeArg(tx.now), id, lianlu.ReservationActive)
	if err != nil {
		return fmt.Errorf("consume reservation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return lianlu.Errorf(lianlu.ECONFLICT, "reservation %d is not active", id)
	}
	if _, err := tx.exec(ctx, `UPDATE stock SET
			on_hand = on_hand - (SELECT qty FROM reservation_lines rl WHERE rl.reservation_id = ? AND rl.product_id = stock.product_id),
			reserved = reserved - (SELECT qty FROM reservation_lines rl WHERE rl.reservation_id = ? AND rl.product_id = stock.product_id),
			updated_at = ?
		WHERE location_id = (SELECT location_id FROM reservations WHERE id = ?) AND product_id IN (SELECT product_id FROM reservation_lines WHERE reservation_id = ?)`,
		id, id, d.timeArg(tx.now), id, id); err != nil {
		return fmt.Errorf("take stock off hand: %w", err)
	}
	return nil
}
