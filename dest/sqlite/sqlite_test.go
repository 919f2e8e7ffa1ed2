package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/desttest"
)

func open(t testing.TB, path string, prefix string) *DB {
	t.Helper()
	d, err := Open(path, dest.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestContract(t *testing.T) {
	desttest.Run(t, func(t *testing.T) dest.Destination {
		return open(t, filepath.Join(t.TempDir(), "w.db"), "")
	})
}

func TestContractPrefix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	desttest.RunPrefix(t, func(t *testing.T, prefix string) dest.Destination {
		return open(t, path, prefix)
	})
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte("hello, this is not a database at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('ada')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	foreignBefore, err := os.ReadFile(foreign)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		path string
		want string
	}{
		{filepath.Join(dir, "x", "y.db"), "cannot create " + filepath.Join(dir, "x", "y.db") + ": directory " + filepath.Join(dir, "x") + " does not exist"},
		{filepath.Join(notDB, "y.db"), "is not a directory"},
		{dir, "is a directory"},
		{notDB, "is not an SQLite database"},
		{foreign, "is an SQLite database but not a coupa warehouse"},
		{"", "no database path"},
	}
	for _, c := range cases {
		d, err := Open(c.path, dest.Options{})
		if err == nil {
			d.Close()
			t.Errorf("Open(%q) succeeded, want an error containing %q", c.path, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Open(%q) = %q, want one line containing %q", c.path, err, c.want)
		}
	}
	after, err := os.ReadFile(foreign)
	if err != nil || string(after) != string(foreignBefore) {
		t.Error("Open changed the foreign SQLite database it refused")
	}
	if _, err := os.Stat(foreign + "-wal"); err == nil {
		t.Error("Open turned on WAL in the foreign SQLite database it refused")
	}
	if b, _ := os.ReadFile(notDB); string(b) != "hello, this is not a database at all" {
		t.Error("Open changed the non-database file it refused")
	}
}

func TestOpenSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	d := open(t, path, "")
	defer d.Close()
	var mode string
	var sync, busy int
	if err := d.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := d.db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if err := d.db.QueryRow("PRAGMA busy_timeout").Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 1 || busy <= 0 {
		t.Errorf("journal_mode=%s synchronous=%d busy_timeout=%d, want wal, 1 (NORMAL), > 0", mode, sync, busy)
	}
	// An empty coupa warehouse (state tables only) opens again.
	d.Close()
	d2 := open(t, path, "")
	d2.Close()
}

// TestSchema checks the SQL a user sees: quoted names, keys, types that keep decimals exact, the index.
func TestSchema(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "w.db"), "my-co ")
	defer d.Close()
	ctx := context.Background()
	if err := d.Prepare(ctx, []*catalog.Table{desttest.Invoices()}); err != nil {
		t.Fatal(err)
	}
	p := desttest.Page(1, 2)
	desttest.Set(p.Rows[0], desttest.Invoices().Layout(), "total", "1234.50")
	if _, err := d.WritePage(ctx, p); err != nil {
		t.Fatal(err)
	}
	var typ, text string
	if err := d.db.QueryRow(`SELECT typeof("total"), "total" FROM "my-co invoices" WHERE id = 1`).Scan(&typ, &text); err != nil {
		t.Fatal(err)
	}
	if typ != "text" || text != "1234.50" {
		t.Errorf("total stored as %s %q, want text \"1234.50\"", typ, text)
	}
	var sum string
	if err := d.db.QueryRow(`SELECT CAST(sum(CAST("total" AS NUMERIC)) AS TEXT) FROM "my-co invoices"`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != "1435.0" {
		t.Errorf("sum(CAST(total AS NUMERIC)) = %s, want 1435.0 (1234.50 + 200.50)", sum)
	}
	var ts string
	if err := d.db.QueryRow(`SELECT "updated_at" FROM "my-co invoices" WHERE id = 1`).Scan(&ts); err != nil {
		t.Fatal(err)
	}
	if ts != "2026-03-01T08:30:01Z" {
		t.Errorf("updated_at stored as %q, want 2026-03-01T08:30:01Z", ts)
	}
	var plan string
	rows, err := d.db.Query(`EXPLAIN QUERY PLAN SELECT * FROM "my-co invoice_lines" WHERE invoice_id = 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, b, c int
		var detail string
		rows.Scan(&a, &b, &c, &detail)
		plan += detail
	}
	rows.Close()
	if !strings.Contains(plan, "USING INDEX") {
		t.Errorf("lines by invoice_id: plan %q does not use an index", plan)
	}
	var n int
	if err := d.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name IN ('my-co invoices', 'my-co invoice_lines', 'my-co invoice_tags')`).Scan(&n); err != nil || n != 3 {
		t.Errorf("%d prefixed tables, want 3 (%v)", n, err)
	}
}

