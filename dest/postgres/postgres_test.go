package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/desttest"
	"github.com/coupa-connector/coupa-connector/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func invoicesTable() *catalog.Table {
	return &catalog.Table{
		Name: "invoices", Resource: "invoices", Cursor: "updated-at",
		Columns: []catalog.Column{
			{Name: "id", Path: "id", Type: catalog.Int},
			{Name: "invoice_number", Path: "invoice-number", Type: catalog.String},
			{Name: "total", Path: "total", Type: catalog.Decimal},
			{Name: "paid", Path: "paid", Type: catalog.Bool},
			{Name: "updated_at", Path: "updated-at", Type: catalog.Timestamp},
			{Name: "custom_fields", Path: "custom-fields", Type: catalog.JSON},
		},
		Children: []catalog.Child{{
			Name: "invoice_lines", Path: "invoice-lines", ParentKey: "invoice_id", Key: []string{"id"},
			Columns: []catalog.Column{
				{Name: "id", Path: "id", Type: catalog.Int},
				{Name: "description", Path: "description", Type: catalog.String},
				{Name: "amount", Path: "amount", Type: catalog.Decimal},
			},
		}},
	}
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.UTC)

// The layouts of invoicesTable's rows.
var (
	invoiceCols = invoicesTable().Layout()
	lineCols    = invoicesTable().Children[0].Layout()
)

func invoice(id int64, total string) catalog.Row {
	return invoiceCols.Row(map[string]any{"id": id, "invoice_number": fmt.Sprintf("INV-%d", id), "total": total, "paid": id%2 == 0,
		"updated_at": t0.Add(time.Duration(id) * time.Minute), "custom_fields": `{"cost_center":"CC-1"}`,
		catalog.ColExtra: `{"unknown":1}`})
}

func line(parent, id int64, amount string) catalog.Row {
	return lineCols.Row(map[string]any{"invoice_id": parent, "id": id, "description": fmt.Sprintf("line %d", id), "amount": amount})
}

func open(t testing.TB, dsn string, opts Options) *DB {
	t.Helper()
	d, err := Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func prepared(t testing.TB) (*DB, *catalog.Table, string) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	d := open(t, dsn, Options{})
	tab := invoicesTable()
	if err := d.Prepare(context.Background(), []*catalog.Table{tab}); err != nil {
		t.Fatal(err)
	}
	return d, tab, dsn
}

