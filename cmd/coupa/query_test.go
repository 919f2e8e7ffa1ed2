package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// apiRequests counts what the simulator served outside its admin API: every request the binary sent.
func apiRequests(s *sim.Server) int64 {
	var n int64
	for endpoint, byStatus := range s.Stats().Requests {
		if endpoint == "__sim" {
			continue
		}
		for _, c := range byStatus {
			n += c
		}
	}
	return n
}

func snapshot(t *testing.T, s *sim.Server, resource string) []map[string]any {
	t.Helper()
	snap, err := s.Snapshot(resource)
	if err != nil {
		t.Fatalf("Snapshot(%s): %v", resource, err)
	}
	return snap
}

// at reads a dotted path from a snapshot record as text ("" for null or absent).
func at(rec map[string]any, path string) string {
	var v any = rec
	for _, seg := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[seg]
	}
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return fmt.Sprint(v)
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return f
}

func idsWhere(snap []map[string]any, keep func(map[string]any) bool) []string {
	var ids []string
	for _, r := range snap {
		if keep(r) {
			ids = append(ids, at(r, "id"))
		}
	}
	sort.Strings(ids)
	return ids
}

// jsonlIDs reads the ids of the records a query printed as JSON Lines.
func jsonlIDs(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		ids = append(ids, at(rec, "id"))
	}
	sort.Strings(ids)
	return ids
}

func TestQueryEveryOperatorReturnsTheRightRows(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 7})
	env := simtest.Env(s, ts)
	snap := snapshot(t, s, "invoices")
	pivot := snap[len(snap)/2]
	total := at(pivot, "total-with-taxes")
	tv := num(t, total)
	updated := at(pivot, "updated-at")
	ut, err := time.Parse(time.RFC3339, updated)
	if err != nil {
		t.Fatal(err)
	}
	supplier := at(pivot, "supplier.name")
	word := strings.Fields(supplier)[0]
	number := at(pivot, "invoice-number")
	prefix, suffix := number[:len(number)-2], number[len(number)-1:]

	cases := []struct {
		where []string
		keep  func(map[string]any) bool
	}{
		{[]string{"status=approved"}, func(r map[string]any) bool { return at(r, "status") == "approved" }},
		{[]string{"status != approved"}, func(r map[string]any) bool { return at(r, "status") != "approved" }},
		{[]string{"total-with-taxes>" + total}, func(r map[string]any) bool { return num(t, at(r, "total-with-taxes")) > tv }},
		{[]string{"total-with-taxes>=" + total}, func(r map[string]any) bool { return num(t, at(r, "total-with-taxes")) >= tv }},
		{[]string{"total-with-taxes<" + total}, func(r map[string]any) bool { return num(t, at(r, "total-with-taxes")) < tv }},
		{[]string{"total_with_taxes <= " + total}, func(r map[string]any) bool { return num(t, at(r, "total-with-taxes")) <= tv }},
		{[]string{"supplier.name~" + word}, func(r map[string]any) bool { return strings.Contains(at(r, "supplier.name"), word) }},
		{[]string{"invoice-number^=" + prefix}, func(r map[string]any) bool { return strings.HasPrefix(at(r, "invoice-number"), prefix) }},
		{[]string{"invoice-number$=" + suffix}, func(r map[string]any) bool { return strings.HasSuffix(at(r, "invoice-number"), suffix) }},
		{[]string{"status in approved,voided"}, func(r map[string]any) bool { return slices.Contains([]string{"approved", "voided"}, at(r, "status")) }},
		{[]string{"status not in approved, voided"}, func(r map[string]any) bool { return !slices.Contains([]string{"approved", "voided"}, at(r, "status")) }},
		{[]string{"last-exported-at is blank"}, func(r map[string]any) bool { return at(r, "last-exported-at") == "" }},
		{[]string{"last-exported-at is not blank"}, func(r map[string]any) bool { return at(r, "last-exported-at") != "" }},
		{[]string{"updated-at>" + updated}, func(r map[string]any) bool {
			u, _ := time.Parse(time.RFC3339, at(r, "updated-at"))
			return u.After(ut)
		}},
		{[]string{"status=approved", "supplier.name~" + word}, func(r map[string]any) bool {
			return at(r, "status") == "approved" && strings.Contains(at(r, "supplier.name"), word)
		}},
	}
	for _, c := range cases {
		want := idsWhere(snap, c.keep)
		if len(want) == 0 || len(want) == len(snap) {
			t.Errorf("%v: fixture matches %d of %d invoices, a useless check", c.where, len(want), len(snap))
		}
		args := []string{"query", "invoices", "--all", "-o", "jsonl"}
		for _, w := range c.where {
			args = append(args, "--where", w)
		}
		res := runCoupa(t, t.TempDir(), env, args...)
		if res.code != 0 {
			t.Errorf("%v: exit %d: %s", c.where, res.code, res.stderr)
			continue
		}
		if got := jsonlIDs(t, res.stdout); !slices.Equal(got, want) {
			t.Errorf("%v: got %d ids, want %d\n got  %v\n want %v", c.where, len(got), len(want), got, want)
		}
	}
}

