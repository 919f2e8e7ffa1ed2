package sqlite

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/catalog/rowcodec"
	"github.com/coupa-connector/coupa-connector/dest"
)

// TestRealCatalog prepares every table of the real catalog and writes through it a record as
// rowcodec.Rows builds it, so that a catalog the warehouse cannot take (a reserved or duplicate column
// name, a child without key) or rows it would refuse fail here rather than in a user's sync.
func TestRealCatalog(t *testing.T) {
	ctx := context.Background()
	d := open(t, filepath.Join(t.TempDir(), "w.db"), "")
	defer d.Close()
	tables := catalog.All()
	if len(tables) == 0 {
		t.Fatal("catalog.All() is empty")
	}
	if err := d.Prepare(ctx, tables); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range tables {
		rec := map[string]any{"id": json.Number("42"), "surprise-field": "kept in _extra"}
		if tbl.Cursor != "" {
			rec[tbl.Cursor] = "2026-01-02T03:04:05-07:00"
		}
		for _, ch := range tbl.Children {
			if ch.Path == "" {
				continue // built by Explode from parent fields
			}
			item := map[string]any{}
			for _, c := range ch.Columns {
				for _, k := range ch.Key {
					if c.Name == k {
						setPath(item, strings.Split(c.Path, "."), json.Number("7"))
					}
				}
			}
			rec[ch.Path] = []any{item}
		}
		row, kids, err := rowcodec.Rows(tbl, rec)
		if err != nil {
			t.Errorf("%s: rowcodec.Rows: %v", tbl.Name, err)
			continue
		}
		p := &dest.Page{Table: tbl, Rows: []catalog.Row{row}, Children: kids}
		if _, err := d.WritePage(ctx, p); err != nil {
			t.Errorf("%s: WritePage of a catalog-built row: %v", tbl.Name, err)
			continue
		}
		for _, ch := range tbl.Children {
			if ch.Path == "" {
				continue
			}
			kidRows, err := d.ReadRows(ctx, ch.Name)
			if err != nil || len(kidRows) != 1 || kidRows[0][ch.ParentKey] != int64(42) {
				t.Errorf("%s: read back %v, %v; want one row of parent 42", ch.Name, kidRows, err)
			}
		}
		rows, err := d.ReadRows(ctx, tbl.Name)
		if err != nil || len(rows) != 1 || rows[0]["id"] != int64(42) {
			t.Errorf("%s: read back %v, %v; want the row with id 42", tbl.Name, rows, err)
			continue
		}
		var extra map[string]any
		if s, _ := rows[0][catalog.ColExtra].(string); json.Unmarshal([]byte(s), &extra) != nil || extra["surprise-field"] != "kept in _extra" {
			t.Errorf("%s: _extra = %v, want the unknown field kept", tbl.Name, rows[0][catalog.ColExtra])
		}
	}
}

func setPath(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}
