package parquet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// tablePlan is one warehouse table's Parquet schema and column positions.
type tablePlan struct {
	name      string // warehouse name, prefix included
	source    string // catalog name
	parent    bool
	parentKey string
	key       []string
	cols      []catalog.Column // catalog columns + _extra (what a row may carry)
	schema    *pq.Schema
	index     map[string]int // column name -> leaf index in schema
	colIdx    []int          // leaf index of each of cols
	layout    catalog.Layout // of the rows a page brings
	pos       []int          // position of each of cols in those rows (-1: a column the rows lack)
	keyPos    []int          // position of each key column in those rows (-1: the layout lacks it)
	// leaf indexes of the columns every row gets from the writer, not from the page
	syncedIdx, opIdx, versionIdx, deletedIdx int
	kinds                                    []colKind // of each of cols
	leafKinds                                []colKind // of each leaf column of schema
	children                                 []*tablePlan
}

// plan returns the table's plan, cached by content: one schema object per table version keeps a run's
// pages in one part (callers may build a fresh *catalog.Table per page). Call with d.mu held.
func (d *Dir) plan(t *catalog.Table) *tablePlan {
	sig := signature(t)
	if p := d.planCache[sig]; p != nil {
		return p
	}
	p := &tablePlan{name: d.prefix + t.Name, source: t.Name, parent: true, key: []string{"id"}}
	p.cols = addCols(nil, t.Columns...)
	p.cols = addCols(p.cols, catalog.Column{Name: catalog.ColExtra, Type: catalog.JSON})
	p.build(t.Layout())
	for _, c := range t.Children {
		cp := &tablePlan{name: d.prefix + c.Name, source: c.Name, parentKey: c.ParentKey, key: c.Key}
		cp.cols = addCols(nil, catalog.Column{Name: c.ParentKey, Type: catalog.Int})
		cp.cols = addCols(cp.cols, c.Columns...)
		cp.cols = addCols(cp.cols, catalog.Column{Name: catalog.ColExtra, Type: catalog.JSON})
		cp.build(c.Layout())
		p.children = append(p.children, cp)
	}
	d.planCache[sig] = p
	return p
}

func signature(t *catalog.Table) string {
	var b strings.Builder
	b.WriteString(t.Name)
	for _, c := range t.Columns {
		fmt.Fprintf(&b, ",%s:%d", c.Name, c.Type)
	}
	for _, ch := range t.Children {
		fmt.Fprintf(&b, ";%s<%s[%s]", ch.Name, ch.ParentKey, strings.Join(ch.Key, ","))
		for _, c := range ch.Columns {
			fmt.Fprintf(&b, ",%s:%d", c.Name, c.Type)
		}
	}
	return b.String()
}

func addCols(dst []catalog.Column, cols ...catalog.Column) []catalog.Column {
	for _, c := range cols {
		dup := false
		for _, have := range dst {
			dup = dup || have.Name == c.Name
		}
		if !dup {
			dst = append(dst, c)
		}
	}
	return dst
}

func leaf(t catalog.Type) pq.Node {
	switch t {
	case catalog.Int:
		return pq.Int(64)
	case catalog.Bool:
		return pq.Leaf(pq.BooleanType)
	case catalog.Timestamp:
		return pq.Timestamp(pq.Microsecond)
	case catalog.JSON:
		return pq.JSON()
	default: // String, and Decimal as its exact text
		return pq.String()
	}
}

func (p *tablePlan) names() []string {
	names := make([]string, len(p.cols))
	for i, c := range p.cols {
		names[i] = c.Name
	}
	return names
}

