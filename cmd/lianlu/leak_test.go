package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// TestLeak_DemoWalk is the leak test of issue 10: with the demo brand
// seeded, a marketing and a product manager walk every GET endpoint of the
// OpenAPI document (path parameters filled with real ids of the seeded
// data, lists followed a few pages, the event stream read to its end) and
// every page of the console, and no phone number, name, email or address
// of a seeded member or of an order's ship-to appears in clear in any
// response. A sales manager, who may see them, walks the orders and finds
// them: the search itself works.
//
// The walk is driven by the served OpenAPI document and the console's own
// route table, so that an endpoint or page added later is walked too; a
// path parameter the walk cannot fill fails the test.
func TestLeak_DemoWalk(t *testing.T) {
	dir := demoData(t)
	pii := collectPII(t, filepath.Join(dir, "lianlu.db"))
	fill := demoFillers(t, filepath.Join(dir, "lianlu.db"))

	m := NewMain()
	m.Config.DataDir = dir
	m.Config.Addr = "127.0.0.1:0"
	m.Stdout = io.Discard
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	admin := adminAPI(t, m)
	base := "http://" + m.Addr()

	var doc openAPIDoc
	admin.must("GET", "/api/openapi.json", nil, http.StatusOK, &doc)
	pages := m.Console.Pages()
	if len(doc.Paths) < 40 || len(pages) < 10 {
		t.Fatalf("the walk found %d API paths and %d console pages", len(doc.Paths), len(pages))
	}

	type walkerOf struct {
		dept string
		api  *walker
		web  *walker
	}
	// A personal-information request, so that privacy-requests/{id} has
	// an id: the demo's history has none.
	var preq struct {
		ID int64 `json:"id"`
	}
	admin.must("POST", "/api/v1/members/"+fill.path["members/{id}"][0]+"/privacy-requests", map[string]any{"kind": "access", "channel": "phone"},
		http.StatusCreated, &preq)
	fill.path["privacy-requests/{id}"] = []string{strconv.FormatInt(preq.ID, 10)}

	var walkers []walkerOf
	for _, dept := range []string{lianlu.DeptMarketing, lianlu.DeptProduct, lianlu.DeptSales} {
		var tok struct {
			Token string `json:"token"`
		}
		admin.must("POST", "/api/v1/tokens", map[string]any{"name": "leak-" + dept, "department": dept, "role": lianlu.RoleManager}, http.StatusCreated, &tok)
		// A webhook of the department, so that webhooks/{id} has an id
		// the department may read.
		var hook struct {
			ID int64 `json:"id"`
		}
		admin.must("POST", "/api/v1/webhooks", map[string]any{"url": "https://hooks.example.com/" + dept, "event_types": []string{"nothing.happens"},
			"department": dept}, http.StatusCreated, &hook)
		fill.path["webhooks/{id}"] = append(fill.path["webhooks/{id}"], strconv.FormatInt(hook.ID, 10))
		if fill.query["webhook"] == nil {
			fill.query["webhook"] = url.Values{"webhook": {strconv.FormatInt(hook.ID, 10)}}
		}
		password := "leak-test-password-" + dept
		admin.must("POST", "/api/v1/users", map[string]any{"username": "leak-" + dept, "department": dept, "role": lianlu.RoleManager}, http.StatusCreated, nil)
		ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{Name: "test", Department: lianlu.DeptAdmin, Role: lianlu.RoleAdmin})
		if err := sqlstore.NewSessionService(m.DB).SetPassword(ctx, "leak-"+dept, password); err != nil {
			t.Fatal(err)
		}
		walkers = append(walkers, walkerOf{dept: dept,
			api: newWalker(t, base, pii, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.Token) }),
			web: consoleWalker(t, base, pii, "leak-"+dept, password)})
	}

	for _, w := range walkers {
		if w.dept == lianlu.DeptSales {
			continue
		}
		t.Run(w.dept, func(t *testing.T) {
			w.api.t, w.web.t = t, t
			walkOpenAPI(t, w.api, doc, fill)
			walkConsole(t, w.web, pages, fill)
			w.api.report("API")
			w.web.report("console")
		})
	}

	// The control: sales sees ship-to addresses and phones in clear, and
	// the walk finds them, on the API and on the console's order page.
	t.Run("sales finds them", func(t *testing.T) {
		sales := walkers[2]
		sales.api.t, sales.web.t = t, t
		order := fill.path["orders/{id}"][0]
		sales.api.get("/api/v1/orders/" + order)
		sales.web.get("/orders/" + order)
		if len(sales.api.leaks) == 0 || len(sales.web.leaks) == 0 {
			t.Fatalf("a sales manager's order %s shows no ship-to in clear: API %v, console %v", order, sales.api.leaks, sales.web.leaks)
		}
	})
}

