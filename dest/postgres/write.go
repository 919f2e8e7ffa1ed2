package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// WritePage upserts the page's parents, replaces their children and saves p.State in one transaction.
func (d *DB) WritePage(ctx context.Context, p *dest.Page) (dest.WriteStats, error) {
	var st dest.WriteStats
	plan := d.plan(p.Table)
	synced := p.SyncedAt.UTC()
	if p.SyncedAt.IsZero() {
		synced = time.Now().UTC()
	}

	// Last row of an id wins: ON CONFLICT refuses to touch one row twice in a statement.
	parents, ids, err := parentRows(plan, p.Rows, synced)
	if err != nil {
		return st, err
	}

	parentSet := make(map[int64]bool, len(ids))
	for _, id := range ids {
		parentSet[id] = true
	}
	for name := range p.Children {
		if plan.child(name) == nil {
			return st, fmt.Errorf("postgres: page of %s has rows for %s, which is not one of its child tables", plan.name, name)
		}
	}
	childVals := make([][][]any, len(plan.children))
	for i, cp := range plan.children {
		if childVals[i], err = childRows(cp, p.Children[cp.source], parentSet, synced); err != nil {
			return st, err
		}
	}
	// Everything is validated before anything is sent: a bad page costs no round trip. The batch is one
	// pipelined round trip and runs as one implicit transaction: any failure rolls back all of it.
	b := &pgx.Batch{}
	if len(parents) > 0 {
		b.Queue(plan.upsert, columns(parents, plan.cols)...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var inserted bool
				if err := rows.Scan(&inserted); err != nil {
					return err
				}
				if inserted {
					st.Inserted++
				}
			}
			return rows.Err()
		})
	}
	for i, cp := range plan.children {
		if len(ids) > 0 {
			b.Queue(cp.delete, ids)
		}
		if rows := childVals[i]; len(rows) > 0 {
			b.Queue(cp.upsert, columns(rows, cp.cols)...)
			st.Children += len(rows)
		}
	}
	if p.State != nil {
		q, args, err := d.stateUpsert(p.State)
		if err != nil {
			return dest.WriteStats{}, err
		}
		b.Queue(q, args...)
	}
	if b.Len() == 0 {
		return st, ctx.Err()
	}
	if err := d.pool.SendBatch(ctx, b).Close(); err != nil {
		return dest.WriteStats{}, d.wrap("write page of "+plan.name, err)
	}
	st.Updated = len(ids) - st.Inserted
	return st, nil
}

// columns transposes rows into one typed array per column, the shape unnest takes. Typed element values
// (not []any) let pgx pick one encoder per column instead of one per value: a third of the page's CPU.
func columns(rows [][]any, cols []colDef) []any {
	out := make([]any, len(cols))
	for c, def := range cols {
		switch def.typ {
		case catalog.Int:
			a := make(pgtype.FlatArray[pgtype.Int8], len(rows))
			for r, row := range rows {
				if v, ok := row[c].(int64); ok {
					a[r] = pgtype.Int8{Int64: v, Valid: true}
				}
			}
			out[c] = a
		case catalog.Bool:
			a := make(pgtype.FlatArray[pgtype.Bool], len(rows))
			for r, row := range rows {
				if v, ok := row[c].(bool); ok {
					a[r] = pgtype.Bool{Bool: v, Valid: true}
				}
			}
			out[c] = a
		case catalog.Timestamp:
			a := make(pgtype.FlatArray[pgtype.Timestamptz], len(rows))
			for r, row := range rows {
				if v, ok := row[c].(time.Time); ok {
					a[r] = pgtype.Timestamptz{Time: v, Valid: true}
				}
			}
			out[c] = a
		default:
			a := make(pgtype.FlatArray[pgtype.Text], len(rows))
			for r, row := range rows {
				if v, ok := row[c].(string); ok {
					a[r] = pgtype.Text{String: v, Valid: true}
				}
			}
			out[c] = a
		}
	}
	return out
}

func (p *tablePlan) child(source string) *tablePlan {
	for _, c := range p.children {
		if c.source == source {
			return c
		}
	}
	return nil
}

func colNames(cols []colDef) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}

func parentRows(plan *tablePlan, rows []catalog.Row, synced time.Time) ([][]any, []int64, error) {
	at := map[int64]int{}
	var out [][]any
	var ids []int64
	for n, r := range rows {
		id, ok := r["id"].(int64)
		if !ok {
			if i, isInt := r["id"].(int); isInt {
				id, ok = int64(i), true
			}
		}
		if !ok {
			return nil, nil, fmt.Errorf("postgres: %s row %d has no int64 id (got %T): the page is malformed", plan.name, n, r["id"])
		}
		vals, err := values(plan, r, synced)
		if err != nil {
			return nil, nil, fmt.Errorf("postgres: %s id %d: %w", plan.name, id, err)
		}
		if i, dup := at[id]; dup {
			out[i] = vals
			continue
		}
		at[id] = len(out)
		out = append(out, vals)
		ids = append(ids, id)
	}
	return out, ids, nil
}