func (p *tablePlan) build(layout catalog.Layout) {
	// The plan is made from the page's own table, so every column of the layout is among cols.
	p.layout = layout
	var err error
	if p.pos, err = dest.Positions(p.name, layout, p.names()); err != nil {
		panic("parquet: a plan lacks a column of its own table: " + err.Error())
	}
	p.keyPos = make([]int, len(p.key))
	for i, k := range p.key {
		p.keyPos[i] = layout.Index(k)
	}
	g := pq.Group{}
	for _, c := range p.cols {
		g[c.Name] = pq.Optional(leaf(c.Type))
	}
	g[catalog.ColSyncedAt] = pq.Timestamp(pq.Microsecond)
	g[colOp] = pq.String()
	g[colVersion] = pq.Int(64)
	if p.parent {
		g[catalog.ColDeletedAt] = pq.Optional(pq.Timestamp(pq.Microsecond))
	}
	p.schema = pq.NewSchema(p.name, g)
	p.index = map[string]int{}
	for i, path := range p.schema.Columns() {
		p.index[path[0]] = i
	}
	p.colIdx = make([]int, len(p.cols))
	for i, c := range p.cols {
		p.colIdx[i] = p.index[c.Name]
	}
	p.syncedIdx, p.opIdx, p.versionIdx = p.index[catalog.ColSyncedAt], p.index[colOp], p.index[colVersion]
	p.deletedIdx = -1
	if p.parent {
		p.deletedIdx = p.index[catalog.ColDeletedAt]
	}
	p.kinds = make([]colKind, len(p.cols))
	p.leafKinds = make([]colKind, len(p.index))
	for i, c := range p.cols {
		p.kinds[i] = kindOf(c.Type)
		p.leafKinds[p.colIdx[i]] = p.kinds[i]
	}
	p.leafKinds[p.syncedIdx], p.leafKinds[p.opIdx], p.leafKinds[p.versionIdx] = kindSynced, kindOp, kindVersion
	if p.parent {
		p.leafKinds[p.deletedIdx] = kindDeleted
	}
}

func (p *tablePlan) child(source string) *tablePlan {
	for _, c := range p.children {
		if c.source == source {
			return c
		}
	}
	return nil
}

type idxRec struct {
	op byte // 1 upsert, 2 delete
	id int64
}

// Prepare records the tables' schemas. A lake has no DDL: each part carries its own schema and readers
// union them by name, so evolution is adding columns to later parts.
func (d *Dir) Prepare(_ context.Context, tables []*catalog.Table) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.takeLock(); err != nil {
		return err
	}
	if err := d.flushLocked(); err != nil {
		return err
	}
	for _, t := range tables {
		p := d.plan(t)
		d.plans[t.Name] = p
		for _, c := range p.children {
			if err := os.MkdirAll(filepath.Join(d.root, c.name), 0o755); err != nil {
				return fmt.Errorf("parquet: create %s: %v", filepath.Join(d.root, c.name), unwrapPath(err))
			}
		}
		if err := os.MkdirAll(filepath.Join(d.root, p.name), 0o755); err != nil {
			return fmt.Errorf("parquet: create %s: %v", filepath.Join(d.root, p.name), unwrapPath(err))
		}
	}
	if _, err := os.Stat(filepath.Join(d.root, stateFile)); errors.Is(err, os.ErrNotExist) {
		// The state file marks the directory as a coupa lake from the first Prepare on.
		if err := d.writeState(d.copySection()); err != nil {
			return err
		}
	}
	return nil
}

