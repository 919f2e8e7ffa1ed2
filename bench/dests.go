package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coupa-connector/coupa-connector/internal/pgtest"

	"github.com/coupa-connector/coupa-connector/dest"
	_ "github.com/coupa-connector/coupa-connector/dest/all" // the backends freshTargets names
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

// StagePage and StageLimit forward dest.StagedWriter, so that the engine writes as it does on the bare
// destination.
func (d *openedDest) StagePage(ctx context.Context, p *dest.Page) (dest.Staged, error) {
	return dest.Staging(d.Destination).StagePage(ctx, p)
}

func (d *openedDest) StageLimit() int { return dest.Staging(d.Destination).StageLimit() }

func (d *openedDest) Close() error {
	err := d.Destination.Close()
	d.cleanup()
	return err
}

// freshTargets make, for each of destKinds (the dest backend of that name), the target of a new, empty
// destination and what removes it after the run.
var freshTargets = map[string]func() (target string, cleanup func(), err error){
	"sqlite":   inTempDir("bench.db"),
	"parquet":  inTempDir("lake"),
	"postgres": freshPostgres,
}

// openDest opens an empty destination of kind, through dest's registry as `coupa sync` does. A URL is not
// needed: the harness's PostgreSQL DSN is in keyword/value form, which has no scheme to be told by.
func openDest(ctx context.Context, kind string) (*openedDest, error) {
	fresh, ok := freshTargets[kind]
	if !ok {
		return nil, fmt.Errorf("unknown destination %q: use one of %s", kind, strings.Join(destKinds, ", "))
	}
	target, cleanup, err := fresh()
	if err != nil {
		return nil, err
	}
	d, err := dest.URL{Backend: kind, Target: target}.Open(ctx)
	if err != nil {
		cleanup()
		return nil, err
	}
	return &openedDest{Destination: d, kind: kind, cleanup: cleanup}, nil
}

// inTempDir makes targets named name in a new temporary directory, removed on Close.
func inTempDir(name string) func() (string, func(), error) {
	return func() (string, func(), error) {
		dir, err := tempDir()
		if err != nil {
			return "", nil, err
		}
		return filepath.Join(dir, name), func() { os.RemoveAll(dir) }, nil
	}
}

// freshPostgres creates a new database on the harness's server.
func freshPostgres() (string, func(), error) {
	dsn, drop, err := newPostgresDatabase()
	if err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	return dsn, func() { drop() }, nil
}

// The throwaway PostgreSQL of this benchmark process: internal/pgtest's server, so that the figures
// compare with the destination's Go benchmark, started here without a *testing.M.
var pg struct {
	mu  sync.Mutex
	srv *pgtest.Server
	err error
	seq int
}

func newPostgresDatabase() (dsn string, drop func() error, err error) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.srv == nil && pg.err == nil {
		pg.srv, pg.err = pgtest.Start()
	}
	if pg.err != nil {
		return "", nil, pg.err
	}
	pg.seq++
	return pgtest.CreateDatabase(pg.srv.DSN(), fmt.Sprintf("bench_%d", pg.seq))
}

// stopPostgres stops the throwaway server if one was started.
func stopPostgres() {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.srv != nil {
		pg.srv.Stop()
		pg.srv = nil
	}
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
	srv := pg.srv
	pg.mu.Unlock()
	if srv == nil {
		return 0
	}
	pgid := srv.PID() // the postmaster
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
