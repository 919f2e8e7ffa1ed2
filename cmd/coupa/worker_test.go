package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdk "go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/sqlite"
	"github.com/coupa-connector/coupa-connector/extract/extracttest"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
	"github.com/coupa-connector/coupa-connector/temporal"
	"github.com/coupa-connector/coupa-connector/temporal/temporaltest"
)

const workerTestSecret = "sch3dule-secret-value-4711"

// startWorker runs `coupa worker` until the test ends; its connections come from a config file whose
// secret is in the environment, as a deployment would have it.
func startWorker(t *testing.T, dir string, env []string, flags ...string) (*temporaltest.Buffer, *exec.Cmd) {
	t.Helper()
	cmd := coupaCommand(dir, env, append([]string{"--config", "coupa.yaml", "worker", "--task-queue", "coupa-cli"}, flags...)...)
	logs := &temporaltest.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	return logs, cmd
}

// TestWorkerRunsAScheduleOnADevServer drives `coupa schedule` and `coupa worker` against a real Temporal
// dev server and the simulator: after each of three triggered runs, with Coupa changing in between, the
// warehouse equals the simulator's data, and the Coupa secret shows in no workflow history and no worker log.
func TestWorkerRunsAScheduleOnADevServer(t *testing.T) {
	srv := temporaltest.Start(t)
	s, ts, dir, env := workerSetup(t, srv, sim.Options{Seed: 41, Scale: 150})
	logs, _ := startWorker(t, dir, env)
	db := filepath.Join(dir, "w.db")

	bad := runCoupa(t, dir, env, "schedule", "create", "leaky", "--dest", "postgres://u:"+workerTestSecret+"@db/w", "--every", "1h")
	if bad.code != exitUsage || strings.Contains(bad.stderr, workerTestSecret) {
		t.Errorf("schedule with a password in --dest: exit %d, stderr %q; want %d without the password", bad.code, bad.stderr, exitUsage)
	}
	r := runCoupa(t, dir, env, "schedule", "create", "hourly", "--connection", "simulated", "--dest", "sqlite:"+db,
		"--every", "1h", "--jitter", "1m", "--tables", "users,invoices", "--task-queue", "coupa-cli")
	if r.code != 0 {
		t.Fatalf("schedule create: exit %d: %s", r.code, r.stderr)
	}
	c := srv.Client(t)
	var runs []client.ScheduleWorkflowExecution
	for n := 1; n <= 3; n++ {
		if n > 1 { // what changed since the last run must be in the next one
			changeSimulator(t, s, n)
		}
		if r := runCoupa(t, dir, env, "schedule", "trigger", "hourly"); r.code != 0 {
			t.Fatalf("schedule trigger: exit %d: %s", r.code, r.stderr)
		}
		run := waitForScheduledRun(t, c, "hourly", n)
		runs = append(runs, run)
		checkScheduledRun(t, c, run, logs)
		checkWarehouse(t, ts.URL, db, "invoices", "users")
	}
	checkScheduleCommands(t, dir, env, db)
	for _, run := range runs {
		for _, id := range []string{run.WorkflowID, run.WorkflowID + "/invoices", run.WorkflowID + "/users"} {
			if h := historyJSON(t, c, id); strings.Contains(h, workerTestSecret) {
				t.Errorf("the Coupa client secret is in the history of %s", id)
			}
		}
	}
	if strings.Contains(logs.String(), workerTestSecret) {
		t.Error("the Coupa client secret is in the worker's log")
	}
}