// ---- what must not leak

// needles are the personal data of the seeded members and ship-tos, found
// in a body by their first four bytes.
type needles struct {
	byPrefix map[uint32][]string
	n        int
}

func (ns *needles) add(v string) {
	v = strings.TrimSpace(v)
	if len(v) < 4 {
		return
	}
	k := binary.LittleEndian.Uint32([]byte(v[:4]))
	if slices.Contains(ns.byPrefix[k], v) {
		return
	}
	ns.byPrefix[k] = append(ns.byPrefix[k], v)
	ns.n++
}

// find returns the first needle in b, or "".
func (ns *needles) find(b []byte) (string, int) {
	for i := 0; i+4 <= len(b); i++ {
		for _, v := range ns.byPrefix[binary.LittleEndian.Uint32(b[i:i+4])] {
			if bytes.HasPrefix(b[i:], []byte(v)) {
				return v, i
			}
		}
	}
	return "", -1
}

// collectPII reads, from the seeded database, every member's phone
// numbers (E.164 and national), emails and WeChat ids and the contacts in
// her traits, and every order's ship-to name, phone, address and
// coordinates (to six decimals: a house, not a district).
func collectPII(t *testing.T, path string) *needles {
	t.Helper()
	db := openSQLite(t, path)
	ns := &needles{byPrefix: map[uint32][]string{}}
	addPhone := func(v string) {
		ns.add(v)
		ns.add(strings.TrimPrefix(v, "+86"))
	}
	each(t, db, `SELECT COALESCE(phone, ''), COALESCE(email, ''), traits FROM members`, func(s []string) {
		addPhone(s[0])
		ns.add(s[1])
		var traits map[string]any
		json.Unmarshal([]byte(s[2]), &traits)
		for _, k := range []string{"phone", "email", "name", "first_name", "last_name", "firstName", "lastName", "address"} {
			if v, ok := traits[k].(string); ok {
				addPhone(v)
			}
		}
	})
	each(t, db, `SELECT kind, value FROM member_identities WHERE kind IN ('phone', 'email', 'wechat_openid', 'wechat_unionid')`, func(s []string) {
		addPhone(s[1])
	})
	shipTos := 0
	each(t, db, `SELECT ship_to FROM orders WHERE ship_to IS NOT NULL`, func(s []string) {
		var a lianlu.Address
		if err := json.Unmarshal([]byte(s[0]), &a); err != nil {
			t.Fatalf("ship_to %s: %v", s[0], err)
		}
		shipTos++
		ns.add(a.Name)
		addPhone(a.Phone)
		ns.add(a.Address)
		for _, c := range []*float64{a.Lat, a.Lng} {
			if c != nil {
				ns.add(strconv.FormatFloat(*c, 'f', 6, 64))
			}
		}
	})
	if shipTos < 50 || ns.n < 1000 {
		t.Fatalf("the demo has %d ship-tos and %d personal values: not the demo", shipTos, ns.n)
	}
	return ns
}

