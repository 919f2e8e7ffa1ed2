package parquet

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/desttest"
	pq "github.com/parquet-go/parquet-go"
)

// cellValue is the value of column c in row seed, of every Go type the column accepts, blank about one
// cell in seven; key columns (ids) are given by the caller.
func cellValue(c catalog.Column, seed, col int64) any {
	k := seed*31 + col
	if k%7 == 0 {
		return nil
	}
	switch c.Type {
	case catalog.Int:
		if k%5 == 0 {
			return int(k) // converted by dest.Normalize
		}
		return k * 1000003
	case catalog.Bool:
		return k%3 == 0
	case catalog.Decimal:
		if k%4 == 0 {
			return json.Number(fmt.Sprintf("-%d.%02d", k, k%100))
		}
		return fmt.Sprintf("%d.%02d", k*7, k%100)
	case catalog.Timestamp:
		switch k % 13 {
		case 0:
			return time.Time{} // blank: null
		case 1:
			return time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.FixedZone("-07:00", -7*3600)).Add(time.Duration(k) * time.Minute)
		}
		return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(k) * time.Second)
	case catalog.JSON:
		switch k % 3 {
		case 0:
			return json.RawMessage(fmt.Sprintf(`{"k":%d}`, k))
		case 1:
			return []byte(fmt.Sprintf(`["%d"]`, k))
		}
		return fmt.Sprintf(`{"cost-center":"R&D %d","project":"P-%d"}`, k, k%17)
	default:
		if k%11 == 0 {
			return "" // empty, not null
		}
		return fmt.Sprintf("value %d of column %d, of a typical length %s", seed, col, strings.Repeat("x", int(k%9)))
	}
}

// storedValue is what a part holds for v, a value a row carried for column c: nil for null, else an int64,
// a bool, or the bytes of a string. It is worked out here from the input, independently of encode.
func storedValue(t *testing.T, c catalog.Column, v any) any {
	t.Helper()
	switch x := v.(type) {
	case nil:
		return nil
	case int:
		return int64(x)
	case int64, bool, string:
		return x
	case json.Number:
		return string(x)
	case json.RawMessage:
		return string(x)
	case []byte:
		return string(x)
	case time.Time:
		if x.IsZero() {
			return nil
		}
		return x.UnixMicro()
	}
	t.Fatalf("column %s: no stored form for %T", c.Name, v)
	return nil
}

// fromPart is v, read from a part, in the form of storedValue.
func fromPart(v pq.Value) any {
	switch {
	case v.IsNull():
		return nil
	case v.Kind() == pq.Int64:
		return v.Int64()
	case v.Kind() == pq.Boolean:
		return v.Boolean()
	}
	return string(v.ByteArray())
}

// genPage builds a page of t with parents ids first..first+n-1, each with three children of every
// column's value kinds.
func genPage(t *catalog.Table, first int64, n int, synced time.Time) *dest.Page {
	p := &dest.Page{Table: t, Children: map[string][]catalog.Row{}, SyncedAt: synced}
	pl := t.Layout()
	for id := first; id < first+int64(n); id++ {
		r := make(catalog.Row, len(pl))
		for i, c := range pl {
			r[i] = cellValue(c, id, int64(i))
		}
		r[pl.Index("id")] = id
		p.Rows = append(p.Rows, r)
		for _, ch := range t.Children {
			cl := ch.Layout()
			for k := int64(1); k <= 3; k++ {
				r := make(catalog.Row, len(cl))
				for i, c := range cl {
					r[i] = cellValue(c, id*10+k, int64(i))
				}
				r[cl.Index(ch.ParentKey)] = id
				for _, key := range ch.Key {
					if key != ch.ParentKey {
						r[cl.Index(key)] = id*10 + k
					}
				}
				p.Children[ch.Name] = append(p.Children[ch.Name], r)
			}
		}
	}
	return p
}

// wantRow is a row a part must hold: its data columns as the page carried them, and its bookkeeping.
type wantRow struct {
	data    map[string]any
	synced  int64
	op      string
	deleted any   // nil or microseconds
	page    int64 // rows of one page share their _version; later pages have larger ones
}

func wantRows(t *testing.T, l catalog.Layout, rows []catalog.Row, synced time.Time, page int64) []wantRow {
	var out []wantRow
	for _, r := range rows {
		w := wantRow{data: map[string]any{}, synced: synced.UnixMicro(), op: opUpsert, page: page}
		for i, c := range l {
			w.data[c.Name] = storedValue(t, c, r[i])
		}
		out = append(out, w)
	}
	return out
}

