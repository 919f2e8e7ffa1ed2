package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/sim"
)

// Coupa's physical limit for one instance: 25 requests/s of 50 records.
const (
	coupaRate    = 25
	coupaBurst   = 20
	pageSize     = 50
	ceilingRecPS = coupaRate * pageSize
)

// unlimited is a client budget far above anything the machine can do, for the scenarios that measure the
// connector's own cost.
const (
	unlimitedRate  = 1e9
	unlimitedBurst = 1 << 20
)

// simOpts say which simulator a run needs.
type simOpts struct {
	Scale   int
	Seed    int64
	Latency time.Duration
	Rate    float64 // 0 = the simulator's default (25/s), <0 = no limit
	Burst   int
	// Child runs the simulator in a process of its own, so that its CPU and memory are not in the
	// measuring process's rusage.
	Child bool
	// Clock, when set (in-process only), is the simulator's clock; scenarios move it forward.
	Clock *offsetClock
	// CPUProfile, when set (child only), is where the child writes a CPU profile of its whole life.
	CPUProfile string
}

// simHandle is a running simulator, in this process or in a child.
type simHandle struct {
	URL    string
	ID     string
	Secret string

	srv   *sim.Server // in-process only
	ts    *httptest.Server
	cmd   *exec.Cmd // child only
	stdin io.WriteCloser
	hc    *http.Client
}

// offsetClock is the wall clock plus an offset the benchmark can advance, so that "a day later" takes no
// time to happen.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

func startSim(o simOpts) (*simHandle, error) {
	if o.Child {
		if o.Clock != nil {
			return nil, errors.New("a simulator in a child process cannot share the benchmark's clock")
		}
		return startSimChild(o)
	}
	so := sim.Options{Seed: o.Seed, Scale: o.Scale, Latency: o.Latency, Rate: o.Rate, Burst: o.Burst}
	if o.Clock != nil {
		so.Now = o.Clock.Now
		// The clock jumps days ahead; tokens must outlive the jumps, as a real one outlives a run.
		so.TokenTTL = 365 * 24 * time.Hour
	}
	s, err := sim.New(so)
	if err != nil {
		return nil, err
	}
	ts := httptest.NewServer(s)
	c := s.DefaultClient()
	return &simHandle{URL: ts.URL, ID: c.ID, Secret: c.Secret, srv: s, ts: ts, hc: ts.Client()}, nil
}

// Close stops the simulator. For a child it returns the child's peak RSS in KiB (0 otherwise).
func (h *simHandle) Close() int64 {
	if h.srv != nil {
		h.ts.Close()
		h.srv.Close()
		return 0
	}
	h.stdin.Close() // the child exits when its stdin closes
	done := make(chan struct{})
	go func() { h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.cmd.Process.Kill()
		<-done
	}
	if ru, ok := h.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}

// CPU is the CPU time a child simulator has used so far (0 in process: it is in our own rusage).
func (h *simHandle) CPU() time.Duration {
	if h.cmd == nil {
		return 0
	}
	return procCPU(h.cmd.Process.Pid, false)
}

// Mutate changes one record behind the API's back.
func (h *simHandle) Mutate(m sim.Mutation) error {
	if h.srv != nil {
		_, err := h.srv.Mutate(m)
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	resp, err := h.hc.Post(h.URL+"/__sim/mutate", "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("simulator mutate: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// Stats are the simulator's counters.
func (h *simHandle) Stats() (sim.Stats, error) {
	if h.srv != nil {
		return h.srv.Stats(), nil
	}
	var st sim.Stats
	resp, err := h.hc.Get(h.URL + "/__sim/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("simulator stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// client returns a connector client for the simulator with the given budget.
func (h *simHandle) client(rate float64, burst int) (*coupa.Client, error) {
	return coupa.New(coupa.Config{Host: h.URL, ClientID: h.ID, ClientSecret: h.Secret, Rate: rate, Burst: burst})
}

const simChildArg = "__sim-child"

// simReady is the first line a simulator child prints.
type simReady struct {
	URL    string `json:"url"`
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

func startSimChild(o simOpts) (*simHandle, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the benchmark binary to start the simulator child: %w", err)
	}
	cmd := exec.Command(exe, simChildArg, "-scale", fmt.Sprint(o.Scale), "-seed", fmt.Sprint(o.Seed),
		"-latency", o.Latency.String(), "-rate", fmt.Sprint(o.Rate), "-burst", fmt.Sprint(o.Burst),
		"-cpuprofile", o.CPUProfile)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the simulator child: %w", err)
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	var ready simReady
	if err == nil {
		err = json.Unmarshal(line, &ready)
	}
	if err != nil {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("the simulator child did not start: %v", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return &simHandle{URL: ready.URL, ID: ready.ID, Secret: ready.Secret, cmd: cmd, stdin: stdin,
		hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}, nil
}

// runSimChild is the simulator child process: it serves until its stdin is closed.
func runSimChild(args []string) int {
	fs := flag.NewFlagSet(simChildArg, flag.ContinueOnError)
	var o sim.Options
	fs.IntVar(&o.Scale, "scale", 0, "")
	fs.Int64Var(&o.Seed, "seed", 1, "")
	fs.DurationVar(&o.Latency, "latency", 0, "")
	fs.Float64Var(&o.Rate, "rate", 0, "")
	fs.IntVar(&o.Burst, "burst", 0, "")
	cpuprofile := fs.String("cpuprofile", "", "")
	if err := fs.Parse(args); err != nil {
		return 64
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench sim child:", err)
			return 1
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	s, err := sim.New(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench sim child:", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench sim child:", err)
		return 1
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	c := s.DefaultClient()
	b, _ := json.Marshal(simReady{URL: "http://" + ln.Addr().String(), ID: c.ID, Secret: c.Secret})
	os.Stdout.Write(append(b, '\n'))
	io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	s.Close()
	return 0
}

// usage is the process's CPU time and peak RSS so far.
type usage struct {
	CPU    time.Duration
	MaxRSS int64 // KiB
}

func selfUsage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	return usage{CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), MaxRSS: ru.Maxrss}
}

// tempDir makes a directory for one run's destination files; the caller removes it.
func tempDir() (string, error) { return os.MkdirTemp("", "coupa-bench-") }

// defaultOut is BENCHMARKS.md at the module root (found from the working directory upward).
func defaultOut() string {
	dir, err := os.Getwd()
	if err != nil {
		return "BENCHMARKS.md"
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "BENCHMARKS.md")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, "BENCHMARKS.md")
		}
	}
}
