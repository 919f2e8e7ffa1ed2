package extract

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// fetcher pages one window: a goroutine per unfinished partition, all drawing on the client's one
// scheduler, which bounds what is in flight; and, once the unbounded tail shows a full page, an estimate of
// the highest id, sought beside the paging. Whenever the estimate reaches past the tail, the tail splits
// itself at its next page boundary into id ranges with a partition each: paging never waits for probes.
type fetcher struct {
	r  *tableRun
	w  *dest.Window
	wr *writer

	parts  sync.WaitGroup // partition goroutines, those a split starts included
	cancel context.CancelCauseFunc
	once   sync.Once
	first  error

	estimating atomic.Bool
	maxID      atomic.Int64 // the highest id known to exist; the tail splits up to it
	estimate   chan struct{}
}

// fetchWindow pages every unfinished partition of the table's window until all are done. The first error
// stops the others.
func (r *tableRun) fetchWindow(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.mu.Lock()
	w := r.state.Window
	parts := slices.Clone(w.Partitions)
	r.mu.Unlock()
	f := &fetcher{r: r, w: w, wr: r.startWriter(ctx), cancel: cancel, estimate: make(chan struct{})}
	estCtx, stopEstimate := context.WithCancel(ctx)
	if r.minID > 0 && len(parts) == 1 && parts[0].Hi == 0 {
		// A new full window: its lowest id is known, so the search for the highest starts with the paging.
		f.startEstimate(estCtx, r.minID)
	}
	for i, p := range parts {
		if !p.Done {
			f.start(estCtx, ctx, i, p)
		}
	}
	f.parts.Wait()
	stopEstimate() // the partitions are done: what the probes would tell no longer matters
	if f.estimating.Load() {
		<-f.estimate
	}
	f.wr.stop()
	if f.first != nil {
		return f.first
	}
	return ctx.Err()
}

func (f *fetcher) start(estCtx, ctx context.Context, i int, p dest.Partition) {
	f.parts.Go(func() {
		if err := f.partition(estCtx, ctx, i, p); err != nil {
			f.fail(err)
		}
	})
}

func (f *fetcher) fail(err error) {
	f.once.Do(func() { f.first = err; f.cancel(err) })
}

// partition pages partition i (p as the run found it) by key until it is done. It fetches page N+1 while
// the writer commits page N, but never has two pages in flight: a partition's checkpoints reach the
// destination in order, and it returns only once its last page is committed or refused.
func (f *fetcher) partition(estCtx, ctx context.Context, i int, p dest.Partition) (err error) {
	r := f.r
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
		if werr := settle(); err == nil {
			err = werr
		}
	}()
	for !p.Done {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if p.Hi == 0 {
			if err := f.splitTail(estCtx, ctx, i, &p); err != nil {
				return err
			}
		}
		rows, err := r.fetchPage(ctx, r.pageOptions(f.w, p))
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
		// A range whose last id came back is exhausted: no request for the empty page after it.
		done := rows.Len() < coupa.MaxPageSize || (p.Hi > 0 && lastID >= p.Hi)
		inflight = &pending{i: i, page: page, lastID: lastID, done: done, ready: make(chan struct{})}
		f.wr.submit(inflight)
		p.LastID, p.Done = lastID, done
		if !done && p.Hi == 0 {
			f.startEstimate(estCtx, lastID)
		}
	}
	return nil
}

// startEstimate begins, once per window, the search for the highest id above after: from the warehouse
// (no request) when it knows one above, else, in a window this run opened, by probes, each round's answer
// published as it comes.
func (f *fetcher) startEstimate(ctx context.Context, after int64) {
	if r := f.r; r.e.cfg.Concurrency <= 1 || !f.estimating.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer close(f.estimate)
		r := f.r
		seen := func(id int64) {
			if id > f.maxID.Load() {
				f.maxID.Store(id)
			}
		}
		if m, ok := r.e.cfg.Dest.(dest.MaxIDer); ok {
			id, err := m.MaxID(ctx, r.t.Name)
			if err != nil {
				if ctx.Err() == nil {
					f.fail(fmt.Errorf("reading the highest id of %s: %w", r.t.Name, err))
				}
				return
			}
			if id > after {
				seen(id)
				return
			}
		}
		if r.sum.Resumed {
			return // a resumed window was planned once already: it is not probed again
		}
		// Most tables (currencies, roles, groups...) end within a few pages of here: one probe says so,
		// and spares them the rounds that find a large table's id range.
		above, _, err := r.client.ListPage(ctx, r.t.Resource, probeOptions(after+smallTable))
		if err != nil || len(above) == 0 {
			if err != nil && ctx.Err() == nil {
				f.fail(err)
			}
			return
		}
		if _, err := estimateMaxID(ctx, r.client, r.t.Resource, after, seen); err != nil && ctx.Err() == nil {
			f.fail(err)
		}
	}()
}

// splitTail cuts the unbounded partition i, at p, into id ranges up to the highest id known, when that
// lies far enough above it: p keeps its progress and ends at the first boundary, a new partition takes
// each other range, the last one unbounded again. The new layout is saved under the state lock, where
// commits save theirs: a crash leaves either layout, and both cover every id. p's page in flight, if any,
// lies below the first boundary, so it commits into p as before.
func (f *fetcher) splitTail(estCtx, ctx context.Context, i int, p *dest.Partition) error {
	r, maxID := f.r, f.maxID.Load()
	if maxID-max(p.LastID, p.Lo) <= smallTable {
		return nil
	}
	parts := splitAbove(*p, maxID, r.e.cfg.Concurrency)
	if parts == nil {
		return nil
	}
	r.mu.Lock()
	all := r.state.Window.Partitions
	old := all[i]
	committed := parts[0]
	committed.LastID, committed.Done = old.LastID, old.Done
	all[i] = committed
	first := len(all)
	all = append(all, parts[1:]...)
	r.state.Window.Partitions = all
	err := r.e.cfg.Dest.SaveState(context.WithoutCancel(ctx), r.snapshot())
	if err != nil {
		r.state.Window.Partitions = all[:first]
		r.state.Window.Partitions[i] = old
	}
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("saving the partitions of %s: %w", r.t.Name, err)
	}
	p.Hi = parts[0].Hi
	for k, np := range parts[1:] {
		f.start(estCtx, ctx, first+k, np)
	}
	r.e.cfg.Logger.Debug("window split", "table", r.t.Name, "after_id", p.LastID, "max_id", maxID, "partitions", len(parts))
	return nil
}
