// Package parquet is the data-lake destination: append-only, zstd-compressed Parquet files in a Hive-style
// layout any engine reads, with the sync state in DIR/_coupa_state.json, never ahead of the files.
//
// # Layout
//
//	DIR/_coupa_state.json                    states, runs, counters (one section per table prefix)
//	DIR/<table>/run=<run id>/part-<n>.parquet  rows written by a run (run=0: outside any run)
//	DIR/_coupa_runs/<prefix>run-<id>.json      manifest of a run: status, files, row counts
//	DIR/_coupa_index/<table>.ids               append-only log of the ids written and deleted (for LiveIDs)
//
// A part is written as .part-<n>.parquet.tmp, fsynced and renamed, so no reader ever sees a partial file.
// Every row has _op ("upsert" or "delete"), _version (larger = newer; shared by a page's parent and child
// rows) and _synced_at; parents also have _deleted_at (set on delete rows). Money is an exact decimal string,
// timestamps are TIMESTAMP(MICROS, UTC), JSON columns carry the JSON logical type.
//
// # Transactions
//
// Files are immutable, so a page is not a file: pages are buffered and a part is rolled every
// Options.RowsPerPart rows, and at SaveState, MarkDeleted, FinishRun, Prepare, Close and every read. A roll
// writes the parts, fsyncs and renames them (children before parents), then writes the state file (temp,
// fsync, rename). The state of a page therefore reaches the disk only after its rows: after a crash the
// unrolled pages are simply fetched again. A part that was renamed just before a crash and whose state was
// not written holds rows that the resumed run writes again with a higher _version: harmless duplicates.
// A failed roll makes the Dir refuse every later write: the caller must restart from the saved state.
//
// # Reading the latest version of each row (DuckDB)
//
//	WITH v AS (
//	  SELECT * FROM read_parquet('DIR/invoices/*/*.parquet', hive_partitioning = true, union_by_name = true)
//	), last_upsert AS (
//	  SELECT * FROM v WHERE _op = 'upsert'
//	  QUALIFY row_number() OVER (PARTITION BY id ORDER BY _version DESC) = 1
//	), last_delete AS (
//	  SELECT id, max(_version) AS del_version, arg_max(_deleted_at, _version) AS del_at
//	  FROM v WHERE _op = 'delete' GROUP BY id
//	)
//	SELECT u.* EXCLUDE (_deleted_at, _op),
//	       CASE WHEN d.del_version > u._version THEN d.del_at END AS _deleted_at
//	FROM last_upsert u LEFT JOIN last_delete d USING (id);
//
// The current children of those rows are the child rows written with their parent's latest upsert (same
// WITH clause):
//
//	SELECT l.* FROM read_parquet('DIR/invoice_lines/*/*.parquet', hive_partitioning = true, union_by_name = true) l
//	JOIN last_upsert u ON l.invoice_id = u.id AND l._version = u._version;
//
// ReadRows (dest.Reader) computes exactly this in Go and the dest contract tests check it; duckdb_test.go
// runs the queries of README.md in real DuckDB (from npm, under Node) against a synced simulator.
package parquet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coupa-connector/coupa-connector/dest"
)

// DefaultRowsPerPart is when a part file is rolled: big enough for efficient files, small enough that a
// crash re-fetches little.
const DefaultRowsPerPart = 50000

const (
	stateFile = "_coupa_state.json"
	runsDir   = "_coupa_runs"
	indexDir  = "_coupa_index"

	colOp      = "_op"
	colVersion = "_version"
	opUpsert   = "upsert"
	opDelete   = "delete"
)

// Options configure a Parquet destination beyond dest.Options.
type Options struct {
	RowsPerPart int // 0 = DefaultRowsPerPart
}

