package parquet

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	pq "github.com/parquet-go/parquet-go"
)

// colKind is how a leaf column's values are kept, chosen once per plan so that encoding a cell is one
// switch on a small integer, not a switch on the catalog type plus checks.
type colKind uint8

const (
	kindInt     colKind = iota // catalog.Int: int64
	kindTime                   // catalog.Timestamp: int64 microseconds
	kindBool                   // catalog.Bool
	kindText                   // catalog.String and JSON: any string, taken as it is
	kindDecimal                // catalog.Decimal: a string, checked by dest.ValidDecimal
	// The bookkeeping columns, whose value is the same for all the rows a page or a delete brings: they
	// are kept as runs (buffer.runs), not per row.
	kindSynced
	kindOp
	kindVersion
	kindDeleted
)

func kindOf(t catalog.Type) colKind {
	switch t {
	case catalog.Int:
		return kindInt
	case catalog.Timestamp:
		return kindTime
	case catalog.Bool:
		return kindBool
	case catalog.Decimal:
		return kindDecimal
	default:
		return kindText
	}
}

// buffer holds a part's rows column by column, the order parquet-go writes them in, as plain typed
// slices: they hold no pointers, so the garbage collector never scans them, they cost a few bytes a
// cell instead of a 24-byte pq.Value, and a refused page is taken back by cutting them to a length.
// The pq.Values parquet-go needs are made at the roll, a batch at a time, in a buffer that is reused.
type buffer struct {
	plan *tablePlan
	cols []column // per leaf column of plan.schema (the bookkeeping leaves' stay empty)
	runs []run    // the bookkeeping values, in row order
	n    int      // rows
}

// column is one leaf column's cells. Null cells take a definition level only.
type column struct {
	defs []byte  // per row: 1 a value, 0 null
	vals []int64 // per value: the int64, the microseconds, the bool as 0 or 1, or the end of the bytes in data
	// kindText, kindDecimal: the values back to back. They are copied rather than referenced so that a
	// written page, and whatever its strings point into, is garbage at once, not when the part rolls.
	data []byte
}

// run is rows consecutive rows that share their bookkeeping values.
type run struct {
	rows            int
	synced, version int64
	op              []byte
	deleted         int64 // microseconds; with hasDeleted
	hasDeleted      bool
}

func (c *column) addNull() { c.defs = append(c.defs, 0) }

func (c *column) addInt(x int64) {
	c.defs = append(c.defs, 1)
	c.vals = append(c.vals, x)
}

func (c *column) addBool(x bool) {
	var v int64
	if x {
		v = 1
	}
	c.addInt(v)
}

func (c *column) addText(s string) {
	c.data = append(c.data, s...)
	c.addInt(int64(len(c.data)))
}

// mark is how far a buffer had got, for truncate to take a refused page back.
type mark struct {
	n, runs int
	cols    []colMark
}

type colMark struct{ defs, vals, data int }

func (b *buffer) mark() mark {
	m := mark{n: b.n, runs: len(b.runs), cols: make([]colMark, len(b.cols))}
	for i := range b.cols {
		c := &b.cols[i]
		m.cols[i] = colMark{len(c.defs), len(c.vals), len(c.data)}
	}
	return m
}

func (b *buffer) truncate(m mark) {
	b.n, b.runs = m.n, b.runs[:m.runs]
	for i := range b.cols {
		c, cm := &b.cols[i], m.cols[i]
		c.defs, c.vals, c.data = c.defs[:cm.defs], c.vals[:cm.vals], c.data[:cm.data]
	}
}

// reset empties b for the next part of its table, keeping its memory: the slices of a part grow to the
// same size again.
func (b *buffer) reset() { b.truncate(mark{cols: make([]colMark, len(b.cols))}) }

// addRun records the bookkeeping values of the rows b got since it had n rows.
func (b *buffer) addRun(n int, op []byte, version int64, synced, deleted time.Time) {
	if b.n == n {
		return
	}
	r := run{rows: b.n - n, synced: synced.UnixMicro(), version: version, op: op}
	if !deleted.IsZero() {
		r.deleted, r.hasDeleted = deleted.UnixMicro(), true
	}
	b.runs = append(b.runs, r)
}

// encode appends r, a row of p's layout (checked by the caller), to b's columns, refusing wrong Go types.
// The caller adds the run of bookkeeping values. After an error the row is partly appended: the caller
// truncates b.
func encode(b *buffer, p *tablePlan, r catalog.Row) error {
	for n, k := range p.kinds {
		c := &b.cols[p.colIdx[n]]
		var v any
		if j := p.pos[n]; j >= 0 {
			v = r[j]
		}
		// The catalog's own values take the short way; anything else is checked and converted by Normalize.
		switch k {
		case kindInt:
			if x, ok := v.(int64); ok {
				c.addInt(x)
				continue
			}
		case kindTime:
			if x, ok := v.(time.Time); ok && !x.IsZero() {
				c.addInt(x.UnixMicro())
				continue
			}
		case kindText:
			if x, ok := v.(string); ok {
				c.addText(x)
				continue
			}
		case kindBool:
			if x, ok := v.(bool); ok {
				c.addBool(x)
				continue
			}
		case kindDecimal:
			if x, ok := v.(string); ok && dest.ValidDecimal(x) {
				c.addText(x)
				continue
			}
		}
		if v == nil {
			c.addNull()
			continue
		}
		t := p.cols[n].Type
		v, err := dest.Normalize(t, v)
		if err != nil {
			return fmt.Errorf("column %s: %v", p.cols[n].Name, err)
		}
		switch {
		case v == nil: // a blank typed value
			c.addNull()
		case k == kindInt:
			c.addInt(v.(int64))
		case k == kindTime:
			c.addInt(v.(time.Time).UnixMicro())
		case k == kindBool:
			c.addBool(v.(bool))
		default:
			c.addText(v.(string))
		}
	}
	b.n++
	return nil
}

