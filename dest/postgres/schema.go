package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// sqlType is the PostgreSQL type of each catalog type; information_schema spells it as infoType.
func sqlType(t catalog.Type) (sql, info string) {
	switch t {
	case catalog.Int:
		return "bigint", "bigint"
	case catalog.Decimal:
		return "numeric", "numeric"
	case catalog.Bool:
		return "boolean", "boolean"
	case catalog.Timestamp:
		return "timestamptz", "timestamp with time zone"
	case catalog.JSON:
		// json, not jsonb: it keeps the API's document byte for byte (jsonb reorders keys and respaces), and
		// every JSON function works on it; cast to jsonb in a query or an index where that is wanted.
		return "json", "json"
	default:
		return "text", "text"
	}
}

type colDef struct {
	name string
	typ  catalog.Type
}

// tablePlan is everything needed to write one warehouse table, computed once per catalog table.
type tablePlan struct {
	name      string   // warehouse name, prefix included
	source    string   // catalog name (the key of dest.Page.Children)
	ident     string   // quoted schema.table
	cols      []colDef // the columns a page writes, in parameter order
	extra     []colDef // columns the table has that a page does not write (_deleted_at)
	key       []string // conflict target
	parentKey string   // children only: the column holding the parent id
	layout    catalog.Layout
	pos       []int // for each of cols, its position in rows of layout (-1: _synced_at)

	upsert string // $1..$n: one array per column
	delete string // children only: delete the children of a list of parents
	copy   string // COPY of cols in binary format

	keyAt    []int // the key's columns, as indexes of cols, in key order
	intKey   bool  // the key is one or two bigint columns (intKey's shape)
	syncedAt int   // index of _synced_at in cols, -1 if none

	children []*tablePlan
}

func (d *DB) plan(t *catalog.Table) *tablePlan {
	// Keyed by content, not pointer: callers may build a fresh *catalog.Table per page.
	sig := signature(t)
	if p, ok := d.plans.Load(sig); ok {
		return p.(*tablePlan)
	}
	p := &tablePlan{name: d.prefix + t.Name, source: t.Name, key: []string{"id"}}
	p.cols = addCols(nil, t.Columns...)
	p.cols = addCols(p.cols, catalog.Column{Name: catalog.ColExtra, Type: catalog.JSON},
		catalog.Column{Name: catalog.ColSyncedAt, Type: catalog.Timestamp})
	p.extra = []colDef{{catalog.ColDeletedAt, catalog.Timestamp}}
	p.place(t.Layout())
	d.finish(p, true)
	for _, c := range t.Children {
		cp := &tablePlan{name: d.prefix + c.Name, source: c.Name, key: c.Key, parentKey: c.ParentKey}
		cp.cols = addCols(nil, catalog.Column{Name: c.ParentKey, Type: catalog.Int})
		cp.cols = addCols(cp.cols, c.Columns...)
		cp.cols = addCols(cp.cols, catalog.Column{Name: catalog.ColExtra, Type: catalog.JSON},
			catalog.Column{Name: catalog.ColSyncedAt, Type: catalog.Timestamp})
		cp.place(c.Layout())
		d.finish(cp, false)
		p.children = append(p.children, cp)
	}
	actual, _ := d.plans.LoadOrStore(sig, p)
	d.sources.Store(t.Name, actual)
	return actual.(*tablePlan)
}

func signature(t *catalog.Table) string {
	// Once per page: built without fmt, which cost more than the lookup it keys.
	b := make([]byte, 0, 512)
	b = append(b, t.Name...)
	cols := func(cs []catalog.Column) {
		for _, c := range cs {
			b = append(b, ',')
			b = append(b, c.Name...)
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(c.Type), 10)
		}
	}
	cols(t.Columns)
	for _, ch := range t.Children {
		b = append(b, ';')
		b = append(b, ch.Name...)
		b = append(b, '<')
		b = append(b, ch.ParentKey...)
		b = append(b, '[')
		for i, k := range ch.Key {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, k...)
		}
		b = append(b, ']')
		cols(ch.Columns)
	}
	return string(b)
}