// childRows checks that every child row belongs to a parent of the page and has its key, and encodes it.
func childRows(plan *tablePlan, rows []catalog.Row, parents map[int64]bool, synced time.Time) ([][]any, error) {
	keyIdx := []int{}
	for _, k := range plan.key {
		for i, c := range plan.cols {
			if c.name == k {
				keyIdx = append(keyIdx, i)
			}
		}
	}
	at := make(map[string]int, len(rows))
	out := make([][]any, 0, len(rows))
	var kb []byte
	for n, r := range rows {
		vals, err := values(plan, r, synced)
		if err != nil {
			return nil, fmt.Errorf("postgres: %s row %d: %w", plan.name, n, err)
		}
		if pid, _ := vals[0].(int64); !parents[pid] {
			return nil, fmt.Errorf("postgres: %s row %d: %s %v is not a parent in this page", plan.name, n, plan.parentKey, vals[0])
		}
		kb = kb[:0]
		for _, i := range keyIdx {
			if vals[i] == nil {
				return nil, fmt.Errorf("postgres: %s row %d: key column %s is missing", plan.name, n, plan.cols[i].name)
			}
			kb = appendKey(kb, vals[i])
		}
		if len(keyIdx) > 0 {
			// The same key twice in one statement would make ON CONFLICT fail: the last one wins.
			if i, dup := at[string(kb)]; dup {
				out[i] = vals
				continue
			}
			at[string(kb)] = len(out)
		}
		out = append(out, vals)
	}
	return out, nil
}

// appendKey adds one key value and a separator to b. Keys are nearly always integers, which fmt would
// format through reflection once per child row.
func appendKey(b []byte, v any) []byte {
	switch x := v.(type) {
	case int64:
		b = strconv.AppendInt(b, x, 10)
	case string:
		b = append(b, x...)
	default:
		b = fmt.Appendf(b, "%v", x)
	}
	return append(b, 0)
}

// values encodes r in the plan's column order, refusing a column the plan does not know (nothing may be
// silently dropped) and any value of the wrong Go type.
func values(plan *tablePlan, r catalog.Row, synced time.Time) ([]any, error) {
	known := 0
	vals := make([]any, len(plan.cols))
	for i, c := range plan.cols {
		if c.name == catalog.ColSyncedAt {
			vals[i] = synced
			continue
		}
		v, ok := r[c.name]
		if !ok {
			continue
		}
		known++
		v, err := dest.Normalize(c.typ, v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %v", c.name, err)
		}
		vals[i] = v
	}
	if known != len(r) {
		for k := range r {
			if !plan.has(k) || k == catalog.ColSyncedAt {
				return nil, fmt.Errorf("column %s is not in the catalog for %s: the page is malformed", k, plan.name)
			}
		}
	}
	return vals, nil
}

func (p *tablePlan) has(name string) bool {
	for _, c := range p.cols {
		if c.name == name {
			return true
		}
	}
	return false
}

// LiveIDs lists the ids of table's rows not marked deleted, ascending.
func (d *DB) LiveIDs(ctx context.Context, table string) ([]int64, error) {
	rows, err := d.pool.Query(ctx, fmt.Sprintf("SELECT id FROM %s WHERE %s IS NULL ORDER BY id", d.ident(d.prefix+table), quote(catalog.ColDeletedAt)))
	if err != nil {
		return nil, d.wrap("list ids of "+d.prefix+table, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, d.wrap("list ids of "+d.prefix+table, err)
	}
	return ids, nil
}

// MaxID is the highest id of table, deleted rows included (0 when empty): dest.MaxIDer.
func (d *DB) MaxID(ctx context.Context, table string) (int64, error) {
	var id *int64
	if err := d.pool.QueryRow(ctx, fmt.Sprintf("SELECT max(id) FROM %s", d.ident(d.prefix+table))).Scan(&id); err != nil {
		return 0, d.wrap("read the highest id of "+d.prefix+table, err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// MarkDeleted sets _deleted_at on those ids in one statement.
func (d *DB) MarkDeleted(ctx context.Context, table string, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := d.pool.Exec(ctx, fmt.Sprintf("UPDATE %s SET %s = $2 WHERE id = ANY($1)", d.ident(d.prefix+table), quote(catalog.ColDeletedAt)), ids, at.UTC())
	if err != nil {
		return d.wrap("mark deleted in "+d.prefix+table, err)
	}
	return nil
}
