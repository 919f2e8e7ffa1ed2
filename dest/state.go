package dest

// The state and run types: what a destination keeps so that a killed run resumes, and its run log.

import "time"

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
