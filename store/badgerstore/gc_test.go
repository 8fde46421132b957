package badgerstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// TestCompactDown: with tables on several levels, compactDown moves them
// to one level and drops expired keys on the way, and keeps the others.
func TestCompactDown(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a real expiry")
	}
	s, err := Open(Options{Dir: t.TempDir(), GCInterval: -1, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	val := make([]byte, 40) // inline: the tables hold it, so they fill
	write := func(prefix string, n int, ttl time.Duration) {
		t.Helper()
		for i := 0; i < n; i += 1000 {
			err := s.db.Update(func(txn *badger.Txn) error {
				for j := i; j < i+1000 && j < n; j++ {
					e := badger.NewEntry([]byte(fmt.Sprintf("%s/%08d", prefix, j)), val)
					if ttl > 0 {
						e = e.WithTTL(ttl)
					}
					if err := txn.SetEntry(e); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	write("x", 60000, 2*time.Second)
	write("k", 60000, 0)
	levels := func() int {
		n := 0
		for _, l := range s.db.Levels() {
			if l.NumTables > 0 {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for levels() < 2 {
		if time.Now().After(deadline) {
			t.Skipf("badger kept its tables on %d level(s); nothing to compact down", levels())
		}
		write("k2", 20000, 0)
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond) // the x/ keys expire
	s.compactDown()
	if n := levels(); n != 1 {
		t.Fatalf("tables on %d levels after compactDown, want 1", n)
	}
	count := func(prefix string) int {
		n := 0
		_ = s.db.View(func(txn *badger.Txn) error {
			opt := badger.DefaultIteratorOptions
			opt.Prefix = []byte(prefix)
			opt.PrefetchValues = false
			it := txn.NewIterator(opt)
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			return nil
		})
		return n
	}
	if n := count("x/"); n != 0 {
		t.Fatalf("%d expired keys readable", n)
	}
	if n := count("k/"); n != 60000 {
		t.Fatalf("%d of 60000 live keys after compactDown", n)
	}
}
