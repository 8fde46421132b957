package badgerstore

import (
	"os"
)

// Preallocation: once a segment is under load, zeros are written ahead
// of its records, and synced, by a goroutine of its own, so that the
// records land in blocks the file already has.
//
// Why: on ext4, an fdatasync after an append must also write the
// allocation the append made and the file's new size (and, without a
// journal, the inode on every sync); measured on this kind of virtual
// disk, that is about one and a half extra writes per sync, and a
// quarter more CPU per sync. Overwriting blocks that are already
// allocated and sized needs only the data. fallocate would not do: ext4
// marks fallocated extents unwritten, and the first write to each one
// changes the extent tree again.
//
// Zeros read back as the end of a segment (see decodeJournal: a record
// of length zero is refused), so a preallocated tail is harmless to a
// replay.
const (
	// preallocAfter: a segment that grows past this is under load. Below
	// it, appends cost little in all, and an idle store keeps its segments
	// small.
	preallocAfter = 1 << 20
	// preallocAhead is how far ahead of the records the zeros reach when
	// an extension ends; preallocGap is how close the records may come to
	// their end before the next extension starts. At 10k requests a
	// second of half a kilobyte each, 1 MiB is a fifth of a second.
	preallocAhead = 2 << 20
	preallocGap   = 1 << 20
	// preallocPiece: zeros are written and waited for in pieces, since a
	// journal sync also writes any dirty page of the file, and would wait
	// for a large batch of zeros.
	preallocPiece = 256 << 10
	// preallocFirst: in a new segment after one under load, the zeros
	// start this far in, so that the first records, appended, need not
	// wait for them.
	preallocFirst = 512 << 10
)

// extension is zeros being written at [from, to) of the open segment.
type extension struct {
	from, to int64
	done     chan struct{}
	err      error // set before done is closed
}

// beforeWrite waits for an extension that a write of n bytes at the end
// of the records would run into.
func (j *journal) beforeWrite(n int) {
	if j.ext != nil && j.size+int64(n) > j.ext.from {
		j.waitExtension()
	}
}

// afterWrite starts the next extension when the records come near the
// end of the zeros in a segment under load.
func (j *journal) afterWrite() {
	if j.ext != nil || j.size < preallocAfter || j.alloc-j.size >= preallocGap {
		return
	}
	j.extend(max(j.alloc, j.size), j.size+preallocAhead)
}

// extend starts writing zeros at [from, to).
func (j *journal) extend(from, to int64) {
	ext := &extension{from: from, to: to, done: make(chan struct{})}
	j.ext = ext
	name := j.f.Name()
	go func() {
		defer close(ext.done)
		ext.err = zeroFill(name, ext.from, ext.to)
	}()
}

// waitExtension waits for the extension under way, if any. The zeros
// count only once they are durable: a record written over zeros that
// a crash could take back would need its sync to write the size after
// all.
func (j *journal) waitExtension() {
	if j.ext == nil {
		return
	}
	<-j.ext.done
	if j.ext.err == nil {
		j.alloc = max(j.alloc, j.ext.to)
	}
	// A failed extension is not fatal: writes append past it as before.
	j.ext = nil
}

// zeroFill writes zeros to [from, to) of the file, piece by piece, each
// piece written out before the next, then syncs the file.
func zeroFill(name string, from, to int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	zeros := make([]byte, preallocPiece)
	for off := from; off < to; off += preallocPiece {
		n := min(preallocPiece, to-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		if err := writeRange(f, off, n); err != nil {
			return err
		}
	}
	return fdatasync(f)
}
