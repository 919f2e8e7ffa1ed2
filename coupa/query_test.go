package coupa

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestListOptionsValues(t *testing.T) {
	opts := &ListOptions{
		Filters: []Filter{
			{Field: "updated-at", Op: OpGtOrEq, Value: "2026-01-01T00:00:00Z"},
			{Field: "supplier.name", Op: OpContains, Value: "Acme & Co"},
			{Field: "status", Op: OpIn, Value: "approved,voided"},
			{Field: "exported", Value: "false"},
			{Field: "invoice-lines.account.account-type.name", Op: OpEq, Value: "SAP"},
		},
		Params:       url.Values{"filter": {"DEFAULT_INVOICES_FILTER"}},
		Fields:       []any{"id", "invoice-number", map[string][]any{"supplier": {"id", "display-name"}}},
		Limit:        500,
		AfterID:      42,
		ReturnObject: "shallow",
	}
	v, err := opts.Values()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"updated_at[gt_or_eq]":     "2026-01-01T00:00:00Z",
		"supplier[name][contains]": "Acme & Co",
		"status[in]":               "approved,voided",
		"exported":                 "false",
		"invoice_lines[account][account_type][name]": "SAP",
		"filter":        "DEFAULT_INVOICES_FILTER",
		"fields":        `["id","invoice_number",{"supplier":["id","display_name"]}]`,
		"limit":         "50",
		"id[gt]":        "42",
		"return_object": "shallow",
	}
	for k, w := range want {
		if got := v.Get(k); got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
	for _, k := range []string{"order_by", "dir", "offset"} {
		if v.Has(k) {
			t.Errorf("%s sent for keyset paging: %q", k, v.Get(k))
		}
	}
	if len(v) != len(want) {
		t.Errorf("unexpected parameters: %v", v)
	}

	v, _ = (&ListOptions{OrderBy: "created-at", Desc: true, Offset: 100, Limit: 10}).Values()
	if v.Get("order_by") != "created_at" || v.Get("dir") != "desc" || v.Get("offset") != "100" || v.Get("limit") != "10" {
		t.Errorf("offset/order values = %v", v)
	}
	v, _ = (*ListOptions)(nil).Values()
	if v.Encode() != "limit=50" {
		t.Errorf("nil options = %q, want limit=50", v.Encode())
	}
	if _, err := (&ListOptions{Filters: []Filter{{Field: " "}}}).Values(); err == nil {
		t.Error("empty filter field accepted")
	}
}

func TestKeysetPagingReturnsEveryRecordOnceEvenOutOfOrder(t *testing.T) {
	for _, shuffle := range []bool{false, true} {
		f := newFakeCoupa(t, 137)
		f.shuffle = shuffle
		var mu sync.Mutex
		var queries []url.Values
		f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
			mu.Lock()
			queries = append(queries, r.URL.Query())
			mu.Unlock()
			return false
		}
		c := testClient(t, f.srv.URL, nil)
		recs, err := collect(t, c.List(context.Background(), "invoices", &ListOptions{Limit: 50}))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int64]int{}
		var last int64
		for _, r := range recs {
			id, ok := r.ID()
			if !ok {
				t.Fatalf("record without id: %v", r)
			}
			seen[id]++
			if id <= last {
				t.Errorf("shuffle=%v: id %d after %d: not ascending", shuffle, id, last)
			}
			last = id
		}
		if len(recs) != 137 || len(seen) != 137 {
			t.Errorf("shuffle=%v: %d records, %d distinct; want 137", shuffle, len(recs), len(seen))
		}
		if len(queries) != 3 {
			t.Errorf("pages requested = %d, want 3", len(queries))
		}
		for i, q := range queries {
			if q.Has("order_by") || q.Has("offset") {
				t.Errorf("page %d relied on order_by/offset: %v", i, q)
			}
			if i > 0 && q.Get("id[gt]") == "" {
				t.Errorf("page %d has no id[gt]", i)
			}
		}
	}
}

