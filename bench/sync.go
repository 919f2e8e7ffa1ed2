package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/catalog/rowcodec"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/extract"
)

// Strategies a sync can be run with.
const (
	strategyOurs       = "ours"
	strategySeqOffsets = "sequential-offset"
)

// syncResult is what one measured sync did.
type syncResult struct {
	Records     int // parent rows written (new + updated)
	Children    int
	Requests    int64 // API requests (token requests not counted)
	RateLimited int64 // 429s the client saw
	Wall        time.Duration
	CPU         time.Duration // this process's CPU during the sync
	// Setup is the time from the start to the first page committed: the token, the window's probe and,
	// for a full sync, the id-range probes that find where to split the table.
	Setup time.Duration
}

func (r syncResult) recordsPerSec() float64 { return float64(r.Records) / r.Wall.Seconds() }

// invoicesTable is the one large table most scenarios sync.
func invoicesTable() (*catalog.Table, error) {
	t, ok := catalog.Lookup("invoices")
	if !ok {
		return nil, fmt.Errorf("the catalog has no invoices table")
	}
	return t, nil
}

// syncOurs runs the product's sync engine.
func syncOurs(ctx context.Context, c *coupa.Client, d dest.Destination, t *catalog.Table, concurrency int) (syncResult, error) {
	before, u0 := c.Stats(), selfUsage()
	start := time.Now()
	var firstPage atomic.Int64
	progress := func(ev extract.Event) {
		if ev.Kind == extract.PageWritten {
			firstPage.CompareAndSwap(0, int64(time.Since(start)))
		}
	}
	sum, err := extract.Sync(ctx, extract.Config{Client: c, Dest: d, Tables: []*catalog.Table{t}, Concurrency: concurrency, Progress: progress})
	res := syncResult{Wall: time.Since(start), CPU: selfUsage().CPU - u0.CPU, Setup: time.Duration(firstPage.Load())}
	after := c.Stats()
	res.Requests = apiRequests(before, after)
	res.RateLimited = after.RateLimited - before.RateLimited
	if err != nil {
		return res, fmt.Errorf("sync: %w", err)
	}
	for _, ts := range sum.Tables {
		if ts.Status != extract.StatusOK {
			return res, fmt.Errorf("sync of %s ended %s: %s", ts.Table, ts.Status, ts.Message)
		}
		res.Records += ts.New + ts.Updated
		res.Children += ts.Children
	}
	return res, nil
}

// syncSequentialOffset pages the way the simplest peers do (PostHog's Coupa source, for one): offset
// paging, one request in flight, each page written as it arrives. It asks for the same fields and writes
// into the same destination as syncOurs, so that only the paging differs.
func syncSequentialOffset(ctx context.Context, c *coupa.Client, d dest.Destination, t *catalog.Table) (syncResult, error) {
	before, u0 := c.Stats(), selfUsage()
	start := time.Now()
	res := syncResult{}
	err := func() error {
		defer func() {
			if res.Setup == 0 {
				res.Setup = time.Since(start)
			}
		}()
		if err := d.Prepare(ctx, []*catalog.Table{t}); err != nil {
			return err
		}
		fields := t.Fields()
		for offset := 0; ; offset += pageSize {
			recs, _, err := c.ListPage(ctx, t.Resource, &coupa.ListOptions{Fields: fields, Limit: pageSize, Offset: offset})
			if err != nil {
				return err
			}
			page := &dest.Page{Table: t, Children: map[string][]catalog.Row{}, SyncedAt: time.Now().UTC()}
			for _, rec := range recs {
				row, children, err := rowcodec.Rows(t, rec)
				if err != nil {
					return err
				}
				page.Rows = append(page.Rows, row)
				for name, rows := range children {
					page.Children[name] = append(page.Children[name], rows...)
				}
			}
			if len(page.Rows) > 0 {
				ws, err := d.WritePage(ctx, page)
				if err != nil {
					return err
				}
				res.Records += ws.Inserted + ws.Updated
				res.Children += ws.Children
				if res.Setup == 0 {
					res.Setup = time.Since(start)
				}
			}
			if len(recs) < pageSize {
				return nil
			}
		}
	}()
	res.Wall, res.CPU = time.Since(start), selfUsage().CPU-u0.CPU
	after := c.Stats()
	res.Requests = apiRequests(before, after)
	res.RateLimited = after.RateLimited - before.RateLimited
	if err != nil {
		return res, fmt.Errorf("sequential-offset sync: %w", err)
	}
	return res, nil
}

