package sim

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestScratchRendersLikeFresh: a record rendered into a reused scratch (still holding the fields of
// records of other resources) encodes exactly as one rendered into fresh slices, whole and projected.
func TestScratchRendersLikeFresh(t *testing.T) {
	s, err := New(Options{Scale: 400})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// An override, a record created through the API and a deleted one take render's other paths.
	if _, err := s.Mutate(Mutation{Resource: "invoices", ID: 3, Set: map[string]any{"tax-amount": "1.00", "status": "disputed"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mutate(Mutation{Resource: "invoices", Create: true}); err != nil {
		t.Fatal(err)
	}
	p := compileFields(mustFields(t, projectedFields))
	sc := &scratch{}
	compared := 0
	for round := 0; round < 2; round++ { // the second round finds the slabs full of the first's fields
		for _, name := range sortedNames() {
			tab := s.st.tables[name]
			for id := int64(1); id <= min(int64(len(tab.recs)), 30); id++ {
				fresh := s.st.render(tab, id, true)
				lent := s.st.renderIn(sc, tab, id, true)
				want, got := s.st.enc.jsonValue(nil, fresh), s.st.enc.jsonValue(nil, lent)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s %d from scratch:\n got %s\nwant %s", name, id, got, want)
				}
				want, got = s.st.enc.jsonValue(nil, p.apply(fresh)), s.st.enc.jsonProjected(nil, lent, p)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s %d projected from scratch:\n got %s\nwant %s", name, id, got, want)
				}
				compared++
				if id%3 == 0 {
					sc.reset()
				}
			}
		}
	}
	if compared < 600 {
		t.Fatalf("only %d records compared", compared)
	}
}

func mustFields(t *testing.T, spec string) []any {
	t.Helper()
	q, err := parseQuery("fields="+url.QueryEscape(spec), 50, false)
	if err != nil {
		t.Fatal(err)
	}
	return q.fields
}

// TestStubCacheFollowsChanges: invoices embed cached, pre-encoded stubs of users, suppliers and accounts,
// and remember each stub's projection; after a change to the referenced record, both the whole and the
// projected list show the new values.
func TestStubCacheFollowsChanges(t *testing.T) {
	st := start(t, Options{Scale: 300})
	fields := "&fields=" + url.QueryEscape(projectedFields)
	page := "/api/invoices?limit=50"
	inv := st.list(page + fields)[0]
	sup := int64(inv["supplier"].(map[string]any)["id"].(float64))
	user := int64(inv["created-by"].(map[string]any)["id"].(float64))
	acct := int64(inv["invoice-lines"].([]any)[0].(map[string]any)["account"].(map[string]any)["id"].(float64))
	for _, m := range []Mutation{
		{Resource: "suppliers", ID: sup, Set: map[string]any{"name": "Changed Supplier"}},
		{Resource: "users", ID: user, Set: map[string]any{"login": "changed.login"}},
		{Resource: "accounts", ID: acct, Set: map[string]any{"code": "CC-CHANGED"}},
	} {
		if _, err := st.s.Mutate(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{page + fields, page} {
		got := st.list(path)[0]
		if got["id"] != inv["id"] {
			t.Fatalf("%s: first invoice %v, want %v", path, got["id"], inv["id"])
		}
		line := got["invoice-lines"].([]any)[0].(map[string]any)
		if n := got["supplier"].(map[string]any)["name"]; n != "Changed Supplier" {
			t.Errorf("%s: supplier name %v after the supplier was renamed", path, n)
		}
		if l := got["created-by"].(map[string]any)["login"]; l != "changed.login" {
			t.Errorf("%s: created-by login %v after the user changed", path, l)
		}
		if c := line["account"].(map[string]any)["code"]; c != "CC-CHANGED" {
			t.Errorf("%s: line account code %v after the account changed", path, c)
		}
	}
}

// TestSmallDecimalTables: amounts taken from the prebuilt tables are the ones formatting makes, at and
// around the tables' ends.
func TestSmallDecimalTables(t *testing.T) {
	for c := int64(-3); c <= 10003; c++ {
		if got, want := moneyValue(c), money(c); got != any(want) {
			t.Fatalf("moneyValue(%d) = %#v, want %#v", c, got, want)
		}
	}
	for q := int64(-3); q <= 103; q++ {
		if got, want := tenthsValue(q), dec(fixed(q, 1)); got != any(want) {
			t.Fatalf("tenthsValue(%d) = %#v, want %#v", q, got, want)
		}
	}
	for i, r := range taxRates {
		if want := dec(fixed(int64(i)*5, 0) + ".0"); r != any(want) {
			t.Fatalf("taxRates[%d] = %#v, want %#v", i, r, want)
		}
	}
}

// TestMatchStateAgreesWithMatch: filters on ids and datetimes are decided on integers without boxing;
// for every operator and a spread of values (including unreadable ones) the answer and the error are
// those of the general matcher.
func TestMatchStateAgreesWithMatch(t *testing.T) {
	s, err := New(Options{Scale: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tab := s.st.tables["invoices"]
	r := &tab.recs[19]
	at := func(sec int64) string { return time.Unix(sec, 0).In(s.opts.Location).Format(time.RFC3339) }
	values := map[string][]string{
		"id":         {"19", "20", "21", "-1", " 20 ", "abc", "20,21", "2.5"},
		"created_at": {at(r.created - 1), at(r.created), at(r.created + 1), "2020-01-01", "not a time", "", at(r.created) + "," + at(r.created+5)},
		"updated_at": {at(r.updated - 1), at(r.updated), at(r.updated + 1), "2100-01-01T00:00:00Z", "yesterday"},
	}
	ops := []string{"", "not_eq", "gt", "lt", "gt_or_eq", "lt_or_eq", "in", "not_in", "blank", "contains"}
	checked := 0
	for attr, vals := range values {
		for _, op := range ops {
			for _, v := range vals {
				mk := func() *filter { return &filter{key: attr, path: []string{attr}, op: op, raw: v} }
				gotOK, gotErr := mk().matchState(tab, 20, r, s.st.loc)
				sv, _ := stateValue(tab, 20, r, attr)
				wantOK, wantErr := mk().match(sv, s.st.loc)
				if gotOK != wantOK || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
					t.Fatalf("%s[%s]=%q: matchState %v, %v; match %v, %v", attr, op, v, gotOK, gotErr, wantOK, wantErr)
				}
				if strings.Contains(fmt.Sprint(wantErr), "expected") || wantOK {
					checked++
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d cases matched or failed to parse; the comparison is too weak", checked)
	}
}

// TestScratchTextIsStable: strings made in a scratch's text buffer keep their value while thousands
// more are made after them, across buffer changes, and equal what formatting on its own makes.
func TestScratchTextIsStable(t *testing.T) {
	sc := &scratch{}
	var decs, nums []any
	for i := int64(0); i < 5000; i++ {
		decs = append(decs, sc.decimal(i*7919-10_000, 4))
		nums = append(nums, sc.padded("INV-", i*13, 7))
		if i%100 == 0 {
			sc.reset() // a page boundary must not matter to the text
		}
	}
	for i := int64(0); i < 5000; i++ {
		if want := dec(fixed(i*7919-10_000, 4)); decs[i] != any(want) {
			t.Fatalf("decimal %d = %#v, want %#v", i, decs[i], want)
		}
		if want := padWith("INV-", i*13, 7); nums[i] != any(want) {
			t.Fatalf("padded %d = %#v, want %#v", i, nums[i], want)
		}
		if m, want := sc.money(i*97), money(i*97); m != any(want) {
			t.Fatalf("money(%d) = %#v, want %#v", i*97, m, want)
		}
	}
}
