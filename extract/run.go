package extract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// Run is one sync run, recorded in the destination's run table from Start to Finish. Its methods are
// safe for concurrent use on different tables (their summaries then share the client's request counters);
// a table synced by SyncTable must not be synced by another call at the same time.
type Run struct {
	*engine
	rec *dest.Run

	mu    sync.Mutex
	sum   Summary
	fatal error // the authentication failure that ends the run; later tables are not started
}

// Start checks cfg, prepares the destination for cfg.Tables and records a new run. Every table a Run
// syncs must be one of cfg.Tables.
func Start(ctx context.Context, cfg Config) (*Run, error) {
	if cfg.Client == nil || cfg.Dest == nil {
		return nil, errors.New("extract: Config needs a Client and a Dest")
	}
	if len(cfg.Tables) == 0 {
		return nil, errors.New("extract: no tables to sync")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Dest.Prepare(ctx, cfg.Tables); err != nil {
		return nil, fmt.Errorf("preparing the destination: %w", err)
	}
	names := make([]string, len(cfg.Tables))
	for i, t := range cfg.Tables {
		names[i] = t.Name
	}
	r := &Run{engine: &engine{cfg: cfg, clockSet: make(chan struct{})}}
	r.sum.Started = cfg.Now().UTC()
	r.rec = &dest.Run{Started: r.sum.Started, Status: "running", Tables: names}
	id, err := cfg.Dest.StartRun(ctx, r.rec)
	if err != nil {
		return nil, fmt.Errorf("recording the run in the destination: %w", err)
	}
	r.rec.ID, r.sum.RunID = id, id
	return r, nil
}

// ID is the run's id in the destination's run table.
func (r *Run) ID() int64 { return r.sum.RunID }

// SyncTable syncs table t to completion, failure or interruption and adds its summary to the run's. A
// table that fails does not fail the run: the error is returned for the caller's information, and an
// authentication failure stops the run (later SyncTable calls record the table as not started). When
// ctx is already done, t is recorded as not started.
func (r *Run) SyncTable(ctx context.Context, t *catalog.Table) (TableSummary, error) {
	if err := r.check(t); err != nil {
		return TableSummary{Table: t.Name, Status: StatusFailed, Message: err.Error()}, err
	}
	if err := ctx.Err(); err != nil {
		return r.record(TableSummary{Table: t.Name, Status: StatusInterrupted, Message: "not started: interrupted"}, err)
	}
	r.mu.Lock()
	fatal := r.fatal
	r.mu.Unlock()
	if fatal != nil {
		return r.record(TableSummary{Table: t.Name, Status: StatusFailed, Message: "not started: " + fatal.Error()}, fatal)
	}
	ts, err := r.syncTable(ctx, t)
	return r.record(ts, err)
}

// record adds a table's outcome to the run summary.
func (r *Run) record(ts TableSummary, err error) (TableSummary, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Tables = append(r.sum.Tables, ts)
	if err != nil && r.fatal == nil && coupa.IsAuth(err) {
		r.fatal = fmt.Errorf("%w: %w", ErrAuth, err)
	}
	return ts, err
}

// sortTables puts the tables' summaries in the order of Config.Tables, whatever order they finished in.
func (r *Run) sortTables() {
	r.mu.Lock()
	defer r.mu.Unlock()
	order := map[string]int{}
	for i, t := range r.cfg.Tables {
		order[t.Name] = i
	}
	slices.SortStableFunc(r.sum.Tables, func(a, b TableSummary) int { return order[a.Table] - order[b.Table] })
}

// check refuses a table the run did not prepare the destination for.
func (r *Run) check(t *catalog.Table) error {
	for _, c := range r.cfg.Tables {
		if c == t || c.Name == t.Name {
			return nil
		}
	}
	return fmt.Errorf("extract: table %s is not one of the run's tables", t.Name)
}

// Finish records the end of the run and returns its Summary. Its status is interrupted when ctx is done,
// failed when authentication failed (that error is returned), else from the tables' statuses. The record
// is written even when ctx is done: "interrupted" is what the user must see.
func (r *Run) Finish(ctx context.Context) (*Summary, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sum, fatal := r.sum, r.fatal
	sum.Duration = r.cfg.Now().Sub(sum.Started)
	sum.Status = runStatus(sum.Tables, ctx.Err() != nil, fatal != nil)

	run := r.rec
	run.Finished = r.cfg.Now().UTC()
	run.Status = sum.Status
	run.Summary = summaryJSON(&sum)
	run.Error = runError(ctx, &sum, fatal)
	if err := r.cfg.Dest.FinishRun(context.WithoutCancel(ctx), run); err != nil {
		r.cfg.Logger.Warn("could not record the end of the run", "err", err)
	}
	switch {
	case fatal != nil:
		return &sum, fatal
	case ctx.Err() != nil:
		return &sum, ctx.Err()
	}
	return &sum, nil
}

// runError is the one line the run record keeps about what went wrong, "" when nothing did.
func runError(ctx context.Context, sum *Summary, fatal error) string {
	switch {
	case fatal != nil:
		return fatal.Error()
	case ctx.Err() != nil:
		return "interrupted"
	}
	for _, ts := range sum.Tables {
		if ts.Status == StatusFailed {
			return ts.Table + ": " + ts.Message
		}
	}
	return ""
}

func runStatus(tables []TableSummary, interrupted, fatal bool) string {
	if interrupted {
		return StatusInterrupted
	}
	if fatal {
		return StatusFailed
	}
	ok, bad := 0, 0
	for _, ts := range tables {
		if ts.Status == StatusOK {
			ok++
		} else {
			bad++
		}
	}
	switch {
	case bad == 0:
		return StatusOK
	case ok == 0 && !allSkipped(tables):
		return StatusFailed
	}
	return StatusPartial
}

func allSkipped(tables []TableSummary) bool {
	for _, ts := range tables {
		if ts.Status != StatusSkipped {
			return false
		}
	}
	return true
}

func summaryJSON(s *Summary) string {
	b, err := json.Marshal(s.Tables)
	if err != nil {
		return ""
	}
	return string(b)
}

// engine holds what the tables of one run share.
type engine struct {
	cfg Config

	clockMu  sync.Mutex
	clock    time.Time     // Coupa's clock at the first request of the run: the upper bound of new windows
	clockSet chan struct{} // closed when clock is set

	tableLocks sync.Map // table name -> *sync.Mutex, see tableLock
}

// observeClock remembers the Date of the run's first answered request.
func (e *engine) observeClock(resp *coupa.Response) {
	if resp == nil || resp.Date.IsZero() {
		return
	}
	e.clockMu.Lock()
	if e.clock.IsZero() {
		e.clock = resp.Date.UTC().Truncate(time.Second)
		close(e.clockSet)
	}
	e.clockMu.Unlock()
}

func (e *engine) runClock() time.Time {
	e.clockMu.Lock()
	defer e.clockMu.Unlock()
	return e.clock
}

func (e *engine) emit(ev Event) {
	if e.cfg.Progress != nil {
		e.cfg.Progress(ev)
	}
}
