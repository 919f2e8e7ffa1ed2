package postgres

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/desttest"
)

func stageAndCommit(t *testing.T, d *DB, p *dest.Page) dest.WriteStats {
	t.Helper()
	s, err := d.StagePage(context.Background(), p)
	if err != nil {
		t.Fatalf("StagePage: %v", err)
	}
	st, err := s.Commit(context.Background(), nil)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return st
}

func page(tab *catalog.Table, rows []catalog.Row, lines ...catalog.Row) *dest.Page {
	return &dest.Page{Table: tab, Rows: rows, Children: map[string][]catalog.Row{"invoice_lines": lines}, SyncedAt: t0}
}

// New parents go in by COPY; the rows read back equal what the upsert path writes, to the microsecond,
// escapes and NULLs included.
func TestNewParentsAreCopiedExactly(t *testing.T) {
	d, tab, _ := prepared(t)
	odd := invoice(7, "0.10")
	desttest.Set(odd, invoiceCols, "invoice_number", "tab\there\nnew line\\back\rslash")
	desttest.Set(odd, invoiceCols, "custom_fields", `{"note":"a\tb"}`)
	desttest.Set(odd, invoiceCols, "paid", nil)
	// Values of other Go types than the catalog's, which dest.Normalize converts: they take the slow way
	// into COPY and must land as the upsert stores them.
	other := invoice(9, "0")
	desttest.Set(other, invoiceCols, "id", 9)
	desttest.Set(other, invoiceCols, "total", json.Number("-0012.3400"))
	desttest.Set(other, invoiceCols, "updated_at", time.Date(2026, 3, 1, 1, 2, 3, 456789123, time.FixedZone("x", -5*3600)))
	desttest.Set(other, invoiceCols, "custom_fields", json.RawMessage(`{"a": [1, 2]}`))
	desttest.Set(other, invoiceCols, catalog.ColExtra, []byte(`{"b":null}`))
	zero := invoice(11, "1e0")
	desttest.Set(zero, invoiceCols, "total", "-0.000")
	desttest.Set(zero, invoiceCols, "updated_at", time.Time{})
	desttest.Set(zero, invoiceCols, "invoice_number", "")
	desttest.Set(zero, invoiceCols, "custom_fields", nil)
	odd32 := line(9, 90, "3")
	desttest.Set(odd32, lineCols, "invoice_id", int32(9))
	desttest.Set(odd32, lineCols, "id", json.Number("90"))
	desttest.Set(odd32, lineCols, "amount", json.Number("3.000"))
	rows := func() []catalog.Row {
		return []catalog.Row{invoice(5, "12345678901234567890.123456"), odd, other, zero}
	}
	lines := func() []catalog.Row { return []catalog.Row{line(5, 50, "1.00"), line(7, 70, "-2.5"), odd32} }
	st := stageAndCommit(t, d, page(tab, rows(), lines()...))
	if d.copied.Load() != 1 {
		t.Fatalf("pages copied = %d, want 1: every parent was new", d.copied.Load())
	}
	if st.Inserted != 4 || st.Updated != 0 || st.Children != 3 {
		t.Errorf("stats = %+v, want 4 inserted, 3 children", st)
	}
	// The same rows by the upsert path, in a second warehouse, must read back identically.
	d2, _, _ := prepared(t)
	if _, err := d2.WritePage(context.Background(), page(tab, rows(), lines()...)); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"invoices", "invoice_lines"} {
		got, err := d.ReadRows(context.Background(), table)
		if err != nil {
			t.Fatal(err)
		}
		want, err := d2.ReadRows(context.Background(), table)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || len(got) < 3 {
			t.Fatalf("%s: %d rows by COPY, %d by upsert", table, len(got), len(want))
		}
		for i := range got {
			for k, v := range want[i] {
				if gv := got[i][k]; !sameValue(gv, v) {
					t.Errorf("%s row %d column %s: COPY wrote %#v, upsert %#v", table, i, k, gv, v)
				}
			}
		}
	}
}

func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return a == b
}

