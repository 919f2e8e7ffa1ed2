package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
)

// ReadRows returns every row of a prepared table, ordered by its key, with catalog Go types.
func (d *DB) ReadRows(ctx context.Context, name string) ([]map[string]any, error) {
	d.mu.Lock()
	t, err := d.lookup(name)
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	cols := t.allCols()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quote(c.name)
	}
	keys := make([]string, len(t.key))
	for i, k := range t.key {
		keys[i] = quote(k)
	}
	q := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", strings.Join(names, ", "), t.phys, strings.Join(keys, ", "))
	rows, err := d.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot read %s: %v", name, err)
	}
	defer rows.Close()
	var out []map[string]any
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("sqlite: cannot read %s: %v", name, err)
		}
		r := make(map[string]any, len(cols))
		for i, c := range cols {
			v, err := fromSQL(c.typ, vals[i])
			if err != nil {
				return nil, fmt.Errorf("sqlite: %s column %s: %v", name, c.name, err)
			}
			r[c.name] = v
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// fromSQL turns a stored value back into the catalog Go type of its column.
func fromSQL(t catalog.Type, v any) (any, error) {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	if v == nil {
		return nil, nil
	}
	switch t {
	case catalog.Int:
		if n, ok := v.(int64); ok {
			return n, nil
		}
	case catalog.Bool:
		if n, ok := v.(int64); ok {
			return n != 0, nil
		}
	case catalog.Timestamp:
		if s, ok := v.(string); ok {
			ts, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, fmt.Errorf("stored timestamp %q is not ISO-8601", s)
			}
			return ts.UTC(), nil
		}
	default:
		if s, ok := v.(string); ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("stored value %v (%T) is not a %s", v, v, dest.TypeName(t))
}

// Runs lists the recorded runs, oldest first.
func (d *DB) Runs(ctx context.Context) ([]*dest.Run, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT "id", "started", "finished", "status", "tables", "summary", "error"
		FROM "_coupa_runs" ORDER BY "id"`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot read %s: %v", runsTable, err)
	}
	defer rows.Close()
	var out []*dest.Run
	for rows.Next() {
		r := &dest.Run{}
		var started string
		var finished, tables, summary, errText sql.NullString
		if err := rows.Scan(&r.ID, &started, &finished, &r.Status, &tables, &summary, &errText); err != nil {
			return nil, fmt.Errorf("sqlite: cannot read %s: %v", runsTable, err)
		}
		if r.Started, err = dest.ParseTime(started); err != nil {
			return nil, fmt.Errorf("sqlite: run %d: %v", r.ID, err)
		}
		if r.Finished, err = dest.ParseTime(finished.String); err != nil {
			return nil, fmt.Errorf("sqlite: run %d: %v", r.ID, err)
		}
		if tables.String != "" {
			if err := json.Unmarshal([]byte(tables.String), &r.Tables); err != nil {
				return nil, fmt.Errorf("sqlite: run %d: tables are not a JSON list", r.ID)
			}
		}
		r.Summary, r.Error = summary.String, errText.String
		out = append(out, r)
	}
	return out, rows.Err()
}
