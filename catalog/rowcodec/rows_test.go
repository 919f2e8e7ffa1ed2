package rowcodec

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// decode parses a fixture the way the sync does: UseNumber, so ids are json.Number and amounts strings.
// namedRows turns what Rows returns into maps by column name, for the assertions to read.
func namedRows(tab *catalog.Table, row catalog.Row, children map[string][]catalog.Row) (map[string]any, map[string][]map[string]any) {
	named := map[string][]map[string]any{}
	for i := range tab.Children {
		ch := &tab.Children[i]
		for _, r := range children[ch.Name] {
			named[ch.Name] = append(named[ch.Name], ch.Layout().Named(r))
		}
	}
	return tab.Layout().Named(row), named
}

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return m
}

// invoiceJSON is written by hand after the fact sheet's invoice example (section 6.1): offsets in the
// instance's zone, amounts as strings, nested stubs, custom fields both namespaced and legacy top-level.
const invoiceJSON = `{
  "id": 4711,
  "created-at": "2024-04-01T02:16:48+03:00",
  "updated-at": "2016-10-07T06:59:46-07:00",
  "invoice-date": "2024-04-01T00:00:00+03:00",
  "invoice-number": "INV-2024-001",
  "status": "approved",
  "document-type": "Invoice",
  "is-credit-note": false,
  "total-with-taxes": "1234.5678",
  "gross-total": "1000.50",
  "supplier-total": "100.00",
  "tax-amount": "0.00",
  "tax-rate": null,
  "line-level-taxation": "true",
  "line-count": 2,
  "exported": false,
  "last-exported-at": null,
  "payment-date": "2024-05-01",
  "currency": {"id": 1, "code": "USD", "decimals": 2},
  "payment-term": {"id": 3, "code": "Net 30", "description": "Net 30 days"},
  "supplier": {"id": 88, "name": "Fishy & Sons", "number": "S-88"},
  "created-by": {"id": 7, "login": "ejohnson", "email": "e@example.com", "firstname": "E", "lastname": "Johnson"},
  "updated-by": {"id": 9, "login": "api"},
  "custom-fields": {"cost-center": "CC-1", "project": {"id": 5, "name": "Apollo", "active": true}},
  "custom-field-8": null,
  "approvals": [{"id": 1}],
  "invoice-lines": [
    {"id": 100, "line-num": 1, "description": "Widgets", "quantity": "1.5", "price": "12.3456", "total": "18.5184",
     "type": "InvoiceQuantityLine", "po-number": "PO-77", "order-line-num": "2",
     "account": {"id": 31, "name": "Ops", "code": "OPS-100", "active": true, "segment-1": "OPS"},
     "commodity": {"id": 12, "name": "Hardware"}, "custom-fields": {}, "line-tax-code": {"code": "VAT20"}},
    {"id": 101, "line-num": 2, "description": "Freight", "total": "5.00", "type": "InvoiceAmountLine",
     "account": null, "commodity": null}
  ],
  "invoice-charges": [
    {"id": 900, "line-num": 3, "type": "InvoiceShippingCharge", "description": "Shipping", "total": "7.25"}
  ]
}`

