package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/config"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// importSummary counts what a CSV import did.
type importSummary struct {
	rows     int
	outcomes map[lianlu.UpsertResult]int
	rejected []string
}

// catalogUsage is the usage line of `lianlu catalog`.
const catalogUsage = "usage: lianlu catalog import products|locations|stores FILE.csv\n"

// runCatalog handles `lianlu catalog import products|locations|stores FILE`.
func runCatalog(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 1 || args[0] != "import" {
		fmt.Fprint(stderr, catalogUsage)
		return errUsage
	}
	cfg, fs, err := loadConfig("catalog import", args[1:], getenv, stderr, func(c *config.Config, fs *flag.FlagSet) { c.RegisterStorageFlags(fs) })
	if err != nil {
		return err
	}
	if fs.NArg() != 2 || (fs.Arg(0) != "products" && fs.Arg(0) != "locations" && fs.Arg(0) != "stores") {
		fmt.Fprint(stderr, catalogUsage)
		return errUsage
	}
	kind, path := fs.Arg(0), fs.Arg(1)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	db, err := openMigrated(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "cli:" + osUser(), Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
	sum, err := importCatalogCSV(ctx, catalogImporter{sqlstore.NewCatalogService(db), sqlstore.NewStoreService(db)}, kind, f, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d rows: %d created, %d updated, %d unchanged, %d rejected\n", path, sum.rows,
		sum.outcomes[lianlu.UpsertCreated], sum.outcomes[lianlu.UpsertUpdated], sum.outcomes[lianlu.UpsertUnchanged], len(sum.rejected))
	for i, r := range sum.rejected {
		if i == 50 {
			fmt.Fprintf(stdout, "  … and %d more\n", len(sum.rejected)-50)
			break
		}
		fmt.Fprintln(stdout, "  "+r)
	}
	if len(sum.rejected) > 0 {
		return fmt.Errorf("%d rows rejected", len(sum.rejected))
	}
	return nil
}

// Columns of the catalogue CSV files (a header row names them; order is
// free; optional columns may be left out).
var (
	productColumns  = map[string]bool{"sku": true, "name": true, "category": true, "price": true, "active": false}
	locationColumns = map[string]bool{"code": true, "kind": true, "name": true, "address": false, "lat": false, "lng": false, "timezone": false, "active": false}
	storeColumns    = map[string]bool{"code": true, "name": true, "address": false, "lat": false, "lng": false, "timezone": false, "active": false,
		"mon": false, "tue": false, "wed": false, "thu": false, "fri": false, "sat": false, "sun": false,
		"skills": false, "capacity_per_day": false, "service_radius_km": false, "staff": false}
)

// catalogImporter writes imported rows.
type catalogImporter struct {
	catalog lianlu.CatalogService
	stores  lianlu.StoreService
}

// importCatalogCSV upserts each row; bad rows are reported, not fatal.
// Progress goes to progress every 500 rows.
func importCatalogCSV(ctx context.Context, im catalogImporter, kind string, r io.Reader, progress io.Writer) (importSummary, error) {
	sum := importSummary{outcomes: map[lianlu.UpsertResult]int{}}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return sum, fmt.Errorf("read header: %w", err)
	}
	cols := map[string]int{}
	for i, h := range header {
		cols[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	want := map[string]map[string]bool{"products": productColumns, "locations": locationColumns, "stores": storeColumns}[kind]
	for c, required := range want {
		if _, ok := cols[c]; required && !ok {
			return sum, fmt.Errorf("header lacks column %q (columns: %s)", c, strings.Join(header, ","))
		}
	}
	start := time.Now()
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			sum.rejected = append(sum.rejected, fmt.Sprintf("line %d: %v", line, err))
			continue
		}
		sum.rows++
		get := func(c string) string {
			if i, ok := cols[c]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		var res lianlu.UpsertResult
		if kind == "stores" {
			res, err = importStoreRow(ctx, im.stores, get, func(c string) bool { _, ok := cols[c]; return ok })
		} else {
			res, err = importRow(ctx, im.catalog, kind, get)
		}
		if err != nil {
			sum.rejected = append(sum.rejected, fmt.Sprintf("line %d: %s", line, reasonOf(err)))
		} else {
			sum.outcomes[res]++
		}
		if sum.rows%500 == 0 {
			rate := float64(sum.rows) / time.Since(start).Seconds()
			fmt.Fprintf(progress, "\r%d rows (%.0f/s)", sum.rows, rate)
		}
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
	}
	if sum.rows >= 500 {
		fmt.Fprintln(progress)
	}
	return sum, nil
}

func parseBool(v string, def bool) (bool, error) {
	if v == "" {
		return def, nil
	}
	return strconv.ParseBool(v)
}

func importRow(ctx context.Context, catalog lianlu.CatalogService, kind string, get func(string) string) (lianlu.UpsertResult, error) {
	active, err := parseBool(get("active"), true)
	if err != nil {
		return "", lianlu.Invalid(lianlu.FieldError{Field: "active", Message: "true or false"})
	}
	if kind == "products" {
		price, err := lianlu.ParseMoney(get("price"))
		if err != nil {
			return "", lianlu.Invalid(lianlu.FieldError{Field: "price", Message: err.Error()})
		}
		_, res, err := catalog.UpsertProduct(ctx, lianlu.Product{SKU: get("sku"), Name: get("name"), Category: get("category"), Price: price, Active: active})
		return res, err
	}
	l := lianlu.Location{Code: get("code"), Kind: get("kind"), Name: get("name"), Address: get("address"), Timezone: get("timezone"), Active: active}
	for field, dst := range map[string]**float64{"lat": &l.Lat, "lng": &l.Lng} {
		if v := get(field); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return "", lianlu.Invalid(lianlu.FieldError{Field: field, Message: "a decimal number"})
			}
			*dst = &f
		}
	}
	_, res, err := catalog.UpsertLocation(ctx, l)
	return res, err
}

