package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/desttest"
	"github.com/coupa-connector/coupa-connector/internal/pgtest"
)

// The layouts of desttest.Invoices' rows: parents, lines (keyed by id) and tags (keyed by parent and tag).
var (
	dtInvoice = desttest.Invoices().Layout()
	dtLine    = desttest.Invoices().Children[0].Layout()
	dtTag     = desttest.Invoices().Children[1].Layout()
)

func preparedContract(t *testing.T) *DB {
	t.Helper()
	d := open(t, pgtest.NewDatabase(t), Options{})
	if err := d.Prepare(context.Background(), []*catalog.Table{desttest.Invoices()}); err != nil {
		t.Fatal(err)
	}
	return d
}

// A refused page is refused with the same message by WritePage and StagePage, whichever way its rows
// would have travelled; the messages name the table, the row (or the parent's id) and the column.
func TestRefusedPagesNameTheirFault(t *testing.T) {
	d := preparedContract(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[string]struct {
		spoil func(p *dest.Page)
		want  string
	}{
		"parent without id": {func(p *dest.Page) { desttest.Set(p.Rows[1], dtInvoice, "id", nil) },
			"postgres: invoices row 1 has no int64 id (got <nil>): the page is malformed"},
		"parent with a string id": {func(p *dest.Page) { desttest.Set(p.Rows[1], dtInvoice, "id", "3") },
			"postgres: invoices row 1 has no int64 id (got string): the page is malformed"},
		"line without id": {func(p *dest.Page) { desttest.Set(p.Children["invoice_lines"][4], dtLine, "id", nil) },
			"postgres: invoice_lines row 4: key column id is missing"},
		"tag without its key": {func(p *dest.Page) { desttest.Set(p.Children["invoice_tags"][1], dtTag, "tag_id", nil) },
			"postgres: invoice_tags row 1: key column tag_id is missing"},
		"int as a string": {func(p *dest.Page) { desttest.Set(p.Children["invoice_lines"][5], dtLine, "line_num", "three") },
			"postgres: invoice_lines row 5: column line_num: want int64, got string"},
		"decimal as a float": {func(p *dest.Page) { desttest.Set(p.Rows[0], dtInvoice, "total", 1.5) },
			"postgres: invoices id 1: column total: want an exact decimal string, got float64 1.5"},
		"malformed decimal": {func(p *dest.Page) { desttest.Set(p.Rows[1], dtInvoice, "total", "12,50") },
			`postgres: invoices id 3: column total: "12,50" is not a decimal number`},
		"decimal with an exponent": {func(p *dest.Page) { desttest.Set(p.Rows[1], dtInvoice, "total", json.Number("1e5")) },
			`postgres: invoices id 3: column total: "1e5" is not a decimal number`},
		"empty decimal": {func(p *dest.Page) { desttest.Set(p.Rows[1], dtInvoice, "total", "") },
			`postgres: invoices id 3: column total: "" is not a decimal number`},
		"decimal of a sign": {func(p *dest.Page) { desttest.Set(p.Rows[1], dtInvoice, "total", "-") },
			`postgres: invoices id 3: column total: "-" is not a decimal number`},
		"decimal of a time": {func(p *dest.Page) { desttest.Set(p.Children["invoice_lines"][1], dtLine, "amount", at) },
			"postgres: invoice_lines row 1: column amount: want an exact decimal string, got time.Time 2026-01-02 03:04:05 +0000 UTC"},
		"bool as a string": {func(p *dest.Page) { desttest.Set(p.Rows[0], dtInvoice, "paid", "yes") },
			"postgres: invoices id 1: column paid: want bool, got string"},
		"time as a string": {func(p *dest.Page) { desttest.Set(p.Rows[0], dtInvoice, "updated_at", "2026-01-01") },
			"postgres: invoices id 1: column updated_at: want time.Time, got string"},
		"string as an int": {func(p *dest.Page) { desttest.Set(p.Rows[0], dtInvoice, "invoice_number", 12) },
			"postgres: invoices id 1: column invoice_number: want string, got int"},
		"JSON as an int": {func(p *dest.Page) { desttest.Set(p.Rows[0], dtInvoice, "custom_fields", 12) },
			"postgres: invoices id 1: column custom_fields: want JSON string, got int"},
		"a longer parent": {func(p *dest.Page) { p.Rows[1] = append(p.Rows[1], "x") },
			"postgres: invoices row 1 has 9 values, its layout 8: the page is malformed"},
		"a shorter parent": {func(p *dest.Page) { p.Rows[1] = p.Rows[1][:3] },
			"postgres: invoices row 1 has 3 values, its layout 8: the page is malformed"},
		"a shorter line": {func(p *dest.Page) { p.Children["invoice_lines"][2] = p.Children["invoice_lines"][2][:3] },
			"postgres: invoice_lines row 2 has 3 values, its layout 6: the page is malformed"},
		"a line of no parent in the page": {func(p *dest.Page) { desttest.Set(p.Children["invoice_lines"][5], dtLine, "invoice_id", int64(99)) },
			"postgres: invoice_lines row 5: invoice_id 99 is not a parent in this page"},
		"a line of no parent": {func(p *dest.Page) { desttest.Set(p.Children["invoice_lines"][5], dtLine, "invoice_id", nil) },
			"postgres: invoice_lines row 5: invoice_id <nil> is not a parent in this page"},
		"a line whose parent is a string": {func(p *dest.Page) { desttest.Set(p.Children["invoice_lines"][5], dtLine, "invoice_id", "1") },
			"postgres: invoice_lines row 5: column invoice_id: want int64, got string"},
		"a child table the parent lacks": {func(p *dest.Page) { p.Children["order_lines"] = []catalog.Row{{int64(1)}} },
			"postgres: page of invoices has rows for order_lines, which is not one of its child tables"},
		// The first fault in row order is the one named, a replaced duplicate's included.
		"two faults": {func(p *dest.Page) {
			desttest.Set(p.Children["invoice_lines"][4], dtLine, "amount", "x")
			desttest.Set(p.Children["invoice_lines"][2], dtLine, "line_num", true)
		}, "postgres: invoice_lines row 2: column line_num: want int64, got bool"},
		"a fault in a replaced duplicate": {func(p *dest.Page) {
			p.Rows = append(p.Rows, p.Rows[0])
			p.Rows[0] = append(catalog.Row(nil), p.Rows[0]...)
			desttest.Set(p.Rows[0], dtInvoice, "total", "1..2")
		}, `postgres: invoices id 1: column total: "1..2" is not a decimal number`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for _, staged := range []bool{false, true} {
				p := desttest.Page(1, 3)
				c.spoil(p)
				var err error
				if staged {
					var s dest.Staged
					if s, err = d.StagePage(context.Background(), p); err == nil {
						s.Rollback()
					}
				} else {
					_, err = d.WritePage(context.Background(), p)
				}
				if fmt.Sprint(err) != c.want {
					t.Errorf("staged %v: error %v\nwant %s", staged, err, c.want)
				}
			}
		})
	}
	if n := query[int64](t, d, `SELECT count(*) FROM coupa.invoices`); n[0] != 0 {
		t.Errorf("%d invoices stored by refused pages", n[0])
	}
}

