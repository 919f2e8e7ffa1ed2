package extract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/catalog/rowcodec"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// tableRun is one table's share of a run. mu serialises "change the in-memory state + commit it", so the
// checkpoints a destination sees only ever move forward.
type tableRun struct {
	e      *engine
	t      *catalog.Table
	fields []any

	mu         sync.Mutex
	state      *dest.State
	splitTried bool // a window is split at most once per run
	sum        TableSummary
	rows       int
	start      coupa.Stats
}

// syncTable runs one table to completion, failure or interruption. The error is returned only so that
// Sync can tell an authentication failure (which aborts the run) from the others.
func (e *engine) syncTable(ctx context.Context, t *catalog.Table) (TableSummary, error) {
	began := time.Now()
	r := &tableRun{e: e, t: t, start: e.cfg.Client.Stats()}
	r.sum.Table = t.Name
	e.emit(Event{Kind: TableStarted, Table: t.Name, Done: -1})
	err := r.run(ctx)
	r.finish(ctx, err)
	r.sum.Duration = time.Since(began)
	end := e.cfg.Client.Stats()
	r.sum.Requests = end.Requests - r.start.Requests
	r.sum.Retries = end.Retries - r.start.Retries
	r.sum.RateLimited = end.RateLimited - r.start.RateLimited
	s := r.sum
	e.emit(Event{Kind: TableFinished, Table: t.Name, Rows: r.rows, Children: s.Children, Pages: s.Pages,
		Requests: s.Requests, Done: 1, Summary: &s})
	return s, err
}

// finish turns the outcome into a status and a message, and logs it.
func (r *tableRun) finish(ctx context.Context, err error) {
	log := r.e.cfg.Logger.With("table", r.t.Name)
	switch {
	case err == nil:
		r.sum.Status = StatusOK
		log.Info("table synced", "new", r.sum.New, "updated", r.sum.Updated, "deleted", r.sum.Deleted,
			"children", r.sum.Children, "pages", r.sum.Pages)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		r.sum.Status = StatusInterrupted
		r.sum.Message = "interrupted; the next run resumes from the last committed page"
		log.Warn("table interrupted", "pages", r.sum.Pages)
	case coupa.IsForbidden(err):
		r.sum.Status = StatusSkipped
		r.sum.Message = fmt.Sprintf("skipped: the API client lacks scope %s (grant it to the OAuth client in Coupa, or leave %s out of --tables)", r.t.Scope, r.t.Name)
		log.Warn("table skipped: missing scope", "scope", r.t.Scope)
	case coupa.IsNotFound(err) && r.t.Optional:
		r.sum.Status = StatusSkipped
		r.sum.Message = fmt.Sprintf("skipped: /api/%s is not available on this instance", r.t.Resource)
		log.Warn("table skipped: endpoint not available", "resource", r.t.Resource)
	default:
		r.sum.Status = StatusFailed
		r.sum.Message = oneLine(err.Error())
		log.Error("table failed; its checkpoint is kept and the next run resumes", "err", r.sum.Message)
	}
}

func (r *tableRun) run(ctx context.Context) error {
	d := r.e.cfg.Dest
	st, err := d.LoadState(ctx, r.t.Name)
	if err != nil {
		return fmt.Errorf("loading the sync state of %s: %w", r.t.Name, err)
	}
	if st == nil {
		st = &dest.State{Table: r.t.Name, Version: dest.StateVersion}
	}
	if st.Version > dest.StateVersion {
		return fmt.Errorf("the saved state of %s has format %d, newer than this coupa understands (%d): upgrade coupa or run `coupa state reset %s`",
			r.t.Name, st.Version, dest.StateVersion, r.t.Name)
	}
	st.Version = dest.StateVersion
	r.state = st
	r.fields = r.t.Fields()

	w := st.Window
	if w != nil && r.e.cfg.FullRefresh && !w.FullRefresh {
		r.e.cfg.Logger.Info("discarding the open incremental window for a full refresh", "table", r.t.Name)
		w = nil
	}
	if w != nil {
		r.sum.Resumed = true
		r.e.cfg.Logger.Info("resuming the open window", "table", r.t.Name, "from", w.From, "to", w.To)
	} else {
		if w, err = r.openWindow(ctx); err != nil {
			return err
		}
		st.Window = w
		if err := d.SaveState(ctx, r.snapshot()); err != nil {
			return fmt.Errorf("saving the window of %s: %w", r.t.Name, err)
		}
	}
	r.sum.From, r.sum.To = w.From, w.To

	if err := r.fetchWindow(ctx); err != nil {
		return err
	}
	// Every partition is done: only now may the cursor move.
	r.mu.Lock()
	st.Cursor = w.To
	st.Window = nil
	snap := r.snapshot()
	r.mu.Unlock()
	if err := d.SaveState(context.WithoutCancel(ctx), snap); err != nil {
		return fmt.Errorf("saving the cursor of %s: %w", r.t.Name, err)
	}
	if r.e.cfg.ReconcileDeletes {
		return r.reconcile(ctx)
	}
	return nil
}