// Dir is a Parquet lake in one directory. It is safe for concurrent use; writes are serialised.
type Dir struct {
	root    string
	prefix  string
	perPart int

	mu        sync.Mutex
	broken    error                  // set by a failed roll: nothing more may be written
	lock      *os.File               // exclusive writer lock of this prefix, taken by Prepare/StartRun/ResetState
	sec       *section               // this prefix's part of the state file, as on disk after the last roll
	plans     map[string]*tablePlan  // catalog name -> plan of the last Prepare
	planCache map[string]*tablePlan  // table signature -> plan
	bufs      []*buffer              // rows not yet rolled, in the order tables were first written
	spare     map[*tablePlan]*buffer // emptied buffers, kept for their tables' next parts
	states    map[string]*dest.State
	pendRows  int
	index     map[string]map[int64]bool // warehouse table -> id -> deleted
	idxPend   map[string][]idxRec
	nextPart  map[string]int // run dir -> next part number
	run       int64
	runFiles  map[int64][]string
}

// section is what one prefix keeps in the state file.
type section struct {
	States      map[string]storedState `json:"states"`
	Runs        []storedRun            `json:"runs"`
	NextRun     int64                  `json:"next_run"`
	LastVersion int64                  `json:"last_version"`
}

type storedState struct {
	Version   int    `json:"version"`
	Cursor    string `json:"cursor,omitempty"`
	Window    string `json:"window,omitempty"` // dest.EncodeWindow
	UpdatedAt string `json:"updated_at,omitempty"`
}

type storedRun struct {
	ID       int64    `json:"id"`
	Started  string   `json:"started"`
	Finished string   `json:"finished,omitempty"`
	Status   string   `json:"status"`
	Tables   []string `json:"tables"`
	Summary  string   `json:"summary,omitempty"`
	Error    string   `json:"error,omitempty"`
}

type stateDoc struct {
	Format   int                 `json:"format"`
	Prefixes map[string]*section `json:"prefixes"`
}

var _ dest.Destination = (*Dir)(nil)
var _ dest.Reader = (*Dir)(nil)

// Open opens (creating it if needed) the lake in dir with the default part size.
func Open(dir string, opts dest.Options) (*Dir, error) {
	return OpenWith(dir, opts, Options{})
}

