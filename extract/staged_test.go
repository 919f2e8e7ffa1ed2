package extract

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
)

// stagingDest is fakeDest with dest.StagedWriter: staged rows become visible only at Commit, and every
// Commit checks that its state covers no row that is neither committed nor in the page.
type stagingDest struct {
	*fakeDest
	failID int64 // staging a page holding this id fails

	smu        sync.Mutex
	inflight   int
	maxFlight  int
	second     chan struct{} // closed when two pages are staged at once
	violations []string
}

func newStagingDest() *stagingDest {
	return &stagingDest{fakeDest: newFakeDest(), second: make(chan struct{})}
}

func (d *stagingDest) StageLimit() int { return 2 }

func (d *stagingDest) StagePage(ctx context.Context, p *dest.Page) (dest.Staged, error) {
	d.smu.Lock()
	d.inflight++
	if d.inflight > d.maxFlight {
		d.maxFlight = d.inflight
		if d.maxFlight == 2 {
			close(d.second)
		}
	}
	first := d.maxFlight == 1
	d.smu.Unlock()
	if first {
		// The first page waits for a second to be staged beside it; an engine that stages one page at
		// a time never sends one, and the wait ends unanswered.
		select {
		case <-d.second:
		case <-time.After(2 * time.Second):
		}
	}
	for _, r := range p.Rows {
		if r[0].(int64) == d.failID {
			d.release()
			return nil, errors.New("injected staging failure")
		}
	}
	return &fakeStaged{d: d, p: p}, nil
}

func (d *stagingDest) release() {
	d.smu.Lock()
	d.inflight--
	d.smu.Unlock()
}

type fakeStaged struct {
	d *stagingDest
	p *dest.Page
}

func (s *fakeStaged) Commit(ctx context.Context, st *dest.State) (dest.WriteStats, error) {
	defer s.d.release()
	inPage := map[int64]bool{}
	for _, r := range s.p.Rows {
		inPage[r[0].(int64)] = true
	}
	s.d.mu.Lock()
	if st != nil && st.Window != nil {
		for i, part := range st.Window.Partitions {
			for id := part.Lo + 1; id <= part.LastID; id++ {
				if _, ok := s.d.rows[id]; !ok && !inPage[id] {
					s.d.smu.Lock()
					s.d.violations = append(s.d.violations, fmt.Sprintf("partition %d checkpoint %d covers id %d, not committed", i, part.LastID, id))
					s.d.smu.Unlock()
					break
				}
			}
		}
	}
	s.d.mu.Unlock()
	p := *s.p
	p.State = st
	return s.d.fakeDest.WritePage(ctx, &p)
}

func (s *fakeStaged) Rollback() { s.d.release() }

func TestStagedPagesOverlapAndCheckpointsCoverOnlyCommittedRows(t *testing.T) {
	f := newFake(serverDate, seq(1, 2000), serverDate.Add(-time.Hour))
	d := newStagingDest()
	cfg := Config{Client: f, Dest: d, Tables: []*catalog.Table{testTable()}, Concurrency: 4}
	sum, err := Sync(context.Background(), cfg)
	if err != nil || sum.Status != StatusOK {
		t.Fatalf("%v %+v", err, sum)
	}
	if d.maxFlight != 2 {
		t.Errorf("at most %d pages were staged at once, want StageLimit() = 2", d.maxFlight)
	}
	if len(d.violations) > 0 {
		t.Errorf("checkpoints ran ahead of committed rows: %v", d.violations)
	}
	for id := int64(1); id <= 2000; id++ {
		if d.writes[id] != 1 {
			t.Fatalf("row %d written %d times, want once", id, d.writes[id])
		}
	}
}

func TestFailedStagingLeavesCheckpointBehindIt(t *testing.T) {
	f := newFake(serverDate, seq(1, 2000), serverDate.Add(-time.Hour))
	d := newStagingDest()
	d.failID = 1234
	cfg := Config{Client: f, Dest: d, Tables: []*catalog.Table{testTable()}, Concurrency: 4}
	sum, err := Sync(context.Background(), cfg)
	if err != nil {
		t.Fatalf("a table failure is not a run error: %v", err)
	}
	if sum.Status != StatusFailed {
		t.Fatalf("status %s, want failed: a page could not be written", sum.Status)
	}
	if len(d.violations) > 0 {
		t.Errorf("checkpoints ran ahead of committed rows: %v", d.violations)
	}
	if _, ok := d.rows[1234]; ok {
		t.Fatal("the row of the failed page was written")
	}
	st := d.state["widgets"]
	if st == nil || st.Window == nil {
		t.Fatalf("state %+v: the window must stay open after a failed page", st)
	}
	for _, p := range st.Window.Partitions {
		if p.Lo < 1234 && 1234 <= p.Hi && (p.Done || p.LastID >= 1234) {
			t.Fatalf("partition %+v is checkpointed past the failed page holding id 1234", p)
		}
	}
}
