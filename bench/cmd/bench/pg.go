package main

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PostgreSQL for the P2 figures. AGENTHOOK_PG_DSN names an existing
// server (its user must be allowed to CREATE DATABASE); otherwise the
// bench starts its own from the server binaries on the machine, as the
// unprivileged user "postgres" when run as root, and stops it at the end.
//
// TODO(issue 7): once internal/testkit/postgres.go offers a server
// starter usable outside tests, use it here instead of this copy.

var (
	pgAdminDSN string
	pgDataDir  string
	pgCtl      string
	pgCred     *syscall.Credential
)

func findPGBin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1]
	}
	return ""
}

func (e *env) setupPostgres() {
	if e.only != nil && !e.only["P2"] {
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
	initdb, pgctl := findPGBin("initdb"), findPGBin("pg_ctl")
	if initdb == "" || pgctl == "" {
		return fmt.Errorf("no AGENTHOOK_PG_DSN and no initdb/pg_ctl on this machine")
	}
	dir, err := filepath.Abs(filepath.Join(e.out, "pg"))
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root and there is no user postgres to run the server as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pgCred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
	}
	run := func(bin string, args ...string) error {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pgCred}
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", filepath.Base(bin), err, lastLines(string(out), 5))
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run(initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"); err != nil {
		return err
	}
	port := freePort()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=128MB", port, dir)
	if err := run(pgctl, "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start"); err != nil {
		return err
	}
	pgDataDir, pgCtl = data, pgctl
	pgAdminDSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	e.logf("started PostgreSQL on 127.0.0.1:%d (data in %s)", port, data)
	return nil
}

func (e *env) stopPostgres() {
	if pgDataDir == "" {
		return
	}
	cmd := exec.Command(pgCtl, "-D", pgDataDir, "-m", "immediate", "-w", "-t", "30", "stop")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pgCred}
	_ = cmd.Run()
	_ = os.RemoveAll(filepath.Dir(pgDataDir))
	pgDataDir = ""
}

// pgDatabase creates a fresh database and returns its DSN.
func (e *env) pgDatabase(name string) (string, error) {
	if pgAdminDSN == "" {
		return "", fmt.Errorf("no PostgreSQL server")
	}
	db := fmt.Sprintf("agenthook_bench_%s_%d", name, time.Now().UnixNano()%1e9)
	if out, err := exec.Command("psql", pgAdminDSN, "-v", "ON_ERROR_STOP=1", "-qc", "CREATE DATABASE "+db).CombinedOutput(); err != nil {
		return "", fmt.Errorf("creating database %s: %v: %s", db, err, out)
	}
	u, err := url.Parse(pgAdminDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// key=value form
		return pgAdminDSN + " dbname=" + db, nil
	}
	u.Path = "/" + db
	return u.String(), nil
}
