package extract

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// Plan is a table's open window as PlanTable left it in the destination: what SyncPage pages through.
// It holds no secret and survives a round trip through JSON.
type Plan struct {
	Table   string      `json:"table"`
	Resumed bool        `json:"resumed"` // the window was opened by an earlier run or call
	Window  dest.Window `json:"window"`
}

// PageResult is what one SyncPage call did to one partition.
type PageResult struct {
	Partition int   `json:"partition"`
	LastID    int64 `json:"last_id"` // the partition's checkpoint: its next page starts above this id
	Done      bool  `json:"done"`    // the partition is complete; further calls fetch nothing
	Rows      int   `json:"rows"`
	Children  int   `json:"children"`
	New       int   `json:"new"`
	Updated   int   `json:"updated"`
}

// ErrCheckpointMoved says a page was fetched but not written because its partition's checkpoint moved
// meanwhile (another call synced the same partition). Calling SyncPage again resumes from the new one.
var ErrCheckpointMoved = errors.New("the partition's checkpoint moved while its page was fetched")

// PlanTable opens t's window, or resumes the open one, and saves it in the destination before it
// returns: a retried call returns the same window. An incremental window is one partition (SyncTable
// would split a large one as it goes); a full one is cut into id ranges by a few probes.
func (r *Run) PlanTable(ctx context.Context, t *catalog.Table) (*Plan, error) {
	if err := r.check(t); err != nil {
		return nil, err
	}
	tr := r.newTableRun(t)
	if err := tr.plan(ctx, true); err != nil {
		return nil, err
	}
	w := *tr.state.Window
	w.Partitions = slices.Clone(w.Partitions)
	return &Plan{Table: t.Name, Resumed: tr.sum.Resumed, Window: w}, nil
}

// SyncPage syncs the next page of partition i of t's open window, from the checkpoint saved in the
// destination: the page's rows, their child rows and the advanced checkpoint commit in one transaction,
// so a call retried after any failure fetches the page again or the next one, and never writes a row
// twice. Calls for different partitions of one table may run at once within a Run; across processes,
// one table's calls must not overlap (its checkpoint is one row), or they fail with ErrCheckpointMoved.
func (r *Run) SyncPage(ctx context.Context, t *catalog.Table, i int) (PageResult, error) {
	res := PageResult{Partition: i}
	if err := r.check(t); err != nil {
		return res, err
	}
	tr := r.newTableRun(t)
	w, p, err := tr.savedPartition(ctx, i)
	if err != nil {
		return res, err
	}
	res.LastID, res.Done = p.LastID, p.Done
	if p.Done {
		return res, nil
	}
	rows, err := tr.fetchPage(ctx, tr.pageOptions(w, p))
	if err != nil {
		return res, err
	}
	page, lastID, err := tr.buildPage(rows, p)
	if err != nil {
		return res, err
	}
	next := p
	next.LastID, next.Done = lastID, rows.Len() < coupa.MaxPageSize
	ws, err := tr.writePage(ctx, page, w, i, next)
	if err != nil {
		return res, err
	}
	res.LastID, res.Done = next.LastID, next.Done
	res.Rows, res.Children, res.New, res.Updated = len(page.Rows), ws.Children, ws.Inserted, ws.Updated
	return res, nil
}

// CompleteTable closes t's window once SyncPage has finished every partition: the cursor moves to the
// window's end, then deletes are reconciled when the run's Config asks for it. A table whose window is
// already closed is only reconciled, so that a retried call is harmless. It returns the rows marked deleted.
func (r *Run) CompleteTable(ctx context.Context, t *catalog.Table) (deleted int, err error) {
	if err := r.check(t); err != nil {
		return 0, err
	}
	mu := r.tableLock(t.Name)
	mu.Lock()
	defer mu.Unlock()
	tr := r.newTableRun(t)
	if tr.state, err = tr.loadState(ctx); err != nil {
		return 0, err
	}
	switch w := tr.state.Window; {
	case w == nil && tr.state.Cursor.IsZero():
		return 0, fmt.Errorf("table %s has no open window to complete: PlanTable opens one", t.Name)
	case w == nil:
		if r.cfg.ReconcileDeletes {
			err = tr.reconcile(ctx)
		}
	default:
		for i, p := range w.Partitions {
			if !p.Done {
				return 0, fmt.Errorf("table %s: partition %d of its window is not done", t.Name, i)
			}
		}
		err = tr.complete(ctx)
	}
	return tr.sum.Deleted, err
}

// savedPartition reads the open window of the table and its partition i from the destination.
func (r *tableRun) savedPartition(ctx context.Context, i int) (*dest.Window, dest.Partition, error) {
	st, err := r.loadState(ctx)
	if err != nil {
		return nil, dest.Partition{}, err
	}
	w := st.Window
	if w == nil {
		return nil, dest.Partition{}, fmt.Errorf("table %s has no open window: PlanTable opens one", r.t.Name)
	}
	if i < 0 || i >= len(w.Partitions) {
		return nil, dest.Partition{}, fmt.Errorf("table %s: no partition %d (its window has %d)", r.t.Name, i, len(w.Partitions))
	}
	return w, w.Partitions[i], nil
}

// writePage commits page, fetched from partition i of window w, with the state in which that partition
// has become now. The state is read again under the table's lock, so that the pages of other partitions
// committed meanwhile are kept.
func (r *tableRun) writePage(ctx context.Context, page *dest.Page, w *dest.Window, i int, now dest.Partition) (dest.WriteStats, error) {
	mu := r.e.tableLock(r.t.Name)
	mu.Lock()
	defer mu.Unlock()
	// Like SyncTable's writer, a page fetched is committed whole, not abandoned midway by cancellation.
	ctx = context.WithoutCancel(ctx)
	st, err := r.loadState(ctx)
	if err != nil {
		return dest.WriteStats{}, err
	}
	cur := st.Window
	if cur == nil || !cur.To.Equal(w.To) || !cur.From.Equal(w.From) || len(cur.Partitions) != len(w.Partitions) ||
		cur.Partitions[i] != w.Partitions[i] {
		return dest.WriteStats{}, fmt.Errorf("table %s partition %d: %w", r.t.Name, i, ErrCheckpointMoved)
	}
	st.Window.Partitions[i] = now
	r.state = st
	page.State = r.snapshot()
	page.SyncedAt = page.State.UpdatedAt
	ws, err := r.e.cfg.Dest.WritePage(ctx, page)
	if err != nil {
		return ws, fmt.Errorf("writing a page of %s: %w", r.t.Name, err)
	}
	return ws, nil
}

// tableLock serialises the read-modify-commit of one table's state by SyncPage and CompleteTable.
func (e *engine) tableLock(table string) *sync.Mutex {
	m, _ := e.tableLocks.LoadOrStore(table, new(sync.Mutex))
	return m.(*sync.Mutex)
}
