package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/cmd/coupa/internal/progress"
	"github.com/coupa-connector/coupa-connector/operate"
)

func init() {
	registerCommand(func(a *app) *cobra.Command { return newWriteCmd(a, operate.Create) })
	registerCommand(func(a *app) *cobra.Command { return newWriteCmd(a, operate.Update) })
}

type writeFlags struct {
	file        string
	format      string
	results     string
	dryRun      bool
	concurrency int
}

// maxRowErrorsShown keeps a file full of bad rows from flooding the terminal; the results file has them all.
const maxRowErrorsShown = 20

func newWriteCmd(a *app, mode operate.Mode) *cobra.Command {
	var f writeFlags
	cmd := &cobra.Command{
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runWrite(cmd.Context(), mode, args, f)
		},
	}
	const common = `FILE is one JSON object, a JSON array, JSON Lines (.jsonl) or CSV (.csv) whose header holds field
paths: nested objects with dots (supplier.name, currency.code); cells are typed by the catalog. "-" reads
standard input (then give --format).

Every row is checked against the catalog first (unknown fields, wrong types, missing required fields);
--dry-run stops there and prints what would be sent. Rows go to Coupa --concurrency at a time under the
client's rate limit; a failed row never stops the others. Each row's outcome (row number, status, Coupa id,
Coupa's error messages) is a JSON line on standard output, or in --results FILE.

Run it again with the same --results file to resume: rows already done are skipped, and a row that was in
flight when the run was killed is looked up in Coupa by its natural key before it is created again.

Exit status: 0 when every row succeeded, 2 when some rows failed or the run was interrupted, 1 when it
could not run (connection, unreadable file), 64 for a mistake in the command itself (unknown object, an
operation the catalog says Coupa does not allow).`
	if mode == operate.Create {
		cmd.Use = "create OBJECT -f FILE"
		cmd.Short = "Create Coupa objects from a JSON, JSON Lines or CSV file, with per-row results"
		cmd.Long = "create POSTs each row of FILE to /api/<object>.\n\n" + common
		cmd.Example = `  coupa create suppliers -f suppliers.csv --results suppliers.results.jsonl
  coupa create users -f new-users.jsonl --dry-run
  echo '{"name":"Acme"}' | coupa create user_groups -f - --format json`
	} else {
		cmd.Use = "update OBJECT [ID] -f FILE"
		cmd.Args = cobra.RangeArgs(1, 2)
		cmd.Short = "Update Coupa objects from a JSON, JSON Lines or CSV file, with per-row results"
		cmd.Long = "update PUTs each row of FILE to /api/<object>/<id>: each row carries its id (an id field or\n" +
			"column), or the ID argument names the one object a single JSON object updates.\n\n" + common
		cmd.Example = `  coupa update suppliers 42 -f changes.json
  coupa update users -f deactivate.csv --results deactivate.results.jsonl     # columns: id,active`
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "input file (.json, .jsonl or .csv; - for standard input)")
	fl.StringVar(&f.format, "format", "", "input format when the file name does not tell: json, jsonl or csv")
	fl.StringVar(&f.results, "results", "", "append per-row results to this JSONL file and resume from it")
	fl.BoolVar(&f.dryRun, "dry-run", false, "validate every row and print what would be sent; send nothing")
	fl.IntVar(&f.concurrency, "concurrency", 4, "rows in flight at once (the rate limit still applies)")
	return cmd
}

func (a *app) runWrite(ctx context.Context, mode operate.Mode, args []string, f writeFlags) error {
	t, err := lookupObject(args[0])
	if err != nil {
		return err
	}
	// Refuse what the catalog says Coupa cannot do before anything is read or sent.
	if mode == operate.Create && !t.Create {
		return usageError("%s cannot be created through the Coupa API (see coupa tables)", t.Name)
	}
	if mode == operate.Update && !t.Update {
		return usageError("%s cannot be updated through the Coupa API (see coupa tables)", t.Name)
	}
	var id int64
	if len(args) == 2 {
		if id, err = parseObjectID(args[1]); err != nil {
			return err
		}
	}
	if f.file == "" {
		return usageError("give the input file with -f FILE")
	}
	if f.concurrency < 1 || f.concurrency > 64 {
		return usageError("--concurrency must be between 1 and 64")
	}
	format, err := inputFormat(f.file, f.format)
	if err != nil {
		return err
	}
	var in io.Reader = a.stdin
	if f.file != "-" {
		file, err := os.Open(f.file)
		if err != nil {
			return fmt.Errorf("opening input: %w", err)
		}
		defer file.Close()
		in = file
	}
	reader := operate.NewReader(in, format, t)
	rows := reader.Rows()
	if id != 0 {
		if rows, err = onlyOneRow(rows, t.Name, id); err != nil {
			return err
		}
	}

	var client operate.Client
	requests := func() int64 { return 0 }
	if !f.dryRun {
		c, err := a.newClient(ctx, []string{t.WriteScope, t.Scope})
		if err != nil {
			return err
		}
		client = c
		before := c.Stats().Requests
		requests = func() int64 { return c.Stats().Requests - before }
	}
	rep := newRowReporter(a, f, mode)
	opts := operate.Options{Table: t, Mode: mode, Concurrency: f.concurrency, DryRun: f.dryRun, Results: f.results,
		ID: id, Logger: a.logger, OnResult: rep.report}
	sum, runErr := operate.Run(ctx, client, rows, opts)
	rep.done()
	switch {
	case reader.Single() && runErr == nil && sum.Failed == 0:
		// One object: its result line says it all.
	case f.dryRun:
		fmt.Fprintf(a.stderr, "%s\n", sum)
	default:
		n := requests()
		fmt.Fprintf(a.stderr, "%s; %d requests (%.1f/s)\n", sum, n, float64(n)/max(sum.Elapsed.Seconds(), 0.001))
	}
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) && f.results != "" {
			return withExit(exitInterrupted, errors.New("interrupted: run the same command again to resume; it checks the rows not confirmed"))
		}
		if errors.Is(runErr, context.Canceled) {
			return withExit(exitInterrupted, errors.New("interrupted: the rows done are printed above; pass --results FILE to make a run resumable"))
		}
		return runErr
	}
	if sum.Failed > 0 || sum.InDoubt > 0 {
		return withExit(exitPartial, fmt.Errorf("%d of %d rows failed (details above%s)", sum.Failed+sum.InDoubt, sum.Rows, resultsHint(f.results)))
	}
	return nil
}

