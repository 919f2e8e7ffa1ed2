package rowcodec

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/internal/jsonscan"
)

// ErrBadRecord is matched (errors.Is) by a DecodePage error about a record's content, the JSON itself being
// fine: asking again would bring the same answer.
var ErrBadRecord = errors.New("bad record")

type badRecord struct{ err error }

func (e badRecord) Error() string        { return e.err.Error() }
func (e badRecord) Unwrap() error        { return e.err }
func (e badRecord) Is(target error) bool { return target == ErrBadRecord }

// DecodePage reads a JSON list answer of t straight into rows: the same rows, and the same errors, as
// decoding each record into a map and calling Rows, without building the maps. The maps were most of a
// sync's client CPU: a page of 50 invoices is some 7,000 map entries made only to be looked up once.
//
// A malformed answer gives the scanner's error (wrapping io.ErrUnexpectedEOF when it is cut short); a record
// whose content Rows would refuse gives an error wrapping ErrBadRecord, reported only once the whole answer
// has been read, so that a cut answer is always recognised as such. data may be reused once it returns.
func DecodePage(t *catalog.Table, data []byte) (*catalog.PageRows, error) {
	p := planOf(t)
	ss, ok := p.decodeSlots()
	d := &pageDecoder{t: t, p: p, ss: ss, whole: !ok, s: jsonscan.New(data),
		errs: make([]error, len(ss.cols)), kids: make([]kidRows, len(p.children)), next: make([]*slot, p.nslots),
		seen: seenPool.Get().(*seenValues)}
	defer seenPool.Put(d.seen)
	out := &catalog.PageRows{Children: make(map[string][]catalog.Row, len(p.children))}
	err := d.s.List(func() error {
		if d.bad != nil || d.unexpected != nil {
			// The page is refused already: the rest is only read through, so that a cut answer is still
			// told apart from a bad record.
			return d.s.Skip()
		}
		row, id, err := d.record()
		if err != nil || d.bad != nil || d.unexpected != nil {
			return err
		}
		out.IDs = append(out.IDs, id)
		out.Rows = append(out.Rows, row)
		for i := range d.kids {
			k := &d.kids[i]
			name := p.children[i].child.Name
			out.Children[name] = append(out.Children[name], k.rows...)
			k.rows = k.rows[:0]
		}
		return nil
	})
	if err == nil {
		err = d.unexpected
	}
	if err != nil {
		return nil, err
	}
	if d.bad != nil {
		return nil, d.bad
	}
	return out, nil
}

// slot is what the decoder does with the value under one key: convert it into the columns whose path ends
// there, and/or descend into it for the columns under it. Built once per table with its plan.
type slot struct {
	id    int    // index of the decoder's guess of the key after this one
	inner int    // the same for the first key of the object under this key (when sub is set)
	key   string // the key itself
	plain bool   // key is ASCII without quote, backslash or control byte, so it may be guessed
	path  string // dashed path of the key, for error messages
	cols  []int  // columns whose path ends at this key
	under []int  // every column below this key, cleared when the key's value is read again
	sub   map[string]*slot
	child int // 1 + index of the child table whose array sits under this key; 0 for none
}

// slots is a compiled table (or child table) layout: the top-level keys and the columns they fill.
type slots struct {
	head int // index of the decoder's guess of a record's first key
	top  map[string]*slot
	cols []ccol
}

// compileSlots builds the slots of cols; ids counts the guess indexes handed out for the table so far.
func compileSlots(cols []ccol, ids *int) slots {
	ss := slots{head: takeID(ids), top: map[string]*slot{}, cols: cols}
	for i, col := range cols {
		level, path := ss.top, ""
		for depth, key := range col.path {
			if depth > 0 {
				path += "."
			}
			path += key
			sl := level[key]
			if sl == nil {
				sl = &slot{id: takeID(ids), key: key, plain: jsonscan.PlainKey(key), path: path}
				level[key] = sl
			}
			if depth == len(col.path)-1 {
				sl.cols = append(sl.cols, i)
				break
			}
			sl.under = append(sl.under, i)
			if sl.sub == nil {
				sl.sub, sl.inner = map[string]*slot{}, takeID(ids)
			}
			level = sl.sub
		}
	}
	return ss
}

