package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

// MustRunMain starts a Main on a free port with SQLite in a temp dir.
func MustRunMain(tb testing.TB) *Main {
	tb.Helper()
	m := NewMain()
	m.Config.DataDir = tb.TempDir()
	m.Config.Addr = "127.0.0.1:0"
	var out bytes.Buffer
	m.Stdout = &out
	if err := m.Run(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

func adminToken(tb testing.TB, dataDir string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestMain_FirstStartWritesAdminToken(t *testing.T) {
	m := NewMain()
	m.Config.DataDir = t.TempDir()
	m.Config.Addr = "127.0.0.1:0"
	var out bytes.Buffer
	m.Stdout = &out
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(m.Config.DataDir, "admin.token")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token mode %v, want 0600", fi.Mode().Perm())
	}
	token := adminToken(t, m.Config.DataDir)
	if !strings.Contains(out.String(), path) || strings.Contains(out.String(), token) {
		t.Fatalf("start-up output must name the path and not the token:\n%s", out.String())
	}
	req, _ := http.NewRequest("GET", "http://"+m.Addr()+"/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("admin token does not work: %v %v", res, err)
	}
	res.Body.Close()
	m.Close()

	// A second start keeps the token.
	m2 := NewMain()
	m2.Config.DataDir, m2.Config.Addr = m.Config.DataDir, "127.0.0.1:0"
	if err := m2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if adminToken(t, m.Config.DataDir) != token {
		t.Fatal("admin token replaced on restart")
	}
}

func TestCLI_TokenLifecycle(t *testing.T) {
	dir := t.TempDir()
	env := func(k string) string {
		if k == "LIANLU_DATA" {
			return dir
		}
		return ""
	}
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"migrate"}, env, &out, &errOut); err != nil || !strings.Contains(out.String(), "applied 0001_init.sql") {
		t.Fatalf("migrate: %v %s %s", err, out.String(), errOut.String())
	}
	out.Reset()
	if err := run(ctx, []string{"migrate"}, env, &out, &errOut); err != nil || !strings.Contains(out.String(), "up to date") {
		t.Fatalf("second migrate: %v %s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"token", "create", "--department", "stores", "--role", "operator", "--name", "pos"}, env, &out, &errOut); err != nil {
		t.Fatalf("token create: %v %s", err, errOut.String())
	}
	secret := strings.TrimSpace(out.String())
	if !regexp.MustCompile(`^llt_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("token create printed %q", secret)
	}
	out.Reset()
	if err := run(ctx, []string{"token", "list"}, env, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "pos") || strings.Contains(out.String(), secret) {
		t.Fatalf("token list:\n%s", out.String())
	}
	err := run(ctx, []string{"token", "create", "--department", "nowhere", "--role", "operator", "--name", "x"}, env, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--department") {
		t.Fatalf("bad department: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"token", "revoke", "1"}, env, &out, &errOut); err != nil || !strings.Contains(out.String(), "revoked token 1") {
		t.Fatalf("revoke: %v %s", err, out.String())
	}
	if err := run(ctx, []string{"token", "revoke", "1"}, env, &out, &errOut); err == nil {
		t.Fatal("second revoke succeeded")
	}
	out.Reset()
	run(ctx, []string{"token", "list", "--all"}, env, &out, &errOut)
	if !strings.Contains(out.String(), "pos") {
		t.Fatalf("list --all:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"version"}, env, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "lianlu ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := run(ctx, []string{"bogus"}, env, &out, &errOut); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run(ctx, []string{"serve", "--addr", "nonsense"}, env, &out, &errOut); err == nil {
		t.Fatal("bad --addr accepted")
	}
}

// Graceful shutdown ends open streams, so Close returns promptly.
func TestMain_GracefulShutdownWithOpenStream(t *testing.T) {
	m := MustRunMain(t)
	req, _ := http.NewRequest("GET", "http://"+m.Addr()+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken(t, m.Config.DataDir))
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("stream: %v %v", res, err)
	}
	defer res.Body.Close()
	done := make(chan error, 1)
	go func() { done <- m.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with a stream open")
	}
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Logf("stream ended with %v", err)
	}
}

// buildBinary compiles lianlu once per test run.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func mustBuildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lianlu-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "lianlu")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// server is a `lianlu serve` child process.
type server struct {
	cmd  *exec.Cmd
	addr string
}

var servingRe = regexp.MustCompile(`serving on http://(\S+)`)

func startServer(t *testing.T, bin string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "LIANLU_LOG_LEVEL=warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := servingRe.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return &server{cmd: cmd, addr: a}
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start")
		return nil
	}
}

// crashLoad sends one request of a load: the ids it carries, and whether
// the server acknowledged them. ok false with a nil error means refused.
type crashLoad func(ctx context.Context, client *http.Client, addr string, c, n int) (ids []string, acked bool, err error)

// crashDialects are the server arguments of each database the crash tests
// run on, and the data directory holding the admin token.
func crashDialects() []struct {
	name string
	args func(t *testing.T) ([]string, string)
} {
	return []struct {
		name string
		args func(t *testing.T) ([]string, string)
	}{
		{"sqlite", func(t *testing.T) ([]string, string) {
			dir := t.TempDir()
			return []string{"--data", dir}, dir
		}},
		{"postgres", func(t *testing.T) ([]string, string) {
			dir := t.TempDir()
			return []string{"--data", dir, "--db", sqlstoretest.PostgresURL(t)}, dir
		}},
	}
}

// mustSurviveKill9 runs load from 6 clients against srv, kills the server
// without warning once 3,000 ids were acknowledged (or after 20 s),
// restarts it, and checks that every acknowledged id of source is stored
// exactly once, and nothing twice.
func mustSurviveKill9(t *testing.T, bin string, args []string, srv *server, token, source string, load crashLoad) {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for c := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				ids, ok, err := load(ctx, client, srv.addr, c, n)
				if err != nil {
					return // the server is gone
				}
				if ok {
					mu.Lock()
					for _, id := range ids {
						acked[id]++
					}
					mu.Unlock()
				}
			}
		}()
	}
	// Let the load run, then kill without warning.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 3000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.cmd.Wait()
	cancel()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no event was acknowledged before the kill")
	}

	srv = startServer(t, bin, args...)
	stored := map[string]int{}
	after := "0"
	for {
		req, _ := http.NewRequest("GET", "http://"+srv.addr+"/api/v1/events?source="+source+"&limit=1000&after="+after, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items      []lianlu.Event `json:"items"`
			NextCursor string         `json:"next_cursor"`
		}
		json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		for _, e := range page.Items {
			stored[e.ID]++
		}
		if page.NextCursor == "" {
			break
		}
		after = page.NextCursor
	}
	for id := range acked {
		if stored[id] != 1 {
			t.Fatalf("acknowledged event %s stored %d times", id, stored[id])
		}
	}
	for id, n := range stored {
		if n != 1 {
			t.Fatalf("event %s stored %d times", id, n)
		}
	}
	t.Logf("%d events acknowledged before kill -9, %d stored after restart, all acknowledged ones exactly once", len(acked), len(stored))
}

