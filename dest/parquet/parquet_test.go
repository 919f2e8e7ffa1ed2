package parquet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/desttest"
	pq "github.com/parquet-go/parquet-go"
)

func TestContract(t *testing.T) {
	desttest.Run(t, func(t *testing.T) dest.Destination {
		d, err := Open(t.TempDir(), dest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestContractPrefix(t *testing.T) {
	var dir string
	desttest.RunPrefix(t, func(t *testing.T, prefix string) dest.Destination {
		if dir == "" {
			dir = t.TempDir()
		}
		d, err := Open(dir, dest.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// stored is what a part file holds, read with parquet-go directly (not through ReadRows).
type stored struct {
	path   string
	schema *pq.Schema
	codecs []string
	rows   []map[string]pq.Value
}

func readParts(t *testing.T, dir, table string) []stored {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, table, "run=*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := f.Stat()
		pf, err := pq.OpenFile(f, info.Size())
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		s := stored{path: path, schema: pf.Schema()}
		for _, rg := range pf.Metadata().RowGroups {
			for _, c := range rg.Columns {
				s.codecs = append(s.codecs, c.MetaData.Codec.String())
			}
		}
		cols := pf.Schema().Columns()
		r := pq.NewReader(pf)
		buf := make([]pq.Row, 10)
		for {
			n, err := r.ReadRows(buf)
			for _, row := range buf[:n] {
				m := map[string]pq.Value{}
				for _, v := range row {
					m[cols[v.Column()][0]] = v
				}
				s.rows = append(s.rows, m)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
		f.Close()
		out = append(out, s)
	}
	return out
}

func openDir(t *testing.T, dir string, perPart int) *Dir {
	t.Helper()
	d, err := OpenWith(dir, dest.Options{}, Options{RowsPerPart: perPart})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFilesAreTypedZstdHiveParts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openDir(t, dir, 0)
	defer d.Close()
	if err := d.Prepare(ctx, []*catalog.Table{desttest.Invoices()}); err != nil {
		t.Fatal(err)
	}
	run, err := d.StartRun(ctx, &dest.Run{Started: t0, Tables: []string{"invoices"}})
	if err != nil {
		t.Fatal(err)
	}
	p := desttest.Page(1, 2)
	desttest.Set(p.Rows[0], desttest.Invoices().Layout(), "total", "12345678901234567.89")
	desttest.Set(p.Rows[1], desttest.Invoices().Layout(), "total", "-0.10")
	desttest.Set(p.Rows[0], desttest.Invoices().Layout(), "updated_at", time.Date(2016, 10, 7, 6, 59, 46, 0, time.FixedZone("-07:00", -7*3600)))
	if _, err := d.WritePage(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := d.MarkDeleted(ctx, "invoices", []int64{2}, t0); err != nil {
		t.Fatal(err)
	}
	if err := d.FinishRun(ctx, &dest.Run{ID: run, Started: t0, Finished: t0.Add(time.Minute), Status: "ok"}); err != nil {
		t.Fatal(err)
	}
	parts := readParts(t, dir, "invoices")
	if len(parts) != 1 || len(parts[0].rows) != 3 {
		t.Fatalf("%d invoice parts, want 1 of 3 rows (the page's two, then the delete, rolled together)", len(parts))
	}
	if want := filepath.Join(dir, "invoices", fmt.Sprintf("run=%d", run), "part-00000.parquet"); parts[0].path != want {
		t.Errorf("first part at %s, want %s", parts[0].path, want)
	}
	for _, c := range parts[0].codecs {
		if c != "ZSTD" {
			t.Errorf("column chunk codec %s, want ZSTD", c)
		}
	}
	sc := parts[0].schema
	for col, want := range map[string]string{"total": "STRING", "updated_at": "TIMESTAMP", "custom_fields": "JSON", "_synced_at": "TIMESTAMP"} {
		lc, ok := sc.Lookup(col)
		if !ok {
			t.Fatalf("no column %s", col)
		}
		if got := lc.Node.Type().LogicalType().String(); !strings.Contains(got, want) {
			t.Errorf("column %s logical type %s, want %s", col, got, want)
		}
	}
	rows := parts[0].rows
	if got := string(rows[0]["total"].ByteArray()); got != "12345678901234567.89" {
		t.Errorf("total %q, want the exact decimal text", got)
	}
	if got := string(rows[1]["total"].ByteArray()); got != "-0.10" {
		t.Errorf("total %q, want -0.10", got)
	}
	if got := time.UnixMicro(rows[0]["updated_at"].Int64()).UTC(); !got.Equal(time.Date(2016, 10, 7, 13, 59, 46, 0, time.UTC)) {
		t.Errorf("updated_at %v, want 2016-10-07T13:59:46Z", got)
	}
	if string(rows[0]["_op"].ByteArray()) != "upsert" || !rows[0]["_deleted_at"].IsNull() {
		t.Errorf("page row _op %q _deleted_at %v, want upsert and null", rows[0]["_op"].ByteArray(), rows[0]["_deleted_at"])
	}
	del := parts[0].rows[2:]
	if len(del) != 1 || del[0]["id"].Int64() != 2 || string(del[0]["_op"].ByteArray()) != "delete" ||
		time.UnixMicro(del[0]["_deleted_at"].Int64()).UTC() != t0 || del[0]["_version"].Int64() <= rows[1]["_version"].Int64() {
		t.Errorf("delete part rows %v, want one delete of id 2 at %v with a higher _version", del, t0)
	}
	lines := readParts(t, dir, "invoice_lines")
	if len(lines) != 1 || len(lines[0].rows) != 6 || lines[0].rows[0]["_version"].Int64() != rows[0]["_version"].Int64() {
		t.Errorf("lines parts %d, want one part of 6 rows sharing their page's _version", len(lines))
	}
	var manifest struct {
		Status string
		Files  []string
	}
	b, err := os.ReadFile(filepath.Join(dir, "_coupa_runs", fmt.Sprintf("run-%d.json", run)))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("invoice_lines/run=%d/part-00000.parquet", run)
	if manifest.Status != "ok" || len(manifest.Files) != 3 || !slices.Contains(manifest.Files, want) {
		t.Errorf("manifest %+v, want status ok and 3 files (invoices, lines, tags) including %s", manifest, want)
	}
}

func TestFailedRollLeavesNoVisiblePartAndNoState(t *testing.T) {
	// A disk fills up while the parts are written (every part fails, at once), or at the rename.
	t.Run("WritingParts", func(t *testing.T) { testFailedRoll(t, &testHookWritePart) })
	t.Run("Renaming", func(t *testing.T) { testFailedRoll(t, &testHookBeforeRename) })
}

func testFailedRoll(t *testing.T, hook *func(string) error) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openDir(t, dir, 0)
	if err := d.Prepare(ctx, []*catalog.Table{desttest.Invoices()}); err != nil {
		t.Fatal(err)
	}
	p := desttest.Page(1)
	p.State = &dest.State{Table: "invoices", Cursor: t0}
	if _, err := d.WritePage(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveState(ctx, &dest.State{Table: "invoices", Cursor: t0}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, stateFile))

	*hook = func(string) error { return syscall.ENOSPC }
	defer func() { *hook = nil }()
	p = desttest.Page(2)
	p.State = &dest.State{Table: "invoices", Cursor: t0.Add(time.Hour)}
	if _, err := d.WritePage(ctx, p); err != nil {
		t.Fatal(err) // buffered: the failure comes with the roll
	}
	err := d.SaveState(ctx, &dest.State{Table: "invoices", Cursor: t0.Add(2 * time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "no space left") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("roll on a full disk: %v, want a one-line error naming the cause", err)
	}
	*hook = nil
	if _, err := d.WritePage(ctx, desttest.Page(3)); err == nil {
		t.Error("a write after a failed roll was accepted: the buffered pages were lost, so the Dir must refuse")
	}
	var visible []string
	filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if strings.Contains(e.Name(), ".tmp") || (strings.HasSuffix(e.Name(), ".parquet") && !strings.Contains(path, "part-00000")) {
			visible = append(visible, path)
		}
		return nil
	})
	if len(visible) != 0 {
		t.Errorf("files left by the failed roll: %v", visible)
	}
	after, _ := os.ReadFile(filepath.Join(dir, stateFile))
	if string(before) != string(after) {
		t.Errorf("state file changed by a failed roll:\n%s\nwas\n%s", after, before)
	}
	d.lock.Close() // as if the process died
	again := openDir(t, dir, 0)
	defer again.Close()
	if err := again.Prepare(ctx, []*catalog.Table{desttest.Invoices()}); err != nil {
		t.Fatal(err)
	}
	s, err := again.LoadState(ctx, "invoices")
	if err != nil || s == nil || !s.Cursor.Equal(t0) {
		t.Errorf("state after the failed roll = %+v, %v; want cursor %v", s, err, t0)
	}
	rows, err := again.ReadRows(ctx, "invoices")
	if err != nil || len(rows) != 1 || rows[0]["id"] != int64(1) {
		t.Errorf("rows after the failed roll = %v, %v; want only invoice 1", rows, err)
	}
}

// TestStateNeverAheadOfData reads the state file and the parts from disk after every page, as a process
// that starts after a crash at that instant would: every id the saved checkpoint claims must be in a part.
func TestStateNeverAheadOfData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openDir(t, dir, 500) // a part every 2 pages of 250 rows (50 invoices, 150 lines, 50 tags)
	defer d.Close()
	if err := d.Prepare(ctx, []*catalog.Table{desttest.Invoices()}); err != nil {
		t.Fatal(err)
	}
	rolled := 0
	for page := int64(0); page < 10; page++ {
		var ids []int64
		for i := int64(1); i <= 50; i++ {
			ids = append(ids, page*50+i)
		}
		p := desttest.Page(ids...)
		p.State = &dest.State{Table: "invoices", Window: &dest.Window{To: t0, Partitions: []dest.Partition{{LastID: ids[len(ids)-1]}}}}
		if _, err := d.WritePage(ctx, p); err != nil {
			t.Fatal(err)
		}
		onDisk, err := OpenWith(dir, dest.Options{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var saved int64
		if s, ok := onDisk.sec.States["invoices"]; ok {
			w, err := dest.DecodeWindow(s.Window)
			if err != nil {
				t.Fatal(err)
			}
			saved = w.Partitions[0].LastID
		}
		have := map[int64]bool{}
		for _, part := range readParts(t, dir, "invoices") {
			for _, r := range part.rows {
				have[r["id"].Int64()] = true
			}
		}
		lines := 0
		for _, part := range readParts(t, dir, "invoice_lines") {
			lines += len(part.rows)
		}
		for id := int64(1); id <= saved; id++ {
			if !have[id] {
				t.Fatalf("after page %d the saved checkpoint is at id %d but id %d is in no part", page, saved, id)
			}
		}
		if lines != 3*len(have) {
			t.Errorf("after page %d: %d lines on disk for %d invoices, want 3 each: a parent part is visible before its children", page, lines, len(have))
		}
		if saved > 0 {
			rolled++
		}
	}
	if rolled < 5 {
		t.Errorf("the checkpoint reached the disk after only %d of 10 pages: parts are not rolled every ~%d rows", rolled, 500)
	}
	if n := len(readParts(t, dir, "invoices")); n != 5 {
		t.Errorf("%d invoice parts for 10 pages of 250 rows rolled at 500, want 5", n)
	}
}

func TestSecondWriterRefusedAndBadDirectories(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := openDir(t, dir, 0)
	defer a.Close()
	if err := a.Prepare(ctx, []*catalog.Table{desttest.Invoices()}); err != nil {
		t.Fatal(err)
	}
	b := openDir(t, dir, 0)
	defer b.Close()
	err := b.Prepare(ctx, []*catalog.Table{desttest.Invoices()})
	if err == nil || !strings.Contains(err.Error(), "another coupa sync") {
		t.Errorf("second writer on the same lake: %v, want a refusal", err)
	}

	file := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(file, []byte("x"), 0o644)
	_, err = Open(filepath.Join(file, "lake"), dest.Options{})
	if err == nil || !strings.Contains(err.Error(), "not a directory") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Open under a regular file: %v, want a one-line error naming the cause", err)
	}
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644)
	_, err = Open(foreign, dest.Options{})
	if err == nil || !strings.Contains(err.Error(), "not a coupa lake") {
		t.Errorf("Open on someone else's directory: %v, want a refusal", err)
	}
}

// BenchmarkWritePage is desttest's shared load, so its parents/s compares with the other backends'.
func BenchmarkWritePage(b *testing.B) {
	d, err := Open(b.TempDir(), dest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	desttest.BenchWritePage(b, d)
}

// BenchmarkWriteAndRoll writes the same load as BenchmarkWritePage and rolls a part of 5,000 rows every
// 25 pages, so that the roll (parquet-go's encoding and zstd) weighs in every iteration.
func BenchmarkWriteAndRoll(b *testing.B) {
	ctx := context.Background()
	d, err := Open(b.TempDir(), dest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	tbl := desttest.BenchTable()
	if err := d.Prepare(ctx, []*catalog.Table{tbl}); err != nil {
		b.Fatal(err)
	}
	const pages, size = 25, 50
	var next int64 = 1
	// CPU time, not only wall time: the roll spreads over the cores, and a sync is bound by the CPU it
	// spends per record. Building the pages is left out of both.
	var cpu time.Duration
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		batch := make([]*dest.Page, pages)
		for i := range batch {
			batch[i] = desttest.BenchPage(tbl, next, size)
			next += size
		}
		start := cpuTime(b)
		b.StartTimer()
		for _, p := range batch {
			if _, err := d.WritePage(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
		if err := d.SaveState(ctx, &dest.State{Table: tbl.Name}); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime(b) - start
	}
	b.ReportMetric(float64(b.N*pages*size)/b.Elapsed().Seconds(), "parents/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*pages*size), "cpu-ns/parent")
}

// cpuTime is the CPU the process has used, user and system, every goroutine and the GC included.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
