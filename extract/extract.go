// Package extract is the sync engine: it copies Coupa resources into a dest.Destination incrementally,
// with frozen windows, keyset paging, concurrent id-range partitions, per-page checkpoints and delete reconciliation.
//
// Sync does a whole run as a loop over the engine API, which the CLI or a worker can also drive itself,
// one table or one page at a time, with the same checkpoints:
//   - Start opens a run (prepares the destination, records the run); Run.Finish closes it with its Summary.
//   - Run.SyncTable syncs one table whole: window, partitions, pages, deletes.
//   - For workers, one table in steps: Run.PlanTable opens (or resumes) its window and returns a
//     serialisable Plan; Run.SyncPage syncs one page of one partition from the checkpoint saved in the
//     destination, its rows and checkpoint in one transaction; Run.CompleteTable moves the cursor.
package extract

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// DefaultConcurrency is the most id ranges one split of a table makes when Config leaves it zero. It is
// not a speed knob: the client's scheduler decides how many requests are in flight (rate × latency); the
// ranges only give it enough independent work, at any latency, and let them end together.
const DefaultConcurrency = coupa.DefaultMaxInFlight

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
	Concurrency      int  // the most id ranges one split of a table makes (default DefaultConcurrency); 1: no split
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
	Duration time.Duration  `json:"-"` // as "seconds"
	Tables   []TableSummary `json:"tables"`
}

// MarshalJSON writes the one shape a run's summary has, for `coupa sync -o json` and the run record alike:
// durations in seconds.
func (s Summary) MarshalJSON() ([]byte, error) {
	type plain Summary
	return json.Marshal(struct {
		plain
		Seconds float64 `json:"seconds"`
	}{plain(s), seconds(s.Duration)})
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
	Duration    time.Duration `json:"-"`       // as "seconds"
	Resumed     bool          `json:"resumed"` // an open window of an earlier run was continued
	From        time.Time     `json:"window_from,omitzero"`
	To          time.Time     `json:"window_to,omitzero"`
}

func (t TableSummary) MarshalJSON() ([]byte, error) {
	type plain TableSummary
	return json.Marshal(struct {
		plain
		Seconds float64 `json:"seconds"`
	}{plain(t), seconds(t.Duration)})
}

// seconds rounds to hundredths: what a person or a script wants of a run's time.
func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*100) / 100 }

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

// Sync runs the sync described by cfg: Start, SyncTable for each of cfg.Tables in order, Finish. Table
// failures do not make it return an error: they are in the Summary (Status partial or failed). It returns
// an error when the run could not proceed at all (the destination refused, authentication failed) and
// ctx.Err() when it was interrupted; the Summary is returned whenever a run was recorded.
func Sync(ctx context.Context, cfg Config) (*Summary, error) {
	run, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Tables run at once: the client's scheduler bounds what is in flight and keeps the rate at Coupa's
	// limit, and a table alone (a few pages, or a large one still finding its id range) cannot fill it.
	// Each table counts its own requests, so its summary stays its own. A table's failure is in its
	// summary; the one that ends the run (authentication) comes back from Finish.
	// The first table goes alone until Coupa has answered once: bad credentials then cost one request,
	// not one per table, and every window shares the clock of that answer.
	var wg sync.WaitGroup
	first := make(chan struct{})
	wg.Go(func() {
		defer close(first)
		_, _ = run.SyncTable(ctx, run.cfg.Tables[0])
	})
	select {
	case <-first:
	case <-run.clockSet:
	}
	for _, t := range run.cfg.Tables[1:] {
		wg.Go(func() { _, _ = run.SyncTable(ctx, t) })
	}
	wg.Wait()
	run.sortTables()
	return run.Finish(ctx)
}
