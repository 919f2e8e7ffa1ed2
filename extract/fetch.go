package extract

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

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
		// A range whose last id came back is exhausted: no request for the empty page after it.
		done := rows.Len() < coupa.MaxPageSize || (p.Hi > 0 && lastID >= p.Hi)
		inflight = &pending{i: i, page: page, lastID: lastID, done: done, ready: make(chan struct{})}
		wr.submit(inflight)
		p.LastID, p.Done = lastID, inflight.done
		if rows.Len() == coupa.MaxPageSize {
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
