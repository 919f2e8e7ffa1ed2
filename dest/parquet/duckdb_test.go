package parquet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/parquet"
	"github.com/coupa-connector/coupa-connector/extract"
	"github.com/coupa-connector/coupa-connector/extract/extracttest"
	"github.com/coupa-connector/coupa-connector/internal/duckdbtest"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// docQueries are the SQL blocks of README.md, in order: the parent view, the child view, the live rows.
type docQueries struct{ parent, child, live string }

func readDocQueries(t *testing.T) docQueries {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) != 3 {
		t.Fatalf("README.md has %d sql blocks, want 3 (parent view, child view, live rows)", len(blocks))
	}
	q := docQueries{parent: blocks[0][1], child: blocks[1][1], live: blocks[2][1]}
	for name, s := range map[string]string{"parent view": q.parent, "child view": q.child, "live rows": q.live} {
		if !strings.Contains(s, "invoice") {
			t.Fatalf("README.md %s block does not name the invoices table it is written for:\n%s", name, s)
		}
	}
	return q
}

// The package comment of parquet.go shows the same query; a change to one must be made to the other.
func TestPackageDocQueryIsTheReadmeQuery(t *testing.T) {
	q := readDocQueries(t)
	src, err := os.ReadFile("parquet.go")
	if err != nil {
		t.Fatal(err)
	}
	var comment []string
	for _, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "package ") {
			break
		}
		comment = append(comment, strings.TrimPrefix(line, "//"))
	}
	doc := strings.Join(comment, "\n")
	start := strings.Index(doc, "WITH v AS (")
	if start < 0 {
		return // the comment points at the README instead of repeating the query
	}
	end := strings.Index(doc[start:], ";")
	inDoc := strings.Join(strings.Fields(doc[start:start+end+1]), " ")
	inReadme := strings.Join(strings.Fields(q.parent[strings.Index(q.parent, "WITH v AS ("):]), " ")
	if inDoc != inReadme {
		t.Fatalf("parquet.go's package comment and README.md give different queries:\n%s\n%s", inDoc, inReadme)
	}
}

