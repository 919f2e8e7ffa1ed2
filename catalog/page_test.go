package catalog

import (
	"reflect"
	"testing"
)

func TestPageRowsSortByID(t *testing.T) {
	p := &PageRows{IDs: []int64{5, 1, 3, 1}, Rows: []Row{{0}, {1}, {2}, {3}}}
	p.SortByID()
	if !reflect.DeepEqual(p.IDs, []int64{1, 1, 3, 5}) || !reflect.DeepEqual(p.Rows, []Row{{1}, {3}, {2}, {0}}) {
		t.Fatalf("sorted: %v %v", p.IDs, p.Rows)
	}
}
