package extract

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// gatedDest holds its first WritePage of a window split in at least 4 until gate is closed, and records
// what every write carried.
type gatedDest struct {
	*fakeDest
	gate   chan struct{}
	mu     sync.Mutex
	writes []gatedWrite
	gated  int // index of the held write; -1 before it
}

type gatedWrite struct {
	ids   []int64
	state *dest.State
}

func (g *gatedDest) WritePage(ctx context.Context, p *dest.Page) (dest.WriteStats, error) {
	g.mu.Lock()
	first := g.gated < 0 && p.State.Window != nil && len(p.State.Window.Partitions) >= 4
	if first {
		g.gated = len(g.writes)
	}
	w := gatedWrite{state: cloneState(p.State)}
	for _, r := range p.Rows {
		w.ids = append(w.ids, r[0].(int64))
	}
	g.writes = append(g.writes, w)
	g.mu.Unlock()
	if first {
		<-g.gate
	}
	return g.fakeDest.WritePage(ctx, p)
}

// While the destination is slow, every partition goes on to fetch its next page, the pages that wait are
// committed together in the next transaction, and every transaction's checkpoint covers exactly its rows.
func TestSlowDestinationOverlapsFetchingAndMergesPages(t *testing.T) {
	f := newFake(serverDate, seq(1, 1000), serverDate.Add(-time.Hour))
	g := &gatedDest{fakeDest: newFakeDest(), gate: make(chan struct{}), gated: -1}
	var once sync.Once
	pagesAtGate := -1
	f.onCall = func(int) {
		// Release the held write once more pages were asked for while it was held: the partitions went
		// on fetching while the destination was slow.
		pages := 0
		for _, c := range f.callsSnapshot() {
			if len(c.Fields) != 1 { // not a probe
				pages++
			}
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		switch {
		case g.gated < 0:
		case pagesAtGate < 0:
			pagesAtGate = pages
		case pages-pagesAtGate >= 2:
			// Each partition fetches one page ahead of its commit, so a few pages can come while the write
			// is held; a moment lets the answered ones reach the writer's queue before it opens.
			once.Do(func() {
				go func() {
					time.Sleep(50 * time.Millisecond)
					close(g.gate)
				}()
			})
		}
	}
	sum, err := syncOnce(t, context.Background(), f, g.fakeDest, func(c *Config) { c.Dest = g; c.Concurrency = 4 })
	if err != nil || sum.Status != StatusOK {
		t.Fatalf("%v %+v", err, sum)
	}
	if len(g.rows) != 1000 {
		t.Fatalf("%d rows written, want 1000", len(g.rows))
	}
	for id := int64(1); id <= 1000; id++ {
		if g.writes2(id) != 1 {
			t.Fatalf("row %d written %d times", id, g.writes2(id))
		}
	}
	if sum.Tables[0].Pages < 20 {
		t.Fatalf("summary counts %d pages, want every API page (at least 20)", sum.Tables[0].Pages)
	}
	if len(g.writes) >= sum.Tables[0].Pages {
		t.Fatalf("%d transactions for %d pages: no pages were merged while the destination was slow", len(g.writes), sum.Tables[0].Pages)
	}
	// Pages fetched while the write was held waited, and the next write took them together.
	if n := len(g.writes[g.gated+1].ids); n < 2*coupa.MaxPageSize {
		t.Fatalf("the write after the slow one carried %d rows, want the pages that waited for it (at least %d)", n, 2*coupa.MaxPageSize)
	}
	for n, w := range g.writes {
		parts := w.state.Window.Partitions
		maxOf := make([]int64, len(parts))
		for _, id := range w.ids {
			k := -1
			for i, p := range parts {
				if id > p.Lo && (p.Hi == 0 || id <= p.Hi) {
					k = i
				}
			}
			if k < 0 || id > parts[k].LastID && !parts[k].Done {
				t.Fatalf("write %d: row %d is not covered by the checkpoint it was committed with: %+v", n, id, parts)
			}
			maxOf[k] = max(maxOf[k], id)
		}
		for i, m := range maxOf {
			if m > 0 && m != parts[i].LastID {
				t.Fatalf("write %d: partition %d checkpoint %d, but its last row in the write is %d", n, i, parts[i].LastID, m)
			}
		}
	}
}

func (g *gatedDest) writes2(id int64) int {
	g.fakeDest.mu.Lock()
	defer g.fakeDest.mu.Unlock()
	return g.fakeDest.writes[id]
}
