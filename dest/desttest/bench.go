package desttest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
)

// BenchTable is shaped like the real invoices table, about 40 columns of every type and lines of about 15,
// so that every backend's benchmark writes the same load and the figures compare.
func BenchTable() *catalog.Table {
	t := &catalog.Table{Name: "invoices", Columns: []catalog.Column{{Name: "id", Type: catalog.Int}}}
	types := []catalog.Type{catalog.String, catalog.Decimal, catalog.Timestamp, catalog.Int, catalog.Bool, catalog.String}
	for i := 0; i < 38; i++ {
		t.Columns = append(t.Columns, catalog.Column{Name: fmt.Sprintf("c%02d", i), Type: types[i%len(types)]})
	}
	t.Columns = append(t.Columns, catalog.Column{Name: "custom_fields", Type: catalog.JSON})
	lines := catalog.Child{Name: "invoice_lines", ParentKey: "invoice_id", Key: []string{"id"},
		Columns: []catalog.Column{{Name: "id", Type: catalog.Int}}}
	for i := 0; i < 14; i++ {
		lines.Columns = append(lines.Columns, catalog.Column{Name: fmt.Sprintf("l%02d", i), Type: types[i%len(types)]})
	}
	t.Children = []catalog.Child{lines}
	return t
}

func benchValue(t catalog.Type, n int64) any {
	switch t {
	case catalog.String:
		return fmt.Sprintf("value %d of a typical length", n)
	case catalog.Decimal:
		return fmt.Sprintf("%d.%02d", n*7, n%100)
	case catalog.Timestamp:
		return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
	case catalog.Int:
		return n * 3
	case catalog.Bool:
		return n%2 == 0
	}
	return `{"cost-center":"R&D","project":"P-42"}`
}

// BenchPage builds size parents of t (a BenchTable) with ids from first, three lines each (ids id*10+1..3),
// and the checkpoint a keyset page carries.
func BenchPage(t *catalog.Table, first int64, size int) *dest.Page {
	p := &dest.Page{Table: t, Children: map[string][]catalog.Row{}, SyncedAt: base,
		State: &dest.State{Table: t.Name, Window: &dest.Window{Partitions: []dest.Partition{{LastID: first + int64(size)}}}}}
	// Layouts: parents are id, the columns, _extra; lines are invoice_id, id, the columns.
	for id := first; id < first+int64(size); id++ {
		r := make(catalog.Row, len(t.Columns)+1)
		r[0], r[len(t.Columns)] = id, `{"unknown-field":"x"}`
		for i, c := range t.Columns[1:] {
			r[1+i] = benchValue(c.Type, id)
		}
		p.Rows = append(p.Rows, r)
		for n := int64(1); n <= 3; n++ {
			l := make(catalog.Row, len(t.Children[0].Columns)+1)
			l[0], l[1] = id, id*10+n
			for i, c := range t.Children[0].Columns[1:] {
				l[2+i] = benchValue(c.Type, n)
			}
			p.Children["invoice_lines"] = append(p.Children["invoice_lines"], l)
		}
	}
	return p
}

// BenchWritePage measures d writing pages of 50 new invoices with 3 lines each and their checkpoint, the
// shape of a full sync, and reports parents/s, the figure the 10,000/s target is about. d must be fresh;
// the caller closes it.
func BenchWritePage(b *testing.B, d dest.Destination) {
	ctx := context.Background()
	tbl := BenchTable()
	if err := d.Prepare(ctx, []*catalog.Table{tbl}); err != nil {
		b.Fatal(err)
	}
	const size = 50
	// Pages are built before the clock runs: building them is the extractor's cost, not the backend's.
	pages := make([]*dest.Page, 200)
	for i := range pages {
		pages[i] = BenchPage(tbl, int64(i*size+1), size)
	}
	sw := dest.Staging(d)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := pages[i%len(pages)]
		if i >= len(pages) {
			// Past the prebuilt range, shift the ids so that every page stays an insert.
			for _, r := range p.Rows {
				r[0] = r[0].(int64) + int64(len(pages)*size)
			}
			for _, l := range p.Children["invoice_lines"] {
				l[0] = l[0].(int64) + int64(len(pages)*size)
				l[1] = l[1].(int64) + int64(len(pages)*size*10)
			}
		}
		// Through dest.Staging, as a sync writes: WritePage for SQLite and Parquet, StagePage and
		// Commit (COPY of new rows) for PostgreSQL.
		s, err := sw.StagePage(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Commit(ctx, p.State); err != nil {
			b.Fatal(err)
		}
		i++
	}
	// A sync ends by saving its state, which is where a backend that buffers (Parquet's open part) pays
	// for the last rows; b.Loop has stopped the clock, so it is restarted for this one call.
	b.StartTimer()
	if err := d.SaveState(ctx, &dest.State{Table: tbl.Name}); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(i*size)/b.Elapsed().Seconds(), "parents/s")
}