// A parent at or below the table's highest id, or inside ids already written, may exist: upsert.
func TestOldOrWrittenParentsAreUpserted(t *testing.T) {
	d, tab, _ := prepared(t)
	if _, err := d.WritePage(context.Background(), page(tab, []catalog.Row{invoice(100, "1.00")})); err != nil {
		t.Fatal(err)
	}
	st := stageAndCommit(t, d, page(tab, []catalog.Row{invoice(100, "2.00")}))
	if d.copied.Load() != 0 || st.Updated != 1 {
		t.Fatalf("a rewrite of id 100: copied %d pages, stats %+v; want the upsert to update it", d.copied.Load(), st)
	}
	stageAndCommit(t, d, page(tab, []catalog.Row{invoice(20_000, "3.00")}))
	if d.copied.Load() != 1 {
		t.Fatalf("id 20000 is far above everything written: copied %d pages, want 1", d.copied.Load())
	}
	st = stageAndCommit(t, d, page(tab, []catalog.Row{invoice(20_000, "4.00")}))
	if d.copied.Load() != 1 || st.Updated != 1 {
		t.Fatalf("id 20000 again: copied %d pages, stats %+v; want the upsert", d.copied.Load(), st)
	}
	rows, _ := d.ReadRows(context.Background(), "invoices")
	for _, r := range rows {
		if r["id"] == int64(20_000) && r["total"] != "4.00" {
			t.Errorf("id 20000 total = %v, want the later 4.00", r["total"])
		}
	}
}

// A line whose key another parent holds fails the COPY; the page is written by the upsert instead
// and the line moves.
func TestCopyFallsBackWhenALineMovedBetweenParents(t *testing.T) {
	d, tab, _ := prepared(t)
	if _, err := d.WritePage(context.Background(), page(tab, []catalog.Row{invoice(1, "1.00")}, line(1, 10, "1.00"))); err != nil {
		t.Fatal(err)
	}
	st := stageAndCommit(t, d, page(tab, []catalog.Row{invoice(90_000, "9.00")}, line(90_000, 10, "9.00")))
	if st.Inserted != 1 || st.Children != 1 {
		t.Errorf("stats = %+v, want 1 inserted, 1 child", st)
	}
	got := query[int64](t, d, `SELECT invoice_id FROM coupa.invoice_lines WHERE id = 10`)
	if len(got) != 1 || got[0] != 90_000 {
		t.Fatalf("line 10 belongs to %v, want [90000]: it moved", got)
	}
}

