// Package dest defines the Destination every warehouse backend implements (dest/sqlite, dest/postgres,
// dest/parquet, one small package each, registered for Open by URL) and the contract tests they all pass.
package dest

import (
	"context"
	"errors"
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
