package coupa

import "testing"

func TestRecordPath(t *testing.T) {
	r := Record{
		"id":       1,
		"status":   "approved",
		"supplier": map[string]any{"name": "Acme", "account": map[string]any{"code": "A-1"}, "parent": nil},
		"currency": nil,
	}
	for _, tc := range []struct {
		path      string
		want      any
		notObject string
	}{
		{"status", "approved", ""},
		{"supplier.name", "Acme", ""},
		{"supplier.account.code", "A-1", ""},
		{"missing", nil, ""},
		{"supplier.missing", nil, ""},
		{"missing.name", nil, ""},
		{"currency.code", nil, ""},        // a null association
		{"supplier.parent.name", nil, ""}, // a null on the way
		{"status.code", "approved", "status"},
		{"supplier.name.first", "Acme", "supplier.name"},
	} {
		v, notObject := r.Path(tc.path)
		if v != tc.want || notObject != tc.notObject {
			t.Errorf("Path(%q) = %#v, %q; want %#v, %q", tc.path, v, notObject, tc.want, tc.notObject)
		}
	}
}
