package extract

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

// serverDate is deliberately far from the machine's clock: a window bound taken from time.Now would show.
var serverDate = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

func syncOnce(t *testing.T, ctx context.Context, f *fakeCoupa, d *fakeDest, mod func(*Config)) (*Summary, error) {
	t.Helper()
	cfg := Config{Client: f, Dest: d, Tables: []*catalog.Table{testTable()}, Concurrency: 4}
	if mod != nil {
		mod(&cfg)
	}
	return Sync(ctx, cfg)
}

func TestWindowFrozenOnServerClock(t *testing.T) {
	f := newFake(serverDate, seq(1, 120), serverDate.Add(-time.Hour))
	d := newFakeDest()
	sum, err := syncOnce(t, context.Background(), f, d, nil)
	if err != nil || sum.Status != StatusOK {
		t.Fatalf("first sync: %v %+v", err, sum)
	}
	st := d.state["widgets"]
	if !st.Cursor.Equal(serverDate) || st.Window != nil {
		t.Fatalf("cursor = %v, window %v; want the server's Date %v and no open window", st.Cursor, st.Window, serverDate)
	}
	for _, c := range f.callsSnapshot() {
		if len(c.Fields) == 1 { // probe
			continue
		}
		if got := filterValue(c, "updated_at", coupa.OpLt); got != "2031-03-04T05:06:07Z" {
			t.Fatalf("page request upper bound = %q, want the server clock in RFC3339 UTC", got)
		}
		if got := filterValue(c, "updated_at", coupa.OpGtOrEq); got != "" {
			t.Fatalf("a first sync has no lower bound, got %q", got)
		}
	}
	if len(d.rows) != 120 {
		t.Fatalf("rows = %d, want 120", len(d.rows))
	}

	// The second run: the server clock moved on; the window starts at cursor - lookback.
	later := serverDate.Add(3 * time.Hour)
	f.mu.Lock()
	f.date = later
	f.recs[7] = fakeRec{updated: serverDate.Add(time.Hour), name: "changed"}
	f.mu.Unlock()
	n := len(f.callsSnapshot())
	sum, err = syncOnce(t, context.Background(), f, d, nil)
	if err != nil || sum.Status != StatusOK {
		t.Fatalf("second sync: %v %+v", err, sum)
	}
	pages := f.callsSnapshot()[n:]
	var sawPage bool
	for _, c := range pages {
		if len(c.Fields) == 1 {
			continue
		}
		sawPage = true
		if got := filterValue(c, "updated_at", coupa.OpGtOrEq); got != "2031-03-04T05:01:07Z" {
			t.Fatalf("incremental lower bound = %q, want cursor minus the 5m lookback", got)
		}
		if got := filterValue(c, "updated_at", coupa.OpLt); got != "2031-03-04T08:06:07Z" {
			t.Fatalf("incremental upper bound = %q, want the new server Date", got)
		}
	}
	if !sawPage || sum.Tables[0].Updated != 1 || sum.Tables[0].New != 0 || d.rows[7]["name"] != "changed" {
		t.Fatalf("incremental run: %+v, row 7 = %v", sum.Tables[0], d.rows[7])
	}
	if !d.state["widgets"].Cursor.Equal(later) {
		t.Fatalf("cursor after the second run = %v, want %v", d.state["widgets"].Cursor, later)
	}
}

func filterValue(o *coupa.ListOptions, field string, op coupa.Op) string {
	for _, f := range o.Filters {
		if f.Field == field && f.Op == op {
			return f.Value
		}
	}
	return ""
}

