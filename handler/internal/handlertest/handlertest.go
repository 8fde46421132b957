// Package handlertest holds what the tests of the handler packages share:
// a store on a fake clock and a backend made of a function.
package handlertest

import (
	"net/http"
	"testing"
	"time"

	"github.com/agenthook/agenthook/store/memstore"
)

// OpenStore returns an in-memory store on the clock now (a
// storetest.Clock's Now, or time.Now inside a synctest bubble); the
// test's cleanup closes it.
func OpenStore(t testing.TB, now func() time.Time) *memstore.Store {
	t.Helper()
	s := memstore.New(memstore.Options{Now: now})
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
