package extract

import (
	"context"
	"fmt"
	"slices"

	"github.com/coupa-connector/coupa-connector/coupa"
)

// reconcile lists every id Coupa still has (ids only, keyset paging, no cursor filter) and marks the
// warehouse's live rows that are missing from it as deleted.
func (r *tableRun) reconcile(ctx context.Context) error {
	var listed []int64
	var after int64
	for {
		recs, _, err := r.client.ListPage(ctx, r.t.Resource, &coupa.ListOptions{Limit: coupa.MaxPageSize, Fields: []any{"id"}, AfterID: after})
		if err != nil {
			return fmt.Errorf("listing the ids of %s for delete reconciliation: %w", r.t.Name, err)
		}
		for _, rec := range recs {
			id, ok := rec.ID()
			if !ok || id <= after {
				return fmt.Errorf("listing the ids of %s: Coupa returned a missing or out-of-order id after %d; nothing was marked deleted", r.t.Name, after)
			}
			listed = append(listed, id)
			after = id
		}
		if len(recs) < coupa.MaxPageSize {
			break
		}
	}
	live, err := r.e.cfg.Dest.LiveIDs(ctx, r.t.Name)
	if err != nil {
		return fmt.Errorf("reading the ids of %s from the destination: %w", r.t.Name, err)
	}
	if len(listed) == 0 && len(live) > 0 {
		return fmt.Errorf("refusing to mark all %d rows of %s deleted: Coupa listed no ids at all (check the API client's permissions); nothing was marked", len(live), r.t.Name)
	}
	gone := missingIDs(live, listed)
	if len(gone) == 0 {
		return nil
	}
	at := r.e.runClock()
	if at.IsZero() {
		at = r.e.cfg.Now().UTC()
	}
	if err := r.e.cfg.Dest.MarkDeleted(context.WithoutCancel(ctx), r.t.Name, gone, at); err != nil {
		return fmt.Errorf("marking deleted rows of %s: %w", r.t.Name, err)
	}
	r.sum.Deleted += len(gone)
	r.e.cfg.Logger.Info("deleted rows reconciled", "table", r.t.Name, "deleted", len(gone))
	return nil
}

// missingIDs returns the ids of live not in listed.
func missingIDs(live, listed []int64) []int64 {
	live = slices.Clone(live)
	slices.Sort(live)
	listed = slices.Clone(listed)
	slices.Sort(listed)
	var gone []int64
	j := 0
	for _, id := range live {
		for j < len(listed) && listed[j] < id {
			j++
		}
		if j < len(listed) && listed[j] == id {
			continue
		}
		gone = append(gone, id)
	}
	return gone
}
