package temporal_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdk "go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/sqlite"
	"github.com/coupa-connector/coupa-connector/extract"
	"github.com/coupa-connector/coupa-connector/extract/extracttest"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
	"github.com/coupa-connector/coupa-connector/temporal"
	"github.com/coupa-connector/coupa-connector/temporal/temporaltest"
)

var update = flag.Bool("update", false, "record testdata/*.history.json from a run on the dev server")

// simResources serve every connection from one simulator client and every URL from one SQLite file.
type simResources struct {
	url, id, secret string
	db              *sqlite.DB
}

func (r *simResources) Client(ctx context.Context, _ string, tables []*catalog.Table) (extract.Lister, error) {
	return coupa.New(coupa.Config{Host: r.url, ClientID: r.id, ClientSecret: r.secret, Scopes: catalog.Scopes(tables)})
}

func (r *simResources) Dest(context.Context, string) (dest.Destination, error) { return r.db, nil }
func (r *simResources) Explain(err error) string                               { return err.Error() }

func newSimResources(t *testing.T, opts sim.Options) (*sim.Server, *simResources) {
	t.Helper()
	s, ts := simtest.Start(t, opts)
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "w.db"), dest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := s.DefaultClient()
	return s, &simResources{url: ts.URL, id: c.ID, secret: c.Secret, db: db}
}

func TestWorkerActivityFailsAuthWithoutRetry(t *testing.T) {
	_, res := newSimResources(t, sim.Options{Seed: 3, Scale: 50})
	res.secret = "not-the-secret"
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions((&temporal.Activities{Resources: res}).SyncTable, activity.RegisterOptions{Name: temporal.SyncTableActivityName})
	_, err := env.ExecuteActivity(temporal.SyncTableActivityName, temporal.TableInput{Dest: "sqlite:w.db", Table: "users",
		RunTables: []string{"users"}})
	var ae *sdk.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != temporal.ErrTypeAuth || !ae.NonRetryable() || !strings.Contains(ae.Message(), "authentication failed") {
		t.Fatalf("error %v, want a non-retryable %s with the client's message", err, temporal.ErrTypeAuth)
	}
}

// TestWorkerSyncsTablesOnADevServer runs SyncWorkflow on a real Temporal server with an in-process
// worker, checks the warehouse against the simulator, the histories for the secret, and replays them.
func TestWorkerSyncsTablesOnADevServer(t *testing.T) {
	srv := temporaltest.Start(t)
	c := srv.Client(t)
	_, res := newSimResources(t, sim.Options{Seed: 5, Scale: 150})
	w := temporal.NewWorker(c, "coupa-e2e", &temporal.Activities{Resources: res, HeartbeatEvery: 200 * time.Millisecond}, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	tables := []string{"invoices", "suppliers", "users"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e2e-sync", TaskQueue: "coupa-e2e"},
		temporal.SyncWorkflowName, temporal.SyncInput{Connection: "sim", Dest: "sqlite:w.db", Tables: tables})
	if err != nil {
		t.Fatal(err)
	}
	var result temporal.SyncResult
	if err := run.Get(ctx, &result); err != nil {
		t.Fatalf("SyncWorkflow: %v", err)
	}
	if result.Status != temporal.StatusOK || len(result.Tables) != len(tables) {
		t.Fatalf("result %+v, want every table ok", result)
	}
	for _, name := range tables {
		tb, _ := catalog.Lookup(name)
		diffs, err := extracttest.Diff(ctx, res.url, res.db, tb, 10)
		if err != nil || len(diffs) > 0 {
			t.Errorf("%s differs from the simulator (%v): %v", name, err, diffs)
		}
	}
	ids := map[string]string{"sync": "e2e-sync"}
	for _, name := range tables {
		ids["table-"+name] = "e2e-sync/" + name
	}
	for name, id := range ids {
		h := history(t, c, id)
		b, err := protojson.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), res.secret) {
			t.Errorf("the Coupa client secret is in the history of %s", id)
		}
		if err := replay(h, id); err != nil {
			t.Errorf("replaying the history of %s recorded on the dev server: %v", id, err)
		}
		if _, recorded := recordedIDs[name]; *update && recorded {
			writeHistory(t, name, b)
		}
	}
}

// recordedIDs are the workflow ids of the histories kept in testdata/, by file name: replay needs the
// original id, since the Sync workflow derives its children's ids from its own.
var recordedIDs = map[string]string{"sync": "e2e-sync", "table-users": "e2e-sync/users"}

func history(t *testing.T, c client.Client, id string) *historypb.History {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), id, "", false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		h.Events = append(h.Events, e)
	}
	return h
}

// replay runs the workflows of this build over h, a history of workflow id.
func replay(h *historypb.History, id string) error {
	r := worker.NewWorkflowReplayer()
	temporal.RegisterWorkflows(r)
	return r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: id}})
}

func writeHistory(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", name+".history.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWorkerReplaysRecordedHistories replays histories recorded by an earlier release of these workflows
// (go test ./temporal -run DevServer -update records them): a change that breaks determinism fails here.
func TestWorkerReplaysRecordedHistories(t *testing.T) {
	for name, id := range recordedIDs {
		f, err := os.Open(filepath.Join("testdata", name+".history.json"))
		if err != nil {
			t.Fatal(err)
		}
		h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
		f.Close()
		if err != nil {
			t.Fatalf("reading %s: %v", f.Name(), err)
		}
		if err := replay(h, id); err != nil {
			t.Errorf("replaying %s: %v", f.Name(), err)
		}
	}
}
