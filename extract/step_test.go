package extract

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// Two workers (two Runs, as two processes would hold) page the same partition at once: the page that
// finds its checkpoint moved is not written, and calling again resumes from the other's checkpoint.
// Every record is written exactly once.
func TestSyncPageOverlapIsRefusedNotDoubled(t *testing.T) {
	f := newFake(serverDate, seq(1, 120), serverDate.Add(-time.Hour))
	d := newFakeDest()
	cfg := Config{Client: f, Dest: d, Tables: []*catalog.Table{testTable()}}
	ctx := context.Background()
	a, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tb := cfg.Tables[0]
	plan, err := a.PlanTable(ctx, tb)
	if err != nil || len(plan.Window.Partitions) != 1 {
		t.Fatalf("PlanTable: %+v %v; want one partition for 120 ids", plan, err)
	}
	// While a's first page is being fetched, b syncs the same page.
	overlap := make(chan error, 1)
	f.onCall = func(int) {
		f.onCall = nil
		_, err := b.SyncPage(ctx, tb, 0)
		overlap <- err
	}
	if _, err := a.SyncPage(ctx, tb, 0); !errors.Is(err, ErrCheckpointMoved) {
		t.Fatalf("the overlapping page: %v, want ErrCheckpointMoved", err)
	}
	if err := <-overlap; err != nil {
		t.Fatalf("the other worker's page: %v", err)
	}
	if _, err := a.CompleteTable(ctx, tb); err == nil {
		t.Fatal("CompleteTable accepted a window with a partition not done")
	}
	for range 10 {
		res, err := a.SyncPage(ctx, tb, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Done {
			break
		}
	}
	if _, err := a.CompleteTable(ctx, tb); err != nil {
		t.Fatal(err)
	}
	for id, n := range d.writes {
		if n != 1 {
			t.Fatalf("id %d written %d times", id, n)
		}
	}
	if len(d.writes) != 120 || !d.state[tb.Name].Cursor.Equal(serverDate) || d.state[tb.Name].Window != nil {
		t.Fatalf("%d rows, state %+v; want 120 rows and the cursor at the server's clock", len(d.writes), d.state[tb.Name])
	}
}

// The engine API refuses a table the run did not prepare the destination for, and a page of a table
// without an open window.
func TestRunRefusesUnpreparedTableAndUnplannedPage(t *testing.T) {
	f := newFake(serverDate, seq(1, 10), serverDate.Add(-time.Hour))
	d := newFakeDest()
	run, err := Start(context.Background(), Config{Client: f, Dest: d, Tables: []*catalog.Table{testTable()}})
	if err != nil {
		t.Fatal(err)
	}
	other := testTable()
	other.Name = "gadgets"
	if ts, err := run.SyncTable(context.Background(), other); err == nil || ts.Status != StatusFailed {
		t.Fatalf("SyncTable of a table not in the run: %+v %v", ts, err)
	}
	if _, err := run.SyncPage(context.Background(), testTable(), 0); err == nil {
		t.Fatal("SyncPage without PlanTable succeeded")
	}
	if len(f.callsSnapshot()) != 0 {
		t.Fatal("a refused call sent requests")
	}
}