func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// each calls f with every row of q, as strings.
func each(t *testing.T, db *sql.DB, q string, f func([]string)) {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		s := make([]string, len(cols))
		for i, v := range vals {
			s[i] = v.String
		}
		f(s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// ---- what the walk fills parameters with

// fillers are real values of the seeded data for path parameters, keyed
// by the segment before the parameter and the parameter ("orders/{id}"),
// and for query parameters, keyed by the path and the name
// ("/api/v1/members?kind") or by the name alone ("member"); each query
// filler makes a request of its own.
type fillers struct {
	path  map[string][]string
	query map[string]url.Values
}

// forQuery returns the filler of query parameter name of path, or nil.
func (f fillers) forQuery(path, name string) url.Values {
	if v, ok := f.query[path+"?"+name]; ok {
		return v
	}
	return f.query[name]
}

// demoFillers picks, for every kind of object, a few of the seeded ones
// most likely to carry personal data: online orders (ship-to), orders
// with on-site service (an address in the work order), members with email
// and merges, one event of every type and department…
func demoFillers(t *testing.T, path string) fillers {
	t.Helper()
	db := openSQLite(t, path)
	f := fillers{path: map[string][]string{}, query: map[string]url.Values{}}
	pick := func(key string, qs ...string) {
		for _, q := range qs {
			each(t, db, q, func(s []string) {
				if s[0] != "" && !slices.Contains(f.path[key], s[0]) {
					f.path[key] = append(f.path[key], s[0])
				}
			})
		}
		if len(f.path[key]) == 0 {
			t.Fatalf("the demo has nothing for %s", key)
		}
	}
	pick("orders/{id}", `SELECT id FROM orders WHERE ship_to IS NOT NULL ORDER BY id LIMIT 3`,
		`SELECT substr(subject, 7) FROM work_orders WHERE kind = 'on_site' AND subject LIKE 'order/%' ORDER BY id LIMIT 2`,
		`SELECT id FROM orders WHERE channel = 'store' ORDER BY id LIMIT 1`)
	pick("members/{id}", `SELECT id FROM members WHERE email IS NOT NULL AND phone IS NOT NULL ORDER BY id LIMIT 2`,
		`SELECT id FROM members WHERE merged_into IS NOT NULL ORDER BY id LIMIT 1`,
		`SELECT member_id FROM work_orders WHERE kind = 'on_site' AND member_id IS NOT NULL ORDER BY id LIMIT 1`,
		`SELECT member_id FROM offer_sends ORDER BY id LIMIT 1`,
		`SELECT member_id FROM orders WHERE ship_to IS NOT NULL ORDER BY id LIMIT 1`)
	pick("events/{seq}", `SELECT MIN(seq) FROM events GROUP BY type, department`,
		`SELECT MIN(seq) FROM events WHERE type = 'segment.identify' AND data LIKE '%@%'`)
	pick("workorders/{id}", `SELECT MIN(id) FROM work_orders GROUP BY department, kind`)
	pick("service-requests/{id}", `SELECT MIN(id) FROM work_orders WHERE kind = 'on_site' AND dispatch IS NOT NULL GROUP BY department`)
	pick("fulfillments/{id}", `SELECT id FROM fulfillments ORDER BY id LIMIT 2`)
	pick("reservations/{id}", `SELECT id FROM reservations ORDER BY id LIMIT 2`)
	pick("handoffs/{id}", `SELECT MIN(id) FROM handoffs GROUP BY to_department, flow`)
	pick("feedback/{id}", `SELECT id FROM feedback WHERE member_id IS NOT NULL ORDER BY id LIMIT 2`)
	pick("backlog/{id}", `SELECT id FROM backlog_items ORDER BY id LIMIT 2`)
	pick("flows/{name}", `SELECT name FROM flows ORDER BY name`)
	pick("sources/{id}", `SELECT id FROM sources ORDER BY id`)
	pick("stores/{code}", `SELECT l.code FROM work_orders w JOIN locations l ON l.id = w.store_id WHERE w.kind = 'on_site' ORDER BY w.id LIMIT 2`,
		`SELECT code FROM locations WHERE kind = 'store' ORDER BY id LIMIT 1`)
	pick("locations/{code}", `SELECT MIN(code) FROM locations GROUP BY kind`)
	pick("products/{sku}", `SELECT sku FROM products ORDER BY id LIMIT 2`)
	pick("offers/{id}", `SELECT id FROM offer_rules ORDER BY id`)
	pick("coupons/{code}", `SELECT code FROM coupons ORDER BY id LIMIT 3`)

	first := func(key string) string { return f.path[key][0] }
	f.query["member"] = url.Values{"member": {first("members/{id}")}}
	f.query["order"] = url.Values{"order": {first("orders/{id}")}}
	f.query["subject"] = url.Values{"subject": {"order/" + first("orders/{id}")}}
	f.query["store"] = url.Values{"store": {first("stores/{code}")}}
	f.query["handoff"] = url.Values{"handoff": {first("handoffs/{id}")}}
	f.query["rule"] = url.Values{"rule": {first("offers/{id}")}}
	f.query["sku"] = url.Values{"sku": {first("products/{sku}")}}
	f.query["location"] = url.Values{"location": {first("locations/{code}")}}
	each(t, db, `SELECT value FROM member_identities WHERE kind = 'user_id' ORDER BY id LIMIT 1`, func(s []string) {
		f.query["/api/v1/members?kind"] = url.Values{"kind": {lianlu.IdentityUserID}, "value": {s[0]}}
	})
	return f
}

// ---- the walker

// walker GETs pages as one caller and records what leaked.
type walker struct {
	t      *testing.T
	base   string
	client *http.Client
	auth   func(*http.Request)
	pii    *needles
	// leaks are "GET path: value … context" lines, by path.
	leaks map[string]string
	// statuses counts responses by status.
	statuses map[int]int
}

func newWalker(t *testing.T, base string, pii *needles, auth func(*http.Request)) *walker {
	return &walker{t: t, base: base, client: &http.Client{}, auth: auth, pii: pii, leaks: map[string]string{}, statuses: map[int]int{}}
}

// consoleWalker signs in to the console as a person would without
// JavaScript and walks as that user.
func consoleWalker(t *testing.T, base string, pii *needles, user, password string) *walker {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	w := newWalker(t, base, pii, func(*http.Request) {})
	w.client.Jar = jar
	res, err := w.client.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if token == nil {
		t.Fatal("no CSRF token on the login page")
	}
	res, err = w.client.PostForm(base+"/login", url.Values{"csrf": {string(token[1])}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`action="/logout"`)) {
		t.Fatalf("%s cannot sign in: %d\n%.500s", user, res.StatusCode, page)
	}
	return w
}

// get fetches path and checks the body; an event stream is read to the
// end of its first message.
func (w *walker) get(path string) (int, []byte) {
	return w.getStream(path, nil)
}

// getStream is get for an event stream read until until(the id of the
// last message) says the walk has all it needs.
func (w *walker) getStream(path string, until func(lastSeq int64) bool) (int, []byte) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.base+path, nil)
	w.auth(req)
	res, err := w.client.Do(req)
	if err != nil {
		w.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	var body []byte
	if mt := res.Header.Get("Content-Type"); strings.HasPrefix(mt, "text/event-stream") {
		body = w.readStream(path, res.Body, until)
	} else if body, err = io.ReadAll(res.Body); err != nil {
		w.t.Fatalf("GET %s: %v", path, err)
	}
	w.statuses[res.StatusCode]++
	w.check(path, body)
	return res.StatusCode, body
}

// readStream reads Server-Sent Events until until(the last id) is true
// (until(0) first: nothing to wait for), or without until to the end of
// the first message.
func (w *walker) readStream(path string, r io.Reader, until func(lastSeq int64) bool) []byte {
	w.t.Helper()
	var body bytes.Buffer
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	if until != nil && until(0) {
		return nil // nothing to wait for
	}
	for {
		if !sc.Scan() {
			if until != nil {
				w.t.Fatalf("GET %s: the stream ended before the walk had all its events: %v", path, sc.Err())
			}
			return body.Bytes()
		}
		line := sc.Text()
		body.WriteString(line + "\n")
		switch {
		case line == "" && until == nil:
			return body.Bytes()
		case strings.HasPrefix(line, "id: ") && until != nil:
			n, _ := strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
			if until(n) {
				return body.Bytes()
			}
		}
	}
}

// check records the first personal value in body, looking at it as sent
// and with HTML, JSON and URL escapes undone.
func (w *walker) check(path string, body []byte) {
	variants := [][]byte{body}
	s := string(body)
	if strings.Contains(s, "&") {
		variants = append(variants, []byte(html.UnescapeString(s)))
	}
	if strings.Contains(s, `\u`) {
		variants = append(variants, []byte(jsonUnescape(s)))
	}
	if strings.Contains(s, "%") {
		if u, err := url.PathUnescape(s); err == nil {
			variants = append(variants, []byte(u))
		}
	}
	for _, v := range variants {
		if needle, at := w.pii.find(v); needle != "" {
			key := path
			if i := strings.IndexByte(key, '?'); i >= 0 {
				key = key[:i]
			}
			if _, seen := w.leaks[key]; !seen {
				from, to := max(0, at-80), min(len(v), at+len(needle)+80)
				w.leaks[key] = fmt.Sprintf("GET %s shows %q: …%s…", path, needle, v[from:to])
			}
			return
		}
	}
}

// jsonUnescape undoes \uXXXX escapes.
var jsonEscape = regexp.MustCompile(`\\u[0-9a-fA-F]{4}`)

func jsonUnescape(s string) string {
	return jsonEscape.ReplaceAllStringFunc(s, func(e string) string {
		n, _ := strconv.ParseUint(e[2:], 16, 32)
		return string(rune(n))
	})
}

// report fails the test with every leak found, one line per path.
func (w *walker) report(what string) {
	w.t.Helper()
	w.t.Logf("%s walk: responses by status %v", what, w.statuses)
	if w.statuses[http.StatusOK] == 0 {
		w.t.Errorf("%s walk: no page answered 200 (%v)", what, w.statuses)
	}
	keys := make([]string, 0, len(w.leaks))
	for k := range w.leaks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.t.Errorf("%s leak: %s", what, w.leaks[k])
	}
}