func TestRowsInvoice(t *testing.T) {
	inv, _ := catalog.Lookup("invoices")
	r, ch, err := Rows(inv, decode(t, invoiceJSON))
	if err != nil {
		t.Fatal(err)
	}
	row, children := namedRows(inv, r, ch)
	want := map[string]any{
		"id":                  int64(4711),
		"invoice_number":      "INV-2024-001",
		"status":              "approved",
		"is_credit_note":      false,
		"total_with_taxes":    "1234.5678",
		"gross_total":         "1000.50",
		"tax_amount":          "0.00",
		"tax_rate":            nil,
		"line_level_taxation": true,
		"line_count":          int64(2),
		"last_exported_at":    nil,
		"currency_id":         int64(1),
		"currency_code":       "USD",
		"payment_term_code":   "Net 30",
		"supplier_id":         int64(88),
		"supplier_name":       "Fishy & Sons",
		"supplier_number":     "S-88",
		"created_by_id":       int64(7),
		"created_by_login":    "ejohnson",
		"updated_by_login":    "api",
		"net_due_date":        nil,
		"tax_code_id":         nil,
	}
	for k, v := range want {
		got, ok := row[k]
		if !ok {
			t.Errorf("column %s missing from the row", k)
			continue
		}
		if got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	times := map[string]time.Time{
		"created_at":   time.Date(2024, 3, 31, 23, 16, 48, 0, time.UTC),
		"updated_at":   time.Date(2016, 10, 7, 13, 59, 46, 0, time.UTC),
		"invoice_date": time.Date(2024, 3, 31, 21, 0, 0, 0, time.UTC),
		"payment_date": time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
	}
	for k, w := range times {
		got, ok := row[k].(time.Time)
		if !ok || !got.Equal(w) || got.Location() != time.UTC {
			t.Errorf("%s = %#v, want %v in UTC", k, row[k], w)
		}
	}
	if got := row["custom_fields"]; got != `{"cost-center":"CC-1","project":{"active":true,"id":5,"name":"Apollo"}}` {
		t.Errorf("custom_fields = %v", got)
	}
	if got := row[catalog.ColExtra]; got != `{"approvals":[{"id":1}],"custom-field-8":null}` {
		t.Errorf("_extra = %v", got)
	}
	for _, col := range inv.Columns {
		if _, ok := row[col.Name]; !ok {
			t.Errorf("row lacks column %s (absent values must be nil, not missing)", col.Name)
		}
	}

	lines := children["invoice_lines"]
	if len(lines) != 2 {
		t.Fatalf("invoice_lines: %d rows, want 2", len(lines))
	}
	l := lines[0]
	for k, v := range map[string]any{
		"invoice_id": int64(4711), "id": int64(100), "line_num": int64(1), "quantity": "1.5", "price": "12.3456",
		"total": "18.5184", "account_id": int64(31), "account_code": "OPS-100", "commodity_id": int64(12),
		"commodity_name": "Hardware", "po_number": "PO-77", "order_line_num": "2", "custom_fields": "{}",
		"type": "InvoiceQuantityLine",
	} {
		if l[k] != v {
			t.Errorf("line 1 %s = %#v, want %#v", k, l[k], v)
		}
	}
	// A key no line column takes is kept on the line, as on the parent: custom fields on lines are common.
	if got := l[catalog.ColExtra]; got != `{"line-tax-code":{"code":"VAT20"}}` {
		t.Errorf("line 1 _extra = %#v", got)
	}
	if got, ok := lines[1][catalog.ColExtra]; !ok || got != nil {
		t.Errorf("line 2 _extra = %#v (present: %v), want nil", got, ok)
	}
	if lines[1]["account_id"] != nil || lines[1]["quantity"] != nil || lines[1]["total"] != "5.00" {
		t.Errorf("line 2 = %v", lines[1])
	}
	charges := children["invoice_charges"]
	if len(charges) != 1 || charges[0]["invoice_id"] != int64(4711) || charges[0]["total"] != "7.25" || charges[0]["id"] != int64(900) {
		t.Errorf("invoice_charges = %v", charges)
	}
}

func TestRowsNoExtraIsNil(t *testing.T) {
	cur, _ := catalog.Lookup("currencies")
	r, children, err := Rows(cur, decode(t, `{"id": 1, "code": "EUR", "decimals": 2,
		"created-at": "2020-01-01T00:00:00Z", "updated-at": "2020-01-01T00:00:00+01:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	row := cur.Layout().Named(r)
	if v, ok := row[catalog.ColExtra]; !ok || v != nil {
		t.Errorf("_extra = %#v (present %v), want nil", v, ok)
	}
	if children != nil {
		t.Errorf("children = %v, want none", children)
	}
	// The documented "+HH:MMZ" form: the offset counts, the trailing Z is noise.
	if got := row["updated_at"].(time.Time); !got.Equal(time.Date(2019, 12, 31, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("updated_at = %v", got)
	}
}

const userJSON = `{
  "id": 15, "created-at": "2023-01-02T03:04:05-08:00", "updated-at": "2023-06-01T10:00:00-07:00",
  "login": "jdoe", "email": "jdoe@example.com", "firstname": "Jane", "lastname": "Doe", "active": true,
  "business-group-security-type": 1, "authentication-method": "saml",
  "purchasing-user": true, "expense-user": false, "sourcing-user": "true", "category_planner_user": true,
  "manager": {"id": 2, "login": "boss"},
  "roles": [{"id": 2, "name": "Admin"}, {"id": 3, "name": "User"}],
  "user-groups": [{"id": 40, "name": "AP Team"}],
  "content-groups": [{"id": 1, "name": "Everyone"}],
  "last-login-at": "2024-01-01T00:00:00-08:00"
}`

func TestRowsUserChildrenAndLicenses(t *testing.T) {
	u, _ := catalog.Lookup("users")
	r, ch, err := Rows(u, decode(t, userJSON))
	if err != nil {
		t.Fatal(err)
	}
	row, children := namedRows(u, r, ch)
	if row["purchasing_user"] != true || row["category_planner_user"] != true || row["invoicing_user"] != nil {
		t.Errorf("license columns: purchasing %v, category_planner %v, invoicing %v",
			row["purchasing_user"], row["category_planner_user"], row["invoicing_user"])
	}
	if row[catalog.ColExtra] != `{"last-login-at":"2024-01-01T00:00:00-08:00"}` {
		t.Errorf("_extra = %v", row[catalog.ColExtra])
	}
	if cg := children["user_content_groups"]; len(cg) != 1 || cg[0]["user_id"] != int64(15) ||
		cg[0]["content_group_id"] != int64(1) || cg[0]["content_group_name"] != "Everyone" {
		t.Errorf("user_content_groups = %v", cg)
	}
	roles := children["user_roles"]
	if len(roles) != 2 || roles[0]["user_id"] != int64(15) || roles[0]["role_id"] != int64(2) ||
		roles[1]["role_id"] != int64(3) || roles[1]["role_name"] != "User" {
		t.Errorf("user_roles = %v", roles)
	}
	if _, ok := roles[0]["id"]; ok {
		t.Error("user_roles rows must not have an id column; they are keyed by (user_id, role_id)")
	}
	groups := children["user_group_members"]
	if len(groups) != 1 || groups[0]["user_group_id"] != int64(40) || groups[0]["user_id"] != int64(15) {
		t.Errorf("user_group_members = %v", groups)
	}
	lic := map[string]any{}
	for _, r := range children["user_licenses"] {
		if r["user_id"] != int64(15) {
			t.Errorf("license row %v lacks user_id 15", r)
		}
		lic[r["license"].(string)] = r["enabled"]
	}
	wantLic := map[string]any{"purchasing-user": true, "expense-user": false, "sourcing-user": true, "category_planner_user": true}
	if len(lic) != len(wantLic) {
		t.Errorf("user_licenses = %v, want %v", lic, wantLic)
	}
	for k, v := range wantLic {
		if lic[k] != v {
			t.Errorf("license %s enabled = %v, want %v", k, lic[k], v)
		}
	}
}

func TestRowsErrors(t *testing.T) {
	inv, _ := catalog.Lookup("invoices")
	base := `"created-at": "2024-04-01T02:16:48+03:00", "updated-at": "2024-04-01T02:16:48+03:00"`
	cases := []struct {
		name, rec string
		want      []string // substrings of the error
	}{
		{"missing id", `{` + base + `}`, []string{"invoices", `"id"`}},
		{"null id", `{"id": null, ` + base + `}`, []string{"invoices", `"id"`}},
		{"id not a number", `{"id": "abc", ` + base + `}`, []string{"invoices", `"id"`}},
		{"missing cursor", `{"id": 3, "created-at": "2024-04-01T02:16:48+03:00"}`, []string{"invoices id 3", "updated-at"}},
		{"amount not decimal", `{"id": 3, ` + base + `, "total-with-taxes": "12,50"}`, []string{"invoices id 3", "total-with-taxes"}},
		{"amount exponent", `{"id": 3, ` + base + `, "gross-total": 1e3}`, []string{"invoices id 3", "gross-total"}},
		{"bool garbage", `{"id": 3, ` + base + `, "exported": "yes"}`, []string{"invoices id 3", "exported"}},
		{"bad datetime", `{"id": 3, ` + base + `, "payment-date": "01/05/2024"}`, []string{"invoices id 3", "payment-date"}},
		{"association not object", `{"id": 3, ` + base + `, "supplier": "Acme"}`, []string{"invoices id 3", "supplier"}},
		{"int not integer", `{"id": 3, ` + base + `, "line-count": "2.5"}`, []string{"invoices id 3", "line-count"}},
		{"string is object", `{"id": 3, ` + base + `, "status": {"a": 1}}`, []string{"invoices id 3", "status"}},
		{"lines not array", `{"id": 3, ` + base + `, "invoice-lines": {"id": 1}}`, []string{"invoices id 3", "invoice_lines", "invoice-lines"}},
		{"line without id", `{"id": 3, ` + base + `, "invoice-lines": [{"line-num": 1}]}`, []string{"invoices id 3", "invoice_lines", `"id"`}},
		{"line bad price", `{"id": 3, ` + base + `, "invoice-lines": [{"id": 5, "price": true}]}`, []string{"invoices id 3", "invoice_lines", "price"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Rows(inv, decode(t, tc.rec))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %s", msg, w)
				}
			}
		})
	}
	u, _ := catalog.Lookup("users")
	_, _, err := Rows(u, decode(t, `{"id": 1, "updated-at": "2024-01-01T00:00:00Z", "roles": [{"name": "Admin"}]}`))
	if err == nil || !strings.Contains(err.Error(), "role_id") {
		t.Errorf("role without id: err = %v, want one naming role_id", err)
	}
}

func TestConvertValues(t *testing.T) {
	cases := []struct {
		raw  any
		typ  catalog.Type
		want any
	}{
		{json.Number("42"), catalog.Int, int64(42)},
		{"42", catalog.Int, int64(42)},
		{float64(7), catalog.Int, int64(7)},
		{json.Number("100"), catalog.Decimal, "100"},
		{"-0.0001", catalog.Decimal, "-0.0001"},
		{"12345678901234567890.123456789", catalog.Decimal, "12345678901234567890.123456789"},
		{"", catalog.Decimal, nil},
		{"false", catalog.Bool, false},
		{json.Number("12"), catalog.String, "12"},
		{[]any{json.Number("1"), "a"}, catalog.JSON, `[1,"a"]`},
	}
	for _, tc := range cases {
		got, err := convert(tc.raw, tc.typ)
		if err != nil || got != tc.want {
			t.Errorf("convert(%#v, %d) = %#v, %v; want %#v", tc.raw, tc.typ, got, err, tc.want)
		}
	}
	for _, bad := range []struct {
		raw any
		typ catalog.Type
	}{{float64(1.5), catalog.Decimal}, {".", catalog.Decimal}, {"1.2.3", catalog.Decimal}, {"-", catalog.Decimal}, {json.Number("1.5"), catalog.Int}, {"2024-13-01", catalog.Timestamp}, {true, catalog.Int}} {
		if got, err := convert(bad.raw, bad.typ); err == nil {
			t.Errorf("convert(%#v, %d) = %#v, want an error", bad.raw, bad.typ, got)
		}
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2024, 3, 31, 23, 16, 48, 0, time.UTC)
	for _, s := range []string{"2024-04-01T02:16:48+03:00", "2024-04-01T02:16:48+03:00Z", "2024-03-31T23:16:48Z", "2024-03-31T16:16:48-07:00"} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v UTC", s, got, err, want)
		}
	}
	got, err := ParseTime("2024-02-03T04:05:06.123456-05:00")
	if err != nil || got.Nanosecond() != 123456000 || got.Hour() != 9 {
		t.Errorf("fractional seconds: %v, %v", got, err)
	}
}

func BenchmarkRowsInvoice(b *testing.B) {
	inv, _ := catalog.Lookup("invoices")
	rec := decode(b, invoiceJSON)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Rows(inv, rec); err != nil {
			b.Fatal(err)
		}
	}
}
