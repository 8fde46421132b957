package badgerstore

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// dirSyncState remembers the newest value-log file a sync covered: older
// files were complete and synced then, and Badger no longer writes them.
type dirSyncState struct {
	mu   sync.Mutex
	vlog uint64
}

// syncFiles makes durable every write Badger has taken.
//
// Badger's own Sync covers only the active memtable's log and the active
// value-log file. With SyncWrites off, Badger does not sync a memtable's
// log or a value-log file when it moves on to the next one, and between
// two checkpoints it may move on several times. So every memtable log
// and every value-log file written since the last sync are fsync'd here.
// Tables and the manifest Badger syncs itself.
//
// On Linux, fsync through a file descriptor of our own also writes out
// the pages Badger dirtied through its memory maps, and it takes none of
// Badger's locks. Badger's Sync holds the database lock, which every
// write takes, for the whole msync of the memtable log: at a checkpoint,
// with seconds of writes to flush, that stalled all writes for 100-300 ms.
// Elsewhere, where fsync may not see pages dirtied through a map, Badger's
// Sync runs as well.
func syncFiles(db *badger.DB, dir string, st *dirSyncState) error {
	if runtime.GOOS != "linux" {
		if err := db.Sync(); err != nil {
			return err
		}
	}
	top, err := eachLog(dir, st, fsyncPath)
	if err == nil && st != nil {
		// Only a sync moves the mark: a file left behind it is durable.
		st.mu.Lock()
		st.vlog = max(st.vlog, top)
		st.mu.Unlock()
	}
	return err
}

// startWriteback asks the kernel to start writing out what Badger has
// written to its logs, without waiting for it or for the file system's
// journal.
//
// Badger msyncs a value-log file, in the goroutine that applies every
// write, when it moves on to the next file. With SyncWrites off, that
// msync found up to a checkpoint's worth of dirty pages, and every write
// waited 70-140 ms behind it: the p99 of the delivery benchmark came from
// those stalls. Written back a little at a time, the file is nearly clean
// when Badger rotates it.
func startWriteback(dir string, st *dirSyncState) error {
	_, err := eachLog(dir, st, writebackPath)
	return err
}

// eachLog calls fn on every memtable log and on every value-log file
// written since the last sync (see syncFiles), and returns the newest
// value-log file's id.
func eachLog(dir string, st *dirSyncState, fn func(path string) error) (uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var from uint64
	if st != nil {
		st.mu.Lock()
		from = st.vlog
		st.mu.Unlock()
	}
	top := from
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".mem"):
		case strings.HasSuffix(name, ".vlog"):
			fid, err := strconv.ParseUint(strings.TrimSuffix(name, ".vlog"), 10, 32)
			if err != nil || fid < from {
				continue
			}
			top = max(top, fid)
		default:
			continue
		}
		if err := fn(filepath.Join(dir, name)); err != nil {
			return 0, err
		}
	}
	return top, nil
}

func fsyncPath(path string) error { return withFile(path, (*os.File).Sync) }

func writebackPath(path string) error { return withFile(path, startFileWriteback) }

func withFile(path string, fn func(*os.File) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // flushed into a table, or collected, since the listing
	}
	if err != nil {
		return err
	}
	err = fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
