package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemoSyncsAndPrintsQueryResults(t *testing.T) {
	dir := t.TempDir()
	res := runCoupa(t, dir, nil, "demo", "--scale", "120", "-q")
	if res.code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	out := res.stdout
	for _, q := range demoQueries {
		if !strings.Contains(out, q.title) {
			t.Fatalf("demo output lacks query %q:\n%s", q.title, out)
		}
	}
	// Each query printed a header and at least one result row, not "(no rows)".
	if strings.Contains(out, "(no rows)") {
		t.Fatalf("a demo query returned nothing:\n%s", out)
	}
	for _, header := range []string{"SUPPLIER_NAME", "AVG_DAYS", "PO_NUMBER"} {
		i := strings.Index(out, header)
		if i < 0 {
			t.Fatalf("no result header %s:\n%s", header, out)
		}
		rest := strings.SplitN(out[i:], "\n", 3)
		if len(rest) < 3 || strings.TrimSpace(rest[1]) == "" {
			t.Fatalf("no result row under %s:\n%s", header, out)
		}
	}
	if !strings.Contains(out, "invoices") || !strings.Contains(out, "ok") {
		t.Fatalf("no sync summary:\n%s", out)
	}
	assertDemoDBHasLines(t, filepath.Join(dir, "coupa-demo.db"))

	// Running it again at another scale refreshes the same file: the extra invoices are marked deleted.
	if res := runCoupa(t, dir, nil, "demo", "--scale", "60", "-q"); res.code != 0 {
		t.Fatalf("second demo exit %d\n%s", res.code, res.stderr)
	}
	db := openSQL(t, filepath.Join(dir, "coupa-demo.db"))
	defer db.Close()
	var live, gone int
	if err := db.QueryRow(`SELECT COUNT(*) FILTER (WHERE _deleted_at IS NULL), COUNT(*) FILTER (WHERE _deleted_at IS NOT NULL) FROM invoices`).Scan(&live, &gone); err != nil {
		t.Fatal(err)
	}
	if live != 60 || gone != 60 {
		t.Fatalf("after a demo at scale 60 over one at 120: %d live and %d deleted invoices, want 60 and 60", live, gone)
	}
}

func assertDemoDBHasLines(t *testing.T, path string) {
	t.Helper()
	db := openSQL(t, path)
	defer db.Close()
	var inv, lines int
	if err := db.QueryRow(`SELECT (SELECT COUNT(*) FROM invoices), (SELECT COUNT(*) FROM invoice_lines)`).Scan(&inv, &lines); err != nil {
		t.Fatal(err)
	}
	if inv != 120 || lines < inv {
		t.Fatalf("demo warehouse has %d invoices and %d lines; want 120 invoices with their lines", inv, lines)
	}
}

func openSQL(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}
