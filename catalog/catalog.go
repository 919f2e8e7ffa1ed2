// Package catalog describes the Coupa objects the connector knows and how each maps to warehouse tables:
// endpoint, scope, keys, cursor, columns, child tables, capabilities and row layouts, as data.
// It imports nothing of the project; package rowcodec turns API records into these tables' rows.
package catalog

import "time"

// Type is the warehouse type of a column. Every destination maps it to its own SQL or Parquet type.
type Type int

// Column types. The Go value a Row holds for each is fixed so that every destination can rely on it.
const (
	String    Type = iota // Go string
	Int                   // Go int64
	Decimal               // Go string holding an exact decimal such as "1234.50" (never a float)
	Bool                  // Go bool
	Timestamp             // Go time.Time in UTC
	JSON                  // Go string holding a JSON document
)

// Column is one warehouse column and where its value sits in the Coupa record.
type Column struct {
	Name string // warehouse column name, snake_case: "invoice_number", "supplier_id"
	Path string // dashed Coupa keys joined by dots: "invoice-number", "supplier.id"
	Type Type
}

// Child is a table made from a collection nested in the parent record (invoice-lines -> invoice_lines).
// Its rows carry ParentKey; on every write of a parent, all of that parent's child rows are replaced.
type Child struct {
	Name      string   // warehouse table: "invoice_lines"
	Path      string   // key of the array in the parent record: "invoice-lines"; empty when Explode is set
	ParentKey string   // column holding the parent's id: "invoice_id"
	Key       []string // primary key columns, ParentKey included when the child has no id of its own
	Columns   []Column // ParentKey is added by rowcodec; do not list it here
	// Explode builds the child's records when they are not an array in the parent (user_licenses comes
	// from the user's license booleans). Nil for ordinary array children.
	Explode func(parent map[string]any) []map[string]any
	// Uses lists the dashed top-level fields of the parent Explode reads, so Fields asks for them and they
	// do not land in the parent's _extra.
	Uses []string
}

// Table is one Coupa resource synced into one warehouse table (plus its children).
type Table struct {
	Name       string        // warehouse table: "invoices"
	Resource   string        // API resource: GET /api/<Resource>
	Scope      string        // OAuth scope needed to read: "core.invoice.read"
	WriteScope string        // OAuth scope needed to write, empty when read-only
	Cursor     string        // dashed field the incremental cursor follows: "updated-at"
	Lookback   time.Duration // overlap re-read at every incremental run, for late-arriving updates
	Columns    []Column      // "id" first; includes custom_fields (JSON) where the object has them
	Children   []Child
	Create     bool     // POST /api/<Resource> is supported
	Update     bool     // PUT /api/<Resource>/<id> is supported
	Actions    []string // PUT /api/<Resource>/<id>/<action>
	Required   []string // dashed fields a create must carry
	// NaturalKeys are sets of dashed fields that identify an object Coupa keeps unique, tried in order;
	// a bulk create that may have reached Coupa looks the object up by the first set its row carries.
	NaturalKeys [][]string
	Optional    bool // the endpoint is not documented on every instance: a 404 skips the table
}

// Row is one warehouse row: a value per column of its table's Layout, in that order, each nil or of the Go
// type its column's Type names. Rows are positional because a sync makes millions of them: a map per row
// was a fifth of the client's CPU, spent hashing the same few dozen names.
type Row []any

// Layout is the columns of a table's rows, in order: a parent table's Columns then ColExtra; a child
// table's ParentKey, its Columns, then ColExtra (custom fields on lines are common in Coupa).
type Layout []Column

// Index returns the position of the column named name, or -1.
func (l Layout) Index(name string) int {
	for i := range l {
		if l[i].Name == name {
			return i
		}
	}
	return -1
}

// Named returns r as a map from column name to value: for tests, messages and display, not for bulk work.
func (l Layout) Named(r Row) map[string]any {
	m := make(map[string]any, len(l))
	for i, c := range l {
		if i < len(r) {
			m[c.Name] = r[i]
		}
	}
	return m
}

// Row makes a row from named values; a column named is nil. A name the layout lacks panics: Row is for
// literals in tests and tools, where that is a bug.
func (l Layout) Row(named map[string]any) Row {
	r := make(Row, len(l))
	for k, v := range named {
		i := l.Index(k)
		if i < 0 {
			panic("catalog: no column " + k + " in the layout")
		}
		r[i] = v
	}
	return r
}

// Layout returns the layout of t's rows.
func (t *Table) Layout() Layout {
	return append(append(make(Layout, 0, len(t.Columns)+1), t.Columns...), Column{Name: ColExtra, Type: JSON})
}

// Layout returns the layout of ch's rows.
func (ch *Child) Layout() Layout {
	l := append(make(Layout, 0, len(ch.Columns)+2), Column{Name: ch.ParentKey, Type: Int})
	return append(append(l, ch.Columns...), Column{Name: ColExtra, Type: JSON})
}

// Standard columns every destination adds to every parent table.
const (
	ColExtra     = "_extra"      // JSON: every field of the record (or child item) no column took, so nothing is lost
	ColSyncedAt  = "_synced_at"  // when the row was written
	ColDeletedAt = "_deleted_at" // set by delete reconciliation; parents are never hard-deleted
)
