// Package desttest is the contract every warehouse backend must pass: dest/sqlite, dest/postgres and
// dest/parquet call Run (and RunPrefix) from their own tests with a function that opens a fresh destination.
package desttest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
)

// Invoices is the parent fixture: every column type, custom fields, and two children, one with its own id
// (lines) and one keyed by (parent id, other id) (tags).
func Invoices() *catalog.Table {
	return &catalog.Table{
		Name:     "invoices",
		Resource: "invoices",
		Cursor:   "updated-at",
		Columns: []catalog.Column{
			{Name: "id", Path: "id", Type: catalog.Int},
			{Name: "invoice_number", Path: "invoice-number", Type: catalog.String},
			{Name: "total", Path: "total", Type: catalog.Decimal},
			{Name: "paid", Path: "paid", Type: catalog.Bool},
			{Name: "invoice_date", Path: "invoice-date", Type: catalog.Timestamp},
			{Name: "updated_at", Path: "updated-at", Type: catalog.Timestamp},
			{Name: "custom_fields", Path: "custom-fields", Type: catalog.JSON},
		},
		Children: []catalog.Child{
			{
				Name: "invoice_lines", Path: "invoice-lines", ParentKey: "invoice_id", Key: []string{"id"},
				Columns: []catalog.Column{
					{Name: "id", Path: "id", Type: catalog.Int},
					{Name: "line_num", Path: "line-num", Type: catalog.Int},
					{Name: "amount", Path: "amount", Type: catalog.Decimal},
					{Name: "description", Path: "description", Type: catalog.String},
				},
			},
			{
				Name: "invoice_tags", Path: "tags", ParentKey: "invoice_id", Key: []string{"invoice_id", "tag_id"},
				Columns: []catalog.Column{
					{Name: "tag_id", Path: "id", Type: catalog.Int},
					{Name: "name", Path: "name", Type: catalog.String},
				},
			},
		},
	}
}

// InvoicesV2 is Invoices after the catalog learned a parent column and a line column.
func InvoicesV2() *catalog.Table {
	t := Invoices()
	t.Columns = append(t.Columns, catalog.Column{Name: "po_number", Path: "po-number", Type: catalog.String})
	t.Children[0].Columns = append(t.Children[0].Columns, catalog.Column{Name: "po_line", Path: "po-line", Type: catalog.Int})
	return t
}

// Suppliers is a second parent without children.
func Suppliers() *catalog.Table {
	return &catalog.Table{
		Name:   "suppliers",
		Cursor: "updated-at",
		Columns: []catalog.Column{
			{Name: "id", Path: "id", Type: catalog.Int},
			{Name: "name", Path: "name", Type: catalog.String},
			{Name: "updated_at", Path: "updated-at", Type: catalog.Timestamp},
		},
	}
}

var base = time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)

// The layouts of the fixture's rows.
var (
	invoiceCols = Invoices().Layout()
	lineCols    = Invoices().Children[0].Layout()
	tagCols     = Invoices().Children[1].Layout()
)

// Set assigns column name of r, a row of layout l: fixtures and their spoilt variants read better by name.
func Set(r catalog.Row, l catalog.Layout, name string, v any) {
	i := l.Index(name)
	if i < 0 {
		panic("desttest: no column " + name)
	}
	r[i] = v
}

// Invoice builds a parent row with its three lines (ids id*10+1..3) and one tag.
func Invoice(id int64, total string) (catalog.Row, []catalog.Row, []catalog.Row) {
	row := invoiceCols.Row(map[string]any{
		"id":             id,
		"invoice_number": fmt.Sprintf("INV-%d", id),
		"total":          total,
		"paid":           id%2 == 0,
		"invoice_date":   base.Add(-24 * time.Hour),
		"updated_at":     base.Add(time.Duration(id) * time.Second),
	})
	var lines []catalog.Row
	for n := int64(1); n <= 3; n++ {
		lines = append(lines, lineCols.Row(map[string]any{
			"invoice_id": id, "id": id*10 + n, "line_num": n, "amount": fmt.Sprintf("%d.25", n), "description": fmt.Sprintf("line %d of %d", n, id),
		}))
	}
	tags := []catalog.Row{tagCols.Row(map[string]any{"invoice_id": id, "tag_id": int64(7), "name": "urgent"})}
	return row, lines, tags
}

// asV2 turns a page of Invoices into the same page of InvoicesV2, its new columns nil.
func asV2(p *dest.Page) {
	v2 := InvoicesV2()
	convert := func(rows []catalog.Row, from, to catalog.Layout) {
		for i, r := range rows {
			rows[i] = to.Row(from.Named(r))
		}
	}
	convert(p.Rows, p.Table.Layout(), v2.Layout())
	convert(p.Children["invoice_lines"], p.Table.Children[0].Layout(), v2.Children[0].Layout())
	p.Table = v2
}

// Page builds a page of invoices with their lines and tags.
func Page(ids ...int64) *dest.Page {
	p := &dest.Page{Table: Invoices(), Children: map[string][]catalog.Row{}, SyncedAt: base.Add(time.Hour)}
	for _, id := range ids {
		row, lines, tags := Invoice(id, fmt.Sprintf("%d.50", id*100))
		p.Rows = append(p.Rows, row)
		p.Children["invoice_lines"] = append(p.Children["invoice_lines"], lines...)
		p.Children["invoice_tags"] = append(p.Children["invoice_tags"], tags...)
	}
	return p
}

