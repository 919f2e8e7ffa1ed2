package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// WritePage upserts the page's parents, replaces their children and saves p.State in one transaction.
func (d *DB) WritePage(ctx context.Context, p *dest.Page) (dest.WriteStats, error) {
	pr, err := d.rowsOf(d.plan(p.Table), p, false)
	if err != nil {
		return dest.WriteStats{}, err
	}
	pb := pr.upsertBatch()
	if p.State != nil {
		q, args, err := d.stateUpsert(p.State)
		if err != nil {
			return dest.WriteStats{}, err
		}
		pb.batch.Queue(q, args...)
	}
	if pb.batch.Len() == 0 {
		return dest.WriteStats{}, ctx.Err()
	}
	// One pipelined round trip, run by the server as one implicit transaction: any failure rolls back all of it.
	if err := d.pool.SendBatch(ctx, pb.batch).Close(); err != nil {
		return dest.WriteStats{}, d.wrap("write page of "+pb.table, err)
	}
	d.fresh.written(pb.table, pr.ids)
	return pb.stats(), nil
}

// StageLimit: two pages at once keep a server core busy with one page while the other is encoded, sent
// or committed; more only queue up on a two-core machine and hold connections.
func (d *DB) StageLimit() int { return 2 }

// StagePage writes the page in a transaction it keeps open on a connection of its own until Commit or
// Rollback: by COPY when every parent of the page is new to the table (see copy.go), else by BEGIN and
// the upsert statements pipelined in one round trip.
func (d *DB) StagePage(ctx context.Context, p *dest.Page) (dest.Staged, error) {
	plan := d.plan(p.Table)
	// Which way the page goes decides how its rows are checked: into COPY's form, or into the values
	// the upsert takes. Before taking this page's connection: the first call per table reads the
	// table's highest id on another one.
	fresh := false
	if ids, ok := parentIDs(plan, p.Rows); ok {
		var err error
		if fresh, err = d.fresh.allNew(ctx, d, plan, ids); err != nil {
			return nil, err
		}
	}
	pr, err := d.rowsOf(plan, p, fresh)
	if err != nil {
		return nil, err
	}
	if fresh {
		s, retry, err := d.stageCopy(ctx, pr)
		pr.release()
		if !retry {
			return s, err
		}
		// A row was there after all (a line that moved between parents), or a value COPY's text cannot
		// carry: the upsert handles both or names the value.
	}
	for attempt := 1; ; attempt++ {
		s, err := d.stageUpsert(ctx, pr)
		// Two pages staged at once can deadlock when lines moved between their parents in opposite
		// directions; the server aborts one, which is then simply run again.
		if err == nil || !isRetryable(err) || attempt == 3 {
			return s, err
		}
	}
}

// stageCopy stages pr by COPY; retry reports a failure the upsert may not have (the transaction is
// rolled back and the connection back in the pool).
func (d *DB) stageCopy(ctx context.Context, pr *pageRows) (s dest.Staged, retry bool, err error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, false, d.wrap("acquire a connection", err)
	}
	err = copyPage(ctx, conn, pr)
	if err == nil {
		d.copied.Add(1)
		pb := &pageBatch{table: pr.plan.name, parents: len(pr.ids), inserted: len(pr.ids), children: pr.childCount()}
		return &stagedPage{d: d, conn: conn, pb: pb, ids: pr.ids}, false, nil
	}
	if (isUniqueViolation(err) || isDataException(err)) && rollback(ctx, conn) {
		conn.Release()
		return nil, true, nil
	}
	conn.Conn().Close(context.Background())
	conn.Release()
	return nil, false, d.wrap("write page of "+pr.plan.name, err)
}

func (d *DB) stageUpsert(ctx context.Context, pr *pageRows) (dest.Staged, error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, d.wrap("acquire a connection", err)
	}
	pb := pr.upsertBatch()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.QueuedQueries = append(b.QueuedQueries, pb.batch.QueuedQueries...)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		// The connection may be left inside a failed transaction: drop it rather than pool it.
		conn.Conn().Close(context.Background())
		conn.Release()
		return nil, d.wrap("write page of "+pb.table, err)
	}
	return &stagedPage{d: d, conn: conn, pb: pb, ids: pr.ids}, nil
}

// stagedPage is a page written in a transaction that is still open on conn.
type stagedPage struct {
	d    *DB
	conn *pgxpool.Conn // nil once committed or rolled back
	pb   *pageBatch
	ids  []int64 // its parents, recorded as written once committed
}

