package sim

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGoldenDump writes the simulator's answers to many read requests into the directory named by
// SIM_GOLDEN_DIR, so that a change meant only to make rendering cheaper can be checked byte for byte
// (dump before, dump after, diff -r). Without the variable it does nothing: the files are not kept in the
// repository, and the comparison is between two builds, not against a stored answer.
func TestGoldenDump(t *testing.T) {
	dir := os.Getenv("SIM_GOLDEN_DIR")
	if dir == "" {
		return
	}
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		la = time.FixedZone("PST", -8*3600)
	}
	clock := func() time.Time { return time.Date(2026, 3, 10, 18, 30, 0, 0, time.UTC) }
	servers := []struct {
		name string
		opts Options
	}{
		{"default", Options{Seed: 7, Scale: 1200, Rate: -1, Now: clock}},
		{"la-unsorted", Options{Seed: 99, Scale: 300, Rate: -1, Now: clock, Location: la, UnsortedPages: true}},
	}
	for _, sv := range servers {
		s, err := New(sv.opts)
		if err != nil {
			t.Fatal(err)
		}
		d := &dumper{t: t, s: s, tok: mintDirect(t, s), dir: filepath.Join(dir, sv.name)}
		d.all("before-writes")
		d.writes()
		d.all("after-writes")
		s.Close()
	}
}

type dumper struct {
	t   *testing.T
	s   *Server
	tok string
	dir string
	cur string // dir/phase
	n   int
}

// dumpFields are `fields` parameters exercising the projection: a sync's, dashed and underscore
// spellings, names a resource lacks, nested associations and collections, names asked twice.
var dumpFields = []string{
	projectedFields,
	`["id","updated-at","name","login","code","status",{"supplier":["id","name"]},{"created-by":["login","email"]},` +
		`{"currency":["code","id"]},{"account":["code"]},{"roles":["name"]},{"content_groups":["id","name"]}]`,
	`["total","id","nothing_here",{"invoice-lines":["total","description",{"account":["name","code","id"]}]},` +
		`{"order_lines":["id","price"]},{"expense_lines":["amount",{"expense_category":["name"]}]},"ID","id"]`,
	`[{"custom_fields":["urgency","trip_purpose","diversity_class","cost_center"]},{"user":["login"]},` +
		`{"user_group":["name"]},"approvable_id","approvable_type",{"approver":["id"]}]`,
}

func (d *dumper) get(path, accept string) {
	d.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+d.tok)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	d.s.ServeHTTP(w, req)
	d.n++
	name := fmt.Sprintf("%04d", d.n)
	body := fmt.Sprintf("GET %s Accept=%s\n%d %s\n", path, accept, w.Code, w.Header().Get("Content-Type"))
	if err := os.MkdirAll(d.cur, 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.cur, name), append([]byte(body), w.Body.Bytes()...), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

func (d *dumper) both(path string) {
	d.get(path, "application/json")
	d.get(path, "application/xml")
}

func (d *dumper) all(phase string) {
	d.cur = filepath.Join(d.dir, phase)
	d.n = 0
	for _, res := range Resources() {
		n := int64(d.s.Count(res))
		base := "/api/" + res
		d.both(base)
		d.both(base + "?offset=50")
		d.both(base + "?limit=7&offset=3")
		d.both(base + "?id[gt]=" + fmt.Sprint(max(0, n-60)))
		d.both(base + "?order_by=updated_at&dir=desc&limit=20")
		d.both(base + "?return_object=shallow&limit=10")
		d.both(base + "?return_object=limited&limit=10")
		d.both(base + "?status=approved&limit=15")
		d.both(base + "?updated_at[gt]=" + url.QueryEscape("2026-01-01T00:00:00-08:00") + "&limit=25")
		d.both(base + "?created_by[login][contains]=a&limit=10")
		for _, f := range dumpFields {
			q := "fields=" + url.QueryEscape(f)
			d.both(base + "?" + q)
			d.both(base + "?" + q + "&id[gt]=" + fmt.Sprint(max(0, n-30)))
			d.both(base + "?" + q + "&return_object=shallow&limit=5")
			d.both(base + "/1?" + q)
		}
		for _, id := range []int64{1, 2, 3, n / 2, n - 1, n, n + 1} {
			d.both(fmt.Sprintf("%s/%d", base, id))
		}
	}
	inv := "/api/invoices?"
	d.both(inv + "supplier[name][contains]=acme&limit=50")
	d.both(inv + "invoice_lines[account][code][starts_with]=CC-1&limit=50")
	d.both(inv + "currency[code]=EUR&limit=50")
	d.both(inv + "total_with_taxes[gt]=1000&limit=50")
	d.both(inv + "order_by=invoice_date&limit=50")
	d.both("/api/users?user_groups[id]=2&limit=50")
	d.both("/api/users?roles[name]=Admin&fields=" + url.QueryEscape(dumpFields[1]))
}

// writes changes records through the API and behind its back, so that the dump also covers overrides,
// records created through the API (no generated base) and changed association stubs.
func (d *dumper) writes() {
	do := func(method, path, body string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+d.tok)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		d.s.ServeHTTP(w, req)
		if w.Code >= 300 {
			d.t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
	}
	do("PUT", "/api/suppliers/3", `{"name":"Renamed <Supplier> & Co","website":"https://x.example.com"}`)
	do("PUT", "/api/users/2", `{"firstname":"Zoë","roles":[{"id":1},{"id":3}],"user-groups":[{"id":2}]}`)
	do("PUT", "/api/accounts/4", `{"name":"Renamed account","code":"CC-999-9999"}`)
	do("PUT", "/api/invoices/5", `{"tax-amount":"12.34","custom-fields":{"project-code":"PRJ-X"}}`)
	do("PUT", "/api/invoices/6", `{"invoice-lines":[{"description":"Edited line"}]}`)
	do("PUT", "/api/invoices/2/void", ``)
	do("POST", "/api/invoices", `{"invoice-number":"NEW-1","invoice-date":"2026-03-01","currency":{"code":"EUR"},`+
		`"supplier":{"id":3},"invoice-lines":[{"description":"New"}]}`)
	do("POST", "/api/suppliers", `{"name":"Brand New Supplier"}`)
	do("POST", "/api/users", `{"login":"newbie","email":"newbie@example.com","active":true}`)
	do("DELETE", "/api/suppliers/7", ``)
	for _, m := range []Mutation{
		{Resource: "currencies", ID: 2, Set: map[string]any{"code": "EUX"}},
		{Resource: "commodities", ID: 3, Set: map[string]any{"name": "Renamed commodity"}},
		{Resource: "user_groups", ID: 2, Set: map[string]any{"name": "Renamed group"}},
		{Resource: "invoices", ID: 9, Set: map[string]any{"status": "disputed", "exported": true}},
		{Resource: "invoices", ID: 10, Delete: true},
		{Resource: "invoices", Create: true},
		{Resource: "purchase_orders", ID: 1, Set: map[string]any{"ship-to-attention": "Dock 4"}},
	} {
		if _, err := d.s.Mutate(m); err != nil {
			d.t.Fatal(err)
		}
	}
}
