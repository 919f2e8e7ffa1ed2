package output

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// records decodes fixtures the way the client does (numbers as json.Number).
func records(t *testing.T, js string) []map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var out []map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

const fixture = `[
 {"id": 7, "invoice-number": "INV-7", "total": "1234.50", "exported": false,
  "supplier": {"id": 3, "name": "Acme, Inc."}, "invoice-lines": [{"id": 1}], "po-number": null},
 {"id": 8, "invoice-number": "INV-8", "total": "0.10", "exported": true,
  "supplier": {"id": 4, "name": "Fishy \"Fish\""}, "tags": []}
]`

func write(t *testing.T, f Format, cols []string, recs []map[string]any) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := New(&buf, f, cols)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestCSVFlattensWithDottedColumns(t *testing.T) {
	out := write(t, CSV, nil, records(t, fixture))
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, out)
	}
	header := strings.Join(rows[0], "|")
	want := "id|exported|invoice-lines|invoice-number|po-number|supplier.id|supplier.name|total|tags"
	if header != want {
		t.Fatalf("header = %s, want %s", header, want)
	}
	if got := strings.Join(rows[1], "|"); got != `7|false|[{"id":1}]|INV-7||3|Acme, Inc.|1234.50|` {
		t.Errorf("row 1 = %s", got)
	}
	if got := strings.Join(rows[2], "|"); got != `8|true||INV-8||4|Fishy "Fish"|0.10|[]` {
		t.Errorf("row 2 = %s", got)
	}
}

func TestCSVWithChosenColumnsStreams(t *testing.T) {
	var buf bytes.Buffer
	w, _ := New(&buf, CSV, []string{"id", "supplier.name", "supplier", "missing"})
	recs := records(t, fixture)
	if err := w.Write(recs[0]); err != nil {
		t.Fatal(err)
	}
	w.(*csvWriter).w.Flush()
	if !strings.HasPrefix(buf.String(), "id,supplier.name,supplier,missing\n7,\"Acme, Inc.\"") {
		t.Fatalf("first row not written before Close: %q", buf.String())
	}
	w.Write(recs[1])
	w.Close()
	rows, _ := csv.NewReader(&buf).ReadAll()
	if rows[1][2] != `{"id":3,"name":"Acme, Inc."}` {
		t.Errorf("a column naming an object = %q, want the object as JSON", rows[1][2])
	}
}

func TestJSONAndJSONLKeepValuesExact(t *testing.T) {
	recs := records(t, fixture)
	var arr []map[string]any
	dec := json.NewDecoder(strings.NewReader(write(t, JSON, nil, recs)))
	dec.UseNumber()
	if err := dec.Decode(&arr); err != nil || len(arr) != 2 {
		t.Fatalf("json output = %v, %v", arr, err)
	}
	if arr[0]["total"] != "1234.50" || arr[1]["id"] != json.Number("8") {
		t.Errorf("values changed: %v", arr)
	}
	if got := write(t, JSON, nil, nil); got != "[]\n" {
		t.Errorf("empty json = %q", got)
	}
	lines := strings.Split(strings.TrimSpace(write(t, JSONL, nil, recs)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"name":"Fishy \"Fish\""`) {
		t.Errorf("jsonl = %q", lines)
	}
}

func TestTableAligned(t *testing.T) {
	recs := records(t, fixture)
	recs[1]["invoice-number"] = strings.Repeat("x", 60)
	out := write(t, Table, []string{"id", "invoice-number", "supplier.name"}, recs)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID  INVOICE-NUMBER") {
		t.Fatalf("table = %q", out)
	}
	col := strings.Index(lines[0], "SUPPLIER.NAME")
	for _, l := range lines[1:] {
		if []rune(l)[col] == ' ' || []rune(l)[col-1] != ' ' {
			t.Errorf("column not aligned at %d in %q", col, l)
		}
	}
	if !strings.Contains(lines[2], strings.Repeat("x", 39)+"…") || strings.Contains(lines[2], strings.Repeat("x", 40)) {
		t.Errorf("long cell not clipped to 40: %q", lines[2])
	}
	if got := write(t, Table, nil, nil); got != "(no rows)\n" {
		t.Errorf("empty table = %q", got)
	}
}

func TestDefaultColumns(t *testing.T) {
	tb := &catalog.Table{Name: "invoices", Columns: []catalog.Column{
		{Name: "id", Path: "id", Type: catalog.Int},
		{Name: "created_at", Path: "created-at", Type: catalog.Timestamp},
		{Name: "invoice_number", Path: "invoice-number"},
		{Name: "status", Path: "status"},
		{Name: "supplier_name", Path: "supplier.name"},
		{Name: "custom_fields", Path: "custom-fields", Type: catalog.JSON},
	}}
	if got := strings.Join(DefaultColumns(tb), ","); got != "id,invoice-number,status,supplier.name" {
		t.Errorf("DefaultColumns = %s", got)
	}
	odd := &catalog.Table{Columns: []catalog.Column{{Path: "id"}, {Path: "a"}, {Path: "j", Type: catalog.JSON}, {Path: "b"}}}
	if got := strings.Join(DefaultColumns(odd), ","); got != "id,a,b" {
		t.Errorf("DefaultColumns without known fields = %s", got)
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat("CSV"); err != nil || f != CSV {
		t.Errorf("ParseFormat(CSV) = %v, %v", f, err)
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "table, json, jsonl, csv") {
		t.Errorf("ParseFormat(xml) error = %v", err)
	}
}