// place records where each column's value sits in rows of layout. The plan is made from the page's own
// table, so every column of the layout is among the plan's.
func (p *tablePlan) place(layout catalog.Layout) {
	p.layout = layout
	var err error
	if p.pos, err = dest.Positions(p.name, layout, colNames(p.cols)); err != nil {
		panic("postgres: a plan lacks a column of its own table: " + err.Error())
	}
}

func addCols(dst []colDef, cols ...catalog.Column) []colDef {
	for _, c := range cols {
		dup := false
		for _, have := range dst {
			dup = dup || have.name == c.Name
		}
		if !dup {
			dst = append(dst, colDef{c.Name, c.Type})
		}
	}
	return dst
}

// finish builds the SQL of a plan. Parents skip rows whose every value is unchanged (no new row version, no
// WAL) and report inserts through xmax = 0; children are deleted by parent first, and upsert on their key
// only so that a line that moved from a parent outside the page does not fail the page.
func (d *DB) finish(p *tablePlan, parent bool) {
	p.ident = d.ident(p.name)
	insert, list := p.unnestInsert()
	p.upsert = p.upsertSQL(insert, parent)
	if !parent {
		p.delete = fmt.Sprintf("DELETE FROM %s WHERE %s = ANY($1)", p.ident, quote(p.parentKey))
	}
	p.copy = fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT binary)", p.ident, list)
	p.locateKey()
}

// unnestInsert returns the INSERT of a page's rows, and the quoted list of p's columns.
func (p *tablePlan) unnestInsert() (insert, list string) {
	var names, arrays, exprs []string
	for i, c := range p.cols {
		sql, _ := sqlType(c.typ)
		names = append(names, quote(c.name))
		expr := fmt.Sprintf("u%d", i+1)
		switch c.typ {
		case catalog.JSON:
			// JSON travels as text: json[] has no cheap binary element encoding in pgx.
			sql, expr = "text", expr+"::json"
		case catalog.Decimal:
			// Decimals travel as their text, which numeric parses exactly, in C: cheaper than building
			// pgtype.Numeric (a big.Int each) in Go.
			sql, expr = "text", expr+"::numeric"
		}
		arrays = append(arrays, fmt.Sprintf("$%d::%s[]", i+1, sql))
		exprs = append(exprs, expr)
	}
	// Each column travels as one typed array and unnest turns them back into rows: the whole page is one
	// statement per table, all in one pipelined round trip. This replaced COPY into a temp table, measured
	// slower here for 50-row pages: an ON COMMIT DELETE ROWS temp table is truncated at every commit
	// (~1 ms per temp table), and COPY costs round trips of its own.
	list = strings.Join(names, ", ")
	var alias []string
	for i := range p.cols {
		alias = append(alias, fmt.Sprintf("u%d", i+1))
	}
	insert = fmt.Sprintf("INSERT INTO %s AS t (%s) SELECT %s FROM unnest(%s) AS u(%s)", p.ident, list,
		strings.Join(exprs, ", "), strings.Join(arrays, ", "), strings.Join(alias, ", "))
	return insert, list
}

