package extract

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// gatedDest holds its first WritePage until gate is closed, and records what every write carried.
type gatedDest struct {
	*fakeDest
	gate   chan struct{}
	mu     sync.Mutex
	writes []gatedWrite
}

type gatedWrite struct {
	ids   []int64
	state *dest.State
}

func (g *gatedDest) WritePage(ctx context.Context, p *dest.Page) (dest.WriteStats, error) {
	g.mu.Lock()
	first := len(g.writes) == 0
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
	g := &gatedDest{fakeDest: newFakeDest(), gate: make(chan struct{})}
	var once sync.Once
	f.onCall = func(int) {
		// Release the first write once each of the 4 partitions has asked for its second page: the
		// partition being written included, so fetching overlapped the commit.
		perPartition := map[string]int{}
		for _, c := range f.callsSnapshot() {
			if len(c.Fields) == 1 {
				continue // probe
			}
			hi := filterValue(c, "id", coupa.OpLtOrEq)
			perPartition[hi]++
		}
		n := 0
		for _, calls := range perPartition {
			if calls >= 2 {
				n++
			}
		}
		if n == 4 {
			once.Do(func() { close(g.gate) })
		}
	}
	sum, err := syncOnce(t, context.Background(), f, g.fakeDest, func(c *Config) { c.Dest = g })
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
	// Each partition submitted its first page before asking for its second, so all four first pages
	// were in before the gate opened: those the slow write did not take waited, and the next write
	// took them all.
	if n := len(g.writes[0].ids) + len(g.writes[1].ids); n < 4*coupa.MaxPageSize {
		t.Fatalf("the slow write and the one after it carried %d rows, want at least the 4 first pages (%d)", n, 4*coupa.MaxPageSize)
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
