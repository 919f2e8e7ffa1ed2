// Package catalog describes the Coupa objects the connector knows and how each maps to warehouse tables:
// endpoint, scope, keys, cursor, columns, child tables and capabilities. Pure data plus small functions.
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
	Columns   []Column // ParentKey is added by Rows; do not list it here
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

// Row is one warehouse row: column name -> value of the Go type its column Type names, or nil.
type Row map[string]any

// Standard columns every destination adds to every parent table.
const (
	ColExtra     = "_extra"      // JSON: every field of the record no column took, so nothing is lost
	ColSyncedAt  = "_synced_at"  // when the row was written
	ColDeletedAt = "_deleted_at" // set by delete reconciliation; parents are never hard-deleted
)