// batchLen is how many values are handed to a column writer at a time: enough to amortise the call,
// few enough that the batch stays in the CPU's cache.
const batchLen = 1024

// writeColumns hands each column's values to its column writer, the columns spread over the cores:
// encoding and compressing them is most of a roll's work. Every column gets all b.n rows.
func writeColumns(pw *pq.Writer, b *buffer) error {
	cws := pw.ColumnWriters()
	if len(cws) != len(b.cols) || len(b.plan.leafKinds) != len(b.cols) {
		return fmt.Errorf("parquet: %s has %d columns, its buffer %d", b.plan.name, len(cws), len(b.cols))
	}
	next := atomic.Int64{}
	errs := make([]error, len(cws))
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(cws)) {
		wg.Go(func() {
			batch := make([]pq.Value, batchLen)
			for i := int(next.Add(1) - 1); i < len(cws); i = int(next.Add(1) - 1) {
				n, err := b.writeColumn(cws[i], i, batch)
				if err == nil && n != b.n {
					err = fmt.Errorf("column %d took %d rows of %d", i, n, b.n)
				}
				if err == nil {
					err = cws[i].Close()
				}
				errs[i] = err
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("parquet: encode %s: %w", b.plan.name, err)
		}
	}
	return nil
}

// writeColumn writes leaf i's values to cw in batches made in batch, and returns the rows written.
func (b *buffer) writeColumn(cw *pq.ColumnWriter, i int, batch []pq.Value) (int, error) {
	kind := b.plan.leafKinds[i]
	if kind >= kindSynced {
		return b.writeRuns(cw, i, kind, batch)
	}
	c := &b.cols[i]
	null := pq.NullValue().Level(0, 0, i)
	// One loop per kind, and the values made in place: this runs for every cell of a part.
	written, next, start := 0, 0, 0 // rows written; next of vals; start of the next bytes
	for written < len(c.defs) {
		defs := c.defs[written:min(written+len(batch), len(c.defs))]
		out := batch[:len(defs)]
		switch kind {
		case kindInt, kindTime:
			for k, def := range defs {
				if def == 0 {
					out[k] = null
					continue
				}
				out[k] = pq.Int64Value(c.vals[next])
				out[k].SetDefinitionLevel(1)
				out[k].SetColumnIndex(i)
				next++
			}
		case kindBool:
			for k, def := range defs {
				if def == 0 {
					out[k] = null
					continue
				}
				out[k] = pq.BooleanValue(c.vals[next] != 0)
				out[k].SetDefinitionLevel(1)
				out[k].SetColumnIndex(i)
				next++
			}
		default:
			for k, def := range defs {
				if def == 0 {
					out[k] = null
					continue
				}
				end := int(c.vals[next])
				out[k] = pq.ByteArrayValue(c.data[start:end:end])
				out[k].SetDefinitionLevel(1)
				out[k].SetColumnIndex(i)
				start = end
				next++
			}
		}
		n, err := cw.WriteRowValues(out)
		written += n
		if err != nil {
			return written, err
		}
		if n != len(out) {
			return written, fmt.Errorf("column %d took %d of %d values", i, n, len(out))
		}
	}
	return written, nil
}

// writeRuns writes a bookkeeping column: each run is one value repeated, so a batch is filled once per
// run and handed over as many times as the run needs.
func (b *buffer) writeRuns(cw *pq.ColumnWriter, i int, kind colKind, batch []pq.Value) (int, error) {
	written := 0
	for _, r := range b.runs {
		var v pq.Value
		switch kind {
		case kindSynced:
			v = pq.Int64Value(r.synced).Level(0, 0, i)
		case kindVersion:
			v = pq.Int64Value(r.version).Level(0, 0, i)
		case kindOp:
			v = pq.ByteArrayValue(r.op).Level(0, 0, i)
		case kindDeleted:
			v = pq.NullValue().Level(0, 0, i)
			if r.hasDeleted {
				v = pq.Int64Value(r.deleted).Level(0, 1, i)
			}
		}
		out := batch[:min(r.rows, len(batch))]
		for k := range out {
			out[k] = v
		}
		for left := r.rows; left > 0; {
			n, err := cw.WriteRowValues(out[:min(left, len(out))])
			written += n
			left -= n
			if err != nil {
				return written, err
			}
			if n == 0 {
				return written, fmt.Errorf("column %d took no value", i)
			}
		}
	}
	return written, nil
}
