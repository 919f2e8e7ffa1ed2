// Package pgtest gives tests a throwaway PostgreSQL 15: one server per test binary (or COUPA_TEST_PG_DSN),
// one fresh database per test. PostgreSQL must start: a test that needs it fails, never skips.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) { dsn := pgtest.NewDatabase(t); ... }
package pgtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
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

// EnvDSN names the environment variable that points the tests at an existing server instead of a throwaway one.
// The role it names must be allowed to CREATE DATABASE.
const EnvDSN = "COUPA_TEST_PG_DSN"

// Password is the superuser password of the throwaway server. It exists so that tests can exercise a wrong
// password: a server with trust authentication would accept anything.
const Password = "pgtest-secret"

// binDirs is where Debian puts each PostgreSQL major version; the newest installed wins, PATH is the fallback.
const binDirs = "/usr/lib/postgresql/*/bin"

var (
	mu       sync.Mutex
	srv      *Server
	startErr error
	started  bool
	mainRan  bool
	dbSeq    atomic.Int64
)

// Server is a throwaway PostgreSQL 15 (fsync off, a unix socket in a temp dir, run as an unprivileged
// account when the process is root). Tests get one through Main/NewDatabase; the benchmark harness, which
// has no *testing.M, starts its own with Start.
type Server struct {
	dir  string    // temp dir holding data/ and the unix socket
	cmd  *exec.Cmd // the postmaster
	done chan struct{}
	dsn  string // admin DSN (database "postgres")
}

// Main runs the tests of m and stops the throwaway server afterwards (it is started lazily by the first
// NewDatabase, so a binary whose selected tests need no PostgreSQL pays nothing). It calls os.Exit.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with cleanup of its own to do: it returns the exit code instead of exiting
// (1 if the server could not be stopped).
func Run(m *testing.M) int {
	mu.Lock()
	mainRan = true
	mu.Unlock()
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// NewDatabaseURL is NewDatabase as a postgres:// URL, the only form some callers (coupa --dest) take.
func NewDatabaseURL(t testing.TB) string {
	t.Helper()
	u, err := asURL(NewDatabase(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// asURL turns a DSN of either form into a postgres:// URL.
func asURL(dsn string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return dsn, nil
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", fmt.Errorf("parse the PostgreSQL DSN: %w", err)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(cfg.User, cfg.Password), Path: "/" + cfg.Database}
	q := url.Values{}
	if strings.HasPrefix(cfg.Host, "/") {
		// A unix socket directory does not fit the URL's host part.
		q.Set("host", cfg.Host)
		q.Set("port", strconv.Itoa(int(cfg.Port)))
		q.Set("sslmode", "disable")
	} else {
		u.Host = net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// NewDatabase creates an empty database for t on the shared server, drops it when t ends, and returns its DSN
// (keyword/value form). It fails t with the reason when PostgreSQL cannot be started or reached.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin, err := adminDSN()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dsn, drop, err := CreateDatabase(admin, fmt.Sprintf("coupa_test_%d_%d", os.Getpid(), dbSeq.Add(1)))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return dsn
}

// CreateDatabase creates database name on the server of admin (the DSN of a database to connect to)
// and returns its DSN and how to drop it. The benchmark harness, which has no testing.TB, uses it too.
func CreateDatabase(admin, name string) (dsn string, drop func() error, err error) {
	ident := pgx.Identifier{name}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec1(ctx, admin, "CREATE DATABASE "+ident); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE: a test that failed half-way may still hold connections.
		if err := exec1(ctx, admin, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	if dsn, err = WithDatabase(admin, name); err != nil {
		drop()
		return "", nil, err
	}
	return dsn, drop, nil
}

// WithDatabase returns dsn (URL or keyword/value form) pointing at database name instead.
func WithDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvDSN, err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// In keyword/value form a later keyword wins over an earlier one.
	return strings.TrimSpace(dsn) + " dbname=" + quoteValue(name), nil
}

func quoteValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// adminDSN returns the DSN of a database the tests may CREATE DATABASE from, starting the server on first use.
func adminDSN() (string, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn, nil
	}
	mu.Lock()
	defer mu.Unlock()
	if !mainRan {
		return "", errors.New("the test binary must call pgtest.Main(m) from TestMain (it stops the server afterwards)")
	}
	if !started {
		started = true
		srv, startErr = start()
	}
	if startErr != nil {
		return "", startErr
	}
	return srv.dsn, nil
}

func exec1(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// tool finds a PostgreSQL binary in Debian's location for the newest version installed, else on PATH.
func tool(name string) (string, error) {
	found, _ := filepath.Glob(filepath.Join(binDirs, name))
	slices.SortFunc(found, func(a, b string) int { return cmp.Compare(pgMajor(a), pgMajor(b)) })
	if len(found) > 0 {
		return found[len(found)-1], nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL %s not found in %s nor on PATH: install postgresql (./test.sh does) or set %s", name, binDirs, EnvDSN)
	}
	return p, nil
}

// pgMajor reads the version out of /usr/lib/postgresql/N/bin/tool, so that 16 sorts after 9.
func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// credential returns the account to run PostgreSQL as: initdb and postgres refuse to run as root.
func credential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, os.Geteuid(), os.Getegid(), nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, uid, gid, nil
	}
	return nil, 0, 0, fmt.Errorf("running as root and neither the postgres nor the nobody account exists: create one or set %s", EnvDSN)
}

// Start initdbs and starts a server; Stop removes it.
func Start() (*Server, error) { return start() }

// DSN is the superuser DSN of the server (database "postgres").
func (s *Server) DSN() string { return s.dsn }

// PID is the postmaster's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop shuts the server down and removes its directory.
func (s *Server) Stop() error { return s.kill() }

func start() (*Server, error) {
	initdb, err := tool("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := tool("postgres")
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := credential()
	if err != nil {
		return nil, err
	}
	// A short path: the unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return fail(fmt.Errorf("chown %s to the postgres account: %w", dir, err))
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(Password+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if err := os.Chown(pwfile, uid, gid); err != nil {
		return fail(err)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "--pwfile", pwfile, "--auth", "scram-sha-256",
		"-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb failed: %v: %s", err, lastLine(out)))
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	cmd = exec.Command(postgres, "-D", data, "-k", dir, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB")
	// Pdeathsig: a test binary killed by its timeout must not leave a postmaster behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("start postgres: %w", err))
	}
	s := &Server{dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	s.dsn = fmt.Sprintf("host=%s port=5432 user=postgres password=%s dbname=postgres sslmode=disable", dir, Password)

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := exec1(ctx, s.dsn, "SELECT 1")
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logPath)
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres exited at start: %s", lastLine(log))
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			return nil, fmt.Errorf("postgres did not accept connections within 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server (fast shutdown, then SIGKILL) and removes its directory.
func (s *Server) kill() error {
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	return os.RemoveAll(s.dir)
}

func stop() error {
	mu.Lock()
	defer mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.kill()
	srv = nil
	return err
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