type opener = func(t *testing.T) dest.Destination

// Run runs the contract against destinations from open, a fresh and empty one per call. The destination
// must implement dest.Reader.
func Run(t *testing.T, open func(t *testing.T) dest.Destination) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, d dest.Destination)
	}{
		{"PrepareIsIdempotent", testPrepareIdempotent},
		{"PrepareEvolves", testPrepareEvolves},
		{"UpsertUpdatesNotDuplicates", testUpsert},
		{"ChildrenReplaced", testChildrenReplaced},
		{"ChildMovedToAnotherParent", testChildMoved},
		{"ExactDecimals", testDecimals},
		{"TimestampsUTC", testTimestamps},
		{"JSONPreserved", testJSON},
		{"ChildExtraPreserved", testChildExtra},
		{"NullsRoundTrip", testNulls},
		{"StateWithPage", testStateWithPage},
		{"SaveLoadResetState", testSaveLoadReset},
		{"CancelledWriteCommitsNothing", testCancelled},
		{"BadRowsCommitNothing", testBadRows},
		{"RefusedPagesLeaveNothingBehind", testRefusedThenGood},
		{"MarkDeletedAndRevive", testMarkDeleted},
		{"MaxID", testMaxID},
		{"NewerStateRefused", testNewerState},
		{"RunsRecorded", testRuns},
		{"ConcurrentWriters", testConcurrent},
		{"StagedPages", testStaged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := open(t)
			t.Cleanup(func() { d.Close() })
			if _, ok := d.(dest.Reader); !ok {
				t.Fatalf("%T does not implement dest.Reader; the contract reads rows back through it", d)
			}
			tc.fn(t, context.Background(), d)
		})
	}
}

// RunPrefix checks Options.Prefix. Within one test, every open(t, prefix) must open the same warehouse
// (empty at the first call) with that prefix: the check is that prefixes keep tables and states apart.
func RunPrefix(t *testing.T, open func(t *testing.T, prefix string) dest.Destination) {
	ctx := context.Background()
	a := open(t, "")
	defer a.Close()
	b := open(t, "acme_")
	defer b.Close()
	mustPrepare(t, a, Invoices())
	mustPrepare(t, b, Invoices())
	mustWrite(t, a, Page(1, 2))
	p := Page(3)
	p.State = &dest.State{Table: "invoices", Cursor: base}
	mustWrite(t, b, p)

	if got := ids(t, a, "invoices"); !reflect.DeepEqual(got, []int64{1, 2}) {
		t.Errorf("unprefixed invoices hold ids %v, want [1 2]", got)
	}
	if got := ids(t, b, "invoices"); !reflect.DeepEqual(got, []int64{3}) {
		t.Errorf("acme_invoices hold ids %v, want [3]: the prefix must name separate tables", got)
	}
	if got := len(read(t, b, "invoice_lines")); got != 3 {
		t.Errorf("acme_invoice_lines has %d rows, want 3", got)
	}
	if s := load(t, a, "invoices"); s != nil {
		t.Errorf("the state of prefix acme_ leaked to the unprefixed warehouse: %+v", s)
	}
	if s := load(t, b, "invoices"); s == nil || !s.Cursor.Equal(base) || s.Table != "invoices" {
		t.Errorf("state under prefix = %+v, want table invoices, cursor %v", s, base)
	}
	if err := a.ResetState(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if s := load(t, b, "invoices"); s == nil {
		t.Error("resetting every state of one prefix removed another prefix's state")
	}
}

func mustPrepare(t *testing.T, d dest.Destination, tables ...*catalog.Table) {
	t.Helper()
	if err := d.Prepare(context.Background(), tables); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
}

func mustWrite(t *testing.T, d dest.Destination, p *dest.Page) dest.WriteStats {
	t.Helper()
	st, err := d.WritePage(context.Background(), p)
	if err != nil {
		t.Fatalf("WritePage: %v", err)
	}
	return st
}

func read(t *testing.T, d dest.Destination, table string) []map[string]any {
	t.Helper()
	rows, err := d.(dest.Reader).ReadRows(context.Background(), table)
	if err != nil {
		t.Fatalf("ReadRows(%s): %v", table, err)
	}
	return rows
}

func ids(t *testing.T, d dest.Destination, table string) []int64 {
	t.Helper()
	var out []int64
	for _, r := range read(t, d, table) {
		out = append(out, r["id"].(int64))
	}
	return out
}

func byID(t *testing.T, d dest.Destination, table string) map[int64]map[string]any {
	t.Helper()
	m := map[int64]map[string]any{}
	for _, r := range read(t, d, table) {
		m[r["id"].(int64)] = r
	}
	return m
}

func load(t *testing.T, d dest.Destination, table string) *dest.State {
	t.Helper()
	s, err := d.LoadState(context.Background(), table)
	if err != nil {
		t.Fatalf("LoadState(%s): %v", table, err)
	}
	return s
}

func testPrepareIdempotent(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices(), Suppliers())
	mustWrite(t, d, Page(1, 2))
	mustPrepare(t, d, Invoices(), Suppliers())
	mustPrepare(t, d, Invoices(), Suppliers())
	if got := ids(t, d, "invoices"); !reflect.DeepEqual(got, []int64{1, 2}) {
		t.Errorf("after preparing again, invoices = %v, want [1 2]", got)
	}
	if got := len(read(t, d, "invoice_lines")); got != 6 {
		t.Errorf("after preparing again, invoice_lines has %d rows, want 6", got)
	}
	rows := read(t, d, "suppliers")
	if len(rows) != 0 {
		t.Errorf("suppliers has %d rows, want 0", len(rows))
	}
}

