package testkit

// PostgreSQL for tests.
//
// Postgres(t) hands each test a fresh, empty database. By default the
// databases live on one throwaway server per test process, started on first
// use from the PostgreSQL binaries found on this machine (initdb and
// postgres on PATH, else /usr/lib/postgresql/*/bin); set AGENTHOOK_PG_DSN
// to use an existing server instead (its user must be allowed to CREATE
// DATABASE). Tests that stop or kill the server use StartPostgres, which
// starts a server of their own.
//
// A package that calls Postgres stops the shared server from its TestMain:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		testkit.StopPostgres()
//		os.Exit(code)
//	}
//
// The server cannot be stopped from t.Cleanup, since the first test to use
// it ends long before the last one. Should a test process die without
// reaching StopPostgres, the kernel stops its servers anyway (they are
// started with a parent-death signal), and the next test process removes
// what they left behind (see sweepStale).
//
// Programs that are not tests (the benchmarks) use the same servers
// through the core that needs no testing.TB: NewPostgresServer, Remove,
// CreateDatabase and DropDatabase.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresDSNEnv names the environment variable with the DSN of an
// existing server to create test databases on.
const PostgresDSNEnv = "AGENTHOOK_PG_DSN"

// pgDirPrefix starts the names of the temporary directories of servers
// started here, so that leftovers can be found (sweepStale).
const pgDirPrefix = "agenthook-pg-"

// ErrNoPostgres means neither a DSN nor PostgreSQL binaries were found;
// tests skip rather than fail.
var ErrNoPostgres = errors.New("no PostgreSQL: set " + PostgresDSNEnv + " or install PostgreSQL (initdb, postgres)")

// PostgresServer is a PostgreSQL server run by the test process, in a
// temporary directory, on a loopback port.
type PostgresServer struct {
	dir  string // temporary directory; also holds the Unix socket
	data string // data directory
	bin  string // directory of initdb and postgres
	port int
	cred *syscall.Credential // the unprivileged user to run as, when root
	// settings are extra server settings, name=value, passed with -c
	// after the defaults (a later -c wins).
	settings []string

	mu     sync.Mutex
	proc   *os.Process
	exited chan struct{} // closed when proc has exited
}

var shared struct {
	mu  sync.Mutex
	srv *PostgresServer
	err error
}

var dbCounter atomic.Int64

// drops counts the DROP DATABASE statements under way.
var drops sync.WaitGroup

// Postgres returns the DSN of a fresh database, dropped (in the
// background) when t ends. Without PostgreSQL it skips the test, or fails
// it on CI (CI set), where a skip would hide that nothing was tested.
func Postgres(t testing.TB) string {
	t.Helper()
	admin, err := sharedAdminDSN()
	if errors.Is(err, ErrNoPostgres) {
		skipNoPostgres(t, err)
	}
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	return newDatabase(t, admin)
}

// StopPostgres stops the server that Postgres started, if any. Packages
// call it from TestMain after m.Run.
func StopPostgres() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil {
		// The databases are on a server that stays (AGENTHOOK_PG_DSN): let
		// the drops finish before the process exits.
		drops.Wait()
		return
	}
	shared.srv.Remove()
	shared.srv = nil
}

func skipNoPostgres(t testing.TB, err error) {
	t.Helper()
	// test.sh (and so CI) runs the whole suite: there, a missing server
	// is a failure, not a reason to test less.
	if os.Getenv("CI") != "" || os.Getenv("AGENTHOOK_REQUIRE_PG") != "" {
		t.Fatal(err)
	}
	t.Skip(err)
}

func sharedAdminDSN() (string, error) {
	if dsn := os.Getenv(PostgresDSNEnv); dsn != "" {
		return dsn, nil
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = NewPostgresServer()
	}
	if shared.err != nil {
		return "", shared.err
	}
	return shared.srv.DSN(), nil
}

