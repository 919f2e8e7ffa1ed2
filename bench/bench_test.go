package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
)

// TestMain lets the test binary play the benchmark's child roles, which re-execute os.Executable().
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case simChildArg:
			os.Exit(runSimChild(os.Args[2:]))
		case scaleWorkerArg:
			os.Exit(runScaleWorker(os.Args[2:]))
		}
	}
	code := m.Run()
	stopPostgres()
	os.Exit(code)
}

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
	}
	for _, c := range cases {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing should be NaN")
	}
	in := []float64{3, 1, 2}
	median(in)
	if !reflect.DeepEqual(in, []float64{3, 1, 2}) {
		t.Errorf("median reordered its input: %v", in)
	}
}

func TestNum(t *testing.T) {
	cases := map[string]string{
		num(1234567.891, 1): "1,234,567.9",
		num(999, 0):         "999",
		num(1000, 0):        "1,000",
		num(-12345.5, 2):    "-12,345.50",
		num(math.NaN(), 0):  "–",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/coupa-connector/coupa-connector/coupa
BenchmarkDecodeInvoicePage-2   	    1000	   1200000 ns/op	  83.5 MB/s	  50000 B/op	  900 allocs/op
BenchmarkDecodeInvoicePage-2   	    1000	   1000000 ns/op	  90.0 MB/s	  50000 B/op	  900 allocs/op
BenchmarkDecodeInvoicePage-2   	    1000	   1100000 ns/op	  88.0 MB/s	  50000 B/op	  901 allocs/op
PASS
ok  	github.com/coupa-connector/coupa-connector/coupa	5.1s
pkg: github.com/coupa-connector/coupa-connector/dest/sqlite
BenchmarkWritePage/rows=50-2         	     500	   2500000 ns/op	 20000 rows/s
--- FAIL: BenchmarkBroken
`
	got := parseGoBench(out)
	if len(got) != 2 {
		t.Fatalf("parsed %d benchmarks, want 2: %+v", len(got), got)
	}
	b := got[0]
	if b.pkg != "coupa" || b.name != "DecodeInvoicePage" {
		t.Errorf("first benchmark = %s %s", b.pkg, b.name)
	}
	if m := median(b.values["ns/op"]); m != 1100000 {
		t.Errorf("median ns/op = %v, want 1100000", m)
	}
	if m := median(b.values["allocs/op"]); m != 900 {
		t.Errorf("median allocs/op = %v, want 900", m)
	}
	if !reflect.DeepEqual(b.units, []string{"ns/op", "MB/s", "B/op", "allocs/op"}) {
		t.Errorf("units = %v", b.units)
	}
	if got[1].pkg != "dest/sqlite" || got[1].name != "WritePage/rows=50" || got[1].values["rows/s"][0] != 20000 {
		t.Errorf("second benchmark = %+v", got[1])
	}
}

func TestAppendRecordKeepsEarlierSections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	m := machine{CPUs: 2, Model: "Test CPU", Go: "go1.x", OS: "linux/amd64", Load: "0.1 0.2 0.3", MemTot: "1.0 GiB"}
	r1 := &report{scenario: "ceiling", title: "first", header: []string{"latency", "records/s"},
		rows: [][]string{{"50ms", "1,200"}}, notes: []string{"what it means"}, command: "go run ./bench ceiling", runs: 3}
	r2 := &report{scenario: "compare", title: "second", header: []string{"strategy", "speed-up"},
		rows: [][]string{{"ours", "2.50×"}}, command: "go run ./bench compare", runs: 1}
	for _, r := range []*report{r1, r2} {
		if err := appendRecord(path, r, m); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Count(s, "# Benchmarks") != 1 {
		t.Errorf("the header should be written once:\n%s", s)
	}
	for _, want := range []string{"| 50ms | 1,200 |", "- what it means", "`go run ./bench ceiling`", "medians of 3 runs",
		"| ours | 2.50× |", "one run", "2 × Test CPU", "go1.x"} {
		if !strings.Contains(s, want) {
			t.Errorf("record lacks %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "ceiling (first)") > strings.Index(s, "compare (second)") {
		t.Error("sections are not in the order they were recorded")
	}
}

// Both strategies must write the same warehouse, or the comparison would compare different work.
func TestSequentialOffsetWritesWhatOursWrites(t *testing.T) {
	ctx := context.Background()
	tbl, err := invoicesTable()
	if err != nil {
		t.Fatal(err)
	}
	const n = 120
	h, err := startSim(simOpts{Scale: n, Seed: 3, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	read := func(strategy string) ([]map[string]any, syncResult) {
		c, err := h.client(unlimitedRate, unlimitedBurst)
		if err != nil {
			t.Fatal(err)
		}
		d, err := openDest(ctx, "sqlite")
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		res, err := syncWith(ctx, strategy, c, d, tbl, 4)
		if err != nil {
			t.Fatalf("%s: %v", strategy, err)
		}
		rows, err := d.Destination.(dest.Reader).ReadRows(ctx, "invoices")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			delete(r, catalog.ColSyncedAt)
		}
		return rows, res
	}
	seqRows, seq := read(strategySeqOffsets)
	ourRows, ours := read(strategyOurs)
	if seq.Records != n || ours.Records != n {
		t.Fatalf("records: sequential-offset %d, ours %d, want %d", seq.Records, ours.Records, n)
	}
	// Offsets 0, 50, 100: the third page is short and ends the sync.
	if seq.Requests != 3 {
		t.Errorf("sequential-offset made %d requests, want 3", seq.Requests)
	}
	if seq.Children == 0 || seq.Children != ours.Children {
		t.Errorf("child rows: sequential-offset %d, ours %d", seq.Children, ours.Children)
	}
	if !reflect.DeepEqual(seqRows, ourRows) {
		t.Error("the two strategies wrote different invoices")
	}
}

// The incremental scenario end to end: after a full sync, a run with 50 changed invoices costs one
// probe, one full page and the empty page that ends it.
func TestIncrementalScenarioCountsRequests(t *testing.T) {
	out := filepath.Join(t.TempDir(), "B.md")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"incremental", "-invoices", "500", "-changed", "2,10", "-runs", "1", "-record", "-out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// columns: run | requests vs full | time vs full | changed | fetched | requests | target | within 10%
	for _, want := range []string{"| 2% changed |", "| 10 | 10 | 2 | 3 | met |", "| 10% changed |", "| 50 | 50 | 3 | 3 | met |"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("record lacks %q:\n%s", want, b)
		}
	}
}

// The scale scenario runs the connector and the simulator in processes of their own and reads the
// connector's peak RSS from its own rusage.
func TestScaleScenarioUsesChildProcesses(t *testing.T) {
	res, simRSS, err := scaleOnce(context.Background(), 300, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 300 || res.Children == 0 {
		t.Errorf("worker synced %d invoices and %d lines, want 300 and some", res.Records, res.Children)
	}
	if res.MaxRSSKiB <= 0 || simRSS <= 0 {
		t.Errorf("peak RSS connector %d KiB, simulator %d KiB: both must be measured", res.MaxRSSKiB, simRSS)
	}
	if res.DBBytes <= 0 {
		t.Error("the SQLite file size was not measured")
	}
}

func TestUnknownScenarioIsAUsageError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"nope"}, &stdout, &stderr); code != 64 {
		t.Errorf("exit %d, want 64", code)
	}
	if !strings.Contains(stderr.String(), "unknown scenario") {
		t.Errorf("stderr = %q", stderr.String())
	}
}
