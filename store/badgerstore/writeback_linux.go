package badgerstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// startFileWriteback starts writing out a file's dirty pages, including
// those dirtied through a memory map, and returns without waiting.
func startFileWriteback(f *os.File) error {
	return unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}
