package sqlstore

import (
	"os"
	"syscall"
)

// syncData is fdatasync, as SQLite itself uses on Linux: the log's data and
// its size, without the modification time's extra journal write.
func syncData(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
