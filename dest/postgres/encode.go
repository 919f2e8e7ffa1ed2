package postgres

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
)

// A page is validated and, for COPY, written into COPY's binary format in one pass over its catalog.Rows:
// the canonical Go type of each column (what the catalog produces) is written straight from the row,
// and only other values go through dest.Normalize, which also words every refusal. The [][]any the
// upsert takes is built from the kept rows only when a page goes that way. This pass was about a third
// of the connector's CPU of a sync into PostgreSQL when every value was boxed into a fresh []any first.

// tableRows is one table's rows of a page, validated.
type tableRows struct {
	plan *tablePlan
	rows []catalog.Row // one per id (or child key), the last of each, in order of first appearance
	keys []intKey      // per kept row, its key when the plan's key is integers
	vals [][]any       // without encode: per kept row, its values in plan order, for the upsert
	// Encoded pages only: the COPY data (header, tuples, trailer) once finished; spans[i] is where
	// rows[i]'s tuple sits in buf while rows are being added.
	buf      *[]byte
	spans    []span
	replaced bool // a later duplicate's tuple took a slot: buf must be compacted
}

type span struct{ from, to int }

// intKey is a key of one or two integer columns (b is 0 for one).
type intKey struct{ a, b int64 }

func (k intKey) less(o intKey) bool { return k.a < o.a || (k.a == o.a && k.b < o.b) }

// keyIndex finds the kept row of a key. Pages come in id order, lines in theirs, so while each key is
// above the one before it no lookup is needed; a map is built only when the order breaks.
type keyIndex struct {
	unordered bool
	last      intKey
	ints      map[intKey]int
	strs      map[string]int
}

// slotOfInt returns the kept row holding k, or -1 after recording k as kept row n.
func (x *keyIndex) slotOfInt(k intKey, n int, keys []intKey) int {
	if !x.unordered {
		if n == 0 || x.last.less(k) {
			x.last = k
			return -1
		}
		x.unordered = true
		x.ints = make(map[intKey]int, 2*len(keys))
		for i, kk := range keys {
			x.ints[kk] = i
		}
	}
	if i, ok := x.ints[k]; ok {
		return i
	}
	x.ints[k] = n
	return -1
}

func (x *keyIndex) slotOfString(k []byte, n int) int {
	if x.strs == nil {
		x.strs = map[string]int{}
	}
	if i, ok := x.strs[string(k)]; ok {
		return i
	}
	x.strs[string(k)] = n
	return -1
}

// bufPool holds COPY buffers between pages.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if b == nil || cap(*b) > 16<<20 {
		return // an outsized page's buffer is left to the collector rather than kept for every page
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// release returns the table's COPY buffer; its data must not be used afterwards.
func (t *tableRows) release() {
	putBuf(t.buf)
	t.buf = nil
}

// rowEncoder validates (and, with encode, writes) the rows of one table of a page.
type rowEncoder struct {
	t      *tableRows
	encode bool
	synced time.Time
	vals   []any // the normalized values of the row being added, in plan column order
	idx    keyIndex
	kb     []byte
}

func newRowEncoder(plan *tablePlan, n int, synced time.Time, encode bool) *rowEncoder {
	e := &rowEncoder{t: &tableRows{plan: plan, rows: make([]catalog.Row, 0, n)}, encode: encode, synced: synced,
		vals: make([]any, len(plan.cols))}
	if plan.intKey {
		e.t.keys = make([]intKey, 0, n)
	}
	if encode {
		b := getBuf()
		*b = append(*b, copyHeader...)
		e.t.buf = b
		e.t.spans = make([]span, 0, n)
	} else {
		e.t.vals = make([][]any, 0, n)
	}
	return e
}

// at is where the next tuple starts in the COPY data.
func (e *rowEncoder) at() int {
	if e.t.buf == nil {
		return 0
	}
	return len(*e.t.buf)
}

