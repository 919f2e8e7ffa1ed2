package extracttest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
)

type fakeReader map[string][]map[string]any

func (f fakeReader) ReadRows(ctx context.Context, table string) ([]map[string]any, error) {
	return f[table], nil
}
func (f fakeReader) Runs(ctx context.Context) ([]*dest.Run, error) { return nil, nil }

var orders = &catalog.Table{
	Name: "orders", Resource: "orders", Cursor: "updated-at",
	Columns: []catalog.Column{
		{Name: "id", Path: "id", Type: catalog.Int},
		{Name: "updated_at", Path: "updated-at", Type: catalog.Timestamp},
		{Name: "total", Path: "total", Type: catalog.Decimal},
		{Name: "supplier_id", Path: "supplier.id", Type: catalog.Int},
		{Name: "paid", Path: "paid", Type: catalog.Bool},
	},
	Children: []catalog.Child{{Name: "order_lines", Path: "order-lines", ParentKey: "order_id", Key: []string{"id"},
		Columns: []catalog.Column{{Name: "id", Path: "id", Type: catalog.Int}, {Name: "price", Path: "price", Type: catalog.Decimal}}}},
}

const truth = `[{"id":1,"updated-at":"2024-04-01T02:16:48-07:00","total":"10.50","supplier":{"id":7},"paid":true,
  "order-lines":[{"id":11,"price":"10.50"}]},
 {"id":2,"updated-at":"2024-04-02T00:00:00Z","total":"3","supplier":null,"paid":false,"order-lines":[]}]`

func goodRows() fakeReader {
	return fakeReader{
		"orders": {
			{"id": int64(1), "updated_at": time.Date(2024, 4, 1, 9, 16, 48, 0, time.UTC), "total": "10.50", "supplier_id": int64(7), "paid": true},
			{"id": int64(2), "updated_at": time.Date(2024, 4, 2, 0, 0, 0, 0, time.UTC), "total": "3", "supplier_id": nil, "paid": false},
		},
		"order_lines": {{"id": int64(11), "order_id": int64(1), "price": "10.50"}},
	}
}

func TestDiffFindsEveryKindOfDifference(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/__sim/snapshot/orders" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(truth))
	}))
	defer srv.Close()
	ctx := context.Background()
	if d, err := Diff(ctx, srv.URL, goodRows(), orders, 10); err != nil || len(d) != 0 {
		t.Fatalf("an equal warehouse: %v %v", d, err)
	}
	for name, tc := range map[string]struct {
		tamper func(f fakeReader)
		want   string
	}{
		"money as float": {func(f fakeReader) { f["orders"][0]["total"] = "10.5" }, "column total"},
		"time shifted":   {func(f fakeReader) { f["orders"][0]["updated_at"] = time.Date(2024, 4, 1, 2, 16, 48, 0, time.UTC) }, "column updated_at"},
		"missing parent": {func(f fakeReader) { f["orders"] = f["orders"][:1] }, "id 2 is in Coupa"},
		"extra parent":   {func(f fakeReader) { f["orders"] = append(f["orders"], map[string]any{"id": int64(3)}) }, "id 3 is live"},
		"deleted parent": {func(f fakeReader) { f["orders"][1][catalog.ColDeletedAt] = time.Now() }, "id 2 is in Coupa"},
		"missing child":  {func(f fakeReader) { f["order_lines"] = nil }, "order_lines: row 11"},
		"extra child": {func(f fakeReader) {
			f["order_lines"] = append(f["order_lines"], map[string]any{"id": int64(12), "order_id": int64(1)})
		}, "row 12 is in the warehouse"},
		"child value":     {func(f fakeReader) { f["order_lines"][0]["price"] = "10.5" }, "column price"},
		"nested assoc id": {func(f fakeReader) { f["orders"][0]["supplier_id"] = int64(8) }, "column supplier_id"},
		"bool":            {func(f fakeReader) { f["orders"][1]["paid"] = nil }, "column paid"},
	} {
		f := goodRows()
		tc.tamper(f)
		d, err := Diff(ctx, srv.URL, f, orders, 10)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(d) == 0 || !strings.Contains(strings.Join(d, "\n"), tc.want) {
			t.Errorf("%s: diff %q does not mention %q", name, d, tc.want)
		}
	}
}