// ---- the OpenAPI walk

type openAPIDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Parameters map[string]openAPIParam `json:"parameters"`
	} `json:"components"`
}

type openAPIParam struct {
	Ref      string `json:"$ref"`
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
	Schema   struct {
		Maximum *float64 `json:"maximum"`
	} `json:"schema"`
}

type openAPIOp struct {
	Parameters []openAPIParam `json:"parameters"`
}

// params resolves the parameters of an operation and of its path.
func (d openAPIDoc) params(t *testing.T, path string) []openAPIParam {
	t.Helper()
	var op, shared openAPIOp
	if err := json.Unmarshal(d.Paths[path]["get"], &op); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if raw, ok := d.Paths[path]["parameters"]; ok {
		if err := json.Unmarshal(raw, &shared.Parameters); err != nil {
			t.Fatalf("%s parameters: %v", path, err)
		}
	}
	var out []openAPIParam
	for _, p := range append(shared.Parameters, op.Parameters...) {
		if p.Ref != "" {
			name := strings.TrimPrefix(p.Ref, "#/components/parameters/")
			q, ok := d.Components.Parameters[name]
			if !ok {
				t.Fatalf("%s: unresolved %s", path, p.Ref)
			}
			p = q
		}
		out = append(out, p)
	}
	return out
}