func TestListStopsWhenServerIgnoresIDGt(t *testing.T) {
	f := newFakeCoupa(t, 0)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		page := make([]map[string]int, 2)
		for i := range page {
			page[i] = map[string]int{"id": i + 1}
		}
		_ = json.NewEncoder(w).Encode(page)
		return true
	}
	c := testClient(t, f.srv.URL, nil)
	_, err := collect(t, c.List(context.Background(), "invoices", &ListOptions{Limit: 2}))
	if err == nil || !strings.Contains(err.Error(), "ignored id[gt]") {
		t.Errorf("err = %v, want a loop guard", err)
	}
	if f.apiHits.Load() != 2 {
		t.Errorf("pages = %d, want 2", f.apiHits.Load())
	}
}

func TestListOffsetPagingWhenOrdered(t *testing.T) {
	f := newFakeCoupa(t, 23)
	var offsets []string
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		offsets = append(offsets, r.URL.Query().Get("offset")+"/"+r.URL.Query().Get("order_by"))
		return false
	}
	c := testClient(t, f.srv.URL, nil)
	recs, err := collect(t, c.List(context.Background(), "invoices", &ListOptions{Limit: 10, OrderBy: "id"}))
	if err != nil || len(recs) != 23 {
		t.Fatalf("records %d err %v", len(recs), err)
	}
	if got := strings.Join(offsets, ","); got != "/id,10/id,20/id" {
		t.Errorf("offsets/order = %s", got)
	}
}

func TestListStopsEarlyWhenConsumerBreaks(t *testing.T) {
	f := newFakeCoupa(t, 200)
	c := testClient(t, f.srv.URL, nil)
	n := 0
	for _, err := range c.List(context.Background(), "invoices", nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 3 {
			break
		}
	}
	if f.apiHits.Load() != 1 {
		t.Errorf("pages fetched = %d after break on page 1, want 1", f.apiHits.Load())
	}
}

func TestDecodeKeepsEverything(t *testing.T) {
	body := []byte(`[{"id": 9007199254740993, "total-with-taxes": "1234567890.123456", "rate": 0.1,
		"created-at": "2024-04-01T02:16:48+03:00", "custom-fields": {"x": null}, "unknown-thing": [1, "a"]}]`)
	recs, err := decodeRecords(body)
	if err != nil {
		t.Fatal(err)
	}
	r := recs[0]
	if id, ok := r.ID(); !ok || id != 9007199254740993 {
		t.Errorf("id = %v (lost precision?)", r["id"])
	}
	if r["total-with-taxes"] != "1234567890.123456" || r["created-at"] != "2024-04-01T02:16:48+03:00" {
		t.Errorf("strings changed: %v", r)
	}
	if n, ok := r["rate"].(json.Number); !ok || n.String() != "0.1" {
		t.Errorf("rate = %#v, want json.Number 0.1", r["rate"])
	}
	if _, ok := r["unknown-thing"]; !ok {
		t.Error("unknown field dropped")
	}
	if _, err := decodeRecords([]byte(`[{"id":1}] trailing`)); err == nil {
		t.Error("trailing garbage accepted")
	}
	if _, err := decodeRecords([]byte(`{"id":1}`)); err == nil {
		t.Error("object accepted where a list is expected")
	}
}

