package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestMain runs the package's tests and then removes the demo template
// that demoData seeded for them.
func TestMain(m *testing.M) {
	code := m.Run()
	demoTemplate.remove()
	os.Exit(code)
}

// demoTemplate is the small demo brand seeded once per test binary into a
// directory under os.TempDir; tests get copies of it (demoData).
var demoTemplate seededTemplate

// seededTemplate is a data directory seeded once, on first use.
type seededTemplate struct {
	once sync.Once
	dir  string
	err  error
}

// seed runs `lianlu demo --scale small --seed 1` with history up to now
// into a fresh directory under os.TempDir.
func (s *seededTemplate) seed() {
	s.dir, s.err = os.MkdirTemp("", "lianlu-demo-template-")
	if s.err != nil {
		return
	}
	var out, errOut bytes.Buffer
	args := []string{"demo", "--data", s.dir, "--scale", "small", "--seed", "1", "--end", time.Now().UTC().Format(time.RFC3339)}
	if err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut); err != nil {
		s.err = fmt.Errorf("demo: %w\n%s", err, errOut.String())
	}
}

func (s *seededTemplate) remove() {
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// demoData returns a fresh data directory holding a copy of the small
// demo brand (seed 1, history up to when the test binary first asked for
// it). The demo is seeded once per test binary; each test gets its own
// copy of the SQLite files, so tests that change the data do not see each
// other's changes.
func demoData(tb testing.TB) string {
	tb.Helper()
	demoTemplate.once.Do(demoTemplate.seed)
	if demoTemplate.err != nil {
		tb.Fatal(demoTemplate.err)
	}
	dir := tb.TempDir()
	entries, err := os.ReadDir(demoTemplate.dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(demoTemplate.dir, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