// decodeSlots returns the parent's slots, child arrays included; ok is false when a child is built by
// Explode (or its array shares a key with a column), which needs the whole record as a map.
func (p *plan) decodeSlots() (slots, bool) {
	p.slotsOnce.Do(func() {
		ss := compileSlots(p.cols, &p.nslots)
		p.parentOK = true
		for i := range p.children {
			cc := &p.children[i]
			if cc.child.Explode != nil || ss.top[cc.child.Path] != nil {
				p.parentOK = false
				continue
			}
			ss.top[cc.child.Path] = &slot{id: takeID(&p.nslots), key: cc.child.Path, plain: jsonscan.PlainKey(cc.child.Path),
				path: cc.child.Path, child: i + 1}
			cc.slots = compileSlots(cc.cols, &p.nslots)
		}
		p.parentSlots = ss
	})
	return p.parentSlots, p.parentOK
}

// takeID hands out the next guess index of a table's plan.
func takeID(ids *int) int {
	*ids++
	return *ids - 1
}

type pageDecoder struct {
	t     *catalog.Table
	p     *plan
	ss    slots
	whole bool // records are decoded whole and converted by Rows (see decodeSlots)
	s     *jsonscan.Scanner
	vals  catalog.Row // the row of the record being read
	errs  []error     // per column of vals: why its value was refused (Rows reports the first, in column order)
	kids  []kidRows   // per child table: the rows of the record being read
	bad   error       // the first bad record; the rest of the answer is only read through
	// unexpected is the first list item that is not an object: malformed, but reported only once the
	// whole answer is read, as encoding/json does, so that a cut answer is recognised as such.
	unexpected error
	ex         map[string]any // the unknown keys of the record being read, for ColExtra
	seen       *seenValues
	again      *jsonscan.Scanner // reads a JSON column's value a second time, when it was not seen before
	// next is, by guess index, the slot whose key came next last time (see jsonscan.Scanner.Expect): each
	// level of an object has indexes of its own, so a guess is always a slot of the level being read.
	next []*slot
}

// seenValues remembers the values short strings were converted to, boxed, by column type: statuses,
// codes, names and dates repeat across a page and from page to page, and each would otherwise be
// copied, converted and boxed again. It is direct-mapped: a string's hash picks its one slot, and a
// newcomer replaces what was there, so a string that never repeats costs a store, not a map insert.
type seenValues struct {
	seed  maphash.Seed
	slots [4][seenSlots]seenValue // String, Decimal, Timestamp, JSON
}

type seenValue struct {
	key string
	val any
}

const (
	seenSlots  = 1024
	maxSeenLen = 40 // longer strings are rarely repeated and costly to hash
	// maxSeenJSON bounds the objects and arrays of JSON columns remembered: custom fields are short and
	// repeat from record to record.
	maxSeenJSON = 160
)

// seenPool lends a cache to each decoding page; caches live on between pages.
var seenPool = sync.Pool{New: func() any { return &seenValues{seed: maphash.MakeSeed()} }}

// seenKind maps the column types whose values come from strings onto seenValues.slots.
var seenKind = [catalog.JSON + 1]int{catalog.String: 0, catalog.Decimal: 1, catalog.Timestamp: 2, catalog.JSON: 3}

// find returns the value remembered for b in a column of type t, or else the slot to remember it in (nil
// when b is too long to be worth it).
func (c *seenValues) find(t catalog.Type, b []byte) (hit any, slot *seenValue) {
	limit := maxSeenLen
	if t == catalog.JSON {
		limit = maxSeenJSON
	}
	if len(b) > limit {
		return nil, nil
	}
	sv := &c.slots[seenKind[t]][maphash.Bytes(c.seed, b)%seenSlots]
	if sv.val != nil && sv.key == string(b) {
		return sv.val, nil
	}
	return nil, sv
}

// kidRows is what a record holds of one child table.
type kidRows struct {
	rows     []catalog.Row
	itemErrs []error // per row: the first field refused, in column order
	arrErr   error   // the array is not an array, or holds an item that is not an object
	scratch  []error // the per-column errors of the item being read
}

func (k *kidRows) reset() {
	k.rows, k.itemErrs, k.arrErr = k.rows[:0], k.itemErrs[:0], nil
}

