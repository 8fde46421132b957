package badger

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
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
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
		if err := fsyncPath(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	if st != nil {
		st.mu.Lock()
		st.vlog = max(st.vlog, top)
		st.mu.Unlock()
	}
	return nil
}

func fsyncPath(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // flushed into a table, or collected, since the listing
	}
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
