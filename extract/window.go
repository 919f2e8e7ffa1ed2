package extract

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// openWindow starts a new window: upper bound from Coupa's clock, lower bound from the cursor minus the
// lookback. A window is one unbounded partition that pages at once and splits itself as it learns how far
// the ids go (fetchWindow); with presplit (PlanTable, for workers that fetch partitions apart) a full
// sync's id range is probed and split up front instead.
func (r *tableRun) openWindow(ctx context.Context, presplit bool) (*dest.Window, error) {
	// The probe asks for the lowest id; it also detects a missing scope before anything is saved, and its
	// Date header freezes the run's clock when it is the run's first request.
	recs, resp, err := r.client.ListPage(ctx, r.t.Resource, probeOptions(0))
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
	minID, ok := recs[0].ID()
	if !ok || minID <= 0 {
		return nil, fmt.Errorf("table %s: Coupa returned a record without a valid id", r.t.Name)
	}
	if !presplit {
		r.minID = minID
		w.Partitions = []dest.Partition{{}}
		return w, nil
	}
	// Most tables (currencies, roles, groups...) fit in one partition: one probe says so, and spares them
	// the rounds that find a large table's id range.
	above, _, err := r.client.ListPage(ctx, r.t.Resource, probeOptions(minID+smallTable))
	if err != nil {
		return nil, err
	}
	if len(above) == 0 {
		w.Partitions = []dest.Partition{{}}
		return w, nil
	}
	maxID, err := estimateMaxID(ctx, r.client, r.t.Resource, minID, nil)
	if err != nil {
		return nil, err
	}
	w.Partitions = splitRange(minID, maxID, r.e.cfg.Concurrency)
	r.e.cfg.Logger.Debug("window opened", "table", r.t.Name, "to", to, "min_id", minID, "max_id", maxID,
		"partitions", len(w.Partitions))
	return w, nil
}

// smallTable is the id span under which a table is fetched as one partition: a few pages do not repay
// the requests that splitting costs.
const smallTable = 4 * coupa.MaxPageSize

// probeOptions asks for the first id above after: one tiny record.
func probeOptions(after int64) *coupa.ListOptions {
	return &coupa.ListOptions{Limit: 1, Fields: []any{"id"}, AfterID: after}
}

// probeFanout is how many probes one round sends at once. Every round pays one latency whatever its
// size, so a few wide rounds beat a long binary search: at 200 ms a sequential search of a million ids
// costs seconds before the first page, three rounds cost 0.6 s. It stays under the client's burst.
const probeFanout = 8

// probeBound is the highest id the first round looks for: probeFanout^k above the known id, k = 1..
var probeBound = int64(1) << 50

// estimateMaxID finds, with documented features only, an existing id within about 1/16 of the highest id
// of resource: id[gt]=X&limit=1 answers "is there an id above X, and which is the next one". Rounds of
// concurrent probes narrow the range: the first at known+8, +64, +512... finds its order of magnitude,
// each later round cuts it in probeFanout. The estimate is never above the true maximum; the unbounded
// last partition takes whatever lies above it, so precision only balances the partitions. known is an id
// that exists. seen, when set, is told each round's estimate, so that paging can use it at once.
func estimateMaxID(ctx context.Context, c Lister, resource string, known int64, seen func(int64)) (int64, error) {
	round := func(points []int64) (found, empty int64, err error) { return probeRound(ctx, c, resource, points) }
	// Invariant: lo is an existing id; no id is above hi.
	lo, hi := known, int64(0)
	var points []int64
	for step := int64(probeFanout); step <= probeBound; step *= probeFanout {
		points = append(points, known+step)
	}
	found, empty, err := round(points)
	if err != nil {
		return 0, err
	}
	if empty == 0 {
		return 0, fmt.Errorf("GET /api/%s has ids above %d: more than coupa can partition", resource, known+probeBound)
	}
	lo, hi = max(lo, found), empty
	tell := func() {
		if seen != nil {
			seen(lo)
		}
	}
	tell()
	// Up front, 1/16 balances the partitions well enough. While paging, the range above the estimate is
	// fetched by one partition alone at the end, so the rounds go on until it is a couple of pages.
	slack := func() int64 { return max(lo/16, coupa.MaxPageSize) }
	if seen != nil {
		slack = func() int64 { return 2 * coupa.MaxPageSize }
	}
	for hi-lo > slack() {
		width := hi - lo
		points = points[:0]
		for i := int64(1); i < probeFanout; i++ {
			points = append(points, lo+width*i/probeFanout)
		}
		found, empty, err := round(points)
		if err != nil {
			return 0, err
		}
		lo = max(lo, found)
		if empty != 0 {
			hi = min(hi, empty)
		}
		tell()
	}
	return lo, nil
}

