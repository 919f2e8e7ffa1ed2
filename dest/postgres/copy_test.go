package postgres

import (
	"context"
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
	st := stageAndCommit(t, d, page(tab, []catalog.Row{invoice(5, "12345678901234567890.123456"), odd},
		line(5, 50, "1.00"), line(7, 70, "-2.5")))
	if d.copied.Load() != 1 {
		t.Fatalf("pages copied = %d, want 1: every parent was new", d.copied.Load())
	}
	if st.Inserted != 2 || st.Updated != 0 || st.Children != 2 {
		t.Errorf("stats = %+v, want 2 inserted, 2 children", st)
	}
	// The same rows by the upsert path, in a second warehouse, must read back identically.
	d2, _, _ := prepared(t)
	if _, err := d2.WritePage(context.Background(), page(tab, []catalog.Row{invoice(5, "12345678901234567890.123456"), odd},
		line(5, 50, "1.00"), line(7, 70, "-2.5"))); err != nil {
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
		if len(got) != len(want) {
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
	pr := func(ids ...int64) *pageRows { return &pageRows{plan: &tablePlan{name: "t"}, ids: ids} }
	isNew := func(ids ...int64) bool {
		ok, err := f.allNew(context.Background(), nil, pr(ids...))
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
		"000123.4500", "-10000.0001", "0.00010000", "1" + strings.Repeat("0", 40), "." + strings.Repeat("0", 30) + "1"}
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