func testPrepareEvolves(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	mustWrite(t, d, Page(1))
	mustPrepare(t, d, InvoicesV2())
	old := byID(t, d, "invoices")[1]
	if old == nil || old["invoice_number"] != "INV-1" || old["total"] != "100.50" {
		t.Fatalf("after evolving, invoice 1 = %v, want its old values", old)
	}
	if v, ok := old["po_number"]; !ok || v != nil {
		t.Errorf("new column po_number of an old row = %v (present %v), want present and nil", v, ok)
	}
	p := &dest.Page{Table: Invoices(), SyncedAt: base}
	row, lines, _ := Invoice(2, "1.00")
	p.Rows = []catalog.Row{row}
	p.Children = map[string][]catalog.Row{"invoice_lines": lines}
	asV2(p)
	Set(p.Rows[0], InvoicesV2().Layout(), "po_number", "PO-9")
	Set(p.Children["invoice_lines"][0], InvoicesV2().Children[0].Layout(), "po_line", int64(4))
	mustWrite(t, d, p)
	if got := byID(t, d, "invoices")[2]["po_number"]; got != "PO-9" {
		t.Errorf("po_number written after evolving = %v, want PO-9", got)
	}
	if got := byID(t, d, "invoice_lines")[21]["po_line"]; got != int64(4) {
		t.Errorf("po_line of line 21 = %v (%T), want 4", got, got)
	}
	if got := len(read(t, d, "invoice_lines")); got != 6 {
		t.Errorf("invoice_lines has %d rows, want 6 (3 old, 3 new)", got)
	}
	// Preparing the older catalog again (an older coupa on the same warehouse) must not drop the column.
	mustPrepare(t, d, Invoices())
	mustPrepare(t, d, InvoicesV2())
	if got := byID(t, d, "invoices")[2]["po_number"]; got != "PO-9" {
		t.Errorf("po_number after preparing the old catalog = %v, want PO-9 kept", got)
	}
}

func testUpsert(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	st := mustWrite(t, d, Page(1, 2))
	if st.Inserted != 2 || st.Updated != 0 || st.Children != 8 {
		t.Errorf("first write stats = %+v, want 2 inserted, 0 updated, 8 children", st)
	}
	p := Page(2, 3)
	Set(p.Rows[0], invoiceCols, "invoice_number", "INV-2-amended")
	Set(p.Rows[0], invoiceCols, "total", "999.99")
	st = mustWrite(t, d, p)
	if st.Inserted != 1 || st.Updated != 1 || st.Children != 8 {
		t.Errorf("second write stats = %+v, want 1 inserted, 1 updated, 8 children", st)
	}
	if got := ids(t, d, "invoices"); !reflect.DeepEqual(got, []int64{1, 2, 3}) {
		t.Fatalf("invoices = %v, want [1 2 3]", got)
	}
	r := byID(t, d, "invoices")[2]
	if r["invoice_number"] != "INV-2-amended" || r["total"] != "999.99" {
		t.Errorf("invoice 2 = %v, want the amended number and total", r)
	}
	if got := len(read(t, d, "invoice_lines")); got != 9 {
		t.Errorf("invoice_lines has %d rows, want 9 (3 invoices x 3)", got)
	}
	if got := len(read(t, d, "invoice_tags")); got != 3 {
		t.Errorf("invoice_tags has %d rows, want 3", got)
	}
}

func testChildrenReplaced(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	mustWrite(t, d, Page(1, 2))
	p := Page(1)
	lines := p.Children["invoice_lines"]
	Set(lines[0], lineCols, "description", "changed")
	p.Children["invoice_lines"] = lines[:2] // line 13 was removed from invoice 1
	delete(p.Children, "invoice_tags")      // and invoice 1 has no tags any more
	mustWrite(t, d, p)

	got := byID(t, d, "invoice_lines")
	var gotIDs []int64
	for id := range got {
		gotIDs = append(gotIDs, id)
	}
	sort.Slice(gotIDs, func(i, j int) bool { return gotIDs[i] < gotIDs[j] })
	if want := []int64{11, 12, 21, 22, 23}; !reflect.DeepEqual(gotIDs, want) {
		t.Errorf("invoice_lines ids = %v, want %v (13 removed, invoice 2's untouched)", gotIDs, want)
	}
	if got[11]["description"] != "changed" {
		t.Errorf("line 11 description = %v, want changed", got[11]["description"])
	}
	if got[21]["invoice_id"] != int64(2) || got[21]["amount"] != "1.25" {
		t.Errorf("line 21 of the untouched invoice = %v", got[21])
	}
	tags := read(t, d, "invoice_tags")
	if len(tags) != 1 || tags[0]["invoice_id"] != int64(2) || tags[0]["tag_id"] != int64(7) {
		t.Errorf("invoice_tags = %v, want only invoice 2's tag: a child table missing from the page is cleared for its parents", tags)
	}
}

