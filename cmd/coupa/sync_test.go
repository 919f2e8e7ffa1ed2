package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/sqlite"
	"github.com/coupa-connector/coupa-connector/extract/extracttest"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// assertWarehouseIsTruth opens the SQLite warehouse at path and compares every table with the simulator.
func assertWarehouseIsTruth(t *testing.T, simURL, path string, tables []*catalog.Table) {
	t.Helper()
	db, err := sqlite.Open(path, dest.Options{})
	if err != nil {
		t.Fatalf("opening the warehouse: %v", err)
	}
	defer db.Close()
	if err := db.Prepare(context.Background(), tables); err != nil {
		t.Fatal(err)
	}
	var diffs []string
	for _, tb := range tables {
		d, err := extracttest.Diff(context.Background(), simURL, db, tb, 5)
		if err != nil {
			t.Fatalf("comparing %s: %v", tb.Name, err)
		}
		diffs = append(diffs, d...)
	}
	if len(diffs) > 0 {
		t.Fatalf("warehouse differs from the simulator:\n%s", strings.Join(diffs, "\n"))
	}
}

func TestSyncCommandMatchesSimulator(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 5, Scale: 150, Rate: -1})
	dir := t.TempDir()
	res := runCoupa(t, dir, simtest.Env(s, ts), "sync", "--dest", "sqlite:w.db", "--rate", "1000", "--burst", "100", "-o", "json")
	if res.code != 0 {
		t.Fatalf("sync exit %d\nstderr: %s", res.code, res.stderr)
	}
	var doc summaryJSON
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, res.stdout)
	}
	if doc.Status != "ok" || len(doc.Tables) != len(catalog.All()) || doc.Seconds <= 0 || doc.RunID == 0 {
		t.Fatalf("summary %+v", doc)
	}
	var rows, requests int64
	for _, r := range doc.Tables {
		rows += int64(r.New)
		requests += r.Requests
	}
	if rows == 0 || requests == 0 {
		t.Fatalf("summary counts nothing: %+v", doc)
	}
	assertWarehouseIsTruth(t, ts.URL, filepath.Join(dir, "w.db"), catalog.All())

	// The table summary names every table with its counts, and state show reports cursors.
	res = runCoupa(t, dir, simtest.Env(s, ts), "sync", "--dest", "w.db", "--tables", "invoices,suppliers", "--rate", "1000")
	if res.code != 0 || !strings.Contains(res.stdout, "invoices") || !strings.Contains(res.stdout, "REQUESTS") {
		t.Fatalf("second sync exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	res = runCoupa(t, dir, nil, "state", "show", "--dest", "w.db", "-o", "json")
	var states []stateRow
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &states) != nil || len(states) != len(catalog.All()) {
		t.Fatalf("state show exit %d: %s %s", res.code, res.stdout, res.stderr)
	}
	for _, st := range states {
		if st.Cursor == "" || st.Window != nil {
			t.Fatalf("state of %s after a complete sync: %+v", st.Table, st)
		}
	}
	res = runCoupa(t, dir, nil, "state", "reset", "invoices", "--dest", "w.db")
	if res.code != 0 {
		t.Fatalf("state reset: %d %s", res.code, res.stderr)
	}
	res = runCoupa(t, dir, nil, "state", "show", "--dest", "w.db", "-o", "json")
	states = nil
	json.Unmarshal([]byte(res.stdout), &states)
	if slices.ContainsFunc(states, func(s stateRow) bool { return s.Table == "invoices" }) || len(states) != len(catalog.All())-1 {
		t.Fatalf("after reset invoices, state show lists %+v", states)
	}
}

