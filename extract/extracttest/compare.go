// Package extracttest checks a warehouse against a simulator's ground truth, for the end-to-end tests of
// the sync engine and the CLI: every live record, every catalog column, every child row.
package extracttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// Snapshot fetches GET <simURL>/__sim/snapshot/<resource>: every live record as the API renders it.
func Snapshot(ctx context.Context, simURL, resource string) ([]map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", simURL+"/__sim/snapshot/"+resource, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("snapshot of %s: HTTP %d: %s", resource, resp.StatusCode, bytes.TrimSpace(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var recs []map[string]any
	if err := dec.Decode(&recs); err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", resource, err)
	}
	return recs, nil
}

// Diff compares the warehouse's live rows of t (and its children) with the simulator's records and
// returns every difference found (nil when equal), at most max of them.
func Diff(ctx context.Context, simURL string, r dest.Reader, t *catalog.Table, max int) ([]string, error) {
	truth, err := Snapshot(ctx, simURL, t.Resource)
	if err != nil {
		return nil, err
	}
	rows, err := r.ReadRows(ctx, t.Name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", t.Name, err)
	}
	var diffs []string
	add := func(format string, args ...any) bool {
		diffs = append(diffs, fmt.Sprintf(format, args...))
		return len(diffs) < max
	}
	live := map[int64]map[string]any{}
	for _, row := range rows {
		id, _ := row["id"].(int64)
		if _, dup := live[id]; dup {
			if !add("%s: id %d appears twice", t.Name, id) {
				return diffs, nil
			}
		}
		if row[catalog.ColDeletedAt] == nil {
			live[id] = row
		}
	}
	want := map[int64]map[string]any{}
	for _, rec := range truth {
		id, err := toInt(rec["id"])
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s: record without id", t.Resource)
		}
		want[id] = rec
	}
	for _, id := range sortedKeys(want) {
		rec := want[id]
		row, ok := live[id]
		if !ok {
			if !add("%s: id %d is in Coupa but not live in the warehouse", t.Name, id) {
				return diffs, nil
			}
			continue
		}
		for _, c := range t.Columns {
			if msg := compare(c.Type, at(rec, c.Path), row[c.Name]); msg != "" {
				if !add("%s id %d column %s: %s", t.Name, id, c.Name, msg) {
					return diffs, nil
				}
			}
		}
	}
	for _, id := range sortedKeys(live) {
		if _, ok := want[id]; !ok {
			if !add("%s: id %d is live in the warehouse but gone from Coupa", t.Name, id) {
				return diffs, nil
			}
		}
	}
	for _, ch := range t.Children {
		cd, err := diffChild(ctx, r, t, ch, want, live, max-len(diffs))
		if err != nil {
			return nil, err
		}
		diffs = append(diffs, cd...)
		if len(diffs) >= max {
			return diffs, nil
		}
	}
	return diffs, nil
}

func diffChild(ctx context.Context, r dest.Reader, t *catalog.Table, ch catalog.Child, want map[int64]map[string]any,
	live map[int64]map[string]any, max int) ([]string, error) {
	rows, err := r.ReadRows(ctx, ch.Name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ch.Name, err)
	}
	keyOf := func(get func(col string) string) string {
		var parts []string
		for _, k := range ch.Key {
			parts = append(parts, get(k))
		}
		return strings.Join(parts, "/")
	}
	have := map[string]map[string]any{}
	var diffs []string
	for _, row := range rows {
		pid, _ := row[ch.ParentKey].(int64)
		if _, ok := live[pid]; !ok {
			continue // children of deleted parents are kept as they were
		}
		k := keyOf(func(col string) string { return cellKey(row[col]) })
		if _, dup := have[k]; dup {
			diffs = append(diffs, fmt.Sprintf("%s: key %s appears twice", ch.Name, k))
		}
		have[k] = row
	}
	seen := map[string]bool{}
	for _, pid := range sortedKeys(want) {
		rec := want[pid]
		var items []map[string]any
		if ch.Explode != nil {
			items = ch.Explode(rec)
		} else if arr, ok := rec[ch.Path].([]any); ok {
			for _, it := range arr {
				if m, ok := it.(map[string]any); ok {
					items = append(items, m)
				}
			}
		}
		for _, it := range items {
			k := keyOf(func(col string) string {
				if col == ch.ParentKey {
					return strconv.FormatInt(pid, 10)
				}
				for _, c := range ch.Columns {
					if c.Name == col {
						return cellKey(normal(c.Type, at(it, c.Path)))
					}
				}
				return "?"
			})
			seen[k] = true
			row, ok := have[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s: row %s of parent %d missing", ch.Name, k, pid))
			} else {
				for _, c := range ch.Columns {
					if msg := compare(c.Type, at(it, c.Path), row[c.Name]); msg != "" {
						diffs = append(diffs, fmt.Sprintf("%s row %s column %s: %s", ch.Name, k, c.Name, msg))
					}
				}
			}
			if len(diffs) >= max {
				return diffs, nil
			}
		}
	}
	for k := range have {
		if !seen[k] {
			diffs = append(diffs, fmt.Sprintf("%s: row %s is in the warehouse but not in Coupa", ch.Name, k))
			if len(diffs) >= max {
				break
			}
		}
	}
	return diffs, nil
}