// probeRound probes every point at once. It returns the highest id found above any point and the lowest
// point with nothing above it (0 when every point had something above).
func probeRound(ctx context.Context, c Lister, resource string, points []int64) (found, empty int64, err error) {
	ids := make([]int64, len(points))
	errs := make([]error, len(points))
	var wg sync.WaitGroup
	for i, p := range points {
		wg.Go(func() { ids[i], errs[i] = probeNext(ctx, c, resource, p) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	for i, p := range points {
		found = max(found, ids[i])
		if ids[i] == 0 && (empty == 0 || p < empty) {
			empty = p
		}
	}
	return found, empty, nil
}

// probeNext is the first id above after, 0 when there is none.
func probeNext(ctx context.Context, c Lister, resource string, after int64) (int64, error) {
	recs, _, err := c.ListPage(ctx, resource, probeOptions(after))
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	id, ok := recs[0].ID()
	if !ok || id <= after {
		return 0, errBadProbe(resource, after)
	}
	return id, nil
}

type probeError struct {
	resource string
	after    int64
}

func (e *probeError) Error() string {
	return "GET /api/" + e.resource + " with id[gt] returned an id not above the bound: the API did not honour id filtering"
}

func errBadProbe(resource string, after int64) error { return &probeError{resource, after} }

// splitRange cuts the id space into at most n partitions of equal id width over [minID, maxID]. The first
// starts at 0 and the last is unbounded, so that together they cover every positive id with no gap and no
// overlap, including ids created while the run goes on.
func splitRange(minID, maxID int64, n int) []dest.Partition {
	span := maxID - minID + 1
	if n <= 1 || span <= smallTable {
		return []dest.Partition{{}}
	}
	width, n := pageWidth(span, n)
	parts := make([]dest.Partition, 0, n)
	lo := int64(0)
	for i := 1; i < n; i++ {
		hi := minID - 1 + int64(i)*width
		parts = append(parts, dest.Partition{Lo: lo, Hi: hi})
		lo = hi
	}
	return append(parts, dest.Partition{Lo: lo})
}

// pageWidth is the id width of each of at most n ranges over span ids: a whole number of pages, so that
// where ids are dense (Coupa's usually are) a range ends on a full page whose last id is the range's
// bound, and needs no request for the empty page after it. It returns the width and the number of ranges.
func pageWidth(span int64, n int) (int64, int) {
	n = int(max(1, min(int64(n), span/coupa.MaxPageSize))) // each range worth at least a page of ids
	per := coupa.MaxPageSize * int64(n)
	pages := (span + per - 1) / per
	width := max(1, pages) * coupa.MaxPageSize
	return width, int((span + width - 1) / width)
}

// splitAbove cuts what remains of partition p (ids above p.LastID, up to maxID and beyond) into at most n
// ranges of equal id width: p keeps its progress and ends at the first boundary, the last range is
// unbounded. It returns nil when the remainder is too small to be worth splitting.
func splitAbove(p dest.Partition, maxID int64, n int) []dest.Partition {
	from := max(p.LastID, p.Lo)
	span := maxID - from
	if n <= 1 || span <= smallTable {
		return nil
	}
	width, n := pageWidth(span, n)
	first := p
	first.Hi = from + width
	if p.Hi != 0 && first.Hi >= p.Hi {
		return nil
	}
	parts := []dest.Partition{first}
	lo := first.Hi
	for i := 2; i < n; i++ {
		parts = append(parts, dest.Partition{Lo: lo, Hi: lo + width})
		lo += width
	}
	return append(parts, dest.Partition{Lo: lo, Hi: p.Hi})
}
