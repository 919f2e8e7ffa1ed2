package reliability

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// TestCrashMatrix kills `coupa sync` with SIGKILL at seeded random instants, into SQLite and into
// PostgreSQL, while the data changes between attempts (updates, creates, deletes) and some attempts also
// reconcile deletes; after the resume the warehouse must equal the simulator: no row missing, doubled or
// stale. cmd/coupa's TestSyncSurvivesSIGKILL covers SQLite alone without deletes; this is the matrix.
func TestCrashMatrix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		backend string
		kills   int
		seed    uint64
	}{{"sqlite", 13, 1301}, {"postgres", 12, 1202}} {
		t.Run(tc.backend, func(t *testing.T) {
			t.Parallel()
			crashMatrix(t, tc.backend, tc.kills, tc.seed)
		})
	}
}

func crashMatrix(t *testing.T, backend string, wantKills int, seed uint64) {
	s, ts := startSim(t, sim.Options{Seed: int64(seed), Scale: 200, Latency: 3 * time.Millisecond})
	dir := t.TempDir()
	destArg := "sqlite:w.db"
	if backend == "postgres" {
		destArg = pgDest(t)
	}
	env := simtest.Env(s, ts)
	base := []string{"sync", "--dest", destArg, "--rate", "150", "--burst", "10", "-q"}

	// One uninterrupted run measures how long a full sync takes here, so that the kills spread over all of it.
	start := time.Now()
	if r := runCoupa(t, dir, env, append(base, "--full-refresh")...); r.code != 0 {
		t.Fatalf("first sync: exit %d\n%s", r.code, r.stderr)
	}
	full := time.Since(start)

	rng := rand.New(rand.NewPCG(seed, seed*7))
	kills, finished, reconciling := 0, 0, 0
	for attempt := 0; kills < wantKills && attempt < 3*wantKills; attempt++ {
		args := append(base, "--full-refresh")
		if rng.IntN(4) == 0 {
			args = append(args, "--reconcile-deletes")
		}
		// From just after start (auth, probes, schema) to the end of the run.
		delay := time.Duration(float64(full) * (0.03 + 0.97*rng.Float64()))
		if killAfter(t, dir, env, delay, args...) {
			kills++
			if len(args) > len(base)+1 {
				reconciling++
			}
		} else {
			finished++
		}
		mutateWorld(t, s, rng)
	}
	t.Logf("FIGURE crash %s: %d SIGKILLs survived (%d during delete reconciliation), %d attempts finished before their kill; full run %v",
		backend, kills, reconciling, finished, full.Round(time.Millisecond))
	if kills < wantKills {
		t.Fatalf("only %d of %d kills landed mid-run", kills, wantKills)
	}

	// The resume finishes the interrupted window; an incremental run with reconciliation then takes what
	// changed after that window's frozen upper bound.
	simtest.WaitPastChanges(t, s, "invoices", "suppliers", "requisitions")
	if r := runCoupa(t, dir, env, append(base, "--full-refresh")...); r.code != 0 {
		t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
	}
	if r := runCoupa(t, dir, env, append(base, "--reconcile-deletes")...); r.code != 0 {
		t.Fatalf("incremental run: exit %d\n%s", r.code, r.stderr)
	}
	diffs := diffTruth(t, ts.URL, destArg, dir, catalog.All())
	t.Logf("FIGURE crash %s: %d rows compared with the truth after resume; lost, doubled or stale: %d",
		backend, truthRows(t, s, catalog.All()), len(diffs))
	if len(diffs) > 0 {
		t.Fatalf("after %d kills the warehouse differs from the simulator:\n%s", kills, strings.Join(diffs, "\n"))
	}
}

// mutateWorld changes the simulated Coupa between attempts: an update, a create and sometimes a delete.
func mutateWorld(t *testing.T, s *sim.Server, rng *rand.Rand) {
	t.Helper()
	muts := []sim.Mutation{
		{Resource: "invoices", ID: int64(1 + rng.IntN(150)), Set: map[string]any{"status": "approved"}},
		{Resource: "suppliers", Create: true},
	}
	if rng.IntN(3) == 0 {
		muts = append(muts, sim.Mutation{Resource: "requisitions", ID: int64(1 + rng.IntN(40)), Delete: true})
	}
	for _, m := range muts {
		// A delete of an id already deleted is refused; that is not what is under test.
		if _, err := s.Mutate(m); err != nil && !m.Delete {
			t.Fatalf("Mutate %+v: %v", m, err)
		}
	}
}

// TestCrashDuringSchemaCreation kills the first sync into a new warehouse the moment it starts creating
// tables; the next run must accept the half-made warehouse as its own, finish it and match the truth.
func TestCrashDuringSchemaCreation(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			s, ts := startSim(t, sim.Options{Seed: 31, Scale: 40})
			env := simtest.Env(s, ts)
			rng := rand.New(rand.NewPCG(31, 13))
			var landed []int
			beforeCommit := 0
			for round := 0; round < 5; round++ {
				dir := t.TempDir()
				destArg, pgURL := "sqlite:w.db", ""
				if backend == "postgres" {
					destArg = pgDest(t)
					pgURL = destArg
				}
				args := []string{"sync", "--dest", destArg, "--rate", "1000", "-q"}
				n, killed := killWhenSchemaAppears(t, dir, env, pgURL, time.Duration(rng.IntN(12000))*time.Microsecond, args...)
				if killed {
					landed = append(landed, n)
					if n < len(catalog.All()) {
						beforeCommit++ // the schema's transaction had not committed
					}
				}
				// Reading the state of a half-made warehouse works, or says plainly there is none yet.
				if r := runCoupa(t, dir, nil, "state", "show", "--dest", destArg); r.code != 0 {
					assertCleanError(t, "state show after a kill during schema creation", r, 1, "run a sync first")
				}
				if r := runCoupa(t, dir, env, args...); r.code != 0 {
					t.Fatalf("the run after a kill during schema creation: exit %d\n%s", r.code, r.stderr)
				}
				assertTruth(t, ts.URL, destArg, dir, catalog.All())
			}
			t.Logf("FIGURE schema %s: %d kills while making a new warehouse, %d of them before the schema committed (tables committed at each kill: %v)",
				backend, len(landed), beforeCommit, landed)
			if beforeCommit < 2 {
				t.Fatalf("only %d of 5 kills landed before the schema committed", beforeCommit)
			}
		})
	}
}

