package pgstore

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

// The tests need a PostgreSQL server: testkit starts one per test process
// from the binaries on this machine, or uses AGENTHOOK_PG_DSN.
func TestMain(m *testing.M) {
	code := m.Run()
	testkit.StopPostgres()
	os.Exit(code)
}

// TestConformance gives every sub-test a fresh database, copied from a
// template that has the schema already (copying is faster than migrating
// again; the migration itself is tested on empty databases elsewhere).
func TestConformance(t *testing.T) {
	template := migratedTemplate(t)
	storetest.Run(t, func(t *testing.T, c *storetest.Clock) store.Store {
		s, err := Open(context.Background(), Options{DSN: testkit.Patient(testkit.PostgresFrom(t, template)), Now: c.Now, SweepInterval: -1, Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// migratedTemplate returns the DSN of a database with the schema in place
// and nothing connected to it, to copy with testkit.PostgresFrom.
func migratedTemplate(t testing.TB) string {
	t.Helper()
	dsn := testkit.Postgres(t)
	s, err := Open(context.Background(), Options{DSN: dsn, SweepInterval: -1})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return dsn
}

// open opens a store on dsn with clock, closed when t ends.
func open(t testing.TB, dsn string, clock func() time.Time) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{DSN: dsn, Now: clock, SweepInterval: -1, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newTask(id, chat string) store.NewTask {
	return store.NewTask{Task: &store.Task{
		ID: id, Agent: "agent-a", ChatID: chat,
		Request: store.Request{Method: "POST", Path: "/p", Body: []byte("body of " + id)},
	}}
}

func mustCreate(t testing.TB, s *Store, id, chat string) *store.Task {
	t.Helper()
	c, err := s.CreateTask(context.Background(), newTask(id, chat))
	if err != nil {
		t.Fatalf("CreateTask(%s): %v", id, err)
	}
	return c.Task
}

// woken reports whether ch receives within d.
func woken(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
