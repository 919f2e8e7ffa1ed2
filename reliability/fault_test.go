package reliability

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// faultTables keep each fault case short while covering parents with children, and plain tables.
var faultTables = []string{"invoices", "purchase_orders", "suppliers", "users"}

// TestFaultMatrix syncs through each fault of the simulator alone, then all of them at once: every run
// must end with exit 0 and a warehouse equal to the truth, and each case proves its fault was injected.
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	var survived, ran, rows atomic.Int64
	cases := []struct {
		name  string
		opts  sim.Options
		flags []string
		// injected reads how many times the case's fault happened.
		injected func(sim.Stats) int64
		postgres bool
		spikes   bool
	}{
		// A sync of these four small tables is only ~15 requests, so the rates are high enough that every
		// case injects its fault (the test fails a case that did not) while retries still get through.
		{name: "5xx bursts", opts: sim.Options{Faults: sim.Faults{Error500: 0.1, Error502: 0.1, Error503: 0.1}},
			injected: func(st sim.Stats) int64 {
				return st.Faults["error_500"] + st.Faults["error_502"] + st.Faults["error_503"]
			}},
		{name: "connection resets", opts: sim.Options{Faults: sim.Faults{Reset: 0.35}},
			injected: func(st sim.Stats) int64 { return st.Faults["reset"] }},
		{name: "truncated bodies", opts: sim.Options{Faults: sim.Faults{Truncate: 0.35}},
			injected: func(st sim.Stats) int64 { return st.Faults["truncate"] }},
		{name: "slow bodies", opts: sim.Options{Faults: sim.Faults{SlowBody: 0.35, SlowBodyBy: 300 * time.Millisecond}},
			injected: func(st sim.Stats) int64 { return st.Faults["slow_body"] }},
		{name: "429 storm without Retry-After", opts: sim.Options{Rate: 10, Burst: 3, Faults: sim.Faults{RateLimit: 0.1}},
			injected: func(st sim.Stats) int64 { return st.Throttled }},
		{name: "429 storm with Retry-After", opts: sim.Options{Rate: 10, Burst: 3, RetryAfter: true, Faults: sim.Faults{RateLimit: 0.03}},
			injected: func(st sim.Stats) int64 { return st.Throttled }},
		// Concurrency 1 and latency make the run outlast several token lifetimes (tables sync at once, so
		// the run takes a few round trips: the lifetime is shorter than that).
		{name: "token expiry every 300ms", opts: sim.Options{TokenTTL: 300 * time.Millisecond, Latency: 120 * time.Millisecond},
			flags:    []string{"--concurrency", "1", "--rate", "20"},
			injected: func(st sim.Stats) int64 { return st.TokensMinted - 1 }},
		// Jitter on every request, and a counted 400 ms stall on every fifth one.
		{name: "latency spikes", opts: sim.Options{Latency: 2 * time.Millisecond, LatencyJitter: 100 * time.Millisecond},
			spikes: true, injected: func(sim.Stats) int64 { return 0 }},
		{name: "everything at once", opts: sim.Options{Rate: 10, Burst: 4, RetryAfter: true, TokenTTL: 2 * time.Second,
			Latency: 5 * time.Millisecond, LatencyJitter: 80 * time.Millisecond,
			Faults: sim.Faults{Error500: 0.04, Error502: 0.03, Error503: 0.03, Reset: 0.04, Truncate: 0.04,
				SlowBody: 0.04, SlowBodyBy: 200 * time.Millisecond, RateLimit: 0.04}},
			injected: func(st sim.Stats) int64 {
				var n int64
				for _, v := range st.Faults {
					n += v
				}
				return n + max(0, st.TokensMinted-1)
			}},
		{name: "everything at once, into PostgreSQL", postgres: true, opts: sim.Options{Rate: 10, Burst: 4, RetryAfter: true, TokenTTL: 2 * time.Second,
			Latency: 5 * time.Millisecond, LatencyJitter: 80 * time.Millisecond,
			Faults: sim.Faults{Error500: 0.04, Error502: 0.03, Error503: 0.03, Reset: 0.04, Truncate: 0.04,
				SlowBody: 0.04, SlowBodyBy: 200 * time.Millisecond, RateLimit: 0.04}},
			injected: func(st sim.Stats) int64 {
				var n int64
				for _, v := range st.Faults {
					n += v
				}
				return n + max(0, st.TokensMinted-1)
			}},
	}
	t.Cleanup(func() {
		t.Logf("FIGURE faults: %d injected faults survived in %d passing cases; %d rows compared with the truth, 0 lost",
			survived.Load(), ran.Load(), rows.Load())
	})
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.Seed = int64(100 + i)
			tc.opts.Scale = 120
			s, ts := startSim(t, tc.opts)
			var spiked atomic.Int64
			if tc.spikes {
				ts = spikyFront(t, s, &spiked)
			}
			dir := t.TempDir()
			destArg := "sqlite:w.db"
			if tc.postgres {
				destArg = pgDest(t)
			}
			args := append([]string{"sync", "--dest", destArg, "--tables", strings.Join(faultTables, ","),
				"--rate", "1000", "--burst", "50", "-q", "-o", "json"}, tc.flags...)
			r := runCoupa(t, dir, simtest.Env(s, ts), args...)
			if r.code != 0 {
				t.Fatalf("sync under %s: exit %d\n%s", tc.name, r.code, r.stderr)
			}
			var doc struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Status != "ok" {
				t.Fatalf("summary %q (%v)", r.stdout, err)
			}
			st := s.Stats()
			n := tc.injected(st) + spiked.Load()
			if n <= 0 {
				t.Fatalf("the fault was never injected (stats %+v): the case proves nothing", st)
			}
			assertTruth(t, ts.URL, destArg, dir, tablesOf(t, faultTables...))
			survived.Add(n)
			ran.Add(1)
			rows.Add(int64(truthRows(t, s, tablesOf(t, faultTables...))))
			t.Logf("%s: %d injected, correct", tc.name, n)
		})
	}
}

