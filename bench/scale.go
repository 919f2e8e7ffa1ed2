package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/sqlite"
	"github.com/coupa-connector/coupa-connector/extract"
)

const scaleWorkerArg = "__scale-worker"

// workerResult is what a scale worker prints: its sync and its own rusage.
type workerResult struct {
	Records   int     `json:"records"`
	Children  int     `json:"children"`
	Requests  int64   `json:"requests"`
	Seconds   float64 `json:"seconds"`
	CPU       float64 `json:"cpu_seconds"`
	MaxRSSKiB int64   `json:"maxrss_kib"`
	DBBytes   int64   `json:"db_bytes"`
}

func setupScale(fs *flag.FlagSet, c *common) func(context.Context) ([]*report, error) {
	sizes := fs.String("sizes", "10000,100000", "table sizes (invoices), comma-separated; 1000000 takes minutes per run")
	concurrency := fs.Int("concurrency", extract.DefaultConcurrency, "partitions fetched at once")
	bigRuns := fs.Int("runs-above-100k", 0, "runs for sizes above 100,000 (0: -runs); a 1M run takes minutes")
	return func(ctx context.Context) ([]*report, error) {
		ns, err := parseList(*sizes, parseInt)
		if err != nil {
			return nil, fmt.Errorf("scale: -sizes: %v", err)
		}
		r := &report{scenario: "scale", title: "full sync time and peak memory as the table grows (zero latency, no rate limit, SQLite)",
			header: []string{"invoices", "µs per invoice", "seconds", "invoices/s", "peak RSS connector", "target RSS < 200 MB", "peak RSS simulator", "runs", "SQLite file"}}
		var first float64
		for _, n := range ns {
			runs := c.runs
			if n > 100_000 && *bigRuns > 0 {
				runs = *bigRuns
				r.runsNote = "medians of the runs column"
			}
			s := samples{}
			for i := range runs {
				progressf("scale: %s invoices, run %d/%d", num(float64(n), 0), i+1, runs)
				res, simRSS, err := scaleOnce(ctx, n, c.seed, *concurrency)
				if err != nil {
					return []*report{r}, fmt.Errorf("scale at %d invoices: %w", n, err)
				}
				s.add("sec", res.Seconds)
				s.add("rss", float64(res.MaxRSSKiB)/1024)
				s.add("simrss", float64(simRSS)/1024)
				s.add("db", float64(res.DBBytes)/(1<<20))
			}
			per := s.med("sec") / float64(n) * 1e6
			if first == 0 {
				first = per
			}
			r.add(num(float64(n), 0), num(per, 1), num(s.med("sec"), 1), num(float64(n)/s.med("sec"), 0),
				num(s.med("rss"), 0)+" MB", verdict(s.med("rss") < 200), num(s.med("simrss"), 0)+" MB", fmt.Sprint(runs), num(s.med("db"), 0)+" MB")
		}
		r.note("Each run is two fresh processes: the simulator (`bench %s`) and the connector (`bench %s`: coupa client + sync engine + SQLite, the same code as `coupa sync`). Peak RSS is the connector process's own getrusage(RUSAGE_SELF).ru_maxrss, so the simulator's memory (its own column, from wait4) is not in it. Linear time shows as a flat 'µs per invoice' column; flat memory as a flat RSS column.",
			simChildArg, scaleWorkerArg)
		r.note("Only invoices are synced (with their lines); concurrency %d; simulator without latency or rate limit, so the time is the connector's own cost on this %d-core machine shared with the simulator.", *concurrency, describeMachine().CPUs)
		if len(ns) > 0 && ns[len(ns)-1] < 1_000_000 {
			r.note("1,000,000 invoices were not run here: at the measured µs per invoice one run takes about %s; run `go run ./bench scale -sizes 1000000 -runs-above-100k 1` for it.",
				(time.Duration(first*1e6) * time.Second / 1e6).Round(time.Second))
		}
		return []*report{r}, nil
	}
}

// scaleOnce runs one sync of n invoices in a worker process against a simulator process.
func scaleOnce(ctx context.Context, n int, seed int64, concurrency int) (workerResult, int64, error) {
	var res workerResult
	h, err := startSim(simOpts{Scale: n, Seed: seed, Rate: -1, Child: true})
	if err != nil {
		return res, 0, err
	}
	simRSS := int64(0)
	defer func() {
		if h != nil {
			h.Close()
		}
	}()
	dir, err := tempDir()
	if err != nil {
		return res, 0, err
	}
	defer os.RemoveAll(dir)
	exe, err := os.Executable()
	if err != nil {
		return res, 0, err
	}
	cmd := exec.CommandContext(ctx, exe, scaleWorkerArg, "-host", h.URL, "-id", h.ID, "-db", filepath.Join(dir, "scale.db"),
		"-concurrency", fmt.Sprint(concurrency))
	// The secret goes by environment, not argv, which other users of the machine can read.
	cmd.Env = append(os.Environ(), "BENCH_CLIENT_SECRET="+h.Secret)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return res, 0, fmt.Errorf("scale worker: %v", err)
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, 0, fmt.Errorf("scale worker printed %q: %v", out.String(), err)
	}
	if res.Records != n {
		return res, 0, fmt.Errorf("scale worker wrote %d invoices of %d", res.Records, n)
	}
	simRSS = h.Close()
	h = nil
	return res, simRSS, nil
}

// runScaleWorker is the connector process of the scale scenario: one sync, then its figures as JSON.
func runScaleWorker(args []string) int {
	fs := flag.NewFlagSet(scaleWorkerArg, flag.ContinueOnError)
	host := fs.String("host", "", "")
	id := fs.String("id", "", "")
	db := fs.String("db", "", "")
	concurrency := fs.Int("concurrency", extract.DefaultConcurrency, "")
	if err := fs.Parse(args); err != nil {
		return 64
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "bench scale worker:", err); return 1 }
	t, err := invoicesTable()
	if err != nil {
		return fail(err)
	}
	c, err := coupa.New(coupa.Config{Host: *host, ClientID: *id, ClientSecret: os.Getenv("BENCH_CLIENT_SECRET"),
		Rate: unlimitedRate, Burst: unlimitedBurst})
	if err != nil {
		return fail(err)
	}
	d, err := sqlite.Open(*db, dest.Options{})
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	res, err := syncOurs(ctx, c, d, t, *concurrency)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	u := selfUsage()
	out := workerResult{Records: res.Records, Children: res.Children, Requests: res.Requests,
		Seconds: time.Since(start).Seconds(), CPU: u.CPU.Seconds(), MaxRSSKiB: u.MaxRSS}
	for _, suffix := range []string{"", "-wal"} {
		if st, err := os.Stat(*db + suffix); err == nil {
			out.DBBytes += st.Size()
		}
	}
	b, _ := json.Marshal(out)
	os.Stdout.Write(append(b, '\n'))
	return 0
}
