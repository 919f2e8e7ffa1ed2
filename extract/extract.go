// Package extract is the sync engine: it copies Coupa resources into a dest.Destination incrementally,
// with frozen windows, keyset paging, concurrent id-range partitions, per-page checkpoints and delete reconciliation.
package extract

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// PageSize is Coupa's maximum page size; a shorter page ends a partition.
const PageSize = 50

// DefaultConcurrency is how many partitions of one table are fetched at once when Config leaves it zero.
// The client's shared rate limiter is the real bound; four in flight keep it busy at 100-200 ms latency.
const DefaultConcurrency = 4

// Lister is the part of *coupa.Client the engine needs; tests substitute a fake.
type Lister interface {
	// ListPage serves the probes, which read ids only.
	ListPage(ctx context.Context, resource string, opts *coupa.ListOptions) ([]coupa.Record, *coupa.Response, error)
	// ListPageDecode serves the pages synced: their bodies are read straight into rows.
	ListPageDecode(ctx context.Context, resource string, opts *coupa.ListOptions, decode func(body []byte) error) (*coupa.Response, error)
	Stats() coupa.Stats
}

// Config is one sync run.
type Config struct {
	Client           Lister
	Dest             dest.Destination
	Tables           []*catalog.Table
	FullRefresh      bool // ignore saved cursors: a new window with no lower bound (open full windows are resumed)
	ReconcileDeletes bool // after a table's window completes, mark rows Coupa no longer lists as deleted
	Concurrency      int  // id-range partitions per table fetched at once (default DefaultConcurrency)
	Logger           *slog.Logger
	// Progress, when set, receives events from the engine's goroutines; it must be quick and safe for
	// concurrent use.
	Progress func(Event)
	// Now stamps _synced_at and run records. It never bounds a window: windows use Coupa's Date header.
	Now func() time.Time
}

// Run and table statuses.
const (
	StatusOK          = "ok"
	StatusPartial     = "partial"
	StatusFailed      = "failed"
	StatusSkipped     = "skipped"
	StatusInterrupted = "interrupted"
)

// Summary is what a run did.
type Summary struct {
	RunID    int64          `json:"run_id"`
	Status   string         `json:"status"` // ok | partial | failed | interrupted
	Started  time.Time      `json:"started"`
	Duration time.Duration  `json:"duration_ns"`
	Tables   []TableSummary `json:"tables"`
}

// TableSummary is what a run did to one table. Requests, Retries and RateLimited are the client's
// counters over the table's time (tables run one after another, so they are the table's own).
type TableSummary struct {
	Table       string        `json:"table"`
	Status      string        `json:"status"` // ok | skipped | failed | interrupted
	Message     string        `json:"message,omitempty"`
	New         int           `json:"new"`
	Updated     int           `json:"updated"`
	Deleted     int           `json:"deleted"`
	Children    int           `json:"children"`
	Pages       int           `json:"pages"`
	Requests    int64         `json:"requests"`
	Retries     int64         `json:"retries"`
	RateLimited int64         `json:"rate_limited"`
	Duration    time.Duration `json:"duration_ns"`
	Resumed     bool          `json:"resumed"` // an open window of an earlier run was continued
	From        time.Time     `json:"window_from,omitzero"`
	To          time.Time     `json:"window_to,omitzero"`
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds.
const (
	TableStarted EventKind = iota
	PageWritten
	TableFinished
)

// Event is a progress report. Counts are cumulative for the table within this run.
type Event struct {
	Kind     EventKind
	Table    string
	Rows     int
	Children int
	Pages    int
	Requests int64
	// Done estimates the share of the window fetched (0..1) from the id ranges covered; -1 when unknown.
	Done    float64
	Summary *TableSummary // set on TableFinished
}

// ErrAuth wraps the authentication failure that aborted a run.
var ErrAuth = errors.New("authentication failed")

// Sync runs the sync described by cfg. Table failures do not make it return an error: they are in the
// Summary (Status partial or failed). It returns an error when the run could not proceed at all (the
// destination refused, authentication failed) and ctx.Err() when it was interrupted; the Summary is
// returned whenever a run was recorded.
func Sync(ctx context.Context, cfg Config) (*Summary, error) {
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
	e := &engine{cfg: cfg}
	names := make([]string, len(cfg.Tables))
	for i, t := range cfg.Tables {
		names[i] = t.Name
	}
	sum := &Summary{Started: cfg.Now().UTC()}
	run := &dest.Run{Started: sum.Started, Status: "running", Tables: names}
	id, err := cfg.Dest.StartRun(ctx, run)
	if err != nil {
		return nil, fmt.Errorf("recording the run in the destination: %w", err)
	}
	run.ID, sum.RunID = id, id

	// Tables run one after another; the parallelism is inside a table (its id partitions). The client's
	// one rate limiter is the bottleneck either way, and one table at a time gives each table's summary
	// its own request/retry/429 counts, a failure that names one table, and progress a person can follow.
	var fatal error
	for _, t := range cfg.Tables {
		if ctx.Err() != nil {
			sum.Tables = append(sum.Tables, TableSummary{Table: t.Name, Status: StatusInterrupted, Message: "not started: interrupted"})
			continue
		}
		if fatal != nil {
			sum.Tables = append(sum.Tables, TableSummary{Table: t.Name, Status: StatusFailed, Message: "not started: " + fatal.Error()})
			continue
		}
		ts, err := e.syncTable(ctx, t)
		sum.Tables = append(sum.Tables, ts)
		if err != nil && coupa.IsAuth(err) {
			fatal = fmt.Errorf("%w: %w", ErrAuth, err)
		}
	}
	sum.Duration = cfg.Now().Sub(sum.Started)
	sum.Status = runStatus(sum.Tables, ctx.Err() != nil, fatal != nil)

	run.Finished = cfg.Now().UTC()
	run.Status = sum.Status
	run.Summary = summaryJSON(sum)
	switch {
	case fatal != nil:
		run.Error = fatal.Error()
	case ctx.Err() != nil:
		run.Error = "interrupted"
	default:
		for _, ts := range sum.Tables {
			if ts.Status == StatusFailed {
				run.Error = ts.Table + ": " + ts.Message
				break
			}
		}
	}
	// The run record is written even when ctx was cancelled: "interrupted" is what the user must see.
	if err := cfg.Dest.FinishRun(context.WithoutCancel(ctx), run); err != nil {
		cfg.Logger.Warn("could not record the end of the run", "err", err)
	}
	switch {
	case fatal != nil:
		return sum, fatal
	case ctx.Err() != nil:
		return sum, ctx.Err()
	}
	return sum, nil
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

// engine holds what the tables of one run share.
type engine struct {
	cfg Config

	clockMu sync.Mutex
	clock   time.Time // Coupa's clock at the first request of the run: the upper bound of new windows
}

// observeClock remembers the Date of the run's first answered request.
func (e *engine) observeClock(resp *coupa.Response) {
	if resp == nil || resp.Date.IsZero() {
		return
	}
	e.clockMu.Lock()
	if e.clock.IsZero() {
		e.clock = resp.Date.UTC().Truncate(time.Second)
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