// A partition that fails leaves the cursor where it was and the window open; the rerun fetches only what
// remains, inside the same frozen window, and the warehouse ends with every row exactly once.
func TestFailedPartitionKeepsCursorAndResumeFetchesRemainder(t *testing.T) {
	f := newFake(serverDate, seq(1, 1000), serverDate.Add(-time.Hour))
	d := newFakeDest()
	// Every page after id 600 (and up to 700) fails, in whichever partition the window's splits put it.
	var failing atomic.Bool
	failing.Store(true)
	f.fail = func(o *coupa.ListOptions) error {
		if len(o.Fields) != 1 && failing.Load() {
			// Pages take a moment, probes none: the window is split before its first partition ends.
			time.Sleep(2 * time.Millisecond)
		}
		if failing.Load() && len(o.Fields) != 1 && o.AfterID >= 600 && o.AfterID < 700 {
			return &coupa.APIError{StatusCode: 500, Method: "GET", Path: "/api/widgets", Message: "boom"}
		}
		return nil
	}
	sum, err := syncOnce(t, context.Background(), f, d, nil)
	if err != nil {
		t.Fatalf("a table failure is not a run error: %v", err)
	}
	if sum.Status != StatusFailed || sum.Tables[0].Status != StatusFailed {
		t.Fatalf("status = %s/%s, want failed", sum.Status, sum.Tables[0].Status)
	}
	st := d.state["widgets"]
	if !st.Cursor.IsZero() || st.Window == nil {
		t.Fatalf("after a failed partition cursor=%v window=%v; want the cursor untouched and the window open", st.Cursor, st.Window)
	}
	if !st.Window.To.Equal(serverDate) || len(st.Window.Partitions) < 2 {
		t.Fatalf("window %+v", st.Window)
	}
	i := slices.IndexFunc(st.Window.Partitions, func(p dest.Partition) bool { return p.Lo <= 600 && (p.Hi == 0 || 600 < p.Hi) })
	if i < 0 {
		t.Fatalf("no partition holds id 601: %+v", st.Window.Partitions)
	}
	p := st.Window.Partitions[i]
	if p.Done || p.LastID > 600 {
		t.Fatalf("failed partition checkpoint = %+v, want it not done, at 600 or below", p)
	}
	for id := max(p.LastID, p.Lo) + 1; id <= 650; id++ {
		if _, ok := d.rows[id]; ok {
			t.Fatalf("row %d written although its page failed", id)
		}
	}
	written := len(d.rows)

	// Rerun later: the server clock moved, but the open window is resumed exactly.
	failing.Store(false)
	f.mu.Lock()
	f.date = serverDate.Add(time.Hour)
	f.mu.Unlock()
	before := len(f.callsSnapshot())
	sum, err = syncOnce(t, context.Background(), f, d, nil)
	if err != nil || sum.Status != StatusOK || !sum.Tables[0].Resumed {
		t.Fatalf("resume: %v %+v", err, sum)
	}
	var fetched int
	for _, c := range f.callsSnapshot()[before:] {
		if len(c.Fields) == 1 {
			t.Fatalf("a resumed window must not probe again: %+v", c)
		}
		if filterValue(c, "updated_at", coupa.OpLt) != "2031-03-04T05:06:07Z" {
			t.Fatalf("resumed request left the frozen window: %+v", c.Filters)
		}
	}
	fetched = sum.Tables[0].New + sum.Tables[0].Updated
	if fetched != 1000-written || sum.Tables[0].Updated != 0 {
		t.Fatalf("resume fetched %d rows (%d updated), want only the %d that remained", fetched, sum.Tables[0].Updated, 1000-written)
	}
	for id := int64(1); id <= 1000; id++ {
		if d.writes[id] != 1 {
			t.Fatalf("row %d written %d times", id, d.writes[id])
		}
	}
	if st := d.state["widgets"]; !st.Cursor.Equal(serverDate) || st.Window != nil {
		t.Fatalf("after resume cursor=%v window=%v; want the first run's frozen To", st.Cursor, st.Window)
	}
}

