package main

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest/postgres"
	"github.com/coupa-connector/coupa-connector/extract/extracttest"
	"github.com/coupa-connector/coupa-connector/internal/pgtest"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// pgTablesBySchema lists every user table of the database at dsn as schema -> sorted table names.
func pgTablesBySchema(t *testing.T, dsn string) map[string][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to the warehouse: %v", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for rows.Next() {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			t.Fatal(err)
		}
		out[schema] = append(out[schema], table)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertOnlySchema fails unless every table of the database is in schema and the tables of want are among them.
func assertOnlySchema(t *testing.T, dsn, schema string, want ...string) {
	t.Helper()
	got := pgTablesBySchema(t, dsn)
	for s, tables := range got {
		if s != schema {
			t.Errorf("tables in schema %q, expected none outside %q: %v", s, schema, tables)
		}
	}
	for _, w := range want {
		if !slices.Contains(got[schema], w) {
			t.Errorf("schema %q lacks table %s; it has %v", schema, w, got[schema])
		}
	}
}

// withQuery appends a query parameter to a postgres:// URL.
func withQuery(dsn, kv string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&" + kv
	}
	return dsn + "?" + kv
}

func TestSyncIntoPGSchema(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 21, Scale: 40, Rate: -1})
	dsn := pgtest.NewDatabaseURL(t)
	dir := t.TempDir()
	res := runCoupa(t, dir, simtest.Env(s, ts), "sync", "--dest", dsn, "--pg-schema", "finance_x",
		"--tables", "invoices,suppliers", "--rate", "1000", "--burst", "100", "-q", "-o", "json")
	if res.code != 0 {
		t.Fatalf("sync exit %d\nstderr: %s", res.code, res.stderr)
	}
	var doc summaryJSON
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil || doc.Status != "ok" || len(doc.Tables) != 2 {
		t.Fatalf("summary %+v (%v)\n%s", doc, err, res.stdout)
	}
	assertOnlySchema(t, dsn, "finance_x", "invoices", "invoice_lines", "suppliers", "_coupa_state", "_coupa_runs")

	// The rows themselves are the simulator's, read back from that schema.
	tables, err := catalog.Select([]string{"invoices", "suppliers"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: "finance_x"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Prepare(context.Background(), tables); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		d, err := extracttest.Diff(context.Background(), ts.URL, db, tb, 5)
		if err != nil {
			t.Fatalf("comparing %s: %v", tb.Name, err)
		}
		if len(d) > 0 {
			t.Fatalf("%s in finance_x differs from the simulator:\n%s", tb.Name, strings.Join(d, "\n"))
		}
	}
	db.Close()

	// state reads the same schema when told, and not otherwise.
	res = runCoupa(t, dir, nil, "state", "show", "--dest", dsn, "--pg-schema", "finance_x", "-o", "json")
	var states []stateRow
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &states) != nil {
		t.Fatalf("state show exit %d: %s %s", res.code, res.stdout, res.stderr)
	}
	var names []string
	for _, st := range states {
		names = append(names, st.Table)
		if st.Cursor == "" || st.Incomplete {
			t.Errorf("state of %s after a complete sync: %+v", st.Table, st)
		}
	}
	if !slices.Equal(names, []string{"invoices", "suppliers"}) {
		t.Fatalf("state show --pg-schema finance_x lists %v, want invoices and suppliers", names)
	}
	res = runCoupa(t, dir, nil, "state", "show", "--dest", dsn)
	if res.code != exitError || !strings.Contains(res.stderr, `"coupa"`) {
		t.Fatalf("state show without --pg-schema should look in schema coupa and find nothing: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// 63 bytes is PostgreSQL's limit and is accepted: the run gets as far as the (empty) schema.
	long := strings.Repeat("s", 63)
	res = runCoupa(t, dir, nil, "state", "show", "--dest", dsn, "--pg-schema", long)
	if res.code != exitError || !strings.Contains(res.stderr, long) {
		t.Fatalf("state show --pg-schema <63 bytes>: exit %d, want 1 naming the schema\n%s", res.code, res.stderr)
	}
	// reset goes through the flag too: the next show has no cursor for invoices.
	res = runCoupa(t, dir, nil, "state", "reset", "invoices", "--dest", dsn, "--pg-schema", "finance_x")
	if res.code != 0 {
		t.Fatalf("state reset exit %d: %s", res.code, res.stderr)
	}
	res = runCoupa(t, dir, nil, "state", "show", "--dest", dsn, "--pg-schema", "finance_x", "-o", "json")
	states = nil
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &states) != nil || len(states) != 1 || states[0].Table != "suppliers" {
		t.Fatalf("state show after reset of invoices: exit %d %s %s", res.code, res.stdout, res.stderr)
	}
}

