package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
)

func TestSourcesAPI(t *testing.T) {
	e := newEnv(t)
	js := map[string]string{"Content-Type": "application/json"}
	mktMgr := e.token("marketing", lianlu.RoleManager)
	mktOp := e.token("marketing", lianlu.RoleOperator)
	sales := e.token("sales", lianlu.RoleManager)

	if r := e.do("POST", "/api/v1/sources", mktOp, js, []byte(`{"name":"web","kind":"web"}`)); r.status != 403 {
		t.Fatalf("operator creates source: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/sources", mktMgr, js, []byte(`{"name":"","kind":"fax"}`)); r.status != 400 || len(r.problem(t).Errors) != 2 {
		t.Fatalf("invalid: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/sources", mktMgr, js, []byte(`{"name":"x","kind":"web","department":"sales"}`)); r.status != 403 {
		t.Fatalf("other department: %d", r.status)
	}
	r := e.do("POST", "/api/v1/sources", mktMgr, js, []byte(`{"name":"Brand website","kind":"web"}`))
	var created struct {
		lianlu.Source
		WriteKey string `json:"write_key"`
	}
	r.json(t, &created)
	if r.status != 201 || created.Department != "marketing" || !strings.HasPrefix(created.WriteKey, "wk_") || !strings.HasPrefix(created.WriteKey, created.KeyPrefix) {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	ctx := context.Background()
	srcs := e.sources()
	if src, err := srcs.AuthenticateWriteKey(ctx, created.WriteKey); err != nil || src.ID != created.ID {
		t.Fatalf("authenticate: %+v %v", src, err)
	}
	r = e.do("GET", "/api/v1/sources", mktOp, nil, nil)
	if r.status != 200 || strings.Contains(string(r.body), created.WriteKey) || !strings.Contains(string(r.body), "Brand website") {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/sources/%d", created.ID), sales, nil, nil); r.status != 404 {
		t.Fatalf("sales reads marketing source: %d", r.status)
	}
	path := fmt.Sprintf("/api/v1/sources/%d/", created.ID)
	if r := e.do("POST", path+"disable", mktMgr, nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"disabled":true`) {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if _, err := srcs.AuthenticateWriteKey(ctx, created.WriteKey); lianlu.ErrorCode(err) != lianlu.EFORBIDDEN {
		t.Fatalf("disabled source authenticated: %v", err)
	}
	e.do("POST", path+"enable", mktMgr, nil, nil)
	r = e.do("POST", path+"rotate-key", mktMgr, nil, nil)
	var rotated struct {
		WriteKey string `json:"write_key"`
	}
	r.json(t, &rotated)
	if r.status != 200 || rotated.WriteKey == created.WriteKey {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if _, err := srcs.AuthenticateWriteKey(ctx, created.WriteKey); lianlu.ErrorCode(err) != lianlu.EUNAUTHORIZED {
		t.Fatalf("old key still works: %v", err)
	}
	if _, err := srcs.AuthenticateWriteKey(ctx, rotated.WriteKey); err != nil {
		t.Fatalf("new key: %v", err)
	}
	audit, _ := e.access.FindAuditEntries(ctx, 0, 10)
	var actions []string
	for _, a := range audit {
		if strings.HasPrefix(a.Action, "source.") {
			actions = append(actions, a.Action)
		}
	}
	if strings.Join(actions, ",") != "source.key_rotated,source.enabled,source.disabled,source.created" {
		t.Fatalf("audit: %v", actions)
	}
}
