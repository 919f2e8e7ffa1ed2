package rowcodec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/internal/jsonscan"
)

// referencePage is what DecodePage must equal: every record decoded by encoding/json with UseNumber into a
// map (as the client's generic decoder does, which is held to encoding/json by its own tests), then Rows.
// jsonErr reports an answer that is not a JSON list; recErr the first record Rows refuses.
func referencePage(tb testing.TB, tab *catalog.Table, data []byte) (out *catalog.PageRows, jsonErr, recErr error) {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var recs []map[string]any
	if err := dec.Decode(&recs); err != nil {
		return nil, err, nil
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data"), nil
	}
	out = &catalog.PageRows{Children: map[string][]catalog.Row{}}
	for _, rec := range recs {
		row, children, err := Rows(tab, rec)
		if err != nil {
			return nil, nil, err
		}
		id, _ := toInt(rec["id"]) // Rows has checked it
		out.IDs = append(out.IDs, id.(int64))
		out.Rows = append(out.Rows, row)
		for name, rows := range children {
			out.Children[name] = append(out.Children[name], rows...)
		}
	}
	return out, nil, nil
}

// checkAgainstReference decodes data both ways and fails on any difference: both refuse malformed JSON
// (DecodePage never calling that a bad record), both refuse the same pages' records, and otherwise the
// rows are deeply equal.
func checkAgainstReference(t *testing.T, tab *catalog.Table, data []byte) (ok bool) {
	t.Helper()
	want, jsonErr, recErr := referencePage(t, tab, data)
	got, err := DecodePage(tab, data)
	switch {
	case jsonErr != nil:
		if err == nil || errors.Is(err, ErrBadRecord) {
			t.Fatalf("%s %.300q: encoding/json refuses it (%v), DecodePage says %v", tab.Name, data, jsonErr, err)
		}
		// A cut answer is asked for again: both must see one (encoding/json says io.EOF for no data at all).
		cut := errors.Is(jsonErr, io.ErrUnexpectedEOF) || errors.Is(jsonErr, io.EOF)
		if cut != errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%s %.300q: encoding/json says %v, DecodePage %v: one sees a cut answer, the other not", tab.Name, data, jsonErr, err)
		}
		return false
	case recErr != nil:
		if !errors.Is(err, ErrBadRecord) || err.Error() != recErr.Error() {
			t.Fatalf("%s %.300q: Rows refuses a record:\n%v\nDecodePage says:\n%v", tab.Name, data, recErr, err)
		}
		return false
	case err != nil:
		t.Fatalf("%s %.300q: DecodePage: %v", tab.Name, data, err)
	}
	if !reflect.DeepEqual(got.IDs, want.IDs) || !reflect.DeepEqual(got.Rows, want.Rows) {
		t.Fatalf("%s %.300q: parent rows differ\n got %v\nwant %v", tab.Name, data, got.Rows, want.Rows)
	}
	if !reflect.DeepEqual(got.Children, want.Children) {
		t.Fatalf("%s %.300q: child rows differ\n got %v\nwant %v", tab.Name, data, got.Children, want.Children)
	}
	return true
}

// recordGen makes random records for a table from its own layout: right values, nulls, missing keys and,
// on faulty pages, values of the wrong type, associations that are not objects, items that are not objects.
type recordGen struct {
	r      *rand.Rand
	faulty bool
}

func (g *recordGen) value(typ catalog.Type) any {
	r := g.r.IntN(100)
	switch {
	case r < 10:
		return nil
	case g.faulty && r < 16:
		return []any{"x", json.Number("1"), true, map[string]any{}, "not a value", json.Number("1.5e3")}[g.r.IntN(6)]
	}
	switch typ {
	case catalog.String:
		return []any{"plain", "Zürich & \"Söhne\"\n", "", json.Number("42"), true}[g.r.IntN(5)]
	case catalog.Int:
		return []any{json.Number(fmt.Sprint(g.r.Int64N(1 << 40))), fmt.Sprint(g.r.IntN(1000)), json.Number("-7"), ""}[g.r.IntN(4)]
	case catalog.Decimal:
		return []any{"1234.5678", json.Number("12.50"), "-0.01", "", "+3"}[g.r.IntN(5)]
	case catalog.Bool:
		return []any{true, false, "true", "false", ""}[g.r.IntN(5)]
	case catalog.Timestamp:
		return []any{"2024-04-01T02:16:48+03:00", "2016-10-07T06:59:46-07:00", "2024-05-01", "2024-04-01T02:16:48.5+03:00Z", ""}[g.r.IntN(5)]
	case catalog.JSON:
		return []any{map[string]any{"cost-center": "CC-1", "n": json.Number("1.50"), "o": map[string]any{"a": []any{nil, true}}},
			map[string]any{}, "text", []any{json.Number("1")}}[g.r.IntN(4)]
	}
	panic("type")
}

