package extract

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// tableRun is one table's share of a run. mu serialises "change the in-memory state + commit it", so the
// checkpoints a destination sees only ever move forward.
type tableRun struct {
	e      *engine
	t      *catalog.Table
	fields []any
	client *countingLister // the run's client, counting this table's requests

	mu    sync.Mutex
	state *dest.State
	minID int64 // the lowest id of a full window opened by this run, 0 otherwise
	sum   TableSummary
	rows  int
}

func (e *engine) newTableRun(t *catalog.Table) *tableRun {
	r := &tableRun{e: e, t: t, fields: t.Fields(), client: &countingLister{Lister: e.cfg.Client}}
	r.sum.Table = t.Name
	return r
}

// syncTable runs one table to completion, failure or interruption. The error is returned only so that
// the run can tell an authentication failure (which aborts the run) from the others.
func (e *engine) syncTable(ctx context.Context, t *catalog.Table) (TableSummary, error) {
	began := time.Now()
	r := e.newTableRun(t)
	e.emit(Event{Kind: TableStarted, Table: t.Name, Done: -1})
	err := r.run(ctx)
	r.finish(ctx, err)
	r.sum.Duration = time.Since(began)
	r.sum.Requests, r.sum.Retries, r.sum.RateLimited = r.client.counts()
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

// run plans the table's window, fetches it whole, then moves the cursor and reconciles deletes.
func (r *tableRun) run(ctx context.Context) error {
	if err := r.plan(ctx, false); err != nil {
		return err
	}
	if err := r.fetchWindow(ctx); err != nil {
		return err
	}
	return r.complete(ctx)
}

// plan loads the table's state and resumes its open window, or opens a new one and saves it before
// any page is fetched.
func (r *tableRun) plan(ctx context.Context, presplit bool) error {
	st, err := r.loadState(ctx)
	if err != nil {
		return err
	}
	r.state = st
	w := st.Window
	if w != nil && r.e.cfg.FullRefresh && !w.FullRefresh {
		r.e.cfg.Logger.Info("discarding the open incremental window for a full refresh", "table", r.t.Name)
		w = nil
	}
	if w != nil {
		r.sum.Resumed = true
		r.e.cfg.Logger.Info("resuming the open window", "table", r.t.Name, "from", w.From, "to", w.To)
	} else {
		if w, err = r.openWindow(ctx, presplit); err != nil {
			return err
		}
		st.Window = w
		if err := r.e.cfg.Dest.SaveState(ctx, r.snapshot()); err != nil {
			return fmt.Errorf("saving the window of %s: %w", r.t.Name, err)
		}
	}
	r.sum.From, r.sum.To = w.From, w.To
	return nil
}

// loadState reads the table's saved state (a fresh one when it has none) in the format this code writes.
func (r *tableRun) loadState(ctx context.Context) (*dest.State, error) {
	st, err := r.e.cfg.Dest.LoadState(ctx, r.t.Name)
	if err != nil {
		return nil, fmt.Errorf("loading the sync state of %s: %w", r.t.Name, err)
	}
	if st == nil {
		st = &dest.State{Table: r.t.Name, Version: dest.StateVersion}
	}
	if st.Version > dest.StateVersion {
		return nil, fmt.Errorf("the saved state of %s has format %d, newer than this coupa understands (%d): upgrade coupa or run `coupa state reset %s`",
			r.t.Name, st.Version, dest.StateVersion, r.t.Name)
	}
	st.Version = dest.StateVersion
	return st, nil
}

// complete closes a window whose partitions are all done: only now may the cursor move. Then it
// reconciles deletes when the run asks for it.
func (r *tableRun) complete(ctx context.Context) error {
	r.mu.Lock()
	r.state.Cursor = r.state.Window.To
	r.state.Window = nil
	snap := r.snapshot()
	r.mu.Unlock()
	if err := r.e.cfg.Dest.SaveState(context.WithoutCancel(ctx), snap); err != nil {
		return fmt.Errorf("saving the cursor of %s: %w", r.t.Name, err)
	}
	if r.e.cfg.ReconcileDeletes {
		return r.reconcile(ctx)
	}
	return nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// countingLister counts the requests of one table, so that its summary has its own figures while
// tables run in parallel on one client.
type countingLister struct {
	Lister
	requests, retries, rateLimited atomic.Int64
}

func (c *countingLister) count(resp *coupa.Response) {
	if resp == nil {
		c.requests.Add(1) // the request failed before an answer: it still went out (or tried to)
		return
	}
	c.requests.Add(int64(max(1, resp.Attempts)))
	c.retries.Add(int64(max(0, resp.Attempts-1)))
	c.rateLimited.Add(int64(resp.RateLimited))
}

func (c *countingLister) counts() (requests, retries, rateLimited int64) {
	return c.requests.Load(), c.retries.Load(), c.rateLimited.Load()
}

func (c *countingLister) ListPage(ctx context.Context, resource string, opts *coupa.ListOptions) ([]coupa.Record, *coupa.Response, error) {
	recs, resp, err := c.Lister.ListPage(ctx, resource, opts)
	c.count(resp)
	return recs, resp, err
}

func (c *countingLister) ListPageDecode(ctx context.Context, resource string, opts *coupa.ListOptions, decode func(body []byte) error) (*coupa.Response, error) {
	resp, err := c.Lister.ListPageDecode(ctx, resource, opts, decode)
	c.count(resp)
	return resp, err
}