// Duplicates in a page: the last row of a parent id, of a line id and of a (parent, tag) key wins, however
// the rows are ordered, whether the page is copied or upserted; stats count each once.
func TestDuplicatesLastWinsCopiedOrUpserted(t *testing.T) {
	build := func() *dest.Page {
		p := desttest.Page(5, 2, 9)
		// A parent again, later in the page, with another total.
		again, _, _ := desttest.Invoice(2, "7.77")
		p.Rows = append(p.Rows, again)
		lines := p.Children["invoice_lines"]
		// Line 22 of invoice 2 again at the end, line 51 of 5 again right after itself, line 93 of 9 again
		// before its first occurrence's neighbours: ids no longer ascend.
		dup := func(i int, amount string) catalog.Row {
			l := append(catalog.Row(nil), lines[i]...)
			desttest.Set(l, dtLine, "amount", amount)
			return l
		}
		l22, l51, l93 := dup(4, "22.22"), dup(0, "51.51"), dup(8, "93.93")
		lines = append(lines[:1], append([]catalog.Row{l51}, lines[1:]...)...)
		lines = append(lines, l93, lines[3], l22)
		p.Children["invoice_lines"] = lines
		tags := p.Children["invoice_tags"]
		tag := append(catalog.Row(nil), tags[1]...)
		desttest.Set(tag, dtTag, "name", "last")
		other := append(catalog.Row(nil), tags[1]...)
		desttest.Set(other, dtTag, "tag_id", int64(8))
		p.Children["invoice_tags"] = append(tags, other, tag)
		return p
	}
	check := func(t *testing.T, d *DB, st dest.WriteStats) {
		t.Helper()
		if st.Inserted != 3 || st.Updated != 0 || st.Children != 9+4 {
			t.Errorf("stats %+v, want 3 inserted, 13 children", st)
		}
		if got := query[string](t, d, `SELECT string_agg(id || '=' || total::text, ',' ORDER BY id) FROM coupa.invoices`); got[0] != "2=7.77,5=500.50,9=900.50" {
			t.Errorf("invoices %s", got[0])
		}
		want := "21=1.25,22=22.22,23=3.25,51=51.51,52=2.25,53=3.25,91=1.25,92=2.25,93=93.93"
		if got := query[string](t, d, `SELECT string_agg(id || '=' || amount::text, ',' ORDER BY id) FROM coupa.invoice_lines`); got[0] != want {
			t.Errorf("lines %s\nwant  %s", got[0], want)
		}
		if got := query[string](t, d, `SELECT string_agg(invoice_id || '/' || tag_id || '=' || name, ',' ORDER BY invoice_id, tag_id) FROM coupa.invoice_tags`); got[0] != "2/7=last,2/8=urgent,5/7=urgent,9/7=urgent" {
			t.Errorf("tags %s", got[0])
		}
	}
	t.Run("copied", func(t *testing.T) {
		d := preparedContract(t)
		s, err := d.StagePage(context.Background(), build())
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.Commit(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.copied.Load() != 1 {
			t.Fatalf("pages copied = %d, want 1", d.copied.Load())
		}
		check(t, d, st)
	})
	t.Run("upserted", func(t *testing.T) {
		d := preparedContract(t)
		st, err := d.WritePage(context.Background(), build())
		if err != nil {
			t.Fatal(err)
		}
		check(t, d, st)
	})
}