var pathParam = regexp.MustCompile(`\{([^}$]+)\}`)

// expand fills the path's parameters with every combination of fillers;
// a parameter without fillers fails the test.
func expand(t *testing.T, path string, f fillers) []string {
	t.Helper()
	paths := []string{path}
	for _, m := range pathParam.FindAllStringSubmatchIndex(path, -1) {
		segs := strings.Split(strings.TrimSuffix(path[:m[0]], "/"), "/")
		key := segs[len(segs)-1] + "/" + path[m[0]:m[1]]
		vals := f.path[key]
		if len(vals) == 0 {
			t.Errorf("the walk cannot fill %s in %s: give demoFillers a query for %q", path[m[0]:m[1]], path, key)
			return nil
		}
		var next []string
		for _, p := range paths {
			for _, v := range vals {
				next = append(next, strings.Replace(p, path[m[0]:m[1]], url.PathEscape(v), 1))
			}
		}
		paths = next
	}
	return paths
}

// walkOpenAPI GETs every GET path of the document: with its largest page
// and from the log's start where it has those parameters, once more with
// each query parameter the walk can fill, following next_cursor a few
// pages. Event streams are read until they have sent every event the
// same query finds on GET /api/v1/events.
func walkOpenAPI(t *testing.T, w *walker, doc openAPIDoc, f fillers) {
	t.Helper()
	paths := make([]string, 0, len(doc.Paths))
	for p, ops := range doc.Paths {
		if _, ok := ops["get"]; ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		params := doc.params(t, p)
		base := url.Values{}
		var variants []url.Values
		hasCursor := false
		for _, prm := range params {
			if prm.In != "query" {
				continue
			}
			switch {
			case prm.Name == "cursor":
				hasCursor = true
			case prm.Name == "after":
				base.Set("after", "0")
			case prm.Name == "limit" && prm.Schema.Maximum != nil:
				base.Set("limit", strconv.Itoa(int(*prm.Schema.Maximum)))
			case f.forQuery(p, prm.Name) != nil:
				variants = append(variants, f.forQuery(p, prm.Name))
			case prm.Required:
				t.Errorf("the walk cannot fill the required query parameter %s of %s", prm.Name, p)
			}
		}
		queries := []url.Values{base}
		for _, v := range variants {
			q := url.Values{}
			for k, vs := range base {
				q[k] = vs
			}
			for k, vs := range v {
				q[k] = vs
			}
			queries = append(queries, q)
		}
		for _, concrete := range expand(t, p, f) {
			for _, q := range queries {
				w.walkPages(concrete, q, hasCursor)
			}
		}
	}
}