// workerSetup serves a simulator whose client is "simulated" in the workers' config file, in dir.
func workerSetup(t *testing.T, srv *temporaltest.Server, opts sim.Options) (*sim.Server, *httptest.Server, string, []string) {
	t.Helper()
	opts.Clients = []sim.Client{{ID: "etl", Secret: workerTestSecret, Scopes: sim.AllScopes()}}
	s, ts := simtest.Start(t, opts)
	dir := t.TempDir()
	cfg := "connections:\n  simulated:\n    host: " + ts.URL + "\n    client_id: etl\n    client_secret: ${SIM_SECRET}\n" +
		"  refused:\n    host: " + ts.URL + "\n    client_id: etl\n    client_secret: not-the-secret\n"
	if err := os.WriteFile(filepath.Join(dir, "coupa.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return s, ts, dir, []string{"TEMPORAL_ADDRESS=" + srv.Address, "SIM_SECRET=" + workerTestSecret}
}

// TestWorkerKilledMidTableIsResumedByAnother kills a worker with SIGKILL while it syncs a table; a second
// worker takes the table over when the heartbeats stop and finishes it from the committed checkpoint:
// the warehouse equals the simulator, nothing lost, doubled or stale.
func TestWorkerKilledMidTableIsResumedByAnother(t *testing.T) {
	srv := temporaltest.Start(t)
	_, ts, dir, env := workerSetup(t, srv, sim.Options{Seed: 43, Scale: 3000, Latency: 100 * time.Millisecond})
	_, first := startWorker(t, dir, env, "--concurrency", "1")
	c := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	db := filepath.Join(dir, "w.db")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "killed", TaskQueue: "coupa-cli"}, temporal.SyncWorkflowName,
		temporal.SyncInput{Connection: "simulated", Dest: "sqlite:" + db, Tables: []string{"invoices"}, HeartbeatTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waitForPages(t, c, "killed/invoices", 5)
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	startWorker(t, dir, env)
	var result temporal.SyncResult
	if err := run.Get(ctx, &result); err != nil {
		t.Fatalf("SyncWorkflow after the kill: %v", err)
	}
	if r := result.Tables[0]; r.Status != temporal.StatusOK || r.Attempt < 2 || !r.Resumed {
		t.Errorf("invoices: %+v, want ok on a later attempt that resumed the open window", r)
	}
	checkWarehouse(t, ts.URL, db, "invoices")
}

// TestWorkerFailsARunOnAuthWithTheCLIMessage: bad credentials end the run at once, with the message
// `coupa sync` prints for the same connection.
func TestWorkerFailsARunOnAuthWithTheCLIMessage(t *testing.T) {
	srv := temporaltest.Start(t)
	_, _, dir, env := workerSetup(t, srv, sim.Options{Seed: 45, Scale: 50})
	startWorker(t, dir, env)
	cli := runCoupa(t, dir, env, "--config", "coupa.yaml", "--connection", "refused", "sync", "--dest", "sqlite:cli.db", "--tables", "users")
	want := strings.TrimPrefix(strings.TrimSpace(cli.stderr), "coupa: ")
	if cli.code != exitError || !strings.Contains(want, "authentication failed") {
		t.Fatalf("coupa sync with bad credentials: exit %d, %q", cli.code, cli.stderr)
	}
	c := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "refused", TaskQueue: "coupa-cli"}, temporal.SyncWorkflowName,
		temporal.SyncInput{Connection: "refused", Dest: "sqlite:w.db", Tables: []string{"users", "suppliers"}})
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	var ae *sdk.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != temporal.ErrTypeAuth || ae.Message() != want {
		t.Fatalf("run error %v, want %s with the CLI's message %q", err, temporal.ErrTypeAuth, want)
	}
}

