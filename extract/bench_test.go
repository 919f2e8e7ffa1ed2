package extract_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/catalog/rowcodec"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/parquet"
	"github.com/coupa-connector/coupa-connector/dest/postgres"
	"github.com/coupa-connector/coupa-connector/dest/sqlite"
	"github.com/coupa-connector/coupa-connector/extract"
	"github.com/coupa-connector/coupa-connector/internal/pgtest"
	"github.com/coupa-connector/coupa-connector/sim"
)

// benchScale is the invoice count of one benchmark sync: enough pages for the partitions to overlap,
// small enough that one iteration takes well under a second.
const benchScale = 5000

// cpuTime is the user and system CPU time this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSyncInvoices is the engine's local cost: a full sync of the invoices table (with its lines)
// from an unthrottled, zero-latency simulator over real HTTP into each destination. The simulator runs
// in the same process, so a CPU profile (-cpuprofile) shows client, engine, destination and server
// side by side. records/s counts parent records; the lines come with them.
//
//	go test -run '^$' -bench SyncInvoices -benchtime 3x -cpuprofile cpu.out ./extract
//
// COUPA_BENCH_CONCURRENCY=N overrides the engine's default partitions per table. With COUPA_BENCH_SIM=URL it syncs from a simulator running as its own process instead (`coupa sim
// --rate -1 --addr 127.0.0.1:0`, default client), so that the profile and the CPU figure are the
// connector's alone, as in a real deployment.
func BenchmarkSyncInvoices(b *testing.B) {
	host := os.Getenv("COUPA_BENCH_SIM")
	clientID, secret := "coupa-sim", "coupa-sim-secret"
	want := 0
	conc, _ := strconv.Atoi(os.Getenv("COUPA_BENCH_CONCURRENCY")) // 0: the default
	if host == "" {
		s, err := sim.New(sim.Options{Scale: benchScale, Rate: -1})
		if err != nil {
			b.Fatalf("sim.New: %v", err)
		}
		ts := httptest.NewServer(s)
		b.Cleanup(func() { ts.Close(); s.Close() })
		host, want = ts.URL, benchScale
		sc := s.DefaultClient()
		clientID, secret = sc.ID, sc.Secret
	}
	inv, ok := catalog.Lookup("invoices")
	if !ok {
		b.Fatal("the catalog has no invoices table")
	}
	tables := []*catalog.Table{inv}

	run := func(b *testing.B, open func(b *testing.B, i int) dest.Destination) {
		client, err := coupa.New(coupa.Config{Host: host, ClientID: clientID, ClientSecret: secret,
			Scopes: catalog.Scopes(tables), Rate: 1e6, Burst: 1000})
		if err != nil {
			b.Fatalf("coupa.New: %v", err)
		}
		var parents, children, pages int
		var txns atomic.Int64 // PageWritten events: one per transaction
		i := 0
		cpu0 := cpuTime()
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			d := open(b, i)
			i++
			b.StartTimer()
			sum, err := extract.Sync(context.Background(), extract.Config{Client: client, Dest: d, Tables: tables, Concurrency: conc,
				Progress: func(ev extract.Event) {
					if ev.Kind == extract.PageWritten {
						txns.Add(1)
					}
				}})
			if err != nil || sum.Status != extract.StatusOK {
				b.Fatalf("Sync: %v (%+v)", err, sum)
			}
			b.StopTimer()
			if err := d.(interface{ Close() error }).Close(); err != nil {
				b.Fatalf("closing the destination: %v", err)
			}
			b.StartTimer()
			if want == 0 {
				want = sum.Tables[0].New
			}
			if sum.Tables[0].New != want || want == 0 {
				b.Fatalf("synced %d invoices, want %d in every run", sum.Tables[0].New, want)
			}
			parents += sum.Tables[0].New
			children += sum.Tables[0].Children
			pages += sum.Tables[0].Pages
		}
		// On a shared machine wall time mostly measures the neighbours; CPU time per record does not.
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(parents), "cpu-µs/record")
		// Above 1 when pages waited for a busy destination and were committed together.
		b.ReportMetric(float64(pages)/float64(txns.Load()), "pages/txn")
		secs := b.Elapsed().Seconds()
		b.ReportMetric(float64(parents)/secs, "records/s")
		b.ReportMetric(float64(children)/secs, "lines/s")
	}

	b.Run("sqlite", func(b *testing.B) {
		run(b, func(b *testing.B, i int) dest.Destination {
			d, err := sqlite.Open(filepath.Join(b.TempDir(), "w.db"), dest.Options{})
			if err != nil {
				b.Fatalf("sqlite.Open: %v", err)
			}
			return d
		})
	})
	b.Run("parquet", func(b *testing.B) {
		run(b, func(b *testing.B, i int) dest.Destination {
			d, err := parquet.Open(b.TempDir(), dest.Options{})
			if err != nil {
				b.Fatalf("parquet.Open: %v", err)
			}
			return d
		})
	})
	b.Run("postgres", func(b *testing.B) {
		run(b, func(b *testing.B, i int) dest.Destination {
			d, err := postgres.Open(context.Background(), pgtest.NewDatabase(b), postgres.Options{})
			if err != nil {
				b.Fatalf("postgres.Open: %v", err)
			}
			return d
		})
	})
}

// BenchmarkDecodeSimPage is the client's share of a page: a 50-invoice answer of the simulator, fetched
// once with a sync's fields projection, read into rows (rowcodec.DecodePage).
func BenchmarkDecodeSimPage(b *testing.B) {
	s, err := sim.New(sim.Options{Scale: 1000, Rate: -1})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer func() { ts.Close(); s.Close() }()
	inv, _ := catalog.Lookup("invoices")
	sc := s.DefaultClient()
	client, err := coupa.New(coupa.Config{Host: ts.URL, ClientID: sc.ID, ClientSecret: sc.Secret, Scopes: catalog.Scopes([]*catalog.Table{inv})})
	if err != nil {
		b.Fatal(err)
	}
	var body []byte
	_, err = client.ListPageDecode(context.Background(), inv.Resource, &coupa.ListOptions{Limit: coupa.MaxPageSize, Fields: inv.Fields()},
		func(b []byte) error { body = append([]byte(nil), b...); return nil })
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if p, err := rowcodec.DecodePage(inv, body); err != nil || p.Len() != coupa.MaxPageSize {
			b.Fatalf("decoded %v: %v", p, err)
		}
	}
}
