// Package reliability is the suite that proves coupa's promises end to end with the real binary: kill -9 at
// any moment, flaky and hostile servers, moving data, bad input and secrets. RELIABILITY.md reports its figures.
package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/postgres"
	"github.com/coupa-connector/coupa-connector/dest/sqlite"
	"github.com/coupa-connector/coupa-connector/extract/extracttest"
	"github.com/coupa-connector/coupa-connector/internal/pgtest"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// coupaBin is the real binary, built once (without -race: the product under test runs as users run it).
var coupaBin string

func TestMain(m *testing.M) {
	// One fixed directory, the binary renamed into place: pgtest.Main exits without running deferred calls,
	// so a per-run temp dir would be left behind on every run; a rename is atomic even while another run
	// of this suite executes the previous binary.
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("coupa-reliability-%d", os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		panic(err)
	}
	tmp, err := os.CreateTemp(dir, "build-")
	if err != nil {
		panic(err)
	}
	tmp.Close()
	_, here, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/coupa")
	build.Dir = filepath.Dir(filepath.Dir(here))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.Remove(tmp.Name())
		panic("building coupa: " + err.Error())
	}
	coupaBin = filepath.Join(dir, "coupa")
	if err := os.Rename(tmp.Name(), coupaBin); err != nil {
		panic(err)
	}
	pgtest.Main(m)
}

// result is what one run of the binary produced.
type result struct {
	stdout, stderr string
	code           int
}

// lastLine is the final line of stderr, where the CLI prints its error.
func (r result) lastLine() string {
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	return lines[len(lines)-1]
}

// baseEnv is the environment every run gets: PATH and a private HOME, never the developer's COUPA_* variables.
func baseEnv(dir string, env []string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
}

// runCoupa runs the binary to completion in dir.
func runCoupa(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	return runCoupaIn(t, dir, env, "", args...)
}

// runCoupaIn is runCoupa with standard input.
func runCoupaIn(t *testing.T, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(coupaBin, args...)
	cmd.Dir = dir
	cmd.Env = baseEnv(dir, env)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running coupa %v: %v", args, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// killAfter starts the binary and SIGKILLs it after d unless it ends first; it reports whether the kill
// interrupted a running process (false: it finished by itself, and then with exit 0 or the test fails).
func killAfter(t *testing.T, dir string, env []string, d time.Duration, args ...string) bool {
	t.Helper()
	cmd := exec.Command(coupaBin, args...)
	cmd.Dir = dir
	cmd.Env = baseEnv(dir, env)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("coupa %v ended by itself with %v before the kill:\n%s", args, err, stderr.String())
		}
		return false
	case <-time.After(d):
		cmd.Process.Signal(syscall.SIGKILL)
		err := <-done
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return true
			}
		}
		if err != nil {
			t.Fatalf("coupa %v: %v\n%s", args, err, stderr.String())
		}
		return false
	}
}

// startSim serves a simulator without its rate limit unless the test sets one: the suite measures
// correctness, and throttling is a fault case of its own.
func startSim(t *testing.T, opts sim.Options) (*sim.Server, *httptest.Server) {
	t.Helper()
	if opts.Rate == 0 {
		opts.Rate = -1
	}
	return simtest.Start(t, opts)
}

// tablesOf looks catalog tables up by name.
func tablesOf(t *testing.T, names ...string) []*catalog.Table {
	t.Helper()
	tables, err := catalog.Select(names)
	if err != nil {
		t.Fatal(err)
	}
	return tables
}

// reader opens the warehouse a --dest value names, for comparison with the truth.
func reader(t *testing.T, destArg, dir string) (dest.Reader, func()) {
	t.Helper()
	switch {
	case strings.HasPrefix(destArg, "postgres://"):
		db, err := postgres.Open(context.Background(), destArg, postgres.Options{})
		if err != nil {
			t.Fatalf("opening the PostgreSQL warehouse: %v", err)
		}
		return db, func() { db.Close() }
	default:
		db, err := sqlite.Open(filepath.Join(dir, strings.TrimPrefix(destArg, "sqlite:")), dest.Options{})
		if err != nil {
			t.Fatalf("opening the SQLite warehouse: %v", err)
		}
		return db, func() { db.Close() }
	}
}

