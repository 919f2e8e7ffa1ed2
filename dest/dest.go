// Package dest defines the Destination every warehouse backend implements (dest/sqlite, dest/postgres,
// dest/parquet) and the contract tests they all must pass. Backends live in one small package each.
package dest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// Destination is a warehouse the sync engine writes into. Implementations are safe for concurrent use
// (WritePage may be called from several goroutines; a backend serialises what it must).
type Destination interface {
	// Prepare creates or evolves the schema of tables (with their children) and the state tables.
	// It adds missing columns and never drops one. It fails when the target is not a coupa warehouse.
	Prepare(ctx context.Context, tables []*catalog.Table) error

	// LoadState returns the saved state of a table, or nil when it has never been synced.
	LoadState(ctx context.Context, table string) (*State, error)

	// WritePage commits, in ONE transaction: upsert of p.Rows on id, replacement of every child row of
	// those parents by p.Children, and p.State (when non-nil). A crash leaves all or nothing.
	WritePage(ctx context.Context, p *Page) (WriteStats, error)

	// SaveState commits a state alone (window opened, window finished).
	SaveState(ctx context.Context, s *State) error

	// ResetState forgets the state of table ("" = every table); the next sync is a full one.
	ResetState(ctx context.Context, table string) error

	// LiveIDs lists the ids of table's rows that are not marked deleted, ascending.
	LiveIDs(ctx context.Context, table string) ([]int64, error)

	// MarkDeleted sets _deleted_at = at on those ids (one transaction). Rows are never hard-deleted.
	MarkDeleted(ctx context.Context, table string, ids []int64, at time.Time) error

	// StartRun records a run in _coupa_runs and returns its id; FinishRun records its end.
	StartRun(ctx context.Context, r *Run) (int64, error)
	FinishRun(ctx context.Context, r *Run) error

	// States lists every saved table state (for `coupa state show`).
	States(ctx context.Context) ([]*State, error)

	Close() error
}

// MaxIDer is implemented by destinations that can tell the highest id of a table cheaply (0 when empty).
// The sync engine uses it to split a large incremental window without asking Coupa.
type MaxIDer interface {
	MaxID(ctx context.Context, table string) (int64, error)
}

// StagedWriter is implemented by destinations that can work on several pages at once, each in a
// transaction of its own (PostgreSQL: one server backend per page, where WritePage leaves all but one
// core idle). The sync stages pages concurrently and commits them one at a time, each with the state
// that records exactly the committed pages and its own, so a checkpoint never covers an uncommitted page.
type StagedWriter interface {
	// StagePage writes p's rows in a new transaction and leaves it open; p.State is ignored. Pages
	// staged at once hold different parents.
	StagePage(ctx context.Context, p *Page) (Staged, error)
	// StageLimit is how many pages may be staged at once.
	StageLimit() int
}

// Staged is a page written in a transaction not yet committed.
type Staged interface {
	// Commit saves s (when not nil) in the page's transaction and commits it. After an error nothing
	// of the page is saved.
	Commit(ctx context.Context, s *State) (WriteStats, error)
	// Rollback abandons the page; after Commit it does nothing.
	Rollback()
}

// Staging returns d's StagedWriter, or for a destination without one an adapter that stages nothing and
// writes the page with its state in one WritePage at Commit, one page at a time.
func Staging(d Destination) StagedWriter {
	if sw, ok := d.(StagedWriter); ok {
		return sw
	}
	return pageAtCommit{d}
}

type pageAtCommit struct{ d Destination }

func (a pageAtCommit) StageLimit() int { return 1 }

func (a pageAtCommit) StagePage(_ context.Context, p *Page) (Staged, error) {
	return &deferredPage{d: a.d, p: p}, nil
}

type deferredPage struct {
	d Destination
	p *Page // nil once committed or rolled back
}

func (s *deferredPage) Commit(ctx context.Context, st *State) (WriteStats, error) {
	if s.p == nil {
		return WriteStats{}, errors.New("page already committed or rolled back")
	}
	p := *s.p
	p.State = st
	s.p = nil
	return s.d.WritePage(ctx, &p)
}

func (s *deferredPage) Rollback() { s.p = nil }

// Options are common to every backend.
type Options struct {
	// Prefix is prepended to every data table name (not to the state tables). States are kept per
	// (prefix, table), so two prefixes synced into one warehouse keep separate progress, and
	// ResetState("") forgets only this prefix's tables.
	Prefix string
}

