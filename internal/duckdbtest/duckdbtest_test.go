package duckdbtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQueryKeepsExactNumbersAndRunsStatementsInOrder(t *testing.T) {
	res := Query(t,
		"CREATE VIEW v AS SELECT 9007199254740993::BIGINT AS big, 0.10::DECIMAL(18,2) + 0.20 AS money, "+
			"'1234.50' AS s, TIMESTAMPTZ '2026-03-01 10:00:00+02' AS ts, NULL AS n, true AS b",
		"SELECT * FROM v",
		"SELECT x FROM range(3) t(x) ORDER BY x")
	if len(res) != 3 {
		t.Fatalf("%d results, want 3", len(res))
	}
	if len(res[0].Rows) != 0 {
		t.Fatalf("CREATE VIEW returned rows: %v", res[0].Rows)
	}
	if len(res[1].Rows) != 1 {
		t.Fatalf("view rows: %v", res[1].Rows)
	}
	row := res[1].Rows[0]
	// 2^53+1 is not a float64: it survives only as text.
	want := map[string]any{"big": "9007199254740993", "money": "0.30", "s": "1234.50", "ts": "2026-03-01 08:00:00+00", "n": nil, "b": true}
	for k, w := range want {
		if row[k] != w {
			t.Errorf("%s = %#v, want %#v", k, row[k], w)
		}
	}
	if got := strings.Join(res[1].Columns, ","); got != "big,money,s,ts,n,b" {
		t.Errorf("columns %s", got)
	}
	if res[1].Types[0] != "BIGINT" || !strings.HasPrefix(res[1].Types[1], "DECIMAL") {
		t.Errorf("types %v", res[1].Types)
	}
	if n := len(res[2].Rows); n != 3 || res[2].Rows[2]["x"] != "2" {
		t.Errorf("range rows: %v", res[2].Rows)
	}
}

func TestQueryErrorNamesTheStatement(t *testing.T) {
	_, err := QueryContext(context.Background(), "SELECT 1", "SELECT * FROM no_such_table")
	if err == nil {
		t.Fatal("a query of a missing table succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "statement 2") || !strings.Contains(msg, "no_such_table") || strings.Contains(msg, "\n") {
		t.Fatalf("error %q: want one line naming statement 2 and the table", msg)
	}
}

func TestInstallIsMarkedAndReused(t *testing.T) {
	dir, err := Install(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".coupa-ready"))
	if err != nil || strings.TrimSpace(string(b)) != Version {
		t.Fatalf("marker: %q %v", b, err)
	}
	pkg, err := os.ReadFile(filepath.Join(dir, "node_modules", "@duckdb", "node-api", "package.json"))
	if err != nil || !strings.Contains(string(pkg), `"version": "`+Version+`"`) {
		t.Fatalf("installed package.json does not name version %s: %v", Version, err)
	}
	again, err := Install(context.Background())
	if err != nil || again != dir {
		t.Fatalf("second Install: %q %v, want %q", again, err, dir)
	}
}

// An incomplete install (no marker) is cleared and redone, in an isolated directory.
func TestInstallRedoesAnIncompleteDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "duck")
	if err := os.MkdirAll(filepath.Join(dir, "node_modules", "junk"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDir, dir)
	got, err := install(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != dir {
		t.Fatalf("installed into %s, want %s", got, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "junk")); !os.IsNotExist(err) {
		t.Fatalf("the incomplete install was not cleared: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".coupa-ready")); err != nil {
		t.Fatalf("no marker after a reinstall: %v", err)
	}
}

func TestMissingNodeFailsWithTheReason(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := install(context.Background())
	if err == nil || !strings.Contains(err.Error(), "node is not on PATH") {
		t.Fatalf("err = %v, want one naming node", err)
	}
}