// walkPages GETs path?q and follows next_cursor up to five pages.
func (w *walker) walkPages(path string, q url.Values, hasCursor bool) {
	w.t.Helper()
	for page := 0; page < 5; page++ {
		full := path
		if len(q) > 0 {
			full += "?" + q.Encode()
		}
		var body []byte
		if path == "/api/v1/stream" {
			target := w.lastEventSeq(q)
			_, body = w.getStream(full, func(seq int64) bool { return seq >= target })
		} else {
			_, body = w.get(full)
		}
		var list struct {
			NextCursor string `json:"next_cursor"`
		}
		if !hasCursor || json.Unmarshal(body, &list) != nil || list.NextCursor == "" {
			return
		}
		q = cloneValues(q)
		q.Set("cursor", list.NextCursor)
	}
}

// lastEventSeq is the seq of the last event GET /api/v1/events returns
// the walker for the stream's query (0 for none).
func (w *walker) lastEventSeq(q url.Values) int64 {
	w.t.Helper()
	q = cloneValues(q)
	q.Set("limit", "1000")
	last := int64(0)
	for {
		req, _ := http.NewRequest(http.MethodGet, w.base+"/api/v1/events?"+q.Encode(), nil)
		w.auth(req)
		res, err := w.client.Do(req)
		if err != nil {
			w.t.Fatal(err)
		}
		var list struct {
			Items []struct {
				Seq int64 `json:"seq"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		err = json.NewDecoder(res.Body).Decode(&list)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			return 0 // the stream refuses the same query
		}
		if len(list.Items) > 0 {
			last = list.Items[len(list.Items)-1].Seq
		}
		if list.NextCursor == "" {
			return last
		}
		q.Set("cursor", list.NextCursor)
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// ---- the console walk

// walkConsole GETs every page of the console with its parameters filled.
func walkConsole(t *testing.T, w *walker, pages []string, f fillers) {
	t.Helper()
	for _, p := range pages {
		p = strings.ReplaceAll(p, "{$}", "")
		for _, concrete := range expand(t, p, f) {
			w.get(concrete)
		}
	}
}
