package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
)

// bindRows converts rows of layout into the flat argument list of t's insert statements (all columns of a
// row, then _synced_at) after checking them against the row rules of package dest. Doing it before the
// transaction keeps the write lock short and turns a bad row into an error before anything is written.
func bindRows(t *table, layout catalog.Layout, rows []catalog.Row, syncedAt string) ([]any, error) {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.name
	}
	pos, err := dest.Positions(t.name, layout, names)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %v", err)
	}
	per := len(t.cols) + 1
	args := make([]any, 0, len(rows)*per)
	for i, r := range rows {
		if err := dest.CheckRow(t.name, i, r, layout); err != nil {
			return nil, fmt.Errorf("sqlite: %v", err)
		}
		for j, c := range t.cols {
			var raw any
			if pos[j] >= 0 {
				raw = r[pos[j]]
			}
			v, err := dest.Normalize(c.typ, raw)
			if err != nil {
				return nil, fmt.Errorf("sqlite: %s row %d, column %s: %v", t.name, i, c.name, err)
			}
			if v == nil && c.key {
				return nil, fmt.Errorf("sqlite: %s row %d has no %s; every row needs its key", t.name, i, c.name)
			}
			switch x := v.(type) {
			case bool:
				if x {
					v = int64(1)
				} else {
					v = int64(0)
				}
			case time.Time:
				v = formatTS(x)
			}
			args = append(args, v)
		}
		args = append(args, syncedAt)
	}
	return args, nil
}

