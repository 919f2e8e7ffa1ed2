package catalog

import (
	"fmt"
	"sort"
	"strings"
)

// All returns every table of the catalog in a stable order (transactions, then reference data).
// The tables are shared: callers must not modify them.
func All() []*Table {
	out := make([]*Table, len(all))
	copy(out, all)
	return out
}

// Names returns the names of All, in the same order.
func Names() []string {
	out := make([]string, len(all))
	for i, t := range all {
		out[i] = t.Name
	}
	return out
}

// Lookup finds a parent table by its warehouse name.
func Lookup(name string) (*Table, bool) {
	for _, t := range all {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}

// Select resolves names (as given to --tables) to tables, in catalog order and without duplicates.
// No names selects every table. A child table name is refused with a pointer to its parent, because
// children are only ever written together with their parent.
func Select(names []string) ([]*Table, error) {
	if len(names) == 0 {
		return All(), nil
	}
	want := make(map[string]bool, len(names))
	for _, raw := range names {
		n := strings.TrimSpace(raw)
		if _, ok := Lookup(n); ok {
			want[n] = true
			continue
		}
		if p := parentOf(n); p != nil {
			return nil, fmt.Errorf("table %q is a child of %s and is synced with it: select %s", n, p.Name, p.Name)
		}
		return nil, fmt.Errorf("unknown table %q: valid tables are %s", n, strings.Join(Names(), ", "))
	}
	var out []*Table
	for _, t := range all {
		if want[t.Name] {
			out = append(out, t)
		}
	}
	return out, nil
}

func parentOf(child string) *Table {
	for _, t := range all {
		for _, ch := range t.Children {
			if ch.Name == child {
				return t
			}
		}
	}
	return nil
}

// ScopesFor returns the OAuth scopes needed to read the table, plus its write scope when write is set and
// the table is writable.
func (t *Table) ScopesFor(write bool) []string {
	if write && t.WriteScope != "" {
		return []string{t.Scope, t.WriteScope}
	}
	return []string{t.Scope}
}

// Scopes returns the distinct read scopes tables need, sorted, for the token request.
func Scopes(tables []*Table) []string { return scopes(tables, false) }

// WriteScopes is Scopes plus the write scope of every writable table among tables.
func WriteScopes(tables []*Table) []string { return scopes(tables, true) }

func scopes(tables []*Table, write bool) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range tables {
		for _, s := range t.ScopesFor(write) {
			if s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}
