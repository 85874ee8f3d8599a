package sqlstore

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
)

// walSyncer makes SQLite commits durable without holding the one writer
// connection through the fsync.
//
// With synchronous=FULL, SQLite fsyncs the write-ahead log inside COMMIT,
// while the writer lock is held: every commit waits for its own fsync
// (~0.3–0.5 ms on a virtual disk) and nothing else can write meanwhile.
// Instead the writer runs with synchronous=NORMAL — SQLite then still syncs
// the log before each checkpoint and its header when the log is restarted,
// so the database stays consistent — and Tx.Commit, once COMMIT has written
// the transaction's frames to the log, waits here for an fdatasync of the
// log that began after that write. The next transaction runs during the
// fsync, and one fsync covers every commit written before it began (group
// commit). A transaction is acknowledged only once it is on disk, as with
// FULL.
//
// Frames become visible to other connections when COMMIT returns, before
// they are synced: a reader in this process may see a transaction up to one
// fsync before it is durable. On power loss such a transaction is lost
// together with everything committed after it (the log is replayed in
// order), so the database never holds an effect without its cause; effects
// outside the database (webhooks) are sent only after a later commit of
// their own (the delivery claim) has been synced, which covers the event.
type walSyncer struct {
	wal, main string // the log, and the database file once the log is gone

	// syncFile is fdatasync where the platform has it; a field so that
	// tests can observe and delay it.
	syncFile func(path string) error

	committed atomic.Uint64 // writing commits whose frames are in the log
	synced    atomic.Uint64 // committed count covered by the last fsync

	mu  sync.Mutex // held through one fsync
	err error      // the first fsync failure; sticky

	logger *slog.Logger
}

func newWALSyncer(path string, logger *slog.Logger) *walSyncer {
	return &walSyncer{wal: path + "-wal", main: path, syncFile: syncPath, logger: logger}
}

// committedOne records a commit whose frames COMMIT has written and returns
// its number, to pass to wait.
func (s *walSyncer) committedOne() uint64 { return s.committed.Add(1) }

// wait returns once commit n is on disk. After an fsync has failed the
// state of the written pages is unknown, so every later wait fails too:
// nothing more is acknowledged until the process restarts and SQLite
// recovers the log from what the disk holds.
func (s *walSyncer) wait(n uint64) error {
	if s.synced.Load() >= n {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.synced.Load() >= n {
		return nil // another committer's fsync began after commit n
	}
	upto := s.committed.Load()
	err := s.syncFile(s.wal)
	if errors.Is(err, fs.ErrNotExist) {
		// The log is removed only after the last connection's checkpoint
		// has copied it into the database file and synced that.
		err = s.syncFile(s.main)
	}
	if err != nil {
		s.err = fmt.Errorf("sync write-ahead log: %w", err)
		s.logger.Error("commits are no longer acknowledged: restart to recover the log from disk", "err", err)
		return s.err
	}
	s.synced.Store(upto)
	return nil
}

// syncPath opens path and flushes its data to disk.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = syncData(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