// StartPostgres starts a server for t alone, removed when t ends, for tests
// that stop, restart or kill it. It skips the test if no PostgreSQL
// binaries are found.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	s, err := NewPostgresServer()
	if errors.Is(err, ErrNoPostgres) {
		skipNoPostgres(t, err)
	}
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(s.Remove)
	return s
}

// DSN is the superuser's DSN to the server's "postgres" database.
func (s *PostgresServer) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// NewDatabase returns the DSN of a fresh database on s, dropped in the
// background when t ends (if the server is up then).
func (s *PostgresServer) NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, s.DSN())
}

// Port is the server's TCP port on 127.0.0.1; it stays the same across
// restarts.
func (s *PostgresServer) Port() int { return s.port }

// Start starts the server again after Stop or Kill9 and waits until it
// accepts connections. It does nothing if the server runs.
func (s *PostgresServer) Start() error {
	s.mu.Lock()
	running := s.proc != nil
	if running {
		select {
		case <-s.exited: // it died on its own
			running, s.proc = false, nil
		default:
		}
	}
	s.mu.Unlock()
	if running {
		return nil
	}
	// After a kill -9, a backend the kill missed (one forked while the
	// backends were being listed) keeps the old shared memory attached
	// until it notices its postmaster is gone, and the new postmaster
	// refuses to start meanwhile. Try again for a few seconds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.launch()
		if err == nil || !strings.Contains(err.Error(), "pre-existing shared memory block") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop shuts the server down the fast way (open sessions are ended) and
// waits for it.
func (s *PostgresServer) Stop() error {
	return s.signal(syscall.SIGINT, false)
}

// Kill9 kills the server and its backends with SIGKILL, as a crash would:
// sessions end without PostgreSQL saying goodbye, and the next Start runs
// crash recovery.
func (s *PostgresServer) Kill9() error {
	return s.signal(syscall.SIGKILL, true)
}

func (s *PostgresServer) signal(sig syscall.Signal, all bool) error {
	s.mu.Lock()
	proc, exited := s.proc, s.exited
	s.proc = nil
	s.mu.Unlock()
	if proc == nil {
		return nil
	}
	// Backends call setsid, so the postmaster's process group does not
	// reach them: find them by parent before the postmaster dies and they
	// are handed to init.
	var children []int
	if all {
		children = childrenOf(proc.Pid)
	}
	if err := syscall.Kill(proc.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling postgres: %w", err)
	}
	for _, pid := range children {
		_ = syscall.Kill(pid, sig)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(proc.Pid, syscall.SIGKILL)
		<-exited
		return errors.New("postgres did not stop within 30s; killed it")
	}
	// The killed backends detach the shared memory only as they exit,
	// which the postmaster's exit does not wait for.
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range children {
		for running(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// running reports whether process pid exists and has not exited (unlike
// alive, a zombie has: it holds no memory, and init may never reap it in
// a container).
func running(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != "Z" && state != "X"
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, parent, ok := procStat(child); ok && parent == pid {
			out = append(out, child)
		}
	}
	return out
}

// procStat reads a process's state and its parent's pid from
// /proc/<pid>/stat; ok is false if there is no such process.
func procStat(pid int) (state string, parent int, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, false
	}
	// The fields after the command, which is in parentheses and may hold
	// spaces: state, then the parent's pid.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return "", 0, false
	}
	parent, err = strconv.Atoi(f[1])
	return f[0], parent, err == nil
}

// Remove stops the server (killing it if it does not stop) and deletes its
// directory. Tests leave this to StartPostgres and StopPostgres.
func (s *PostgresServer) Remove() {
	if err := s.Stop(); err != nil {
		_ = s.Kill9()
	}
	_ = os.RemoveAll(s.dir)
}

// NewPostgresServer initializes a data directory in a temporary directory
// and starts a server on it, on a free loopback port, for programs that
// are not tests; tests use Postgres or StartPostgres. settings are extra
// server settings, such as "shared_buffers=128MB". The caller removes the
// server with Remove. It returns ErrNoPostgres if this machine has no
// PostgreSQL binaries.
func NewPostgresServer(settings ...string) (*PostgresServer, error) {
	bin, err := findPostgres()
	if err != nil {
		return nil, err
	}
	sweepStale()
	dir, err := os.MkdirTemp("", pgDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("creating a directory for postgres: %w", err)
	}
	s := &PostgresServer{dir: dir, data: filepath.Join(dir, "data"), bin: bin, settings: settings}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	// The owner's pid tells a later test process whether this directory
	// is still in use (sweepStale).
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("writing owner.pid: %w", err)
	}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		if s.cred, err = postgresUser(); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, fmt.Errorf("handing %s to the postgres user: %w", dir, err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", s.data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// The port is free when picked but may be taken before postgres binds
	// it; try a few.
	for try := 0; ; try++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		err = s.launch()
		if err == nil || try == 2 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// launch starts postgres and waits until it accepts connections.
func (s *PostgresServer) launch() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the postgres log: %w", err)
	}
	defer logf.Close()
	args := []string{
		"-D", s.data,
		"-p", strconv.Itoa(s.port),
		"-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200",
		"-c", "shared_buffers=64MB",
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "log_min_messages=warning",
		"-c", "log_min_error_statement=panic",
	}
	for _, kv := range s.settings {
		args = append(args, "-c", kv)
	}
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		// The kernel sends the parent-death signal when the thread that
		// started the child ends, not the process; keep this thread alive
		// (locked, and never unlocked) for as long as the server runs.
		runtime.LockOSThread()
		cmd := exec.Command(filepath.Join(s.bin, "postgres"), args...)
		cmd.Dir = s.dir
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Setpgid:    true, // signals to the test's process group pass it by
			Credential: s.cred,
		}
		// Immediate shutdown if the test process dies.
		setPdeathsig(cmd.SysProcAttr, syscall.SIGQUIT)
		if err := cmd.Start(); err != nil {
			started <- err
			close(exited)
			return
		}
		s.mu.Lock()
		s.proc, s.exited = cmd.Process, exited
		s.mu.Unlock()
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			s.mu.Lock()
			s.proc = nil
			s.mu.Unlock()
			return fmt.Errorf("postgres exited at start:\n%s", s.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.DSN())
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		if time.Now().After(deadline) {
			_ = s.Kill9()
			return fmt.Errorf("postgres did not accept connections within 60s: %v\n%s", err, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logTail returns the end of the server's log, for error messages.
func (s *PostgresServer) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// PostgresFrom returns the DSN of a fresh database that starts as a copy
// of the database of template (a DSN that Postgres or NewDatabase
// returned), dropped in the background when t ends. Copying a database
// whose schema is in place is faster than building the schema again in
// every test. Nothing may be connected to the template while it is
// copied.
func PostgresFrom(t testing.TB, template string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(template)
	if err != nil {
		t.Fatalf("parsing the template DSN: %v", err)
	}
	if !validDBName(cfg.Database) {
		t.Fatalf("template database %q was not made by testkit", cfg.Database)
	}
	admin, err := withDatabase(template, "postgres")
	if err != nil {
		t.Fatalf("admin DSN: %v", err)
	}
	return createDatabase(t, admin, cfg.Database)
}

// newDatabase creates a database with a unique name through admin and
// returns its DSN.
func newDatabase(t testing.TB, admin string) string {
	t.Helper()
	return createDatabase(t, admin, "")
}

// validDBName accepts the names createDatabase makes, which are safe to
// put in SQL unquoted.
func validDBName(s string) bool {
	if !strings.HasPrefix(s, "agenthook_test_") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// createDatabase creates a database with a unique name through admin, as
// a copy of template if it is not empty, and returns its DSN. It is
// dropped when t ends.
func createDatabase(t testing.TB, admin, template string) string {
	t.Helper()
	dsn, name, err := CreateDatabase(admin, template)
	if err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		// Dropping takes a while and nothing waits for it, so it runs in
		// the background while the next test starts; StopPostgres waits
		// for the drops on a server it does not remove. A server that a
		// fault test stopped takes its databases with it, so errors are
		// ignored.
		drops.Add(1)
		go func() {
			defer drops.Done()
			_ = DropDatabase(admin, name)
		}()
	})
	return dsn
}

// CreateDatabase creates a database with a unique name through admin (a
// DSN of a user allowed to CREATE DATABASE), as a copy of the database
// named template if that is not empty, and returns its DSN and name.
// Nothing may be connected to the template while it is copied.
func CreateDatabase(admin, template string) (dsn, name string, err error) {
	if template != "" && !validDBName(template) {
		return "", "", fmt.Errorf("template database %q was not made by testkit", template)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name = fmt.Sprintf("agenthook_test_%d_%d_%s", os.Getpid(), dbCounter.Add(1), hex.EncodeToString(rnd[:]))
	create := "CREATE DATABASE " + name
	if template != "" {
		create += " TEMPLATE " + template
	}
	if err := adminExec(admin, create); err != nil {
		return "", "", err
	}
	if dsn, err = withDatabase(admin, name); err != nil {
		return "", "", fmt.Errorf("database DSN: %w", err)
	}
	return dsn, name, nil
}

// DropDatabase drops a database that CreateDatabase made, ending the
// sessions left open on it.
func DropDatabase(admin, name string) error {
	if !validDBName(name) {
		return fmt.Errorf("database %q was not made by testkit", name)
	}
	return adminExec(admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
}

func adminExec(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase points a URL or keyword/value DSN at another database.
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path = "/" + db
		u.RawPath = ""
		return u.String(), nil
	}
	// In keyword/value form, a later keyword wins.
	return dsn + " dbname=" + db, nil
}

// findPostgres returns the directory holding initdb and postgres: the one
// on PATH, else the newest under /usr/lib/postgresql.
func findPostgres() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

// postgresUser returns the credentials of the user "postgres", creating a
// system user of that name if there is none.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		out, uerr := exec.Command("useradd", "--system", "--no-create-home", "postgres").CombinedOutput()
		if uerr != nil {
			return nil, fmt.Errorf("creating the postgres user: %w\n%s", uerr, out)
		}
		if u, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("looking up the postgres user: %w", err)
		}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres user ids: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// sweepStale removes the servers and directories that dead test processes
// left behind: a directory whose owner.pid names a process that no longer
// exists is stale; its postmaster, if still running, is killed first.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), pgDirPrefix+"*"))
	for _, dir := range dirs {
		owner, err := readPid(filepath.Join(dir, "owner.pid"))
		if err != nil || alive(owner) {
			continue
		}
		if pm, err := readPid(filepath.Join(dir, "data", "postmaster.pid")); err == nil && alive(pm) && isPostgres(pm) {
			children := childrenOf(pm)
			_ = syscall.Kill(pm, syscall.SIGKILL)
			for _, pid := range children {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = os.RemoveAll(dir)
	}
}

// setPdeathsig sets SysProcAttr.Pdeathsig, which only Linux has; this
// file builds everywhere, and elsewhere sweepStale alone cleans up.
func setPdeathsig(attr *syscall.SysProcAttr, sig syscall.Signal) {
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.CanSet() {
		f.Set(reflect.ValueOf(sig))
	}
}

// readPid reads the number on the first line of a pid file.
func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// isPostgres guards against killing an unrelated process that reused a
// stale pid.
func isPostgres(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), "postgres")
}

// Patient gives a DSN a long connect timeout, for tests that are not about
// timeouts: under a busy race-detector run, the engine's own 2 s default
// can pass before a loaded PostgreSQL answers a new connection.
func Patient(dsn string) string {
	const secs = "30"
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		q := u.Query()
		q.Set("connect_timeout", secs)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " connect_timeout=" + secs
}