func TestFreshIDSpans(t *testing.T) {
	var f freshIDs
	f.floors = map[string]int64{"t": 1000}
	isNew := func(ids ...int64) bool {
		ok, err := f.allNew(context.Background(), nil, &tablePlan{name: "t"}, ids)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if isNew(1000, 2000) || !isNew(1001, 1050) {
		t.Fatal("the floor: ids at or below it may exist, ids above it do not")
	}
	f.written("t", []int64{1001, 1050})
	f.written("t", []int64{500_000, 500_050})
	// Written spans are bridged over small gaps: 1001..1050 counts as written entirely.
	for _, ids := range [][]int64{{1020}, {1049, 1060}, {500_020}, {1020, 900_000}} {
		if isNew(ids...) {
			t.Errorf("ids %v overlap what was written, yet counted as new", ids)
		}
	}
	for _, ids := range [][]int64{{1051, 1060}, {499_990}, {200_000, 200_049}, {900_000}} {
		if !isNew(ids...) {
			t.Errorf("ids %v are far from every write and above the floor, yet counted as written", ids)
		}
	}
}

// Timestamps COPYed in binary read back as the upsert (text) stores them, to the microsecond: BC years,
// years beyond 9999, instants before 1970 and before PostgreSQL's epoch, any zone and sub-microsecond part.
func TestCopyTimestampsMatchTheUpsert(t *testing.T) {
	d, tab, _ := prepared(t)
	d2, _, _ := prepared(t)
	instants := []time.Time{time.Date(0, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(-5, 3, 1, 1, 2, 3, 4000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("p", 3600)), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	zones := []*time.Location{time.UTC, time.FixedZone("x", -7*3600), time.FixedZone("y", 5*3600+1800)}
	for i := int64(0); i < 300; i++ {
		instants = append(instants, time.Unix(i*7919*3607*13-2_000_000_000, (i*104729)%1_000_000_000).In(zones[i%3]))
	}
	var rows []catalog.Row
	for i, ts := range instants {
		r := invoice(int64(i+1), "1.00")
		desttest.Set(r, invoiceCols, "updated_at", ts)
		rows = append(rows, r)
	}
	stageAndCommit(t, d, page(tab, rows))
	if d.copied.Load() != 1 {
		t.Fatalf("pages copied = %d, want 1", d.copied.Load())
	}
	if _, err := d2.WritePage(context.Background(), page(tab, rows)); err != nil {
		t.Fatal(err)
	}
	got, _ := d.ReadRows(context.Background(), "invoices")
	want, _ := d2.ReadRows(context.Background(), "invoices")
	if len(got) != len(rows) || len(want) != len(rows) {
		t.Fatalf("%d rows by COPY, %d by upsert, want %d", len(got), len(want), len(rows))
	}
	for i := range got {
		if !sameValue(got[i]["updated_at"], want[i]["updated_at"]) {
			t.Errorf("id %v: COPY stored %v, upsert %v", got[i]["id"], got[i]["updated_at"], want[i]["updated_at"])
		}
	}
}

// TestCopyNumericsAsPostgreSQLReadsThem: decimals COPYed in numeric's binary form read back exactly as
// PostgreSQL's own text input reads the same literal, scale and sign included.
func TestCopyNumericsAsPostgreSQLReadsThem(t *testing.T) {
	d, tab, _ := prepared(t)
	values := []string{"0", "-0", "-0.00", "+3", "5.", ".5", "0.0001", "10000", "9999", "99999999.99", "-0.000000001",
		"1234.5678", "100.50", "0.10", "-7", "12345678901234567890.123456789", "1.000000000000000000001",
		"000123.4500", "-10000.0001", "0.00010000", "1" + strings.Repeat("0", 40), "." + strings.Repeat("0", 30) + "1",
		// Up to eight digits either side take a short way; one more takes the long one.
		"99999999.99999999", "-12345678.87654321", "0.00000000", "100000000", "-0.5", "1.23456789", "1.234567891",
		"00000000012.5", "10000.00000001", "+0.00000001", "-00000000", "20000", "0.0002", "7.0000", "123456789012.5"}
	var rows []catalog.Row
	for i, v := range values {
		rows = append(rows, invoice(int64(i+1), v))
	}
	stageAndCommit(t, d, page(tab, rows))
	if d.copied.Load() != 1 {
		t.Fatalf("pages copied = %d, want 1", d.copied.Load())
	}
	got := query[string](t, d, `SELECT total::text FROM coupa.invoices ORDER BY id`)
	for i, v := range values {
		want := query[string](t, d, `SELECT $1::numeric::text`, v)[0]
		if got[i] != want {
			t.Errorf("%q: COPY stored %s, PostgreSQL reads the literal as %s", v, got[i], want)
		}
	}
}

// TestCopyBeyondNumericIsRefusedNotTruncated: a decimal beyond numeric's limits (16383 decimals) is refused
// with PostgreSQL's own message after the COPY falls back to the upsert, and nothing of its page is stored.
func TestCopyBeyondNumericIsRefusedNotTruncated(t *testing.T) {
	d, tab, _ := prepared(t)
	s, err := d.StagePage(context.Background(), page(tab, []catalog.Row{invoice(1, "1."+strings.Repeat("3", 0x4000))}))
	if err == nil {
		s.Rollback()
		t.Fatal("a decimal with 16384 decimals was accepted")
	}
	if !strings.Contains(err.Error(), "numeric") || d.copied.Load() != 0 {
		t.Errorf("error %q (copied %d): want numeric's own refusal, from the upsert", err, d.copied.Load())
	}
	if got := query[int64](t, d, `SELECT count(*) FROM coupa.invoices`); got[0] != 0 {
		t.Errorf("%d rows stored", got[0])
	}
}

// A parent that is in the table after all (written behind this DB's back) fails the first COPY, the one
// that carries BEGIN: the page is rolled back and upserted on the same pool.
func TestCopyFallsBackWhenAParentExists(t *testing.T) {
	ctx := context.Background()
	d, tab, _ := prepared(t)
	stageAndCommit(t, d, page(tab, []catalog.Row{invoice(1000, "1.00")}, line(1000, 1, "1")))
	if _, err := d.pool.Exec(ctx, `INSERT INTO coupa.invoices (id, total) VALUES (5000, 9)`); err != nil {
		t.Fatal(err)
	}
	st := stageAndCommit(t, d, page(tab, []catalog.Row{invoice(5000, "50.00"), invoice(5001, "50.01")},
		line(5000, 2, "2"), line(5001, 3, "3")))
	if d.copied.Load() != 1 || st.Inserted != 1 || st.Updated != 1 || st.Children != 2 {
		t.Fatalf("copied %d pages, stats %+v; want the second page upserted: 1 inserted, 1 updated, 2 children", d.copied.Load(), st)
	}
	got := query[string](t, d, `SELECT string_agg(id || '=' || total::text, ',' ORDER BY id) FROM coupa.invoices`)
	if got[0] != "1000=1.00,5000=50.00,5001=50.01" {
		t.Errorf("invoices %s", got[0])
	}
	if got := query[int64](t, d, `SELECT count(*) FROM coupa.invoice_lines`); got[0] != 3 {
		t.Errorf("%d lines, want 3", got[0])
	}
	// The connection whose COPY failed went back to the pool in step with the server: every connection
	// answers its own query.
	for i := int64(0); i < 3*minConns; i++ {
		if got := query[int64](t, d, `SELECT $1::bigint`, i); len(got) != 1 || got[0] != i {
			t.Fatalf("SELECT %d answered %v", i, got)
		}
	}
}

// A value the server refuses in a child's COPY, after the parents' COPY went in, leaves nothing behind:
// the upsert refuses it too, with the server's reason, and the pool's connections still work.
func TestCopyRefusedChildValueCommitsNothing(t *testing.T) {
	ctx := context.Background()
	d, tab, _ := prepared(t)
	bad := line(1, 10, "1")
	desttest.Set(bad, lineCols, "description", "nul\x00byte")
	s, err := d.StagePage(ctx, page(tab, []catalog.Row{invoice(1, "1")}, line(1, 9, "1"), bad))
	if err == nil {
		s.Rollback()
		t.Fatal("a line with a NUL byte was staged")
	}
	if msg := err.Error(); !strings.Contains(msg, "0x00") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line with the server's reason", msg)
	}
	for i := int64(2); i < 2+minConns+2; i++ {
		stageAndCommit(t, d, page(tab, []catalog.Row{invoice(i, "1")}, line(i, i*100, "1")))
	}
	if got := query[string](t, d, `SELECT string_agg(id::text, ',' ORDER BY id) FROM coupa.invoices`); got[0] != "2,3,4,5,6,7,8,9" {
		t.Errorf("invoices %s, want 2..9 and not the refused 1", got[0])
	}
}

// A COPY that waits on another transaction and is cancelled by its context fails the page, and the
// connection, left mid-stream, is not given back to the pool: the page goes in once the way is free.
func TestCopyCancelledWhileWaiting(t *testing.T) {
	ctx := context.Background()
	d, tab, _ := prepared(t)
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// Line 10 inserted and not committed: the page's COPY of line 10 waits for this transaction.
	if _, err := tx.Exec(ctx, `INSERT INTO coupa.invoice_lines (invoice_id, id) VALUES (1, 10)`); err != nil {
		t.Fatal(err)
	}
	lines := []catalog.Row{line(50, 10, "1")}
	for i := int64(11); i < 3000; i++ {
		lines = append(lines, line(50, i, "1")) // enough data to be still writing when the COPY blocks
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	s, err := d.StagePage(cctx, page(tab, []catalog.Row{invoice(50, "1")}, lines...))
	cancel()
	if err == nil {
		s.Rollback()
		t.Fatal("a page whose COPY waited past its context's end was staged")
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < minConns+2; i++ {
		if _, err := d.pool.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatalf("pool after a cancelled COPY: %v", err)
		}
	}
	st := stageAndCommit(t, d, page(tab, []catalog.Row{invoice(50, "1")}, lines...))
	if st.Children != len(lines) {
		t.Errorf("stats %+v, want %d children", st, len(lines))
	}
	if got := query[int64](t, d, `SELECT count(*) FROM coupa.invoice_lines WHERE invoice_id = 50`); got[0] != int64(len(lines)) {
		t.Errorf("%d lines of invoice 50, want %d", got[0], len(lines))
	}
}
