package extract

import (
	"context"

	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// smallTable is the id span under which a table is fetched as one partition: a few pages do not repay
// the requests that splitting costs.
const smallTable = 4 * PageSize

// probeOptions asks for the first id above after: one tiny record.
func probeOptions(after int64) *coupa.ListOptions {
	return &coupa.ListOptions{Limit: 1, Fields: []any{"id"}, AfterID: after}
}

// findMaxID finds the highest id of resource with documented features only: id[gt]=X&limit=1 answers
// "is there an id above X, and which is the next one". Exponential search finds an upper bound, then a
// binary search closes in; about 2*log2(maxID) tiny requests. known is an id that exists.
func findMaxID(ctx context.Context, c Lister, resource string, known int64) (int64, error) {
	next := func(after int64) (int64, bool, error) {
		recs, _, err := c.ListPage(ctx, resource, probeOptions(after))
		if err != nil || len(recs) == 0 {
			return 0, false, err
		}
		id, ok := recordID(recs[0])
		if !ok || id <= after {
			return 0, false, errBadProbe(resource, after)
		}
		return id, true, nil
	}
	// Invariant: lo is an existing id; after the first loop, no id is above hi.
	lo, hi := known, max(known*2, 1)
	for {
		id, found, err := next(hi)
		if err != nil {
			return 0, err
		}
		if !found {
			break
		}
		lo, hi = id, id*2
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		id, found, err := next(mid)
		if err != nil {
			return 0, err
		}
		if found {
			lo = id
		} else {
			hi = mid
		}
	}
	return lo, nil
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
	// Each partition should be worth at least a page of ids.
	n = int(min(int64(n), span/PageSize))
	width := (span + int64(n) - 1) / int64(n)
	parts := make([]dest.Partition, 0, n)
	lo := int64(0)
	for i := 1; i < n; i++ {
		hi := minID - 1 + int64(i)*width
		parts = append(parts, dest.Partition{Lo: lo, Hi: hi})
		lo = hi
	}
	return append(parts, dest.Partition{Lo: lo})
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
	n = int(min(int64(n), span/PageSize))
	width := (span + int64(n) - 1) / int64(n)
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
