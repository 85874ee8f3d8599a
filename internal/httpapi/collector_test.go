package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
)

func TestCollector(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src, key, err := e.sources().CreateSource(ctx, lianlu.Source{Name: "web", Department: "marketing", Kind: "web"})
	if err != nil {
		t.Fatal(err)
	}
	basic := func(k string) map[string]string {
		return map[string]string{"Content-Type": "application/json", "Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(k+":"))}
	}
	stored := func() []lianlu.Event {
		es, err := e.events.FindEvents(ctx, lianlu.EventFilter{Source: fmt.Sprintf("segment:%d", src.ID), Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	track := []byte(`{"userId":"u1","event":"Product Viewed","messageId":"m-1","properties":{"sku":"AP-1"},"context":{"campaign":{"source":"wechat"}}}`)
	r := e.do("POST", "/v1/track", "", basic(key), track)
	if r.status != 200 || !strings.Contains(string(r.body), `"accepted":1`) {
		t.Fatalf("track: %d %s", r.status, r.body)
	}
	// An SDK retry: acknowledged, stored once.
	r = e.do("POST", "/v1/track", "", basic(key), track)
	if r.status != 200 || !strings.Contains(string(r.body), `"duplicates":1`) {
		t.Fatalf("retry: %d %s", r.status, r.body)
	}
	es := stored()
	if len(es) != 1 || es[0].Type != "segment.track" || es[0].ID != "m-1" || es[0].Department != "marketing" || es[0].Subject != "user/u1" {
		t.Fatalf("stored %+v", es)
	}

	// writeKey in the body; gzip.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"writeKey":"` + key + `","batch":[{"type":"page","anonymousId":"a1","name":"Home"},{"type":"track","anonymousId":"a1"},{"type":"identify","userId":"u1","traits":{"phone":"13800138000"}}]}`))
	zw.Close()
	r = e.do("POST", "/v1/batch", "", map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, gz.Bytes())
	if r.status != 200 || !strings.Contains(string(r.body), `"accepted":2`) || !strings.Contains(string(r.body), `"index":1`) {
		t.Fatalf("gzip batch: %d %s", r.status, r.body)
	}
	if n := len(stored()); n != 3 {
		t.Fatalf("%d stored after batch", n)
	}
	if strings.Contains(string(stored()[1].Data), key) {
		t.Fatal("write key stored in the message")
	}

	for name, tc := range map[string]struct {
		headers map[string]string
		body    []byte
		status  int
	}{
		"no key":       {map[string]string{"Content-Type": "application/json"}, track, 401},
		"unknown key":  {basic("wk_nope"), track, 401},
		"missing ids":  {basic(key), []byte(`{"event":"x","messageId":"m-2"}`), 400},
		"malformed":    {basic(key), []byte(`{"userId":`), 400},
		"oversized":    {basic(key), []byte(`{"userId":"u","event":"big","properties":{"x":"` + strings.Repeat("x", 600<<10) + `"}}`), 413},
		"all invalid":  {basic(key), []byte(`{"batch":[{"type":"nope"}]}`), 400},
		"bad encoding": {map[string]string{"Content-Type": "application/json", "Content-Encoding": "br", "Authorization": basic(key)["Authorization"]}, track, 415},
		"corrupt gzip": {map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip", "Authorization": basic(key)["Authorization"]}, []byte("not gzip"), 400},
	} {
		call := "track"
		if name == "all invalid" {
			call = "batch"
		}
		r := e.do("POST", "/v1/"+call, "", tc.headers, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	if n := len(stored()); n != 3 {
		t.Fatalf("bad calls stored events: %d", n)
	}
	if _, err := e.sources().SetSourceDisabled(ctx, src.ID, true); err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", "/v1/track", "", basic(key), []byte(`{"userId":"u","event":"x"}`)); r.status != 403 {
		t.Fatalf("disabled source: %d", r.status)
	}
	r = e.do("OPTIONS", "/v1/track", "", map[string]string{"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}, nil)
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight: %d %v", r.status, r.header)
	}
}