// put sets path in m to v, leaving alone a path whose association was already set to something else.
func put(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			if _, set := m[k]; set {
				return
			}
			next = map[string]any{"unused-part": "x"}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// object makes the record of cols; the key columns are set on pages that are not faulty.
func (g *recordGen) object(cols []catalog.Column, keys []string, id int64) map[string]any {
	m := map[string]any{}
	for _, col := range cols {
		path := strings.Split(col.Path, ".")
		if g.faulty && len(path) > 1 && g.r.IntN(40) == 0 {
			m[path[0]] = []any{"Acme", json.Number("3"), []any{}}[g.r.IntN(3)]
		}
		switch {
		case col.Path == "id":
			m["id"] = json.Number(fmt.Sprint(id))
		case !g.faulty && slices.Contains(keys, col.Name):
			put(m, path, map[catalog.Type]any{catalog.Int: json.Number(fmt.Sprint(g.r.IntN(1000))), catalog.String: "key"}[col.Type])
		case g.r.IntN(10) == 0:
			// missing
		default:
			put(m, path, g.value(col.Type))
		}
		if col.Path == "id" && g.faulty && g.r.IntN(10) == 0 {
			delete(m, "id")
		}
	}
	if g.r.IntN(4) == 0 {
		m["some-new-field"] = g.value(catalog.JSON)
	}
	return m
}

func (g *recordGen) record(tab *catalog.Table, id int64) map[string]any {
	rec := g.object(tab.Columns, nil, id)
	if !g.faulty {
		rec[tab.Cursor] = "2024-04-01T02:16:48+03:00"
	}
	for _, ch := range tab.Children {
		for _, u := range ch.Uses {
			rec[u] = []any{true, false, nil, "true"}[g.r.IntN(4)]
		}
		if ch.Path == "" {
			continue
		}
		switch n := g.r.IntN(10); {
		case n == 0:
			continue
		case n == 1:
			rec[ch.Path] = nil
		case n == 2 && g.faulty:
			rec[ch.Path] = map[string]any{"id": json.Number("1")}
		default:
			items := make([]any, g.r.IntN(5))
			for i := range items {
				items[i] = g.object(ch.Columns, ch.Key, id*10+int64(i))
				if g.faulty && g.r.IntN(20) == 0 {
					items[i] = "not an item"
				}
			}
			rec[ch.Path] = items
		}
	}
	return rec
}

// TestDecodePageMatchesRows holds DecodePage to the generic decoder plus Rows on random pages of every
// table of the catalog.
func TestDecodePageMatchesRows(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tab := range catalog.All() {
		decoded := 0
		for i := range 60 {
			g := &recordGen{r: r, faulty: i%3 == 2}
			recs := make([]any, r.IntN(6))
			for j := range recs {
				recs[j] = g.record(tab, int64(1000+j*3))
			}
			if g.faulty && r.IntN(10) == 0 {
				recs = append(recs, nil)
			}
			data, err := json.Marshal(recs)
			if err != nil {
				t.Fatal(err)
			}
			if checkAgainstReference(t, tab, data) {
				decoded++
			}
		}
		if decoded < 20 {
			t.Errorf("%s: only %d of 60 random pages decoded: the generator makes too few valid pages to compare rows", tab.Name, decoded)
		}
	}
}

// TestDecodePageEdges covers what json.Marshal cannot produce or random pages rarely do: repeated keys,
// escaped keys, nulls where objects are expected, list answers that are null or empty.
func TestDecodePageEdges(t *testing.T) {
	inv, _ := catalog.Lookup("invoices")
	users, _ := catalog.Lookup("users")
	base := `"updated-at":"2024-04-01T02:16:48+03:00"`
	cases := []struct {
		tab  *catalog.Table
		data string
	}{
		{inv, `null`},
		{inv, ` [ ] `},
		{inv, `[{"id":1,` + base + `,"supplier":{"id":1,"name":"A"},"supplier":{"id":2}}]`},
		{inv, `[{"id":1,` + base + `,"supplier":{"id":1,"id":2,"name":"B"}}]`},
		{inv, `[{"id":1,` + base + `,"supplier":null,"currency":{},"payment-term":{"id":null}}]`},
		{inv, `[{"id":1,` + base + `,"invoice-lines":[{"id":5}],"invoice-lines":[{"id":6},{"id":7}]}]`},
		{inv, `[{"id":1,` + base + `,"invoice-lines":[{"id":5}]},{"id":2,` + base + `}]`},
		{inv, `[{"invoice-lines":[{"id":5,"total":"1.00"}],` + base + `,"id":9}]`},
		{inv, `[{"id":1,` + base + `,"st\u0061tus":"escaped key","x\u00e9":"extra","x\u00e9":"last"}]`},
		{inv, `[{"id":1,` + base + `,"id":2}]`},
		{inv, `[{"id":"12",` + base + `,"custom-fields":{"b":1,"a":[true,null,"x"]}}]`},
		{inv, `[{"id":3,` + base + `},{"id":1,` + base + `}]`},
		{inv, `[{"id":1,` + base + `,"supplier":{"id":1,"extra":{"deep":[1,2,{"x":"\ud83d\ude00"}]}}}]`},
		{inv, `[{"id":1,` + base + `,"invoice-lines":[{"id":5,"account":{"id":1,"code":"A"},"unknown":[1]}]}]`},
		// A line's unknown keys are its _extra: repeated and escaped keys as in a map, with a bad column.
		{inv, `[{"id":1,` + base + `,"invoice-lines":[{"id":5,"x\u00e9":1,"x\u00e9":{"a":[2]},"line-custom":null}]}]`},
		{inv, `[{"id":1,` + base + `,"invoice-lines":[{"id":5,"unknown":"u","price":true}]}]`},
		{users, `[{"id":1,` + base + `,"purchasing-user":true,"roles":[{"id":4,"name":"Admin"}]}]`},
		// A repeated key replaces the value, and whatever was wrong with it.
		{inv, `[{"id":1,` + base + `,"status":{"a":1},"status":"ok"}]`},
		{inv, `[{"id":1,` + base + `,"supplier":"Acme","supplier":{"id":2}}]`},
		{inv, `[{"id":1,` + base + `,"supplier":{"id":"x"},"supplier":null}]`},
		{inv, `[{"id":1,` + base + `,"invoice-lines":[{"id":1,"price":true}],"invoice-lines":[{"id":2}]}]`},
		{inv, `[{"id":1,` + base + `,"invoice-lines":"no","invoice-lines":[{"id":2}]}]`},
		{inv, `[{"id":1,` + base + `,"invoice-lines":[7],"invoice-lines":[]}]`},
		{inv, `[{"id":1,` + base + `,"supplier":{"id":1,"id":"x","id":2}}]`},
		// Several faults: the one Rows names first (column order, then cursor, then children, items in order).
		{inv, `[{"id":1,` + base + `,"gross-total":"x","status":{}}]`},
		{inv, `[{"id":1,"invoice-lines":[{"id":1,"price":true}]}]`},
		{inv, `[{"id":1,` + base + `,"invoice-lines":[{"total":"1.00"},{"id":2,"price":true}]}]`},
		{inv, `[{"id":1,` + base + `,"invoice-lines":[{"id":2,"price":true},5]}]`},
		{inv, `[{"id":1,` + base + `,"invoice-lines":[{"id":2,"price":true}],"invoice-charges":"x"}]`},
		{inv, `[{"id":1,` + base + `,"supplier":{"name":{},"id":"x"},"currency":7}]`},
		// Refused records, with the reference refusing them the same way.
		{inv, `[null]`},
		{inv, `[{` + base + `}]`},
		{inv, `[{"id":null,` + base + `}]`},
		{inv, `[{"id":"",` + base + `}]`},
		{inv, `[{"id":1}]`},
		{inv, `[{"id":1,` + base + `,"supplier":"Acme"}]`},
		{inv, `[{"id":1,` + base + `,"invoice-lines":[{"total":"1.00"}]}]`},
		{inv, `[{"id":1,` + base + `,"invoice-lines":[1]}]`},
		// Malformed answers.
		{inv, `[1]`},
		{inv, `[1`},
		{inv, `[{"id":1,"paid":tr`},
		{inv, `[nul`},
		{inv, `[{"id":1,"x":[fals`},
		{inv, `{"id":1}`},
		{inv, `[{"id":1,` + base + `}] x`},
		{inv, `[{"id":1,` + base + `,"supplier":{"id":1,"x":"\q"}}]`},
		{inv, `[{"id":1,` + base + `,"supplier":{"id":1,"x":[1,]}}]`},
		{inv, "[{\"id\":1," + base + ",\"supplier\":{\"x\":\"ctl\x01\"}}]"},
	}
	for _, tc := range cases {
		checkAgainstReference(t, tc.tab, []byte(tc.data))
	}
}

// TestDecodePageErrorsMatchRows: a record with one fault gets the very message Rows gives.
func TestDecodePageErrorsMatchRows(t *testing.T) {
	inv, _ := catalog.Lookup("invoices")
	base := `"created-at": "2024-04-01T02:16:48+03:00", "updated-at": "2024-04-01T02:16:48+03:00"`
	for _, rec := range []string{
		`{` + base + `}`,
		`{"id": null, ` + base + `}`,
		`{"id": "abc", ` + base + `}`,
		`{"id": "", ` + base + `}`,
		`{"id": 3, "created-at": "2024-04-01T02:16:48+03:00"}`,
		`{"id": 3, ` + base + `, "total-with-taxes": "12,50"}`,
		`{"id": 3, ` + base + `, "gross-total": 1e3}`,
		`{"id": 3, ` + base + `, "supplier": "Acme"}`,
		`{"id": 3, ` + base + `, "supplier": {"id": "x"}}`,
		`{"id": 3, ` + base + `, "status": {"a": 1}}`,
		`{"id": 3, ` + base + `, "invoice-lines": {"id": 1}}`,
		`{"id": 3, ` + base + `, "invoice-lines": [{"id": 1}, "x"]}`,
		`{"id": 3, ` + base + `, "invoice-lines": [{"id": 1}, {"line-num": 1}]}`,
		`{"id": 3, ` + base + `, "invoice-lines": [{"id": 5, "price": true}]}`,
		`{"id": 3, ` + base + `, "invoice-lines": [{"id": 5, "account": [1]}]}`,
	} {
		_, _, want := Rows(inv, decode(t, rec))
		_, got := DecodePage(inv, []byte("["+rec+"]"))
		if want == nil || got == nil || got.Error() != want.Error() || !errors.Is(got, ErrBadRecord) {
			t.Errorf("%s:\n got %v\nwant %v", rec, got, want)
		}
	}
}

// TestDecodePageCutShort: every proper prefix of an answer is refused as cut short (io.ErrUnexpectedEOF,
// which the client asks again for), even when a record before the cut is bad.
func TestDecodePageCutShort(t *testing.T) {
	inv, _ := catalog.Lookup("invoices")
	page := `[{"id":1,"updated-at":"2024-04-01T02:16:48+03:00","supplier":"bad","invoice-lines":[{"id":2,"total":"1.00"}]},` +
		`{"id":2,"updated-at":"2024-04-01T02:16:48+03:00","custom-fields":{"a":"\u00e9","b":[true,false,null]},` +
		`"exported":false,"is-credit-note":true,"tax-rate":null},null]`
	if _, err := DecodePage(inv, []byte(page)); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("whole answer: %v, want a bad record", err)
	}
	for n := 1; n < len(page); n++ {
		_, err := DecodePage(inv, []byte(page[:n]))
		if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrBadRecord) {
			t.Fatalf("answer cut at %d (%q): %v, want one wrapping io.ErrUnexpectedEOF", n, page[:n], err)
		}
	}
}