// TestRetryBudgetExhausted turns Coupa into a wall of 503s in the middle of a sync: the run must give up
// with a one-line error naming the failure, keep every page it committed and its open window, and a run
// after Coupa recovers must resume (not restart) and end equal to the truth.
func TestRetryBudgetExhausted(t *testing.T) {
	t.Parallel()
	s, ts := startSim(t, sim.Options{Seed: 77, Scale: 400, Latency: 5 * time.Millisecond})
	dir := t.TempDir()
	env := simtest.Env(s, ts)
	args := []string{"sync", "--dest", "sqlite:w.db", "--tables", "invoices", "--rate", "40", "--burst", "5",
		"--concurrency", "2", "-q"}
	cmd := exec.Command(coupaBin, args...)
	cmd.Dir = dir
	cmd.Env = baseEnv(dir, env)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Let some pages commit first, then fail every request until the client gives up.
	for deadline := time.Now().Add(60 * time.Second); tryCountRows(dir, "invoices") < 100; {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no page was committed within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.SetFaults(sim.Faults{Error503: 1})
	cmd.Wait()
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	assertCleanError(t, "retry budget exhausted", r, 1, "503", "invoices")
	// One line is not enough: it must be readable, not a page of percent-encoded query string.
	if line := r.lastLine(); len(line) > 400 {
		t.Errorf("the error is one line of %d characters; name the table, the status and what to do instead:\n%.400s...", len(line), line)
	}
	if n := s.Stats().Faults["error_503"]; n < 8 {
		t.Fatalf("only %d 503s were served before the run gave up: the retry budget was not spent", n)
	}
	t.Logf("FIGURE retry budget: gave up after %d 503s with: %.300s", s.Stats().Faults["error_503"], r.lastLine())

	kept := countRows(t, dir, "invoices")
	show := runCoupa(t, dir, nil, "state", "show", "--dest", "w.db", "-o", "json")
	if show.code != 0 || !strings.Contains(show.stdout, `"window"`) || kept == 0 {
		t.Fatalf("after giving up: %d invoices kept, state %s %s; want committed pages and an open window", kept, show.stdout, show.stderr)
	}

	s.SetFaults(sim.Faults{})
	r = runCoupa(t, dir, env, append(args, "-o", "json")...)
	if r.code != 0 || !strings.Contains(r.stdout, `"resumed": true`) {
		t.Fatalf("the run after recovery: exit %d, want a resumed window\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	assertTruth(t, ts.URL, "sqlite:w.db", dir, tablesOf(t, "invoices"))
}

// spikyFront serves the simulator behind a front that stalls every fifth /api request for 400 ms, and
// counts the stalls.
func spikyFront(t *testing.T, s *sim.Server, spiked *atomic.Int64) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") && n.Add(1)%5 == 0 {
			spiked.Add(1)
			select {
			case <-time.After(400 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front
}