// checkPart compares the rows of the one part of table in dir with want, cell by cell.
func checkPart(t *testing.T, dir, table string, want []wantRow) {
	t.Helper()
	parts := readParts(t, dir, table)
	if len(parts) != 1 {
		t.Fatalf("%s: %d parts, want 1", table, len(parts))
	}
	got := parts[0].rows
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", table, len(got), len(want))
	}
	versions := map[int64]int64{} // page -> _version
	bad := 0
	for n, w := range want {
		g := got[n]
		for name, v := range w.data {
			if gv := fromPart(g[name]); gv != v && bad < 10 {
				bad++
				t.Errorf("%s row %d column %s = %#v, want %#v", table, n, name, gv, v)
			}
		}
		book := map[string][2]any{
			catalog.ColSyncedAt: {fromPart(g[catalog.ColSyncedAt]), w.synced},
			colOp:               {fromPart(g[colOp]), w.op},
		}
		if _, parent := g[catalog.ColDeletedAt]; parent {
			book[catalog.ColDeletedAt] = [2]any{fromPart(g[catalog.ColDeletedAt]), w.deleted}
		}
		for name, gw := range book {
			if gw[0] != gw[1] && bad < 10 {
				bad++
				t.Errorf("%s row %d %s = %#v, want %#v", table, n, name, gw[0], gw[1])
			}
		}
		v := g[colVersion].Int64()
		if have, ok := versions[w.page]; ok && have != v {
			t.Errorf("%s row %d _version %d, want %d as the other rows of its page", table, n, v, have)
		}
		versions[w.page] = v
	}
	for page, v := range versions {
		if prev, ok := versions[page-1]; ok && prev >= v {
			t.Errorf("%s: _version of page %d is %d, not above page %d's %d", table, page, v, page-1, prev)
		}
	}
}

// TestPartsHoldExactlyTheRowsWritten writes many pages of every column type, blanks and Go types
// dest.Normalize converts, more rows than a column is handed to parquet-go at once, then deletes, and
// reads the part back cell by cell.
func TestPartsHoldExactlyTheRowsWritten(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openDir(t, dir, 0)
	defer d.Close()
	tbl := desttest.BenchTable()
	tbl.Children = append(tbl.Children, catalog.Child{Name: "invoice_tags", ParentKey: "invoice_id",
		Key: []string{"invoice_id", "tag_id"}, Columns: []catalog.Column{{Name: "tag_id", Type: catalog.Int}, {Name: "name", Type: catalog.String}}})
	if err := d.Prepare(ctx, []*catalog.Table{tbl}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]wantRow{}
	const pages, size = 12, 100
	for n := int64(0); n < pages; n++ {
		synced := t0.Add(time.Duration(n) * time.Minute)
		p := genPage(tbl, 1+n*size, size, synced)
		if _, err := d.WritePage(ctx, p); err != nil {
			t.Fatal(err)
		}
		want["invoices"] = append(want["invoices"], wantRows(t, tbl.Layout(), p.Rows, synced, n)...)
		for _, ch := range tbl.Children {
			want[ch.Name] = append(want[ch.Name], wantRows(t, ch.Layout(), p.Children[ch.Name], synced, n)...)
		}
	}
	gone := t0.Add(time.Hour)
	// 404 is not in the lake: it gets no delete row.
	if err := d.MarkDeleted(ctx, "invoices", []int64{5, 404 * size, pages * size}, gone); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{5, pages * size} {
		w := wantRow{data: map[string]any{}, synced: gone.UnixMicro(), op: opDelete, deleted: gone.UnixMicro(), page: pages}
		for _, c := range tbl.Layout() {
			w.data[c.Name] = nil
		}
		w.data["id"] = id
		want["invoices"] = append(want["invoices"], w)
	}
	if len(want["invoice_lines"]) <= batchLen {
		t.Fatalf("%d lines: the test must hand parquet-go more than one batch of %d", len(want["invoice_lines"]), batchLen)
	}
	for table, rows := range want {
		checkPart(t, dir, table, rows)
	}
}

