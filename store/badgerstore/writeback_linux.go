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

// writeRange writes out a range of a file's pages and waits for them
// (data only: the caller syncs the file's metadata).
func writeRange(f *os.File, off, n int64) error {
	return unix.SyncFileRange(int(f.Fd()), off, n,
		unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
}
