package sqlstore

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lianlu/lianlu"
)

// CatalogService implements lianlu.CatalogService.
type CatalogService struct {
	db *DB
}

// NewCatalogService returns the catalogue service of db.
func NewCatalogService(db *DB) *CatalogService { return &CatalogService{db: db} }

var _ lianlu.CatalogService = (*CatalogService)(nil)

var codeRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func textField(errs *[]lianlu.FieldError, field, v string, required bool, max int) {
	switch {
	case required && strings.TrimSpace(v) == "":
		*errs = append(*errs, lianlu.FieldError{Field: field, Message: "required"})
	case utf8.RuneCountInString(v) > max:
		*errs = append(*errs, lianlu.FieldError{Field: field, Message: "longer than " + strconv.Itoa(max) + " characters"})
	case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
		*errs = append(*errs, lianlu.FieldError{Field: field, Message: "not valid text"})
	}
}

func validateProduct(p lianlu.Product) error {
	var errs []lianlu.FieldError
	if !codeRe.MatchString(p.SKU) {
		errs = append(errs, lianlu.FieldError{Field: "sku", Message: "1–64 letters, digits or ._- starting with a letter or digit"})
	}
	textField(&errs, "name", p.Name, true, 200)
	textField(&errs, "category", p.Category, true, 100)
	if p.Price < 0 {
		errs = append(errs, lianlu.FieldError{Field: "price", Message: "must not be negative"})
	}
	if len(errs) > 0 {
		return lianlu.Invalid(errs...)
	}
	return nil
}

const productColumns = `id, sku, name, category, price_minor, active, created_at, updated_at`

func scanProduct(r rowScanner) (lianlu.Product, error) {
	var p lianlu.Product
	var price int64
	err := r.Scan(&p.ID, &p.SKU, &p.Name, &p.Category, &price, &p.Active, sqlTime{&p.CreatedAt}, sqlTime{&p.UpdatedAt})
	p.Price = lianlu.Money(price)
	return p, err
}

