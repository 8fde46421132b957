package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The intake journal makes task intake durable without syncing Badger
// for every batch.
//
// Badger writes through memory-mapped files, and its Sync is an msync of
// the whole write-ahead log and value log: on this kind of machine that
// means write-protecting and faulting every dirty page again, with TLB
// shootdowns, for each sync. Intake would pay that a hundred times a
// second. Instead, writes that must be durable before their caller is
// answered (a task behind a 202) are also appended, as plain key/value
// records, to a journal file written with write(2) and fdatasync(2): one
// append and one sync per group of requests, cheap.
//
// Badger itself is synced at checkpoints, every few seconds: the journal
// rotates to a new segment, Badger's files are synced, and the old
// segment, whose every record Badger then holds durably, is deleted. A
// record is appended while its transaction commits (the two writes run
// side by side, and the caller is answered once both are done), so a
// checkpoint first waits for the commits of the records its segment
// holds: rotating never strands one. The sync runs beside the appends,
// in its own goroutine: it can take a while, and intake must not wait
// for it.
//
// At open, segments left by a crash are replayed: a record whose first
// key (the task) Badger lost is written back whole; a record whose task
// Badger kept is skipped whole, since what happened to the task after (a
// finish deleting its index entry, say) is newer. A commit that failed
// after its records were appended is followed by an abort record (first
// key abortKey, then the first keys of the records it voids), so that a
// replay does not bring back what its callers were told failed.

const (
	journalDir        = "journal"
	journalExt        = ".journal"
	checkpointEvery   = 5 * time.Second
	checkpointSizeMax = 32 << 20
	// abortKey starts an abort record. Badger refuses keys that start
	// with "!badger!", and no agenthook key starts with "!".
	abortKey = "!agenthook!abort"
)

// journalEntry is one key/value write of a journaled operation.
type journalEntry struct {
	key       []byte
	value     []byte
	expiresAt time.Time // zero: no expiry
}

// encodeJournal frames the entries of one operation: a length, a CRC, then
// each entry as key length, key, value length, value, expiry (unix ns).
func encodeJournal(entries []journalEntry) []byte {
	n := 8
	for _, e := range entries {
		n += journalEntrySize(e.key, e.value)
	}
	b := make([]byte, 8, n)
	for _, e := range entries {
		b = appendJournalEntry(b, e.key, e.value, e.expiresAt)
	}
	return frameJournal(b)
}

// journalEntrySize is what appendJournalEntry adds for key and value.
func journalEntrySize(key, value []byte) int { return 2 + len(key) + 4 + len(value) + 8 }

// appendJournalEntry appends one entry of a record (see encodeJournal).
func appendJournalEntry(b, key, value []byte, expiresAt time.Time) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(value)))
	b = append(b, value...)
	var exp int64
	if !expiresAt.IsZero() {
		exp = expiresAt.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(exp))
}

// frameJournal fills in the length and CRC of a record whose entries
// follow its first 8 bytes.
func frameJournal(b []byte) []byte {
	binary.BigEndian.PutUint32(b, uint32(len(b)-8))
	binary.BigEndian.PutUint32(b[4:], crc32.ChecksumIEEE(b[8:]))
	return b
}

// decodeJournal reads the records of a segment. A torn or corrupt record
// ends the segment: it was being written when the machine stopped, so
// its caller was never answered.
func decodeJournal(b []byte) (records [][]journalEntry) {
	for len(b) >= 8 {
		n := int(binary.BigEndian.Uint32(b))
		if n > len(b)-8 || crc32.ChecksumIEEE(b[8:8+n]) != binary.BigEndian.Uint32(b[4:]) {
			return records
		}
		rec, ok := decodeEntries(b[8 : 8+n])
		if !ok {
			return records
		}
		records = append(records, rec)
		b = b[8+n:]
	}
	return records
}

