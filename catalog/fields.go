package catalog

import (
	"encoding/json"
	"strings"
	"sync"
)

// projection is a table's `fields` query parameter, computed once per table: the sync asks for it on every
// page.
type projection struct {
	fields []any
	param  string
}

// projections caches a projection per *Table. A sync.Map instead of a field keeps Table copyable and lets
// tests build their own Table literals; a Table must not be modified after its first use.
var projections sync.Map

func projectionOf(t *Table) *projection {
	if p, ok := projections.Load(t); ok {
		return p.(*projection)
	}
	p, _ := projections.LoadOrStore(t, buildProjection(t))
	return p.(*projection)
}

func buildProjection(t *Table) *projection {
	root := &fnode{}
	for _, col := range t.Columns {
		root.add(strings.Split(col.Path, "."))
	}
	for i := range t.Children {
		ch := &t.Children[i]
		for _, u := range ch.Uses {
			root.add([]string{u})
		}
		if ch.Path == "" {
			continue
		}
		sub := root.child(ch.Path)
		for _, col := range ch.Columns {
			sub.add(strings.Split(col.Path, "."))
		}
	}
	p := &projection{fields: root.render()}
	b, err := json.Marshal(p.fields)
	if err != nil {
		panic("catalog: fields of " + t.Name + " do not encode: " + err.Error()) // only strings and maps
	}
	p.param = string(b)
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
func (t *Table) Fields() []any { return projectionOf(t).fields }

// FieldsParam is Fields encoded as JSON, ready for the `fields` query parameter.
func (t *Table) FieldsParam() string { return projectionOf(t).param }
