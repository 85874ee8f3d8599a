package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	cfgpkg "github.com/lianlu/lianlu/internal/config"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

func TestCLI_UserCreateListSetPassword(t *testing.T) {
	dir := t.TempDir()
	env := func(k string) string {
		if k == "LIANLU_DATA" {
			return dir
		}
		return ""
	}
	ctx := context.Background()
	user := func(stdin string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runUser(ctx, args, env, strings.NewReader(stdin), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	if out, err := user("a long password\n", "create", "--username", "li.wei", "--department", "service", "--role", "operator", "--password-stdin"); err != nil {
		t.Fatalf("create: %v %s", err, out)
	}
	// Without --password-stdin and without a terminal, it says what to do.
	if _, err := user("x\n", "create", "--username", "zhou", "--department", "service", "--role", "viewer"); err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Fatalf("create without a terminal: %v", err)
	}
	if _, err := user("short\n", "create", "--username", "zhou", "--department", "service", "--role", "viewer", "--password-stdin"); err == nil {
		t.Fatal("a short password was accepted")
	}
	if _, err := user("a long password\n", "create", "--username", "li.wei", "--department", "service", "--role", "operator", "--password-stdin"); err == nil {
		t.Fatal("a taken user name was accepted")
	}
	out, err := user("", "list")
	if err != nil || !strings.Contains(out, "li.wei") || !strings.Contains(out, "operator") {
		t.Fatalf("list: %v %s", err, out)
	}
	if out, err := user("another long password\n", "set-password", "--username", "li.wei", "--password-stdin"); err != nil {
		t.Fatalf("set-password: %v %s", err, out)
	}
	cfg := cfgpkg.Default()
	cfg.DataDir = dir
	db, err := openDB(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sessions := sqlstore.NewSessionService(db)
	if _, _, _, err := sessions.Login(ctx, "li.wei", "a long password", time.Hour); lianlu.ErrorCode(err) != lianlu.EUNAUTHORIZED {
		t.Fatalf("old password still works: %v", err)
	}
	if _, u, _, err := sessions.Login(ctx, "li.wei", "another long password", time.Hour); err != nil || u.Department != "service" {
		t.Fatalf("new password: %+v %v", u, err)
	}
	entries, _ := sqlstore.NewAccessService(db).FindAuditEntries(ctx, 0, 10)
	var actions []string
	for _, e := range entries {
		if strings.HasPrefix(e.Actor, "cli:") {
			actions = append(actions, e.Action)
		}
	}
	if got := strings.Join(actions, ","); !strings.Contains(got, "user.created") || !strings.Contains(got, "user.password_set") {
		t.Fatalf("CLI changes not audited: %s", got)
	}
}