func TestQueryOutputFormatsAndLimit(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 3})
	env := simtest.Env(s, ts)
	snap := snapshot(t, s, "invoices")
	sort.Slice(snap, func(i, j int) bool { return num(t, at(snap[i], "id")) < num(t, at(snap[j], "id")) })

	res := runCoupa(t, t.TempDir(), env, "query", "invoices", "--fields", "id,invoice_number,supplier.name,total-with-taxes", "--limit", "3", "-o", "csv")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(res.stdout)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, res.stdout)
	}
	if got := strings.Join(rows[0], ","); got != "id,invoice-number,supplier.name,total-with-taxes" {
		t.Errorf("header = %s", got)
	}
	if len(rows) != 4 {
		t.Fatalf("got %d data rows, want 3 (--limit)", len(rows)-1)
	}
	for i, row := range rows[1:] {
		r := snap[i]
		want := []string{at(r, "id"), at(r, "invoice-number"), at(r, "supplier.name"), at(r, "total-with-taxes")}
		if !slices.Equal(row, want) {
			t.Errorf("row %d = %v, want %v", i+1, row, want)
		}
	}

	res = runCoupa(t, t.TempDir(), env, "query", "suppliers", "--where", "name ^= "+at(snapshot(t, s, "suppliers")[0], "name"), "-o", "json")
	var arr []map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &arr); err != nil || res.code != 0 {
		t.Fatalf("-o json: exit %d, %v: %s", res.code, err, res.stdout)
	}
	if len(arr) == 0 || arr[0]["name"] != at(snapshot(t, s, "suppliers")[0], "name") {
		t.Errorf("-o json = %v", arr)
	}

	res = runCoupa(t, t.TempDir(), env, "query", "invoices", "--limit", "2", "-o", "table")
	lines := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
	if res.code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "INVOICE-NUMBER") ||
		!strings.Contains(lines[1], at(snap[0], "invoice-number")) {
		t.Errorf("-o table: exit %d\n%s", res.code, res.stdout)
	}
}

func TestQueryBadInputSendsNothing(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 3})
	env := simtest.Env(s, ts)
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"query", "invoices", "--where", "status approved"}, `at position 8: expected an operator`},
		{[]string{"query", "invoices", "--where", "colour=red"}, `invoices has no field "colour"`},
		{[]string{"query", "invoices", "--fields", "id,colour"}, `invoices has no field "colour"`},
		{[]string{"query", "widgets"}, `unknown object "widgets": use one of`},
		{[]string{"query", "invoices", "--param", "nonsense"}, `write it as attr=value`},
		{[]string{"query", "invoices", "-o", "xml"}, `unknown output format "xml"`},
		{[]string{"get", "invoices", "abc"}, `must be the positive number`},
	}
	for _, c := range cases {
		res := runCoupa(t, t.TempDir(), env, c.args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, c.msg) || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", c.args, res.code, res.stderr, exitUsage, c.msg)
		}
	}
	if n := apiRequests(s); n != 0 {
		t.Errorf("bad input sent %d requests, want 0", n)
	}
}

func TestQueryRawParamPassthrough(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 5})
	snap := snapshot(t, s, "invoices")
	want := idsWhere(snap, func(r map[string]any) bool { return at(r, "status") == "voided" })
	res := runCoupa(t, t.TempDir(), simtest.Env(s, ts), "query", "invoices", "--param", "status[in]=voided", "--all", "-o", "jsonl")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if got := jsonlIDs(t, res.stdout); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("--param status[in]=voided: got %v, want %v", got, want)
	}
}

func TestQueryOrderByDesc(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 8})
	snap := snapshot(t, s, "invoices")
	sort.SliceStable(snap, func(i, j int) bool {
		return num(t, at(snap[i], "total-with-taxes")) > num(t, at(snap[j], "total-with-taxes"))
	})
	res := runCoupa(t, t.TempDir(), simtest.Env(s, ts), "query", "invoices", "--order-by", "total-with-taxes", "--desc", "--limit", "60", "-o", "jsonl")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	var got []float64
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		var rec map[string]any
		json.Unmarshal([]byte(line), &rec)
		got = append(got, num(t, at(rec, "total-with-taxes")))
	}
	if len(got) != 60 {
		t.Fatalf("got %d rows, want 60 (--limit across two pages)", len(got))
	}
	for i, v := range got {
		if want := num(t, at(snap[i], "total-with-taxes")); v != want {
			t.Fatalf("row %d total = %v, want %v (descending)", i+1, v, want)
		}
	}
}

func TestQueryLimitStopsPagingEarly(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 9})
	env := simtest.Env(s, ts)
	pages := func() int64 {
		var n int64
		for _, c := range s.Stats().Requests["invoices"] {
			n += c
		}
		return n
	}
	for _, c := range []struct {
		limit string
		rows  int
		pages int64
	}{{"3", 3, 1}, {"70", 70, 2}} {
		before := pages()
		res := runCoupa(t, t.TempDir(), env, "query", "invoices", "--limit", c.limit, "-o", "jsonl")
		if got := len(jsonlIDs(t, res.stdout)); res.code != 0 || got != c.rows {
			t.Errorf("--limit %s: exit %d, %d rows", c.limit, res.code, got)
		}
		if got := pages() - before; got != c.pages {
			t.Errorf("--limit %s fetched %d pages, want %d", c.limit, got, c.pages)
		}
	}
	res := runCoupa(t, t.TempDir(), env, "query", "invoices", "--all", "-o", "jsonl")
	if got := len(jsonlIDs(t, res.stdout)); got != len(snapshot(t, s, "invoices")) {
		t.Errorf("--all returned %d of %d invoices", got, len(snapshot(t, s, "invoices")))
	}
}
