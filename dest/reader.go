package dest

import (
	"context"
)

// Reader is implemented by backends that can read back what they wrote. The contract tests use it to check
// every backend the same way without knowing its storage, and `coupa demo` to print what landed. It loads a
// whole table into memory: it is for tests and small summaries, not for exporting a warehouse.
type Reader interface {
	// ReadRows returns every row of table (a catalog table or child name, without the prefix, which the
	// backend applies), ordered by primary key. Each row has every column the catalog gives the table
	// (the prepared version of it) plus the standard ones (parents: _extra, _synced_at, _deleted_at;
	// children: _extra, _synced_at), each value nil or the Go type catalog documents for its column Type. The table must have been prepared
	// through this Destination.
	ReadRows(ctx context.Context, table string) ([]map[string]any, error)

	// Runs lists the recorded runs, oldest first.
	Runs(ctx context.Context) ([]*Run, error)
}
