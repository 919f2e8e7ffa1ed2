package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/parquet"
	"github.com/coupa-connector/coupa-connector/dest/postgres"
	"github.com/coupa-connector/coupa-connector/dest/sqlite"
)

// destKinds are the destinations this harness can open.
var destKinds = []string{"sqlite", "postgres", "parquet"}

// openedDest is a fresh, empty destination for one run.
type openedDest struct {
	dest.Destination
	kind    string
	cleanup func()
}

// MaxID forwards dest.MaxIDer (see timedDest.MaxID).
func (d *openedDest) MaxID(ctx context.Context, table string) (int64, error) {
	return maxIDOf(ctx, d.Destination, table)
}

func (d *openedDest) Close() error {
	err := d.Destination.Close()
	d.cleanup()
	return err
}

// openDest opens an empty destination of kind.
func openDest(ctx context.Context, kind string) (*openedDest, error) {
	switch kind {
	case "sqlite":
		dir, err := tempDir()
		if err != nil {
			return nil, err
		}
		db, err := sqlite.Open(filepath.Join(dir, "bench.db"), dest.Options{})
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		return &openedDest{Destination: db, kind: kind, cleanup: func() { os.RemoveAll(dir) }}, nil
	case "parquet":
		dir, err := tempDir()
		if err != nil {
			return nil, err
		}
		lake, err := parquet.Open(filepath.Join(dir, "lake"), dest.Options{})
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		return &openedDest{Destination: lake, kind: kind, cleanup: func() { os.RemoveAll(dir) }}, nil
	case "postgres":
		dsn, drop, err := newPostgresDatabase(ctx)
		if err != nil {
			return nil, err
		}
		db, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			drop()
			return nil, err
		}
		return &openedDest{Destination: db, kind: kind, cleanup: drop}, nil
	}
	return nil, fmt.Errorf("unknown destination %q: use one of %s", kind, strings.Join(destKinds, ", "))
}

// The throwaway PostgreSQL of this benchmark process. It is started the way internal/pgtest starts one for
// tests (that package needs a *testing.M): PostgreSQL 15 as an unprivileged account, a unix socket in a
// temp dir, fsync off. The same settings make the figures comparable with the destination's Go benchmark.
var pg struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	dir  string
	dsn  string
	err  error
	seq  int
}

const pgBin = "/usr/lib/postgresql/15/bin"

// pgPassword only exists so that the server does not trust every local connection.
const pgPassword = "bench-pg"

func newPostgresDatabase(ctx context.Context) (dsn string, drop func(), err error) {
	pg.mu.Lock()
	if pg.cmd == nil && pg.err == nil {
		pg.err = startPostgres()
	}
	admin, perr := pg.dsn, pg.err
	pg.seq++
	name := fmt.Sprintf("bench_%d", pg.seq)
	pg.mu.Unlock()
	if perr != nil {
		return "", nil, perr
	}
	if err := pgExec(ctx, admin, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("postgres: create database: %w", err)
	}
	drop = func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pgExec(c, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return admin + " dbname=" + name, drop, nil
}

func pgExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func pgTool(name string) (string, error) {
	if p := filepath.Join(pgBin, name); fileExists(p) {
		return p, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("postgres: %s not found in %s nor on PATH; install postgresql-15 or leave postgres out of -dests", name, pgBin)
	}
	return p, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// startPostgres runs initdb and the postmaster; pg.mu is held.
func startPostgres() error {
	initdb, err := pgTool("initdb")
	if err != nil {
		return err
	}
	server, err := pgTool("postgres")
	if err != nil {
		return err
	}
	var cred *syscall.Credential
	uid, gid := os.Geteuid(), os.Getegid()
	if uid == 0 { // initdb refuses root
		for _, name := range []string{"postgres", "nobody"} {
			u, err := user.Lookup(name)
			if err != nil {
				continue
			}
			uid, _ = strconv.Atoi(u.Uid)
			gid, _ = strconv.Atoi(u.Gid)
			cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
			break
		}
		if cred == nil {
			return fmt.Errorf("postgres: running as root and no postgres or nobody account to run PostgreSQL as")
		}
	}
	dir, err := os.MkdirTemp("", "bench-pg-")
	if err != nil {
		return err
	}
	fail := func(err error) error { os.RemoveAll(dir); return err }
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(pgPassword+"\n"), 0o600); err != nil {
		return fail(err)
	}
	for _, p := range []string{dir, pw} {
		if err := os.Chown(p, uid, gid); err != nil {
			return fail(fmt.Errorf("postgres: chown %s: %w", p, err))
		}
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "--pwfile", pw, "--auth", "scram-sha-256",
		"-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("postgres: initdb: %v: %s", err, strings.TrimSpace(string(out))))
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	cmd = exec.Command(server, "-D", data, "-k", dir, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=100", "-c", "shared_buffers=64MB")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("postgres: start: %w", err))
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	pg.cmd, pg.done, pg.dir = cmd, done, dir
	pg.dsn = fmt.Sprintf("host=%s port=5432 user=postgres password=%s dbname=postgres sslmode=disable", dir, pgPassword)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := pgExec(ctx, pg.dsn, "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			pg.cmd = nil
			return fail(fmt.Errorf("postgres exited at start; see its log"))
		default:
		}
		if time.Now().After(deadline) {
			stopPostgresLocked()
			return fmt.Errorf("postgres did not accept connections within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopPostgres stops the throwaway server if one was started.
func stopPostgres() {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	stopPostgresLocked()
}

func stopPostgresLocked() {
	if pg.cmd == nil {
		return
	}
	pg.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-pg.done:
	case <-time.After(10 * time.Second):
		pg.cmd.Process.Kill()
		<-pg.done
	}
	os.RemoveAll(pg.dir)
	pg.cmd = nil
}

// procCPU is the CPU time of process pid (and, with reaped, its waited-for children) from /proc/PID/stat.
func procCPU(pid int, reaped bool) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0
	}
	fields := []int{11, 12}
	if reaped {
		fields = append(fields, 13, 14)
	}
	var ticks int64
	for _, k := range fields {
		n, _ := strconv.ParseInt(f[k], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

// postgresCPU is the CPU time used so far by the PostgreSQL server's processes (the postmaster and its
// children), read from /proc (live processes, plus the reaped backends counted in the postmaster's child times);
// zero when no server runs.
func postgresCPU() time.Duration {
	pg.mu.Lock()
	cmd := pg.cmd
	pg.mu.Unlock()
	if cmd == nil {
		return 0
	}
	pgid := cmd.Process.Pid // the postmaster
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses and may hold spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		// f[0]=state f[1]=ppid ... f[11]=utime f[12]=stime (fields 14 and 15 of stat). Every backend is a
		// child of the postmaster; they call setsid, so the process group does not find them.
		if len(f) < 13 || (e.Name() != strconv.Itoa(pgid) && f[1] != strconv.Itoa(pgid)) {
			continue
		}
		for _, k := range []int{11, 12} {
			n, _ := strconv.ParseInt(f[k], 10, 64)
			ticks += n
		}
		if e.Name() == strconv.Itoa(pgid) && len(f) >= 15 {
			// The postmaster's cutime/cstime hold the backends it has already reaped.
			for _, k := range []int{13, 14} {
				n, _ := strconv.ParseInt(f[k], 10, 64)
				ticks += n
			}
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}