func query[T any](t *testing.T, d *DB, sql string, args ...any) []T {
	t.Helper()
	rows, err := d.pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[T])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func TestWritePageTypesAndExactMoney(t *testing.T) {
	ctx := context.Background()
	d, tab, _ := prepared(t)
	totals := map[int64]string{1: "1234.50", 2: "0.000001", 3: "12345678901234567890.123456789", 4: "-7"}
	var rows []catalog.Row
	for id := int64(1); id <= 4; id++ {
		rows = append(rows, invoice(id, totals[id]))
	}
	desttest.Set(rows[3], invoiceCols, "paid", nil)
	state := &dest.State{Table: "invoices", Version: dest.StateVersion, Cursor: t0,
		Window:    &dest.Window{From: t0, To: t0.Add(time.Hour), Partitions: []dest.Partition{{Lo: 0, Hi: 100, LastID: 4}}},
		UpdatedAt: t0.Add(time.Second)}
	st, err := d.WritePage(ctx, &dest.Page{Table: tab, Rows: rows, SyncedAt: t0,
		Children: map[string][]catalog.Row{"invoice_lines": {line(1, 10, "1.10"), line(1, 11, "2.20"), line(2, 20, "99999999.99")}},
		State:    state})
	if err != nil {
		t.Fatal(err)
	}
	if st != (dest.WriteStats{Inserted: 4, Updated: 0, Children: 3}) {
		t.Errorf("stats %+v, want 4 inserted, 3 children", st)
	}
	type inv struct {
		ID      int64
		Total   string
		Paid    *bool
		Updated time.Time
		CF      string
		Extra   string
		Synced  time.Time
	}
	got := query[string](t, d, `SELECT format('%s|%s|%s|%s|%s|%s|%s', id, total::text, coalesce(paid::text, 'null'),
		to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), custom_fields->>'cost_center', _extra->>'unknown',
		(_deleted_at IS NULL)::text) FROM coupa.invoices ORDER BY id`)
	want := []string{
		"1|1234.50|false|2026-03-01T10:01:00.123456|CC-1|1|true",
		"2|0.000001|true|2026-03-01T10:02:00.123456|CC-1|1|true",
		"3|12345678901234567890.123456789|false|2026-03-01T10:03:00.123456|CC-1|1|true",
		"4|-7|null|2026-03-01T10:04:00.123456|CC-1|1|true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	types := query[string](t, d, `SELECT column_name || ' ' || data_type FROM information_schema.columns
		WHERE table_schema = 'coupa' AND table_name = 'invoices' ORDER BY ordinal_position`)
	wantTypes := "id bigint,invoice_number text,total numeric,paid boolean,updated_at timestamp with time zone," +
		"custom_fields json,_extra json,_synced_at timestamp with time zone,_deleted_at timestamp with time zone"
	if strings.Join(types, ",") != wantTypes {
		t.Errorf("columns %s\nwant    %s", strings.Join(types, ","), wantTypes)
	}
	lines := query[string](t, d, `SELECT invoice_id || ':' || id || ':' || amount::text FROM coupa.invoice_lines ORDER BY id`)
	if strings.Join(lines, ",") != "1:10:1.10,1:11:2.20,2:20:99999999.99" {
		t.Errorf("lines %v", lines)
	}
	loaded, err := d.LoadState(ctx, "invoices")
	if err != nil {
		t.Fatal(err)
	}
	if loaded == nil || !loaded.Cursor.Equal(t0) || loaded.Window == nil || loaded.Window.Partitions[0].LastID != 4 ||
		!loaded.Window.To.Equal(t0.Add(time.Hour)) || !loaded.UpdatedAt.Equal(state.UpdatedAt) {
		t.Errorf("state came back as %+v, want %+v", loaded, state)
	}
}

func TestRewriteSkipsUnchangedAndReplacesChildren(t *testing.T) {
	ctx := context.Background()
	d, tab, _ := prepared(t)
	page := func(total2 string, lines ...catalog.Row) *dest.Page {
		return &dest.Page{Table: tab, Rows: []catalog.Row{invoice(1, "10.00"), invoice(2, total2)}, SyncedAt: t0,
			Children: map[string][]catalog.Row{"invoice_lines": lines}}
	}
	if _, err := d.WritePage(ctx, page("20.00", line(1, 10, "1"), line(1, 11, "2"), line(2, 20, "3"))); err != nil {
		t.Fatal(err)
	}
	before := query[string](t, d, `SELECT xmin::text FROM coupa.invoices ORDER BY id`)
	st, err := d.WritePage(ctx, page("20.01", line(1, 12, "5")))
	if err != nil {
		t.Fatal(err)
	}
	if st.Inserted != 0 || st.Updated != 2 || st.Children != 1 {
		t.Errorf("stats %+v, want 0 inserted, 2 updated, 1 child", st)
	}
	after := query[string](t, d, `SELECT xmin::text FROM coupa.invoices ORDER BY id`)
	if before[0] != after[0] {
		t.Errorf("unchanged invoice 1 was rewritten (xmin %s -> %s): unchanged rows must be skipped", before[0], after[0])
	}
	if before[1] == after[1] {
		t.Errorf("changed invoice 2 was not rewritten")
	}
	if got := query[string](t, d, `SELECT total::text FROM coupa.invoices WHERE id = 2`); got[0] != "20.01" {
		t.Errorf("total %s, want 20.01", got[0])
	}
	// Every listed parent's children are replaced: invoice 2 lost its line, invoice 1 has only line 12.
	if got := query[string](t, d, `SELECT invoice_id || ':' || id FROM coupa.invoice_lines ORDER BY id`); strings.Join(got, ",") != "1:12" {
		t.Errorf("lines after rewrite %v, want [1:12]", got)
	}
}

func TestDuplicateIDsInOnePageLastWins(t *testing.T) {
	d, tab, _ := prepared(t)
	st, err := d.WritePage(context.Background(), &dest.Page{Table: tab, SyncedAt: t0,
		Rows:     []catalog.Row{invoice(1, "1"), invoice(1, "2")},
		Children: map[string][]catalog.Row{"invoice_lines": {line(1, 10, "1"), line(1, 10, "9")}}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Inserted != 1 || st.Updated != 0 {
		t.Errorf("stats %+v, want 1 inserted", st)
	}
	if got := query[string](t, d, `SELECT total::text FROM coupa.invoices`); len(got) != 1 || got[0] != "2" {
		t.Errorf("totals %v, want [2]", got)
	}
	if got := query[string](t, d, `SELECT amount::text FROM coupa.invoice_lines`); len(got) != 1 || got[0] != "9" {
		t.Errorf("amounts %v, want [9]", got)
	}
}

func TestFailedPageCommitsNothing(t *testing.T) {
	ctx := context.Background()
	d, tab, _ := prepared(t)
	// PostgreSQL refuses a NUL byte in text: the child insert fails on the server, after the parents'
	// upsert ran in the same batch, which must then roll back with it.
	bad := line(1, 10, "1")
	desttest.Set(bad, lineCols, "description", "nul\x00byte")
	_, err := d.WritePage(ctx, &dest.Page{Table: tab, SyncedAt: t0, Rows: []catalog.Row{invoice(1, "1")},
		Children: map[string][]catalog.Row{"invoice_lines": {bad}},
		State:    &dest.State{Table: "invoices", Version: 1, Cursor: t0}})
	if err == nil {
		t.Fatal("page with a NUL byte in a child's text was accepted")
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	if n := query[int64](t, d, `SELECT count(*) FROM coupa.invoices`); n[0] != 0 {
		t.Errorf("%d parents committed by a failed page", n[0])
	}
	if s, err := d.LoadState(ctx, "invoices"); err != nil || s != nil {
		t.Errorf("state after failed page = %+v, %v; want none", s, err)
	}
	// The connections must still work after the aborted batch.
	for i := 0; i < 5; i++ {
		if _, err := d.WritePage(ctx, &dest.Page{Table: tab, SyncedAt: t0, Rows: []catalog.Row{invoice(int64(i), "1")}}); err != nil {
			t.Fatalf("page after a failed one: %v", err)
		}
	}
}

func TestDeletesAndRevive(t *testing.T) {
	ctx := context.Background()
	d, tab, _ := prepared(t)
	if _, err := d.WritePage(ctx, &dest.Page{Table: tab, SyncedAt: t0, Rows: []catalog.Row{invoice(3, "1"), invoice(1, "1"), invoice(2, "1")}}); err != nil {
		t.Fatal(err)
	}
	del := t0.Add(time.Hour)
	if err := d.MarkDeleted(ctx, "invoices", []int64{2}, del); err != nil {
		t.Fatal(err)
	}
	ids, err := d.LiveIDs(ctx, "invoices")
	if err != nil || fmt.Sprint(ids) != "[1 3]" {
		t.Errorf("LiveIDs = %v, %v; want [1 3]", ids, err)
	}
	if got := query[time.Time](t, d, `SELECT _deleted_at FROM coupa.invoices WHERE id = 2`); !got[0].Equal(del) {
		t.Errorf("_deleted_at %v, want %v", got[0], del)
	}
	st, err := d.WritePage(ctx, &dest.Page{Table: tab, SyncedAt: t0, Rows: []catalog.Row{invoice(2, "1")}})
	if err != nil || st.Updated != 1 {
		t.Fatalf("revive: %+v, %v", st, err)
	}
	if ids, _ := d.LiveIDs(ctx, "invoices"); fmt.Sprint(ids) != "[1 2 3]" {
		t.Errorf("LiveIDs after revive = %v, want [1 2 3]", ids)
	}
}

func TestSchemaEvolutionAddsColumns(t *testing.T) {
	ctx := context.Background()
	d, tab, _ := prepared(t)
	if _, err := d.WritePage(ctx, &dest.Page{Table: tab, SyncedAt: t0, Rows: []catalog.Row{invoice(1, "5.5")}}); err != nil {
		t.Fatal(err)
	}
	grown := invoicesTable()
	grown.Columns = append(grown.Columns, catalog.Column{Name: "exchange_rate", Type: catalog.Decimal})
	grown.Children[0].Columns = append(grown.Children[0].Columns, catalog.Column{Name: "quantity", Type: catalog.Decimal})
	if err := d.Prepare(ctx, []*catalog.Table{grown}); err != nil {
		t.Fatal(err)
	}
	r := grown.Layout().Row(invoiceCols.Named(invoice(2, "6")))
	desttest.Set(r, grown.Layout(), "exchange_rate", "1.0825")
	l := grown.Children[0].Layout().Row(lineCols.Named(line(2, 20, "1")))
	desttest.Set(l, grown.Children[0].Layout(), "quantity", "3.5")
	if _, err := d.WritePage(ctx, &dest.Page{Table: grown, SyncedAt: t0, Rows: []catalog.Row{r},
		Children: map[string][]catalog.Row{"invoice_lines": {l}}}); err != nil {
		t.Fatal(err)
	}
	got := query[string](t, d, `SELECT id || ':' || total::text || ':' || coalesce(exchange_rate::text, 'null') FROM coupa.invoices ORDER BY id`)
	if strings.Join(got, ",") != "1:5.5:null,2:6:1.0825" {
		t.Errorf("rows after evolution %v", got)
	}
	if got := query[string](t, d, `SELECT quantity::text FROM coupa.invoice_lines`); got[0] != "3.5" {
		t.Errorf("quantity %v", got)
	}
}

func TestIncompatibleColumnTypeIsOneLineError(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	d := open(t, dsn, Options{})
	if err := d.Prepare(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.pool.Exec(ctx, `CREATE TABLE coupa.invoices (id bigint PRIMARY KEY, total double precision)`); err != nil {
		t.Fatal(err)
	}
	err := d.Prepare(ctx, []*catalog.Table{invoicesTable()})
	if err == nil {
		t.Fatal("Prepare accepted a double precision money column")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "coupa.invoices.total") || !strings.Contains(msg, "double precision") || !strings.Contains(msg, "numeric") {
		t.Errorf("error %q: want one line naming coupa.invoices.total, its type and numeric", msg)
	}
}

func TestForeignSchemaIsRefused(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE public.customers (id int)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	d := open(t, dsn, Options{Schema: "public"})
	err = d.Prepare(ctx, []*catalog.Table{invoicesTable()})
	if err == nil || !strings.Contains(err.Error(), "not a coupa warehouse") {
		t.Errorf("Prepare into a schema of someone else's tables: %v; want 'not a coupa warehouse'", err)
	}
}

func TestAdvisoryLockRefusesSecondSyncOfSameSchema(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	tabs := []*catalog.Table{invoicesTable()}
	a := open(t, dsn, Options{})
	if err := a.Prepare(ctx, tabs); err != nil {
		t.Fatal(err)
	}
	b := open(t, dsn, Options{})
	err := b.Prepare(ctx, tabs)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), `"coupa"`) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("second Prepare on the same schema: %v; want ErrLocked naming the schema and holder pid", err)
	}
	if _, err := b.StartRun(ctx, &dest.Run{Started: t0}); !errors.Is(err, ErrLocked) {
		t.Errorf("second StartRun: %v, want ErrLocked", err)
	}
	// Another schema in the same database is another warehouse: it runs alongside.
	c := open(t, dsn, Options{Schema: "coupa_eu"})
	if err := c.Prepare(ctx, tabs); err != nil {
		t.Errorf("Prepare on another schema: %v", err)
	}
	a.Close()
	if err := b.Prepare(ctx, tabs); err != nil {
		t.Errorf("Prepare after the first sync closed: %v", err)
	}
}

func TestSearchPathChoosesSchemaAndPrefixNamesTables(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	d := open(t, dsn+" search_path=spend", Options{Options: dest.Options{Prefix: "cp_"}})
	if d.Schema() != "spend" {
		t.Fatalf("schema %q, want spend from search_path", d.Schema())
	}
	tab := invoicesTable()
	if err := d.Prepare(ctx, []*catalog.Table{tab}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WritePage(ctx, &dest.Page{Table: tab, SyncedAt: t0, Rows: []catalog.Row{invoice(1, "1")},
		Children: map[string][]catalog.Row{"invoice_lines": {line(1, 1, "1")}},
		State:    &dest.State{Table: "invoices", Version: 1, Cursor: t0}}); err != nil {
		t.Fatal(err)
	}
	got := query[string](t, d, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'spend' ORDER BY 1`)
	if strings.Join(got, ",") != "_coupa_runs,_coupa_state,cp_invoice_lines,cp_invoices" {
		t.Errorf("tables %v", got)
	}
	if ids, err := d.LiveIDs(ctx, "invoices"); err != nil || len(ids) != 1 {
		t.Errorf("LiveIDs with prefix = %v, %v", ids, err)
	}
	// Another prefix in the same schema has its own states.
	other := open(t, dsn+" search_path=spend", Options{Options: dest.Options{Prefix: "x_"}})
	if s, err := other.LoadState(ctx, "invoices"); err != nil || s != nil {
		t.Errorf("state seen through another prefix: %+v, %v", s, err)
	}
}