// A line that Coupa moved to another parent is written under the new one even though its old parent is
// not in the page: a key conflict with a stale child row must not fail the page forever.
func testChildMoved(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	mustWrite(t, d, Page(1, 2))
	p := Page(2)
	Set(p.Children["invoice_lines"][0], lineCols, "id", int64(11)) // was invoice 1's first line
	mustWrite(t, d, p)
	lines := byID(t, d, "invoice_lines")
	if got := lines[11]["invoice_id"]; got != int64(2) {
		t.Errorf("line 11 belongs to invoice %v, want 2", got)
	}
	if got := len(lines); got != 5 {
		t.Errorf("%d lines, want 5 (12, 13 of invoice 1; 11, 22, 23 of invoice 2)", got)
	}
}

func testDecimals(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	values := []string{"0.10", "1234.5678", "-5.00", "0", "12345678901234567.89", "100.50"}
	p := &dest.Page{Table: Invoices(), SyncedAt: base}
	for i, v := range values {
		row, _, _ := Invoice(int64(i+1), v)
		p.Rows = append(p.Rows, row)
	}
	p.Children = map[string][]catalog.Row{"invoice_lines": {lineCols.Row(map[string]any{"invoice_id": int64(1), "id": int64(100), "line_num": int64(1), "amount": "0.30"})}}
	mustWrite(t, d, p)
	rows := byID(t, d, "invoices")
	for i, v := range values {
		if got := rows[int64(i+1)]["total"]; got != v {
			t.Errorf("total written as %q read back as %#v", v, got)
		}
	}
	if got := byID(t, d, "invoice_lines")[100]["amount"]; got != "0.30" {
		t.Errorf("line amount written as \"0.30\" read back as %#v", got)
	}
	bad := &dest.Page{Table: Invoices(), SyncedAt: base}
	row, _, _ := Invoice(50, "")
	Set(row, invoiceCols, "total", 0.1)
	bad.Rows = []catalog.Row{row}
	if _, err := d.WritePage(ctx, bad); err == nil {
		t.Error("a float64 decimal was accepted; it must be refused because it is not exact")
	}
}

func testTimestamps(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	pacific := time.FixedZone("-07:00", -7*3600)
	local := time.Date(2016, 10, 7, 6, 59, 46, 0, pacific)
	p := Page(1)
	Set(p.Rows[0], invoiceCols, "updated_at", local)
	Set(p.Rows[0], invoiceCols, "invoice_date", time.Time{})
	p.SyncedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mustWrite(t, d, p)
	r := byID(t, d, "invoices")[1]
	got, ok := r["updated_at"].(time.Time)
	if !ok || !got.Equal(local) || got.Location() != time.UTC {
		t.Errorf("updated_at written as %v read back as %#v, want the same instant in UTC", local, r["updated_at"])
	}
	if r["invoice_date"] != nil {
		t.Errorf("a zero time.Time read back as %v, want nil", r["invoice_date"])
	}
	if s, ok := r[catalog.ColSyncedAt].(time.Time); !ok || !s.Equal(p.SyncedAt) {
		t.Errorf("_synced_at = %#v, want %v", r[catalog.ColSyncedAt], p.SyncedAt)
	}
	if r[catalog.ColDeletedAt] != nil {
		t.Errorf("_deleted_at of a fresh row = %v, want nil", r[catalog.ColDeletedAt])
	}
	line := byID(t, d, "invoice_lines")[11]
	if s, ok := line[catalog.ColSyncedAt].(time.Time); !ok || !s.Equal(p.SyncedAt) {
		t.Errorf("child _synced_at = %#v, want %v", line[catalog.ColSyncedAt], p.SyncedAt)
	}
}

func testJSON(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	custom := `{"cost-center":"R&D <lab>","approved":true,"amount":"12.30","list":[1,2]}`
	extra := `{"payment-term":{"code":"Net 30"},"unknown-flag":false,"note":"ünïcödé \"quoted\""}`
	p := Page(1)
	Set(p.Rows[0], invoiceCols, "custom_fields", custom)
	Set(p.Rows[0], invoiceCols, catalog.ColExtra, extra)
	mustWrite(t, d, p)
	r := byID(t, d, "invoices")[1]
	if r["custom_fields"] != custom {
		t.Errorf("custom_fields = %#v, want %s", r["custom_fields"], custom)
	}
	if r[catalog.ColExtra] != extra {
		t.Errorf("_extra = %#v, want %s", r[catalog.ColExtra], extra)
	}
}

// testChildExtra: a child row's _extra (its item's fields no column takes) is stored like a parent's, for a
// child with its own id and one keyed by its parent; a child row without it reads back nil.
func testChildExtra(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	lineExtra := `{"custom-field-1":"CC-7","tax":{"code":"VAT20"}}`
	tagExtra := `{"color":"red"}`
	p := Page(1)
	Set(p.Children["invoice_lines"][0], lineCols, catalog.ColExtra, lineExtra)
	Set(p.Children["invoice_tags"][0], tagCols, catalog.ColExtra, tagExtra)
	mustWrite(t, d, p)
	lines := byID(t, d, "invoice_lines")
	if got := lines[11][catalog.ColExtra]; got != lineExtra {
		t.Errorf("line _extra = %#v, want %s", got, lineExtra)
	}
	if got, ok := lines[12][catalog.ColExtra]; !ok || got != nil {
		t.Errorf("line without _extra: %#v (present %v), want present and nil", got, ok)
	}
	tags := read(t, d, "invoice_tags")
	if len(tags) != 1 || tags[0][catalog.ColExtra] != tagExtra {
		t.Errorf("tags = %v, want one with _extra %s", tags, tagExtra)
	}
}

