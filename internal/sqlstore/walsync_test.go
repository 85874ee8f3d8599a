package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openSQLite opens and migrates a fresh SQLite database with opts.
func openSQLite(t *testing.T, opts Options) *DB {
	t.Helper()
	opts.Path = filepath.Join(t.TempDir(), "lianlu.db")
	db, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// insertCommit commits one write on the writer.
func insertCommit(db *DB, name string) error {
	return db.WithTx(context.Background(), func(tx *Tx) error {
		_, err := tx.exec(context.Background(), `INSERT INTO subscriptions (name, position, updated_at) VALUES (?, 0, '2026-12-01T00:00:00.000000Z')`, name)
		return err
	})
}

// With synchronous=FULL a commit returns only after an fsync of the
// write-ahead log that began after the commit was written, and the writer
// is free for the next transaction during that fsync.
func TestWALSync_CommitWaitsForSyncOfLog(t *testing.T) {
	db := openSQLite(t, Options{})
	s := db.walSync
	if s == nil {
		t.Fatal("no WAL syncer with synchronous=FULL")
	}
	release := make(chan struct{})
	var synced []string
	var mu sync.Mutex
	s.syncFile = func(path string) error {
		<-release
		mu.Lock()
		synced = append(synced, path)
		mu.Unlock()
		return syncPath(path)
	}
	base := s.committed.Load() // the migrations' commits
	done := make(chan error, 1)
	go func() { done <- insertCommit(db, "first") }()
	for s.committed.Load() < base+1 {
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("commit returned (%v) before its log was synced", err)
	case <-time.After(50 * time.Millisecond):
	}
	// The writer is not held meanwhile: another transaction can read and
	// write (its own commit then waits for the sync too).
	other := make(chan error, 1)
	go func() { other <- insertCommit(db, "second") }()
	for s.committed.Load() < base+2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(synced) == 0 || !strings.HasSuffix(synced[0], "lianlu.db-wal") {
		t.Fatalf("synced %v, want the -wal file", synced)
	}
}

// Commits that wait while an fsync is in progress are covered together by
// the next one.
func TestWALSync_OneSyncCoversWaitingCommits(t *testing.T) {
	db := openSQLite(t, Options{})
	s := db.walSync
	release := make(chan struct{})
	var syncs atomic.Int32
	s.syncFile = func(path string) error {
		if syncs.Add(1) == 1 {
			<-release
		}
		return syncPath(path)
	}
	const n = 10
	base := s.committed.Load() // the migrations' commits
	errs := make(chan error, n+1)
	go func() { errs <- insertCommit(db, "blocker") }()
	for syncs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := range n {
		go func() { errs <- insertCommit(db, "waiting-"+string(rune('a'+i))) }()
	}
	for s.committed.Load() < base+n+1 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range n + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := syncs.Load(); got != 2 {
		t.Fatalf("%d fsyncs for %d commits, want 2 (the blocked one and one for all that waited)", got, n+1)
	}
}

// After an fsync fails nothing more is acknowledged, even if the disk
// recovers: what the failed fsync left on disk is unknown.
func TestWALSync_FailureIsSticky(t *testing.T) {
	db := openSQLite(t, Options{})
	fail := errors.New("EIO")
	var calls atomic.Int32
	db.walSync.syncFile = func(path string) error {
		if calls.Add(1) == 1 {
			return fail
		}
		return syncPath(path)
	}
	if err := insertCommit(db, "a"); !errors.Is(err, fail) {
		t.Fatalf("commit: %v, want the fsync error", err)
	}
	if err := insertCommit(db, "b"); !errors.Is(err, fail) {
		t.Fatalf("commit after a failed fsync: %v, want the fsync error again", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d fsyncs, want no more after the failure", calls.Load())
	}
}

// synchronous=NORMAL keeps SQLite's own behaviour: no fsync per commit.
func TestWALSync_NotWithNormal(t *testing.T) {
	db := openSQLite(t, Options{Synchronous: "NORMAL"})
	if db.walSync != nil {
		t.Fatal("WAL syncer with synchronous=NORMAL")
	}
	if err := insertCommit(db, "a"); err != nil {
		t.Fatal(err)
	}
}