// openWindow starts a new window: upper bound from Coupa's clock, lower bound from the cursor minus the
// lookback, and id partitions when the window has no lower bound (a full sync).
func (r *tableRun) openWindow(ctx context.Context) (*dest.Window, error) {
	// The probe asks for the lowest id; it also detects a missing scope before anything is saved, and its
	// Date header freezes the run's clock when it is the run's first request.
	recs, resp, err := r.e.cfg.Client.ListPage(ctx, r.t.Resource, probeOptions(0))
	if err != nil {
		return nil, err
	}
	r.e.observeClock(resp)
	to := r.e.runClock()
	if to.IsZero() {
		return nil, fmt.Errorf("Coupa's answer to GET /api/%s had no Date header: the window's upper bound must come from Coupa's clock, not this machine's", r.t.Resource)
	}
	w := &dest.Window{To: to, FullRefresh: r.e.cfg.FullRefresh}
	if !r.e.cfg.FullRefresh && !r.state.Cursor.IsZero() {
		w.From = r.state.Cursor.Add(-r.t.Lookback).UTC()
	}
	if !w.From.IsZero() || len(recs) == 0 {
		// An incremental window usually holds a page or two: partitioning it up front would cost more
		// requests than it saves. fetchWindow splits it later if it turns out large.
		w.Partitions = []dest.Partition{{}}
		return w, nil
	}
	minID, ok := recordID(recs[0])
	if !ok {
		return nil, fmt.Errorf("table %s: Coupa returned a record without a valid id", r.t.Name)
	}
	// Most tables (currencies, roles, groups...) fit in one partition: one probe says so, and spares them
	// the rounds that find a large table's id range.
	above, _, err := r.e.cfg.Client.ListPage(ctx, r.t.Resource, probeOptions(minID+smallTable))
	if err != nil {
		return nil, err
	}
	if len(above) == 0 {
		w.Partitions = []dest.Partition{{}}
		return w, nil
	}
	maxID, err := estimateMaxID(ctx, r.e.cfg.Client, r.t.Resource, minID)
	if err != nil {
		return nil, err
	}
	w.Partitions = splitRange(minID, maxID, r.e.cfg.Concurrency)
	r.e.cfg.Logger.Debug("window opened", "table", r.t.Name, "to", to, "min_id", minID, "max_id", maxID,
		"partitions", len(w.Partitions))
	return w, nil
}

// splitAfter is how many full pages a lone partition fetches before the engine concludes that the window
// is big (a first incremental run after a long pause, say) and splits the rest of it by id.
const splitAfter = 4

// errSplit asks fetchWindow to split the window's only partition; it is not a failure.
var errSplit = errors.New("split the partition")

// fetchWindow pages every unfinished partition until all are done. An incremental window starts as one
// partition, because most are a page or two; when one turns out to be large, its remaining id range is
// split so that it, too, is fetched Concurrency ranges at a time.
func (r *tableRun) fetchWindow(ctx context.Context) error {
	for {
		err := r.fetchPartitions(ctx)
		if !errors.Is(err, errSplit) {
			return err
		}
		if err := r.splitTail(ctx); err != nil {
			return err
		}
	}
}

// tailMaxID estimates the highest id a large incremental window can hold. The warehouse already knows the
// highest id of the last sync, which costs no request; ids created since land in the unbounded last
// partition anyway. Only a warehouse that cannot say sends the probes.
func (r *tableRun) tailMaxID(ctx context.Context, after int64) (int64, error) {
	if m, ok := r.e.cfg.Dest.(dest.MaxIDer); ok {
		id, err := m.MaxID(ctx, r.t.Name)
		if err != nil {
			return 0, fmt.Errorf("reading the highest id of %s: %w", r.t.Name, err)
		}
		if id > after {
			return id, nil
		}
	}
	return estimateMaxID(ctx, r.e.cfg.Client, r.t.Resource, after)
}

