package coupa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestParseWhereOperators(t *testing.T) {
	tests := []struct {
		expr string
		want Filter
	}{
		{"status=approved", Filter{"status", OpEq, "approved"}},
		{"  status = approved  ", Filter{"status", OpEq, "approved"}},
		{"status!=draft", Filter{"status", OpNotEq, "draft"}},
		{"total>100", Filter{"total", OpGt, "100"}},
		{"total >= 100.50", Filter{"total", OpGtOrEq, "100.50"}},
		{"total<7", Filter{"total", OpLt, "7"}},
		{"total<=7", Filter{"total", OpLtOrEq, "7"}},
		{"supplier.name~Acme", Filter{"supplier.name", OpContains, "Acme"}},
		{"invoice-number^=INV-", Filter{"invoice-number", OpStartsWith, "INV-"}},
		{"email$=@example.com", Filter{"email", OpEndsWith, "@example.com"}},
		{"status in approved,voided", Filter{"status", OpIn, "approved,voided"}},
		{"status IN approved , voided ,draft", Filter{"status", OpIn, "approved,voided,draft"}},
		{"status not in draft,voided", Filter{"status", OpNotIn, "draft,voided"}},
		{"po-number is blank", Filter{"po-number", OpBlank, "true"}},
		{"supplier.number is not blank", Filter{"supplier.number", OpBlank, "false"}},
		{"name=a=b", Filter{"name", OpEq, "a=b"}},
		{`name=" padded "`, Filter{"name", OpEq, " padded "}},
		{"updated-at>2024-04-01T00:00:00-07:00", Filter{"updated-at", OpGt, "2024-04-01T00:00:00-07:00"}},
		{"requested_by.login=ejohnson", Filter{"requested_by.login", OpEq, "ejohnson"}},
		{"name~Café", Filter{"name", OpContains, "Café"}},
		{`status in "approved", 'voided'`, Filter{"status", OpIn, "approved,voided"}},
		{`name = "=odd"`, Filter{"name", OpEq, "=odd"}},
		{`price=$100`, Filter{"price", OpEq, "$100"}},
	}
	for _, tt := range tests {
		got, err := ParseWhere(tt.expr)
		if err != nil {
			t.Errorf("ParseWhere(%q): %v", tt.expr, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseWhere(%q) = %+v, want %+v", tt.expr, got, tt.want)
		}
	}
}

func TestParseWhereErrors(t *testing.T) {
	tests := []struct {
		expr     string
		pos      int
		expected string // a fragment of the Expected text
	}{
		{"", 1, "field name"},
		{"=x", 1, "field name"},
		{"status", 7, "operator"},
		{"status approved", 8, "operator"},
		{"status ! approved", 8, "operator"},
		{"status=", 8, "value"},
		{"status =   ", 12, "value"},
		{"status in", 10, "value in the"},
		{"status in a,,b", 13, "value in the"},
		{"status in a,", 13, "value in the"},
		{"status inx", 8, "operator"},
		{"status in(a)", 10, "space after"},
		{"status not approved", 12, `"in" after "not"`},
		{"status is", 10, `"blank"`},
		{"status is empty", 11, `"blank"`},
		{"status is blank now", 17, "end of expression"},
		{"supplier..name=x", 10, "between dots"},
		{".name=x", 1, "between dots"},
		{"supplier.=x", 10, "between dots"},
		{`name="open`, 6, "closed quoted"},
		{`name="a" b`, 9, "end of expression"},
		{`name='a`, 6, "closed quoted"},
		{`status in "a,b"`, 11, "closed quoted"},
		{"näme=x", 2, "operator"},
		{"total => 5", 8, "quote a value"},
		{"total >> 5", 8, "quote a value"},
	}
	for _, tt := range tests {
		_, err := ParseWhere(tt.expr)
		var we *WhereError
		if !errors.As(err, &we) {
			t.Errorf("ParseWhere(%q) error = %v, want *WhereError", tt.expr, err)
			continue
		}
		if we.Pos != tt.pos || !strings.Contains(we.Expected, tt.expected) {
			t.Errorf("ParseWhere(%q) = position %d expected %q; want position %d expected ~%q",
				tt.expr, we.Pos, we.Expected, tt.pos, tt.expected)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "position") {
			t.Errorf("ParseWhere(%q) error %q is not one line naming the position", tt.expr, msg)
		}
	}
}

func TestParseWheresStopsAtFirstError(t *testing.T) {
	fs, err := ParseWheres([]string{"status=approved", "total>5"})
	if err != nil || len(fs) != 2 || fs[1] != (Filter{"total", OpGt, "5"}) {
		t.Fatalf("ParseWheres = %+v, %v", fs, err)
	}
	if _, err := ParseWheres([]string{"status=approved", "total"}); err == nil || !strings.Contains(err.Error(), `"total"`) {
		t.Fatalf("ParseWheres with a bad second expression: err = %v, want one naming it", err)
	}
}

// TestParseWhereCompilesToCoupaParameters sends each parsed filter through the real client over HTTP and
// checks the exact attr[op]=value parameter Coupa receives.
func TestParseWhereCompilesToCoupaParameters(t *testing.T) {
	tests := []struct{ expr, key, value string }{
		{"status=approved", "status", "approved"},
		{"status!=draft", "status[not_eq]", "draft"},
		{"total>100", "total[gt]", "100"},
		{"total>=100", "total[gt_or_eq]", "100"},
		{"total<100", "total[lt]", "100"},
		{"total<=100", "total[lt_or_eq]", "100"},
		{"supplier.name~Acme", "supplier[name][contains]", "Acme"},
		{"invoice-number^=INV", "invoice_number[starts_with]", "INV"},
		{"email$=.com", "email[ends_with]", ".com"},
		{"status in approved,voided", "status[in]", "approved,voided"},
		{"status not in draft", "status[not_in]", "draft"},
		{"po-number is blank", "po_number[blank]", "true"},
		{"po-number is not blank", "po_number[blank]", "false"},
		{"requested-by.login = ejohnson", "requested_by[login]", "ejohnson"},
		{"primary-contact.email$=coupa.com", "primary_contact[email][ends_with]", "coupa.com"},
	}
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode([]any{})
	}))
	defer srv.Close()
	c, err := New(Config{Host: srv.URL, APIKey: "test-key", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		f, err := ParseWhere(tt.expr)
		if err != nil {
			t.Fatalf("ParseWhere(%q): %v", tt.expr, err)
		}
		got = nil
		if _, _, err := c.ListPage(context.Background(), "invoices", &ListOptions{Filters: []Filter{f}}); err != nil {
			t.Fatalf("ListPage(%q): %v", tt.expr, err)
		}
		if vs, ok := got[tt.key]; !ok || len(vs) != 1 || vs[0] != tt.value {
			t.Errorf("%q sent %v, want %s=%s", tt.expr, got, tt.key, tt.value)
		}
	}
}

func ExampleParseWhere() {
	f, err := ParseWhere("supplier.name ~ Acme")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s=%s\n", f.Key(), f.Value)
	_, err = ParseWhere("total >> 5")
	fmt.Println(err)
	// Output:
	// supplier[name][contains]=Acme
	// where "total >> 5": at position 8: expected a value after ">" (quote a value that starts with = < > ! or ~), found "> 5"
}
