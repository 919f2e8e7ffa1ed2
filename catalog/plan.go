package catalog

import (
	"encoding/json"
	"strings"
	"sync"
)

// plan is what Rows and Fields precompute once per table: split paths, the set of top-level keys the
// catalog takes, and the fields projection.
type plan struct {
	layout     Layout
	cols       []ccol
	cursor     int // index of the cursor column, -1 when the table has none
	taken      map[string]struct{}
	children   []cchild
	fields     []any
	fieldsJSON string

	// The decoder's layout (see DecodePage), built on first use.
	slotsOnce   sync.Once
	parentSlots slots
	parentOK    bool // false when a child is built by Explode: records are then decoded whole
	nslots      int  // guess indexes of the parent's and its children's slots
}

type ccol struct {
	name string
	path []string
	typ  Type
}

type cchild struct {
	child *Child
	cols  []ccol
	keys  []int // positions of the Key columns in the child's rows
	slots slots // the child's decoder layout, set with the parent's
}

// plans caches a plan per *Table. A sync.Map instead of a field keeps Table copyable and lets tests build
// their own Table literals; a Table must not be modified after its first use.
var plans sync.Map

func planOf(t *Table) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p, _ := plans.LoadOrStore(t, buildPlan(t))
	return p.(*plan)
}

func compile(columns []Column) []ccol {
	out := make([]ccol, len(columns))
	for i, col := range columns {
		out[i] = ccol{name: col.Name, path: strings.Split(col.Path, "."), typ: col.Type}
	}
	return out
}

func buildPlan(t *Table) *plan {
	p := &plan{cols: compile(t.Columns), taken: map[string]struct{}{}, cursor: -1}
	p.layout = t.Layout()
	root := &fnode{}
	for i, col := range t.Columns {
		root.add(strings.Split(col.Path, "."))
		p.taken[strings.SplitN(col.Path, ".", 2)[0]] = struct{}{}
		if col.Path == t.Cursor {
			p.cursor = i
		}
	}
	for i := range t.Children {
		ch := &t.Children[i]
		cc := cchild{child: ch, cols: compile(ch.Columns)}
		layout := ch.Layout()
		for _, k := range ch.Key {
			cc.keys = append(cc.keys, layout.Index(k))
		}
		p.children = append(p.children, cc)
		for _, u := range ch.Uses {
			root.add([]string{u})
			p.taken[u] = struct{}{}
		}
		if ch.Path == "" {
			continue
		}
		p.taken[ch.Path] = struct{}{}
		sub := root.child(ch.Path)
		for _, col := range ch.Columns {
			sub.add(strings.Split(col.Path, "."))
		}
	}
	p.fields = root.render()
	b, err := json.Marshal(p.fields)
	if err != nil {
		panic("catalog: fields of " + t.Name + " do not encode: " + err.Error()) // only strings and maps
	}
	p.fieldsJSON = string(b)
	return p
}

// fnode is one level of the fields projection, kept in first-seen order so the output is deterministic.
type fnode struct {
	name  string
	leaf  bool
	order []*fnode
}

func (n *fnode) child(name string) *fnode {
	for _, c := range n.order {
		if c.name == name {
			return c
		}
	}
	c := &fnode{name: name}
	n.order = append(n.order, c)
	return c
}

func (n *fnode) add(path []string) {
	c := n.child(path[0])
	if len(path) == 1 {
		c.leaf = true
		return
	}
	c.add(path[1:])
}

// render turns the tree into Coupa's fields syntax. A key asked for whole (a leaf) wins over a partial
// projection of the same key, since the whole value contains the parts.
func (n *fnode) render() []any {
	out := make([]any, 0, len(n.order))
	for _, c := range n.order {
		if c.leaf || len(c.order) == 0 {
			out = append(out, c.name)
			continue
		}
		out = append(out, map[string][]any{c.name: c.render()})
	}
	return out
}

// Fields returns the `fields` projection the sync sends for t: strings for attributes, one-key maps for
// associations and child arrays, dashed names as Coupa renders them, in column order. custom-fields is asked
// for as a plain attribute: its keys are instance-specific, so the whole object is requested and stored as
// JSON. The result is shared: do not modify it.
func (t *Table) Fields() []any { return planOf(t).fields }

// FieldsParam is Fields encoded as JSON, ready for the `fields` query parameter.
func (t *Table) FieldsParam() string { return planOf(t).fieldsJSON }