// killWhenSchemaAppears starts the sync, waits until it begins to make its warehouse (the SQLite file
// exists; a PostgreSQL session of the database holds a transaction open), waits extra, and kills it. It
// returns how many tables were committed when the process died, and whether the kill interrupted it.
func killWhenSchemaAppears(t *testing.T, dir string, env []string, pgURL string, extra time.Duration, args ...string) (int, bool) {
	t.Helper()
	// Both backends create the schema in one transaction, so nothing shows until it commits: the signal
	// that creation has begun is the file, or the sync's session inside a transaction.
	started := func() bool {
		if pgURL != "" {
			return openTransactions(t, pgURL) > 0
		}
		_, err := os.Stat(filepath.Join(dir, "w.db"))
		return err == nil
	}
	cmd := exec.Command(coupaBin, args...)
	cmd.Dir = dir
	cmd.Env = baseEnv(dir, env)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			return 0, false
		default:
		}
		if started() || time.Now().After(deadline) {
			time.Sleep(extra)
			cmd.Process.Signal(syscall.SIGKILL)
			err := <-done
			ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			return countTables(t, dir, pgURL), err != nil && ws.Signaled()
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// openTransactions counts the other sessions of the database at pgURL that are inside a transaction.
func openTransactions(t *testing.T, pgURL string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pgURL)
	if err != nil {
		t.Fatalf("connecting to PostgreSQL: %v", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// countTables counts the tables of the SQLite file w.db in dir, or of the PostgreSQL database at pgURL.
func countTables(t *testing.T, dir, pgURL string) int {
	t.Helper()
	var n int
	if pgURL != "" {
		conn, err := pgx.Connect(context.Background(), pgURL)
		if err != nil {
			t.Fatalf("connecting to PostgreSQL: %v", err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	path := filepath.Join(dir, "w.db")
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return 0
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(1000)")
	if err != nil {
		return 0
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&n); err != nil {
		return 0 // locked mid-transaction: not yet visible
	}
	return n
}

// TestCrashDuringBulkCreate kills `coupa create` several times at seeded points of a bulk file and resumes
// from its results file each time: every row exists exactly once in Coupa at the end.
// cmd/coupa's TestBulkCreateKilledThenResumedMakesNoDuplicate kills once; this kills repeatedly, also
// before the first result line and during resumed runs.
func TestCrashDuringBulkCreate(t *testing.T) {
	t.Parallel()
	s, ts := startSim(t, sim.Options{Seed: 41, Scale: 40, Latency: 30 * time.Millisecond})
	env := simtest.Env(s, ts)
	dir := t.TempDir()
	before := s.Count("suppliers")
	const n = 45
	var in strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&in, `{"name":"Crash Supplier %02d","number":"CS-%02d"}`+"\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"create", "suppliers", "-f", "rows.jsonl", "--results", "results.jsonl", "--concurrency", "4"}
	rng := rand.New(rand.NewPCG(41, 14))
	kills := 0
	for attempt := 0; attempt < 5; attempt++ {
		// Seeded kill points, the first one before any answer can have come back.
		delay := time.Duration(rng.IntN(250)) * time.Millisecond
		if attempt == 0 {
			delay = 15 * time.Millisecond
		}
		if killAfter(t, dir, env, delay, args...) {
			kills++
		}
	}
	r := runCoupa(t, dir, env, args...)
	if r.code != 0 {
		t.Fatalf("the resumed bulk create: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("FIGURE bulk create: %d SIGKILLs survived", kills)
	if kills < 3 {
		t.Fatalf("only %d kills landed mid-run", kills)
	}
	counts := map[string]int{}
	recs, err := s.Snapshot("suppliers")
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if name, _ := rec["name"].(string); strings.HasPrefix(name, "Crash Supplier ") {
			counts[name]++
		}
	}
	for i := 1; i <= n; i++ {
		if name := fmt.Sprintf("Crash Supplier %02d", i); counts[name] != 1 {
			t.Errorf("%s exists %d times after %d kills and a resume, want once", name, counts[name], kills)
		}
	}
	if got := s.Count("suppliers"); got != before+n {
		t.Errorf("%d suppliers, want %d", got, before+n)
	}
}

// countRows counts the rows of table in the SQLite warehouse w.db in dir.
func countRows(t *testing.T, dir, table string) int {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatalf("counting %s: %v", table, err)
	}
	return n
}

// tryCountRows is countRows for a warehouse that may not exist yet or be busy: it answers 0 then.
func tryCountRows(dir, table string) int {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "w.db")+"?mode=ro&_pragma=busy_timeout(200)")
	if err != nil {
		return 0
	}
	defer db.Close()
	var n int
	if db.QueryRow(`SELECT count(*) FROM `+table).Scan(&n) != nil {
		return 0
	}
	return n
}
