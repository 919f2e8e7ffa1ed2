package operate

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// invoiceTable is a hand-written catalog entry, so these tests do not move when the real catalog grows.
var invoiceTable = &catalog.Table{
	Name: "invoices", Resource: "invoices",
	Columns: []catalog.Column{
		{Name: "id", Path: "id", Type: catalog.Int},
		{Name: "invoice_number", Path: "invoice-number", Type: catalog.String},
		{Name: "invoice_date", Path: "invoice-date", Type: catalog.Timestamp},
		{Name: "total", Path: "total-with-taxes", Type: catalog.Decimal},
		{Name: "line_count", Path: "line-count", Type: catalog.Int},
		{Name: "exported", Path: "exported", Type: catalog.Bool},
		{Name: "supplier_id", Path: "supplier.id", Type: catalog.Int},
		{Name: "supplier_name", Path: "supplier.name", Type: catalog.String},
		{Name: "currency_code", Path: "currency.code", Type: catalog.String},
		{Name: "custom_fields", Path: "custom-fields", Type: catalog.JSON},
	},
	Children: []catalog.Child{{Name: "invoice_lines", Path: "invoice-lines"}},
	Create:   true, Update: true,
	Required: []string{"invoice-number", "supplier", "currency"},
}

func readAll(t *testing.T, input string, f Format, tb *catalog.Table) ([]Row, error) {
	t.Helper()
	var rows []Row
	for row, err := range NewReader(strings.NewReader(input), f, tb).Rows() {
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCSVDottedHeadersBecomeTypedNestedObjects(t *testing.T) {
	in := "invoice_number,supplier.name,supplier.id,currency.code,total-with-taxes,exported,line-count,custom-fields.cost_center,notes\n" +
		"INV-1,\"Acme, Inc.\",12,USD,1234.50,true,3,CC-9,\n" +
		"INV-2,Fishy,x,EUR,0.10,no,,,hello\n"
	rows, err := readAll(t, in, CSV, invoiceTable)
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows = %v, err = %v", rows, err)
	}
	// Numbers that the catalog types Int become JSON numbers; decimals stay exact strings.
	want1 := `{"currency":{"code":"USD"},"custom-fields":{"cost_center":"CC-9"},"exported":true,"invoice-number":"INV-1",` +
		`"line-count":3,"supplier":{"id":12,"name":"Acme, Inc."},"total-with-taxes":"1234.50"}`
	if got := mustJSON(t, rows[0].Data); got != want1 {
		t.Errorf("row 1 =\n %s\nwant\n %s", got, want1)
	}
	// A cell that does not fit its type stays text, for validation to name.
	want2 := `{"currency":{"code":"EUR"},"exported":false,"invoice-number":"INV-2","notes":"hello","supplier":{"id":"x","name":"Fishy"},"total-with-taxes":"0.10"}`
	if got := mustJSON(t, rows[1].Data); got != want2 {
		t.Errorf("row 2 =\n %s\nwant\n %s", got, want2)
	}
	if rows[0].N != 1 || rows[1].N != 2 || rows[1].Line != 3 {
		t.Errorf("numbering: %+v %+v", rows[0], rows[1])
	}
}

func TestCSVRaggedRowAndBadEncodingFailOnlyThatRow(t *testing.T) {
	in := "\ufeffinvoice-number,supplier.name\n" +
		"INV-1,Acme\n" +
		"INV-2,Acme,extra\n" +
		"INV-3,Caf\xe9\n" +
		"INV-4\n" +
		"INV-5,Zed\n" +
		"INV-6,Ze\"d\n" +
		"INV-7,Last\n"
	rows, err := readAll(t, in, CSV, invoiceTable)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 {
		t.Fatalf("got %d rows, want 7", len(rows))
	}
	wantErr := []string{"", "line 3 has 3 fields, the header has 2", "line 4, column \"supplier.name\" is not valid UTF-8",
		"line 5 has 1 fields, the header has 2", "", "line 7 is not valid CSV: bare \" in non-quoted-field", ""}
	for i, r := range rows {
		got := ""
		if r.Err != nil {
			got = r.Err.Error()
		}
		if wantErr[i] == "" && got != "" || !strings.Contains(got, wantErr[i]) {
			t.Errorf("row %d error = %q, want %q", i+1, got, wantErr[i])
		}
	}
	if rows[4].Data["invoice-number"] != "INV-5" || rows[0].Data["invoice-number"] != "INV-1" || rows[6].Data["supplier"] == nil {
		t.Errorf("good rows lost: %v %v", rows[0].Data, rows[4].Data)
	}
}

// An unterminated quote swallows the rest of the file: the rows before it stand, the broken one fails with
// its line, and nothing panics.
func TestCSVUnterminatedQuoteFailsThatRow(t *testing.T) {
	in := "invoice-number,supplier.name\n" +
		"INV-1,Acme\n" +
		"\"INV-2,Acme\n" +
		"INV-3,Zed\n"
	rows, err := readAll(t, in, CSV, invoiceTable)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Err != nil || rows[1].Err == nil {
		t.Fatalf("rows = %+v, want INV-1 fine and row 2 failed", rows)
	}
	if got := rows[1].Err.Error(); !strings.Contains(got, "line 3 is not valid CSV") || rows[1].Line != 3 {
		t.Errorf("row 2: line %d, error %q; want line 3, not valid CSV", rows[1].Line, got)
	}
}

func TestCSVHeaderErrorsStopTheRun(t *testing.T) {
	for in, want := range map[string]string{
		"name,name\nx,y\n":                `names "name" twice`,
		"supplier,supplier.name\nx,y\n":   `both "supplier" and "supplier.name"`,
		"name,,x\n1,2,3\n":                "column 2",
		"supplier..name\nx\n":             "column 1",
		"invoice_number,invoice-number\n": `names "invoice-number" twice`,
	} {
		_, err := readAll(t, in, CSV, invoiceTable)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("header %q: err = %v, want %q", strings.SplitN(in, "\n", 2)[0], err, want)
		}
	}
}

