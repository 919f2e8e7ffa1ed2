// Package duckdbtest runs SQL in a real DuckDB for tests, so that queries the documentation gives users are
// checked by the engine that will run them. DuckDB comes from npm (@duckdb/node-api) and runs under Node.
//
// DuckDB is not a Go dependency of the module: its Go binding needs cgo and a large binary. The npm package
// ships the native library prebuilt, so the first test installs it once into the user's cache directory and
// every later test binary reuses it. Node and npm must be on PATH and npm's registry reachable: a test that
// needs DuckDB fails with the reason when they are not, it never skips.
package duckdbtest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the exact @duckdb/node-api release the tests run; a new one is a new cache directory.
const Version = "1.5.6-r.1"

// EnvDir names the environment variable that overrides where the npm package is installed.
const EnvDir = "COUPA_TEST_DUCKDB_DIR"

// installTimeout bounds the one-time npm install (about 70 MB of prebuilt binaries).
const installTimeout = 10 * time.Minute

//go:embed query.cjs
var script string

// Result is what one statement returned. Values are as DuckDB renders them in JSON: BIGINT, HUGEINT and
// DECIMAL as strings (never through a float), INTEGER as a number, BOOLEAN as a bool, timestamps with a time
// zone as "2006-01-02 15:04:05.999999+00" text in UTC, NULL as nil.
type Result struct {
	Columns []string         `json:"columns"`
	Types   []string         `json:"types"`
	Rows    []map[string]any `json:"rows"`
}

var (
	mu         sync.Mutex
	installed  string // install directory once ready
	installErr error
)

// Query runs stmts in order in one fresh in-memory DuckDB and returns one Result per statement (statements
// without a result set, such as CREATE VIEW, give a Result without rows). It fails t when DuckDB cannot be
// installed or a statement fails, naming the statement.
func Query(t testing.TB, stmts ...string) []Result {
	t.Helper()
	res, err := QueryContext(context.Background(), stmts...)
	if err != nil {
		t.Fatalf("duckdb: %v", err)
	}
	return res
}

// QueryContext is Query returning the error instead of failing a test.
func QueryContext(ctx context.Context, stmts ...string) ([]Result, error) {
	dir, err := Install(ctx)
	if err != nil {
		return nil, err
	}
	in, err := json.Marshal(stmts)
	if err != nil {
		return nil, err
	}
	// With -e, require() resolves from the working directory: the install directory's node_modules.
	cmd := exec.CommandContext(ctx, "node", "-e", script)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, errors.New(msg)
	}
	dec := json.NewDecoder(&stdout)
	dec.UseNumber()
	var out []Result
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("the query script printed something that is not its JSON result: %v", err)
	}
	if len(out) != len(stmts) {
		return nil, fmt.Errorf("the query script returned %d results for %d statements", len(out), len(stmts))
	}
	return out, nil
}

// Install makes sure @duckdb/node-api Version is installed and loads, and returns its directory. The work is
// done once per machine: a lock file serialises test binaries running in parallel, and a marker written after
// a successful load tells later ones that the directory is complete.
func Install(ctx context.Context) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if installed != "" || installErr != nil {
		return installed, installErr
	}
	installed, installErr = install(ctx)
	if installErr != nil {
		installed = ""
	}
	return installed, installErr
}

func install(ctx context.Context) (string, error) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("%s is not on PATH: install Node.js 20 or later (apt-get install nodejs npm) to run the DuckDB tests", tool)
		}
	}
	dir, err := installDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("cannot create the DuckDB cache directory: %v", err)
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("cannot create the DuckDB install lock: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("cannot lock %s: %v", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	marker := filepath.Join(dir, ".coupa-ready")
	if _, err := os.Stat(marker); err == nil {
		return dir, nil
	}
	// A directory without the marker is a failed or interrupted install: start it again from nothing.
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("cannot clear the incomplete DuckDB install in %s: %v", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cannot create %s: %v", dir, err)
	}
	ictx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ictx, "npm", "install", "--no-save", "--no-audit", "--no-fund", "--no-package-lock",
		"--loglevel=error", "--prefix", dir, "@duckdb/node-api@"+Version)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("npm install @duckdb/node-api@%s into %s failed (%v): %s", Version, dir, err, lastLines(out, 3))
	}
	probe := exec.CommandContext(ictx, "node", "-e",
		`require('@duckdb/node-api').DuckDBInstance.create(':memory:').then(()=>process.stdout.write('ok'))`)
	probe.Dir = dir
	if out, err := probe.CombinedOutput(); err != nil || string(out) != "ok" {
		return "", fmt.Errorf("@duckdb/node-api@%s installed in %s but does not load (%v): %s", Version, dir, err, lastLines(out, 3))
	}
	if err := os.WriteFile(marker, []byte(Version+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("cannot mark the DuckDB install complete: %v", err)
	}
	return dir, nil
}

// installDir is EnvDir, or coupa-connector/duckdb-<Version> in the user's cache directory (the temp
// directory when there is none, e.g. without HOME).
func installDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return filepath.Abs(d)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "coupa-connector", "duckdb-"+Version), nil
}

// lastLines keeps the end of a tool's output on one line: that is where npm and node say what went wrong.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(strings.Fields(strings.Join(lines, " ")), " ")
}