// fields appends r's values as one tuple and leaves them normalized in e.vals (without encode: a new
// slice, which the upsert takes); the error names the first bad column in plan order. The catalog's own
// Go types are written here, inline; anything else goes through appendField.
func (e *rowEncoder) fields(r catalog.Row) error {
	plan := e.t.plan
	if !e.encode {
		vals, err := values(plan, r, e.synced)
		e.vals = vals
		return err
	}
	cols, pos := plan.cols, plan.pos[:len(plan.cols)]
	vals := e.vals[:len(cols)]
	b := *e.t.buf
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, uint16(len(cols)))
	for i := range cols {
		j := pos[i]
		if j < 0 {
			if i == plan.syncedAt {
				b = appendTimestamp(b, e.synced)
			} else {
				b = appendNull(b)
			}
			vals[i] = nil // never a key
			continue
		}
		v := r[j]
		if v == nil {
			b = appendNull(b)
			vals[i] = nil
			continue
		}
		switch cols[i].typ {
		case catalog.Int:
			if x, ok := v.(int64); ok {
				b = binary.BigEndian.AppendUint32(b, 8)
				b = binary.BigEndian.AppendUint64(b, uint64(x))
				vals[i] = v
				continue
			}
		case catalog.String, catalog.JSON:
			if x, ok := v.(string); ok {
				b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
				b = append(b, x...)
				vals[i] = v
				continue
			}
		case catalog.Decimal:
			if x, ok := v.(string); ok {
				if nb, ok := appendNumeric(b, x); ok {
					b = nb
					vals[i] = v
					continue
				}
			}
		case catalog.Bool:
			if x, ok := v.(bool); ok {
				var c byte
				if x {
					c = 1
				}
				b = append(b, 0, 0, 0, 1, c)
				vals[i] = v
				continue
			}
		case catalog.Timestamp:
			if x, ok := v.(time.Time); ok && x.Location() == time.UTC && !x.IsZero() {
				b = appendTimestamp(b, x)
				vals[i] = v
				continue
			}
		}
		var err error
		if b, vals[i], err = appendField(b, cols[i].typ, v); err != nil {
			*e.t.buf = b[:start]
			return fmt.Errorf("column %s: %v", cols[i].name, err)
		}
	}
	*e.t.buf = b
	return nil
}

// keep adds the row just checked by fields under key k (or string key kb), or lets it replace the
// earlier row of the same key.
func (e *rowEncoder) keep(r catalog.Row, k intKey, useInt, useStr bool, tupleFrom int) {
	t := e.t
	n := len(t.rows)
	slot := -1
	switch {
	case useInt:
		slot = e.idx.slotOfInt(k, n, t.keys)
	case useStr:
		slot = e.idx.slotOfString(e.kb, n)
	}
	var sp span
	if e.encode {
		sp = span{tupleFrom, len(*t.buf)}
	}
	if slot >= 0 {
		t.rows[slot] = r
		if e.encode {
			t.spans[slot] = sp
			t.replaced = true
		} else {
			t.vals[slot] = e.vals
		}
		return
	}
	t.rows = append(t.rows, r)
	if !e.encode {
		t.vals = append(t.vals, e.vals)
	}
	if t.keys != nil {
		t.keys = append(t.keys, k)
	}
	if e.encode {
		t.spans = append(t.spans, sp)
	}
}

// finish ends the COPY data: the trailer, after dropping the tuples of replaced duplicates.
func (e *rowEncoder) finish() *tableRows {
	t := e.t
	if !e.encode {
		return t
	}
	if t.replaced {
		nb := getBuf()
		*nb = append(*nb, copyHeader...)
		for _, s := range t.spans {
			*nb = append(*nb, (*t.buf)[s.from:s.to]...)
		}
		putBuf(t.buf)
		t.buf = nb
	}
	*t.buf = binary.BigEndian.AppendUint16(*t.buf, 0xffff) // the trailer: a tuple of -1 fields
	t.spans = nil
	return t
}

// encodeParents checks (and encodes) a page's parent rows; the last row of an id wins.
func encodeParents(plan *tablePlan, rows []catalog.Row, synced time.Time, encode bool) (*tableRows, error) {
	e := newRowEncoder(plan, len(rows), synced, encode)
	idAt := plan.layout.Index("id")
	for n, r := range rows {
		if err := dest.CheckRow(plan.name, n, r, plan.layout); err != nil {
			e.t.release()
			return nil, fmt.Errorf("postgres: %v", err)
		}
		id, ok := r[idAt].(int64)
		if !ok {
			if i, isInt := r[idAt].(int); isInt {
				id, ok = int64(i), true
			}
		}
		if !ok {
			e.t.release()
			return nil, fmt.Errorf("postgres: %s row %d has no int64 id (got %T): the page is malformed", plan.name, n, r[idAt])
		}
		from := e.at()
		if err := e.fields(r); err != nil {
			e.t.release()
			return nil, fmt.Errorf("postgres: %s id %d: %w", plan.name, id, err)
		}
		e.keep(r, intKey{a: id}, true, false, from)
	}
	return e.finish(), nil
}