// record reads one list item into a parent row (and the children in d.kids). Content errors go to d.bad.
func (d *pageDecoder) record() (catalog.Row, int64, error) {
	ss := d.ss
	for i := range d.kids {
		d.kids[i].reset()
	}
	c, _ := d.s.Peek()
	if c != '{' && c != 'n' {
		u, err := d.s.SkipUnexpected("a list item is not an object")
		if d.unexpected == nil {
			d.unexpected = u
		}
		return nil, 0, err
	}
	if c == 'n' || d.whole {
		// A null item (Rows refuses it) or a table with computed children: decode the record whole.
		v, err := d.s.Value("")
		if err != nil {
			return nil, 0, err
		}
		m, _ := v.(map[string]any)
		row, children, err := Rows(d.t, m)
		if err != nil {
			d.fail(err)
			return nil, 0, nil
		}
		for i := range d.p.children {
			d.kids[i].rows = append(d.kids[i].rows, children[d.p.children[i].child.Name]...)
		}
		idv, _ := toInt(m["id"]) // Rows has checked it
		return row, idv.(int64), nil
	}
	d.vals = make(catalog.Row, len(d.p.layout))
	clear(d.errs)
	d.ex = nil
	var rawID any
	idSeen := false
	err := d.members(ss.top, ss.head, func(kb []byte, sl *slot) error {
		isID := string(kb) == "id"
		switch {
		case isID && (sl == nil || len(sl.cols) == 1 && sl.sub == nil && ss.cols[sl.cols[0]].typ == catalog.Int):
			// The id is read apart, as Rows does, to tell a missing id from a bad one; the usual small
			// integer is boxed once, for the check and the column both.
			if c, _ := d.s.Peek(); c == '-' || c >= '0' && c <= '9' {
				b, err := d.s.NumberBytes()
				if err != nil {
					return err
				}
				if n, ok := smallInt(b); ok {
					rawID, idSeen = n, true
					if sl != nil {
						d.vals[sl.cols[0]], d.errs[sl.cols[0]] = rawID, nil
					}
					return nil
				}
				rawID, idSeen = json.Number(b), true
				if sl != nil {
					d.assign(d.vals, d.errs, ss.cols, sl, rawID)
				}
				return nil
			}
			fallthrough
		case sl == nil || isID:
			// The id is read apart, as Rows does, to tell a missing id from a bad one.
			k := "id"
			if !isID {
				k = d.s.Key(kb)
			}
			v, err := d.s.Value(k)
			if err != nil {
				return err
			}
			if isID {
				rawID, idSeen = v, true
			}
			if sl != nil {
				d.assign(d.vals, d.errs, ss.cols, sl, v)
				return nil
			}
			if d.ex == nil {
				d.ex = map[string]any{}
			}
			d.ex[k] = v
			return nil
		case sl.child > 0:
			return d.childArray(sl, &d.p.children[sl.child-1], &d.kids[sl.child-1])
		}
		return d.fill(d.vals, d.errs, ss.cols, sl)
	})
	if err != nil {
		return nil, 0, err
	}
	row, id, rerr := d.finish(ss, rawID, idSeen)
	if rerr != nil {
		d.fail(rerr)
		return nil, 0, nil
	}
	return row, id, nil
}

func (d *pageDecoder) fail(err error) {
	if d.bad == nil {
		d.bad = badRecord{err}
	}
}

// finish builds the parent row of the record just read and attaches its children, with the checks and
// messages of Rows.
func (d *pageDecoder) finish(ss slots, rawID any, idSeen bool) (catalog.Row, int64, error) {
	name := d.t.Name
	if !idSeen || rawID == nil {
		return nil, 0, fmt.Errorf("%s record without \"id\": the API response is malformed", name)
	}
	id, ok := rawID.(int64)
	if !ok {
		idv, err := toInt(rawID)
		if err != nil {
			return nil, 0, fmt.Errorf("%s record: field \"id\": %v", name, err)
		}
		id, ok = idv.(int64)
	}
	if !ok {
		return nil, 0, fmt.Errorf("%s record with an empty \"id\": the API response is malformed", name)
	}
	for _, err := range d.errs {
		if err != nil {
			return nil, 0, fmt.Errorf("%s id %d: %v", name, id, err)
		}
	}
	row := d.vals
	if d.p.cursor >= 0 && row[d.p.cursor] == nil {
		return nil, 0, fmt.Errorf("%s id %d: field %q is missing: the incremental cursor needs it", name, id, d.t.Cursor)
	}
	if d.ex != nil {
		extra, err := compactJSON(d.ex)
		if err != nil {
			return nil, 0, fmt.Errorf("%s id %d: unknown fields do not encode as JSON: %v", name, id, err)
		}
		row[len(ss.cols)] = extra
	}
	for i := range d.kids {
		cc, k := &d.p.children[i], &d.kids[i]
		if k.arrErr != nil {
			return nil, 0, fmt.Errorf("%s id %d: %s: %v", name, id, cc.child.Name, k.arrErr)
		}
		for j, r := range k.rows {
			r[0] = id
			err := cc.checkKeys(r, j)
			if k.itemErrs[j] != nil {
				err = fmt.Errorf("item %d: %v", j, k.itemErrs[j])
			}
			if err != nil {
				return nil, 0, fmt.Errorf("%s id %d: %s: %v", name, id, cc.child.Name, err)
			}
		}
	}
	return row, id, nil
}