// apiRequests is the number of /api requests between two client snapshots: the client's request count
// also holds its OAuth token requests.
func apiRequests(before, after coupa.Stats) int64 {
	return (after.Requests - before.Requests) - (after.TokenMints - before.TokenMints)
}

// timedDest adds up the wall time spent in WritePage, to show how much of a run waits on the
// destination's (serialised) commits.
type timedDest struct {
	dest.Destination
	busy atomic.Int64
}

func (d *timedDest) WritePage(ctx context.Context, p *dest.Page) (dest.WriteStats, error) {
	start := time.Now()
	ws, err := d.Destination.WritePage(ctx, p)
	d.busy.Add(int64(time.Since(start)))
	return ws, err
}

func (d *timedDest) writeTime() time.Duration { return time.Duration(d.busy.Load()) }

// StagePage and StageLimit forward the destination's dest.StagedWriter (dest.Staging's adapter for
// those without one), timing the staging and the commit as WritePage is timed.
func (d *timedDest) StageLimit() int { return dest.Staging(d.Destination).StageLimit() }

func (d *timedDest) StagePage(ctx context.Context, p *dest.Page) (dest.Staged, error) {
	start := time.Now()
	s, err := dest.Staging(d.Destination).StagePage(ctx, p)
	d.busy.Add(int64(time.Since(start)))
	if err != nil {
		return nil, err
	}
	return timedStaged{s, d}, nil
}

type timedStaged struct {
	dest.Staged
	d *timedDest
}

func (s timedStaged) Commit(ctx context.Context, st *dest.State) (dest.WriteStats, error) {
	start := time.Now()
	ws, err := s.Staged.Commit(ctx, st)
	s.d.busy.Add(int64(time.Since(start)))
	return ws, err
}

// MaxID forwards dest.MaxIDer, so that the engine splits windows as it does on the bare destination
// (0 when the destination cannot tell: the engine then asks Coupa).
func (d *timedDest) MaxID(ctx context.Context, table string) (int64, error) {
	return maxIDOf(ctx, d.Destination, table)
}

func maxIDOf(ctx context.Context, d dest.Destination, table string) (int64, error) {
	if m, ok := d.(dest.MaxIDer); ok {
		return m.MaxID(ctx, table)
	}
	return 0, nil
}

// syncWith runs strategy.
func syncWith(ctx context.Context, strategy string, c *coupa.Client, d dest.Destination, t *catalog.Table, concurrency int) (syncResult, error) {
	switch strategy {
	case strategyOurs:
		return syncOurs(ctx, c, d, t, concurrency)
	case strategySeqOffsets:
		return syncSequentialOffset(ctx, c, d, t)
	}
	return syncResult{}, fmt.Errorf("unknown strategy %q: use %s or %s", strategy, strategyOurs, strategySeqOffsets)
}

// oneSync starts a simulator and an empty destination, runs one sync and tears both down.
func oneSync(ctx context.Context, so simOpts, destKind, strategy string, rate float64, burst, concurrency int) (syncResult, error) {
	t, err := invoicesTable()
	if err != nil {
		return syncResult{}, err
	}
	h, err := startSim(so)
	if err != nil {
		return syncResult{}, err
	}
	defer h.Close()
	c, err := h.client(rate, burst)
	if err != nil {
		return syncResult{}, err
	}
	d, err := openDest(ctx, destKind)
	if err != nil {
		return syncResult{}, err
	}
	defer d.Close()
	res, err := syncWith(ctx, strategy, c, d, t, concurrency)
	if err == nil && res.Records != so.Scale {
		err = fmt.Errorf("%s sync wrote %d invoices of the simulator's %d", strategy, res.Records, so.Scale)
	}
	return res, err
}
