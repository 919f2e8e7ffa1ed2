package catalog

import (
	"slices"
	"strings"
	"testing"
)

func TestAllNamesLookupStable(t *testing.T) {
	names := Names()
	if names[0] != "invoices" || !slices.Equal(names, Names()) {
		t.Errorf("Names = %v", names)
	}
	a := All()
	for i, tb := range a {
		if tb.Name != names[i] {
			t.Errorf("All()[%d] = %s, Names()[%d] = %s", i, tb.Name, i, names[i])
		}
	}
	a[0] = nil
	if All()[0] == nil {
		t.Error("All returns the catalog's own slice")
	}
	if tb, ok := Lookup("purchase_orders"); !ok || tb.Resource != "purchase_orders" {
		t.Error("Lookup purchase_orders failed")
	}
	if _, ok := Lookup("invoice_lines"); ok {
		t.Error("Lookup finds child tables; it should only find parents")
	}
}

func TestSelect(t *testing.T) {
	got, err := Select([]string{"users", " invoices", "users"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "invoices" || got[1].Name != "users" {
		t.Errorf("Select = %v, want [invoices users] in catalog order without duplicates", got)
	}
	all, err := Select(nil)
	if err != nil || len(all) != len(Names()) {
		t.Errorf("Select(nil) = %d tables, %v", len(all), err)
	}
	_, err = Select([]string{"invoices", "invoicez"})
	if err == nil || !strings.Contains(err.Error(), `"invoicez"`) || !strings.Contains(err.Error(), "purchase_orders") {
		t.Errorf("unknown table error = %v; want it to name invoicez and list the valid tables", err)
	}
	_, err = Select([]string{"invoice_lines"})
	if err == nil || !strings.Contains(err.Error(), "invoices") {
		t.Errorf("child table error = %v; want it to point at invoices", err)
	}
}
