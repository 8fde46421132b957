// Package handlertest holds what the tests of the handler packages share:
// a store on a fake clock and a backend made of a function.
package handlertest

import (
	"net/http"
	"testing"

	"github.com/agenthook/agenthook/store/badger"
	"github.com/agenthook/agenthook/store/storetest"
)

// OpenStore opens a Badger store in a temporary directory on clock; the
// test's cleanup closes it.
func OpenStore(t testing.TB, clock *storetest.Clock) *badger.Store {
	t.Helper()
	s, err := badger.Open(badger.Options{Dir: t.TempDir(), Now: clock.Now, GCInterval: -1})
	if err != nil {
		t.Fatalf("badger.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// BackendFunc is a handler.Backend made of a function.
type BackendFunc func(w http.ResponseWriter, r *http.Request) error

// Forward implements handler.Backend.
func (f BackendFunc) Forward(w http.ResponseWriter, r *http.Request) error { return f(w, r) }