func TestPGSchemaFlagWinsOverSearchPath(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 22, Scale: 20, Rate: -1})
	env := simtest.Env(s, ts)
	sync := func(t *testing.T, dsn string, extra ...string) {
		t.Helper()
		args := append([]string{"sync", "--dest", dsn, "--tables", "suppliers", "--rate", "1000", "--burst", "100", "-q"}, extra...)
		if res := runCoupa(t, t.TempDir(), env, args...); res.code != 0 {
			t.Fatalf("sync %v: exit %d\n%s", extra, res.code, res.stderr)
		}
	}
	base := pgtest.NewDatabaseURL(t)
	dsn := withQuery(base, "search_path=other")

	sync(t, dsn, "--pg-schema", "finance_y")
	assertOnlySchema(t, base, "finance_y", "suppliers", "_coupa_state")

	// Without the flag the DSN's search_path still decides: the flag has no default of its own.
	other := pgtest.NewDatabaseURL(t)
	sync(t, withQuery(other, "search_path=other"))
	assertOnlySchema(t, other, "other", "suppliers", "_coupa_state")

	// Any name fits: identifiers are quoted, never spliced.
	odd := `Fin-Ops "Q1"; DROP SCHEMA public --é`
	weird := pgtest.NewDatabaseURL(t)
	sync(t, weird, "--pg-schema", odd)
	assertOnlySchema(t, weird, odd, "suppliers", "_coupa_state")
}

func TestPGSchemaUsageErrors(t *testing.T) {
	pgURL := "postgres://etl@127.0.0.1:1/warehouse"
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error line besides "--pg-schema"
	}{
		{"sqlite", []string{"sync", "--dest", "sqlite:w.db", "--pg-schema", "finance"}, "PostgreSQL only"},
		{"sqlite path", []string{"sync", "--dest", "w.db", "--pg-schema", "finance"}, "drop --pg-schema"},
		{"parquet", []string{"sync", "--dest", "parquet:lake", "--pg-schema", "finance"}, "PostgreSQL only"},
		{"state sqlite", []string{"state", "show", "--dest", "w.db", "--pg-schema", "finance"}, "PostgreSQL only"},
		{"state reset sqlite", []string{"state", "reset", "--dest", "w.db", "--pg-schema", "finance"}, "PostgreSQL only"},
		{"access sync sqlite", []string{"access", "sync", "--dest", "w.db", "--pg-schema", "finance"}, "PostgreSQL only"},
		{"default dest", []string{"sync", "--pg-schema", "finance"}, "sqlite:coupa.db"},
		{"empty", []string{"sync", "--dest", pgURL, "--pg-schema", ""}, "empty"},
		{"empty with =", []string{"state", "show", "--dest", pgURL, "--pg-schema="}, "empty"},
		{"64 bytes", []string{"sync", "--dest", pgURL, "--pg-schema", strings.Repeat("a", 64)}, "at most 63 bytes"},
		// Bytes, not characters: 32 two-byte letters are over the limit.
		{"64 bytes in 32 letters", []string{"state", "show", "--dest", pgURL, "--pg-schema", strings.Repeat("é", 32)}, "64 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// No Coupa settings at all: the flag must be refused before any connection is tried.
			res := runCoupa(t, dir, nil, tc.args...)
			if res.code != exitUsage {
				t.Fatalf("exit %d, want %d\n%s", res.code, exitUsage, res.stderr)
			}
			line := strings.TrimSpace(res.stderr)
			if strings.Count(line, "\n") != 0 || !strings.Contains(line, "--pg-schema") || !strings.Contains(line, tc.want) {
				t.Fatalf("error should be one line naming --pg-schema and %q:\n%s", tc.want, res.stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("a refused command left %v behind", entries)
			}
		})
	}
}

func TestResolveDestPGSchema(t *testing.T) {
	const pg = "postgres://u@h/db?search_path=other"
	for _, name := range []string{"finance", strings.Repeat("x", 63), strings.Repeat("é", 31) + "x", `a"b`, "  spaced  ", "UPPER"} {
		w, err := resolveDest(pg, pgSchemaFlag{name: name, set: true})
		if err != nil || w.pgSchema != name || w.kind != "postgres" || w.target != pg {
			t.Errorf("resolveDest(--pg-schema %q) = %+v, %v; want the name kept as given", name, w, err)
		}
	}
	// Not given: the DSN (its search_path, else coupa) decides.
	if w, err := resolveDest(pg, pgSchemaFlag{}); err != nil || w.pgSchema != "" {
		t.Errorf("resolveDest without --pg-schema = %+v, %v", w, err)
	}
	if w, err := resolveDest("sqlite:w.db", pgSchemaFlag{}); err != nil || w.kind != "sqlite" || w.target != "w.db" {
		t.Errorf("resolveDest(sqlite) = %+v, %v", w, err)
	}
	// A bad --dest is reported as such, before the schema is looked at.
	if _, err := resolveDest("nowhere", pgSchemaFlag{name: "x", set: true}); err == nil || !strings.Contains(err.Error(), "--dest") {
		t.Errorf("resolveDest(bad dest) = %v", err)
	}
}

func TestPGSchemaHelp(t *testing.T) {
	dir := t.TempDir()
	res := runCoupa(t, dir, nil, "sync", "--help")
	if res.code != 0 || !strings.Contains(res.stdout, "--dest postgres://") || !strings.Contains(res.stdout, "--pg-schema finance") {
		t.Fatalf("sync --help has no --pg-schema example:\n%s", res.stdout)
	}
	if !strings.Contains(res.stdout, "search_path, else coupa") || !strings.Contains(res.stdout, "wins over search_path") {
		t.Fatalf("sync --help does not give --pg-schema's default and precedence:\n%s", res.stdout)
	}
	for _, args := range [][]string{{"state", "show", "--help"}, {"access", "sync", "--help"}} {
		if res := runCoupa(t, dir, nil, args...); res.code != 0 || !strings.Contains(res.stdout, "--pg-schema") {
			t.Errorf("%v does not offer --pg-schema:\n%s", args, res.stdout)
		}
	}
}
