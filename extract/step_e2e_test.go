package extract_test

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/extract"
	"github.com/coupa-connector/coupa-connector/extract/extracttest"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// A worker's way through a table: plan it, sync a few pages, get killed (a cancelled call, then a new
// Run as a new process would start), resume every partition at once from the saved checkpoints, complete
// it. The warehouse then equals the simulator, and every record was fetched exactly once: a resumed
// partition neither starts over nor skips a page.
func TestPlanSyncPageResumeAfterKill(t *testing.T) {
	e := newEnv(t, sim.Options{Seed: 21, Scale: 300}, nil)
	inv, _ := catalog.Lookup("invoices")
	cfg := extract.Config{Client: e.client, Dest: e.db, Tables: []*catalog.Table{inv}, Concurrency: 4}
	ctx := context.Background()

	run, err := extract.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	plan := planRoundTrip(t, run, inv)
	if plan.Resumed || len(plan.Window.Partitions) < 2 {
		t.Fatalf("plan of a full sync = %+v; want a new window cut into id ranges", plan)
	}
	if b, _ := json.Marshal(plan); bytes.Contains(b, []byte(e.sim.DefaultClient().Secret)) {
		t.Fatalf("the plan holds the client secret: %s", b)
	}
	again, err := run.PlanTable(ctx, inv)
	if err != nil || !again.Resumed || !again.Window.To.Equal(plan.Window.To) {
		t.Fatalf("a retried PlanTable = %+v, %v; want the same window, resumed", again, err)
	}

	fetched := 0
	for i := range plan.Window.Partitions {
		for range 2 {
			fetched += syncPage(t, run, inv, i).Rows
		}
	}
	// The kill: a call whose context is gone writes nothing.
	before, _ := e.db.LoadState(ctx, inv.Name)
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := run.SyncPage(dead, inv, 0); err == nil {
		t.Fatal("SyncPage with a cancelled context succeeded")
	}
	if after, _ := e.db.LoadState(ctx, inv.Name); !equalJSON(before.Window, after.Window) {
		t.Fatalf("a cancelled SyncPage moved the checkpoint: %+v -> %+v", before.Window, after.Window)
	}

	run2, err := extract.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start after the kill: %v", err)
	}
	resumed := planRoundTrip(t, run2, inv)
	if !resumed.Resumed || !equalJSON(resumed.Window, before.Window) {
		t.Fatalf("the new run planned %+v; want the saved window %+v resumed", resumed.Window, before.Window)
	}
	fetched += syncAllPartitions(t, run2, inv, len(resumed.Window.Partitions))
	if _, err := run2.CompleteTable(ctx, inv); err != nil {
		t.Fatalf("CompleteTable: %v", err)
	}
	if _, err := run2.Finish(ctx); err != nil {
		t.Fatalf("Finish: %v", err)
	}

	st, _ := e.db.LoadState(ctx, inv.Name)
	if st.Window != nil || !st.Cursor.Equal(plan.Window.To) {
		t.Fatalf("state after CompleteTable: %+v; want no window and the cursor at %v", st, plan.Window.To)
	}
	truth, err := extracttest.Snapshot(ctx, e.ts.URL, inv.Resource)
	if err != nil {
		t.Fatal(err)
	}
	if fetched != len(truth) {
		t.Fatalf("the pages synced carried %d invoices, the simulator has %d: pages lost or fetched twice", fetched, len(truth))
	}
	e.assertTruth(t, []*catalog.Table{inv})

	// The cursor CompleteTable saved is where the next (whole-run) sync starts: a change lands, nothing goes stale.
	if _, err := e.sim.Mutate(sim.Mutation{Resource: "invoices", ID: 7, Set: map[string]any{"status": "voided"}}); err != nil {
		t.Fatal(err)
	}
	simtest.WaitPastChanges(t, e.sim, "invoices")
	requireOK(t, e.sync(t, []*catalog.Table{inv}, nil))
	e.assertTruth(t, []*catalog.Table{inv})
}

// planRoundTrip plans t and returns the plan as a worker would receive it: through JSON, with no secret.
func planRoundTrip(t *testing.T, run *extract.Run, tb *catalog.Table) *extract.Plan {
	t.Helper()
	plan, err := run.PlanTable(context.Background(), tb)
	if err != nil {
		t.Fatalf("PlanTable: %v", err)
	}
	b, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	var back extract.Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !equalJSON(plan, &back) {
		t.Fatalf("the plan does not survive JSON: %s", b)
	}
	return &back
}

// maxPages bounds a test's paging loop: a checkpoint that does not move must fail, not hang.
const maxPages = 1000

// syncAllPartitions pages every partition to its end, all partitions at once, and returns the rows synced.
func syncAllPartitions(t *testing.T, run *extract.Run, tb *catalog.Table, n int) int {
	t.Helper()
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for range maxPages {
				res, err := run.SyncPage(context.Background(), tb, i)
				if err != nil {
					t.Errorf("SyncPage(%d): %v", i, err)
					return
				}
				mu.Lock()
				total += res.Rows
				mu.Unlock()
				if res.Done {
					return
				}
			}
			t.Errorf("partition %d not done after %d pages", i, maxPages)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return total
}

func syncPage(t *testing.T, run *extract.Run, tb *catalog.Table, i int) extract.PageResult {
	t.Helper()
	res, err := run.SyncPage(context.Background(), tb, i)
	if err != nil {
		t.Fatalf("SyncPage(%d): %v", i, err)
	}
	return res
}

func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
