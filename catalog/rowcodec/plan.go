package rowcodec

import (
	"strings"
	"sync"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// plan is what Rows and DecodePage precompute once per table: split paths, the cursor column, the set of
// top-level keys the catalog takes, and the child tables' key positions.
type plan struct {
	layout   catalog.Layout
	cols     []ccol
	cursor   int // index of the cursor column, -1 when the table has none
	taken    map[string]struct{}
	children []cchild

	// The decoder's layout (see DecodePage), built on first use.
	slotsOnce   sync.Once
	parentSlots slots
	parentOK    bool // false when a child is built by Explode: records are then decoded whole
	nslots      int  // guess indexes of the parent's and its children's slots
}

type ccol struct {
	name   string
	dotted string   // the column's Path, for lookups in decoded records and for messages
	path   []string // its keys, for the decoder's slots
	typ    catalog.Type
}

type cchild struct {
	child *catalog.Child
	cols  []ccol
	taken map[string]struct{} // the top-level keys of an item the child's columns take; the rest is _extra
	keys  []int               // positions of the Key columns in the child's rows
	slots slots               // the child's decoder layout, set with the parent's
}

// plans caches a plan per *Table. A sync.Map instead of a field keeps Table copyable and lets tests build
// their own Table literals; a Table must not be modified after its first use.
var plans sync.Map

func planOf(t *catalog.Table) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p, _ := plans.LoadOrStore(t, buildPlan(t))
	return p.(*plan)
}

func compile(columns []catalog.Column) []ccol {
	out := make([]ccol, len(columns))
	for i, col := range columns {
		out[i] = ccol{name: col.Name, dotted: col.Path, path: strings.Split(col.Path, "."), typ: col.Type}
	}
	return out
}

func buildPlan(t *catalog.Table) *plan {
	p := &plan{cols: compile(t.Columns), taken: map[string]struct{}{}, cursor: -1}
	p.layout = t.Layout()
	for i, col := range t.Columns {
		p.taken[strings.SplitN(col.Path, ".", 2)[0]] = struct{}{}
		if col.Path == t.Cursor {
			p.cursor = i
		}
	}
	for i := range t.Children {
		ch := &t.Children[i]
		cc := cchild{child: ch, cols: compile(ch.Columns), taken: map[string]struct{}{}}
		for _, col := range ch.Columns {
			cc.taken[strings.SplitN(col.Path, ".", 2)[0]] = struct{}{}
		}
		layout := ch.Layout()
		for _, k := range ch.Key {
			cc.keys = append(cc.keys, layout.Index(k))
		}
		p.children = append(p.children, cc)
		for _, u := range ch.Uses {
			p.taken[u] = struct{}{}
		}
		if ch.Path != "" {
			p.taken[ch.Path] = struct{}{}
		}
	}
	return p
}
