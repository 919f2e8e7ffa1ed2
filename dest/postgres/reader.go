package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/coupa-connector/coupa-connector/dest"
)

var _ dest.Reader = (*DB)(nil)

// ReadRows returns every row of table (catalog name, parent or child) with every column the physical table
// has, ordered by its key. Numeric and JSON come back as their exact text.
func (d *DB) ReadRows(ctx context.Context, table string) ([]map[string]any, error) {
	name := d.prefix + table
	var key []string
	if v, ok := d.sources.Load(table); ok {
		key = v.(*tablePlan).key
	} else {
		d.sources.Range(func(_, v any) bool {
			if c := v.(*tablePlan).child(table); c != nil {
				key = c.key
				return false
			}
			return true
		})
	}
	if len(key) == 0 {
		key = []string{"id"}
	}
	rows, err := d.pool.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, d.schema, name)
	if err != nil {
		return nil, d.wrap("read columns of "+name, err)
	}
	var cols, types, exprs []string
	for rows.Next() {
		var c, typ string
		if err := rows.Scan(&c, &typ); err != nil {
			return nil, d.wrap("read columns of "+name, err)
		}
		e := quote(c)
		if typ == "numeric" || typ == "json" || typ == "jsonb" {
			e += "::text"
		}
		cols, types, exprs = append(cols, c), append(types, typ), append(exprs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, d.wrap("read columns of "+name, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("postgres: table %s.%s does not exist: prepare it first", d.schema, name)
	}
	var order []string
	for _, k := range key {
		order = append(order, quote(k))
	}
	rows, err = d.pool.Query(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", strings.Join(exprs, ", "), d.ident(name), strings.Join(order, ", ")))
	if err != nil {
		return nil, d.wrap("read "+name, err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, d.wrap("read "+name, err)
		}
		r := map[string]any{}
		for i, v := range vals {
			if t, ok := v.(time.Time); ok {
				v = t.UTC()
			}
			r[cols[i]] = v
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, d.wrap("read "+name, err)
	}
	return out, nil
}

// Runs lists the recorded runs, oldest first.
func (d *DB) Runs(ctx context.Context) ([]*dest.Run, error) {
	rows, err := d.pool.Query(ctx, fmt.Sprintf(`SELECT "id", "started", "finished", coalesce("status", ''), coalesce("tables"::text, '[]'),
		coalesce("summary", ''), coalesce("error", '') FROM %s WHERE "prefix" = $1 ORDER BY "id"`, d.ident(runsTable)), d.prefix)
	if err != nil {
		return nil, d.missingState(err, "list runs")
	}
	defer rows.Close()
	var out []*dest.Run
	for rows.Next() {
		var r dest.Run
		var started, finished *time.Time
		var tables string
		if err := rows.Scan(&r.ID, &started, &finished, &r.Status, &tables, &r.Summary, &r.Error); err != nil {
			return nil, d.wrap("list runs", err)
		}
		if started != nil {
			r.Started = started.UTC()
		}
		if finished != nil {
			r.Finished = finished.UTC()
		}
		if err := json.Unmarshal([]byte(tables), &r.Tables); err != nil {
			return nil, fmt.Errorf("postgres: run %d has unreadable tables: %v", r.ID, err)
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, d.wrap("list runs", err)
	}
	return out, nil
}
