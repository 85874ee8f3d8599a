package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// Contract of every collector call, success and error, each checked
// against what is stored afterwards.
func TestCollector_Contract(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src, key, err := e.sources().CreateSource(ctx, lianlu.Source{Name: "app", Department: "marketing", Kind: "app"})
	if err != nil {
		t.Fatal(err)
	}
	source := fmt.Sprintf("segment:%d", src.ID)
	stored := func() map[string]lianlu.Event {
		es, err := e.events.FindEvents(ctx, lianlu.EventFilter{Source: source, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]lianlu.Event{}
		for _, ev := range es {
			out[ev.ID] = ev
		}
		return out
	}
	gz := func(h map[string]string) map[string]string {
		out := map[string]string{"Content-Encoding": "gzip"}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	bigBatch := func(n int) []byte {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(`{"type":"track","userId":"u","event":"E","messageId":"big-%d"}`, i)
		}
		return []byte(`{"batch":[` + strings.Join(items, ",") + `]}`)
	}
	now := time.Now().UTC()
	for _, tc := range []struct {
		name    string
		call    string
		headers map[string]string
		body    []byte
		status  int
		// stores lists the messageIds the call must add (and nothing else).
		stores []string
		check  func(t *testing.T, body []byte, got map[string]lianlu.Event)
	}{
		{name: "identify", call: "identify", headers: basicKey(key), body: []byte(`{"userId":"u1","messageId":"c-identify","traits":{"email":"a@b.cn"}}`), status: 200, stores: []string{"c-identify"},
			check: func(t *testing.T, _ []byte, got map[string]lianlu.Event) {
				if ev := got["c-identify"]; ev.Type != "segment.identify" || ev.Subject != "user/u1" || ev.Department != "marketing" {
					t.Errorf("identify stored %+v", ev)
				}
			}},
		{name: "page", call: "page", headers: basicKey(key), body: []byte(`{"anonymousId":"a1","messageId":"c-page","name":"Home"}`), status: 200, stores: []string{"c-page"},
			check: func(t *testing.T, _ []byte, got map[string]lianlu.Event) {
				if ev := got["c-page"]; ev.Type != "segment.page" || ev.Subject != "anon/a1" {
					t.Errorf("page stored %+v", ev)
				}
			}},
		{name: "screen", call: "screen", headers: basicKey(key), body: []byte(`{"userId":"u1","messageId":"c-screen","name":"Cart"}`), status: 200, stores: []string{"c-screen"}},
		{name: "group", call: "group", headers: basicKey(key), body: []byte(`{"userId":"u1","messageId":"c-group","groupId":"g1"}`), status: 200, stores: []string{"c-group"}},
		{name: "group without groupId", call: "group", headers: basicKey(key), body: []byte(`{"userId":"u1","messageId":"c-group2"}`), status: 400},
		{name: "alias", call: "alias", headers: basicKey(key), body: []byte(`{"previousId":"a1","userId":"u1","messageId":"c-alias"}`), status: 200, stores: []string{"c-alias"}},
		{name: "alias without previousId", call: "alias", headers: basicKey(key), body: []byte(`{"userId":"u1","messageId":"c-alias2"}`), status: 400},
		{name: "track without event", call: "track", headers: basicKey(key), body: []byte(`{"userId":"u1","messageId":"c-noevent"}`), status: 400},
		{name: "skew corrected", call: "track", headers: basicKey(key), status: 200, stores: []string{"c-skew"},
			body: []byte(`{"userId":"u1","event":"E","messageId":"c-skew","timestamp":"2030-01-01T00:00:00Z","sentAt":"2030-01-01T00:00:30Z"}`),
			check: func(t *testing.T, _ []byte, got map[string]lianlu.Event) {
				// The client's clock is years ahead; 30 s between event and
				// send, so the event is ~30 s before receipt.
				if d := now.Sub(got["c-skew"].Time); d < 25*time.Second || d > 5*time.Minute {
					t.Errorf("skew-corrected time %v (now %v)", got["c-skew"].Time, now)
				}
			}},
		{name: "future clamped", call: "track", headers: basicKey(key), status: 200, stores: []string{"c-future"},
			body: []byte(`{"userId":"u1","event":"E","messageId":"c-future","timestamp":"` + now.Add(6*time.Hour).Format(time.RFC3339) + `"}`),
			check: func(t *testing.T, _ []byte, got map[string]lianlu.Event) {
				if ev := got["c-future"]; ev.Time.After(now.Add(time.Minute)) || !strings.Contains(string(ev.Data), `"clamped_future_timestamp":true`) {
					t.Errorf("clamped %+v %s", ev.Time, ev.Data)
				}
			}},
		// A clock more than a day fast says nothing of when it happened.
		{name: "far future refused", call: "track", headers: basicKey(key), status: 400,
			body: []byte(`{"userId":"u1","event":"E","messageId":"c-future2","timestamp":"2099-01-01T00:00:00Z"}`)},
		{name: "batch merges context", call: "batch", headers: basicKey(key), status: 200, stores: []string{"b-1", "b-2"},
			body: []byte(`{"context":{"library":{"name":"analytics-node"},"ip":"1.2.3.4"},"integrations":{"All":false},"batch":[
				{"type":"track","userId":"u","event":"E","messageId":"b-1","context":{"ip":"5.6.7.8"}},
				{"type":"track","userId":"u","event":"E","messageId":"b-2"}]}`),
			check: func(t *testing.T, _ []byte, got map[string]lianlu.Event) {
				var m struct {
					Context      map[string]any
					Integrations map[string]any
				}
				json.Unmarshal(got["b-1"].Data, &m)
				if m.Context["ip"] != "5.6.7.8" || m.Context["library"] == nil || m.Integrations["All"] != false {
					t.Errorf("merged %s", got["b-1"].Data)
				}
			}},
		{name: "batch retry stores nothing new", call: "batch", headers: basicKey(key), status: 200,
			body: []byte(`{"batch":[{"type":"track","userId":"u","event":"E","messageId":"b-1"},{"type":"track","userId":"u","event":"E","messageId":"b-2"}]}`),
			check: func(t *testing.T, body []byte, _ map[string]lianlu.Event) {
				if !strings.Contains(string(body), `"accepted":0`) || !strings.Contains(string(body), `"duplicates":2`) {
					t.Errorf("retry answer %s", body)
				}
			}},
		{name: "gzip batch", call: "batch", headers: gz(basicKey(key)), status: 200, stores: []string{"gz-1"},
			body: gzipped(t, []byte(`{"batch":[{"type":"track","userId":"u","event":"E","messageId":"gz-1"}]}`))},
		{name: "gzip bomb", call: "batch", headers: gz(basicKey(key)), status: 413,
			body: gzipped(t, []byte(`{"batch":[{"type":"track","userId":"u","event":"E","messageId":"bomb","properties":{"x":"`+strings.Repeat("x", 2<<20)+`"}}]}`))},
		{name: "compressed body over the limit", call: "batch", headers: gz(basicKey(key)), status: 413,
			body: func() []byte { // random-ish text does not compress below 500 KB
				var b strings.Builder
				for i := range 120000 {
					fmt.Fprintf(&b, "%x", i*2654435761)
				}
				return gzipped(t, []byte(`{"batch":[{"type":"track","userId":"u","event":"E","messageId":"cbig","properties":{"x":"`+b.String()+`"}}]}`))
			}()},
		{name: "plain body over the limit", call: "batch", headers: basicKey(key), status: 413,
			body: []byte(`{"batch":[{"type":"track","userId":"u","event":"E","messageId":"plain-big","properties":{"x":"` + strings.Repeat("z", 510<<10) + `"}}]}`)},
		{name: "too many messages", call: "batch", headers: basicKey(key), status: 400, body: bigBatch(2501)},
		{name: "message over 32 KB in a batch", call: "batch", headers: basicKey(key), status: 200, stores: []string{"ok-small"},
			body: []byte(`{"batch":[{"type":"track","userId":"u","event":"E","messageId":"too-big","properties":{"x":"` + strings.Repeat("y", 33<<10) + `"}},{"type":"track","userId":"u","event":"E","messageId":"ok-small"}]}`),
			check: func(t *testing.T, body []byte, _ map[string]lianlu.Event) {
				if !strings.Contains(string(body), `"index":0`) || !strings.Contains(string(body), "larger than") {
					t.Errorf("oversized message answer %s", body)
				}
			}},
		{name: "writeKey not a string", call: "track", headers: basicKey(key), status: 400, body: []byte(`{"writeKey":5,"userId":"u","event":"E"}`)},
		{name: "no usable key says nothing of the body", call: "track", headers: map[string]string{"Content-Type": "application/json"}, status: 401, body: []byte(`{"writeKey":5,"userId":"u","event":"E"}`)},
		{name: "writeKey in body unknown", call: "track", headers: map[string]string{"Content-Type": "application/json"}, status: 401, body: []byte(`{"writeKey":"wk_nope","userId":"u","event":"E","messageId":"wk-x"}`)},
		{name: "empty body", call: "track", headers: basicKey(key), status: 400, body: nil},
		{name: "not an object", call: "track", headers: basicKey(key), status: 400, body: []byte(`[1]`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := stored()
			r := e.do("POST", "/v1/"+tc.call, "", tc.headers, tc.body)
			if r.status != tc.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if r.status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("error without a problem document: %s", r.header.Get("Content-Type"))
			}
			after := stored()
			var added []string
			for id := range after {
				if _, ok := before[id]; !ok {
					added = append(added, id)
				}
			}
			if len(added) != len(tc.stores) {
				t.Fatalf("stored %v, want %v", added, tc.stores)
			}
			for _, id := range tc.stores {
				if _, ok := after[id]; !ok {
					t.Fatalf("%s not stored (added %v)", id, added)
				}
			}
			if tc.check != nil {
				tc.check(t, r.body, after)
			}
		})
	}

	// Key lifecycle seen by the collector: a rotated key stops at once, the
	// new one works; a disabled source is refused with the key in the body
	// too, and works again when enabled.
	track := func(k string, viaBody bool, id string) int {
		body := `{"userId":"u","event":"E","messageId":"` + id + `"}`
		h := basicKey(k)
		if viaBody {
			body = `{"writeKey":"` + k + `","userId":"u","event":"E","messageId":"` + id + `"}`
			h = map[string]string{"Content-Type": "application/json"}
		}
		return e.do("POST", "/v1/track", "", h, []byte(body)).status
	}
	_, newKey, err := e.sources().RotateSourceKey(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s := track(key, false, "k-old"); s != 401 {
		t.Fatalf("old key after rotation: %d", s)
	}
	if s := track(newKey, true, "k-new"); s != 200 {
		t.Fatalf("new key: %d", s)
	}
	e.sources().SetSourceDisabled(ctx, src.ID, true)
	if s := track(newKey, true, "k-disabled"); s != 403 {
		t.Fatalf("disabled source, key in body: %d", s)
	}
	e.sources().SetSourceDisabled(ctx, src.ID, false)
	if s := track(newKey, false, "k-enabled"); s != 200 {
		t.Fatalf("re-enabled: %d", s)
	}
	got := stored()
	if _, ok := got["k-old"]; ok {
		t.Fatal("refused call stored")
	}
	if _, ok := got["k-disabled"]; ok {
		t.Fatal("disabled call stored")
	}
}

// Source endpoints beyond the lifecycle of TestSourcesAPI: paging,
// admin's department filter, bad ids, and what each role may do.
func TestSourcesAPI_Contract(t *testing.T) {
	e := newEnv(t)
	js := map[string]string{"Content-Type": "application/json"}
	mgr := e.token("marketing", lianlu.RoleManager)
	op := e.token("marketing", lianlu.RoleOperator)
	for i := range 3 {
		if r := e.do("POST", "/api/v1/sources", mgr, js, []byte(fmt.Sprintf(`{"name":"s%d","kind":"web"}`, i))); r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
	}
	if r := e.do("POST", "/api/v1/sources", e.token("sales", lianlu.RoleManager), js, []byte(`{"name":"pos","kind":"pos"}`)); r.status != 201 {
		t.Fatalf("create sales: %d", r.status)
	}
	var page struct {
		Items      []lianlu.Source `json:"items"`
		NextCursor string          `json:"next_cursor"`
	}
	r := e.do("GET", "/api/v1/sources?limit=2", op, nil, nil)
	r.json(t, &page)
	if len(page.Items) != 2 || page.NextCursor == "" {
		t.Fatalf("first page: %s", r.body)
	}
	r = e.do("GET", "/api/v1/sources?limit=2&cursor="+page.NextCursor, op, nil, nil)
	page.Items, page.NextCursor = nil, ""
	r.json(t, &page)
	if len(page.Items) != 1 || page.Items[0].Name != "s2" {
		t.Fatalf("second page: %s", r.body)
	}
	if r := e.do("GET", "/api/v1/sources?department=sales", op, nil, nil); r.status != 403 {
		t.Fatalf("other department's list: %d", r.status)
	}
	r = e.do("GET", "/api/v1/sources?department=sales", e.admin, nil, nil)
	page.Items = nil
	r.json(t, &page)
	if len(page.Items) != 1 || page.Items[0].Department != "sales" {
		t.Fatalf("admin filter: %s", r.body)
	}
	for name, tc := range map[string]struct {
		method, path, token string
		status              int
	}{
		"bad id":                 {"GET", "/api/v1/sources/x", op, 400},
		"unknown id":             {"GET", "/api/v1/sources/999", op, 404},
		"operator disables":      {"POST", "/api/v1/sources/1/disable", op, 403},
		"operator rotates":       {"POST", "/api/v1/sources/1/rotate-key", op, 403},
		"other dept rotates":     {"POST", "/api/v1/sources/4/rotate-key", mgr, 404},
		"other dept freshness":   {"GET", "/api/v1/sources/4/freshness", op, 404},
		"viewer puts plan":       {"PUT", "/api/v1/sources/1/tracking-plan", e.token("marketing", lianlu.RoleViewer), 403},
		"no token":               {"GET", "/api/v1/sources", "", 401},
		"unknown plan of source": {"GET", "/api/v1/sources/1/tracking-plan", op, 404},
	} {
		if r := e.do(tc.method, tc.path, tc.token, js, nil); r.status != tc.status {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// The write key never appears in reads.
	r = e.do("GET", "/api/v1/sources/1", op, nil, nil)
	if strings.Contains(string(r.body), "write_key") {
		t.Fatalf("read shows a write key: %s", r.body)
	}
}