// Checkpoints reach the destination in order: no saved state ever has a partition behind an earlier one.
func TestCheckpointsAreMonotone(t *testing.T) {
	f := newFake(serverDate, seq(1, 2000), serverDate.Add(-time.Hour))
	d := newFakeDest()
	if sum, err := syncOnce(t, context.Background(), f, d, func(c *Config) { c.Concurrency = 8 }); err != nil || sum.Status != StatusOK {
		t.Fatalf("%v %+v", err, sum)
	}
	var prev *dest.State
	for _, s := range d.saved {
		if s.Window == nil || prev == nil || prev.Window == nil {
			prev = s
			continue
		}
		for i, p := range s.Window.Partitions {
			if i >= len(prev.Window.Partitions) {
				break // a split added it: it has no past
			}
			q := prev.Window.Partitions[i]
			if p.LastID < q.LastID || (q.Done && !p.Done) {
				t.Fatalf("partition %d went back: %+v after %+v", i, p, q)
			}
		}
		prev = s
	}
	if len(d.rows) != 2000 {
		t.Fatalf("rows %d", len(d.rows))
	}
}

func TestSplitRangeCoversEveryID(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		minID := rng.Int64N(100000) + 1
		maxID := minID + rng.Int64N(200000)
		n := rng.IntN(12) + 1
		parts := splitRange(minID, maxID, n)
		if len(parts) == 0 || len(parts) > n {
			t.Fatalf("split(%d,%d,%d) gave %d partitions", minID, maxID, n, len(parts))
		}
		if parts[0].Lo != 0 || parts[len(parts)-1].Hi != 0 {
			t.Fatalf("split(%d,%d,%d) = %+v: must start at 0 and end unbounded", minID, maxID, n, parts)
		}
		for i := 1; i < len(parts); i++ {
			if parts[i].Lo != parts[i-1].Hi || parts[i-1].Hi <= parts[i-1].Lo {
				t.Fatalf("split(%d,%d,%d) = %+v: gap, overlap or empty range at %d", minID, maxID, n, parts, i)
			}
		}
		// Every id falls in exactly one partition.
		for _, id := range []int64{1, minID, (minID + maxID) / 2, maxID, maxID + 1, maxID * 10} {
			hits := 0
			for _, p := range parts {
				if id > p.Lo && (p.Hi == 0 || id <= p.Hi) {
					hits++
				}
			}
			if hits != 1 {
				t.Fatalf("id %d is in %d partitions of %+v", id, hits, parts)
			}
		}
		if maxID-minID+1 > smallTable && n > 1 {
			if len(parts) < 2 {
				t.Fatalf("split(%d,%d,%d) did not split a large range", minID, maxID, n)
			}
			// Bounded partitions have equal width (the first also holds ids below minID).
			w := parts[1].Hi - parts[1].Lo
			for _, p := range parts[1 : len(parts)-1] {
				if p.Hi-p.Lo != w {
					t.Fatalf("unequal widths in %+v", parts)
				}
			}
			if parts[len(parts)-1].Lo >= maxID {
				t.Fatalf("the unbounded tail holds no known id: %+v max %d", parts, maxID)
			}
		}
	}
	if p := splitRange(10, 60, 4); len(p) != 1 || p[0] != (dest.Partition{}) {
		t.Fatalf("a small table should be one unbounded partition, got %+v", p)
	}
}

// estimateMaxID must find an existing id close below the true maximum in a few rounds of concurrent probes:
// every round costs one latency, so the number of rounds, not of requests, is what delays the first page.
func TestEstimateMaxIDIsCloseAndTakesFewRounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, top := range []int64{1, 2, 3, 49, 1000, 65537, 1_000_003, 40_000_000_017} {
		ids := []int64{top}
		for range 200 {
			ids = append(ids, rng.Int64N(top)+1)
		}
		minID := top
		for _, id := range ids {
			minID = min(minID, id)
		}
		f := &waveCounter{fakeCoupa: newFake(serverDate, ids, serverDate)}
		got, err := estimateMaxID(context.Background(), f, "widgets", minID, nil)
		if err != nil {
			t.Fatalf("estimateMaxID(%d): %v", top, err)
		}
		if !slices.Contains(ids, got) || got > top || got < top-max(top/16, coupa.MaxPageSize) {
			t.Fatalf("estimateMaxID = %d; want an existing id in [%d, %d]", got, top-max(top/16, coupa.MaxPageSize), top)
		}
		requests, waves := len(f.callsSnapshot()), f.waves()
		if waves > 8 {
			t.Errorf("estimateMaxID(%d) took %d rounds of probes (%d requests), want at most 8", top, waves, requests)
		}
		if top > 1000 && waves*3 > requests {
			t.Errorf("estimateMaxID(%d): %d requests in %d rounds: the probes of a round are not sent together", top, requests, waves)
		}
	}
}