// TestDecodePageCopies: the rows do not share memory with the answer, which the client reuses.
func TestDecodePageCopies(t *testing.T) {
	inv, _ := catalog.Lookup("invoices")
	data := []byte("[" + invoiceJSON + "]")
	want, _, _ := referencePage(t, inv, data)
	got, err := DecodePage(inv, data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = ' '
	}
	if !reflect.DeepEqual(got.Rows, want.Rows) || !reflect.DeepEqual(got.Children, want.Children) {
		t.Fatal("rows changed when the answer's buffer was overwritten")
	}
}

// TestDecodePageManyDistinctValues fills the cache of converted values past its size, so that values share
// its slots: a value must never be taken for another that hashed to the same slot.
func TestDecodePageManyDistinctValues(t *testing.T) {
	inv, _ := catalog.Lookup("invoices")
	const distinct = 3 * seenSlots
	recs := make([]any, 2*distinct) // each value twice, the second time probably evicted, maybe not
	for i := range recs {
		n := i % distinct
		recs[i] = map[string]any{
			"id":             json.Number(fmt.Sprint(i + 1)),
			"updated-at":     time.Date(2024, 4, 1, 0, 0, n, 0, time.UTC).Format(time.RFC3339),
			"status":         fmt.Sprintf("status-%d", n),
			"gross-total":    fmt.Sprintf("%d.25", n),
			"custom-fields":  map[string]any{"project-code": fmt.Sprintf("PRJ-%d", n), "cost-center-override": nil},
			"invoice-lines":  []any{map[string]any{"id": json.Number(fmt.Sprint(i + 1)), "custom-fields": []any{json.Number(fmt.Sprint(n))}}},
			"invoice-number": fmt.Sprintf("INV-%d", n),
		}
	}
	data, err := json.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	if !checkAgainstReference(t, inv, data) {
		t.Fatal("the page was refused")
	}
}

