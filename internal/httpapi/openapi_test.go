package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// mustOpenAPIDoc parses the embedded OpenAPI document.
func mustOpenAPIDoc(tb testing.TB) map[string]any {
	tb.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		tb.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// resolvePointer follows a JSON pointer such as "/components/schemas/Event"
// through doc.
func resolvePointer(doc any, pointer string) (any, bool) {
	if pointer == "" {
		return doc, true
	}
	if !strings.HasPrefix(pointer, "/") {
		return nil, false
	}
	cur := doc
	for tok := range strings.SplitSeq(pointer[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// walkJSON calls fn for every object in v, with its JSON pointer.
func walkJSON(v any, pointer string, fn func(pointer string, obj map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(pointer, v)
		for k, child := range v {
			walkJSON(child, pointer+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), fn)
		}
	case []any:
		for i, child := range v {
			walkJSON(child, pointer+"/"+strconv.Itoa(i), fn)
		}
	}
}

func TestOpenAPIValidJSON(t *testing.T) {
	doc := mustOpenAPIDoc(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Errorf("openapi = %q, want 3.x", v)
	}
	if !bytes.HasSuffix(openAPIDoc, []byte("\n")) {
		t.Error("openapi.json should end with a newline")
	}

	refs := 0
	walkJSON(doc, "", func(pointer string, obj map[string]any) {
		raw, ok := obj["$ref"]
		if !ok {
			return
		}
		// A schema property named "$ref" would be a map; a reference is a string.
		ref, ok := raw.(string)
		if !ok {
			return
		}
		refs++
		if !strings.HasPrefix(ref, "#/components/") {
			t.Errorf("%s: $ref %q does not point into #/components", pointer, ref)
			return
		}
		if _, ok := resolvePointer(doc, strings.TrimPrefix(ref, "#")); !ok {
			t.Errorf("%s: $ref %q does not resolve", pointer, ref)
		}
	})
	if refs == 0 {
		t.Error("no $ref found; the walk is broken")
	}

	// operationIds are unique, and every {name} in a path template is
	// declared as a path parameter.
	paths, _ := doc["paths"].(map[string]any)
	ids := map[string]string{}
	for path, item := range paths {
		item, _ := item.(map[string]any)
		for _, m := range httpMethods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			where := strings.ToUpper(m) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", where)
			} else if prev, dup := ids[id]; dup {
				t.Errorf("%s: operationId %q also used by %s", where, id, prev)
			} else {
				ids[id] = where
			}
			declared := map[string]bool{}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				p, _ := p.(map[string]any)
				if ref, ok := p["$ref"].(string); ok {
					r, _ := resolvePointer(doc, strings.TrimPrefix(ref, "#"))
					p, _ = r.(map[string]any)
				}
				if p["in"] == "path" {
					name, _ := p["name"].(string)
					declared[name] = true
				}
			}
			for seg := range strings.SplitSeq(path, "/") {
				if name, ok := strings.CutPrefix(seg, "{"); ok {
					name = strings.TrimSuffix(name, "}")
					if !declared[name] {
						t.Errorf("%s: path parameter %q not declared", where, name)
					}
				}
			}
		}
	}
}

func TestOpenAPICoversRoutes(t *testing.T) {
	doc := mustOpenAPIDoc(t)
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.json has no paths object")
	}
	operation := func(path, method string) (map[string]any, bool) {
		item, _ := paths[path].(map[string]any)
		op, ok := item[strings.ToLower(method)].(map[string]any)
		return op, ok
	}

	s := NewServer(Config{})
	registered := map[string]bool{"GET /metrics": true}
	for _, r := range s.Routes() {
		key := r.Method + " " + r.Path
		registered[key] = true
		op, ok := operation(r.Path, r.Method)
		if !ok {
			t.Errorf("route %s is not in openapi.json", key)
			continue
		}
		// Security in the document matches the route's authentication.
		sec, hasSec := op["security"].([]any)
		switch {
		case !hasSec:
			t.Errorf("%s: operation has no explicit security", key)
		case r.Auth && (len(sec) != 1 || !hasScheme(sec[0], "bearer")):
			t.Errorf("%s: security = %v, want [{bearer: []}]", key, sec)
		case strings.HasPrefix(r.Path, "/v1/") && r.Method == "POST":
			// Collector calls authenticate with a write key (Basic user
			// name, or writeKey in the body, hence the empty alternative).
			if len(sec) != 2 || !hasScheme(sec[0], "writeKey") {
				t.Errorf("%s: security = %v, want [{writeKey: []}, {}]", key, sec)
			}
		case !r.Auth && len(sec) != 0:
			t.Errorf("%s: security = %v, want [] (public)", key, sec)
		}
		if r.Auth {
			if got, _ := op["x-lianlu-min-role"].(string); got != string(r.MinRole) {
				t.Errorf("%s: x-lianlu-min-role = %q, want %q", key, got, r.MinRole)
			}
			if _, ok := responseOf(op, "401"); !ok {
				t.Errorf("%s: no 401 response", key)
			}
		}
	}
	if _, ok := operation("/metrics", "GET"); !ok {
		t.Error("GET /metrics is not in openapi.json")
	}

	for path, item := range paths {
		item, _ := item.(map[string]any)
		for key := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			if route := strings.ToUpper(key) + " " + path; !registered[route] {
				t.Errorf("openapi.json lists %s, which is not a registered route", route)
			}
		}
	}
}

// hasScheme reports whether a security requirement object names scheme.
func hasScheme(req any, scheme string) bool {
	m, ok := req.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[scheme]
	return ok && len(m) == 1
}

// responseOf returns the response of op for status.
func responseOf(op map[string]any, status string) (any, bool) {
	rs, _ := op["responses"].(map[string]any)
	r, ok := rs[status]
	return r, ok
}

func TestOpenAPIServed(t *testing.T) {
	s := NewServer(Config{})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/openapi.json", nil))
	res := rec.Result()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if !bytes.Equal(rec.Body.Bytes(), openAPIDoc) {
		t.Error("served body differs from the embedded openapi.json")
	}
}