// waitForPages waits until the table workflow's activity has heartbeated at least pages pages.
func waitForPages(t *testing.T, c client.Client, id string, pages int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		d, err := c.DescribeWorkflowExecution(context.Background(), id, "")
		if err == nil {
			for _, a := range d.PendingActivities {
				var p temporal.Progress
				if a.HeartbeatDetails != nil && converter.GetDefaultDataConverter().FromPayloads(a.HeartbeatDetails, &p) == nil && p.Pages >= pages {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not heartbeat %d pages", id, pages)
}

// waitForScheduledRun waits until the schedule has started its nth workflow and returns it.
func waitForScheduledRun(t *testing.T, c client.Client, name string, n int) client.ScheduleWorkflowExecution {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		d, err := c.ScheduleClient().GetHandle(context.Background(), name).Describe(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if acts := d.Info.RecentActions; len(acts) >= n && acts[n-1].StartWorkflowResult != nil {
			return *acts[n-1].StartWorkflowResult
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("schedule %s started fewer than %d runs", name, n)
	return client.ScheduleWorkflowExecution{}
}

// checkScheduledRun waits for a run to end and wants both its tables ok.
func checkScheduledRun(t *testing.T, c client.Client, run client.ScheduleWorkflowExecution, logs *temporaltest.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var result temporal.SyncResult
	if err := c.GetWorkflow(ctx, run.WorkflowID, run.FirstExecutionRunID).Get(ctx, &result); err != nil {
		t.Fatalf("the scheduled run %s failed: %v\nworker log:\n%s", run.WorkflowID, err, logs.String())
	}
	if result.Status != temporal.StatusOK || len(result.Tables) != 2 {
		t.Fatalf("scheduled run %s: %+v, want invoices and users ok", run.WorkflowID, result)
	}
}

// changeSimulator creates and updates records, as Coupa users would between two runs.
func changeSimulator(t *testing.T, s *sim.Server, n int) {
	t.Helper()
	for _, m := range []sim.Mutation{{Resource: "invoices", Create: true}, {Resource: "users", Create: true},
		{Resource: "users", ID: int64(n), Set: map[string]any{"active": n%2 == 0}}} {
		if _, err := s.Mutate(m); err != nil {
			t.Fatal(err)
		}
	}
	simtest.WaitPastChanges(t, s, "invoices", "users")
}

func checkWarehouse(t *testing.T, simURL, path string, tables ...string) {
	t.Helper()
	db, err := sqlite.Open(path, dest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	selected, err := catalog.Select(tables)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Prepare(context.Background(), selected); err != nil { // the reader's own view of the schema
		t.Fatal(err)
	}
	for _, tb := range selected {
		name := tb.Name
		diffs, err := extracttest.Diff(context.Background(), simURL, db, tb, 10)
		if err != nil || len(diffs) > 0 {
			t.Errorf("%s differs from the simulator (%v): %v", name, err, diffs)
		}
	}
}

// checkScheduleCommands runs describe, list, pause, unpause and delete on the schedule "hourly".
func checkScheduleCommands(t *testing.T, dir string, env []string, db string) {
	t.Helper()
	doc := describeJSON(t, dir, env)
	if doc.Connection != "simulated" || doc.Dest != "sqlite:"+db || strings.Join(doc.Tables, ",") != "invoices,users" ||
		doc.Overlap != "Skip" || doc.Jitter != "1m0s" || len(doc.Every) != 1 || doc.Every[0] != "1h0m0s" || len(doc.RecentRuns) == 0 {
		t.Errorf("schedule describe: %+v", doc)
	}
	r := runCoupa(t, dir, env, "schedule", "list", "-o", "json")
	var list []scheduleDoc
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0].Name != "hourly" {
		t.Errorf("schedule list -o json: %v: %s %s", err, r.stdout, r.stderr)
	}
	for _, step := range []struct {
		verb   string
		paused bool
	}{{"pause", true}, {"unpause", false}} {
		if r := runCoupa(t, dir, env, "schedule", step.verb, "hourly"); r.code != 0 {
			t.Fatalf("schedule %s: %s", step.verb, r.stderr)
		}
		if doc := describeJSON(t, dir, env); doc.Paused != step.paused {
			t.Errorf("after schedule %s: paused=%v", step.verb, doc.Paused)
		}
	}
	if r := runCoupa(t, dir, env, "schedule", "delete", "hourly"); r.code != 0 {
		t.Fatalf("schedule delete: %s", r.stderr)
	}
	if r := runCoupa(t, dir, env, "schedule", "describe", "hourly"); r.code == 0 {
		t.Errorf("describe after delete succeeded: %s", r.stdout)
	}
}

func describeJSON(t *testing.T, dir string, env []string) scheduleDoc {
	t.Helper()
	r := runCoupa(t, dir, env, "schedule", "describe", "hourly", "-o", "json")
	var doc scheduleDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("schedule describe -o json: %v: %s %s", err, r.stdout, r.stderr)
	}
	return doc
}

// historyJSON is a workflow's history as `temporal workflow show -o json` prints it.
func historyJSON(t *testing.T, c client.Client, id string) string {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), id, "", false, 0)
	var sb strings.Builder
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		b, err := protojson.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(b)
	}
	return sb.String()
}

// TestScheduleCreateRefusesBadFlagsBeforeDialing: mistakes are usage errors, found without a Temporal.
func TestScheduleCreateRefusesBadFlagsBeforeDialing(t *testing.T) {
	dir := t.TempDir()
	env := []string{"TEMPORAL_ADDRESS=127.0.0.1:1"}
	for _, args := range [][]string{
		{"--dest", "sqlite:w.db"},
		{"--dest", "sqlite:w.db", "--every", "500ms"},
		{"--dest", "sqlite:w.db", "--every", "1h", "--tables", "nope"},
		{"--dest", "mysql://db", "--every", "1h"},
		{"--dest", "postgres://u:pw@db/w", "--every", "1h"},
	} {
		r := runCoupa(t, dir, env, append([]string{"schedule", "create", "x"}, args...)...)
		if r.code != exitUsage || strings.Contains(r.stderr, ":pw@") {
			t.Errorf("schedule create %v: exit %d, %q; want %d", args, r.code, r.stderr, exitUsage)
		}
	}
}