// FuzzDecodePage: for any input, DecodePage agrees with the generic decoder plus Rows.
// `go test -fuzz FuzzDecodePage ./catalog/rowcodec` explores beyond the seeds.
func FuzzDecodePage(f *testing.F) {
	f.Add([]byte("[" + invoiceJSON + "]"))
	f.Add([]byte(`[{"id":1,"updated-at":"2024-04-01T02:16:48Z","supplier":{"id":1},"supplier":null}]`))
	f.Add([]byte(`[{"id":1,"updated-at":"2024-04-01T02:16:48Z","invoice-lines":[{"id":1},null]}]`))
	f.Add([]byte(`[{"id":1,"updated-at":"2024-04-01T02:16:48Z","supplier":"","supplier":null}]`))
	inv, _ := catalog.Lookup("invoices")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstReference(t, inv, data)
	})
}

// BenchmarkDecodePage is a page of 50 invoices read into rows directly; BenchmarkDecodePageViaMaps is what
// it replaces: the client's generic decoder (jsonscan values) plus Rows.
func BenchmarkDecodePage(b *testing.B) {
	inv, data := benchPage(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if p, err := DecodePage(inv, data); err != nil || p.Len() != 50 {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePageViaMaps(b *testing.B) {
	inv, data := benchPage(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s := jsonscan.New(data)
		n := 0
		err := s.List(func() error {
			v, err := s.Value("")
			if err != nil {
				return err
			}
			n++
			_, _, err = Rows(inv, v.(map[string]any))
			return err
		})
		if err != nil || n != 50 {
			b.Fatal(err)
		}
	}
}

func benchPage(b *testing.B) (*catalog.Table, []byte) {
	inv, _ := catalog.Lookup("invoices")
	var recs []string
	for i := range 50 {
		recs = append(recs, strings.Replace(invoiceJSON, `"id": 4711`, fmt.Sprintf(`"id": %d`, 4711+i), 1))
	}
	return inv, []byte("[" + strings.Join(recs, ",") + "]")
}