func (s *stagedPage) Commit(ctx context.Context, st *dest.State) (dest.WriteStats, error) {
	if s.conn == nil {
		return dest.WriteStats{}, errors.New("postgres: staged page already committed or rolled back")
	}
	b := &pgx.Batch{}
	if st != nil {
		q, args, err := s.d.stateUpsert(st)
		if err != nil {
			s.Rollback()
			return dest.WriteStats{}, err
		}
		b.Queue(q, args...)
	}
	b.Queue("COMMIT")
	err := s.conn.SendBatch(ctx, b).Close()
	if err == nil && s.conn.Conn().PgConn().TxStatus() != 'I' {
		// COMMIT of a transaction that had failed answers ROLLBACK without an error.
		err = errors.New("the transaction was rolled back")
	}
	if err != nil {
		s.conn.Conn().Close(context.Background())
		s.conn.Release()
		s.conn = nil
		return dest.WriteStats{}, s.d.wrap("commit page of "+s.pb.table, err)
	}
	s.conn.Release()
	s.conn = nil
	s.d.fresh.written(s.pb.table, s.ids)
	return s.pb.stats(), nil
}

func (s *stagedPage) Rollback() {
	if s.conn == nil {
		return
	}
	if _, err := s.conn.Exec(context.Background(), "ROLLBACK"); err != nil {
		s.conn.Conn().Close(context.Background())
	}
	s.conn.Release()
	s.conn = nil
}

// pageBatch is a page's statements, validated and encoded, and what they report once run.
type pageBatch struct {
	table    string
	batch    *pgx.Batch
	parents  int
	inserted int // parents the upsert inserted (filled in as its result is read)
	children int
}

func (pb *pageBatch) stats() dest.WriteStats {
	return dest.WriteStats{Inserted: pb.inserted, Updated: pb.parents - pb.inserted, Children: pb.children}
}

// pageRows is a page validated, with its rows in COPY's binary form when encoded.
type pageRows struct {
	plan     *tablePlan
	synced   time.Time
	parents  *tableRows
	ids      []int64      // parent ids, one per kept parent row
	children []*tableRows // per child plan
}

// rowsOf validates p, and with encode also writes its rows for COPY (release them after). Everything is
// validated before anything is sent: a bad page costs no round trip.
func (d *DB) rowsOf(plan *tablePlan, p *dest.Page, encode bool) (*pageRows, error) {
	synced := p.SyncedAt.UTC()
	if p.SyncedAt.IsZero() {
		synced = time.Now().UTC()
	}
	// Last row of an id wins: ON CONFLICT refuses to touch one row twice in a statement, and COPY would
	// break the key.
	parents, err := encodeParents(plan, p.Rows, synced, encode)
	if err != nil {
		return nil, err
	}
	pr := &pageRows{plan: plan, synced: synced, parents: parents, ids: make([]int64, len(parents.keys))}
	for i, k := range parents.keys {
		pr.ids[i] = k.a
	}
	sorted := pr.ids
	if !slices.IsSorted(sorted) {
		sorted = slices.Clone(sorted)
		slices.Sort(sorted)
	}
	for name := range p.Children {
		if plan.child(name) == nil {
			pr.release()
			return nil, fmt.Errorf("postgres: page of %s has rows for %s, which is not one of its child tables", plan.name, name)
		}
	}
	pr.children = make([]*tableRows, 0, len(plan.children))
	for _, cp := range plan.children {
		c, err := encodeChildren(cp, p.Children[cp.source], sorted, synced, encode)
		if err != nil {
			pr.release()
			return nil, err
		}
		pr.children = append(pr.children, c)
	}
	return pr, nil
}

// parentIDs are the ids of a page's parent rows, unchecked but for their place and type; false when a
// row has none (rowsOf then refuses the page).
func parentIDs(plan *tablePlan, rows []catalog.Row) ([]int64, bool) {
	idAt := plan.layout.Index("id")
	ids := make([]int64, len(rows))
	for n, r := range rows {
		if len(r) != len(plan.layout) {
			return nil, false
		}
		switch id := r[idAt].(type) {
		case int64:
			ids[n] = id
		case int:
			ids[n] = int64(id)
		default:
			return nil, false
		}
	}
	return ids, true
}

// release returns the page's COPY buffers.
func (pr *pageRows) release() {
	pr.parents.release()
	for _, c := range pr.children {
		c.release()
	}
}

func (pr *pageRows) childCount() int {
	n := 0
	for _, c := range pr.children {
		n += len(c.rows)
	}
	return n
}

