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

// runCatalog handles `lianlu catalog import products|locations FILE`.
func runCatalog(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 1 || args[0] != "import" {
		fmt.Fprint(stderr, "usage: lianlu catalog import products|locations FILE.csv\n")
		return errUsage
	}
	cfg, fs, err := loadConfig("catalog import", args[1:], getenv, stderr, func(c *config.Config, fs *flag.FlagSet) { c.RegisterStorageFlags(fs) })
	if err != nil {
		return err
	}
	if fs.NArg() != 2 || (fs.Arg(0) != "products" && fs.Arg(0) != "locations") {
		fmt.Fprint(stderr, "usage: lianlu catalog import products|locations FILE.csv\n")
		return errUsage
	}
	kind, path := fs.Arg(0), fs.Arg(1)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	db, err := openDB(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "cli:" + osUser(), Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
	sum, err := importCatalogCSV(ctx, sqlstore.NewCatalogService(db), kind, f, stderr)
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
)

// importCatalogCSV upserts each row; bad rows are reported, not fatal.
// Progress goes to progress every 500 rows.
func importCatalogCSV(ctx context.Context, catalog lianlu.CatalogService, kind string, r io.Reader, progress io.Writer) (importSummary, error) {
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
	want := productColumns
	if kind == "locations" {
		want = locationColumns
	}
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
		res, err := importRow(ctx, catalog, kind, get)
		if err != nil {
			sum.rejected = append(sum.rejected, fmt.Sprintf("line %d: %s", line, describe(err)))
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