func TestJSONLNonJSONLineFailsOnlyThatRow(t *testing.T) {
	in := `{"invoice-number":"A","total-with-taxes":12.50}` + "\n\n" +
		"not json\n" +
		`[1,2]` + "\n" +
		`{"invoice-number":"B"} {"x":1}` + "\n" +
		`{"invoice-number":"C"}` // no final newline
	rows, err := readAll(t, in, JSONL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("got %d rows, want 5", len(rows))
	}
	if rows[0].Err != nil || rows[0].Data["total-with-taxes"] != json.Number("12.50") {
		t.Errorf("row 1 = %+v (numbers must stay exact)", rows[0])
	}
	for i, line := range map[int]int{1: 3, 2: 4, 3: 5} {
		if rows[i].Err == nil || !strings.Contains(rows[i].Err.Error(), "line "+string(rune('0'+line))+" is not a JSON object") {
			t.Errorf("row %d error = %v, want one naming line %d", i+1, rows[i].Err, line)
		}
	}
	if rows[4].Err != nil || rows[4].Data["invoice-number"] != "C" || rows[4].N != 5 || rows[4].Line != 6 {
		t.Errorf("last row = %+v", rows[4])
	}
}

func TestJSONObjectOrArray(t *testing.T) {
	rd := NewReader(strings.NewReader(`  {"name": "Acme", "number": 7}`), JSON, nil)
	var rows []Row
	for r, err := range rd.Rows() {
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if !rd.Single() || len(rows) != 1 || !reflect.DeepEqual(rows[0].Data, map[string]any{"name": "Acme", "number": json.Number("7")}) {
		t.Fatalf("single object: single=%v rows=%+v", rd.Single(), rows)
	}
	rows, err := readAll(t, `[{"name":"A"}, 3, {"name":"C"}]`, JSON, nil)
	if err != nil || len(rows) != 3 || rows[1].Err == nil || rows[2].Data["name"] != "C" {
		t.Fatalf("array: rows=%+v err=%v", rows, err)
	}
	if _, err := readAll(t, `"text"`, JSON, nil); err == nil || !strings.Contains(err.Error(), "object or an array") {
		t.Errorf("scalar document: err = %v", err)
	}
}

func TestFormatOf(t *testing.T) {
	for path, want := range map[string]Format{"a.csv": CSV, "b.JSONL": JSONL, "c.ndjson": JSONL, "d.json": JSON} {
		if f, err := FormatOf(path); err != nil || f != want {
			t.Errorf("FormatOf(%s) = %v, %v", path, f, err)
		}
	}
	if _, err := FormatOf("rows.txt"); err == nil {
		t.Error("FormatOf(rows.txt) accepted")
	}
	if _, err := FormatOf("rows"); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Errorf("FormatOf(rows) err = %v", err)
	}
}

func TestSchemaCheck(t *testing.T) {
	s := NewSchema(invoiceTable)
	body, p := s.Check(map[string]any{
		"invoice_number": "INV-1", "supplier": map[string]any{"number": "S-1"}, "currency": map[string]any{"code": "USD"},
		"total-with-taxes": json.Number("10.5"), "custom_fields": map[string]any{"my_field": "x"},
		"invoice-lines": []any{map[string]any{"description": "pens"}}, "invoice-date": "2024-04-01T00:00:00+03:00Z",
	}, Create)
	if p != nil {
		t.Fatalf("valid row has problems: %v", p)
	}
	if _, ok := body["invoice-number"]; !ok || body["custom-fields"].(map[string]any)["my_field"] != "x" {
		t.Errorf("body keys not in catalog spelling, or custom field renamed: %v", body)
	}
	_, p = s.Check(map[string]any{
		"invoice-number": json.Number("7"), "supplier": map[string]any{"id": "twelve", "name": true, "number": json.Number("8")}, "total-with-taxes": "1,5",
		"exported": "yes", "colour": "red", "invoice-date": "tomorrow", "line-count": json.Number("1.5"),
		"currency": map[string]any{"code": []any{"USD"}},
	}, Create)
	want := map[string]string{
		"supplier.id":      `must be an integer, got "twelve"`,
		"total-with-taxes": `must be a decimal number such as 1234.50, got "1,5"`,
		"exported":         `must be true or false, got "yes"`,
		"colour":           "is not a field of invoices",
		"invoice-date":     "must be a date",
		"line-count":       `must be an integer, got "1.5"`,
		"currency.code":    "must be text, got a list",
		"invoice-number":   "must be text, got the number 7",
		"supplier.name":    "must be text, got true",
	}
	for field, msg := range want {
		if len(p[field]) != 1 || !strings.Contains(p[field][0], msg) {
			t.Errorf("problems[%s] = %v, want %q", field, p[field], msg)
		}
	}
	if len(p) != len(want) {
		t.Errorf("problems = %v, want exactly %d fields", p, len(want))
	}
	_, p = s.Check(map[string]any{"total-with-taxes": "3", "supplier": map[string]any{}}, Create)
	for _, f := range []string{"invoice-number", "supplier", "currency"} {
		if len(p[f]) != 1 || !strings.Contains(p[f][0], "is required to create invoices") {
			t.Errorf("missing %s: problems = %v", f, p)
		}
	}
	body, p = s.Check(map[string]any{"id": json.Number("5"), "exported": true}, Update)
	if p != nil || len(body) != 1 || body["exported"] != true {
		t.Errorf("update: body=%v problems=%v (id goes in the URL, required is for create)", body, p)
	}
}