// TestDuckDBReadsTheLatestVersionOfEveryRow runs the README's queries in a real DuckDB over a lake written by
// three syncs of the simulator (full, incremental, incremental with delete reconciliation) and compares every
// column of every row, children included, with the simulator's records.
func TestDuckDBReadsTheLatestVersionOfEveryRow(t *testing.T) {
	ctx := context.Background()
	s, err := sim.New(sim.Options{Seed: 21, Scale: 120, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	def := s.DefaultClient()
	tables := catalog.All()
	client, err := coupa.New(coupa.Config{Host: ts.URL, ClientID: def.ID, ClientSecret: def.Secret,
		Scopes: catalog.Scopes(tables), Rate: 1e6, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	lake := t.TempDir()
	sync := func(reconcile bool) {
		t.Helper()
		d, err := parquet.Open(lake, dest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := extract.Sync(ctx, extract.Config{Client: client, Dest: d, Tables: tables, ReconcileDeletes: reconcile})
		if cerr := d.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		if sum.Status != extract.StatusOK {
			t.Fatalf("sync status %s: %+v", sum.Status, sum.Tables)
		}
	}
	mutate := func(m sim.Mutation) int64 {
		t.Helper()
		id, err := s.Mutate(m)
		if err != nil {
			t.Fatalf("Mutate %+v: %v", m, err)
		}
		return id
	}

	sync(false)
	// Run 2 sees updates and a creation; invoice 3 is changed again before run 3, so it has three versions.
	mutate(sim.Mutation{Resource: "invoices", ID: 3, Set: map[string]any{"status": "disputed"}})
	mutate(sim.Mutation{Resource: "invoices", ID: 4, Set: map[string]any{"status": "voided"}})
	mutate(sim.Mutation{Resource: "purchase_orders", ID: 2, Set: map[string]any{"status": "closed"}})
	mutate(sim.Mutation{Resource: "users", ID: 5, Set: map[string]any{"active": false}})
	created := mutate(sim.Mutation{Resource: "invoices", Create: true})
	simtest.WaitPastChanges(t, s, "invoices", "purchase_orders", "users")
	sync(false)
	// Run 3 reconciles deletes: an invoice updated in run 2 and then deleted, one never updated, a supplier.
	mutate(sim.Mutation{Resource: "invoices", ID: 3, Set: map[string]any{"status": "approved"}})
	mutate(sim.Mutation{Resource: "invoices", ID: 4, Delete: true})
	mutate(sim.Mutation{Resource: "invoices", ID: 10, Delete: true})
	mutate(sim.Mutation{Resource: "suppliers", ID: 2, Delete: true})
	simtest.WaitPastChanges(t, s, "invoices")
	sync(true)

	q := readDocQueries(t)
	r := queryLake(t, lake, q, tables)

	// Every column of every live row and child row equals the simulator; deleted rows are marked.
	var diffs []string
	for _, tb := range tables {
		d, err := extracttest.Diff(ctx, ts.URL, r, tb, 10)
		if err != nil {
			t.Fatalf("comparing %s: %v", tb.Name, err)
		}
		diffs = append(diffs, d...)
	}
	if len(diffs) > 0 {
		t.Fatalf("DuckDB's view of the lake differs from the simulator:\n%s", strings.Join(diffs, "\n"))
	}

	// The README's live-rows query: exactly the simulator's invoices, the deleted ones absent.
	truth, err := s.Snapshot("invoices")
	if err != nil {
		t.Fatal(err)
	}
	var wantIDs, gotIDs []int64
	byID := map[int64]map[string]any{}
	for _, rec := range truth {
		id := int64(rec["id"].(float64))
		wantIDs = append(wantIDs, id)
		byID[id] = rec
	}
	live := r.live["invoices"]
	for _, row := range live {
		gotIDs = append(gotIDs, row["id"].(int64))
	}
	slices.Sort(wantIDs)
	if !slices.Equal(gotIDs, wantIDs) {
		t.Fatalf("live invoices from DuckDB: %d ids %v..., want the simulator's %d", len(gotIDs), head(gotIDs), len(wantIDs))
	}
	for _, gone := range []int64{4, 10} {
		if slices.Contains(gotIDs, gone) {
			t.Fatalf("deleted invoice %d is in the live rows", gone)
		}
	}
	if !slices.Contains(gotIDs, created) {
		t.Fatalf("invoice %d created before run 2 is not live", created)
	}
	// Exact money, spelled as Coupa sent it, and the latest of three versions.
	moneyChecked := 0
	for _, row := range live {
		id := row["id"].(int64)
		want, _ := byID[id]["total-with-taxes"].(string)
		if want == "" {
			continue
		}
		if row["total_with_taxes"] != want {
			t.Fatalf("invoice %d total_with_taxes %#v, want Coupa's exact %q", id, row["total_with_taxes"], want)
		}
		moneyChecked++
	}
	if moneyChecked < len(live)/2 {
		t.Fatalf("only %d of %d invoices had a total to compare", moneyChecked, len(live))
	}
	for _, row := range live {
		if row["id"] == int64(3) && row["status"] != "approved" {
			t.Fatalf("invoice 3 status %v, want its latest \"approved\"", row["status"])
		}
	}

	// The queries had something to resolve: invoice 3 is stored three times, invoice 4 as upserts and a delete.
	raw := duckdbtest.Query(t, fmt.Sprintf(
		"SELECT id, _op, count(*) AS n FROM read_parquet('%s/invoices/*/*.parquet') WHERE id IN (3, 4) GROUP BY ALL ORDER BY ALL",
		lake))[0].Rows
	counts := map[string]string{}
	for _, row := range raw {
		counts[fmt.Sprint(row["id"], "/", row["_op"])] = fmt.Sprint(row["n"])
	}
	if counts["3/upsert"] != "3" || counts["4/upsert"] != "2" || counts["4/delete"] != "1" {
		t.Fatalf("raw versions in the lake %v: want invoice 3 upserted 3 times, invoice 4 twice and deleted once", counts)
	}
	var deletedAt any
	for _, row := range r.rows["invoices"] {
		if row["id"] == int64(4) {
			deletedAt = row[catalog.ColDeletedAt]
		}
	}
	if deletedAt == nil {
		t.Fatal("invoice 4 is in the latest-version view without _deleted_at")
	}
}

// lakeReader serves the rows DuckDB returned through dest.Reader, for extracttest.Diff.
type lakeReader struct {
	rows map[string][]map[string]any // latest-version views, parents and children
	live map[string][]map[string]any // the live-rows query, parents only
}

func (r *lakeReader) ReadRows(_ context.Context, table string) ([]map[string]any, error) {
	rows, ok := r.rows[table]
	if !ok {
		return nil, fmt.Errorf("table %s was not queried", table)
	}
	return rows, nil
}

func (r *lakeReader) Runs(context.Context) ([]*dest.Run, error) { return nil, nil }

// queryLake instantiates the README's queries for every table with files and runs them in one DuckDB.
func queryLake(t *testing.T, lake string, q docQueries, tables []*catalog.Table) *lakeReader {
	t.Helper()
	rename := func(sql, parent, child, parentKey string) string {
		sql = strings.ReplaceAll(sql, "'DIR/", "'"+lake+"/")
		sql = strings.ReplaceAll(sql, "invoice_lines", "\x00child\x00")
		sql = strings.ReplaceAll(sql, "invoice_id", "\x00key\x00")
		sql = strings.ReplaceAll(sql, "invoices", parent)
		sql = strings.ReplaceAll(sql, "\x00child\x00", child)
		return strings.ReplaceAll(sql, "\x00key\x00", parentKey)
	}
	hasFiles := func(table string) bool {
		m, _ := filepath.Glob(filepath.Join(lake, table, "run=*", "*.parquet"))
		return len(m) > 0
	}
	type read struct {
		table string
		cols  []catalog.Column
		live  bool
	}
	var stmts []string
	var reads []read
	r := &lakeReader{rows: map[string][]map[string]any{}, live: map[string][]map[string]any{}}
	for _, tb := range tables {
		if !hasFiles(tb.Name) {
			r.rows[tb.Name] = nil
			for _, ch := range tb.Children {
				r.rows[ch.Name] = nil
			}
			continue
		}
		stmts = append(stmts, rename(q.parent, tb.Name, "", ""))
		stmts = append(stmts, "SELECT * FROM "+tb.Name+"_latest ORDER BY id")
		reads = append(reads, read{table: tb.Name, cols: tb.Columns})
		stmts = append(stmts, rename(q.live, tb.Name, "", ""))
		reads = append(reads, read{table: tb.Name, cols: tb.Columns, live: true})
		for _, ch := range tb.Children {
			if !hasFiles(ch.Name) {
				r.rows[ch.Name] = nil
				continue
			}
			stmts = append(stmts, rename(q.child, tb.Name, ch.Name, ch.ParentKey))
			stmts = append(stmts, "SELECT * FROM "+ch.Name+"_latest")
			cols := append([]catalog.Column{{Name: ch.ParentKey, Type: catalog.Int}}, ch.Columns...)
			reads = append(reads, read{table: ch.Name, cols: cols})
		}
	}
	res := duckdbtest.Query(t, stmts...)
	i := 0
	for _, rd := range reads {
		// Each read is the statement after a CREATE VIEW, except the live rows, which follow a read.
		for strings.HasPrefix(strings.TrimSpace(stmts[i]), "CREATE") {
			i++
		}
		rows, err := convertRows(res[i], rd.cols)
		if err != nil {
			t.Fatalf("%s: %v", rd.table, err)
		}
		if rd.live {
			r.live[rd.table] = rows
		} else {
			r.rows[rd.table] = rows
		}
		i++
	}
	return r
}

// convertRows turns DuckDB's JSON values into the Go types catalog documents for the catalog's columns.
func convertRows(res duckdbtest.Result, cols []catalog.Column) ([]map[string]any, error) {
	types := map[string]catalog.Type{catalog.ColDeletedAt: catalog.Timestamp, catalog.ColSyncedAt: catalog.Timestamp}
	for _, c := range cols {
		types[c.Name] = c.Type
	}
	var out []map[string]any
	for _, rec := range res.Rows {
		row := map[string]any{}
		for k, v := range rec {
			typ, known := types[k]
			if !known || v == nil {
				row[k] = v
				continue
			}
			cv, err := convert(typ, v)
			if err != nil {
				return nil, fmt.Errorf("column %s: %v", k, err)
			}
			row[k] = cv
		}
		out = append(out, row)
	}
	return out, nil
}

func convert(typ catalog.Type, v any) (any, error) {
	switch typ {
	case catalog.Int:
		return strconv.ParseInt(fmt.Sprint(v), 10, 64)
	case catalog.Bool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("boolean column holds %#v", v)
		}
		return b, nil
	case catalog.Timestamp:
		s := fmt.Sprint(v)
		for _, layout := range []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999", "2006-01-02"} {
			if ts, err := time.Parse(layout, s); err == nil {
				return ts.UTC(), nil
			}
		}
		return nil, fmt.Errorf("timestamp %q in no known layout", s)
	case catalog.JSON:
		if s, ok := v.(string); ok {
			return s, nil
		}
		b, err := json.Marshal(v)
		return string(b), err
	default: // String and Decimal: DuckDB already renders decimals as exact text
		if n, ok := v.(json.Number); ok {
			return n.String(), nil
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("text column holds %#v", v)
		}
		return s, nil
	}
}

func head(ids []int64) []int64 { return ids[:min(len(ids), 10)] }
