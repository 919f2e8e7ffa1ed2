package extract

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// fakeCoupa serves one resource from memory, honouring the filters the engine sends the way Coupa does.
type fakeCoupa struct {
	mu       sync.Mutex
	date     time.Time         // the server clock sent as Date
	recs     map[int64]fakeRec // id -> record
	calls    []*coupa.ListOptions
	fail     func(o *coupa.ListOptions) error // injected failure, nil = none
	onCall   func(n int)                      // called after each answered call, outside the lock
	requests int64
}

type fakeRec struct {
	updated time.Time
	name    string
}

func newFake(date time.Time, ids []int64, updated time.Time) *fakeCoupa {
	f := &fakeCoupa{date: date, recs: map[int64]fakeRec{}}
	for _, id := range ids {
		f.recs[id] = fakeRec{updated: updated, name: fmt.Sprintf("rec-%d", id)}
	}
	return f
}

func (f *fakeCoupa) Stats() coupa.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return coupa.Stats{Requests: f.requests}
}

func (f *fakeCoupa) ListPage(ctx context.Context, resource string, o *coupa.ListOptions) ([]coupa.Record, *coupa.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	f.mu.Lock()
	cp := *o
	f.calls = append(f.calls, &cp)
	f.requests++
	n := len(f.calls)
	if f.fail != nil {
		if err := f.fail(o); err != nil {
			f.mu.Unlock()
			return nil, &coupa.Response{Date: f.date}, err
		}
	}
	var ids []int64
	for id, r := range f.recs {
		if id <= o.AfterID || !f.match(id, r, o.Filters) {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) > o.Limit {
		ids = ids[:o.Limit]
	}
	out := make([]coupa.Record, 0, len(ids))
	for _, id := range ids {
		r := f.recs[id]
		rec := coupa.Record{"id": json.Number(strconv.FormatInt(id, 10))}
		if len(o.Fields) != 1 {
			rec["updated-at"] = r.updated.Format(time.RFC3339)
			rec["name"] = r.name
		}
		out = append(out, rec)
	}
	resp := &coupa.Response{Date: f.date}
	f.mu.Unlock()
	if f.onCall != nil {
		f.onCall(n)
	}
	return out, resp, nil
}

// servedAsBody answers ListPageDecode with l's ListPage records encoded as the JSON body Coupa would send,
// so that each fake and wrapper serves synced pages and probes alike.
func servedAsBody(l interface {
	ListPage(context.Context, string, *coupa.ListOptions) ([]coupa.Record, *coupa.Response, error)
}, ctx context.Context, res string, o *coupa.ListOptions, decode func([]byte) error) (*coupa.Response, error) {
	recs, resp, err := l.ListPage(ctx, res, o)
	if err != nil {
		return resp, err
	}
	body, err := json.Marshal(recs)
	if err != nil {
		panic(err)
	}
	return resp, decode(body)
}

func (f *fakeCoupa) ListPageDecode(ctx context.Context, res string, o *coupa.ListOptions, decode func([]byte) error) (*coupa.Response, error) {
	return servedAsBody(f, ctx, res, o, decode)
}

func (f *fakeCoupa) match(id int64, r fakeRec, filters []coupa.Filter) bool {
	for _, c := range filters {
		switch c.Field {
		case "id":
			hi, _ := strconv.ParseInt(c.Value, 10, 64)
			if c.Op != coupa.OpLtOrEq {
				panic("unexpected id filter " + string(c.Op))
			}
			if id > hi {
				return false
			}
		case "updated_at":
			t, err := time.Parse(time.RFC3339, c.Value)
			if err != nil {
				panic(err)
			}
			switch c.Op {
			case coupa.OpGtOrEq:
				if r.updated.Before(t) {
					return false
				}
			case coupa.OpLt:
				if !r.updated.Before(t) {
					return false
				}
			default:
				panic("unexpected updated_at filter " + string(c.Op))
			}
		default:
			panic("unexpected filter " + c.Field)
		}
	}
	return true
}

func (f *fakeCoupa) callsSnapshot() []*coupa.ListOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeDest is an in-memory destination that records every committed page and state.
type fakeDest struct {
	mu      sync.Mutex
	rows    map[int64]map[string]any // by column name
	writes  map[int64]int            // id -> number of times written
	deleted map[int64]time.Time
	state   map[string]*dest.State
	saved   []*dest.State // every state committed, in order
	runs    []*dest.Run
}

func newFakeDest() *fakeDest {
	return &fakeDest{rows: map[int64]map[string]any{}, writes: map[int64]int{}, deleted: map[int64]time.Time{}, state: map[string]*dest.State{}}
}

func (d *fakeDest) Prepare(ctx context.Context, tables []*catalog.Table) error { return nil }

func (d *fakeDest) LoadState(ctx context.Context, table string) (*dest.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.state[table]
	if s == nil {
		return nil, nil
	}
	return cloneState(s), nil
}

func cloneState(s *dest.State) *dest.State {
	c := *s
	if s.Window != nil {
		w := *s.Window
		w.Partitions = slices.Clone(w.Partitions)
		c.Window = &w
	}
	return &c
}

func (d *fakeDest) WritePage(ctx context.Context, p *dest.Page) (dest.WriteStats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ws dest.WriteStats
	for _, r := range p.Rows {
		id := r[0].(int64)
		if _, ok := d.rows[id]; ok {
			ws.Updated++
		} else {
			ws.Inserted++
		}
		d.rows[id] = p.Table.Layout().Named(r)
		d.writes[id]++
		delete(d.deleted, id)
	}
	if p.State != nil {
		d.state[p.State.Table] = cloneState(p.State)
		d.saved = append(d.saved, cloneState(p.State))
	}
	return ws, nil
}

func (d *fakeDest) SaveState(ctx context.Context, s *dest.State) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.state[s.Table] = cloneState(s)
	d.saved = append(d.saved, cloneState(s))
	return nil
}

func (d *fakeDest) ResetState(ctx context.Context, table string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.state, table)
	return nil
}

func (d *fakeDest) LiveIDs(ctx context.Context, table string) ([]int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []int64
	for id := range d.rows {
		if _, gone := d.deleted[id]; !gone {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (d *fakeDest) MarkDeleted(ctx context.Context, table string, ids []int64, at time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		d.deleted[id] = at
	}
	return nil
}

func (d *fakeDest) StartRun(ctx context.Context, r *dest.Run) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := *r
	d.runs = append(d.runs, &c)
	return int64(len(d.runs)), nil
}

func (d *fakeDest) FinishRun(ctx context.Context, r *dest.Run) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := *r
	d.runs[r.ID-1] = &c
	return nil
}

func (d *fakeDest) States(ctx context.Context) ([]*dest.State, error) { return nil, nil }
func (d *fakeDest) Close() error                                      { return nil }

// testTable is a minimal catalog table the fake serves.
func testTable() *catalog.Table {
	return &catalog.Table{
		Name: "widgets", Resource: "widgets", Scope: "core.widget.read", Cursor: "updated-at",
		Lookback: 5 * time.Minute,
		Columns: []catalog.Column{
			{Name: "id", Path: "id", Type: catalog.Int},
			{Name: "updated_at", Path: "updated-at", Type: catalog.Timestamp},
			{Name: "name", Path: "name", Type: catalog.String},
		},
	}
}

func seq(from, to int64) []int64 {
	var ids []int64
	for i := from; i <= to; i++ {
		ids = append(ids, i)
	}
	return ids
}
