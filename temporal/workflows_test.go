package temporal_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	sdk "go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coupa-connector/coupa-connector/temporal"
)

// newEnv is an in-process test environment with the real workflows and a SyncTable that does what do
// says; time skips, so retry backoffs cost nothing.
func newEnv(t *testing.T, do func(ctx context.Context, in temporal.TableInput) (*temporal.TableResult, error)) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	temporal.RegisterWorkflows(env)
	env.RegisterActivityWithOptions(do, activity.RegisterOptions{Name: temporal.SyncTableActivityName})
	env.SetTestTimeout(time.Minute)
	return env
}

func okTable(ctx context.Context, in temporal.TableInput) (*temporal.TableResult, error) {
	return &temporal.TableResult{Table: in.Table, Status: temporal.StatusOK, New: len(in.Table),
		Attempt: activity.GetInfo(ctx).Attempt}, nil
}

func TestWorkerFansOutOneTableWorkflowPerTableBounded(t *testing.T) {
	var running, peak atomic.Int32
	var mu sync.Mutex
	var seen []temporal.TableInput
	env := newEnv(t, func(ctx context.Context, in temporal.TableInput) (*temporal.TableResult, error) {
		mu.Lock()
		seen = append(seen, in)
		mu.Unlock()
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond) // real time: lets the other tables' activities overlap
		return okTable(ctx, in)
	})
	tables := []string{"invoices", "suppliers", "users", "purchase_orders", "requisitions"}
	env.ExecuteWorkflow(temporal.SyncWorkflowName, temporal.SyncInput{Connection: "prod", Dest: "sqlite:w.db",
		Tables: append(tables, "users"), MaxParallel: 2})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("SyncWorkflow: %v", err)
	}
	var res temporal.SyncResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != temporal.StatusOK || len(res.Tables) != len(tables) {
		t.Fatalf("result %+v, want ok with %d tables (users once)", res, len(tables))
	}
	for i, r := range res.Tables {
		if r.Table != tables[i] || r.New != len(tables[i]) || r.Status != temporal.StatusOK {
			t.Errorf("table %d: %+v, want %s ok in input order", i, r, tables[i])
		}
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d tables ran at once, want at most MaxParallel=2", p)
	}
	for _, in := range seen {
		if in.Connection != "prod" || in.Dest != "sqlite:w.db" || !slices.Equal(in.RunTables, tables) {
			t.Errorf("activity input %+v does not carry the run's connection, dest and tables", in)
		}
	}
}

func TestWorkerRetriesAFailedTableUntilItSucceeds(t *testing.T) {
	var calls atomic.Int32
	env := newEnv(t, func(ctx context.Context, in temporal.TableInput) (*temporal.TableResult, error) {
		if calls.Add(1) < 3 {
			return nil, sdk.NewApplicationError("Coupa server error; try again later", temporal.ErrTypeTableFailed)
		}
		return okTable(ctx, in)
	})
	env.ExecuteWorkflow(temporal.SyncWorkflowName, temporal.SyncInput{Dest: "sqlite:w.db", Tables: []string{"invoices"}})
	var res temporal.SyncResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatalf("SyncWorkflow: %v", err)
	}
	if calls.Load() != 3 || res.Tables[0].Attempt != 3 || res.Status != temporal.StatusOK {
		t.Errorf("%d calls, result %+v; want the third attempt to finish the table", calls.Load(), res)
	}
}

func TestWorkerReportsATableThatNeverSucceeds(t *testing.T) {
	env := newEnv(t, func(ctx context.Context, in temporal.TableInput) (*temporal.TableResult, error) {
		if in.Table == "users" {
			return nil, sdk.NewApplicationError("Coupa server error; try again later", temporal.ErrTypeTableFailed)
		}
		return okTable(ctx, in)
	})
	env.ExecuteWorkflow(temporal.SyncWorkflowName, temporal.SyncInput{Dest: "sqlite:w.db", Tables: []string{"invoices", "users"}})
	err := env.GetWorkflowError()
	var ae *sdk.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != temporal.ErrTypeNotSynced || !strings.Contains(ae.Message(), "1 of 2 tables not synced: users") {
		t.Fatalf("error %v, want %s naming users", err, temporal.ErrTypeNotSynced)
	}
	var res temporal.SyncResult
	if err := ae.Details(&res); err != nil || res.Status != temporal.StatusPartial || res.Tables[0].Status != temporal.StatusOK {
		t.Errorf("details %+v (%v), want the partial result with invoices ok", res, err)
	}
}

func TestWorkerEndsTheRunOnAnAuthFailureWithoutRetrying(t *testing.T) {
	const msg = "authentication failed: invalid_client: check the client id and secret"
	var calls atomic.Int32
	env := newEnv(t, func(ctx context.Context, in temporal.TableInput) (*temporal.TableResult, error) {
		calls.Add(1)
		return nil, sdk.NewNonRetryableApplicationError(msg, temporal.ErrTypeAuth, nil)
	})
	env.ExecuteWorkflow(temporal.SyncWorkflowName, temporal.SyncInput{Dest: "sqlite:w.db",
		Tables: []string{"invoices", "users", "suppliers"}, MaxParallel: 1})
	err := env.GetWorkflowError()
	var ae *sdk.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != temporal.ErrTypeAuth || ae.Message() != msg {
		t.Fatalf("error %v, want the CLI's message %q as %s", err, msg, temporal.ErrTypeAuth)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("SyncTable ran %d times, want once: no retry, and no further table after an auth failure", n)
	}
}

func TestWorkerRefusesADestinationWithAPassword(t *testing.T) {
	env := newEnv(t, func(ctx context.Context, in temporal.TableInput) (*temporal.TableResult, error) {
		t.Error("SyncTable ran for a destination with a password")
		return nil, nil
	})
	env.ExecuteWorkflow(temporal.SyncWorkflowName, temporal.SyncInput{Dest: "postgres://coupa:hunter2@db/w"})
	err := env.GetWorkflowError()
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "password") {
		t.Fatalf("error %v, want a refusal that does not repeat the password", err)
	}
}

func TestWorkerCheckDest(t *testing.T) {
	for dest, ok := range map[string]bool{
		"sqlite:coupa.db": true, "parquet:./lake": true, "postgres://coupa@db:5432/w?sslmode=require": true,
		"postgres://coupa:s3cret@db/w": false, "postgresql://db/w?password=s3cret": false, "": false,
		"postgres://db/w?sslpassword=x": false, "postgres://coupa:%zz@db/w": false,
	} {
		err := temporal.CheckDest(dest)
		if (err == nil) != ok {
			t.Errorf("CheckDest(%q) = %v, want ok=%v", dest, err, ok)
		}
		if err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "%zz")) {
			t.Errorf("CheckDest(%q) repeats the secret: %v", dest, err)
		}
	}
}