// TestRefusedPageLeavesNoTrace refuses pages whose bad value comes after other columns of its row (and
// after whole rows) were buffered, then checks that the rows written next are intact in the same part.
func TestRefusedPageLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openDir(t, dir, 0)
	defer d.Close()
	tbl := desttest.Invoices()
	if err := d.Prepare(ctx, []*catalog.Table{tbl}); err != nil {
		t.Fatal(err)
	}
	lines, tags := tbl.Children[0].Layout(), tbl.Children[1].Layout()
	want := map[string][]wantRow{}
	write := func(p *dest.Page, page int64) {
		t.Helper()
		if _, err := d.WritePage(ctx, p); err != nil {
			t.Fatal(err)
		}
		want["invoices"] = append(want["invoices"], wantRows(t, tbl.Layout(), p.Rows, p.SyncedAt, page)...)
		want["invoice_lines"] = append(want["invoice_lines"], wantRows(t, lines, p.Children["invoice_lines"], p.SyncedAt, page)...)
		want["invoice_tags"] = append(want["invoice_tags"], wantRows(t, tags, p.Children["invoice_tags"], p.SyncedAt, page)...)
	}
	write(desttest.Page(1, 2), 0)

	// total comes after id and invoice_number (a string) in the columns; the parent before is whole.
	bad := desttest.Page(3, 4, 5)
	desttest.Set(bad.Rows[1], tbl.Layout(), "total", "12,50")
	if _, err := d.WritePage(ctx, bad); err == nil || !strings.Contains(err.Error(), "total") {
		t.Fatalf("a page with a malformed decimal: %v, want a refusal naming the column", err)
	}
	// Lines come after their parents, so here the parents and four lines are whole when line 5 fails.
	bad = desttest.Page(3, 4, 5)
	desttest.Set(bad.Children["invoice_lines"][4], lines, "amount", 1.5)
	if _, err := d.WritePage(ctx, bad); err == nil || !strings.Contains(err.Error(), "amount") {
		t.Fatalf("a page with a float amount: %v, want a refusal naming the column", err)
	}

	write(desttest.Page(6, 7), 1)
	if err := d.SaveState(ctx, &dest.State{Table: "invoices"}); err != nil {
		t.Fatal(err)
	}
	for table, rows := range want {
		checkPart(t, dir, table, rows)
	}
}

// TestPartsKeepChunkStatisticsAndPageIndex: page headers carry no statistics (see writePart), so the
// column chunks' min, max and null count, and the column index with every page's, must be there for
// readers to skip files and pages.
func TestPartsKeepChunkStatisticsAndPageIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openDir(t, dir, 0)
	defer d.Close()
	if err := d.Prepare(ctx, []*catalog.Table{desttest.Invoices()}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WritePage(ctx, desttest.Page(7, 3, 5)); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveState(ctx, &dest.State{Table: "invoices"}); err != nil {
		t.Fatal(err)
	}
	parts := readParts(t, dir, "invoices")
	if len(parts) != 1 {
		t.Fatalf("%d parts, want 1", len(parts))
	}
	f, err := os.Open(parts[0].path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, _ := f.Stat()
	pf, err := pq.OpenFile(f, info.Size())
	if err != nil {
		t.Fatal(err)
	}
	rg := pf.Metadata().RowGroups[0]
	if n := len(pf.ColumnIndexes()); n != len(rg.Columns) {
		t.Errorf("%d column indexes for %d column chunks", n, len(rg.Columns))
	}
	for i, c := range rg.Columns {
		name := c.MetaData.PathInSchema[0]
		st := c.MetaData.Statistics
		switch name {
		case "id":
			if lo, hi := int64(binary.LittleEndian.Uint64(st.MinValue)), int64(binary.LittleEndian.Uint64(st.MaxValue)); lo != 3 || hi != 7 || st.NullCount != 0 {
				t.Errorf("id chunk statistics min %d max %d nulls %d, want 3, 7, 0", lo, hi, st.NullCount)
			}
			if ci := pf.ColumnIndexes()[i]; len(ci.MinValues) != 1 || int64(binary.LittleEndian.Uint64(ci.MinValues[0])) != 3 {
				t.Errorf("id column index %+v, want one page of min 3", ci)
			}
		case "custom_fields":
			if st.NullCount != 3 {
				t.Errorf("custom_fields chunk null count %d, want 3", st.NullCount)
			}
		case "invoice_number":
			if string(st.MinValue) != "INV-3" || string(st.MaxValue) != "INV-7" {
				t.Errorf("invoice_number chunk statistics %q..%q, want INV-3..INV-7", st.MinValue, st.MaxValue)
			}
		}
	}
}
