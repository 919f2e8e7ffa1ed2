package temporal

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	sdk "go.temporal.io/sdk/temporal"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/extract"
)

// Resources turns the names a workflow carries into what the engine needs. The worker implements it from
// its own config file and environment, which is where the secrets stay.
type Resources interface {
	// Client returns the Coupa client of the named connection, for a run of tables (their scopes).
	Client(ctx context.Context, connection string, tables []*catalog.Table) (extract.Lister, error)
	// Dest returns the opened destination of a URL; it stays the Resources' to close.
	Dest(ctx context.Context, url string) (dest.Destination, error)
	// Explain is the one-line message the CLI prints for err.
	Explain(err error) string
}

// Activities are the activities a worker hosts.
type Activities struct {
	Resources Resources
	Logger    *slog.Logger
	// Concurrency is the engine's id-range partitions per table (default extract.DefaultConcurrency).
	Concurrency int
	// HeartbeatEvery is how often a running table heartbeats (default 5s, and at least three times per
	// heartbeat timeout, which is what notices a dead worker).
	HeartbeatEvery time.Duration
}

// Progress is the heartbeat detail of a running table: counts only, never a secret.
type Progress struct {
	Pages int `json:"pages"`
	Rows  int `json:"rows"`
}

// SyncTable syncs one table with the existing engine. Every page is committed with its checkpoint, so an
// attempt that dies anywhere is resumed by the next one from the destination's state.
func (a *Activities) SyncTable(ctx context.Context, in TableInput) (*TableResult, error) {
	if err := CheckDest(in.Dest); err != nil {
		return nil, sdk.NewNonRetryableApplicationError(err.Error(), ErrTypeInput, nil)
	}
	if in.Table == "" {
		return nil, sdk.NewNonRetryableApplicationError("no table named", ErrTypeInput, nil)
	}
	table, err1 := catalog.Select([]string{in.Table})
	run, err2 := catalog.Select(in.RunTables)
	if err := errors.Join(err1, err2); err != nil {
		return nil, sdk.NewNonRetryableApplicationError(err.Error(), ErrTypeInput, nil)
	}
	if len(in.RunTables) == 0 {
		run = table
	}
	client, err := a.Resources.Client(ctx, in.Connection, run)
	if err != nil {
		return nil, a.failure(err)
	}
	d, err := a.Resources.Dest(ctx, in.Dest)
	if err != nil {
		return nil, a.failure(err)
	}
	var pages, rows atomic.Int64
	stop := a.heartbeat(ctx, &pages, &rows)
	sum, err := extract.Sync(ctx, extract.Config{Client: client, Dest: d, Tables: table, FullRefresh: in.FullRefresh,
		ReconcileDeletes: in.ReconcileDeletes, Concurrency: a.Concurrency, Logger: a.Logger,
		Progress: func(e extract.Event) { pages.Store(int64(e.Pages)); rows.Store(int64(e.Rows)) }})
	stop()
	if err != nil {
		return nil, a.failure(err)
	}
	r := tableResult(sum.Tables[0], activity.GetInfo(ctx).Attempt)
	if r.Status == extract.StatusFailed {
		return nil, sdk.NewApplicationError(r.Message, ErrTypeTableFailed)
	}
	return &r, nil
}

// failure classifies an error of an attempt: authentication is final, with the CLI's message; anything
// else (the network, Coupa's 5xx, the destination, an interruption) is retried by Temporal.
func (a *Activities) failure(err error) error {
	if errors.Is(err, extract.ErrAuth) || coupa.IsAuth(err) {
		return sdk.NewNonRetryableApplicationError(a.Resources.Explain(authCause(err)), ErrTypeAuth, nil)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return sdk.NewApplicationError(a.Resources.Explain(err), "")
}

// authCause is the client's own error inside the engine's "authentication failed: ..." wrapping: the CLI
// checks the credentials before it syncs and prints that error alone, and so does a failed workflow.
func authCause(err error) error {
	var ae *coupa.AuthError
	if errors.As(err, &ae) {
		return ae
	}
	var api *coupa.APIError
	if errors.As(err, &api) {
		return api
	}
	return err
}

// heartbeat records the table's progress every HeartbeatEvery until stop is called.
func (a *Activities) heartbeat(ctx context.Context, pages, rows *atomic.Int64) (stop func()) {
	every := a.HeartbeatEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	if hb := activity.GetInfo(ctx).HeartbeatTimeout; hb > 0 {
		every = min(every, hb/3)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			activity.RecordHeartbeat(ctx, Progress{Pages: int(pages.Load()), Rows: int(rows.Load())})
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

func tableResult(ts extract.TableSummary, attempt int32) TableResult {
	return TableResult{Table: ts.Table, Status: ts.Status, Message: ts.Message, New: ts.New, Updated: ts.Updated,
		Deleted: ts.Deleted, Children: ts.Children, Pages: ts.Pages, Requests: ts.Requests,
		Seconds: float64(ts.Duration.Milliseconds()) / 1000, Resumed: ts.Resumed, Attempt: attempt}
}

// allTableNames is every catalog table, for a run that names none.
func allTableNames() []string {
	var names []string
	for _, t := range catalog.All() {
		names = append(names, t.Name)
	}
	return names
}