// encodeChildren checks that every child row belongs to a parent of the page (ids, ascending) and has
// its key, and encodes it; the last row of a key wins.
func encodeChildren(plan *tablePlan, rows []catalog.Row, parents []int64, synced time.Time, encode bool) (*tableRows, error) {
	e := newRowEncoder(plan, len(rows), synced, encode)
	lastParent, haveLast := int64(0), false
	for n, r := range rows {
		if err := dest.CheckRow(plan.name, n, r, plan.layout); err != nil {
			e.t.release()
			return nil, fmt.Errorf("postgres: %v", err)
		}
		from := e.at()
		if err := e.fields(r); err != nil {
			e.t.release()
			return nil, fmt.Errorf("postgres: %s row %d: %w", plan.name, n, err)
		}
		// Lines come grouped by parent: the parent of the row before is the likeliest.
		if pid, _ := e.vals[0].(int64); !haveLast || pid != lastParent {
			if _, found := slices.BinarySearch(parents, pid); !found {
				e.t.release()
				return nil, fmt.Errorf("postgres: %s row %d: %s %v is not a parent in this page", plan.name, n, plan.parentKey, e.vals[0])
			}
			lastParent, haveLast = pid, true
		}
		var k intKey
		e.kb = e.kb[:0]
		for ki, i := range plan.keyAt {
			v := e.vals[i]
			if v == nil {
				e.t.release()
				return nil, fmt.Errorf("postgres: %s row %d: key column %s is missing", plan.name, n, plan.cols[i].name)
			}
			if plan.intKey {
				if ki == 0 {
					k.a = v.(int64)
				} else {
					k.b = v.(int64)
				}
			} else {
				e.kb = appendKey(e.kb, v)
			}
		}
		hasKey := len(plan.keyAt) > 0
		e.keep(r, k, hasKey && plan.intKey, hasKey && !plan.intKey, from)
	}
	return e.finish(), nil
}

// appendField appends v, a value of a column of type t, as one field of COPY's binary format, and
// returns it as dest.Normalize makes it. The catalog's own types take the short way; anything else is
// normalized first, which refuses what the column cannot hold.
func appendField(b []byte, t catalog.Type, v any) ([]byte, any, error) {
	switch t {
	case catalog.Int:
		if x, ok := v.(int64); ok {
			b = binary.BigEndian.AppendUint32(b, 8)
			return binary.BigEndian.AppendUint64(b, uint64(x)), v, nil
		}
	case catalog.String, catalog.JSON:
		if s, ok := v.(string); ok {
			b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
			return append(b, s...), v, nil
		}
	case catalog.Decimal:
		if s, ok := v.(string); ok {
			if nb, ok := appendNumeric(b, s); ok {
				return nb, v, nil
			}
			// Not a decimal: Normalize words the refusal.
		}
	case catalog.Bool:
		if x, ok := v.(bool); ok {
			b = binary.BigEndian.AppendUint32(b, 1)
			if x {
				return append(b, 1), v, nil
			}
			return append(b, 0), v, nil
		}
	case catalog.Timestamp:
		// Other zones are normalized to UTC, as a key made of a time compares in UTC.
		if x, ok := v.(time.Time); ok && x.Location() == time.UTC {
			if x.IsZero() {
				return appendNull(b), nil, nil
			}
			return appendTimestamp(b, x), v, nil
		}
	}
	if v == nil {
		return appendNull(b), nil, nil
	}
	n, err := dest.Normalize(t, v)
	if err != nil {
		return b, nil, err
	}
	if n == nil {
		return appendNull(b), nil, nil
	}
	return appendCopyBinary(b, t, n), n, nil
}

func appendNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, 0xffffffff) } // -1: NULL

// maxCopySeconds bounds the instants whose microseconds since 2000 fit an int64 (about 292,000 years
// either way), with room to spare.
const maxCopySeconds = 9_000_000_000_000

// appendTimestamp appends x as a timestamptz field: microseconds since PostgreSQL's epoch. An instant
// beyond int64 microseconds, and far beyond timestamptz's range (294276 AD), is sent as a value the
// server refuses as out of range, so that the page is upserted and the error is the server's own.
func appendTimestamp(b []byte, x time.Time) []byte {
	us := int64(math.MaxInt64 - 1)
	if s := x.Unix(); s < maxCopySeconds && s > -maxCopySeconds {
		us = s*1_000_000 + int64(x.Nanosecond()/1000) - pgEpochMicros
	}
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(us))
}

// appendKey adds one key value and a separator to b, for keys that are not all integers.
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
