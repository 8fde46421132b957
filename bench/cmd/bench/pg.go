package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/agenthook/agenthook/internal/testkit"
)

// PostgreSQL for the P2 and P7 figures. AGENTHOOK_PG_DSN names an existing
// server (its user must be allowed to CREATE DATABASE); otherwise the
// bench starts its own from the server binaries on the machine, as the
// tests do (internal/testkit: as the unprivileged user "postgres" when run
// as root), and removes it at the end.

var (
	pgAdminDSN string
	pgServer   *testkit.PostgresServer
)

func (e *env) setupPostgres() {
	if e.only != nil && !e.only["P2"] && !e.only["P7"] {
		return
	}
	if dsn := os.Getenv("AGENTHOOK_PG_DSN"); dsn != "" {
		pgAdminDSN = dsn
	} else if err := e.startPostgres(); err != nil {
		e.pgNote = "PostgreSQL figures skipped: " + err.Error()
		e.note("%s", e.pgNote)
		return
	}
	e.res.Machine.Postgres = cmdOut("psql", pgAdminDSN, "-Atc", "show server_version")
	// Does this build have the PostgreSQL store yet?
	storage, err := e.storageLine("postgres", "probe")
	if err != nil {
		e.pgNote = "PostgreSQL figures skipped: " + err.Error()
		e.note("%s", e.pgNote)
		return
	}
	e.pgDSN = pgAdminDSN
	c, err := e.startCaddy("pg-probe", p2Config(storage, "127.0.0.1:9", ""))
	if err != nil {
		e.pgDSN = ""
		if strings.Contains(err.Error(), "not available in this build") {
			e.pgNote = "PostgreSQL figures skipped: `storage postgres` is not available in this build yet"
		} else {
			e.pgNote = "PostgreSQL figures skipped: Caddy with `storage postgres` did not start: " + lastLines(err.Error(), 3)
		}
		e.note("%s", e.pgNote)
		return
	}
	c.kill()
}

func (e *env) startPostgres() error {
	// A bigger cache than the tests' server: the figures should not
	// measure cache misses.
	srv, err := testkit.NewPostgresServer("shared_buffers=128MB")
	if errors.Is(err, testkit.ErrNoPostgres) {
		return fmt.Errorf("no AGENTHOOK_PG_DSN and no PostgreSQL server binaries on this machine")
	}
	if err != nil {
		return err
	}
	pgServer, pgAdminDSN = srv, srv.DSN()
	e.logf("started PostgreSQL on 127.0.0.1:%d", srv.Port())
	return nil
}

func (e *env) stopPostgres() {
	if pgServer == nil {
		return
	}
	pgServer.Remove()
	pgServer = nil
}

// pgDatabase creates a fresh database for the scenario name and returns
// its DSN. The databases go with the server, or stay on a server of
// AGENTHOOK_PG_DSN.
func (e *env) pgDatabase(name string) (string, error) {
	if pgAdminDSN == "" {
		return "", fmt.Errorf("no PostgreSQL server")
	}
	dsn, db, err := testkit.CreateDatabase(pgAdminDSN, "")
	if err != nil {
		return "", fmt.Errorf("creating a database for %s: %w", name, err)
	}
	e.logf("database %s for %s", db, name)
	return dsn, nil
}