func testNulls(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	p := &dest.Page{Table: Invoices(), SyncedAt: base, Rows: []catalog.Row{invoiceCols.Row(map[string]any{"id": int64(5)})}}
	mustWrite(t, d, p)
	r := byID(t, d, "invoices")[5]
	for _, c := range []string{"invoice_number", "total", "paid", "invoice_date", "custom_fields", catalog.ColExtra} {
		if v, ok := r[c]; !ok || v != nil {
			t.Errorf("column %s of a row that omits it = %#v (present %v), want present and nil", c, v, ok)
		}
	}
	p = Page(6)
	Set(p.Rows[0], invoiceCols, "paid", false)
	mustWrite(t, d, p)
	if got := byID(t, d, "invoices")[6]["paid"]; got != false {
		t.Errorf("paid=false read back as %#v", got)
	}
	p = Page(6)
	Set(p.Rows[0], invoiceCols, "paid", true)
	mustWrite(t, d, p)
	if got := byID(t, d, "invoices")[6]["paid"]; got != true {
		t.Errorf("paid=true read back as %#v", got)
	}
}

func window() *dest.Window {
	return &dest.Window{
		From: base.Add(-time.Hour), To: base.Add(123456789 * time.Nanosecond), FullRefresh: true,
		Partitions: []dest.Partition{{Lo: 0, Hi: 1000, LastID: 2, Done: false}, {Lo: 1000, Hi: 0, LastID: 1500, Done: true}},
	}
}

func testStateWithPage(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	if s := load(t, d, "invoices"); s != nil {
		t.Fatalf("state of a never-synced table = %+v, want nil", s)
	}
	p := Page(1, 2)
	cursor := base.Add(-48*time.Hour + 5*time.Millisecond)
	p.State = &dest.State{Table: "invoices", Version: dest.StateVersion, Cursor: cursor, Window: window(), UpdatedAt: base}
	mustWrite(t, d, p)
	s := load(t, d, "invoices")
	if s == nil {
		t.Fatal("the state written with a page is not readable")
	}
	if s.Table != "invoices" || s.Version != dest.StateVersion || !s.Cursor.Equal(cursor) || !s.UpdatedAt.Equal(base) {
		t.Errorf("state = %+v, want table invoices, version %d, cursor %v, updated %v", s, dest.StateVersion, cursor, base)
	}
	if !reflect.DeepEqual(s.Window, window()) {
		t.Errorf("window = %+v, want %+v (exact to the nanosecond)", s.Window, window())
	}
	// The last page of a partition may be empty and still carry the checkpoint that closes it.
	empty := &dest.Page{Table: Invoices(), SyncedAt: base, State: &dest.State{Table: "invoices", Cursor: cursor, Window: window()}}
	empty.State.Window.Partitions[0].Done = true
	if st := mustWrite(t, d, empty); st != (dest.WriteStats{}) {
		t.Errorf("stats of an empty page = %+v, want zero", st)
	}
	if s := load(t, d, "invoices"); s == nil || s.Window == nil || !s.Window.Partitions[0].Done {
		t.Errorf("state written with an empty page = %+v, want partition 0 done", s)
	}
	if got := ids(t, d, "invoices"); !reflect.DeepEqual(got, []int64{1, 2}) {
		t.Errorf("after an empty page, invoices = %v, want [1 2]", got)
	}
}

// testStaged checks dest.StagedWriter, when the destination has it: pages staged at once stay invisible
// until committed, each commit saves exactly its page with its state, and a rolled-back or failed
// page leaves nothing behind.
func testStaged(t *testing.T, ctx context.Context, d dest.Destination) {
	sw, ok := d.(dest.StagedWriter)
	if !ok {
		return // optional: WritePage is the whole contract
	}
	if sw.StageLimit() < 1 {
		t.Fatalf("StageLimit() = %d, want at least 1", sw.StageLimit())
	}
	mustPrepare(t, d, Invoices())
	stage := func(p *dest.Page) dest.Staged {
		t.Helper()
		s, err := sw.StagePage(ctx, p)
		if err != nil {
			t.Fatalf("StagePage: %v", err)
		}
		return s
	}
	pageB := Page(3, 4)
	wantChildren := len(pageB.Children["invoice_lines"]) + len(pageB.Children["invoice_tags"])
	a, b, c := stage(Page(1, 2)), stage(pageB), stage(Page(5))
	if got := ids(t, d, "invoices"); len(got) != 0 {
		t.Fatalf("staged, uncommitted pages are visible: invoices = %v", got)
	}
	cursor := base.Add(-time.Hour)
	stB := &dest.State{Table: "invoices", Cursor: cursor, Window: window(), UpdatedAt: base}
	st, err := b.Commit(ctx, stB)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if st.Inserted != 2 || st.Updated != 0 || st.Children != wantChildren {
		t.Errorf("stats of a committed staged page = %+v, want 2 inserted, %d children", st, wantChildren)
	}
	a.Rollback()
	a.Rollback() // twice is harmless
	if got := ids(t, d, "invoices"); !reflect.DeepEqual(got, []int64{3, 4}) {
		t.Errorf("after committing page {3,4} and rolling back {1,2}: invoices = %v, want [3 4]", got)
	}
	if got, want := len(read(t, d, "invoice_lines")), len(pageB.Children["invoice_lines"]); got != want {
		t.Errorf("invoice_lines has %d rows, want the %d of the committed page", got, want)
	}
	if s := load(t, d, "invoices"); s == nil || !s.Cursor.Equal(cursor) || !reflect.DeepEqual(s.Window, window()) {
		t.Errorf("state after the commit = %+v, want the state committed with the page", s)
	}
	if _, err := a.Commit(ctx, nil); err == nil {
		t.Error("Commit after Rollback succeeded; it must fail and save nothing")
	}
	// The third page, staged all along, commits on its own without a state: the saved state stays.
	if _, err := c.Commit(ctx, nil); err != nil {
		t.Fatalf("Commit without a state: %v", err)
	}
	if got := ids(t, d, "invoices"); !reflect.DeepEqual(got, []int64{3, 4, 5}) {
		t.Errorf("invoices = %v, want [3 4 5]", got)
	}
	if s := load(t, d, "invoices"); s == nil || !s.Cursor.Equal(cursor) {
		t.Errorf("a commit without a state changed the saved state to %+v", s)
	}
	// A page the destination refuses is refused at staging, before anything is written.
	bad := Page(6)
	Set(bad.Rows[0], invoiceCols, "total", "not money")
	if s, err := sw.StagePage(ctx, bad); err == nil {
		s.Rollback()
		t.Error("StagePage accepted a row with a non-decimal amount")
	}
}

