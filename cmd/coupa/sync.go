package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/cmd/coupa/internal/progress"
	"github.com/coupa-connector/coupa-connector/coupa/pace"
	"github.com/coupa-connector/coupa-connector/extract"
)

func init() { registerCommand(newSyncCmd) }

type syncFlags struct {
	dest        string
	tables      string
	fullRefresh bool
	prefix      string
	pgSchema    pgSchemaFlag
	reconcile   bool
	concurrency int
	output      string
}

func newSyncCmd(a *app) *cobra.Command {
	var f syncFlags
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Copy Coupa objects into a warehouse, incrementally and resumably",
		Long: `Copy invoices, purchase orders, requisitions, users... into SQLite (default), PostgreSQL or Parquet.

Each table is fetched in a window frozen at Coupa's clock when the run starts, paged by id, with
every page committed together with its checkpoint: a run that is killed resumes where it stopped.
The next run fetches only what changed since (plus a per-table overlap for late updates).
Line items land in child tables (invoice_lines, purchase_order_lines, ...).

Exit codes: 0 every table synced, 2 some tables skipped or failed, 1 nothing could be done, 130 interrupted.`,
		Example: `  coupa sync                                  # every table into ./coupa.db
  coupa sync --dest sqlite:spend.db --tables invoices,purchase_orders
  coupa sync --dest postgres://user@localhost/warehouse --reconcile-deletes
  coupa sync --dest postgres://user@localhost/warehouse --pg-schema finance   # tables in schema finance
  coupa sync --full-refresh -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.runSync(cmd.Context(), f) },
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.tables, "tables", "", "comma-separated tables to sync (default: all; see `coupa tables`)")
	return cmd
}

// register adds the flags of a sync run, all but --tables (`coupa access sync` has a fixed table list).
func (f *syncFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dest, "dest", defaultDest, "where to write: sqlite:PATH, PATH.db, postgres://... or parquet:DIR")
	fl.BoolVar(&f.fullRefresh, "full-refresh", false, "ignore saved cursors and fetch everything again")
	fl.StringVar(&f.prefix, "prefix", "", "prefix for every warehouse table name")
	fl.Var(&f.pgSchema, "pg-schema", pgSchemaHelp)
	fl.BoolVar(&f.reconcile, "reconcile-deletes", false, "list every id and mark rows Coupa no longer has as deleted (_deleted_at)")
	fl.IntVar(&f.concurrency, "concurrency", extract.DefaultConcurrency, "the most id ranges one split of a large table makes (the scheduler, not this, sets the requests in flight)")
	fl.StringVarP(&f.output, "output", "o", "table", "summary format: table or json")
}

// selectTables resolves --tables against the catalog.
func selectTables(list string) ([]*catalog.Table, error) {
	if strings.TrimSpace(list) == "" {
		return catalog.All(), nil
	}
	var names []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	tables, err := catalog.Select(names)
	if err != nil {
		return nil, usageError("--tables: %v", err)
	}
	return tables, nil
}

func (a *app) runSync(ctx context.Context, f syncFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	tables, err := selectTables(f.tables)
	if err != nil {
		return err
	}
	return a.syncTables(ctx, f, tables)
}

// check refuses flag values no run could use, before anything is opened.
func (f syncFlags) check() error {
	if f.output != "table" && f.output != "json" {
		return usageError("-o %s: choose table or json", f.output)
	}
	if f.concurrency < 1 || f.concurrency > 64 {
		return usageError("--concurrency %d: choose 1 to 64", f.concurrency)
	}
	return nil
}

// syncTables is a sync of tables into the warehouse f names, shared by `coupa sync` and `coupa access sync`.
func (a *app) syncTables(ctx context.Context, f syncFlags, tables []*catalog.Table) error {
	spec, err := resolveDest(f.dest, f.pgSchema)
	if err != nil {
		return err
	}
	client, err := a.newClient(ctx, catalog.Scopes(tables))
	if err != nil {
		return err
	}
	// Fail on bad credentials before a warehouse file is created.
	if err := client.Authenticate(ctx); err != nil {
		return libError(err)
	}
	lister, err := a.syncLister(ctx, client, tables)
	if err != nil {
		return err
	}
	d, err := openDest(ctx, spec, f.prefix, false)
	if err != nil {
		return err
	}
	defer d.Close()
	engineLog := a.logger
	if !a.global.quiet && progress.IsTerminal(a.stderr) {
		// Log lines would tear the progress bars apart; warnings still show.
		engineLog = slog.New(&minLevel{Handler: a.logger.Handler(), min: slog.LevelWarn})
	}
	return a.runEngine(ctx, extract.Config{Client: lister, Dest: d, Tables: tables, FullRefresh: f.fullRefresh,
		ReconcileDeletes: f.reconcile, Concurrency: f.concurrency, Logger: engineLog}, f.output)
}

// runEngine runs the sync engine with progress on stderr (unless -q), prints its summary in format (table
// or json) and maps the outcome to an exit code.
func (a *app) runEngine(ctx context.Context, cfg extract.Config, format string) error {
	var rep *progress.Reporter
	if !a.global.quiet {
		client := cfg.Client
		rep = progress.New(a.stderr, a.logger, progress.Options{Instance: func() pace.Stats { return client.Stats().Pace }})
		cfg.Progress = rep.Event
	}
	sum, err := extract.Sync(ctx, cfg)
	if rep != nil {
		rep.Wait()
	}
	if sum != nil {
		if perr := printSummary(a.stdout, format, sum); perr != nil && err == nil {
			err = perr
		}
	}
	return syncExit(sum, err)
}

// syncExit maps a run's outcome to the documented exit codes.
func syncExit(sum *extract.Summary, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return withExit(exitInterrupted, errors.New("interrupted: every committed page is kept; run the same command again to resume"))
	case err != nil:
		return libError(err)
	case sum.Status == extract.StatusOK:
		return nil
	}
	var bad []string
	for _, t := range sum.Tables {
		if t.Status != extract.StatusOK {
			bad = append(bad, t.Table+" ("+t.Message+")")
		}
	}
	msg := fmt.Errorf("%d of %d tables not synced: %s", len(bad), len(sum.Tables), strings.Join(bad, "; "))
	if sum.Status == extract.StatusFailed {
		return withExit(exitError, msg)
	}
	return withExit(exitPartial, msg)
}

func printSummary(w io.Writer, format string, sum *extract.Summary) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	// Numbers align right; names are padded so that they still read left-aligned.
	width := len("total")
	for _, t := range sum.Tables {
		width = max(width, len(t.Table))
	}
	pad := func(s string) string { return s + strings.Repeat(" ", width-len(s)) }
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, pad("TABLE")+"\tSTATUS\tNEW\tUPDATED\tDELETED\tCHILDREN\tREQUESTS\tRETRIES\t429S\tTIME\t")
	row := func(name, status string, t extract.TableSummary) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1fs\t\n", pad(name), status, t.New, t.Updated,
			t.Deleted, t.Children, t.Requests, t.Retries, t.RateLimited, t.Duration.Seconds())
	}
	tot := extract.TableSummary{Duration: sum.Duration}
	for _, t := range sum.Tables {
		row(t.Table, t.Status, t)
		tot.New += t.New
		tot.Updated += t.Updated
		tot.Deleted += t.Deleted
		tot.Children += t.Children
		tot.Requests += t.Requests
		tot.Retries += t.Retries
		tot.RateLimited += t.RateLimited
	}
	row("total", sum.Status, tot)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range sum.Tables {
		if t.Message != "" {
			fmt.Fprintf(w, "%s: %s\n", t.Table, t.Message)
		}
	}
	return nil
}

// minLevel drops records below min, whatever the wrapped handler's level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h *minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h *minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &minLevel{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h *minLevel) WithGroup(name string) slog.Handler {
	return &minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}