// diffTruth compares every table of the warehouse with the simulator: it returns every missing,
// duplicated, stale or extra row (at most 20 per table), and counts the live rows compared.
func diffTruth(t *testing.T, simURL, destArg, dir string, tables []*catalog.Table) []string {
	t.Helper()
	r, done := reader(t, destArg, dir)
	defer done()
	if p, ok := r.(interface {
		Prepare(context.Context, []*catalog.Table) error
	}); ok {
		if err := p.Prepare(context.Background(), tables); err != nil {
			t.Fatal(err)
		}
	}
	var diffs []string
	for _, tb := range tables {
		d, err := extracttest.Diff(context.Background(), simURL, r, tb, 20)
		if err != nil {
			t.Fatalf("comparing %s: %v", tb.Name, err)
		}
		diffs = append(diffs, d...)
	}
	return diffs
}

func assertTruth(t *testing.T, simURL, destArg, dir string, tables []*catalog.Table) {
	t.Helper()
	if d := diffTruth(t, simURL, destArg, dir, tables); len(d) > 0 {
		if len(d) > 30 {
			d = d[:30]
		}
		t.Fatalf("warehouse differs from the simulator (%d differences):\n%s", len(d), strings.Join(d, "\n"))
	}
}

// pgDest turns pgtest's keyword/value DSN into the postgres:// URL `coupa sync --dest` takes.
func pgDest(t *testing.T) string {
	t.Helper()
	kv := parseKV(pgtest.NewDatabase(t))
	u := url.URL{Scheme: "postgres", User: url.UserPassword(kv["user"], kv["password"]), Path: "/" + kv["dbname"]}
	q := url.Values{}
	if strings.HasPrefix(kv["host"], "/") {
		q.Set("host", kv["host"])
	} else {
		u.Host = kv["host"]
		if p := kv["port"]; p != "" {
			u.Host += ":" + p
		}
	}
	if p := kv["port"]; p != "" && strings.HasPrefix(kv["host"], "/") {
		q.Set("port", p)
	}
	if s := kv["sslmode"]; s != "" {
		q.Set("sslmode", s)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// parseKV reads a libpq keyword/value string (values optionally single-quoted); a later key wins.
func parseKV(s string) map[string]string {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimSpace(s[eq+1:])
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			i := 1
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			s = s[min(i+1, len(s)):]
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			val.WriteString(s[:end])
			s = s[end:]
		}
		out[key] = val.String()
	}
	return out
}

// assertCleanError checks that a failed command ended with one line naming the problem and no Go
// internals: no panic, no goroutine dump.
func assertCleanError(t *testing.T, name string, r result, wantCode int, wants ...string) {
	t.Helper()
	if r.code != wantCode {
		t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", name, r.code, wantCode, r.stdout, r.stderr)
		return
	}
	line := r.lastLine()
	if !strings.HasPrefix(line, "coupa: ") {
		t.Errorf("%s: the last line of stderr is not the error: %q", name, line)
	}
	for _, w := range wants {
		if !strings.Contains(strings.ToLower(line), strings.ToLower(w)) {
			t.Errorf("%s: error line %q does not mention %q", name, line, w)
		}
	}
	for _, bad := range []string{"panic", "goroutine ", ".go:", "runtime."} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("%s: stderr shows Go internals (%q):\n%.600s", name, bad, r.stderr)
			break
		}
	}
}

// truthRows counts the live parent records the simulator holds for tables: how many rows a comparison
// with the warehouse checked.
func truthRows(t *testing.T, s *sim.Server, tables []*catalog.Table) int {
	t.Helper()
	n := 0
	for _, tb := range tables {
		n += s.Count(tb.Resource)
	}
	return n
}