func TestWriteCalls(t *testing.T) {
	type seen struct {
		method, path, query, ctype, body string
	}
	var got []seen
	var mu sync.Mutex
	f := newFakeCoupa(t, 0)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), string(b)})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("return_object") == "none" {
			return true
		}
		_, _ = w.Write([]byte(`{"id": 5, "amount": "1.50"}`))
		return true
	}
	c := testClient(t, f.srv.URL, nil)
	ctx := context.Background()

	rec, _, err := c.Get(ctx, "invoices", 5, []any{"id", "total-with-taxes"})
	if err != nil || rec["amount"] != "1.50" {
		t.Fatalf("Get: %v %v", rec, err)
	}
	if _, _, err := c.Create(ctx, "/api/invoices", map[string]any{"invoice-number": "X"}, &WriteOptions{ReturnObject: "none"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Update(ctx, "users", 7, map[string]any{"active": false}, &WriteOptions{ReturnObject: "limited"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Action(ctx, "invoices", 5, "void", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.MarkExported(ctx, "purchase_orders", 25); err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"GET", "/api/invoices/5", "fields=%5B%22id%22%2C%22total_with_taxes%22%5D", "", ""},
		{"POST", "/api/invoices", "return_object=none", "application/json", `{"invoice-number":"X"}`},
		{"PUT", "/api/users/7", "return_object=limited", "application/json", `{"active":false}`},
		{"PUT", "/api/invoices/5/void", "", "", ""},
		{"PUT", "/api/purchase_orders/25", "exported=true", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d calls: %+v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, _, err := c.Action(ctx, "invoices", 5, "../../oauth2/token", nil); err == nil {
		t.Error("path traversal in action accepted")
	}
	if _, _, err := c.Update(ctx, "invoices", 0, nil, nil); err == nil {
		t.Error("update without id accepted")
	}
}

// TestFieldsEncodeAsEncodingJSONDoes holds the hand-written projection encoder to encoding/json (HTML
// escaping off) of the normalised projection, for every shape ListOptions.Fields accepts and for the
// names that need escaping.
func TestFieldsEncodeAsEncodingJSONDoes(t *testing.T) {
	reference := func(fields []any) string {
		var norm func(fields []any) []any
		norm = func(fields []any) []any {
			out := []any{}
			for _, f := range fields {
				switch x := f.(type) {
				case string:
					out = append(out, strings.ReplaceAll(x, "-", "_"))
				case map[string][]any:
					m := map[string]any{}
					for k, sub := range x {
						m[strings.ReplaceAll(k, "-", "_")] = norm(sub)
					}
					out = append(out, m)
				case map[string][]string:
					m := map[string]any{}
					for k, ss := range x {
						m[strings.ReplaceAll(k, "-", "_")] = norm(stringsAsAny(ss))
					}
					out = append(out, m)
				case map[string]any:
					m := map[string]any{}
					for k, sub := range x {
						l, ok := sub.([]any)
						if !ok {
							l = stringsAsAny(sub.([]string))
						}
						m[strings.ReplaceAll(k, "-", "_")] = norm(l)
					}
					out = append(out, m)
				}
			}
			return out
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(norm(fields)); err != nil {
			t.Fatal(err)
		}
		return strings.TrimRight(b.String(), "\n")
	}
	cases := [][]any{
		{},
		{"id", "created-at", "a&b<c>", "quote\"back\\slash", "tab\there", "é-ü", "\u2028", "bad\xffutf8"},
		{"id", map[string][]any{"supplier": {"id", "display-name"}, "account-type": {"name", map[string][]string{"z-z": {"a-b"}, "a": {}}}}},
		{map[string]any{"invoice-lines": []any{"id", map[string]any{"account": []string{"code", "id"}}}, "currency": []string{"code"}}},
		{map[string][]string{"b": {"x"}, "a": {"y-z"}}, "tail"},
	}
	for _, fields := range cases {
		got, err := encodeFields(fields)
		if want := reference(fields); err != nil || got != want {
			t.Errorf("encodeFields(%#v)\n got %s (%v)\nwant %s", fields, got, err, want)
		}
	}
	if _, err := encodeFields([]any{map[string]any{"supplier": "id"}}); err == nil || !strings.Contains(err.Error(), `"supplier" must be a list`) {
		t.Errorf("an association that is not a list: %v", err)
	}
	if _, err := encodeFields([]any{map[string]any{"a-b": 5, "a_b": []any{"id"}}}); err == nil {
		t.Error("an association that is not a list was accepted because another name hid it")
	}
	if _, err := encodeFields([]any{42}); err == nil {
		t.Error("a number in a projection was accepted")
	}
	// Names that are one once normalised are sent once, whichever the map gives first.
	for range 20 {
		got, _ := encodeFields([]any{map[string][]any{"line-items": {"a"}, "line_items": {"b"}}})
		if got != `[{"line_items":["b"]}]` {
			t.Fatalf("duplicate association names: %s", got)
		}
	}
}
