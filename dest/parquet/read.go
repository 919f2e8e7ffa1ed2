package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// record is one stored row with its operation and version.
type record struct {
	row     map[string]any
	op      string
	version int64
}

// ReadRows returns the current rows of table (catalog name, parent or child): for a parent the latest upsert
// of each id, with _deleted_at from a later delete; for a child the rows written with their parent's latest
// upsert. It is the Go twin of the DuckDB query in the package comment.
func (d *Dir) ReadRows(_ context.Context, table string) ([]map[string]any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.flushLocked(); err != nil {
		return nil, err
	}
	var parent, child *tablePlan
	if p := d.plans[table]; p != nil {
		parent = p
	} else {
		for _, p := range d.plans {
			if c := p.child(table); c != nil {
				parent, child = p, c
			}
		}
	}
	if parent == nil {
		return nil, fmt.Errorf("parquet: table %s was not prepared", table)
	}
	precs, pcols, err := d.readTable(parent)
	if err != nil {
		return nil, err
	}
	latest := map[int64]record{}  // id -> latest upsert
	deleted := map[int64]record{} // id -> latest delete
	for _, r := range precs {
		id, _ := r.row["id"].(int64)
		m := latest
		if r.op == opDelete {
			m = deleted
		}
		if old, ok := m[id]; !ok || r.version > old.version {
			m[id] = r
		}
	}
	var out []map[string]any
	if child == nil {
		for id, r := range latest {
			row := fill(r.row, pcols)
			row[catalog.ColDeletedAt] = nil
			if del, ok := deleted[id]; ok && del.version > r.version {
				row[catalog.ColDeletedAt] = del.row[catalog.ColDeletedAt]
			}
			out = append(out, row)
		}
		sortRows(out, parent.key)
		return out, nil
	}
	crecs, ccols, err := d.readTable(child)
	if err != nil {
		return nil, err
	}
	for _, r := range crecs {
		pid, _ := r.row[child.parentKey].(int64)
		if p, ok := latest[pid]; ok && p.version == r.version {
			out = append(out, fill(r.row, ccols))
		}
	}
	sortRows(out, child.key)
	return out, nil
}

// fill gives a row every column of the table (old parts lack columns added later) and drops the
// bookkeeping ones.
func fill(r map[string]any, cols map[string]bool) map[string]any {
	out := map[string]any{}
	for c := range cols {
		out[c] = r[c]
	}
	delete(out, colOp)
	delete(out, colVersion)
	return out
}

func sortRows(rows []map[string]any, key []string) {
	sort.Slice(rows, func(i, j int) bool {
		for _, k := range key {
			a, b := rows[i][k], rows[j][k]
			if a == b {
				continue
			}
			ai, aok := a.(int64)
			bi, bok := b.(int64)
			if aok && bok {
				return ai < bi
			}
			return fmt.Sprint(a) < fmt.Sprint(b)
		}
		return false
	})
}

// readTable reads every committed part of a table; cols is the union of their columns and the plan's.
func (d *Dir) readTable(p *tablePlan) ([]record, map[string]bool, error) {
	cols := map[string]bool{catalog.ColSyncedAt: true}
	for _, c := range p.cols {
		cols[c.Name] = true
	}
	files, err := filepath.Glob(filepath.Join(d.root, p.name, "run=*", "part-*.parquet"))
	if err != nil {
		return nil, nil, err
	}
	var out []record
	for _, path := range files {
		recs, fcols, err := readFile(path)
		if err != nil {
			return nil, nil, err
		}
		for c := range fcols {
			cols[c] = true
		}
		out = append(out, recs...)
	}
	return out, cols, nil
}

func readFile(path string) ([]record, map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("parquet: open %s: %v", path, unwrapPath(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("parquet: stat %s: %v", path, unwrapPath(err))
	}
	pf, err := pq.OpenFile(f, info.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("parquet: read %s: %v", path, err)
	}
	schema := pf.Schema()
	paths := schema.Columns()
	names := make([]string, len(paths))
	isTime := make([]bool, len(paths))
	cols := map[string]bool{}
	for i, cp := range paths {
		names[i] = cp[0]
		cols[cp[0]] = true
		if lc, ok := schema.Lookup(cp...); ok {
			if lt := lc.Node.Type().LogicalType(); lt != nil {
				_, isTime[i] = lt.Value.(*format.TimestampType)
			}
		}
	}
	r := pq.NewReader(pf)
	defer r.Close()
	var out []record
	buf := make([]pq.Row, 256)
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			rec := record{row: map[string]any{}}
			for _, v := range row {
				c := v.Column()
				name := names[c]
				var val any
				switch {
				case v.IsNull():
				case v.Kind() == pq.Boolean:
					val = v.Boolean()
				case v.Kind() == pq.Int64 && isTime[c]:
					val = time.UnixMicro(v.Int64()).UTC()
				case v.Kind() == pq.Int64:
					val = v.Int64()
				default:
					val = string(v.ByteArray())
				}
				switch name {
				case colOp:
					rec.op, _ = val.(string)
				case colVersion:
					rec.version, _ = val.(int64)
				}
				rec.row[name] = val
			}
			out = append(out, rec)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("parquet: read %s: %v", path, err)
		}
	}
	return out, cols, nil
}
