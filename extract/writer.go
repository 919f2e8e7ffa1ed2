package extract

import (
	"context"
	"fmt"
	"sync"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
)

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
		Requests: r.client.requests.Load(), Done: coverage(r.state.Window)})
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