func testSaveLoadReset(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices(), Suppliers())
	for _, name := range []string{"invoices", "suppliers"} {
		if err := d.SaveState(ctx, &dest.State{Table: name, Cursor: base, UpdatedAt: base}); err != nil {
			t.Fatal(err)
		}
	}
	// Saving again replaces: the window closes and the cursor moves.
	if err := d.SaveState(ctx, &dest.State{Table: "invoices", Cursor: base.Add(time.Hour), Window: window()}); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveState(ctx, &dest.State{Table: "invoices", Cursor: base.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s := load(t, d, "invoices")
	if s == nil || !s.Cursor.Equal(base.Add(2*time.Hour)) || s.Window != nil || s.Version != dest.StateVersion {
		t.Errorf("state after SaveState = %+v, want cursor %v, no window, version %d", s, base.Add(2*time.Hour), dest.StateVersion)
	}
	states, err := d.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range states {
		names = append(names, s.Table)
	}
	sort.Strings(names)
	if !reflect.DeepEqual(names, []string{"invoices", "suppliers"}) {
		t.Errorf("States = %v, want [invoices suppliers]", names)
	}
	if err := d.ResetState(ctx, "invoices"); err != nil {
		t.Fatal(err)
	}
	if s := load(t, d, "invoices"); s != nil {
		t.Errorf("state after reset = %+v, want nil", s)
	}
	if s := load(t, d, "suppliers"); s == nil {
		t.Error("resetting invoices removed the state of suppliers")
	}
	if err := d.ResetState(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if states, _ := d.States(ctx); len(states) != 0 {
		t.Errorf("after resetting every table, States = %d states, want 0", len(states))
	}
}

// assertUnchanged checks that the warehouse still holds exactly Page(1,2) with its state.
func assertUnchanged(t *testing.T, d dest.Destination, what string) {
	t.Helper()
	if got := ids(t, d, "invoices"); !reflect.DeepEqual(got, []int64{1, 2}) {
		t.Errorf("after %s, invoices = %v, want [1 2]", what, got)
	}
	if r := byID(t, d, "invoices")[1]; r["total"] != "100.50" {
		t.Errorf("after %s, invoice 1 total = %v, want 100.50 (the failed page changed it)", what, r["total"])
	}
	if got := len(read(t, d, "invoice_lines")); got != 6 {
		t.Errorf("after %s, invoice_lines has %d rows, want 6", what, got)
	}
	if s := load(t, d, "invoices"); s == nil || !s.Cursor.Equal(base) {
		t.Errorf("after %s, state = %+v, want the earlier cursor %v", what, s, base)
	}
}

func changingPage() *dest.Page {
	p := Page(1, 3)
	Set(p.Rows[0], invoiceCols, "total", "1.00")
	p.State = &dest.State{Table: "invoices", Cursor: base.Add(time.Hour)}
	return p
}

func seed(t *testing.T, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	p := Page(1, 2)
	p.State = &dest.State{Table: "invoices", Cursor: base}
	mustWrite(t, d, p)
}

func testCancelled(t *testing.T, ctx context.Context, d dest.Destination) {
	seed(t, d)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.WritePage(cctx, changingPage()); err == nil {
		t.Fatal("WritePage with a cancelled context succeeded")
	}
	assertUnchanged(t, d, "a cancelled write")
}

// badPages spoil a changingPage each in a way every backend must refuse, before anything of it is kept.
var badPages = map[string]func(p *dest.Page){
	"a parent without id":            func(p *dest.Page) { Set(p.Rows[1], invoiceCols, "id", nil) },
	"a line without id":              func(p *dest.Page) { Set(p.Children["invoice_lines"][4], lineCols, "id", nil) },
	"a tag without its key":          func(p *dest.Page) { Set(p.Children["invoice_tags"][1], tagCols, "tag_id", nil) },
	"a wrong Go type":                func(p *dest.Page) { Set(p.Children["invoice_lines"][5], lineCols, "line_num", "three") },
	"a row longer than its layout":   func(p *dest.Page) { p.Rows[1] = append(p.Rows[1], "x") },
	"a row shorter than its layout":  func(p *dest.Page) { p.Rows[1] = p.Rows[1][:3] },
	"a column the destination lacks": asV2,
	"a child of no parent in page":   func(p *dest.Page) { Set(p.Children["invoice_lines"][5], lineCols, "invoice_id", int64(99)) },
	"a child table the parent lacks": func(p *dest.Page) { p.Children["order_lines"] = []catalog.Row{{int64(1)}} },
	"a malformed decimal":            func(p *dest.Page) { Set(p.Rows[1], invoiceCols, "total", "12,50") },
}

// refuseEach writes every page of badPages, each of which must be refused, and calls after with its name.
func refuseEach(t *testing.T, ctx context.Context, d dest.Destination, after func(what string)) {
	t.Helper()
	for name, spoil := range badPages {
		p := changingPage()
		spoil(p)
		if _, err := d.WritePage(ctx, p); err == nil {
			t.Errorf("a page with %s was accepted", name)
		}
		after("a page with " + name)
	}
}

func testBadRows(t *testing.T, ctx context.Context, d dest.Destination) {
	seed(t, d)
	refuseEach(t, ctx, d, func(what string) { assertUnchanged(t, d, what) })
}

// testRefusedThenGood writes the refused pages of testBadRows back to back, nothing read in between, then a
// good page: a backend that buffers rows (Parquet keeps a part's cells until it rolls) must have taken every
// cell of a refused page back, or the good page's values come out shifted or mixed with the refused ones.
func testRefusedThenGood(t *testing.T, ctx context.Context, d dest.Destination) {
	seed(t, d)
	refuseEach(t, ctx, d, func(string) {}) // nothing read between them
	mustWrite(t, d, changingPage())
	invoices := byID(t, d, "invoices")
	for id, total := range map[int64]string{1: "1.00", 2: "200.50", 3: "300.50"} {
		r := invoices[id]
		if r["invoice_number"] != fmt.Sprintf("INV-%d", id) || r["total"] != total || r["paid"] != (id%2 == 0) {
			t.Errorf("invoice %d reads back as %v, want INV-%d, total %s", id, r, id, total)
		}
	}
	if len(invoices) != 3 {
		t.Errorf("%d invoices, want 3", len(invoices))
	}
	lines := read(t, d, "invoice_lines")
	for _, l := range lines {
		id, n := l["invoice_id"].(int64), l["line_num"].(int64)
		if l["id"] != id*10+n || l["description"] != fmt.Sprintf("line %d of %d", n, id) || l["amount"] != fmt.Sprintf("%d.25", n) {
			t.Errorf("line reads back as %v", l)
		}
	}
	if len(lines) != 9 {
		t.Errorf("%d invoice lines, want 9", len(lines))
	}
}

func testMarkDeleted(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	mustWrite(t, d, Page(1, 2, 3, 4))
	gone := base.Add(72 * time.Hour)
	if err := d.MarkDeleted(ctx, "invoices", []int64{2, 4, 404}, gone); err != nil {
		t.Fatal(err)
	}
	live, err := d.LiveIDs(ctx, "invoices")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(live, []int64{1, 3}) {
		t.Errorf("LiveIDs = %v, want [1 3]", live)
	}
	rows := byID(t, d, "invoices")
	if len(rows) != 4 {
		t.Errorf("%d invoices after MarkDeleted, want 4: rows are never hard-deleted", len(rows))
	}
	if at, ok := rows[2][catalog.ColDeletedAt].(time.Time); !ok || !at.Equal(gone) {
		t.Errorf("_deleted_at of 2 = %#v, want %v", rows[2][catalog.ColDeletedAt], gone)
	}
	if rows[1][catalog.ColDeletedAt] != nil {
		t.Errorf("_deleted_at of live row 1 = %v, want nil", rows[1][catalog.ColDeletedAt])
	}
	if got := len(read(t, d, "invoice_lines")); got != 12 {
		t.Errorf("invoice_lines has %d rows after MarkDeleted, want 12 (children stay with their parent)", got)
	}
	st := mustWrite(t, d, Page(2))
	if st.Updated != 1 || st.Inserted != 0 {
		t.Errorf("stats of reviving 2 = %+v, want 1 updated", st)
	}
	if r := byID(t, d, "invoices")[2]; r[catalog.ColDeletedAt] != nil {
		t.Errorf("_deleted_at of a re-written row = %v, want nil (revived)", r[catalog.ColDeletedAt])
	}
	live, _ = d.LiveIDs(ctx, "invoices")
	if !reflect.DeepEqual(live, []int64{1, 2, 3}) {
		t.Errorf("LiveIDs after reviving 2 = %v, want [1 2 3]", live)
	}
	if err := d.MarkDeleted(ctx, "invoices", nil, gone); err != nil {
		t.Errorf("MarkDeleted of no ids: %v", err)
	}
}

// testMaxID checks dest.MaxIDer where a backend offers it: the sync engine splits a large incremental
// window by it, so it must count deleted rows too (their ids are still taken).
func testMaxID(t *testing.T, ctx context.Context, d dest.Destination) {
	m, ok := d.(dest.MaxIDer)
	if !ok {
		return // optional: the engine then asks Coupa
	}
	mustPrepare(t, d, Invoices())
	if id, err := m.MaxID(ctx, "invoices"); err != nil || id != 0 {
		t.Errorf("MaxID of an empty table = %d, %v; want 0", id, err)
	}
	mustWrite(t, d, Page(3, 17, 5))
	if err := d.MarkDeleted(ctx, "invoices", []int64{17}, base); err != nil {
		t.Fatal(err)
	}
	if id, err := m.MaxID(ctx, "invoices"); err != nil || id != 17 {
		t.Errorf("MaxID = %d, %v; want 17 (a deleted row's id still counts)", id, err)
	}
}

func testNewerState(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	if err := d.SaveState(ctx, &dest.State{Table: "invoices", Version: dest.StateVersion + 2, Cursor: base}); err != nil {
		t.Fatal(err)
	}
	_, err := d.LoadState(ctx, "invoices")
	var ve *dest.StateVersionError
	if !errors.As(err, &ve) || ve.Version != dest.StateVersion+2 || ve.Table != "invoices" {
		t.Fatalf("LoadState of a newer state: err = %v, want a *dest.StateVersionError for invoices, version %d", err, dest.StateVersion+2)
	}
	want := fmt.Sprintf("state of invoices was written by a newer coupa (version %d); upgrade coupa or run `coupa state reset invoices`", dest.StateVersion+2)
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	states, err := d.States(ctx)
	if err != nil || len(states) != 1 || states[0].Version != dest.StateVersion+2 {
		t.Errorf("States with a newer state = %v, %v; want it listed with its version, for `coupa state show`", states, err)
	}
	if err := d.ResetState(ctx, "invoices"); err != nil {
		t.Fatal(err)
	}
	if s := load(t, d, "invoices"); s != nil {
		t.Errorf("after reset, state = %+v, want nil", s)
	}
}

func testRuns(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices())
	r1 := &dest.Run{Started: base, Status: "running", Tables: []string{"invoices", "suppliers"}}
	id1, err := d.StartRun(ctx, r1)
	if err != nil {
		t.Fatal(err)
	}
	r2 := &dest.Run{Started: base.Add(time.Minute), Status: "running", Tables: []string{"users"}}
	id2, err := d.StartRun(ctx, r2)
	if err != nil {
		t.Fatal(err)
	}
	if id1 == id2 || r1.ID != id1 || r2.ID != id2 {
		t.Fatalf("run ids %d, %d (r.ID %d, %d): want distinct and set on the Run", id1, id2, r1.ID, r2.ID)
	}
	r1.Finished = base.Add(2 * time.Minute)
	r1.Status = "partial"
	r1.Summary = `{"invoices":{"new":3}}`
	r1.Error = "suppliers: scope core.supplier.read is missing"
	if err := d.FinishRun(ctx, r1); err != nil {
		t.Fatal(err)
	}
	runs, err := d.(dest.Reader).Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs recorded, want 2", len(runs))
	}
	got := runs[0]
	if got.ID != id1 || !got.Started.Equal(base) || !got.Finished.Equal(r1.Finished) || got.Status != "partial" ||
		got.Summary != r1.Summary || got.Error != r1.Error || !reflect.DeepEqual(got.Tables, r1.Tables) {
		t.Errorf("finished run = %+v, want %+v", got, r1)
	}
	if runs[1].ID != id2 || runs[1].Status != "running" || !runs[1].Finished.IsZero() {
		t.Errorf("unfinished run = %+v, want running and no end", runs[1])
	}
	if err := d.FinishRun(ctx, &dest.Run{ID: id2 + 100, Status: "ok"}); err == nil {
		t.Error("FinishRun of an unknown run id succeeded")
	}
}