// idsJSON renders ids as a JSON array, the single parameter the IN (json_each(?)) statements take: one
// cached statement then serves any number of ids.
func idsJSON(ids []int64) string {
	b := make([]byte, 0, len(ids)*8+2)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

// WritePage commits a page's parents, the complete new set of their children (every child table of the
// page's table is cleared for those parents, listed in p.Children or not) and p.State in one transaction.
func (d *DB) WritePage(ctx context.Context, p *dest.Page) (dest.WriteStats, error) {
	var st dest.WriteStats
	if p == nil || p.Table == nil {
		return st, errors.New("sqlite: WritePage needs a page with its table")
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	synced := p.SyncedAt
	if synced.IsZero() {
		synced = time.Now()
	}
	syncedAt := formatTS(synced)

	// Rows are checked and converted outside the lock, so that concurrent partitions convert their pages
	// on other cores while one of them holds the write lock.
	d.mu.Lock()
	t, err := d.lookup(p.Table.Name)
	d.mu.Unlock()
	if err != nil {
		return st, err
	}
	if !t.parent {
		return st, fmt.Errorf("sqlite: %s is a child table; write pages of its parent", t.name)
	}
	b, err := d.bindPage(t, p, syncedAt)
	if err != nil {
		return st, err
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tables[t.name] != t {
		return st, fmt.Errorf("sqlite: %s was prepared again while a page was being written; write the page again", t.name)
	}
	if err := d.prepareBatches(ctx, t, &b); err != nil {
		return st, err
	}
	return d.commitPage(ctx, t, &b)
}

// boundPage is a page checked and converted into its statements' arguments, ready for the transaction.
type boundPage struct {
	parentArgs []any   // the parent rows, flat as bindRows makes them
	parentRows int     // rows in parentArgs, repeated ids included
	ids        []int64 // the parents' distinct ids, in page order
	kidArgs    [][]any // the rows of each of the table's children, flat
	kidRows    []int   // rows in each of kidArgs
	stateArgs  []any   // upsertStateSQL's arguments; nil for a page without a state
}

// bindPage checks and converts everything the page writes; it needs no lock, t being a prepared table.
func (d *DB) bindPage(t *table, p *dest.Page, syncedAt string) (boundPage, error) {
	b := boundPage{parentRows: len(p.Rows)}
	var err error
	if b.parentArgs, err = bindRows(t, p.Table.Layout(), p.Rows, syncedAt); err != nil {
		return b, err
	}
	isParent := make(map[int64]bool, len(p.Rows))
	b.ids = make([]int64, 0, len(p.Rows))
	per := len(t.cols) + 1
	idAt := indexOf(t.cols, "id")
	for i := range p.Rows {
		id := b.parentArgs[i*per+idAt] // bound, so an int64
		if !isParent[id.(int64)] {
			isParent[id.(int64)] = true
			b.ids = append(b.ids, id.(int64))
		}
	}
	if b.kidArgs, b.kidRows, err = bindChildren(t, p, isParent, syncedAt); err != nil {
		return b, err
	}
	if p.State != nil {
		if b.stateArgs, err = d.stateArgs(p.State); err != nil {
			return b, err
		}
	}
	return b, nil
}

// bindChildren binds the page's child rows by t's child tables, refusing rows of a table t lacks and
// rows whose parent is not in the page.
func bindChildren(t *table, p *dest.Page, isParent map[int64]bool, syncedAt string) (kidArgs [][]any, kidRows []int, err error) {
	kidArgs = make([][]any, len(t.children))
	kidRows = make([]int, len(t.children))
	for name, rows := range p.Children {
		ci := -1
		for i, c := range t.children {
			if c.name == name {
				ci = i
			}
		}
		if ci < 0 {
			return nil, nil, fmt.Errorf("sqlite: page of %s has rows for %s, which is not one of its child tables", t.name, name)
		}
		c := t.children[ci]
		layout, _ := p.ChildLayout(name)
		if kidArgs[ci], err = bindRows(c, layout, rows, syncedAt); err != nil {
			return nil, nil, err
		}
		per, pk := len(c.cols)+1, indexOf(c.cols, c.parentKey)
		for i := range rows {
			if pid := kidArgs[ci][i*per+pk]; pid == nil || !isParent[pid.(int64)] {
				return nil, nil, fmt.Errorf("sqlite: %s row %d has %s %v, which is not a parent in this page", name, i, c.parentKey, pid)
			}
		}
		kidRows[ci] = len(rows)
	}
	return kidArgs, kidRows, nil
}

// prepareBatches makes sure the insert statements of the page's batch sizes exist. Call with d.mu held.
func (d *DB) prepareBatches(ctx context.Context, t *table, b *boundPage) error {
	if err := d.stmts(ctx, t, t.batches(b.parentRows)); err != nil {
		return fmt.Errorf("sqlite: cannot prepare statements for %s: %v", t.name, err)
	}
	for i, c := range t.children {
		if err := d.stmts(ctx, c, c.batches(b.kidRows[i])); err != nil {
			return fmt.Errorf("sqlite: cannot prepare statements for %s: %v", c.name, err)
		}
	}
	return nil
}

// commitPage writes a bound page in one transaction: parents, their children replaced, the state.
// Call with d.mu held.
func (d *DB) commitPage(ctx context.Context, t *table, b *boundPage) (dest.WriteStats, error) {
	var st dest.WriteStats
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("sqlite: cannot begin a transaction on %s: %v", d.path, err)
	}
	defer tx.Rollback()
	if len(b.ids) > 0 {
		existing, err := existingIDs(ctx, tx.StmtContext(ctx, t.existing), b.ids)
		if err != nil {
			return st, fmt.Errorf("sqlite: cannot read existing ids of %s: %v", t.name, err)
		}
		st.Inserted = len(b.ids) - existing
		st.Updated = existing
	}
	if err := execBatches(ctx, tx, t, b.parentArgs, b.parentRows); err != nil {
		return st, fmt.Errorf("sqlite: cannot write %s: %v", t.name, err)
	}
	if len(b.ids) > 0 {
		idList := idsJSON(b.ids)
		for i, c := range t.children {
			if _, err := tx.StmtContext(ctx, c.delKids).ExecContext(ctx, idList); err != nil {
				return st, fmt.Errorf("sqlite: cannot replace rows of %s: %v", c.name, err)
			}
			if err := execBatches(ctx, tx, c, b.kidArgs[i], b.kidRows[i]); err != nil {
				return st, fmt.Errorf("sqlite: cannot write %s: %v", c.name, err)
			}
			st.Children += b.kidRows[i]
		}
	}
	if b.stateArgs != nil {
		if _, err := tx.ExecContext(ctx, upsertStateSQL, b.stateArgs...); err != nil {
			return st, fmt.Errorf("sqlite: cannot save the state of %s: %v", t.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return dest.WriteStats{}, fmt.Errorf("sqlite: cannot commit a page of %s: %v", t.name, err)
	}
	return st, nil
}

func existingIDs(ctx context.Context, stmt *sql.Stmt, ids []int64) (int, error) {
	rows, err := stmt.QueryContext(ctx, idsJSON(ids))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

// execBatches runs t's insert statements over args (n rows), in the power-of-two batches of t.batches.
func execBatches(ctx context.Context, tx *sql.Tx, t *table, args []any, n int) error {
	per := len(t.cols) + 1
	off := 0
	for _, size := range t.batches(n) {
		if _, err := tx.StmtContext(ctx, t.upsert[size]).ExecContext(ctx, args[off*per:(off+size)*per]...); err != nil {
			return err
		}
		off += size
	}
	return nil
}

const upsertStateSQL = `INSERT INTO "_coupa_state" ("prefix", "table_name", "version", "cursor", "window", "updated_at")
	VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT ("prefix", "table_name") DO UPDATE SET "version" = excluded."version",
	"cursor" = excluded."cursor", "window" = excluded."window", "updated_at" = excluded."updated_at"`

// stateArgs renders s for upsertStateSQL. The state key includes the prefix, so that two prefixes
// synced into one file keep separate progress.
func (d *DB) stateArgs(s *dest.State) ([]any, error) {
	if s.Table == "" {
		return nil, errors.New("sqlite: a state without a table name cannot be saved")
	}
	w, err := dest.EncodeWindow(s.Window)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot encode the window of %s: %v", s.Table, err)
	}
	v := s.Version
	if v == 0 {
		v = dest.StateVersion
	}
	at := s.UpdatedAt
	if at.IsZero() {
		at = time.Now()
	}
	return []any{d.prefix, s.Table, v, nullString(dest.FormatTime(s.Cursor)), nullString(w), dest.FormatTime(at)}, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// SaveState commits s alone.
func (d *DB) SaveState(ctx context.Context, s *dest.State) error {
	if s == nil {
		return errors.New("sqlite: SaveState needs a state")
	}
	args, err := d.stateArgs(s)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.db.ExecContext(ctx, upsertStateSQL, args...); err != nil {
		return fmt.Errorf("sqlite: cannot save the state of %s: %v", s.Table, err)
	}
	return nil
}

// LoadState returns the state of table, nil when there is none, and a *dest.StateVersionError when a newer
// coupa wrote it.
func (d *DB) LoadState(ctx context.Context, table string) (*dest.State, error) {
	row := d.db.QueryRowContext(ctx, `SELECT "table_name", "version", "cursor", "window", "updated_at"
		FROM "_coupa_state" WHERE "prefix" = ? AND "table_name" = ?`, d.prefix, table)
	s, err := d.scanState(row.Scan, true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return s, err
}

// States lists the states of this prefix, newer versions included (for display; their window is not
// decoded, and Version says why).
func (d *DB) States(ctx context.Context) ([]*dest.State, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT "table_name", "version", "cursor", "window", "updated_at"
		FROM "_coupa_state" WHERE "prefix" = ? ORDER BY "table_name"`, d.prefix)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot read %s: %v", stateTable, err)
	}
	defer rows.Close()
	var out []*dest.State
	for rows.Next() {
		s, err := d.scanState(rows.Scan, false)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (d *DB) scanState(scan func(...any) error, refuseNewer bool) (*dest.State, error) {
	var name, updated string
	var cursor, window sql.NullString
	s := &dest.State{}
	if err := scan(&name, &s.Version, &cursor, &window, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("sqlite: cannot read %s: %v", stateTable, err)
	}
	s.Table = name
	if err := dest.CheckStateVersion(s); err != nil {
		if refuseNewer {
			return nil, err
		}
		return s, nil
	}
	var err error
	if s.Cursor, err = dest.ParseTime(cursor.String); err != nil {
		return nil, fmt.Errorf("sqlite: state of %s: %v; run `coupa state reset %s`", s.Table, err, s.Table)
	}
	if s.UpdatedAt, err = dest.ParseTime(updated); err != nil {
		return nil, fmt.Errorf("sqlite: state of %s: %v; run `coupa state reset %s`", s.Table, err, s.Table)
	}
	if s.Window, err = dest.DecodeWindow(window.String); err != nil {
		return nil, fmt.Errorf("sqlite: state of %s: %v; run `coupa state reset %s`", s.Table, err, s.Table)
	}
	return s, nil
}

// ResetState forgets the state of table, or of every table of this prefix when table is "".
func (d *DB) ResetState(ctx context.Context, table string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var err error
	if table == "" {
		_, err = d.db.ExecContext(ctx, `DELETE FROM "_coupa_state" WHERE "prefix" = ?`, d.prefix)
	} else {
		_, err = d.db.ExecContext(ctx, `DELETE FROM "_coupa_state" WHERE "prefix" = ? AND "table_name" = ?`, d.prefix, table)
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot reset state: %v", err)
	}
	return nil
}

// physParent is the quoted physical name of a parent table, prepared or not (LiveIDs may run before
// Prepare in a reconcile-only run).
func (d *DB) physParent(table string) (string, error) {
	if t := d.tables[table]; t != nil {
		if !t.parent {
			return "", fmt.Errorf("sqlite: %s is a child table; ids and deletes are tracked on its parent", table)
		}
		return t.phys, nil
	}
	return quote(d.prefix + table), nil
}

// LiveIDs lists the ids of table not marked deleted, ascending.
func (d *DB) LiveIDs(ctx context.Context, table string) ([]int64, error) {
	d.mu.Lock()
	phys, err := d.physParent(table)
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT "id" FROM `+phys+` WHERE "_deleted_at" IS NULL ORDER BY "id"`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list ids of %s: %v", table, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: cannot list ids of %s: %v", table, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// MaxID is the highest id of table, deleted rows included (0 when empty): dest.MaxIDer.
func (d *DB) MaxID(ctx context.Context, table string) (int64, error) {
	d.mu.Lock()
	phys, err := d.physParent(table)
	d.mu.Unlock()
	if err != nil {
		return 0, err
	}
	var id sql.NullInt64
	if err := d.db.QueryRowContext(ctx, `SELECT max("id") FROM `+phys).Scan(&id); err != nil {
		return 0, fmt.Errorf("sqlite: cannot read the highest id of %s: %v", table, err)
	}
	return id.Int64, nil
}

// MarkDeleted sets _deleted_at on the given ids that are not already marked: the first time a row was
// seen gone is kept, which is the closer estimate of when it was deleted.
func (d *DB) MarkDeleted(ctx context.Context, table string, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if at.IsZero() {
		at = time.Now()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	phys, err := d.physParent(table)
	if err != nil {
		return err
	}
	// One statement is one transaction; json_each keeps it a single bound parameter however many ids.
	_, err = d.db.ExecContext(ctx, `UPDATE `+phys+` SET "_deleted_at" = ? WHERE "_deleted_at" IS NULL
		AND "id" IN (SELECT value FROM json_each(?))`, formatTS(at), idsJSON(ids))
	if err != nil {
		return fmt.Errorf("sqlite: cannot mark deleted rows of %s: %v", table, err)
	}
	return nil
}

// StartRun records r as running and sets r.ID.
func (d *DB) StartRun(ctx context.Context, r *dest.Run) (int64, error) {
	if r.Started.IsZero() {
		r.Started = time.Now()
	}
	if r.Status == "" {
		r.Status = "running"
	}
	tables, _ := json.Marshal(r.Tables)
	d.mu.Lock()
	defer d.mu.Unlock()
	res, err := d.db.ExecContext(ctx, `INSERT INTO "_coupa_runs" ("started", "status", "tables", "summary", "error")
		VALUES (?, ?, ?, ?, ?)`, dest.FormatTime(r.Started), r.Status, string(tables), nullString(r.Summary), nullString(r.Error))
	if err != nil {
		return 0, fmt.Errorf("sqlite: cannot record the run: %v", err)
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return 0, fmt.Errorf("sqlite: cannot record the run: %v", err)
	}
	return r.ID, nil
}

// FinishRun records the end of run r.ID.
func (d *DB) FinishRun(ctx context.Context, r *dest.Run) error {
	if r.Finished.IsZero() {
		r.Finished = time.Now()
	}
	tables, _ := json.Marshal(r.Tables)
	d.mu.Lock()
	defer d.mu.Unlock()
	res, err := d.db.ExecContext(ctx, `UPDATE "_coupa_runs" SET "finished" = ?, "status" = ?, "tables" = ?, "summary" = ?,
		"error" = ? WHERE "id" = ?`, dest.FormatTime(r.Finished), r.Status, string(tables), nullString(r.Summary), nullString(r.Error), r.ID)
	if err != nil {
		return fmt.Errorf("sqlite: cannot record the end of run %d: %v", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("sqlite: run %d is not recorded in %s; start it with StartRun", r.ID, runsTable)
	}
	return nil
}
