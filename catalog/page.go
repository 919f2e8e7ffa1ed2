package catalog

import (
	"cmp"
	"slices"
)

// PageRows is one API list answer turned into a table's rows (by rowcodec.DecodePage).
type PageRows struct {
	IDs      []int64          // the id of each parent row, in answer order
	Rows     []Row            // parent rows, in the table's Layout
	Children map[string][]Row // child table name -> the rows of every parent of the page
}

// Len is the number of records in the answer.
func (p *PageRows) Len() int { return len(p.Rows) }

// SortByID orders the parent rows by ascending id when they are not already (children need no order).
func (p *PageRows) SortByID() {
	if slices.IsSorted(p.IDs) {
		return
	}
	idx := make([]int, len(p.IDs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(p.IDs[a], p.IDs[b]) })
	ids, rows := make([]int64, len(idx)), make([]Row, len(idx))
	for i, j := range idx {
		ids[i], rows[i] = p.IDs[j], p.Rows[j]
	}
	p.IDs, p.Rows = ids, rows
}
