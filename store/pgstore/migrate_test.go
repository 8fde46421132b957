package pgstore

import (
	"context"
	"sync"
	"testing"

	"github.com/agenthook/agenthook/internal/testkit"
)

func TestMigrationsEmbedded(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatalf("migrations: %v", err)
	}
	if len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("migrations = %v, want version 1 first", ms)
	}
	for i, m := range ms {
		if m.version != i+1 {
			t.Errorf("migration %s has version %d, want %d: versions must have no gaps", m.name, m.version, i+1)
		}
	}
}

// TestMigrateConcurrently opens several stores on one empty database at
// once, as instances starting together would: every Open succeeds and
// each migration is applied once.
func TestMigrateConcurrently(t *testing.T) {
	dsn := testkit.Postgres(t)
	const n = 6
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			stores[i], errs[i] = Open(context.Background(), Options{DSN: dsn, SweepInterval: -1, MaxConns: 2})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ms, _ := migrations()
	var rows, distinct int
	err := stores[0].Pool().QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT version) FROM agenthook_schema_migrations`).Scan(&rows, &distinct)
	if err != nil {
		t.Fatalf("reading agenthook_schema_migrations: %v", err)
	}
	if rows != len(ms) || distinct != len(ms) {
		t.Fatalf("agenthook_schema_migrations has %d rows (%d versions), want %d", rows, distinct, len(ms))
	}
	// Every instance works on the one schema.
	for i, s := range stores {
		mustCreate(t, s, "task-"+string(rune('a'+i)), "chat-1")
	}
	applied, err := migrate(context.Background(), stores[0].Pool())
	if err != nil || len(applied) != 0 {
		t.Fatalf("migrate on a migrated database = %v, %v; want nothing applied", applied, err)
	}
}

// TestTablesPrefixed checks that everything the schema creates is named
// agenthook_*, so that it can share a database with other applications.
func TestTablesPrefixed(t *testing.T) {
	s := open(t, testkit.Postgres(t), nil)
	rows, err := s.Pool().Query(context.Background(), `
		SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relname NOT LIKE 'agenthook\_%'`)
	if err != nil {
		t.Fatalf("listing relations: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		t.Errorf("relation %s is not prefixed with agenthook_", name)
	}
}