// Page is one API page ready to commit.
//
// What a page may hold (every backend enforces the same rules, so a page that one backend accepts,
// every backend accepts; the contract tests in dest/desttest check them):
//   - rows are positional (catalog.Row): a parent row has a value for each column of p.Table.Layout() (its
//     catalog columns, then catalog.ColExtra), a child row one for each of its Child.Layout() (ParentKey, then
//     its catalog columns). A row of another length is refused. _synced_at comes from Page.SyncedAt and
//     _deleted_at is cleared by every write, so rows do not carry them.
//   - a parent's "id" must be set; a child's ParentKey must be one of the page's parent ids, and every Key
//     column must be set. Children have _synced_at but no _extra (the catalog keeps no unknown fields of items).
//   - each value is nil (stored as NULL) or the Go type catalog documents for its column Type (Normalize
//     lists what else is accepted).
//   - p.Children may only name child tables of p.Table. Every child table of p.Table is cleared for the
//     page's parents, whether or not p.Children lists it: a parent whose lines all went has none left.
//   - p.Table's layout must be the prepared table's, or lack only columns the prepared table has: a column
//     the destination does not have is refused, not dropped.
//
// A page that breaks a rule fails the whole WritePage, which then commits nothing.
type Page struct {
	Table    *catalog.Table
	Rows     []catalog.Row            // parent rows, in p.Table.Layout()
	Children map[string][]catalog.Row // child table name -> rows in its Layout(); every listed parent's children are replaced
	State    *State                   // checkpoint committed with the rows; may be nil
	SyncedAt time.Time                // value of _synced_at
}

// ChildLayout returns the layout of the rows of p.Table's child table name; false when p.Table has no such child.
func (p *Page) ChildLayout(name string) (catalog.Layout, bool) {
	for i := range p.Table.Children {
		if ch := &p.Table.Children[i]; ch.Name == name {
			return ch.Layout(), true
		}
	}
	return nil, false
}

// Positions maps a backend's columns onto rows of layout: for each of names (the backend's columns of
// table, in its own order) the position of that column in the rows, or -1 when rows do not carry it
// (_synced_at, _deleted_at, a column an older catalog had). A layout column missing from names is an
// error naming it: its values would otherwise be dropped.
func Positions(table string, layout catalog.Layout, names []string) ([]int, error) {
	at := make(map[string]int, len(layout))
	for i, c := range layout {
		at[c.Name] = i
	}
	pos := make([]int, len(names))
	found := 0
	for i, n := range names {
		j, ok := at[n]
		if !ok {
			pos[i] = -1
			continue
		}
		pos[i] = j
		found++
	}
	if found != len(layout) {
		for _, c := range layout {
			if !slices.Contains(names, c.Name) {
				return nil, fmt.Errorf("column %s is not in the prepared table %s: the page is malformed or the table needs Prepare", c.Name, table)
			}
		}
	}
	return pos, nil
}

// CheckRow refuses a row that is not as long as its layout, naming table and the row's place in the page.
func CheckRow(table string, n int, r catalog.Row, layout catalog.Layout) error {
	if len(r) != len(layout) {
		return fmt.Errorf("%s row %d has %d values, its layout %d: the page is malformed", table, n, len(r), len(layout))
	}
	return nil
}

// WriteStats says what a WritePage changed, for the sync summary.
type WriteStats struct {
	Inserted int // parents new to the warehouse
	Updated  int // parents already there (revived ones included)
	Children int // child rows written
}

// StateVersion is the format of State this code writes; a destination refuses a newer one.
const StateVersion = 1

// State is a table's sync progress. It is what makes a killed run resumable.
type State struct {
	Table   string
	Version int
	// Cursor: every record with cursor field < Cursor is in the warehouse. Zero before the first full sync.
	Cursor time.Time
	// Window is the run in progress (nil when none): what remains to fetch.
	Window *Window
	// UpdatedAt is when this state was written.
	UpdatedAt time.Time
}

// Window is the frozen range [From, To) of cursor values a run fetches, split into id partitions.
type Window struct {
	From        time.Time // zero = from the beginning (full sync)
	To          time.Time // Coupa's clock at run start; frozen for the whole run
	FullRefresh bool
	Partitions  []Partition
}

// Partition is the id range (Lo, Hi] of a window (Hi = 0 means unbounded) and how far it got.
type Partition struct {
	Lo     int64
	Hi     int64
	LastID int64 // highest id committed in this partition; paging resumes at id[gt]=LastID
	Done   bool
}

// Run is one row of _coupa_runs.
type Run struct {
	ID       int64
	Started  time.Time
	Finished time.Time // zero while running
	Status   string    // running | ok | partial | failed | interrupted
	Tables   []string
	Summary  string // JSON: per-table counts
	Error    string // one line, never a secret
}
