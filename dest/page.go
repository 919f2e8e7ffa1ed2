package dest

// The page rules: what a Page may hold, and the helpers every backend checks a page with.

import (
	"fmt"
	"slices"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// Page is one API page ready to commit.
//
// What a page may hold (every backend enforces the same rules, so a page that one backend accepts,
// every backend accepts; the contract tests in dest/desttest check them):
//   - rows are positional (catalog.Row): a parent row has a value for each column of p.Table.Layout() (its
//     catalog columns, then catalog.ColExtra), a child row one for each of its Child.Layout() (ParentKey, then
//     its catalog columns, then catalog.ColExtra). A row of another length is refused. _synced_at comes from Page.SyncedAt and
//     _deleted_at is cleared by every write, so rows do not carry them.
//   - a parent's "id" must be set; a child's ParentKey must be one of the page's parent ids, and every Key
//     column must be set. Children have _synced_at and _extra (an item's fields no column takes) too.
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