// upsertSQL adds to insert what a row already there gets: see finish.
func (p *tablePlan) upsertSQL(insert string, parent bool) string {
	isKey := map[string]bool{}
	var conflict []string
	for _, k := range p.key {
		isKey[k] = true
		conflict = append(conflict, quote(k))
	}
	var set, old, nu []string
	for _, c := range p.cols {
		if isKey[c.name] {
			continue
		}
		set = append(set, fmt.Sprintf("%s = EXCLUDED.%s", quote(c.name), quote(c.name)))
		if c.name != catalog.ColSyncedAt {
			// As text: json has no equality, and numeric 1.5 = 1.50 although the API changed the text.
			cast := ""
			if c.typ == catalog.JSON || c.typ == catalog.Decimal {
				cast = "::text"
			}
			old = append(old, "t."+quote(c.name)+cast)
			nu = append(nu, "EXCLUDED."+quote(c.name)+cast)
		}
	}
	switch {
	case parent:
		// A re-synced row comes back to life: clearing _deleted_at is part of what makes it "changed".
		set = append(set, quote(catalog.ColDeletedAt)+" = NULL")
		old = append(old, "t."+quote(catalog.ColDeletedAt))
		nu = append(nu, "NULL::timestamptz")
		return fmt.Sprintf("%s ON CONFLICT (%s) DO UPDATE SET %s WHERE ROW(%s) IS DISTINCT FROM ROW(%s) RETURNING (t.xmax = 0)",
			insert, strings.Join(conflict, ", "), strings.Join(set, ", "), strings.Join(old, ", "), strings.Join(nu, ", "))
	case len(p.key) == 0:
		return insert
	case len(set) == 0:
		return fmt.Sprintf("%s ON CONFLICT (%s) DO NOTHING", insert, strings.Join(conflict, ", "))
	default:
		return fmt.Sprintf("%s ON CONFLICT (%s) DO UPDATE SET %s", insert, strings.Join(conflict, ", "), strings.Join(set, ", "))
	}
}

// locateKey records where the key's columns and _synced_at sit among p's columns.
func (p *tablePlan) locateKey() {
	p.keyAt, p.intKey, p.syncedAt = nil, len(p.key) <= 2, -1
	for _, k := range p.key {
		for i, c := range p.cols {
			if c.name == k {
				p.keyAt = append(p.keyAt, i)
				p.intKey = p.intKey && c.typ == catalog.Int
			}
		}
	}
	for i, c := range p.cols {
		if c.name == catalog.ColSyncedAt {
			p.syncedAt = i
		}
	}
}

func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

const (
	stateTable = "_coupa_state"
	runsTable  = "_coupa_runs"
)

// Prepare creates the schema, the state tables and every table, or evolves them: missing columns are added,
// nothing is dropped, and a column of another type is an error naming it. It takes the schema's advisory lock.
func (d *DB) Prepare(ctx context.Context, tables []*catalog.Table) error {
	if err := d.lock(ctx); err != nil {
		return err
	}
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return d.wrap("begin", err)
	}
	defer tx.Rollback(context.Background())

	if err := d.ensureSchema(ctx, tx); err != nil {
		return err
	}
	have, err := d.readColumns(ctx, tx)
	if err != nil {
		return err
	}
	if len(have) > 0 && have[stateTable] == nil {
		return fmt.Errorf("postgres: schema %q holds tables but no %s: it is not a coupa warehouse; choose another schema", d.schema, stateTable)
	}
	if err := d.ensureBookkeeping(ctx, tx, have); err != nil {
		return err
	}
	for _, t := range tables {
		if err := d.ensureTable(ctx, tx, have, d.plan(t)); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return d.wrap("commit the schema", err)
	}
	return nil
}

// ensureSchema creates d's schema unless it exists, explaining the grant a refusal calls for.
func (d *DB) ensureSchema(ctx context.Context, tx pgx.Tx) error {
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", d.schema).Scan(&exists); err != nil {
		return d.wrap("look up the schema", err)
	}
	if exists {
		return nil
	}
	if _, err := tx.Exec(ctx, "CREATE SCHEMA "+quote(d.schema)); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42501" {
			return fmt.Errorf("postgres: no permission to create schema %q: grant CREATE on the database to this role, or create the schema and grant it", d.schema)
		}
		return d.wrap("create schema "+d.schema, err)
	}
	return nil
}