// upsertBatch upserts the page's parents and replaces their children.
func (pr *pageRows) upsertBatch() *pageBatch {
	plan := pr.plan
	pb := &pageBatch{table: plan.name, batch: &pgx.Batch{}, parents: len(pr.ids), children: pr.childCount()}
	if len(pr.parents.rows) > 0 {
		pb.batch.Queue(plan.upsert, columns(pr.values(pr.parents), plan.cols)...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var inserted bool
				if err := rows.Scan(&inserted); err != nil {
					return err
				}
				if inserted {
					pb.inserted++
				}
			}
			return rows.Err()
		})
	}
	for i, cp := range plan.children {
		if len(pr.ids) > 0 {
			pb.batch.Queue(cp.delete, pr.ids)
		}
		if c := pr.children[i]; len(c.rows) > 0 {
			pb.batch.Queue(cp.upsert, columns(pr.values(c), cp.cols)...)
		}
	}
	return pb
}

// columns transposes rows into one typed array per column, the shape unnest takes. Typed element values
// (not []any) let pgx pick one encoder per column instead of one per value: a third of the page's CPU.
func columns(rows [][]any, cols []colDef) []any {
	out := make([]any, len(cols))
	for c, def := range cols {
		switch def.typ {
		case catalog.Int:
			a := make(pgtype.FlatArray[pgtype.Int8], len(rows))
			for r, row := range rows {
				if v, ok := row[c].(int64); ok {
					a[r] = pgtype.Int8{Int64: v, Valid: true}
				}
			}
			out[c] = a
		case catalog.Bool:
			a := make(pgtype.FlatArray[pgtype.Bool], len(rows))
			for r, row := range rows {
				if v, ok := row[c].(bool); ok {
					a[r] = pgtype.Bool{Bool: v, Valid: true}
				}
			}
			out[c] = a
		case catalog.Timestamp:
			a := make(pgtype.FlatArray[pgtype.Timestamptz], len(rows))
			for r, row := range rows {
				if v, ok := row[c].(time.Time); ok {
					a[r] = pgtype.Timestamptz{Time: v, Valid: true}
				}
			}
			out[c] = a
		default:
			a := make(pgtype.FlatArray[pgtype.Text], len(rows))
			for r, row := range rows {
				if v, ok := row[c].(string); ok {
					a[r] = pgtype.Text{String: v, Valid: true}
				}
			}
			out[c] = a
		}
	}
	return out
}

func (p *tablePlan) child(source string) *tablePlan {
	for _, c := range p.children {
		if c.source == source {
			return c
		}
	}
	return nil
}

func colNames(cols []colDef) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}

// values converts t's kept rows, checked by rowsOf, to column values in plan order for the upsert.
func (pr *pageRows) values(t *tableRows) [][]any {
	if t.vals != nil {
		return t.vals
	}
	out := make([][]any, len(t.rows))
	for i, r := range t.rows {
		var err error
		if out[i], err = values(t.plan, r, pr.synced); err != nil {
			panic("postgres: a checked row fails its check again: " + err.Error())
		}
	}
	return out
}

// values converts r, a row of the plan's layout, in the plan's column order.
func values(plan *tablePlan, r catalog.Row, synced time.Time) ([]any, error) {
	vals := make([]any, len(plan.cols))
	for i, c := range plan.cols {
		j := plan.pos[i]
		if j < 0 {
			if c.name == catalog.ColSyncedAt {
				vals[i] = synced
			}
			continue
		}
		v, err := dest.Normalize(c.typ, r[j])
		if err != nil {
			return nil, fmt.Errorf("column %s: %v", c.name, err)
		}
		vals[i] = v
	}
	return vals, nil
}

// LiveIDs lists the ids of table's rows not marked deleted, ascending.
func (d *DB) LiveIDs(ctx context.Context, table string) ([]int64, error) {
	rows, err := d.pool.Query(ctx, fmt.Sprintf("SELECT id FROM %s WHERE %s IS NULL ORDER BY id", d.ident(d.prefix+table), quote(catalog.ColDeletedAt)))
	if err != nil {
		return nil, d.wrap("list ids of "+d.prefix+table, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, d.wrap("list ids of "+d.prefix+table, err)
	}
	return ids, nil
}

// MaxID is the highest id of table, deleted rows included (0 when empty): dest.MaxIDer.
func (d *DB) MaxID(ctx context.Context, table string) (int64, error) {
	var id *int64
	if err := d.pool.QueryRow(ctx, fmt.Sprintf("SELECT max(id) FROM %s", d.ident(d.prefix+table))).Scan(&id); err != nil {
		return 0, d.wrap("read the highest id of "+d.prefix+table, err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// MarkDeleted sets _deleted_at on those ids in one statement.
func (d *DB) MarkDeleted(ctx context.Context, table string, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := d.pool.Exec(ctx, fmt.Sprintf("UPDATE %s SET %s = $2 WHERE id = ANY($1)", d.ident(d.prefix+table), quote(catalog.ColDeletedAt)), ids, at.UTC())
	if err != nil {
		return d.wrap("mark deleted in "+d.prefix+table, err)
	}
	return nil
}
