// Package temporal runs coupa syncs on Temporal: a Sync workflow that fans out one child workflow per
// table, the activity that drives the existing sync engine, schedules, and what a `coupa worker` registers.
package temporal

import (
	"errors"
	"fmt"
	"strings"
	"time"

	sdk "go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names under which the workflows and the activity are registered; schedules and other languages' clients
// start them by these names, so they never change. Changes to what the workflows do must be guarded with
// workflow.GetVersion (the replay test over testdata/ catches a change that is not).
const (
	SyncWorkflowName      = "CoupaSync"
	TableWorkflowName     = "CoupaSyncTable"
	SyncTableActivityName = "SyncTable"
)

// Error types of the application errors the workflows and the activity return.
const (
	// ErrTypeAuth is an authentication failure (bad client id/secret, 401): retrying cannot help.
	ErrTypeAuth = "CoupaAuth"
	// ErrTypeInput is an input no attempt can use: an unknown table, a destination URL with a password.
	ErrTypeInput = "CoupaBadInput"
	// ErrTypeTableFailed is a table the engine could not finish; the activity is retried and resumes.
	ErrTypeTableFailed = "CoupaTableFailed"
	// ErrTypeNotSynced ends a Sync run in which some tables did not end ok; its details hold the SyncResult.
	ErrTypeNotSynced = "CoupaTablesNotSynced"
)

// DefaultTaskQueue is the task queue `coupa worker` polls and schedules start workflows on by default.
const DefaultTaskQueue = "coupa"

// DefaultMaxParallel is how many table workflows of one Sync run at once when SyncInput leaves it zero.
const DefaultMaxParallel = 4

// Table and run statuses; the table ones are the engine's (ok, skipped, failed, interrupted).
const (
	StatusOK      = "ok"
	StatusPartial = "partial"
	StatusFailed  = "failed"
)

// SyncInput is one sync run. It holds names, never secrets: Temporal keeps it in the workflow history and
// shows it in its UI. The worker resolves Connection from its own config file and environment.
type SyncInput struct {
	// Connection names a connection of the worker's config file; "" is the worker's default connection.
	Connection string `json:"connection,omitempty"`
	// Dest is a destination URL as `coupa sync --dest` takes it, without a password (see CheckDest).
	Dest string `json:"dest"`
	// Tables are catalog table names; empty means every table of the catalog.
	Tables           []string `json:"tables,omitempty"`
	FullRefresh      bool     `json:"full_refresh,omitempty"`
	ReconcileDeletes bool     `json:"reconcile_deletes,omitempty"`
	// MaxParallel bounds the table workflows running at once (default DefaultMaxParallel).
	MaxParallel int `json:"max_parallel,omitempty"`
	// HeartbeatTimeout is how long a silent worker keeps a table before Temporal gives it to another
	// (default DefaultHeartbeatTimeout).
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout_ns,omitempty"`
}

// DefaultHeartbeatTimeout is how soon a table held by a dead worker goes to another, unless SyncInput says.
const DefaultHeartbeatTimeout = time.Minute

// TableInput is one table of a sync run, the input of the table workflow and of its activity.
type TableInput struct {
	Connection string `json:"connection,omitempty"`
	Dest       string `json:"dest"`
	Table      string `json:"table"`
	// RunTables are all the tables of the run: the worker requests their scopes once and shares one
	// client, and so one rate limiter, among the run's tables.
	RunTables        []string      `json:"run_tables"`
	FullRefresh      bool          `json:"full_refresh,omitempty"`
	ReconcileDeletes bool          `json:"reconcile_deletes,omitempty"`
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout_ns,omitempty"`
}

// TableResult is what a run did to one table.
type TableResult struct {
	Table    string  `json:"table"`
	Status   string  `json:"status"` // ok | skipped | failed | interrupted
	Message  string  `json:"message,omitempty"`
	New      int     `json:"new"`
	Updated  int     `json:"updated"`
	Deleted  int     `json:"deleted"`
	Children int     `json:"children"`
	Pages    int     `json:"pages"`
	Requests int64   `json:"requests"`
	Seconds  float64 `json:"seconds"`
	Resumed  bool    `json:"resumed,omitempty"`
	Attempt  int32   `json:"attempt"` // the activity attempt that finished the table (1 = first)
}

// SyncResult is what a run did, table by table in the order of the input.
type SyncResult struct {
	Status string        `json:"status"` // ok | partial | failed
	Tables []TableResult `json:"tables"`
}

// SyncWorkflow syncs in.Tables of one connection into one destination, a child workflow per table, at
// most in.MaxParallel at once. An authentication failure cancels the other tables and fails the run with
// the CLI's message; tables that end otherwise than ok fail the run with ErrTypeNotSynced.
func SyncWorkflow(ctx workflow.Context, in SyncInput) (*SyncResult, error) {
	if err := CheckDest(in.Dest); err != nil {
		return nil, sdk.NewNonRetryableApplicationError(err.Error(), ErrTypeInput, nil)
	}
	tables := in.Tables
	if len(tables) == 0 {
		// The catalog grows between releases: the list is recorded once so that a replay sees this run's.
		if err := workflow.SideEffect(ctx, func(workflow.Context) any { return allTableNames() }).Get(&tables); err != nil {
			return nil, err
		}
	}
	tables = dedupe(tables)
	limit := in.MaxParallel
	if limit <= 0 {
		limit = DefaultMaxParallel
	}
	results, fatal := runTables(ctx, in, tables, limit)
	if fatal != nil {
		return nil, sdk.NewNonRetryableApplicationError(fatal.Message(), ErrTypeAuth, nil)
	}
	res := &SyncResult{Status: runStatus(results), Tables: results}
	if res.Status != StatusOK {
		return nil, sdk.NewNonRetryableApplicationError(notSyncedMessage(results), ErrTypeNotSynced, nil, res)
	}
	return res, nil
}

// runTables runs a table workflow per table, at most limit at once, and returns their results in the
// order of tables, or the first authentication failure (after cancelling the tables still running).
func runTables(ctx workflow.Context, in SyncInput, tables []string, limit int) ([]TableResult, *sdk.ApplicationError) {
	childCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	results := make([]TableResult, len(tables))
	sel := workflow.NewSelector(ctx)
	var fatal *sdk.ApplicationError
	next, running := 0, 0
	start := func(i int) {
		opts := workflow.ChildWorkflowOptions{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + tables[i]}
		f := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(childCtx, opts), TableWorkflowName, TableInput{
			Connection: in.Connection, Dest: in.Dest, Table: tables[i], RunTables: tables,
			FullRefresh: in.FullRefresh, ReconcileDeletes: in.ReconcileDeletes, HeartbeatTimeout: in.HeartbeatTimeout})
		running++
		sel.AddFuture(f, func(f workflow.Future) {
			running--
			var r TableResult
			err := f.Get(ctx, &r)
			if err == nil {
				results[i] = r
				return
			}
			if ae := authError(err); ae != nil && fatal == nil {
				fatal = ae
				cancel()
			}
			results[i] = TableResult{Table: tables[i], Status: StatusFailed, Message: errorMessage(err)}
		})
	}
	for {
		for running < limit && next < len(tables) && fatal == nil {
			start(next)
			next++
		}
		if running == 0 {
			return results, fatal
		}
		sel.Select(ctx)
	}
}