// readColumns returns the schema's tables: table -> column -> information_schema data_type.
func (d *DB) readColumns(ctx context.Context, tx pgx.Tx) (map[string]map[string]string, error) {
	have := map[string]map[string]string{}
	rows, err := tx.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1`, d.schema)
	if err != nil {
		return nil, d.wrap("read the schema", err)
	}
	for rows.Next() {
		var t, c, typ string
		if err := rows.Scan(&t, &c, &typ); err != nil {
			return nil, d.wrap("read the schema", err)
		}
		if have[t] == nil {
			have[t] = map[string]string{}
		}
		have[t][c] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, d.wrap("read the schema", err)
	}
	return have, nil
}

// ensureBookkeeping creates or evolves the state and runs tables; a new runs table numbers its runs itself.
func (d *DB) ensureBookkeeping(ctx context.Context, tx pgx.Tx, have map[string]map[string]string) error {
	stateDefs := []colDef{{"prefix", catalog.String}, {"table_name", catalog.String}, {"version", catalog.Int},
		{"cursor", catalog.String}, {"window", catalog.JSON}, {"updated_at", catalog.String}}
	if err := d.ensure(ctx, tx, have, stateTable, stateDefs, nil, "PRIMARY KEY (\"prefix\", \"table_name\")", ""); err != nil {
		return err
	}
	runCols := []colDef{{"id", catalog.Int}, {"prefix", catalog.String}, {"started", catalog.Timestamp},
		{"finished", catalog.Timestamp}, {"status", catalog.String}, {"tables", catalog.JSON},
		{"summary", catalog.String}, {"error", catalog.String}}
	newRuns := have[runsTable] == nil
	if err := d.ensure(ctx, tx, have, runsTable, runCols, nil, "PRIMARY KEY (\"id\")", ""); err != nil {
		return err
	}
	if newRuns {
		if _, err := tx.Exec(ctx, "ALTER TABLE "+d.ident(runsTable)+" ALTER COLUMN \"id\" ADD GENERATED BY DEFAULT AS IDENTITY"); err != nil {
			return d.wrap("create "+runsTable, err)
		}
	}
	return nil
}

// ensureTable creates or evolves a catalog table's warehouse table and its children's; a child whose key
// does not start with its parent key gets an index on it, for the delete by parent.
func (d *DB) ensureTable(ctx context.Context, tx pgx.Tx, have map[string]map[string]string, p *tablePlan) error {
	if err := d.ensure(ctx, tx, have, p.name, p.cols, p.extra, pkClause(p.key), ""); err != nil {
		return err
	}
	for _, c := range p.children {
		idx := ""
		if len(c.key) == 0 || c.key[0] != c.parentKey {
			idx = c.parentKey
		}
		if err := d.ensure(ctx, tx, have, c.name, c.cols, nil, pkClause(c.key), idx); err != nil {
			return err
		}
	}
	return nil
}

func pkClause(key []string) string {
	if len(key) == 0 {
		return ""
	}
	var q []string
	for _, k := range key {
		q = append(q, quote(k))
	}
	return "PRIMARY KEY (" + strings.Join(q, ", ") + ")"
}

// ensure creates table or adds its missing columns, and refuses a column whose type would lose data.
func (d *DB) ensure(ctx context.Context, tx pgx.Tx, have map[string]map[string]string, table string, cols, extra []colDef, pk, indexOn string) error {
	all := append(append([]colDef(nil), cols...), extra...)
	existing := have[table]
	if existing == nil {
		var defs []string
		for _, c := range all {
			sql, _ := sqlType(c.typ)
			defs = append(defs, quote(c.name)+" "+sql)
		}
		if pk != "" {
			defs = append(defs, pk)
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", d.ident(table), strings.Join(defs, ", "))); err != nil {
			return d.wrap("create table "+table, err)
		}
		if indexOn != "" {
			name := truncate(table+"_"+indexOn+"_idx", 63)
			if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s)", quote(name), d.ident(table), quote(indexOn))); err != nil {
				return d.wrap("index "+table, err)
			}
		}
		return nil
	}
	for _, c := range all {
		sql, info := sqlType(c.typ)
		got, ok := existing[c.name]
		if !ok {
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", d.ident(table), quote(c.name), sql)); err != nil {
				return d.wrap("add column "+table+"."+c.name, err)
			}
			continue
		}
		if got != info && !(info == "text" && got == "character varying") && !(info == "json" && got == "jsonb") {
			return fmt.Errorf("postgres: column %s.%s.%s has type %s, coupa needs %s: alter or drop that column, or sync into another schema",
				d.schema, table, c.name, got, sql)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
