package testkit

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPostgresCore drives the core that programs other than tests use:
// a server of their own, with settings, a database on it, and its drop.
func TestPostgresCore(t *testing.T) {
	srv, err := NewPostgresServer("shared_buffers=32MB")
	if errors.Is(err, ErrNoPostgres) {
		skipNoPostgres(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Remove()
		if _, err := os.Stat(srv.dir); !os.IsNotExist(err) {
			t.Errorf("Remove left %s behind", srv.dir)
		}
	}()
	dsn, name, err := CreateDatabase(srv.DSN(), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var db, buffers string
	if err := conn.QueryRow(ctx, "SELECT current_database(), current_setting('shared_buffers')").Scan(&db, &buffers); err != nil {
		t.Fatal(err)
	}
	if db != name || buffers != "32MB" {
		t.Fatalf("connected to %s with shared_buffers %s, want %s and the setting given", db, buffers, name)
	}
	if err := DropDatabase(srv.DSN(), name); err != nil {
		t.Fatalf("DropDatabase with a session open: %v", err)
	}
	conn.Close(ctx)
	if err := DropDatabase(srv.DSN(), "postgres"); err == nil {
		t.Fatalf("DropDatabase dropped a database testkit did not make")
	}
}