// TestFailureMidTransaction makes the page fail after its parents were upserted (the child table vanished
// behind coupa's back) and checks that the parents' changes and the state rolled back with it.
func TestFailureMidTransaction(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "w.db"), "")
	defer d.Close()
	ctx := context.Background()
	if err := d.Prepare(ctx, []*catalog.Table{desttest.Invoices()}); err != nil {
		t.Fatal(err)
	}
	p := desttest.Page(1)
	p.State = &dest.State{Table: "invoices", Version: 1}
	if _, err := d.WritePage(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := d.db.Exec(`DROP TABLE "invoice_tags"`); err != nil {
		t.Fatal(err)
	}
	// The cached statements of invoice_tags are now invalid.
	d.tables["invoice_tags"].closeStmts()
	p = desttest.Page(1, 2)
	desttest.Set(p.Rows[0], desttest.Invoices().Layout(), "total", "0.01")
	p.State = &dest.State{Table: "invoices", Cursor: p.SyncedAt}
	if _, err := d.WritePage(ctx, p); err == nil {
		t.Fatal("WritePage into a dropped child table succeeded")
	}
	rows, err := d.ReadRows(ctx, "invoices")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["total"] != "100.50" {
		t.Errorf("invoices after the failed page = %v, want only invoice 1 with total 100.50", rows)
	}
	lines, _ := d.ReadRows(ctx, "invoice_lines")
	if len(lines) != 3 {
		t.Errorf("%d lines after the failed page, want 3", len(lines))
	}
	s, err := d.LoadState(ctx, "invoices")
	if err != nil || s == nil || !s.Cursor.IsZero() {
		t.Errorf("state after the failed page = %+v, %v; want the first one (zero cursor)", s, err)
	}
}

func TestNotPrepared(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "w.db"), "")
	defer d.Close()
	_, err := d.WritePage(context.Background(), desttest.Page(1))
	if err == nil || !strings.Contains(err.Error(), "was not prepared") {
		t.Errorf("WritePage before Prepare: %v, want an error saying the table was not prepared", err)
	}
}

func TestBatches(t *testing.T) {
	tb := &table{cols: make([]column, 8)}
	for _, n := range []int{0, 1, 3, 50, 256, 1000} {
		sizes := tb.batches(n)
		sum := 0
		for i, s := range sizes {
			sum += s
			if s&(s-1) != 0 || s > tb.batchRows() || (i > 0 && s > sizes[i-1]) {
				t.Errorf("batches(%d) = %v: sizes must be powers of two, at most %d, largest first", n, sizes, tb.batchRows())
			}
		}
		if sum != n {
			t.Errorf("batches(%d) = %v sums to %d", n, sizes, sum)
		}
	}
	wide := &table{cols: make([]column, 3000)}
	if r := wide.batchRows(); r*(3000+2) > sqliteMaxVars {
		t.Errorf("batchRows of a 3000-column table = %d, over SQLite's variable limit", r)
	}
}

// A warehouse made before child tables kept _extra gets the column at the next Prepare.
func TestChildExtraAddedToOldWarehouse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	d := open(t, path, "")
	ctx := context.Background()
	if err := d.Prepare(ctx, []*catalog.Table{desttest.Invoices()}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WritePage(ctx, desttest.Page(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.db.Exec(`ALTER TABLE "invoice_lines" DROP COLUMN "_extra"`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d = open(t, path, "")
	defer d.Close()
	desttest.CheckChildExtraAdded(t, d)
}