func TestStatesResetAndVersion(t *testing.T) {
	ctx := context.Background()
	d, _, _ := prepared(t)
	for _, name := range []string{"suppliers", "invoices"} {
		if err := d.SaveState(ctx, &dest.State{Table: name, Version: 1, Cursor: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	states, err := d.States(ctx)
	if err != nil || len(states) != 2 || states[0].Table != "invoices" || states[1].Table != "suppliers" {
		t.Fatalf("States = %v, %v", states, err)
	}
	if err := d.ResetState(ctx, "invoices"); err != nil {
		t.Fatal(err)
	}
	if s, _ := d.LoadState(ctx, "invoices"); s != nil {
		t.Errorf("invoices state survived reset: %+v", s)
	}
	if s, _ := d.LoadState(ctx, "suppliers"); s == nil {
		t.Errorf("reset of invoices dropped suppliers")
	}
	if err := d.SaveState(ctx, &dest.State{Table: "future", Version: dest.StateVersion + 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LoadState(ctx, "future"); err == nil || !strings.Contains(err.Error(), "upgrade coupa") {
		t.Errorf("newer state version: %v, want a refusal telling to upgrade", err)
	}
	if err := d.ResetState(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if states, _ := d.States(ctx); len(states) != 0 {
		t.Errorf("%d states after reset of all", len(states))
	}
}

func TestRuns(t *testing.T) {
	ctx := context.Background()
	d, _, _ := prepared(t)
	r := &dest.Run{Started: t0, Status: "running", Tables: []string{"invoices"}}
	id1, err := d.StartRun(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := d.StartRun(ctx, &dest.Run{Started: t0})
	if err != nil || id2 <= id1 {
		t.Fatalf("second run id %d (first %d), %v", id2, id1, err)
	}
	r.Finished, r.Status, r.Summary = t0.Add(time.Minute), "ok", `{"invoices":{"inserted":3}}`
	if err := d.FinishRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	got := query[string](t, d, `SELECT status || ':' || (summary::json->'invoices'->>'inserted') || ':' || (tables->>0) FROM coupa._coupa_runs WHERE id = $1`, id1)
	if got[0] != "ok:3:invoices" {
		t.Errorf("run row %q", got[0])
	}
	if err := d.FinishRun(ctx, &dest.Run{ID: 999, Status: "ok"}); err == nil {
		t.Error("FinishRun of an unknown run succeeded")
	}
}

func TestConcurrentPages(t *testing.T) {
	ctx := context.Background()
	d, tab, _ := prepared(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for p := 0; p < 5; p++ {
				var rows []catalog.Row
				var lines []catalog.Row
				for i := 0; i < 20; i++ {
					id := int64(w*1000 + p*20 + i)
					rows = append(rows, invoice(id, "1.01"))
					lines = append(lines, line(id, id, "0.5"))
				}
				if _, err := d.WritePage(ctx, &dest.Page{Table: tab, SyncedAt: t0, Rows: rows,
					Children: map[string][]catalog.Row{"invoice_lines": lines}}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := query[string](t, d, `SELECT count(*) || ':' || sum(total)::text FROM coupa.invoices`); got[0] != "800:808.00" {
		t.Errorf("count:sum %s, want 800:808.00", got[0])
	}
}

func TestBadConnections(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	cases := map[string]struct{ dsn, want string }{
		"wrong password":   {dsn + " password=nottheone", "password"},
		"missing database": {dsn + " dbname=no_such_db", `"no_such_db" does not exist`},
		"unreachable":      {"postgres://u:topsecret@127.0.0.1:1/x?sslmode=disable&connect_timeout=5", "cannot connect"},
		"bad dsn":          {"postgres://u:topsecret@host:notaport/x", "invalid DSN"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d, err := Open(ctx, c.dsn, Options{})
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "postgres: ") {
				t.Errorf("error %q: want one line starting postgres: and containing %q", msg, c.want)
			}
			for _, secret := range []string{"nottheone", "topsecret", pgtest.Password} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q leaks the password", msg)
				}
			}
		})
	}
}

// BenchmarkWritePage is desttest's shared load, so its parents/s compares with the other backends'.
func BenchmarkWritePage(b *testing.B) {
	desttest.BenchWritePage(b, open(b, pgtest.NewDatabase(b), Options{}))
}

// BenchmarkWritePageParallel is the same load from 4 writers, as a sync with --concurrency 4 runs it:
// PostgreSQL, unlike SQLite, overlaps one writer's encoding with another's server work.
func BenchmarkWritePageParallel(b *testing.B) {
	ctx := context.Background()
	d := open(b, pgtest.NewDatabase(b), Options{})
	tbl := desttest.BenchTable()
	if err := d.Prepare(ctx, []*catalog.Table{tbl}); err != nil {
		b.Fatal(err)
	}
	const size = 50
	var next atomic.Int64
	var pagesDone atomic.Int64
	b.SetParallelism(2) // 2 x GOMAXPROCS(2) = 4 writers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		p := desttest.BenchPage(tbl, 0, size)
		for pb.Next() {
			base := next.Add(1) * size * 10
			for j, r := range p.Rows {
				id := base + int64(j)
				r[0] = id // BenchPage's layouts: id first; lines invoice_id then id
				for n, l := range p.Children["invoice_lines"][j*3 : j*3+3] {
					l[0] = id
					l[1] = id*10 + int64(n)
				}
			}
			if _, err := d.WritePage(ctx, p); err != nil {
				b.Error(err)
				return
			}
			pagesDone.Add(1)
		}
	})
	b.ReportMetric(float64(pagesDone.Load()*size)/b.Elapsed().Seconds(), "parents/s")
}

func TestContract(t *testing.T) {
	desttest.Run(t, func(t *testing.T) dest.Destination {
		return open(t, pgtest.NewDatabase(t), Options{})
	})
}

func TestContractPrefix(t *testing.T) {
	var dsn string
	desttest.RunPrefix(t, func(t *testing.T, prefix string) dest.Destination {
		if dsn == "" {
			dsn = pgtest.NewDatabase(t)
		}
		// Another prefix is another warehouse, with its own advisory lock.
		return open(t, dsn, Options{Options: dest.Options{Prefix: prefix}})
	})
}

func TestNoCreatePermissionIsOneLineError(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	admin := open(t, dsn, Options{})
	role := fmt.Sprintf("reader_%d", time.Now().UnixNano())
	if _, err := admin.pool.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'pw-reader'", role)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.pool.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	d := open(t, dsn+" user="+role+" password=pw-reader", Options{})
	err := d.Prepare(ctx, []*catalog.Table{invoicesTable()})
	if err == nil {
		t.Fatal("Prepare without CREATE permission succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "no permission to create schema") || strings.Contains(msg, "\n") || strings.Contains(msg, "pw-reader") {
		t.Errorf("error %q: want one line naming the missing permission, without the password", msg)
	}
}

// A warehouse made before child tables kept _extra gets the column at the next Prepare.
func TestChildExtraAddedToOldWarehouse(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	d := open(t, dsn, Options{})
	ctx := context.Background()
	if err := d.Prepare(ctx, []*catalog.Table{desttest.Invoices()}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WritePage(ctx, desttest.Page(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.pool.Exec(ctx, `ALTER TABLE coupa.invoice_lines DROP COLUMN _extra`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	desttest.CheckChildExtraAdded(t, open(t, dsn, Options{}))
}