// fill reads the value under slot sl into vals: an object is walked for the columns below it without being
// built; anything else is decoded and assigned as Rows would look it up.
func (d *pageDecoder) fill(vals []any, errs []error, cols []ccol, sl *slot) error {
	c, _ := d.s.Peek()
	if len(sl.cols) == 1 && sl.sub == nil {
		if done, err := d.scalar(vals, errs, cols, sl, c); done {
			return err
		}
	}
	if c != '{' || len(sl.cols) > 0 || sl.sub == nil {
		v, err := d.s.Value(sl.path)
		if err == nil {
			d.assign(vals, errs, cols, sl, v)
		}
		return err
	}
	for _, i := range sl.under {
		vals[i], errs[i] = nil, nil // a repeated key replaces the whole object, as in a map
	}
	return d.members(sl.sub, sl.inner, func(_ []byte, sub *slot) error {
		if sub != nil {
			return d.fill(vals, errs, cols, sub)
		}
		return d.s.Skip()
	})
}

// members reads the object at hand: member gets each key and its slot in level (nil for a key no column
// takes) and must read the value. Each key is guessed from the key order the level's last object had
// (head is the level's guess index for the first key), sparing the scan and the hash of nearly all of them.
func (d *pageDecoder) members(level map[string]*slot, head int, member func(kb []byte, sl *slot) error) error {
	prev := head
	d.expect(prev)
	return d.s.Object(func(kb []byte) error {
		sl := d.next[prev]
		if sl == nil || sl.key != string(kb) {
			if sl = level[string(kb)]; sl != nil {
				d.next[prev] = sl
			}
		}
		if sl != nil {
			prev = sl.id
		}
		if err := member(kb, sl); err != nil {
			return err
		}
		d.expect(prev)
		return nil
	})
}

func (d *pageDecoder) expect(prev int) {
	if g := d.next[prev]; g != nil && g.plain {
		d.s.Expect(g.key)
	}
}

// scalar reads the usual shapes of a value into its one column without the generic decoding: a number
// into an integer column, a string into a string, decimal or datetime column, a repeated object or array
// into a JSON column. It reports false, having read nothing, for any other shape. What it stores, and
// every error, is what assign makes of the generic value.
func (d *pageDecoder) scalar(vals []any, errs []error, cols []ccol, sl *slot, c byte) (bool, error) {
	i := sl.cols[0]
	typ := cols[i].typ
	switch {
	case typ == catalog.Int && (c == '-' || c >= '0' && c <= '9'):
		b, err := d.s.NumberBytes()
		if err != nil {
			return true, err
		}
		if n, ok := smallInt(b); ok {
			vals[i], errs[i] = n, nil
			return true, nil
		}
		d.assign(vals, errs, cols, sl, json.Number(b))
		return true, nil
	case (typ == catalog.String || typ == catalog.Decimal || typ == catalog.Timestamp) && c == '"',
		typ == catalog.String && (c == '-' || c >= '0' && c <= '9'):
		read := d.s.StrBytes
		if c != '"' {
			read = d.s.NumberBytes // a number in a text column is kept as written, as toString keeps it
		}
		b, err := read()
		if err != nil {
			return true, err
		}
		hit, sv := d.seen.find(typ, b)
		if hit != nil {
			vals[i], errs[i] = hit, nil
			return true, nil
		}
		str := string(b)
		d.assign(vals, errs, cols, sl, str)
		if v := vals[i]; v != nil && sv != nil {
			*sv = seenValue{str, v}
		}
		return true, nil
	case typ == catalog.JSON && (c == '{' || c == '['):
		// The column holds the value re-encoded, and the same bytes always give the same text: a repeat
		// is recognised by its bytes, without building the map again.
		raw, err := d.s.SkipRaw()
		if err != nil {
			return true, err
		}
		hit, sv := d.seen.find(typ, raw)
		if hit != nil {
			vals[i], errs[i] = hit, nil
			return true, nil
		}
		if d.again == nil {
			d.again = jsonscan.New(nil)
		}
		d.again.Reset(raw)
		v, err := d.again.Value(sl.path) // Skip has accepted these bytes, so Value does too
		if err != nil {
			return true, err
		}
		d.assign(vals, errs, cols, sl, v)
		if v := vals[i]; v != nil && sv != nil {
			*sv = seenValue{string(raw), v}
		}
		return true, nil
	}
	return false, nil
}