// WritePage validates the whole page, then buffers it; its rows and state reach the disk together at the
// next roll (state after rows).
func (d *Dir) WritePage(ctx context.Context, p *dest.Page) (dest.WriteStats, error) {
	var st dest.WriteStats
	if err := ctx.Err(); err != nil {
		return st, err
	}
	synced := p.SyncedAt.UTC()
	if p.SyncedAt.IsZero() {
		synced = time.Now().UTC()
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.broken != nil {
		return st, d.broken
	}
	plan := d.plan(p.Table)
	if err := d.checkPrepared(plan, p.Table); err != nil {
		return st, err
	}
	at, parents, ids, err := lastParents(plan, p.Rows)
	if err != nil {
		return dest.WriteStats{}, err
	}
	if err := checkChildren(plan, p.Children, at); err != nil {
		return dest.WriteStats{}, err
	}
	known, err := d.ids(plan.name)
	if err != nil {
		return dest.WriteStats{}, err
	}
	if st.Children, err = d.bufferPage(plan, p.Children, parents, ids, synced); err != nil {
		return dest.WriteStats{}, err
	}
	st.Inserted, st.Updated = d.recordUpserts(plan.name, ids, known)
	if p.State != nil {
		d.states[p.State.Table] = p.State
	}
	if d.pendRows >= d.perPart {
		if err := d.flushLocked(); err != nil {
			return dest.WriteStats{}, err
		}
	}
	return st, nil
}

// checkPrepared refuses a page of another version of the table than the prepared one when it carries
// columns or child tables that were not prepared: files take any schema, but what the page carries must
// have been prepared, as every backend requires.
func (d *Dir) checkPrepared(plan *tablePlan, t *catalog.Table) error {
	prepared := d.plans[t.Name]
	if prepared == nil || prepared == plan {
		return nil
	}
	if _, err := dest.Positions(plan.name, t.Layout(), prepared.names()); err != nil {
		return fmt.Errorf("parquet: %v", err)
	}
	for i := range t.Children {
		ch := &t.Children[i]
		pc := prepared.child(ch.Name)
		if pc == nil {
			return fmt.Errorf("parquet: child table %s of %s was not prepared", ch.Name, plan.name)
		}
		if _, err := dest.Positions(pc.name, ch.Layout(), pc.names()); err != nil {
			return fmt.Errorf("parquet: %v", err)
		}
	}
	return nil
}

// lastParents checks the page's parent rows and keeps one row per id: the last of a repeated parent
// wins, in the place of the first. at maps each id to its place in parents, and ids[i] is parents[i]'s id.
func lastParents(plan *tablePlan, rows []catalog.Row) (at map[int64]int, parents []catalog.Row, ids []int64, err error) {
	at = make(map[int64]int, len(rows))
	parents = make([]catalog.Row, 0, len(rows))
	ids = make([]int64, 0, len(rows))
	idAt := plan.layout.Index("id")
	for n, r := range rows {
		if err := dest.CheckRow(plan.name, n, r, plan.layout); err != nil {
			return nil, nil, nil, fmt.Errorf("parquet: %v", err)
		}
		id, ok := r[idAt].(int64)
		if !ok {
			return nil, nil, nil, fmt.Errorf("parquet: %s row %d has no int64 id (got %T): the page is malformed", plan.name, n, r[idAt])
		}
		if i, dup := at[id]; dup {
			parents[i] = r
			continue
		}
		at[id] = len(parents)
		parents = append(parents, r)
		ids = append(ids, id)
	}
	return at, parents, ids, nil
}

// checkChildren refuses child rows of a table the plan lacks, of a parent not in the page (at), or
// without their key, before anything is buffered.
func checkChildren(plan *tablePlan, children map[string][]catalog.Row, at map[int64]int) error {
	for name := range children {
		if plan.child(name) == nil {
			return fmt.Errorf("parquet: page of %s has rows for %s, which is not one of its child tables", plan.name, name)
		}
	}
	for _, cp := range plan.children {
		pk := cp.layout.Index(cp.parentKey) // once per page: the loops below run per row
		for n, r := range children[cp.source] {
			if err := dest.CheckRow(cp.name, n, r, cp.layout); err != nil {
				return fmt.Errorf("parquet: %v", err)
			}
			pid, _ := r[pk].(int64)
			if _, ok := at[pid]; !ok {
				return fmt.Errorf("parquet: %s row %d: %s %v is not a parent in this page", cp.name, n, cp.parentKey, r[pk])
			}
			for i, j := range cp.keyPos {
				if j < 0 || r[j] == nil {
					return fmt.Errorf("parquet: %s row %d: key column %s is missing", cp.name, n, cp.key[i])
				}
			}
		}
	}
	return nil
}

// bufferPage encodes the page's rows straight into the tables' buffers under one new version, and
// returns how many child rows it added. A value of the wrong Go type takes back what the page had
// added, so that a refused page leaves nothing behind.
func (d *Dir) bufferPage(plan *tablePlan, children map[string][]catalog.Row, parents []catalog.Row, ids []int64, synced time.Time) (int, error) {
	version := d.nextVersion()
	bufs := []*buffer{d.buffer(plan)}
	for _, cp := range plan.children {
		bufs = append(bufs, d.buffer(cp))
	}
	marks := make([]mark, len(bufs))
	for i, b := range bufs {
		marks[i] = b.mark()
	}
	refuse := func(err error) (int, error) {
		for i, b := range bufs {
			b.truncate(marks[i])
		}
		return 0, err
	}
	for n, r := range parents {
		if err := encode(bufs[0], plan, r); err != nil {
			return refuse(fmt.Errorf("parquet: %s id %d: %w", plan.name, ids[n], err))
		}
	}
	added := 0
	for i, cp := range plan.children {
		for n, r := range children[cp.source] {
			if err := encode(bufs[i+1], cp, r); err != nil {
				return refuse(fmt.Errorf("parquet: %s row %d: %w", cp.name, n, err))
			}
		}
		added += len(children[cp.source])
	}
	for i, b := range bufs {
		b.addRun(marks[i].n, upsertOp, version, synced, time.Time{})
		d.pendRows += b.n - marks[i].n
	}
	return added, nil
}

// recordUpserts counts the page's parents as inserted or updated against the id index (known), marks
// them live there, and queues their upsert records for the index log of the next roll.
func (d *Dir) recordUpserts(table string, ids []int64, known map[int64]bool) (inserted, updated int) {
	for _, id := range ids {
		if _, seen := known[id]; seen {
			updated++
		} else {
			inserted++
		}
		known[id] = false
		d.idxPend[table] = append(d.idxPend[table], idxRec{1, id})
	}
	return inserted, updated
}

// nextVersion orders pages across processes: a resumed run must write versions above those of a crashed
// one whose last parts landed without their state, so the clock is a floor, not only the saved counter.
func (d *Dir) nextVersion() int64 {
	v := time.Now().UnixNano()
	if v <= d.sec.LastVersion {
		v = d.sec.LastVersion + 1
	}
	d.sec.LastVersion = v
	return v
}

// buffer returns the buffer of p's rows not yet rolled into a part, making it when there is none.
func (d *Dir) buffer(p *tablePlan) *buffer {
	// A table prepared again mid-run gets a new buffer: one part has one schema.
	for i := len(d.bufs) - 1; i >= 0; i-- {
		if d.bufs[i].plan.name == p.name {
			if d.bufs[i].plan.schema == p.schema {
				return d.bufs[i]
			}
			break
		}
	}
	b := d.spare[p]
	if b == nil {
		b = &buffer{plan: p, cols: make([]column, len(p.index))}
	}
	delete(d.spare, p)
	d.bufs = append(d.bufs, b)
	return b
}

func (d *Dir) ids(table string) (map[int64]bool, error) {
	if m := d.index[table]; m != nil {
		return m, nil
	}
	m := map[int64]bool{}
	b, err := os.ReadFile(filepath.Join(d.root, indexDir, table+".ids"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("parquet: read the id index of %s: %v", table, unwrapPath(err))
	}
	// A torn last record (crash during an append) is ignored: its part was not renamed yet.
	for i := 0; i+9 <= len(b); i += 9 {
		id := int64(binary.LittleEndian.Uint64(b[i+1:]))
		m[id] = b[i] == 2
	}
	d.index[table] = m
	return m, nil
}

// MarkDeleted appends delete rows (_op = delete, _deleted_at = at) for the ids the lake holds, and rolls.
func (d *Dir) MarkDeleted(_ context.Context, table string, ids []int64, at time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.broken != nil {
		return d.broken
	}
	if len(ids) == 0 {
		return nil
	}
	plan := d.plans[table]
	if plan == nil {
		return fmt.Errorf("parquet: MarkDeleted on %s, which was not prepared", table)
	}
	known, err := d.ids(plan.name)
	if err != nil {
		return err
	}
	version := d.nextVersion()
	b := d.buffer(plan)
	from := b.n
	idAt := plan.layout.Index("id")
	for _, id := range ids {
		if _, ok := known[id]; !ok {
			continue
		}
		tomb := make(catalog.Row, len(plan.layout))
		tomb[idAt] = id
		if err := encode(b, plan, tomb); err != nil {
			return err // an id alone always encodes
		}
		d.pendRows++
		known[id] = true
		d.idxPend[plan.name] = append(d.idxPend[plan.name], idxRec{2, id})
	}
	b.addRun(from, deleteOp, version, at, at)
	return d.flushLocked()
}

// LiveIDs lists the ids whose latest operation is an upsert, ascending.
func (d *Dir) LiveIDs(_ context.Context, table string) ([]int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.flushLocked(); err != nil {
		return nil, err
	}
	known, err := d.ids(d.prefix + table)
	if err != nil {
		return nil, err
	}
	var out []int64
	for id, deleted := range known {
		if !deleted {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// testHookBeforeRename lets tests fail a roll between writing a part and renaming it, and
// testHookWritePart fail the writing of a part, as a full disk would.
var testHookBeforeRename, testHookWritePart func(tmp string) error

// flushLocked rolls every pending buffer into part files, then saves the pending states. Order, for crash
// safety: parts written and fsynced under temp names; id index appended and fsynced; parts renamed,
// children before parents; directories fsynced; state file replaced last.
func (d *Dir) flushLocked() error {
	if d.broken != nil {
		return d.broken
	}
	if len(d.bufs) == 0 && len(d.states) == 0 {
		return nil
	}
	err := d.roll()
	if err != nil {
		d.broken = fmt.Errorf("%w (the lake stays at its last saved state: run the sync again)", err)
		return d.broken
	}
	return nil
}

type written struct{ tmp, final, rel string }

// roll carries out flushLocked's steps; any error leaves the temp files removed and the saved state as
// it was.
func (d *Dir) roll() error {
	var files []written
	defer func() {
		for _, f := range files {
			os.Remove(f.tmp) // no-op once renamed
		}
	}()
	var err error
	files, err = d.writeParts()
	if err != nil {
		return err
	}
	if err := d.appendIndex(); err != nil {
		return err
	}
	if err := d.publishParts(files); err != nil {
		return err
	}
	if err := d.saveStates(); err != nil {
		return err
	}
	d.recycleBuffers()
	return nil
}

// writeParts writes every non-empty buffer to a part under a temp name, and returns the parts it
// created, also when it fails, so that the caller removes them.
func (d *Dir) writeParts() ([]written, error) {
	// Each table's part is encoded, compressed and fsynced on its own goroutine: a roll holds up every
	// page behind it, and parents, lines and charges then take the time of the largest, not the sum.
	// Part numbers are chosen first, one goroutine at a time. A page adds its children before its
	// parent, so children's buffers come first.
	var todo []*buffer
	for _, b := range d.bufs {
		if b.n > 0 {
			todo = append(todo, b)
		}
	}
	parts := make([]written, len(todo))
	errs := make([]error, len(todo))
	for i, b := range todo {
		parts[i], errs[i] = d.partName(b)
	}
	var wg sync.WaitGroup
	for i, b := range todo {
		if errs[i] != nil {
			continue
		}
		wg.Go(func() { errs[i] = writePart(parts[i], b) })
	}
	wg.Wait()
	var files []written
	for i := range todo {
		if parts[i].tmp != "" {
			files = append(files, parts[i])
		}
	}
	for _, err := range errs {
		if err != nil {
			return files, err // the first: errors are one line, and a full disk fails every part alike
		}
	}
	return files, nil
}

// publishParts renames the written parts to their final names, in order (children before parents),
// records them as the run's files and fsyncs their directories.
func (d *Dir) publishParts(files []written) error {
	dirs := map[string]bool{}
	for _, f := range files {
		if testHookBeforeRename != nil {
			if err := testHookBeforeRename(f.tmp); err != nil {
				return fmt.Errorf("parquet: rename %s: %v", f.final, err)
			}
		}
		if err := os.Rename(f.tmp, f.final); err != nil {
			return fmt.Errorf("parquet: rename %s: %v", f.final, unwrapPath(err))
		}
		dirs[filepath.Dir(f.final)] = true
		d.runFiles[d.run] = append(d.runFiles[d.run], f.rel)
	}
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("parquet: fsync %s: %v", dir, err)
		}
		// The run=<id> directory entry itself must be durable too.
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return fmt.Errorf("parquet: fsync %s: %v", filepath.Dir(dir), err)
		}
	}
	return nil
}

// saveStates replaces the state file with the pending states added, and keeps what it wrote as d.sec.
func (d *Dir) saveStates() error {
	sec := d.copySection()
	for table, s := range d.states {
		ss, err := storeState(s)
		if err != nil {
			return fmt.Errorf("parquet: encode state of %s: %v", table, err)
		}
		sec.States[table] = ss
	}
	if err := d.writeState(sec); err != nil {
		return err
	}
	d.sec = sec
	return nil
}

// recycleBuffers empties the rolled buffers and forgets the saved states.
func (d *Dir) recycleBuffers() {
	// The buffers are kept for the next parts of their tables: refilling memory of the right size is
	// cheaper than growing new slices (and faulting their pages in) every part. Those of tables not
	// written since the last roll are let go.
	d.spare = make(map[*tablePlan]*buffer, len(d.bufs))
	for _, b := range d.bufs {
		b.reset()
		d.spare[b.plan] = b
	}
	d.bufs = nil
	d.states = map[string]*dest.State{}
	d.pendRows = 0
}

// partName creates b's run directory and names its next part.
func (d *Dir) partName(b *buffer) (written, error) {
	runDir := filepath.Join(d.root, b.plan.name, fmt.Sprintf("run=%d", d.run))
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return written{}, fmt.Errorf("parquet: create %s: %v", runDir, unwrapPath(err))
	}
	n, err := d.partNumber(runDir)
	if err != nil {
		return written{}, err
	}
	name := fmt.Sprintf("part-%05d.parquet", n)
	return written{tmp: filepath.Join(runDir, "."+name+".tmp"), final: filepath.Join(runDir, name),
		rel: filepath.ToSlash(filepath.Join(b.plan.name, fmt.Sprintf("run=%d", d.run), name))}, nil
}

// writePart writes one buffer to w's temp file and fsyncs it. It touches nothing of the Dir, so parts
// of different tables are written at once.
func writePart(w written, b *buffer) error {
	if testHookWritePart != nil {
		if err := testHookWritePart(w.tmp); err != nil {
			return fmt.Errorf("parquet: write %s: %v", w.final, err)
		}
	}
	f, err := os.OpenFile(w.tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("parquet: create %s: %v", w.tmp, unwrapPath(err))
	}
	// Page min/max stay in the column index, and each column chunk keeps its own statistics, which is what
	// readers prune with; repeating them in every page header cost a second pass over each page.
	pw := pq.NewWriter(f, b.plan.schema, pq.Compression(&zstdFastest), pq.DataPageStatistics(false))
	err = writeColumns(pw, b)
	if err == nil {
		err = pw.Close()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("parquet: write %s: %v", w.final, unwrapPath(err))
	}
	return nil
}

// partNumber continues after the highest part already in runDir (a crashed run may have left some).
func (d *Dir) partNumber(runDir string) (int, error) {
	n, ok := d.nextPart[runDir]
	if !ok {
		entries, err := os.ReadDir(runDir)
		if err != nil {
			return 0, fmt.Errorf("parquet: list %s: %v", runDir, unwrapPath(err))
		}
		for _, e := range entries {
			name := strings.TrimPrefix(e.Name(), ".")
			if !strings.HasPrefix(name, "part-") {
				continue
			}
			num, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "part-"), ".", 2)[0])
			if err == nil && num >= n {
				n = num + 1
			}
		}
	}
	d.nextPart[runDir] = n + 1
	return n, nil
}