func testConcurrent(t *testing.T, ctx context.Context, d dest.Destination) {
	mustPrepare(t, d, Invoices(), Suppliers())
	const writers, pages = 4, 10
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			var err error
			for i := 0; i < pages && err == nil; i++ {
				first := int64(w*1000 + i*5 + 1)
				p := Page(first, first+1, first+2, first+3, first+4)
				p.State = &dest.State{Table: "invoices", Cursor: base}
				_, err = d.WritePage(ctx, p)
			}
			errs <- err
		}()
	}
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			t.Errorf("concurrent WritePage: %v", err)
		}
	}
	if got := len(read(t, d, "invoices")); got != writers*pages*5 {
		t.Errorf("%d invoices after concurrent writes, want %d", got, writers*pages*5)
	}
	if got := len(read(t, d, "invoice_lines")); got != writers*pages*5*3 {
		t.Errorf("%d lines after concurrent writes, want %d", got, writers*pages*5*3)
	}
}

// CheckChildExtraAdded is for a backend's own test of a warehouse made before child tables had _extra: d
// holds Invoices prepared, then stripped of invoice_lines._extra by the backend's test. Prepare must add
// the column back, keeping the rows, and a line's _extra must then round-trip.
func CheckChildExtraAdded(t *testing.T, d dest.Destination) {
	t.Helper()
	mustPrepare(t, d, Invoices())
	if got := len(read(t, d, "invoice_lines")); got != 3 {
		t.Fatalf("after Prepare the old warehouse has %d lines, want its 3", got)
	}
	extra := `{"custom-field-1":"CC-7"}`
	p := Page(2)
	Set(p.Children["invoice_lines"][0], lineCols, catalog.ColExtra, extra)
	mustWrite(t, d, p)
	if got := byID(t, d, "invoice_lines")[21][catalog.ColExtra]; got != extra {
		t.Errorf("line _extra after the column was added = %#v, want %s", got, extra)
	}
}