// importStoreRow upserts a store: hours in columns mon…sun ("10:00-22:00",
// several spans separated by spaces, empty or "closed" for a closed day;
// without any weekday column the default hours), skills separated by ";",
// staff as "CODE:Name;CODE:Name".
func importStoreRow(ctx context.Context, stores lianlu.StoreService, get func(string) string, has func(string) bool) (lianlu.UpsertResult, error) {
	in := lianlu.StoreInput{Code: get("code")}
	for field, dst := range map[string]**string{"name": &in.Name, "address": &in.Address, "timezone": &in.Timezone} {
		if v := get(field); v != "" {
			*dst = &v
		}
	}
	active, err := parseBool(get("active"), true)
	if err != nil {
		return "", lianlu.Invalid(lianlu.FieldError{Field: "active", Message: "true or false"})
	}
	in.Active = &active
	for field, dst := range map[string]**float64{"lat": &in.Lat, "lng": &in.Lng, "service_radius_km": &in.ServiceRadiusKm} {
		if v := get(field); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return "", lianlu.Invalid(lianlu.FieldError{Field: field, Message: "a decimal number"})
			}
			*dst = &f
		}
	}
	if v := get("capacity_per_day"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return "", lianlu.Invalid(lianlu.FieldError{Field: "capacity_per_day", Message: "an integer"})
		}
		in.CapacityPerDay = &n
	}
	for _, day := range lianlu.Weekdays {
		if !has(day) {
			continue
		}
		if in.Hours == nil {
			in.Hours = lianlu.OpeningHours{}
		}
		v := get(day)
		if v == "" || strings.EqualFold(v, "closed") {
			continue
		}
		for _, span := range strings.Fields(v) {
			from, to, ok := strings.Cut(span, "-")
			if !ok {
				return "", lianlu.Invalid(lianlu.FieldError{Field: day, Message: "spans such as 10:00-22:00"})
			}
			in.Hours[day] = append(in.Hours[day], [2]string{from, to})
		}
	}
	if v := get("skills"); v != "" {
		in.Skills = strings.Split(v, ";")
	}
	if v := get("staff"); v != "" {
		for _, part := range strings.Split(v, ";") {
			code, name, ok := strings.Cut(part, ":")
			if !ok {
				return "", lianlu.Invalid(lianlu.FieldError{Field: "staff", Message: "CODE:Name separated by ;"})
			}
			in.Staff = append(in.Staff, lianlu.StaffMember{Code: strings.TrimSpace(code), Name: strings.TrimSpace(name)})
		}
	}
	_, res, err := stores.CreateStore(ctx, in)
	return res, err
}