// A table whose ids fit in one partition costs at most one size probe (besides the window probe that reads
// Coupa's clock and the first id; the size probe goes beside the paging and is dropped if the paging ends
// first), not the rounds a large table needs.
func TestSmallTableCostsOneProbe(t *testing.T) {
	f := newFake(serverDate, seq(1, 120), serverDate.Add(-time.Hour))
	d := newFakeDest()
	if sum, err := syncOnce(t, context.Background(), f, d, nil); err != nil || sum.Status != StatusOK {
		t.Fatalf("%v %+v", err, sum)
	}
	probes := 0
	for _, c := range f.callsSnapshot() {
		if len(c.Fields) == 1 {
			probes++
		}
	}
	if probes < 1 || probes > 2 || len(d.rows) != 120 {
		t.Errorf("%d probes and %d rows; want at most 2 probes (window and size) and 120 rows", probes, len(d.rows))
	}
}

// waveCounter counts the rounds of a Lister's calls: a wave starts whenever a call begins with none in
// flight. Each call lingers a moment so that calls sent together overlap.
type waveCounter struct {
	*fakeCoupa
	mu       sync.Mutex
	inFlight int
	started  int
}

func (w *waveCounter) ListPageDecode(ctx context.Context, res string, o *coupa.ListOptions, decode func([]byte) error) (*coupa.Response, error) {
	return servedAsBody(w, ctx, res, o, decode)
}

func (w *waveCounter) ListPage(ctx context.Context, resource string, o *coupa.ListOptions) ([]coupa.Record, *coupa.Response, error) {
	w.mu.Lock()
	if w.inFlight == 0 {
		w.started++
	}
	w.inFlight++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.inFlight--
		w.mu.Unlock()
	}()
	time.Sleep(5 * time.Millisecond)
	return w.fakeCoupa.ListPage(ctx, resource, o)
}

func (w *waveCounter) waves() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.started
}

func bits(n int64) int {
	b := 0
	for ; n > 0; n >>= 1 {
		b++
	}
	return b
}

func TestBadRecordFailsTableAndWritesNothingOfItsPage(t *testing.T) {
	f := newFake(serverDate, seq(1, 30), serverDate.Add(-time.Hour))
	d := newFakeDest()
	wrapped := &missingCursor{fakeCoupa: f, id: 17}
	sum, err := Sync(context.Background(), Config{Client: wrapped, Dest: d, Tables: []*catalog.Table{testTable()}})
	if err != nil {
		t.Fatal(err)
	}
	ts := sum.Tables[0]
	if ts.Status != StatusFailed || !strings.Contains(ts.Message, "widgets") || !strings.Contains(ts.Message, "17") {
		t.Fatalf("table summary %+v: want a failure naming the table and id 17", ts)
	}
	if strings.Contains(ts.Message, "\n") {
		t.Fatalf("message is not one line: %q", ts.Message)
	}
	if len(d.rows) != 0 {
		t.Fatalf("%d rows of the bad page were written", len(d.rows))
	}
	if st := d.state["widgets"]; st == nil || st.Window == nil || !st.Cursor.IsZero() {
		t.Fatalf("state %+v: want the window open and no cursor", st)
	}
}

// missingCursor drops the cursor field of one record, as a broken API answer would.
type missingCursor struct {
	*fakeCoupa
	id int64
}

func (m *missingCursor) ListPageDecode(ctx context.Context, res string, o *coupa.ListOptions, decode func([]byte) error) (*coupa.Response, error) {
	return servedAsBody(m, ctx, res, o, decode)
}

func (m *missingCursor) ListPage(ctx context.Context, res string, o *coupa.ListOptions) ([]coupa.Record, *coupa.Response, error) {
	recs, resp, err := m.fakeCoupa.ListPage(ctx, res, o)
	for _, r := range recs {
		if id, _ := r.ID(); id == m.id {
			delete(r, "updated-at")
		}
	}
	return recs, resp, err
}