func sortedKeys[V any](m map[int64]V) []int64 {
	ks := make([]int64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// at follows a dotted path of dashed keys through nested objects; a record of another shape has nothing there.
func at(rec map[string]any, path string) any {
	v, notObject := coupa.Record(rec).Path(path)
	if notObject != "" {
		return nil
	}
	return v
}

// compare checks a warehouse value against the API value of a column of type typ; "" when equal.
func compare(typ catalog.Type, api, got any) string {
	want := normal(typ, api)
	if typ == catalog.Decimal {
		// Money must be the exact string Coupa sent, not a float's rendering of it.
		if w, ok := want.(string); ok {
			g, isStr := got.(string)
			if !isStr || !decimalEqual(w, g) {
				return fmt.Sprintf("got %#v, want %q", got, w)
			}
			return ""
		}
	}
	if typ == catalog.JSON {
		if want == nil && (got == nil || got == "{}" || got == "null") {
			return ""
		}
		var a, b any
		ws, _ := want.(string)
		gs, _ := got.(string)
		if json.Unmarshal([]byte(ws), &a) != nil || json.Unmarshal([]byte(gs), &b) != nil || !reflect.DeepEqual(a, b) {
			return fmt.Sprintf("got %v, want %v", got, want)
		}
		return ""
	}
	if typ == catalog.Timestamp {
		wt, wok := want.(time.Time)
		gt, gok := got.(time.Time)
		if wok != gok || (wok && !wt.Equal(gt)) || (!wok && got != nil) {
			return fmt.Sprintf("got %v, want %v", got, want)
		}
		return ""
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Sprintf("got %#v, want %#v", got, want)
	}
	return ""
}

// decimalEqual is exact string equality: "10.50" read back as "10.5" means a float crept in.
func decimalEqual(want, got string) bool { return want == got }

// normal converts an API value to the Go value a warehouse holds for typ.
func normal(typ catalog.Type, v any) any {
	if v == nil {
		return nil
	}
	switch typ {
	case catalog.Int:
		n, err := toInt(v)
		if err != nil {
			return fmt.Sprintf("bad int %v", v)
		}
		return n
	case catalog.Decimal:
		switch x := v.(type) {
		case string:
			return x
		case json.Number:
			return x.String()
		}
		return fmt.Sprint(v)
	case catalog.Bool:
		switch x := v.(type) {
		case bool:
			return x
		case string:
			b, err := strconv.ParseBool(x)
			if err == nil {
				return b
			}
		}
		return fmt.Sprintf("bad bool %v", v)
	case catalog.Timestamp:
		s, _ := v.(string)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05-07:00Z", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC()
			}
		}
		return fmt.Sprintf("bad time %v", v)
	case catalog.JSON:
		b, _ := json.Marshal(v)
		return string(b)
	case catalog.String:
		switch x := v.(type) {
		case string:
			return x
		case json.Number:
			return x.String()
		}
		return fmt.Sprint(v)
	}
	return v
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Int64()
	case string:
		return strconv.ParseInt(x, 10, 64)
	case float64:
		return int64(x), nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	}
	return 0, fmt.Errorf("not an integer: %v", v)
}

func cellKey(v any) string {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}
