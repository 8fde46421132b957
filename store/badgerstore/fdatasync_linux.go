package badgerstore

import (
	"os"
	"syscall"
)

// fdatasync flushes a file's data, and its size only when it changed,
// which is what an append-only journal needs.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