// splitTail cuts the remaining range of the window's only partition into Concurrency ranges and saves
// the new partitioning before fetching resumes: a crash leaves either layout, and both cover every id.
func (r *tableRun) splitTail(ctx context.Context) error {
	r.splitTried = true
	r.mu.Lock()
	tail := r.state.Window.Partitions[0]
	r.mu.Unlock()
	maxID, err := r.tailMaxID(ctx, tail.LastID)
	if err != nil {
		return err
	}
	parts := splitAbove(tail, maxID, r.e.cfg.Concurrency)
	if parts == nil {
		return nil
	}
	r.mu.Lock()
	r.state.Window.Partitions = parts
	snap := r.snapshot()
	r.mu.Unlock()
	if err := r.e.cfg.Dest.SaveState(context.WithoutCancel(ctx), snap); err != nil {
		return fmt.Errorf("saving the partitions of %s: %w", r.t.Name, err)
	}
	r.e.cfg.Logger.Debug("large window split", "table", r.t.Name, "after_id", tail.LastID, "max_id", maxID, "partitions", len(parts))
	return nil
}

// fetchPartitions pages every unfinished partition, up to Concurrency at once. The first error stops the others.
func (r *tableRun) fetchPartitions(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wr := r.startWriter(ctx)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	sem := make(chan struct{}, r.e.cfg.Concurrency)
	// The layout is read once, here: a partition must not wait for the state lock, which a slow commit
	// holds, merely to learn where to start.
	r.mu.Lock()
	w := r.state.Window
	parts := slices.Clone(w.Partitions)
	r.mu.Unlock()
	for i, p := range parts {
		if p.Done {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := r.fetchPartition(ctx, wr, w, i, p); err != nil {
				once.Do(func() { first = err; cancel(err) })
			}
		}()
	}
	wg.Wait()
	wr.stop()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// fetchPartition pages partition i (p as the run found it) of window w by key until a short page. It fetches page N+1 while the writer commits
// page N, but never has two pages in flight: a partition's checkpoints reach the destination in order, and
// it returns only once its last page is committed or refused.
func (r *tableRun) fetchPartition(ctx context.Context, wr *writer, w *dest.Window, i int, p dest.Partition) (err error) {
	var inflight *pending
	settle := func() error {
		if inflight == nil {
			return nil
		}
		<-inflight.ready
		werr := inflight.err
		inflight = nil
		return werr
	}
	defer func() {
		if werr := settle(); err == nil || errors.Is(err, errSplit) && werr != nil {
			err = werr
		}
	}()
	full := 0
	for !p.Done {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		opts := r.pageOptions(w, p)
		rows, err := r.fetchPage(ctx, opts)
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return err
		}
		page, lastID, err := r.buildPage(rows, p)
		if err != nil {
			return err
		}
		if err := settle(); err != nil {
			return err
		}
		inflight = &pending{i: i, page: page, lastID: lastID, done: rows.Len() < PageSize, ready: make(chan struct{})}
		wr.submit(inflight)
		p.LastID, p.Done = lastID, inflight.done
		if rows.Len() == PageSize {
			full++
		}
		if full == splitAfter && !p.Done && r.canSplit() {
			// splitTail reads the committed progress: the page in flight must land first.
			if err := settle(); err != nil {
				return err
			}
			return errSplit
		}
	}
	return nil
}

// canSplit reports whether the window is a single unbounded partition not yet split in this run.
func (r *tableRun) canSplit() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.state.Window.Partitions
	return !r.splitTried && r.e.cfg.Concurrency > 1 && len(ps) == 1 && ps[0].Hi == 0 && !ps[0].Done
}

