package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/coupa-connector/coupa-connector/dest/desttest"
)

// BenchmarkWritePage is desttest's shared load (pages of 50 invoices with 3 lines and the checkpoint), so
// its parents/s compares with dest/postgres's and dest/parquet's.
func BenchmarkWritePage(b *testing.B) {
	d := open(b, filepath.Join(b.TempDir(), "bench.db"), "")
	defer d.Close()
	desttest.BenchWritePage(b, d)
}