// Crash safety: kill -9 the server in the middle of a load from several
// clients, restart it, and find every acknowledged event exactly once.
func TestCrash_AcknowledgedEventsSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuildBinary(t)
	for _, tc := range crashDialects() {
		t.Run(tc.name, func(t *testing.T) {
			args, dir := tc.args(t)
			srv := startServer(t, bin, args...)
			token := adminToken(t, dir)
			mustSurviveKill9(t, bin, args, srv, token, "crash", func(ctx context.Context, client *http.Client, addr string, c, n int) ([]string, bool, error) {
				var items, ids []string
				for i := range 10 {
					id := fmt.Sprintf("c%d-%d-%d", c, n, i)
					ids = append(ids, id)
					items = append(items, `{"specversion":"1.0","id":"`+id+`","source":"crash","type":"load.tick","data":{"n":`+fmt.Sprint(i)+`}}`)
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/v1/events", strings.NewReader("["+strings.Join(items, ",")+"]"))
				req.Header.Set("Content-Type", "application/cloudevents-batch+json")
				req.Header.Set("Authorization", "Bearer "+token)
				res, err := client.Do(req)
				if err != nil {
					return nil, false, err
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return ids, res.StatusCode == 201 || res.StatusCode == 200, nil
			})
		})
	}
}

// The same for the collector: every Segment message acknowledged with 200
// (after the group commit) survives a kill -9 exactly once.
func TestCrash_CollectorAcknowledgedSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuildBinary(t)
	for _, tc := range crashDialects() {
		t.Run(tc.name, func(t *testing.T) {
			args, dir := tc.args(t)
			srv := startServer(t, bin, args...)
			token := adminToken(t, dir)
			req, _ := http.NewRequest("POST", "http://"+srv.addr+"/api/v1/sources", strings.NewReader(`{"name":"web","kind":"web","department":"marketing"}`))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var src struct {
				ID       int64  `json:"id"`
				WriteKey string `json:"write_key"`
			}
			json.NewDecoder(res.Body).Decode(&src)
			res.Body.Close()
			if src.WriteKey == "" {
				t.Fatalf("create source: %d", res.StatusCode)
			}
			mustSurviveKill9(t, bin, args, srv, token, fmt.Sprintf("segment:%d", src.ID), func(ctx context.Context, client *http.Client, addr string, c, n int) ([]string, bool, error) {
				var items, ids []string
				for i := range 10 {
					id := fmt.Sprintf("s%d-%d-%d", c, n, i)
					ids = append(ids, id)
					items = append(items, `{"type":"track","userId":"u`+fmt.Sprint(c)+`","event":"Load Tick","messageId":"`+id+`"}`)
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/batch", strings.NewReader(`{"batch":[`+strings.Join(items, ",")+`]}`))
				req.SetBasicAuth(src.WriteKey, "")
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					return nil, false, err
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return ids, res.StatusCode == 200, nil
			})
		})
	}
}
