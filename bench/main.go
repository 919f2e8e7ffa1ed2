// Command bench measures coupa-connector against Coupa's physical limit (25 requests/s x 50 records) and
// against the peers' one-page-at-a-time design; `--record` appends the figures to BENCHMARKS.md.
//
// Usage:
//
//	go run ./bench SCENARIO [flags]
//
// Scenarios: ceiling, compare, overhead, incremental, scale, bulk, simulator, gotest, all.
// `go run ./bench SCENARIO -h` lists a scenario's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/coupa-connector/coupa-connector/internal/gcpolicy"
)

// scenario is one benchmark: its flags and what runs it.
type scenario struct {
	name  string
	short string
	// setup registers the scenario's flags on fs and returns the function that runs it.
	setup func(fs *flag.FlagSet, c *common) func(ctx context.Context) ([]*report, error)
}

var scenarios = []scenario{
	{"ceiling", "full sync of one large table at the simulator's default rate limit, 50/100/200 ms latency", setupCeiling},
	{"compare", "our sync next to the peers' sequential offset paging, same run, 100 ms latency", setupCompare},
	{"overhead", "zero latency, no rate limit: records/s and CPU per record per destination", setupOverhead},
	{"incremental", "requests and time of incremental runs (0.1/1/10% changed) vs the full sync", setupIncremental},
	{"scale", "time and peak RSS for growing tables (connector and simulator in separate processes)", setupScale},
	{"bulk", "bulk create and update throughput vs the rate limit", setupBulk},
	{"simulator", "requests/s the simulator serves (50-invoice pages, zero latency, concurrent clients)", setupSimulator},
	{"gotest", "the Go micro-benchmarks of the packages (go test -bench), medians of -count runs", setupGoTest},
}

// common are the flags every scenario has.
type common struct {
	runs   int
	record bool
	out    string
	seed   int64
	args   []string // the command line, for the record
}

func main() {
	// Internal roles: the benchmark re-executes itself to keep the simulator (and the measured connector)
	// in processes of their own, so that CPU and RSS figures are not mixed.
	// Each role runs under the garbage-collector policy of the process it stands for (the coupa binary's).
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case simChildArg:
			gcpolicy.Simulator()
			os.Exit(runSimChild(os.Args[2:]))
		case scaleWorkerArg:
			gcpolicy.Connector()
			os.Exit(runScaleWorker(os.Args[2:]))
		}
	}
	gcpolicy.Connector()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	stopPostgres()
	os.Exit(code)
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: go run ./bench SCENARIO [flags]   (SCENARIO -h for its flags)")
	fmt.Fprintln(w, "\nscenarios:")
	for _, s := range scenarios {
		fmt.Fprintf(w, "  %-12s %s\n", s.name, s.short)
	}
	fmt.Fprintf(w, "  %-12s %s\n", "all", "every scenario above with its defaults, one after the other")
	fmt.Fprintln(w, "\ncommon flags: -runs N (median of N runs, default 3), -record (append to BENCHMARKS.md), -out FILE, -seed N")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return 64
		}
		return 0
	}
	name := args[0]
	var chosen []scenario
	if name == "all" {
		chosen = scenarios
	} else {
		for _, s := range scenarios {
			if s.name == name {
				chosen = []scenario{s}
			}
		}
	}
	if chosen == nil {
		fmt.Fprintf(stderr, "bench: unknown scenario %q\n", name)
		printUsage(stderr)
		return 64
	}
	var runners []func(context.Context) ([]*report, error)
	var cmn common
	cmn.args = append([]string{"go", "run", "./bench"}, args...)
	if name == "all" {
		// "all" takes only the common flags; each scenario keeps its defaults.
		fs := flag.NewFlagSet("all", flag.ContinueOnError)
		fs.SetOutput(stderr)
		addCommon(fs, &cmn)
		if err := fs.Parse(args[1:]); err != nil {
			return flagCode(err)
		}
		for _, s := range chosen {
			sfs := flag.NewFlagSet(s.name, flag.ContinueOnError)
			sfs.SetOutput(io.Discard)
			var c common
			addCommon(sfs, &c)
			r := s.setup(sfs, &cmn)
			if err := sfs.Parse(nil); err != nil {
				return flagCode(err)
			}
			runners = append(runners, r)
		}
	} else {
		s := chosen[0]
		fs := flag.NewFlagSet(s.name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() {
			fmt.Fprintf(stderr, "usage: go run ./bench %s [flags]\n  %s\n\nflags:\n", s.name, s.short)
			fs.PrintDefaults()
		}
		addCommon(fs, &cmn)
		runners = append(runners, s.setup(fs, &cmn))
		if err := fs.Parse(args[1:]); err != nil {
			return flagCode(err)
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "bench %s: unexpected argument %q\n", s.name, fs.Arg(0))
			return 64
		}
	}
	if cmn.runs < 1 {
		fmt.Fprintln(stderr, "bench: -runs must be at least 1")
		return 64
	}
	if cmn.record && cmn.runs < 3 {
		fmt.Fprintln(stderr, "bench: note: recorded figures should be medians of at least 3 runs (-runs 3)")
	}
	mach := describeMachine()
	code := 0
	for _, r := range runners {
		reps, err := r(ctx)
		for _, rep := range reps {
			rep.command = strings.Join(cmn.args, " ")
			rep.runs = cmn.runs
			if rep.runsNote != "" {
				rep.runs = 0
			}
			printReport(stdout, rep)
			if cmn.record {
				if rerr := appendRecord(cmn.out, rep, mach); rerr != nil {
					fmt.Fprintln(stderr, "bench:", rerr)
					code = 1
				}
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			code = 1
			if errors.Is(err, context.Canceled) {
				return 130
			}
		}
	}
	if cmn.record && code == 0 {
		fmt.Fprintf(stderr, "bench: recorded in %s\n", cmn.out)
	}
	return code
}

func addCommon(fs *flag.FlagSet, c *common) {
	fs.IntVar(&c.runs, "runs", 3, "runs per configuration; tables show medians")
	fs.BoolVar(&c.record, "record", false, "append a dated section to the results file")
	fs.StringVar(&c.out, "out", defaultOut(), "results file for -record")
	fs.Int64Var(&c.seed, "seed", 1, "simulator data seed")
}

func flagCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 64
}