func TestInterruptKeepsCheckpointAndRecordsRun(t *testing.T) {
	f := newFake(serverDate, seq(1, 1000), serverDate.Add(-time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pages atomic.Int64
	f.onCall = func(n int) {
		// Interrupt in the middle of paging, once a few pages (not probes) were answered.
		if c := f.callsSnapshot()[n-1]; len(c.Fields) != 1 && pages.Add(1) == 5 {
			cancel()
		}
	}
	d := newFakeDest()
	sum, err := syncOnce(t, ctx, f, d, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if sum == nil || sum.Status != StatusInterrupted || d.runs[0].Status != StatusInterrupted {
		t.Fatalf("summary %+v run %+v: want interrupted", sum, d.runs[0])
	}
	st := d.state["widgets"]
	if st == nil || st.Window == nil || !st.Cursor.IsZero() {
		t.Fatalf("state %+v: want an open window to resume", st)
	}
	// Every committed row is accounted for by a checkpoint: rows above a partition's LastID were not written.
	for id := range d.rows {
		var covered bool
		for _, p := range st.Window.Partitions {
			if id > p.Lo && (p.Hi == 0 || id <= p.Hi) && (p.Done || id <= p.LastID) {
				covered = true
			}
		}
		if !covered {
			t.Fatalf("row %d is written but no checkpoint covers it: %+v", id, st.Window.Partitions)
		}
	}
	f.onCall = nil
	sum, err = syncOnce(t, context.Background(), f, d, nil)
	if err != nil || sum.Status != StatusOK {
		t.Fatalf("resume: %v %+v", err, sum)
	}
	for id := int64(1); id <= 1000; id++ {
		if d.writes[id] != 1 {
			t.Fatalf("row %d written %d times", id, d.writes[id])
		}
	}
}

func TestReconcileMarksMissingAndRefusesEmptyListing(t *testing.T) {
	f := newFake(serverDate, seq(1, 130), serverDate.Add(-time.Hour))
	d := newFakeDest()
	if _, err := syncOnce(t, context.Background(), f, d, nil); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	delete(f.recs, 5)
	delete(f.recs, 100)
	f.date = serverDate.Add(time.Hour)
	f.mu.Unlock()
	sum, err := syncOnce(t, context.Background(), f, d, func(c *Config) { c.ReconcileDeletes = true })
	if err != nil || sum.Tables[0].Deleted != 2 {
		t.Fatalf("reconcile: %v %+v", err, sum)
	}
	if len(d.deleted) != 2 || d.deleted[5].IsZero() || d.deleted[100].IsZero() {
		t.Fatalf("deleted = %v, want 5 and 100", d.deleted)
	}
	// Coupa suddenly lists nothing (say, a permission change): refuse rather than delete everything.
	f.mu.Lock()
	clear(f.recs)
	f.mu.Unlock()
	sum, err = syncOnce(t, context.Background(), f, d, func(c *Config) { c.ReconcileDeletes = true })
	if err != nil {
		t.Fatal(err)
	}
	if ts := sum.Tables[0]; ts.Status != StatusFailed || !strings.Contains(ts.Message, "refusing") || len(d.deleted) != 2 {
		t.Fatalf("empty listing: %+v, deleted %d; want a refusal and nothing more marked", ts, len(d.deleted))
	}
}

func TestForbiddenTableSkippedOthersSynced(t *testing.T) {
	f := newFake(serverDate, seq(1, 10), serverDate.Add(-time.Hour))
	secret := testTable()
	secret.Name, secret.Resource, secret.Scope = "secrets", "secrets", "core.secret.read"
	g := &byResource{fakeCoupa: f, forbidden: "secrets"}
	d := newFakeDest()
	sum, err := Sync(context.Background(), Config{Client: g, Dest: d, Tables: []*catalog.Table{secret, testTable()}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != StatusPartial || sum.Tables[0].Status != StatusSkipped || sum.Tables[1].Status != StatusOK {
		t.Fatalf("summary %+v", sum)
	}
	if !strings.Contains(sum.Tables[0].Message, "core.secret.read") {
		t.Fatalf("skip message %q does not name the scope", sum.Tables[0].Message)
	}
	if d.state["secrets"] != nil {
		t.Fatalf("a forbidden table must not leave a window behind: %+v", d.state["secrets"])
	}
	if len(d.rows) != 10 {
		t.Fatalf("rows %d", len(d.rows))
	}
}

type byResource struct {
	*fakeCoupa
	forbidden string
}

func (b *byResource) ListPageDecode(ctx context.Context, res string, o *coupa.ListOptions, decode func([]byte) error) (*coupa.Response, error) {
	return servedAsBody(b, ctx, res, o, decode)
}

func (b *byResource) ListPage(ctx context.Context, res string, o *coupa.ListOptions) ([]coupa.Record, *coupa.Response, error) {
	if res == b.forbidden {
		return nil, &coupa.Response{Date: serverDate}, &coupa.APIError{StatusCode: 403, Method: "GET", Path: "/api/" + res, Message: "forbidden"}
	}
	return b.fakeCoupa.ListPage(ctx, res, o)
}

func TestMissingIDs(t *testing.T) {
	got := missingIDs([]int64{1, 2, 3, 7, 9}, []int64{9, 2, 3, 4})
	want := []int64{1, 7}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("missingIDs = %v, want %v", got, want)
	}
}

func TestRecordWithoutIDFailsTable(t *testing.T) {
	f := newFake(serverDate, seq(1, 30), serverDate.Add(-time.Hour))
	d := newFakeDest()
	sum, err := Sync(context.Background(), Config{Client: &noID{fakeCoupa: f, after: 12}, Dest: d, Tables: []*catalog.Table{testTable()}})
	if err != nil {
		t.Fatal(err)
	}
	if ts := sum.Tables[0]; ts.Status != StatusFailed || !strings.Contains(ts.Message, `without "id"`) || !strings.Contains(ts.Message, "widgets") {
		t.Fatalf("summary %+v: want a failure naming the table and the missing id", ts)
	}
	if len(d.rows) != 0 {
		t.Fatalf("%d rows written from a page with a record lacking its id", len(d.rows))
	}
}

// noID strips the id of the record following id after, in full pages only (not in the id probes).
type noID struct {
	*fakeCoupa
	after int64
}

func (n *noID) ListPageDecode(ctx context.Context, res string, o *coupa.ListOptions, decode func([]byte) error) (*coupa.Response, error) {
	return servedAsBody(n, ctx, res, o, decode)
}

func (n *noID) ListPage(ctx context.Context, res string, o *coupa.ListOptions) ([]coupa.Record, *coupa.Response, error) {
	recs, resp, err := n.fakeCoupa.ListPage(ctx, res, o)
	if len(o.Fields) != 1 {
		for _, r := range recs {
			if id, _ := r.ID(); id == n.after+1 {
				delete(r, "id")
			}
		}
	}
	return recs, resp, err
}

// An authentication failure stops the whole run: the remaining tables are not attempted.
func TestAuthFailureAbortsRun(t *testing.T) {
	f := newFake(serverDate, seq(1, 10), serverDate.Add(-time.Hour))
	f.fail = func(o *coupa.ListOptions) error {
		return &coupa.AuthError{StatusCode: 401, Code: "invalid_client", Message: "the client id or secret is wrong"}
	}
	other := testTable()
	other.Name, other.Resource = "gadgets", "gadgets"
	d := newFakeDest()
	sum, err := Sync(context.Background(), Config{Client: f, Dest: d, Tables: []*catalog.Table{testTable(), other}})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if sum.Status != StatusFailed || sum.Tables[1].Status != StatusFailed || !strings.Contains(sum.Tables[1].Message, "not started") {
		t.Fatalf("summary %+v", sum)
	}
	if n := len(f.callsSnapshot()); n != 1 {
		t.Fatalf("%d requests after an authentication failure, want 1", n)
	}
	if d.runs[0].Status != StatusFailed || d.runs[0].Error == "" {
		t.Fatalf("run record %+v", d.runs[0])
	}
}

// An optional endpoint answering 404 is skipped as unavailable; a required one failing so is an error.
func TestOptionalTable404Skipped(t *testing.T) {
	f := newFake(serverDate, seq(1, 10), serverDate.Add(-time.Hour))
	f.fail = func(o *coupa.ListOptions) error {
		return &coupa.APIError{StatusCode: 404, Method: "GET", Path: "/api/widgets", Message: "not found"}
	}
	opt := testTable()
	opt.Optional = true
	sum, err := Sync(context.Background(), Config{Client: f, Dest: newFakeDest(), Tables: []*catalog.Table{opt}})
	if err != nil {
		t.Fatal(err)
	}
	if ts := sum.Tables[0]; ts.Status != StatusSkipped || !strings.Contains(ts.Message, "not available") {
		t.Fatalf("optional 404: %+v", ts)
	}
	sum, err = Sync(context.Background(), Config{Client: f, Dest: newFakeDest(), Tables: []*catalog.Table{testTable()}})
	if err != nil {
		t.Fatal(err)
	}
	if ts := sum.Tables[0]; ts.Status != StatusFailed {
		t.Fatalf("required 404: %+v, want failed", ts)
	}
}

func TestSplitAboveKeepsCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		last := rng.Int64N(10000)
		maxID := last + rng.Int64N(100000)
		n := rng.IntN(10) + 1
		p := dest.Partition{LastID: last}
		parts := splitAbove(p, maxID, n)
		if parts == nil {
			if n > 1 && maxID-last > smallTable {
				t.Fatalf("splitAbove(%d, %d, %d) refused a large remainder", last, maxID, n)
			}
			continue
		}
		if len(parts) > n || parts[0].LastID != last || parts[0].Lo != 0 || parts[len(parts)-1].Hi != 0 {
			t.Fatalf("splitAbove(%d, %d, %d) = %+v", last, maxID, n, parts)
		}
		for i := 1; i < len(parts); i++ {
			if parts[i].Lo != parts[i-1].Hi || parts[i-1].Hi <= max(parts[i-1].Lo, parts[i-1].LastID) {
				t.Fatalf("splitAbove(%d, %d, %d) = %+v: gap, overlap or empty range", last, maxID, n, parts)
			}
		}
	}
}

// A large incremental window (many changes since the last run) is split after a few pages and still
// fetches every changed row exactly once, in the same frozen window.
func TestLargeIncrementalWindowIsSplit(t *testing.T) {
	f := newFake(serverDate, seq(1, 2000), serverDate.Add(-48*time.Hour))
	d := newFakeDest()
	if _, err := syncOnce(t, context.Background(), f, d, nil); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.date = serverDate.Add(time.Hour)
	for id := int64(1); id <= 2000; id += 2 {
		f.recs[id] = fakeRec{updated: serverDate.Add(30 * time.Minute), name: "changed"}
	}
	f.mu.Unlock()
	clear(d.writes)
	d.saved = nil
	sum, err := syncOnce(t, context.Background(), f, d, nil)
	if err != nil || sum.Status != StatusOK {
		t.Fatalf("%v %+v", err, sum)
	}
	if sum.Tables[0].Updated != 1000 || sum.Tables[0].New != 0 {
		t.Fatalf("incremental %+v, want the 1000 changed rows", sum.Tables[0])
	}
	for id := int64(1); id <= 2000; id++ {
		want := 0
		if id%2 == 1 {
			want = 1
		}
		if d.writes[id] != want {
			t.Fatalf("row %d written %d times, want %d", id, d.writes[id], want)
		}
	}
	most := 0
	for _, s := range d.saved {
		if s.Window != nil {
			most = max(most, len(s.Window.Partitions))
			if !s.Window.To.Equal(serverDate.Add(time.Hour)) {
				t.Fatalf("window moved: %+v", s.Window)
			}
		}
	}
	if most < 4 {
		t.Fatalf("the large window had at most %d partitions, want it split into 4 or more", most)
	}
}