func decodeEntries(b []byte) ([]journalEntry, bool) {
	if len(b) == 0 {
		return nil, false
	}
	var out []journalEntry
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, false
		}
		kn := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if len(b) < kn+4 {
			return nil, false
		}
		e := journalEntry{key: b[:kn]}
		vn := int(binary.BigEndian.Uint32(b[kn:]))
		b = b[kn+4:]
		if len(b) < vn+8 {
			return nil, false
		}
		e.value = b[:vn]
		if exp := int64(binary.BigEndian.Uint64(b[vn:])); exp != 0 {
			e.expiresAt = time.Unix(0, exp)
		}
		b = b[vn+8:]
		out = append(out, e)
	}
	return out, true
}

// journal is the open segment. Only the syncer goroutine writes it; the
// syncs run in goroutines of their own (see writer.syncer), each with a
// descriptor of its own from syncFDs.
type journal struct {
	dir        string
	f          *os.File
	seq        int
	size       int64
	checkpoint time.Time // when the current segment was started
	buf        []byte    // write's buffer, reused

	// alloc is where the durable zeros written ahead of the records end
	// (see journal_prealloc.go); ext is the extension under way, if any.
	alloc int64
	ext   *extension

	// syncFDs holds one read-only descriptor of the segment per sync that
	// may run at once. Linux reports a writeback error once per open
	// file: two syncs sharing one descriptor could see one the other's
	// error, and answer success for records the disk lost. nil after a
	// failed rotation (writes then fail).
	syncFDs chan *os.File
}

// syncsInFlight is how many journal syncs may run at once. Measured on
// this kind of virtual disk, two fdatasyncs in flight complete about
// twice as many syncs per second as one at the same latency: a durable
// request then waits about one sync, not one and a half.
const syncsInFlight = 2

func segmentName(seq int) string { return fmt.Sprintf("%012d%s", seq, journalExt) }

// segments lists a journal directory's segments, oldest first.
func segments(dir string) ([]string, int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var names []string
	last := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, journalExt) {
			continue
		}
		var seq int
		if _, err := fmt.Sscanf(name, "%012d"+journalExt, &seq); err != nil {
			continue
		}
		names = append(names, filepath.Join(dir, name))
		last = max(last, seq)
	}
	sort.Strings(names)
	return names, last, nil
}

// replayJournal writes back what Badger lost of the journaled records,
// syncs Badger, and removes the segments.
func replayJournal(db *badger.DB, dir string, now time.Time) (replayed int, err error) {
	names, _, err := segments(dir)
	if err != nil || len(names) == 0 {
		return 0, err
	}
	segs := make([][][]journalEntry, len(names))
	aborted := make(map[string]bool)
	for i, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return replayed, fmt.Errorf("reading journal %s: %w", name, err)
		}
		segs[i] = decodeJournal(b)
		for _, rec := range segs[i] {
			if string(rec[0].key) == abortKey {
				for _, e := range rec[1:] {
					aborted[string(e.key)] = true
				}
			}
		}
	}
	for i, name := range names {
		for _, rec := range segs[i] {
			if string(rec[0].key) == abortKey || aborted[string(rec[0].key)] {
				continue
			}
			err := db.Update(func(txn *badger.Txn) error {
				for _, k := range primaryKeys(rec[0].key) {
					if _, err := txn.Get(k); err == nil {
						return nil // Badger kept it; it may have changed since
					} else if !errors.Is(err, badger.ErrKeyNotFound) {
						return err
					}
				}
				for _, e := range rec {
					if !e.expiresAt.IsZero() && !e.expiresAt.After(now) {
						continue
					}
					entry := badger.NewEntry(e.key, e.value)
					if d := ttl(e.expiresAt, now); d > 0 {
						entry = entry.WithTTL(d)
					}
					if err := txn.SetEntry(entry); err != nil {
						return err
					}
					replayed++
				}
				return nil
			})
			if err != nil {
				return replayed, fmt.Errorf("replaying journal %s: %w", name, err)
			}
		}
	}
	if err := syncFiles(db, filepath.Dir(dir), nil); err != nil {
		return replayed, err
	}
	return replayed, removeSegments(names)
}

