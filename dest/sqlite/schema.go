package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// column is one data column a row supplies (catalog columns, a child's parent key, _extra).
type column struct {
	name string
	typ  catalog.Type
	key  bool // part of the primary key: NOT NULL, and a row must set it
}

// table is a prepared parent or child table and the statements cached for it.
type table struct {
	name      string // catalog name
	phys      string // quoted physical name, prefix included
	parent    bool
	cols      []column // in statement order; _synced_at (and _deleted_at) follow them
	key       []string
	parentKey string   // children: the column holding the parent id
	children  []*table // parents: their child tables

	upsert   map[int]*sql.Stmt // rows per statement -> multi-row upsert / insert
	existing *sql.Stmt         // parents: which of a JSON array of ids are already there
	delKids  *sql.Stmt         // children: delete the rows of a JSON array of parent ids
}

func (t *table) closeStmts() {
	for _, s := range t.upsert {
		s.Close()
	}
	t.upsert = map[int]*sql.Stmt{}
	if t.existing != nil {
		t.existing.Close()
		t.existing = nil
	}
	if t.delKids != nil {
		t.delKids.Close()
		t.delKids = nil
	}
}

// batchRows is the largest power of two of rows an INSERT of t carries. Pages are split into
// power-of-two batches so that at most log2(maxBatchRows)+1 statements per table are ever prepared.
func (t *table) batchRows() int {
	per := len(t.cols) + 2
	n := 1
	for n*2 <= maxBatchRows && n*2*per <= sqliteMaxVars {
		n *= 2
	}
	return n
}

// batches splits n rows into power-of-two batch sizes, largest first.
func (t *table) batches(n int) []int {
	var out []int
	for size := t.batchRows(); n > 0; {
		for size > n {
			size /= 2
		}
		out = append(out, size)
		n -= size
	}
	return out
}

func sqlType(t catalog.Type) string {
	if t == catalog.Int || t == catalog.Bool {
		return "INTEGER"
	}
	return "TEXT"
}

var reserved = map[string]bool{catalog.ColExtra: true, catalog.ColSyncedAt: true, catalog.ColDeletedAt: true}

// describe checks a catalog table and turns it (and its children) into prepared-table descriptions.
func (d *DB) describe(ct *catalog.Table) (*table, error) {
	if ct == nil || ct.Name == "" {
		return nil, fmt.Errorf("sqlite: a catalog table has no name")
	}
	p := &table{name: ct.Name, phys: quote(d.prefix + ct.Name), parent: true, key: []string{"id"}}
	seen := map[string]bool{}
	for _, c := range ct.Columns {
		if err := checkColumn(ct.Name, c.Name, seen); err != nil {
			return nil, err
		}
		p.cols = append(p.cols, column{name: c.Name, typ: c.Type, key: c.Name == "id"})
	}
	if !seen["id"] || p.cols[indexOf(p.cols, "id")].typ != catalog.Int {
		return nil, fmt.Errorf("sqlite: catalog table %s has no integer id column", ct.Name)
	}
	p.cols = append(p.cols, column{name: catalog.ColExtra, typ: catalog.JSON})
	for _, ch := range ct.Children {
		if ch.Name == "" || ch.ParentKey == "" || len(ch.Key) == 0 {
			return nil, fmt.Errorf("sqlite: a child table of %s lacks a name, parent key or key", ct.Name)
		}
		c := &table{name: ch.Name, phys: quote(d.prefix + ch.Name), key: ch.Key, parentKey: ch.ParentKey}
		seen := map[string]bool{}
		if err := checkColumn(ch.Name, ch.ParentKey, seen); err != nil {
			return nil, err
		}
		c.cols = append(c.cols, column{name: ch.ParentKey, typ: catalog.Int})
		for _, col := range ch.Columns {
			if err := checkColumn(ch.Name, col.Name, seen); err != nil {
				return nil, err
			}
			c.cols = append(c.cols, column{name: col.Name, typ: col.Type})
		}
		// A warehouse made before children kept _extra gets the column from ensure.
		c.cols = append(c.cols, column{name: catalog.ColExtra, typ: catalog.JSON})
		for _, k := range ch.Key {
			i := indexOf(c.cols, k)
			if i < 0 {
				return nil, fmt.Errorf("sqlite: key column %s of %s is not one of its columns", k, ch.Name)
			}
			c.cols[i].key = true
		}
		p.children = append(p.children, c)
	}
	return p, nil
}

func checkColumn(table, name string, seen map[string]bool) error {
	switch {
	case name == "":
		return fmt.Errorf("sqlite: catalog table %s has a column without a name", table)
	case reserved[name]:
		return fmt.Errorf("sqlite: catalog table %s lists the standard column %s; it is added by every destination", table, name)
	case seen[name]:
		return fmt.Errorf("sqlite: catalog table %s lists column %s twice", table, name)
	}
	seen[name] = true
	return nil
}

func indexOf(cols []column, name string) int {
	for i, c := range cols {
		if c.name == name {
			return i
		}
	}
	return -1
}

// allCols is every physical column in statement order.
func (t *table) allCols() []column {
	cols := append([]column(nil), t.cols...)
	cols = append(cols, column{name: catalog.ColSyncedAt, typ: catalog.Timestamp})
	if t.parent {
		cols = append(cols, column{name: catalog.ColDeletedAt, typ: catalog.Timestamp})
	}
	return cols
}