// TableWorkflow syncs one table with the SyncTable activity, which Temporal retries: each attempt resumes
// from the checkpoint the destination committed with the last page, so a retry loses and doubles nothing.
// A table that fails every attempt ends with status failed; an authentication failure fails the workflow.
func TableWorkflow(ctx workflow.Context, in TableInput) (*TableResult, error) {
	heartbeat := in.HeartbeatTimeout
	if heartbeat <= 0 {
		heartbeat = DefaultHeartbeatTimeout
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 24 * time.Hour,
		// A worker that dies mid-table stops heartbeating; another one takes the table over this soon.
		HeartbeatTimeout: heartbeat,
		RetryPolicy: &sdk.RetryPolicy{
			InitialInterval:        5 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			MaximumAttempts:        8,
			NonRetryableErrorTypes: []string{ErrTypeAuth, ErrTypeInput},
		},
	})
	var r TableResult
	err := workflow.ExecuteActivity(ctx, SyncTableActivityName, in).Get(ctx, &r)
	switch {
	case err == nil:
		return &r, nil
	case authError(err) != nil:
		return nil, sdk.NewNonRetryableApplicationError(authError(err).Message(), ErrTypeAuth, nil)
	case sdk.IsCanceledError(err):
		return nil, err
	}
	return &TableResult{Table: in.Table, Status: StatusFailed, Message: errorMessage(err)}, nil
}

// authError finds the authentication failure in err's chain, whichever workflow or activity raised it.
func authError(err error) *sdk.ApplicationError {
	for err != nil {
		var ae *sdk.ApplicationError
		if !errors.As(err, &ae) {
			return nil
		}
		if ae.Type() == ErrTypeAuth {
			return ae
		}
		err = ae.Unwrap()
	}
	return nil
}

// errorMessage is the innermost application message of err: what the activity said, without the layers
// of "activity error" and "child workflow execution error" Temporal wraps it in.
func errorMessage(err error) string {
	msg := err.Error()
	for err != nil {
		var ae *sdk.ApplicationError
		if !errors.As(err, &ae) {
			break
		}
		msg = ae.Message()
		err = ae.Unwrap()
	}
	return msg
}

func runStatus(results []TableResult) string {
	ok := 0
	for _, r := range results {
		if r.Status == StatusOK {
			ok++
		}
	}
	switch ok {
	case len(results):
		return StatusOK
	case 0:
		return StatusFailed
	}
	return StatusPartial
}

// notSyncedMessage says which tables did not end ok, as `coupa sync` does.
func notSyncedMessage(results []TableResult) string {
	var bad []string
	for _, r := range results {
		if r.Status != StatusOK {
			bad = append(bad, r.Table+" ("+r.Status+": "+r.Message+")")
		}
	}
	return fmt.Sprintf("%d of %d tables not synced: %s", len(bad), len(results), strings.Join(bad, "; "))
}

// dedupe drops repeated table names, which would start two child workflows with one id.
func dedupe(names []string) []string {
	seen := make(map[string]bool, len(names))
	var out []string
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