// primaryKeys are the keys whose presence means a record was not lost:
// the record's first key, and for an unfinished task the key it has
// once finished.
func primaryKeys(first []byte) [][]byte {
	keys := [][]byte{first}
	if id, ok := strings.CutPrefix(string(first), pTaskActive); ok {
		keys = append(keys, key(pTask, id))
	}
	return keys
}

// openJournal starts a new segment in dir, after any existing one.
func openJournal(dir string, now time.Time) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	_, last, err := segments(dir)
	if err != nil {
		return nil, err
	}
	j := &journal{dir: dir, seq: last, checkpoint: now}
	return j, j.next()
}

// next opens a new segment. Records are written at j.size, not appended:
// the file may already hold zeros past them.
func (j *journal) next() error {
	j.seq++
	name := filepath.Join(j.dir, segmentName(j.seq))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	fds := make(chan *os.File, syncsInFlight)
	for range syncsInFlight {
		g, err := os.Open(name)
		if err != nil {
			close(fds)
			for g := range fds {
				g.Close()
			}
			f.Close()
			return err
		}
		fds <- g
	}
	// The new file's name must survive a crash too.
	if d, err := os.Open(j.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	hot := j.size >= preallocAfter
	j.f, j.size, j.alloc, j.syncFDs = f, 0, 0, fds
	if hot {
		// The segment before was under load: this one most likely is too.
		j.extend(preallocFirst, preallocFirst+preallocAhead)
	}
	return nil
}

// write appends records with one write(2), without syncing them.
func (j *journal) write(records [][]byte) error {
	if j.syncFDs == nil {
		return os.ErrClosed
	}
	buf := records[0]
	if len(records) > 1 {
		j.buf = j.buf[:0]
		for _, r := range records {
			j.buf = append(j.buf, r...)
		}
		buf = j.buf
		if cap(j.buf) > 4<<20 {
			j.buf = nil // a burst: do not keep megabytes around
		}
	}
	j.beforeWrite(len(buf))
	if _, err := j.f.WriteAt(buf, j.size); err != nil {
		// Part of buf may be in the file. Its callers are told the write
		// failed, and the next write goes over the same place: a replay
		// reads what comes first, a whole record or a torn one that ends
		// the segment.
		return err
	}
	j.size += int64(len(buf))
	j.afterWrite()
	return nil
}

// syncFDsOrNil is syncFDs, or nil for no journal.
func (j *journal) syncFDsOrNil() chan *os.File {
	if j == nil {
		return nil
	}
	return j.syncFDs
}

// acquire waits for a free sync descriptor of the current segment; nil
// if the segment is closed.
func (j *journal) acquire() *os.File {
	if j.syncFDs == nil {
		return nil
	}
	return <-j.syncFDs
}

// closeFiles waits for the syncs and the extension under way and closes
// the segment's descriptors.
func (j *journal) closeFiles() error {
	j.waitExtension()
	if j.syncFDs != nil {
		for range syncsInFlight {
			g := <-j.syncFDs
			g.Close()
		}
		j.syncFDs = nil
	}
	return j.f.Close()
}

// due reports whether a checkpoint is due.
func (j *journal) due(now time.Time) bool {
	return j.size > 0 && (j.size > checkpointSizeMax || now.Sub(j.checkpoint) >= checkpointEvery)
}

// rotate closes the current segment and opens the next. It returns the
// closed segment's path, to be removed once Badger holds its records
// durably.
func (j *journal) rotate(now time.Time) (string, error) {
	name := j.f.Name()
	if err := j.closeFiles(); err != nil {
		return "", err
	}
	j.checkpoint = now
	return name, j.next()
}

// close closes the current segment and removes it. Call it only once
// Badger holds every record durably.
func (j *journal) close() error {
	name := j.f.Name()
	err := j.closeFiles()
	if rerr := removeSegments([]string{name}); err == nil {
		err = rerr
	}
	return err
}

// removeSegments deletes segments whose records Badger holds durably.
func removeSegments(names []string) error {
	for _, name := range names {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