func (r *tableRun) pageOptions(w *dest.Window, p dest.Partition) *coupa.ListOptions {
	cursor := strings.ReplaceAll(r.t.Cursor, "-", "_")
	var f []coupa.Filter
	if !w.From.IsZero() {
		f = append(f, coupa.Filter{Field: cursor, Op: coupa.OpGtOrEq, Value: stamp(w.From)})
	}
	f = append(f, coupa.Filter{Field: cursor, Op: coupa.OpLt, Value: stamp(w.To)})
	if p.Hi > 0 {
		f = append(f, coupa.Filter{Field: "id", Op: coupa.OpLtOrEq, Value: fmt.Sprint(p.Hi)})
	}
	lo := max(p.LastID, p.Lo)
	return &coupa.ListOptions{Filters: f, Fields: r.fields, Limit: PageSize, AfterID: lo}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// fetchPage gets one page of the table, read straight into rows. A record the catalog refuses is reported
// as such, not as a broken answer, and is not asked for again.
func (r *tableRun) fetchPage(ctx context.Context, opts *coupa.ListOptions) (*catalog.PageRows, error) {
	var rows *catalog.PageRows
	_, err := r.e.cfg.Client.ListPageDecode(ctx, r.t.Resource, opts, func(body []byte) error {
		var err error
		if rows, err = rowcodec.DecodePage(r.t, body); errors.Is(err, rowcodec.ErrBadRecord) {
			return coupa.Refuse(err) // it names the table and the record
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// Records of a page are a set: in id order, keyset paging does not depend on the server sorting them.
	rows.SortByID()
	return rows, nil
}

// buildPage checks one page against the partition it was asked for and makes the destination's page of it;
// any bad record fails the whole page so that nothing of it is written.
func (r *tableRun) buildPage(rows *catalog.PageRows, p dest.Partition) (*dest.Page, int64, error) {
	lastID := max(p.LastID, p.Lo)
	cursorCol := r.cursorColumn()
	for i, id := range rows.IDs {
		if id <= 0 {
			return nil, 0, fmt.Errorf("table %s: Coupa returned a record without a valid id after id %d", r.t.Name, lastID)
		}
		// Keyset paging relies on ascending ids inside the range; anything else would loop or skip rows.
		if id <= lastID || (p.Hi > 0 && id > p.Hi) {
			return nil, 0, fmt.Errorf("table %s: record id %d is outside the requested keyset range (%d, %s]: the API did not honour id filtering",
				r.t.Name, id, lastID, hiString(p.Hi))
		}
		if cursorCol >= 0 {
			if ts, ok := rows.Rows[i][cursorCol].(time.Time); !ok || ts.IsZero() {
				return nil, 0, fmt.Errorf("table %s: record id %d has no valid %s, so it cannot be synced incrementally", r.t.Name, id, r.t.Cursor)
			}
		}
		lastID = id
	}
	return &dest.Page{Table: r.t, Rows: rows.Rows, Children: rows.Children}, lastID, nil
}

func hiString(hi int64) string {
	if hi == 0 {
		return "∞"
	}
	return fmt.Sprint(hi)
}

// cursorColumn is the position of the cursor's column in the table's rows, -1 when it has none.
func (r *tableRun) cursorColumn() int {
	for i, c := range r.t.Columns {
		if c.Path == r.t.Cursor {
			return i
		}
	}
	return -1
}

// pending is a fetched page on its way to the destination; ready is closed once it is committed (err nil)
// or refused.
type pending struct {
	i      int // partition
	page   *dest.Page
	lastID int64
	done   bool
	err    error
	ready  chan struct{}
}

// maxMerge bounds how many waiting pages one transaction takes.
const maxMerge = 8

// writer commits the pages of one fetchPartitions call. Pages that arrive while a transaction runs are
// merged into the next one: with several partitions fetching, a slow destination then pays its
// per-transaction cost (round trips, commit, state row) once for several pages instead of holding every
// partition up.
//
// Up to the destination's StageLimit() transactions run at once (dest.Staging: one for a destination
// that cannot stage): their rows are written concurrently, and they commit one at a time under the state
// lock, each with the state as it stands then, which holds the pages committed before it and its own
// and none still staged. A checkpoint therefore never covers a page that is not committed.
type writer struct {
	in   chan *pending
	done chan struct{}
}

func (r *tableRun) startWriter(ctx context.Context) *writer {
	wr := &writer{in: make(chan *pending, r.e.cfg.Concurrency), done: make(chan struct{})}
	sw := dest.Staging(r.e.cfg.Dest)
	var wg sync.WaitGroup
	for range max(1, min(sw.StageLimit(), r.e.cfg.Concurrency)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range wr.batches() {
				err := r.commit(ctx, sw, batch)
				for _, pd := range batch {
					pd.err = err
					close(pd.ready)
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(wr.done)
	}()
	return wr
}

// batches yields each waiting page together with those that arrived behind it, up to maxMerge.
func (wr *writer) batches() func(yield func([]*pending) bool) {
	return func(yield func([]*pending) bool) {
		for pd := range wr.in {
			batch := []*pending{pd}
		more:
			for len(batch) < maxMerge {
				select {
				case x, ok := <-wr.in:
					if !ok {
						break more
					}
					batch = append(batch, x)
				default:
					break more
				}
			}
			if !yield(batch) {
				return
			}
		}
	}
}

// submit never blocks for long: each partition has at most one page in flight, and there are at most
// Concurrency partitions running.
func (wr *writer) submit(pd *pending) { wr.in <- pd }

// stop waits for every submitted page to be committed or refused.
func (wr *writer) stop() {
	close(wr.in)
	<-wr.done
}

// commit writes the rows of batch in a transaction of its own, concurrently with other batches, then
// commits them with the state under the state lock. The destination is called without the run's
// cancellation: a page already fetched is committed whole rather than abandoned midway.
func (r *tableRun) commit(ctx context.Context, sw dest.StagedWriter, batch []*pending) error {
	ctx = context.WithoutCancel(ctx)
	page := batch[0].page
	if len(batch) > 1 {
		page = mergePages(r.t, batch)
	}
	r.mu.Lock() // Config.Now need not be safe for concurrent use
	page.SyncedAt = r.e.cfg.Now().UTC()
	r.mu.Unlock()
	staged, err := sw.StagePage(ctx, page)
	if err != nil {
		return fmt.Errorf("writing a page of %s: %w", r.t.Name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	parts := r.state.Window.Partitions
	prev := make([]dest.Partition, len(batch))
	for k, pd := range batch {
		prev[k] = parts[pd.i]
		parts[pd.i].LastID = pd.lastID
		parts[pd.i].Done = pd.done
	}
	ws, err := staged.Commit(ctx, r.snapshot())
	if err != nil {
		for k := len(batch) - 1; k >= 0; k-- {
			parts[batch[k].i] = prev[k]
		}
		return fmt.Errorf("writing a page of %s: %w", r.t.Name, err)
	}
	r.sum.New += ws.Inserted
	r.sum.Updated += ws.Updated
	r.sum.Children += ws.Children
	r.sum.Pages += len(batch)
	r.rows += len(page.Rows)
	r.e.emit(Event{Kind: PageWritten, Table: r.t.Name, Rows: r.rows, Children: r.sum.Children, Pages: r.sum.Pages,
		Requests: r.e.cfg.Client.Stats().Requests - r.start.Requests, Done: coverage(r.state.Window)})
	return nil
}

// mergePages joins the pages of batch into one. Their partitions are disjoint id ranges, so no parent
// appears twice.
func mergePages(t *catalog.Table, batch []*pending) *dest.Page {
	n := 0
	for _, pd := range batch {
		n += len(pd.page.Rows)
	}
	out := &dest.Page{Table: t, Rows: make([]catalog.Row, 0, n), Children: map[string][]catalog.Row{}}
	for _, pd := range batch {
		out.Rows = append(out.Rows, pd.page.Rows...)
		for name, rows := range pd.page.Children {
			out.Children[name] = append(out.Children[name], rows...)
		}
	}
	return out
}

// snapshot is a deep copy of the state, safe to hand to the destination while partitions move on.
// Callers hold mu (or run before partitions start).
func (r *tableRun) snapshot() *dest.State {
	s := *r.state
	s.UpdatedAt = r.e.cfg.Now().UTC()
	if r.state.Window != nil {
		w := *r.state.Window
		w.Partitions = append([]dest.Partition(nil), w.Partitions...)
		s.Window = &w
	}
	return &s
}

// coverage estimates the share of a window's id space already fetched; the unbounded tail counts as
// unknown until it is done.
func coverage(w *dest.Window) float64 {
	if w == nil || len(w.Partitions) == 0 {
		return 1
	}
	var done float64
	for _, p := range w.Partitions {
		switch {
		case p.Done:
			done++
		case p.Hi > p.Lo && p.LastID > p.Lo:
			done += float64(p.LastID-p.Lo) / float64(p.Hi-p.Lo)
		}
	}
	return done / float64(len(w.Partitions))
}

// recordID reads a record's id, whatever JSON decoding produced.
func recordID(rec map[string]any) (int64, bool) {
	switch v := rec["id"].(type) {
	case json.Number:
		n, err := v.Int64()
		return n, err == nil && n > 0
	case float64:
		return int64(v), v > 0 && v == float64(int64(v))
	case int64:
		return v, v > 0
	case int:
		return int64(v), v > 0
	case string:
		var n int64
		_, err := fmt.Sscan(v, &n)
		return n, err == nil && n > 0
	}
	return 0, false
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func summaryJSON(s *Summary) string {
	b, err := json.Marshal(s.Tables)
	if err != nil {
		return ""
	}
	return string(b)
}