// OpenWith is Open with Parquet-specific options.
func OpenWith(dir string, opts dest.Options, popts Options) (*Dir, error) {
	if dir == "" {
		return nil, errors.New("parquet: empty directory: use --dest parquet:DIR")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("parquet: cannot create directory %s: %v", dir, unwrapPath(err))
	}
	probe, err := os.CreateTemp(dir, ".coupa-probe-*")
	if err != nil {
		return nil, fmt.Errorf("parquet: directory %s is not writable: %v", dir, unwrapPath(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	d := &Dir{root: dir, prefix: opts.Prefix, perPart: popts.RowsPerPart,
		plans: map[string]*tablePlan{}, planCache: map[string]*tablePlan{}, spare: map[*tablePlan]*buffer{}, states: map[string]*dest.State{},
		index: map[string]map[int64]bool{}, idxPend: map[string][]idxRec{}, nextPart: map[string]int{},
		runFiles: map[int64][]string{}}
	if d.perPart <= 0 {
		d.perPart = DefaultRowsPerPart
	}
	doc, err := d.readState()
	if err != nil {
		return nil, err
	}
	if doc == nil {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(e.Name(), "_coupa") {
				return nil, fmt.Errorf("parquet: %s holds files but no %s: it is not a coupa lake; choose an empty or new directory", dir, stateFile)
			}
		}
	}
	d.sec = sectionOf(doc, d.prefix)
	return d, nil
}

func sectionOf(doc *stateDoc, prefix string) *section {
	if doc != nil && doc.Prefixes[prefix] != nil {
		s := doc.Prefixes[prefix]
		if s.States == nil {
			s.States = map[string]storedState{}
		}
		return s
	}
	return &section{States: map[string]storedState{}}
}

// unwrapPath drops the path from an *os.PathError: the message names the path once already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readState reads the state file (nil when there is none).
func (d *Dir) readState() (*stateDoc, error) {
	b, err := os.ReadFile(filepath.Join(d.root, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("parquet: read %s: %v", filepath.Join(d.root, stateFile), unwrapPath(err))
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parquet: %s is corrupt (%v): restore it or start a new directory", filepath.Join(d.root, stateFile), err)
	}
	if doc.Format > 1 {
		return nil, fmt.Errorf("parquet: %s has format %d, newer than this coupa understands: upgrade coupa", filepath.Join(d.root, stateFile), doc.Format)
	}
	return &doc, nil
}

// writeState replaces this prefix's section of the state file atomically: under a lock shared by every
// prefix (they share the file), re-read, replace, write a temp file, fsync, rename, fsync the directory.
func (d *Dir) writeState(sec *section) error {
	lf, err := os.OpenFile(filepath.Join(d.root, ".coupa_state.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("parquet: lock the state file: %v", unwrapPath(err))
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("parquet: lock the state file: %v", err)
	}
	doc, err := d.readState()
	if err != nil {
		return err
	}
	if doc == nil {
		doc = &stateDoc{}
	}
	doc.Format = 1
	if doc.Prefixes == nil {
		doc.Prefixes = map[string]*section{}
	}
	doc.Prefixes[d.prefix] = sec
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("parquet: encode state: %v", err)
	}
	if err := writeAtomic(filepath.Join(d.root, stateFile), b); err != nil {
		return fmt.Errorf("parquet: write state: %v", err)
	}
	return nil
}

// writeAtomic writes b to path through a temp file, fsync and rename, then fsyncs the directory.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return unwrapPath(err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return unwrapPath(err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return unwrapPath(err)
	}
	defer f.Close()
	return f.Sync()
}

// takeLock takes the exclusive writer lock of this prefix once; a second sync of the same lake fails fast.
func (d *Dir) takeLock() error {
	if d.lock != nil {
		return nil
	}
	path := filepath.Join(d.root, ".coupa_writer"+d.prefix+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("parquet: create lock %s: %v", path, unwrapPath(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("parquet: another coupa sync is writing into %s (prefix %q); wait for it to finish", d.root, d.prefix)
	}
	d.lock = f
	return nil
}

// Close rolls what is pending and releases the writer lock.
func (d *Dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.flushLocked()
	clear(d.spare)
	if d.lock != nil {
		d.lock.Close()
		d.lock = nil
	}
	return err
}

func (d *Dir) stateOf(table string, s storedState) (*dest.State, error) {
	st := &dest.State{Table: table, Version: s.Version}
	var err error
	if st.Cursor, err = dest.ParseTime(s.Cursor); err != nil {
		return nil, fmt.Errorf("parquet: state of %s: %v", table, err)
	}
	if st.UpdatedAt, err = dest.ParseTime(s.UpdatedAt); err != nil {
		return nil, fmt.Errorf("parquet: state of %s: %v", table, err)
	}
	if s.Version <= dest.StateVersion {
		if st.Window, err = dest.DecodeWindow(s.Window); err != nil {
			return nil, fmt.Errorf("parquet: state of %s: %v", table, err)
		}
	}
	return st, nil
}

func storeState(s *dest.State) (storedState, error) {
	w, err := dest.EncodeWindow(s.Window)
	if err != nil {
		return storedState{}, err
	}
	v := s.Version
	if v == 0 {
		v = dest.StateVersion
	}
	updated := s.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	return storedState{Version: v, Cursor: dest.FormatTime(s.Cursor), Window: w, UpdatedAt: dest.FormatTime(updated)}, nil
}

// LoadState returns the saved state of table (rolling pending pages first), or nil.
func (d *Dir) LoadState(_ context.Context, table string) (*dest.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.flushLocked(); err != nil {
		return nil, err
	}
	s, ok := d.sec.States[table]
	if !ok {
		return nil, nil
	}
	st, err := d.stateOf(table, s)
	if err != nil {
		return nil, err
	}
	if err := dest.CheckStateVersion(st); err != nil {
		return nil, err
	}
	return st, nil
}

// States lists every saved state of this prefix by table name, newer versions included.
func (d *Dir) States(_ context.Context) ([]*dest.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.flushLocked(); err != nil {
		return nil, err
	}
	var names []string
	for n := range d.sec.States {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*dest.State
	for _, n := range names {
		st, err := d.stateOf(n, d.sec.States[n])
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// SaveState rolls pending pages, then saves s.
func (d *Dir) SaveState(_ context.Context, s *dest.State) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.broken != nil {
		return d.broken
	}
	d.states[s.Table] = s
	return d.flushLocked()
}

// ResetState forgets table's state ("" = every table of this prefix).
func (d *Dir) ResetState(_ context.Context, table string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.takeLock(); err != nil {
		return err
	}
	if err := d.flushLocked(); err != nil {
		return err
	}
	sec := d.copySection()
	if table == "" {
		sec.States = map[string]storedState{}
	} else {
		delete(sec.States, table)
	}
	if err := d.writeState(sec); err != nil {
		return err
	}
	d.sec = sec
	return nil
}

func (d *Dir) copySection() *section {
	c := *d.sec
	c.States = make(map[string]storedState, len(d.sec.States))
	for k, v := range d.sec.States {
		c.States[k] = v
	}
	c.Runs = append([]storedRun(nil), d.sec.Runs...)
	return &c
}

// StartRun records a run; rows written until FinishRun go under run=<id>.
func (d *Dir) StartRun(_ context.Context, r *dest.Run) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.takeLock(); err != nil {
		return 0, err
	}
	if err := d.flushLocked(); err != nil {
		return 0, err
	}
	sec := d.copySection()
	sec.NextRun++
	id := sec.NextRun
	status := r.Status
	if status == "" {
		status = "running"
	}
	sec.Runs = append(sec.Runs, storedRun{ID: id, Started: dest.FormatTime(r.Started), Status: status,
		Tables: r.Tables, Summary: r.Summary, Error: r.Error})
	if err := d.writeState(sec); err != nil {
		return 0, err
	}
	d.sec = sec
	d.run = id
	r.ID = id
	return id, nil
}

// FinishRun rolls pending pages, records the end of run r.ID and writes its manifest.
func (d *Dir) FinishRun(_ context.Context, r *dest.Run) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.flushLocked(); err != nil {
		return err
	}
	sec := d.copySection()
	i := -1
	for n, sr := range sec.Runs {
		if sr.ID == r.ID {
			i = n
		}
	}
	if i < 0 {
		return fmt.Errorf("parquet: finish run %d: no such run in %s", r.ID, filepath.Join(d.root, stateFile))
	}
	sec.Runs[i] = storedRun{ID: r.ID, Started: sec.Runs[i].Started, Finished: dest.FormatTime(r.Finished), Status: r.Status,
		Tables: r.Tables, Summary: r.Summary, Error: r.Error}
	manifest := struct {
		storedRun
		Files []string `json:"files"`
	}{sec.Runs[i], d.runFiles[r.ID]}
	b, _ := json.MarshalIndent(manifest, "", "  ")
	if err := os.MkdirAll(filepath.Join(d.root, runsDir), 0o755); err != nil {
		return fmt.Errorf("parquet: write manifest: %v", unwrapPath(err))
	}
	if err := writeAtomic(filepath.Join(d.root, runsDir, fmt.Sprintf("%srun-%d.json", d.prefix, r.ID)), b); err != nil {
		return fmt.Errorf("parquet: write manifest of run %d: %v", r.ID, err)
	}
	if err := d.writeState(sec); err != nil {
		return err
	}
	d.sec = sec
	if d.run == r.ID {
		d.run = 0
	}
	return nil
}

// Runs lists the recorded runs of this prefix, oldest first.
func (d *Dir) Runs(_ context.Context) ([]*dest.Run, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*dest.Run
	for _, sr := range d.sec.Runs {
		r := &dest.Run{ID: sr.ID, Status: sr.Status, Tables: sr.Tables, Summary: sr.Summary, Error: sr.Error}
		r.Started, _ = dest.ParseTime(sr.Started)
		r.Finished, _ = dest.ParseTime(sr.Finished)
		out = append(out, r)
	}
	return out, nil
}