func (t *table) createSQL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", t.phys)
	singleIntKey := len(t.key) == 1 && t.cols[indexOf(t.cols, t.key[0])].typ == catalog.Int
	for i, c := range t.allCols() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c.name) + " " + sqlType(c.typ))
		if c.key || c.name == t.parentKey {
			b.WriteString(" NOT NULL")
		}
		if c.key && singleIntKey {
			// INTEGER PRIMARY KEY makes the id the rowid: no second index, and NOT NULL stops SQLite
			// from inventing an id for a row that lacks one.
			b.WriteString(" PRIMARY KEY")
		}
	}
	if !singleIntKey {
		qs := make([]string, len(t.key))
		for i, k := range t.key {
			qs[i] = quote(k)
		}
		fmt.Fprintf(&b, ", PRIMARY KEY (%s)", strings.Join(qs, ", "))
	}
	b.WriteString(")")
	return b.String()
}

// ensure creates t or adds the columns it lacks, inside tx. Columns are never dropped or retyped.
func (t *table) ensure(ctx context.Context, tx *sql.Tx, prefixedName string) error {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, prefixedName)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		have[n] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(have) == 0 {
		if _, err := tx.ExecContext(ctx, t.createSQL()); err != nil {
			return err
		}
	} else {
		for _, c := range t.allCols() {
			if !have[c.name] {
				stmt := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", t.phys, quote(c.name), sqlType(c.typ))
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return err
				}
			}
		}
	}
	if !t.parent && t.key[0] != t.parentKey {
		idx := quote(strings.Trim(t.phys, `"`) + "_" + t.parentKey + "_idx")
		stmt := fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s)", idx, t.phys, quote(t.parentKey))
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// Prepare creates or evolves the tables, their children and the state tables, in one transaction.
func (d *DB) Prepare(ctx context.Context, tables []*catalog.Table) error {
	var described []*table
	for _, ct := range tables {
		t, err := d.describe(ct)
		if err != nil {
			return err
		}
		described = append(described, t)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: cannot prepare %s: %v", d.path, err)
	}
	defer tx.Rollback()
	for i, t := range described {
		for _, x := range append([]*table{t}, t.children...) {
			if err := x.ensure(ctx, tx, d.prefix+x.name); err != nil {
				return fmt.Errorf("sqlite: cannot create or evolve table %s of %s: %v", d.prefix+x.name, tables[i].Name, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: cannot prepare %s: %v", d.path, err)
	}
	for _, t := range described {
		for _, x := range append([]*table{t}, t.children...) {
			if old := d.tables[x.name]; old != nil {
				old.closeStmts()
			}
			x.upsert = map[int]*sql.Stmt{}
			d.tables[x.name] = x
		}
	}
	return nil
}

// insertSQL is the multi-row statement of n rows: an upsert on id for parents (which also revives a row
// marked deleted), a replacing insert for children.
func (t *table) insertSQL(n int) string {
	var b strings.Builder
	if t.parent {
		b.WriteString("INSERT INTO ")
	} else {
		// REPLACE: a child key seen again (a line moved to another parent, or listed twice) keeps the
		// newest row instead of failing the page forever.
		b.WriteString("INSERT OR REPLACE INTO ")
	}
	b.WriteString(t.phys + " (")
	all := t.allCols()
	for i, c := range all {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c.name))
	}
	b.WriteString(") VALUES ")
	row := "(" + strings.Repeat("?, ", len(t.cols)) + "?"
	if t.parent {
		row += ", NULL"
	}
	row += ")"
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	if t.parent {
		b.WriteString(` ON CONFLICT ("id") DO UPDATE SET `)
		first := true
		for _, c := range all {
			if c.name == "id" {
				continue
			}
			if !first {
				b.WriteString(", ")
			}
			first = false
			b.WriteString(quote(c.name) + " = excluded." + quote(c.name))
		}
	}
	return b.String()
}

// stmts prepares, outside any transaction (the pool has one connection, which a transaction holds),
// every statement a write of these batch sizes needs.
func (d *DB) stmts(ctx context.Context, t *table, sizes []int) error {
	for _, n := range sizes {
		if t.upsert[n] != nil {
			continue
		}
		s, err := d.db.PrepareContext(ctx, t.insertSQL(n))
		if err != nil {
			return err
		}
		t.upsert[n] = s
	}
	var err error
	if t.parent && t.existing == nil {
		t.existing, err = d.db.PrepareContext(ctx, `SELECT "id" FROM `+t.phys+` WHERE "id" IN (SELECT value FROM json_each(?))`)
	}
	if !t.parent && t.delKids == nil {
		t.delKids, err = d.db.PrepareContext(ctx, `DELETE FROM `+t.phys+` WHERE `+quote(t.parentKey)+` IN (SELECT value FROM json_each(?))`)
	}
	return err
}

// lookup returns the prepared table of a catalog name.
func (d *DB) lookup(name string) (*table, error) {
	t := d.tables[name]
	if t == nil {
		return nil, fmt.Errorf("sqlite: table %s was not prepared; call Prepare with it first", name)
	}
	return t, nil
}
