//go:build !linux

package sqlstore

import "os"

// syncData is fsync (os.File.Sync; F_FULLFSYNC on macOS).
func syncData(f *os.File) error { return f.Sync() }
