package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

// importEnv is a database (SQLite in a data directory, or PostgreSQL) with
// one source, and the environment the CLI reads it from.
type importEnv struct {
	dir    string
	url    string
	source lianlu.Source
}

func newImportEnv(t *testing.T, dialect string) *importEnv {
	t.Helper()
	e := &importEnv{dir: t.TempDir()}
	opts := sqlstore.Options{Path: filepath.Join(e.dir, "lianlu.db")}
	if dialect == "postgres" {
		e.url = sqlstoretest.PostgresURL(t)
		opts = sqlstore.Options{URL: e.url}
	}
	db, err := sqlstore.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.source, _, err = sqlstore.NewSourceService(db).CreateSource(context.Background(), lianlu.Source{Name: "history", Department: lianlu.DeptMarketing, Kind: "web"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *importEnv) getenv(k string) string {
	switch k {
	case "LIANLU_DATA":
		return e.dir
	case "LIANLU_DB":
		return e.url
	}
	return ""
}

func (e *importEnv) run(ctx context.Context, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(ctx, append([]string{"import", "--source", strconv.FormatInt(e.source.ID, 10)}, args...), e.getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

// withDB opens the environment's database.
func (e *importEnv) withDB(t *testing.T, f func(db *sqlstore.DB)) {
	t.Helper()
	opts := sqlstore.Options{Path: filepath.Join(e.dir, "lianlu.db"), URL: e.url}
	db, err := sqlstore.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f(db)
}

// storedIDs returns how often each event id of source is stored.
func (e *importEnv) storedIDs(t *testing.T, source string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	e.withDB(t, func(db *sqlstore.DB) {
		events := sqlstore.NewEventService(db)
		var after int64
		for {
			// By seq alone, filtered here: a source filter would sort each
			// page of a large source anew.
			page, err := events.FindEvents(context.Background(), lianlu.EventFilter{AfterSeq: after, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range page {
				if ev.Source == source {
					ids[ev.ID]++
				}
				after = ev.Seq
			}
			if len(page) < 1000 {
				return
			}
		}
	})
	return ids
}

func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A mixed NDJSON file: Segment messages (with and without messageId, with
// their original receivedAt), CloudEvents (a plain one and a business
// one), blank lines and bad rows, reported with their line numbers.
func TestImport_NDJSON(t *testing.T) {
	e := newImportEnv(t, "sqlite")
	path := filepath.Join(t.TempDir(), "export.ndjson")
	writeLines(t, path,
		`{"type":"track","messageId":"m-1","userId":"u1","event":"Viewed","timestamp":"2025-01-01T10:00:00Z","sentAt":"2025-01-01T10:00:10Z","receivedAt":"2025-01-01T10:00:11Z"}`,
		`{"type":"page","anonymousId":"a1","name":"Home"}`,
		``,
		`{"type":"track","userId":"u1"}`,
		`{"type":"identify",`,
		`{"specversion":"1.0","id":"ce-1","source":"crm","type":"crm.contact.updated","data":{"n":1}}`,
		`{"specversion":"1.0","id":"ce-2","source":"shop","type":"shop.order.created","data":{"order_id":"X"}}`,
		`{"specversion":"1.0","id":"ce-3","source":"crm","type":"crm.contact.updated","department":"sales"}`,
	)
	out, errOut, err := e.run(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "4 rows rejected") {
		t.Fatalf("import: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"7 rows: 3 accepted, 0 duplicates, 4 rejected", "line 4: event: required", "line 5: malformed JSON",
		"line 7: type: shop.order.created events are sent by sales", "line 8: department: "} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "rows/s") {
		t.Errorf("no progress on stderr: %q", errOut)
	}
	seg := e.storedIDs(t, fmt.Sprintf("segment:%d", e.source.ID))
	if len(seg) != 2 || seg["m-1"] != 1 {
		t.Fatalf("segment events %v", seg)
	}
	var stable string
	for id := range seg {
		if strings.HasPrefix(id, "import-") {
			stable = id
		}
	}
	if stable == "" {
		t.Fatalf("no stable id for the message without messageId: %v", seg)
	}
	e.withDB(t, func(db *sqlstore.DB) {
		es, _ := sqlstore.NewEventService(db).FindEvents(context.Background(), lianlu.EventFilter{Source: fmt.Sprintf("segment:%d", e.source.ID)})
		// The original receivedAt is kept, and the skew correction uses it.
		if !es[0].Time.Equal(time.Date(2025, 1, 1, 10, 0, 1, 0, time.UTC)) || es[0].Department != lianlu.DeptMarketing {
			t.Fatalf("imported event %+v", es[0])
		}
		ce, _ := sqlstore.NewEventService(db).FindEvents(context.Background(), lianlu.EventFilter{Source: "crm"})
		if len(ce) != 1 || ce[0].Department != lianlu.DeptMarketing || ce[0].Actor == "" {
			t.Fatalf("cloudevents %+v", ce)
		}
	})
	if _, err := os.Stat(path + ".lianlu-import"); !os.IsNotExist(err) {
		t.Fatalf("checkpoint left after a finished import: %v", err)
	}
	// Importing again stores nothing new: the same ids, stable ones too.
	out, _, _ = e.run(context.Background(), path)
	if !strings.Contains(out, "0 accepted, 3 duplicates, 4 rejected") {
		t.Fatalf("second import:\n%s", out)
	}
	if seg := e.storedIDs(t, fmt.Sprintf("segment:%d", e.source.ID)); len(seg) != 2 || seg[stable] != 1 {
		t.Fatalf("after the second import %v", seg)
	}
}

// The import is a door from outside like POST /api/v1/events: Lianlu's
// own source and the command and collector namespaces are refused, event
// times out of the window and JSON nested too deep too, and the actor is
// the importer's whatever the row says.
func TestImport_RefusesForgedEvents(t *testing.T) {
	e := newImportEnv(t, "sqlite")
	path := filepath.Join(t.TempDir(), "forged.ndjson")
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	writeLines(t, path,
		`{"specversion":"1.0","id":"order/1/placed","source":"lianlu","type":"crm.note"}`,
		`{"specversion":"1.0","id":"f-2","source":"shop","type":"order.placed","subject":"order/1"}`,
		`{"specversion":"1.0","id":"f-3","source":"crm","type":"segment.identify","data":{"userId":"u1"}}`,
		`{"specversion":"1.0","id":"f-4","source":"crm","type":"crm.note","time":"9999-01-01T00:00:00Z"}`,
		`{"specversion":"1.0","id":"f-5","source":"crm","type":"crm.note","data":`+deep+`}`,
		`{"type":"track","messageId":"m-1","userId":"u1","event":"Viewed","timestamp":"1999-01-01T00:00:00Z"}`,
		`{"specversion":"1.0","id":"ok-1","source":"crm","type":"crm.note","actor":"user:admin"}`,
	)
	out, _, err := e.run(context.Background(), path)
	if err == nil {
		t.Fatalf("import of forged rows succeeded:\n%s", out)
	}
	for _, want := range []string{"7 rows: 1 accepted, 0 duplicates, 6 rejected", "line 1: source: source-reserved", "line 2: type: type-reserved",
		"line 3: type: collector-reserved", "line 4: time: ", "line 5: data.a.a", "line 6: timestamp: before 2000"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	e.withDB(t, func(db *sqlstore.DB) {
		es, _ := sqlstore.NewEventService(db).FindEvents(context.Background(), lianlu.EventFilter{})
		if len(es) != 1 || es[0].ID != "ok-1" || !strings.HasPrefix(es[0].Actor, "import:") || es[0].ClaimedActor != "user:admin" {
			t.Fatalf("stored %+v", es)
		}
	})
}

// CSV rows become Segment messages by the column mapping.
func TestImport_CSV(t *testing.T) {
	e := newImportEnv(t, "sqlite")
	path := filepath.Join(t.TempDir(), "clicks.csv")
	writeLines(t, path,
		"id,user,what,sku,price,when",
		`c1,u1,Product Clicked,AP-100,1799.5,2025-02-01T08:00:00Z`,
		`c2,u2,"Product, Shared",FL-9,12,2025-02-01T09:00:00Z`,
		`c3,,Product Clicked,AP-100,3,2025-02-01T09:00:00Z`,
		`c4,u4,Product Clicked,AP-100,cheap,2025-02-01T09:00:00Z`,
	)
	out, _, err := e.run(context.Background(), "--map", "messageId=id,userId=user,event=what,properties.sku=sku,properties.price:number=price,timestamp=when", path)
	if err == nil || !strings.Contains(out, "4 rows: 2 accepted, 0 duplicates, 2 rejected") || !strings.Contains(out, "line 4: userId") || !strings.Contains(out, `line 5: column price: "cheap"`) {
		t.Fatalf("csv import: %v\n%s", err, out)
	}
	e.withDB(t, func(db *sqlstore.DB) {
		es, _ := sqlstore.NewEventService(db).FindEvents(context.Background(), lianlu.EventFilter{Source: fmt.Sprintf("segment:%d", e.source.ID)})
		var data struct {
			Event      string
			Properties struct {
				SKU   string  `json:"sku"`
				Price float64 `json:"price"`
			}
		}
		if len(es) != 2 || json.Unmarshal(es[1].Data, &data) != nil || data.Event != "Product, Shared" || data.Properties.Price != 12 ||
			es[0].ID != "c1" || es[0].Type != "segment.track" || !es[0].Time.Equal(time.Date(2025, 2, 1, 8, 0, 0, 0, time.UTC)) {
			t.Fatalf("csv events %+v (%s)", es, es[1].Data)
		}
	})
	if _, _, err := e.run(context.Background(), "--map", "event=nope", path); err == nil || !strings.Contains(err.Error(), `no column "nope"`) {
		t.Fatalf("bad mapping: %v", err)
	}
}

// The acceptance test of resumable import: a large NDJSON file, the import
// cancelled halfway, then run again, ends with every event exactly once.
// LIANLU_IMPORT_LINES sets the size (default 50,000; the 1,000,000-line
// figure in docs/PERFORMANCE.md comes from this test).
func TestImport_ResumeAfterInterruption(t *testing.T) {
	if testing.Short() {
		t.Skip("imports a large file")
	}
	n := 50_000
	if v := os.Getenv("LIANLU_IMPORT_LINES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	path := filepath.Join(t.TempDir(), "large.ndjson")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range n {
		fmt.Fprintf(w, `{"type":"track","messageId":"m-%d","anonymousId":"a-%d","event":"Product Viewed","properties":{"sku":"AP-%d","price":%d},"timestamp":"2025-03-01T00:00:00Z"}`+"\n", i, i%977, i%50, i%1000)
	}
	w.Flush()
	f.Close()
	fi, _ := os.Stat(path)

	for _, dialect := range sqlstoretest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e := newImportEnv(t, dialect)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				// Cancel once the checkpoint is past the middle of the file.
				defer close(done)
				for ctx.Err() == nil {
					var cp importCheckpoint
					if b, err := os.ReadFile(path + ".lianlu-import"); err == nil && json.Unmarshal(b, &cp) == nil && cp.Offset > fi.Size()/2 {
						cancel()
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			start := time.Now()
			out, _, err := e.run(ctx, path)
			importing := time.Since(start)
			cancel()
			<-done
			if err == nil || !strings.Contains(out, "interrupted at line") {
				t.Fatalf("first run was not interrupted: %v\n%s", err, out)
			}
			half := len(e.storedIDs(t, fmt.Sprintf("segment:%d", e.source.ID)))
			if half == 0 || half >= n {
				t.Fatalf("%d of %d stored when interrupted", half, n)
			}
			start = time.Now()
			out, _, err = e.run(context.Background(), path)
			importing += time.Since(start)
			if err != nil {
				t.Fatalf("resumed run: %v\n%s", err, out)
			}
			var cpAccepted, cpDup int64
			fmt.Sscanf(out[strings.Index(out, "rows: ")+6:], "%d accepted, %d duplicates", &cpAccepted, &cpDup)
			if cpAccepted != int64(n) {
				t.Fatalf("summary: %s (want %d accepted)", out, n)
			}
			ids := e.storedIDs(t, fmt.Sprintf("segment:%d", e.source.ID))
			if len(ids) != n {
				t.Fatalf("%d distinct events stored, want %d", len(ids), n)
			}
			for i := range n {
				if c := ids["m-"+strconv.Itoa(i)]; c != 1 {
					t.Fatalf("m-%d stored %d times", i, c)
				}
			}
			t.Logf("%s: %d lines, interrupted after %d, resumed (%d rows re-sent as duplicates); %.1f s importing in all, %.0f lines/s", dialect, n, half, cpDup, importing.Seconds(), float64(n)/importing.Seconds())
		})
	}
}

// Business CloudEvents run their commands on import as through the API; a
// command's failure rejects its row only.
func TestImport_BusinessEvents(t *testing.T) {
	e := newImportEnv(t, "sqlite")
	e.withDB(t, func(db *sqlstore.DB) {
		var err error
		if e.source, _, err = sqlstore.NewSourceService(db).CreateSource(context.Background(), lianlu.Source{Name: "shop", Department: lianlu.DeptSales, Kind: "server"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sqlstore.NewCatalogService(db).UpsertProduct(context.Background(), lianlu.Product{SKU: "AP-100", Name: "AP", Category: "air", Price: 100, Active: true}); err != nil {
			t.Fatal(err)
		}
	})
	path := filepath.Join(t.TempDir(), "orders.ndjson")
	order := func(id, sku string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"tmall","type":"shop.order.created","data":{"order_id":"` + id + `","lines":[{"sku":"` + sku + `","qty":1}],"ship_to":{"address":"x"}}}`
	}
	writeLines(t, path, order("O-1", "AP-100"), order("O-2", "NOPE"), order("O-3", "AP-100"))
	out, _, err := e.run(context.Background(), "--format", "cloudevents", path)
	if err == nil || !strings.Contains(out, "2 accepted, 0 duplicates, 1 rejected") || !strings.Contains(out, "line 2: data.lines[0].sku: unknown SKU NOPE") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	e.withDB(t, func(db *sqlstore.DB) {
		orders, _ := sqlstore.NewOrderService(db).FindOrders(context.Background(), lianlu.OrderFilter{})
		if len(orders) != 2 || orders[0].ExternalID != "O-1" || orders[1].ExternalID != "O-3" {
			t.Fatalf("orders %+v", orders)
		}
	})
}

// The same with the import process killed (kill -9) halfway: a chunk
// committed but not yet recorded in the checkpoint is sent again and
// counted as duplicates, and the log ends with every event exactly once.
func TestImport_ResumeAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuildBinary(t)
	const n = 30_000
	path := filepath.Join(t.TempDir(), "large.ndjson")
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"type":"track","messageId":"k-%d","userId":"u-%d","event":"Product Viewed","properties":{"sku":"AP-%d"}}`+"\n", i, i%97, i%50)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	e := newImportEnv(t, "sqlite")
	cmd := exec.Command(bin, "import", "--source", strconv.FormatInt(e.source.ID, 10), "--data", e.dir, path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var cp importCheckpoint
		if b, err := os.ReadFile(path + ".lianlu-import"); err == nil && json.Unmarshal(b, &cp) == nil && cp.Offset > fi.Size()/3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the import made no progress")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	half := len(e.storedIDs(t, fmt.Sprintf("segment:%d", e.source.ID)))
	if half == 0 || half >= n {
		t.Fatalf("%d of %d stored when killed", half, n)
	}
	out, _, err := e.run(context.Background(), path)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%d rows:", n)) {
		t.Fatalf("resumed: %v\n%s", err, out)
	}
	ids := e.storedIDs(t, fmt.Sprintf("segment:%d", e.source.ID))
	if len(ids) != n {
		t.Fatalf("%d distinct events stored, want %d", len(ids), n)
	}
	for id, c := range ids {
		if c != 1 {
			t.Fatalf("%s stored %d times", id, c)
		}
	}
	t.Logf("killed with %d stored; resumed: %s", half, strings.TrimSpace(out))
}