// Kill -9 the sync at seeded random moments, resume each time; the warehouse must end equal to the
// simulator with no duplicate and no missing row.
func TestSyncSurvivesSIGKILL(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 9, Scale: 250, Rate: -1, Latency: 3 * time.Millisecond})
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(42, 4242))
	env := simtest.Env(s, ts)
	args := []string{"sync", "--dest", "sqlite:w.db", "--rate", "60", "--burst", "10", "-q", "--full-refresh"}
	midRun, openWindows := 0, 0
	for attempt := 0; (midRun < 12 || openWindows < 6) && attempt < 40; attempt++ {
		cmd := coupaCommand(dir, env, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		delay := time.Duration(100+rng.IntN(1400)) * time.Millisecond
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("attempt %d ended by itself with %v", attempt, err)
			}
		case <-time.After(delay):
			cmd.Process.Signal(syscall.SIGKILL)
			if err := <-done; err != nil {
				midRun++
				if hasOpenWindow(t, dir) {
					openWindows++
				}
			}
		}
		if attempt%3 == 2 {
			// The world moves between attempts too.
			if _, err := s.Mutate(sim.Mutation{Resource: "invoices", ID: int64(attempt + 1), Set: map[string]any{"status": "approved"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Mutate(sim.Mutation{Resource: "suppliers", Create: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d kills mid-run, %d of them inside an open window", midRun, openWindows)
	if midRun < 10 || openWindows < 5 {
		t.Fatalf("only %d kills landed mid-run, %d inside a window", midRun, openWindows)
	}
	// Finish the interrupted window, then one incremental run takes what changed since its frozen bound.
	time.Sleep(1100 * time.Millisecond)
	for _, a := range [][]string{args, {"sync", "--dest", "sqlite:w.db", "--rate", "1000", "-q"}} {
		res := runCoupa(t, dir, simtest.Env(s, ts), a...)
		if res.code != 0 {
			t.Fatalf("%v: exit %d %s", a, res.code, res.stderr)
		}
	}
	assertWarehouseIsTruth(t, ts.URL, filepath.Join(dir, "w.db"), catalog.All())
}

func TestSyncInterruptedBySIGINT(t *testing.T) {
	// 3000 invoices at 30 requests/s: about 25 probes then 60 pages, so the signal lands inside the window.
	s, ts := simtest.Start(t, sim.Options{Seed: 2, Scale: 3000, Rate: -1, Latency: 10 * time.Millisecond})
	dir := t.TempDir()
	cmd := coupaCommand(dir, simtest.Env(s, ts), "sync", "--dest", "sqlite:w.db", "--tables", "invoices", "--rate", "30", "--burst", "5")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1800 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit code %d (%v), want 130\n%s", code, err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("stderr does not say interrupted:\n%s", stderr.String())
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	var status string
	err = db.QueryRow(`SELECT status FROM _coupa_runs ORDER BY rowid DESC LIMIT 1`).Scan(&status)
	db.Close()
	if err != nil || status != "interrupted" {
		t.Fatalf("last run status %q (%v), want interrupted", status, err)
	}
	res := runCoupa(t, dir, nil, "state", "show", "--dest", "w.db")
	if res.code != 0 || !strings.Contains(res.stdout, "beginning ..") {
		t.Fatalf("state show after the interrupt: exit %d, want an open window\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = runCoupa(t, dir, simtest.Env(s, ts), "sync", "--dest", "sqlite:w.db", "--tables", "invoices", "--rate", "1000", "-o", "json")
	if res.code != 0 || !strings.Contains(res.stdout, `"resumed": true`) {
		t.Fatalf("resume: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	inv, _ := catalog.Lookup("invoices")
	assertWarehouseIsTruth(t, ts.URL, filepath.Join(dir, "w.db"), []*catalog.Table{inv})
}

func TestSyncMissingScopeIsPartial(t *testing.T) {
	granted := slices.DeleteFunc(catalog.Scopes(catalog.All()), func(s string) bool { return s == "core.invoice.read" })
	s, ts := simtest.Start(t, sim.Options{Seed: 4, Scale: 40, Rate: -1, Clients: []sim.Client{{ID: "limited", Secret: "limited-secret", Scopes: granted}}})
	dir := t.TempDir()
	env := []string{"COUPA_HOST=" + ts.URL, "COUPA_CLIENT_ID=limited", "COUPA_CLIENT_SECRET=limited-secret",
		"COUPA_SCOPES=" + strings.Join(granted, " ")}
	res := runCoupa(t, dir, env, "sync", "--dest", "w.db", "--tables", "invoices,suppliers", "--rate", "1000")
	if res.code != 2 {
		t.Fatalf("exit %d, want 2 (partial)\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout+res.stderr, "core.invoice.read") {
		t.Fatalf("output does not name the missing scope:\n%s\n%s", res.stdout, res.stderr)
	}
	sup, _ := catalog.Lookup("suppliers")
	assertWarehouseIsTruth(t, ts.URL, filepath.Join(dir, "w.db"), []*catalog.Table{sup})
	_ = s
}

func TestSyncBadInput(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 1, Scale: 20, Rate: -1})
	dir := t.TempDir()
	env := simtest.Env(s, ts)

	res := runCoupa(t, dir, env, "sync", "--dest", "w.db", "--tables", "invoices,invoicez")
	if res.code != exitUsage || !strings.Contains(res.stderr, "invoicez") || !strings.Contains(res.stderr, "purchase_orders") {
		t.Fatalf("unknown table: exit %d\n%s", res.code, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "w.db")); err == nil {
		t.Fatal("a warehouse was created although the command line was wrong")
	}

	res = runCoupa(t, dir, env, "sync", "--dest", "sqlite:"+filepath.Join(dir, "no", "such", "dir", "w.db"))
	if res.code != exitError || !strings.Contains(errorLine(res.stderr), "does not exist") || !strings.Contains(errorLine(res.stderr), "w.db") {
		t.Fatalf("unwritable dest: exit %d\n%s", res.code, res.stderr)
	}

	res = runCoupa(t, dir, env, "sync", "--dest", "ftp://example.com/x")
	if res.code != exitUsage || !strings.Contains(res.stderr, "sqlite:PATH") {
		t.Fatalf("unknown dest kind: exit %d\n%s", res.code, res.stderr)
	}

	// Someone else's SQLite database: refused, and left exactly as it was.
	foreign := filepath.Join(dir, "theirs.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT); INSERT INTO accounts VALUES (1, 'them')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(foreign)
	res = runCoupa(t, dir, env, "sync", "--dest", "sqlite:theirs.db")
	if res.code != exitError || !strings.Contains(strings.ToLower(res.stderr), "coupa") {
		t.Fatalf("foreign database: exit %d\n%s", res.code, res.stderr)
	}
	if after, _ := os.ReadFile(foreign); string(after) != string(before) {
		t.Fatal("the foreign database was modified")
	}

	// A text file is not a warehouse either.
	notes := filepath.Join(dir, "notes.db")
	os.WriteFile(notes, []byte("shopping list\n"), 0o644)
	res = runCoupa(t, dir, env, "sync", "--dest", "notes.db")
	if res.code != exitError {
		t.Fatalf("text file as dest: exit %d\n%s", res.code, res.stderr)
	}
	if b, _ := os.ReadFile(notes); string(b) != "shopping list\n" {
		t.Fatal("the text file was modified")
	}

	res = runCoupa(t, dir, nil, "state", "show", "--dest", "missing.db")
	if res.code != exitError || !strings.Contains(res.stderr, "no warehouse") {
		t.Fatalf("state show on a missing file: exit %d\n%s", res.code, res.stderr)
	}
	res = runCoupa(t, dir, nil, "state", "reset", "invoicez", "--dest", "missing.db")
	if res.code != exitUsage || !strings.Contains(res.stderr, "invoices") {
		t.Fatalf("state reset of an unknown table: exit %d\n%s", res.code, res.stderr)
	}
}

func TestParseDest(t *testing.T) {
	for in, want := range map[string]destSpec{
		"sqlite:coupa.db":         {"sqlite", "coupa.db"},
		"sqlite:///tmp/x.db":      {"sqlite", "/tmp/x.db"},
		"warehouse.sqlite3":       {"sqlite", "warehouse.sqlite3"},
		"/abs/path/w.db":          {"sqlite", "/abs/path/w.db"},
		"postgres://u@h/db":       {"postgres", "postgres://u@h/db"},
		"postgresql://u:p@h:5/db": {"postgres", "postgresql://u:p@h:5/db"},
		"parquet:./out":           {"parquet", "./out"},
	} {
		got, err := parseDest(in)
		if err != nil || got != want {
			t.Errorf("parseDest(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "sqlite:", "parquet:", "mysql://x", "coupa"} {
		if _, err := parseDest(bad); err == nil {
			t.Errorf("parseDest(%q) accepted", bad)
		}
	}
	if s := (destSpec{"postgres", "postgres://u:secret@h/db"}).String(); strings.Contains(s, "secret") {
		t.Errorf("destSpec.String leaks the DSN: %s", s)
	}
}

// hasOpenWindow reports whether the warehouse in dir holds an unfinished window (what a kill should leave).
func hasOpenWindow(t *testing.T, dir string) bool {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "w.db")); err != nil {
		return false
	}
	res := runCoupa(t, dir, nil, "state", "show", "--dest", "w.db", "-o", "json")
	var states []stateRow
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &states) != nil {
		t.Fatalf("state show after a kill: exit %d %s", res.code, res.stderr)
	}
	return slices.ContainsFunc(states, func(s stateRow) bool { return s.Window != nil })
}

// A state written by a newer coupa is refused with a one-line error, and nothing committed is touched.
func TestSyncRefusesNewerState(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 6, Scale: 30, Rate: -1})
	dir := t.TempDir()
	if res := runCoupa(t, dir, simtest.Env(s, ts), "sync", "--dest", "w.db", "--tables", "invoices", "--rate", "1000", "-q"); res.code != 0 {
		t.Fatalf("first sync: %d %s", res.code, res.stderr)
	}
	db := openSQL(t, filepath.Join(dir, "w.db"))
	if _, err := db.Exec(`UPDATE _coupa_state SET version = 99 WHERE table_name = 'invoices'`); err != nil {
		t.Fatal(err)
	}
	var before int
	db.QueryRow(`SELECT COUNT(*) FROM invoices`).Scan(&before)
	db.Close()
	res := runCoupa(t, dir, simtest.Env(s, ts), "sync", "--dest", "w.db", "--tables", "invoices", "--rate", "1000", "-q")
	if res.code != exitError || !strings.Contains(errorLine(res.stderr), "version 99") {
		t.Fatalf("newer state: exit %d, want 1 with a one-line error naming the version\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	db = openSQL(t, filepath.Join(dir, "w.db"))
	defer db.Close()
	var after, version int
	db.QueryRow(`SELECT COUNT(*) FROM invoices`).Scan(&after)
	db.QueryRow(`SELECT version FROM _coupa_state WHERE table_name = 'invoices'`).Scan(&version)
	if after != before || before != 30 || version != 99 {
		t.Fatalf("rows %d -> %d, state version %d: the refused run changed the warehouse", before, after, version)
	}
}

// errorLine is the final line of a command's stderr: where run prints the error.
func errorLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestSyncPrefix(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 12, Scale: 25, Rate: -1})
	dir := t.TempDir()
	res := runCoupa(t, dir, simtest.Env(s, ts), "sync", "--dest", "w.db", "--tables", "invoices", "--prefix", "cz_", "--rate", "1000", "-q")
	if res.code != 0 {
		t.Fatalf("exit %d %s", res.code, res.stderr)
	}
	db := openSQL(t, filepath.Join(dir, "w.db"))
	defer db.Close()
	var inv, lines int
	if err := db.QueryRow(`SELECT (SELECT COUNT(*) FROM cz_invoices), (SELECT COUNT(*) FROM cz_invoice_lines)`).Scan(&inv, &lines); err != nil {
		t.Fatalf("prefixed tables: %v", err)
	}
	if inv != 25 || lines == 0 {
		t.Fatalf("cz_invoices %d rows, cz_invoice_lines %d", inv, lines)
	}
	var plain int
	db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'invoices'`).Scan(&plain)
	if plain != 0 {
		t.Fatal("an unprefixed invoices table was created")
	}
}

// summaryJSON is the documented shape of `coupa sync -o json`, as a script reads it.
type summaryJSON struct {
	RunID   int64   `json:"run_id"`
	Status  string  `json:"status"`
	Seconds float64 `json:"seconds"`
	Tables  []struct {
		Table    string  `json:"table"`
		Status   string  `json:"status"`
		New      int     `json:"new"`
		Updated  int     `json:"updated"`
		Requests int64   `json:"requests"`
		Seconds  float64 `json:"seconds"`
	} `json:"tables"`
}