func resultsHint(path string) string {
	if path == "" {
		return ""
	}
	return " and in " + path
}

func inputFormat(file, flag string) (operate.Format, error) {
	if flag != "" {
		f, err := operate.ParseFormat(flag)
		if err != nil {
			return 0, usageError("--format: %v", err)
		}
		return f, nil
	}
	if file == "-" {
		return 0, usageError("reading standard input: give --format json, jsonl or csv")
	}
	f, err := operate.FormatOf(file)
	if err != nil {
		return 0, usageError("%v", err)
	}
	return f, nil
}

// onlyOneRow enforces, before anything is sent, that an ID on the command line goes with one object:
// applying it to many rows would write them all over the same object.
func onlyOneRow(rows iter.Seq2[operate.Row, error], table string, id int64) (iter.Seq2[operate.Row, error], error) {
	var got []operate.Row
	for row, err := range rows {
		if err != nil {
			return nil, err
		}
		if len(got) == 1 {
			return nil, usageError("the ID argument updates one object (%s %d), but the file holds more than one row: put an id in each row and drop the ID argument", table, id)
		}
		got = append(got, row)
	}
	return func(yield func(operate.Row, error) bool) {
		for _, row := range got {
			if !yield(row, nil) {
				return
			}
		}
	}, nil
}

// rowReporter prints each row's outcome: a JSON line on standard output (unless a results file takes
// them), a readable line on standard error for failures, and a progress line on a terminal.
type rowReporter struct {
	a        *app
	f        writeFlags
	mode     operate.Mode
	mu       sync.Mutex
	shown    int
	n        int
	progress bool
	failed   int
	start    time.Time
	last     time.Time
}

func newRowReporter(a *app, f writeFlags, mode operate.Mode) *rowReporter {
	return &rowReporter{a: a, f: f, mode: mode, progress: progress.IsTerminal(a.stderr) && !a.global.quiet, start: time.Now()}
}

// rowLine is a row's result on standard output; a dry run adds the body that would be sent.
type rowLine struct {
	operate.Result
	Body map[string]any `json:"body,omitempty"`
}

func (r *rowReporter) report(res operate.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if r.f.results == "" || r.f.dryRun {
		line := rowLine{Result: res}
		line.Input = "" // the fingerprint serves resuming from a results file, not people reading stdout
		if r.f.dryRun {
			line.Body = res.Body
		}
		b, err := json.Marshal(line)
		if err == nil {
			r.a.stdout.Write(append(b, '\n'))
		}
	}
	if res.Status == operate.StatusNotConfirmed {
		r.clearProgress()
		fmt.Fprintf(r.a.stderr, "row %d: not confirmed: interrupted before Coupa answered\n", res.Row)
	}
	if res.Status == operate.StatusFailed || res.InDoubt {
		r.failed++
		r.clearProgress()
		if r.shown < maxRowErrorsShown {
			fmt.Fprintf(r.a.stderr, "row %d: %s\n", res.Row, res.Errors)
		} else if r.shown == maxRowErrorsShown {
			fmt.Fprintf(r.a.stderr, "more rows failed; see the results%s\n", resultsHint(r.f.results))
		}
		r.shown++
	}
	if r.progress && time.Since(r.last) > 100*time.Millisecond {
		r.last = time.Now()
		rate := float64(r.n) / max(time.Since(r.start).Seconds(), 0.001)
		fmt.Fprintf(r.a.stderr, "\r%s: %d rows done, %d failed, %.1f rows/s ", r.mode, r.n, r.failed, rate)
	}
}

func (r *rowReporter) clearProgress() {
	if r.progress && !r.last.IsZero() {
		fmt.Fprint(r.a.stderr, "\r"+strings.Repeat(" ", 70)+"\r")
	}
}

func (r *rowReporter) done() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clearProgress()
}
