package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu/internal/sqlstore"
)

// TestCLI_DemoSameSeedSameCounts: lianlu demo --scale small --seed 1 twice
// on fresh databases prints the same counts of members, orders and events.
func TestCLI_DemoSameSeedSameCounts(t *testing.T) {
	end := "2026-12-01T18:00:00+08:00"
	summary := func(seed string) string {
		var out, errOut bytes.Buffer
		args := []string{"demo", "--data", t.TempDir(), "--scale", "small", "--seed", seed, "--end", end}
		if err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut); err != nil {
			t.Fatalf("demo: %v\n%s", err, errOut.String())
		}
		if !strings.Contains(errOut.String(), "100%") {
			t.Errorf("no progress bar on stderr: %q", errOut.String())
		}
		return strings.TrimSpace(out.String())
	}
	a, b := summary("1"), summary("1")
	if a != b || !regexp.MustCompile(`\d+ members, \d+ orders, \d+ events`).MatchString(a) {
		t.Fatalf("two runs of seed 1:\n%s\n%s", a, b)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"demo", "--scale", "huge"}, func(string) string { return "" }, &out, &errOut); err == nil {
		t.Fatal("an unknown scale was accepted")
	}
}

// TestMain_ServeDemo is the first README command: serve --demo on a fresh
// data directory says where and how to sign in, the overview's charts
// have data at once, and the trickle keeps appending.
func TestMain_ServeDemo(t *testing.T) {
	m := NewMain()
	m.Config.DataDir = t.TempDir()
	m.Config.Addr = "127.0.0.1:0"
	m.Config.Demo = true
	var out bytes.Buffer
	m.Stdout = &out
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	password := readSecret(t, m.Config.AdminPasswordPath())
	if s := out.String(); !strings.Contains(s, "Console: http://"+m.Addr()+"/") || !strings.Contains(s, `sign in as "admin"`) ||
		!strings.Contains(s, m.Config.AdminPasswordPath()) || strings.Contains(s, password) || !strings.Contains(s, "Demo seeded:") {
		t.Fatalf("start-up output:\n%s", s)
	}
	// Sign in as a browser without JavaScript would, and read the
	// overview: bars of orders, lines of events per source.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	base := "http://" + m.Addr()
	res, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if token == nil {
		t.Fatal("no CSRF token on the login page")
	}
	res, err = c.PostForm(base+"/login", url.Values{"csrf": {string(token[1])}, "username": {adminUsername}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`<rect class="s0"`)) || !bytes.Contains(page, []byte(`<polyline class="line s0"`)) {
		t.Fatalf("overview after signing in: %d, charts missing:\n%.800s", res.StatusCode, page)
	}
	events := sqlstore.NewEventService(m.DB)
	before, err := events.MaxSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if n, _ := events.MaxSeq(context.Background()); n > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the demo trickle appended nothing in 30 seconds")
		}
	}
}