// smallInt parses an integer literal of up to 18 digits, which cannot overflow; longer ones, and
// fractions or exponents, are left to the generic conversion and its errors.
func smallInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// assign converts v, the decoded value under slot sl, into the columns at and below it, with Rows' errors
// kept per column: a repeated key replaces the value, and its error, as in a map.
func (d *pageDecoder) assign(vals []any, errs []error, cols []ccol, sl *slot, v any) {
	for _, i := range sl.cols {
		vals[i], errs[i] = nil, nil
		if v == nil {
			continue
		}
		cv, err := convert(v, cols[i].typ)
		if err != nil {
			errs[i] = fmt.Errorf("field %q: %v", sl.path, err)
			continue
		}
		vals[i] = cv
	}
	if sl.sub == nil {
		return
	}
	for _, i := range sl.under {
		vals[i], errs[i] = nil, nil
	}
	if v == nil {
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		err := fmt.Errorf("field %q: want an object, got %s", sl.path, describe(v))
		for _, i := range sl.under {
			errs[i] = err
		}
		return
	}
	for k, sub := range sl.sub {
		d.assign(vals, errs, cols, sub, m[k])
	}
}

// childArray reads the array of child cc under slot sl into k (the parent key is set by finish), keeping
// the errors Rows would report: an array that is not one or holds a non-object first, then per item.
func (d *pageDecoder) childArray(sl *slot, cc *cchild, k *kidRows) error {
	k.reset() // a repeated key replaces the array, as in a map
	c, _ := d.s.Peek()
	switch c {
	case 'n':
		return d.s.Null()
	case '[':
	default:
		v, err := d.s.Value("")
		if err == nil {
			k.arrErr = fmt.Errorf("field %q: want an array, got %s", sl.path, describe(v))
		}
		return err
	}
	if k.scratch == nil {
		k.scratch = make([]error, len(cc.cols))
	}
	item := 0
	return d.s.Array(func() error {
		defer func() { item++ }()
		if c, _ := d.s.Peek(); c != '{' {
			v, err := d.s.Value("")
			if err == nil && k.arrErr == nil {
				k.arrErr = fmt.Errorf("field %q item %d: want an object, got %s", sl.path, item, describe(v))
			}
			return err
		}
		r := make(catalog.Row, len(cc.cols)+2)
		vals, errs := r[1:len(cc.cols)+1], k.scratch // r[0] is the parent key, set by finish
		clear(errs)
		var ex map[string]any // the item's keys no column takes, for its ColExtra
		err := d.members(cc.slots.top, cc.slots.head, func(kb []byte, sub *slot) error {
			if sub != nil {
				return d.fill(vals, errs, cc.cols, sub)
			}
			key := d.s.Key(kb)
			v, err := d.s.Value(key)
			if err == nil {
				if ex == nil {
					ex = map[string]any{}
				}
				ex[key] = v
			}
			return err
		})
		if err != nil {
			return err
		}
		var first error
		for _, e := range errs {
			if e != nil {
				first = e
				break
			}
		}
		if first == nil && ex != nil {
			extra, err := compactJSON(ex)
			if err != nil {
				first = fmt.Errorf("unknown fields do not encode as JSON: %v", err)
			}
			r[len(cc.cols)+1] = extra
		}
		k.rows, k.itemErrs = append(k.rows, r), append(k.itemErrs, first)
		return nil
	})
}