// UpsertProduct creates or updates a product by SKU.
func (s *CatalogService) UpsertProduct(ctx context.Context, p lianlu.Product) (lianlu.Product, lianlu.UpsertResult, error) {
	p.SKU, p.Name, p.Category = strings.TrimSpace(p.SKU), strings.TrimSpace(p.Name), strings.TrimSpace(p.Category)
	if err := validateProduct(p); err != nil {
		return lianlu.Product{}, "", err
	}
	var result lianlu.UpsertResult
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		old, err := findProductBySKU(ctx, tx, p.SKU)
		d := tx.db.dialect
		switch {
		case lianlu.ErrorCode(err) == lianlu.ENOTFOUND:
			p.CreatedAt, p.UpdatedAt = tx.now, tx.now
			if err := tx.queryRow(ctx, `INSERT INTO products (sku, name, category, price_minor, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				p.SKU, p.Name, p.Category, int64(p.Price), p.Active, d.timeArg(tx.now), d.timeArg(tx.now)).Scan(&p.ID); err != nil {
				return fmt.Errorf("insert product: %w", mapError(err))
			}
			result = lianlu.UpsertCreated
		case err != nil:
			return err
		case old.Name == p.Name && old.Category == p.Category && old.Price == p.Price && old.Active == p.Active:
			p, result = old, lianlu.UpsertUnchanged
			return nil
		default:
			p.ID, p.CreatedAt, p.UpdatedAt = old.ID, old.CreatedAt, tx.now
			if _, err := tx.exec(ctx, `UPDATE products SET name = ?, category = ?, price_minor = ?, active = ?, updated_at = ? WHERE id = ?`,
				p.Name, p.Category, int64(p.Price), p.Active, d.timeArg(tx.now), p.ID); err != nil {
				return fmt.Errorf("update product: %w", err)
			}
			result = lianlu.UpsertUpdated
		}
		_, err = appendCommandEvent(ctx, tx, "product.upserted", "product/"+p.SKU, lianlu.DeptProduct, "", p)
		return err
	})
	return p, result, err
}

func findProductBySKU(ctx context.Context, tx *Tx, sku string) (lianlu.Product, error) {
	p, err := scanProduct(tx.queryRow(ctx, `SELECT `+productColumns+` FROM products WHERE sku = ?`, sku))
	if err != nil {
		return p, fmt.Errorf("product %s: %w", sku, mapError(err))
	}
	return p, nil
}

// FindProductBySKU returns a product by SKU.
func (s *CatalogService) FindProductBySKU(ctx context.Context, sku string) (lianlu.Product, error) {
	p, err := scanProduct(s.db.readRow(ctx, `SELECT `+productColumns+` FROM products WHERE sku = ?`, sku))
	if err != nil {
		return p, fmt.Errorf("product %s: %w", sku, mapError(err))
	}
	return p, nil
}

func clampLimit(n int) int {
	if n <= 0 {
		return 100
	}
	return min(n, 1000)
}

// FindProducts lists products ordered by id.
func (s *CatalogService) FindProducts(ctx context.Context, f lianlu.ProductFilter) ([]lianlu.Product, error) {
	q := `SELECT ` + productColumns + ` FROM products WHERE id > ?`
	args := []any{f.AfterID}
	if f.Category != "" {
		q += ` AND category = ?`
		args = append(args, f.Category)
	}
	if f.Active != nil {
		q += ` AND active = ?`
		args = append(args, *f.Active)
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY id LIMIT `+strconv.Itoa(clampLimit(f.Limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("find products: %w", err)
	}
	defer rows.Close()
	out := []lianlu.Product{}
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func validateLocation(l lianlu.Location) error {
	var errs []lianlu.FieldError
	if !codeRe.MatchString(l.Code) {
		errs = append(errs, lianlu.FieldError{Field: "code", Message: "1–64 letters, digits or ._- starting with a letter or digit"})
	}
	if l.Kind != lianlu.LocationWarehouse && l.Kind != lianlu.LocationStore {
		errs = append(errs, lianlu.FieldError{Field: "kind", Message: "warehouse or store"})
	}
	textField(&errs, "name", l.Name, true, 200)
	textField(&errs, "address", l.Address, false, 500)
	if (l.Lat == nil) != (l.Lng == nil) {
		errs = append(errs, lianlu.FieldError{Field: "lat", Message: "lat and lng go together"})
	}
	if l.Lat != nil && (math.IsNaN(*l.Lat) || *l.Lat < -90 || *l.Lat > 90) {
		errs = append(errs, lianlu.FieldError{Field: "lat", Message: "between -90 and 90"})
	}
	if l.Lng != nil && (math.IsNaN(*l.Lng) || *l.Lng < -180 || *l.Lng > 180) {
		errs = append(errs, lianlu.FieldError{Field: "lng", Message: "between -180 and 180"})
	}
	if _, err := time.LoadLocation(l.Timezone); err != nil || l.Timezone == "" || l.Timezone == "Local" {
		errs = append(errs, lianlu.FieldError{Field: "timezone", Message: "an IANA time zone such as Asia/Shanghai"})
	}
	if len(errs) > 0 {
		return lianlu.Invalid(errs...)
	}
	return nil
}

const locationColumns = `id, code, kind, name, address, lat, lng, timezone, active, created_at, updated_at`

func scanLocation(r rowScanner) (lianlu.Location, error) {
	var l lianlu.Location
	err := r.Scan(&l.ID, &l.Code, &l.Kind, &l.Name, &l.Address, &l.Lat, &l.Lng, &l.Timezone, &l.Active,
		sqlTime{&l.CreatedAt}, sqlTime{&l.UpdatedAt})
	return l, err
}

func sameFloat(a, b *float64) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// UpsertLocation creates or updates a location by code.
func (s *CatalogService) UpsertLocation(ctx context.Context, l lianlu.Location) (lianlu.Location, lianlu.UpsertResult, error) {
	l.Code, l.Name, l.Address = strings.TrimSpace(l.Code), strings.TrimSpace(l.Name), strings.TrimSpace(l.Address)
	if l.Timezone == "" {
		l.Timezone = "Asia/Shanghai"
	}
	if err := validateLocation(l); err != nil {
		return lianlu.Location{}, "", err
	}
	var result lianlu.UpsertResult
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		l, result, err = upsertLocationTx(ctx, tx, l)
		return err
	})
	return l, result, err
}

// upsertLocationTx creates or updates a validated location in tx and
// appends location.upserted when it changed.
func upsertLocationTx(ctx context.Context, tx *Tx, l lianlu.Location) (lianlu.Location, lianlu.UpsertResult, error) {
	var result lianlu.UpsertResult
	d := tx.db.dialect
	old, err := findLocationByCode(ctx, tx, l.Code)
	switch {
	case lianlu.ErrorCode(err) == lianlu.ENOTFOUND:
		l.CreatedAt, l.UpdatedAt = tx.now, tx.now
		if err := tx.queryRow(ctx, `INSERT INTO locations (code, kind, name, address, lat, lng, timezone, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			l.Code, l.Kind, l.Name, l.Address, l.Lat, l.Lng, l.Timezone, l.Active, d.timeArg(tx.now), d.timeArg(tx.now)).Scan(&l.ID); err != nil {
			return l, "", fmt.Errorf("insert location: %w", mapError(err))
		}
		result = lianlu.UpsertCreated
	case err != nil:
		return l, "", err
	case old.Kind != l.Kind:
		return l, "", lianlu.Invalid(lianlu.FieldError{Field: "kind", Message: "a location's kind cannot change (it is " + old.Kind + ")"})
	case old.Name == l.Name && old.Address == l.Address && sameFloat(old.Lat, l.Lat) && sameFloat(old.Lng, l.Lng) &&
		old.Timezone == l.Timezone && old.Active == l.Active:
		return old, lianlu.UpsertUnchanged, nil
	default:
		l.ID, l.CreatedAt, l.UpdatedAt = old.ID, old.CreatedAt, tx.now
		if _, err := tx.exec(ctx, `UPDATE locations SET name = ?, address = ?, lat = ?, lng = ?, timezone = ?, active = ?, updated_at = ? WHERE id = ?`,
			l.Name, l.Address, l.Lat, l.Lng, l.Timezone, l.Active, d.timeArg(tx.now), l.ID); err != nil {
			return l, "", fmt.Errorf("update location: %w", err)
		}
		result = lianlu.UpsertUpdated
	}
	_, err = appendCommandEvent(ctx, tx, "location.upserted", "location/"+l.Code, LocationDepartment(l.Kind), "", l)
	return l, result, err
}

// LocationDepartment is the department that owns a location of the kind:
// stores own stores, supply chain owns warehouses.
func LocationDepartment(kind string) string {
	if kind == lianlu.LocationStore {
		return lianlu.DeptStores
	}
	return lianlu.DeptSupplyChain
}

func findLocationByCode(ctx context.Context, tx *Tx, code string) (lianlu.Location, error) {
	l, err := scanLocation(tx.queryRow(ctx, `SELECT `+locationColumns+` FROM locations WHERE code = ?`, code))
	if err != nil {
		return l, fmt.Errorf("location %s: %w", code, mapError(err))
	}
	return l, nil
}

// FindLocationByCode returns a location by code.
func (s *CatalogService) FindLocationByCode(ctx context.Context, code string) (lianlu.Location, error) {
	l, err := scanLocation(s.db.readRow(ctx, `SELECT `+locationColumns+` FROM locations WHERE code = ?`, code))
	if err != nil {
		return l, fmt.Errorf("location %s: %w", code, mapError(err))
	}
	return l, nil
}

// FindLocations lists locations ordered by id.
func (s *CatalogService) FindLocations(ctx context.Context, f lianlu.LocationFilter) ([]lianlu.Location, error) {
	q := `SELECT ` + locationColumns + ` FROM locations WHERE id > ?`
	args := []any{f.AfterID}
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY id LIMIT `+strconv.Itoa(clampLimit(f.Limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("find locations: %w", err)
	}
	defer rows.Close()
	out := []lianlu.Location{}
	for rows.Next() {
		l, err := scanLocation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