// appendIndex appends the pending id records to each table's index log and fsyncs it.
func (d *Dir) appendIndex() error {
	if len(d.idxPend) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(d.root, indexDir), 0o755); err != nil {
		return fmt.Errorf("parquet: create %s: %v", indexDir, unwrapPath(err))
	}
	for table, recs := range d.idxPend {
		buf := make([]byte, 0, 9*len(recs))
		for _, r := range recs {
			buf = append(buf, r.op)
			buf = binary.LittleEndian.AppendUint64(buf, uint64(r.id))
		}
		path := filepath.Join(d.root, indexDir, table+".ids")
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("parquet: open %s: %v", path, unwrapPath(err))
		}
		if err := alignTorn(f); err != nil {
			f.Close()
			return fmt.Errorf("parquet: repair %s: %v", path, err)
		}
		_, err = f.Write(buf)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("parquet: append %s: %v", path, unwrapPath(err))
		}
	}
	d.idxPend = map[string][]idxRec{}
	return nil
}

// alignTorn cuts a torn record left by a crash so that appends stay aligned on 9 bytes.
func alignTorn(f *os.File) error {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if size%9 != 0 {
		return f.Truncate(size - size%9)
	}
	return nil
}

// upsertOp and deleteOp are the _op values as the bytes every row shares.
var upsertOp, deleteOp = []byte(opUpsert), []byte(opDelete)

// Page headers carry no statistics: the min, max and null count of every page are in the column index
// parquet-go writes in the footer, which is where readers that skip pages look (the page header fields
// are the older place), and each column chunk keeps its own min, max and null count for skipping
// whole files. Writing them to the headers too made parquet-go compute every page's bounds twice.
//
// zstdFastest trades a little file size for much less CPU: a sync is bound by the CPU it spends per record.
var zstdFastest = zstd.Codec{Level: zstd.SpeedFastest}
