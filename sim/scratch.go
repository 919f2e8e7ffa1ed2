package sim

import (
	"strings"
	"sync"
)

// scratch lends the slices of records that are encoded as soon as they are rendered and then dropped: a
// list page renders dozens of records of dozens of fields, and allocating (then collecting) those slices
// was the largest share of a page's garbage. A nil *scratch allocates, for records that are kept.
type scratch struct {
	kvs  []kv
	objs []obj
	// text holds the bytes of strings made for records (amounts, document numbers), many to a buffer
	// instead of an allocation each. It is only ever appended to, so a string made from it never
	// changes, whoever keeps it; a full buffer is left to the strings that use it and a new one begun.
	text strings.Builder
}

// scratchSlab is sized for a few records with all their lines, so a page normally reuses one slab.
const scratchSlab = 1024

var scratchPool = sync.Pool{New: func() any { return &scratch{} }}

// obj returns an empty record with room for n fields. Its capacity is exactly n, so appending past it
// reallocates instead of running into the next record's fields.
func (sc *scratch) obj(n int) obj {
	if sc == nil {
		return make(obj, 0, n)
	}
	if len(sc.kvs)+n > cap(sc.kvs) {
		// The old slab stays alive for as long as records of this request point into it.
		sc.kvs = make([]kv, 0, max(scratchSlab, n))
	}
	i := len(sc.kvs)
	sc.kvs = sc.kvs[:i+n]
	return sc.kvs[i : i : i+n]
}

// list returns an empty collection with room for n records.
func (sc *scratch) list(n int) []obj {
	if sc == nil {
		return make([]obj, 0, n)
	}
	if len(sc.objs)+n > cap(sc.objs) || sc.objs == nil { // never nil: an empty collection is [], not null
		sc.objs = make([]obj, 0, max(scratchSlab/8, n))
	}
	i := len(sc.objs)
	sc.objs = sc.objs[:i+n]
	return sc.objs[i : i : i+n]
}

// textChunk is the size of a text buffer: a page of invoices needs a few.
const textChunk = 4096

// str returns b as a string kept in sc's text buffer (allocated on its own when sc is nil).
func (sc *scratch) str(b []byte) string {
	if sc == nil {
		return string(b)
	}
	if sc.text.Cap()-sc.text.Len() < len(b) {
		sc.text.Reset()
		sc.text.Grow(max(textChunk, len(b)))
	}
	n := sc.text.Len()
	sc.text.Write(b)
	return sc.text.String()[n:]
}

// reset takes back everything lent; the caller must no longer hold any of it. The slabs are not
// cleared: a lent slice is written before it is read (stubOf, which peeks one past the end, checks what
// it finds), and clearing slabs of pointers, with the garbage collector's write barriers, cost more than
// keeping a page's worth of values alive until they are overwritten.
func (sc *scratch) reset() {
	sc.kvs = sc.kvs[:0]
	sc.objs = sc.objs[:0]
}
