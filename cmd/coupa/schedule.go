package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/coupa-connector/coupa-connector/temporal"
)

func init() { registerCommand(newScheduleCmd) }

func newScheduleCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Recurring syncs on Temporal: create, list, describe, pause, unpause, trigger, delete",
		Long: `Temporal Schedules start a sync every interval on the workers of a task queue (see ` + "`coupa worker`" + `).
A run that would start while the previous one still runs is skipped; a run missed while Temporal or
every worker was down still starts if it is less than --catchup-window late.

A schedule holds a connection NAME and a destination URL, never a secret: the workers resolve the name
from their own config file and environment.`,
	}
	var tf temporalFlags
	tf.register(cmd.PersistentFlags())
	cmd.AddCommand(newScheduleCreateCmd(a, &tf), newScheduleListCmd(a, &tf), newScheduleDescribeCmd(a, &tf),
		newScheduleHandleCmd(a, &tf, "pause", "Stop starting runs (running ones finish)", func(ctx context.Context, h client.ScheduleHandle) error {
			return h.Pause(ctx, client.SchedulePauseOptions{Note: "paused with coupa schedule pause"})
		}),
		newScheduleHandleCmd(a, &tf, "unpause", "Start runs again", func(ctx context.Context, h client.ScheduleHandle) error {
			return h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: "unpaused with coupa schedule unpause"})
		}),
		newScheduleHandleCmd(a, &tf, "trigger", "Start a run now (skipped if one is running)", func(ctx context.Context, h client.ScheduleHandle) error {
			return h.Trigger(ctx, client.ScheduleTriggerOptions{})
		}),
		newScheduleHandleCmd(a, &tf, "delete", "Delete the schedule (running runs finish)", func(ctx context.Context, h client.ScheduleHandle) error {
			return h.Delete(ctx)
		}))
	return cmd
}

type scheduleCreateFlags struct {
	dest, tables           string
	every, jitter, catchup time.Duration
	reconcile, fullRefresh bool
	paused                 bool
}

func newScheduleCreateCmd(a *app, tf *temporalFlags) *cobra.Command {
	var f scheduleCreateFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a schedule that syncs a connection into a destination every interval",
		Example: `  coupa schedule create prod-15m --connection prod --dest postgres://coupa@db/warehouse --every 15m --jitter 1m
  coupa schedule create spend --dest sqlite:/data/spend.db --every 1h --tables invoices,purchase_orders`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return a.createSchedule(cmd.Context(), *tf, args[0], f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dest, "dest", "", "where the workers write: sqlite:PATH, postgres://user@host/db (no password) or parquet:DIR")
	fl.StringVar(&f.tables, "tables", "", "comma-separated tables (default: every table, as the catalog has them at each run)")
	fl.DurationVar(&f.every, "every", 0, "interval between runs, e.g. 15m")
	fl.DurationVar(&f.jitter, "jitter", 0, "start each run up to this much later, to spread many schedules")
	fl.DurationVar(&f.catchup, "catchup-window", temporal.DefaultCatchupWindow, "how late a missed run may still start")
	fl.BoolVar(&f.reconcile, "reconcile-deletes", false, "mark rows Coupa no longer has as deleted on every run")
	fl.BoolVar(&f.paused, "paused", false, "create the schedule paused")
	_ = cmd.MarkFlagRequired("dest")
	_ = cmd.MarkFlagRequired("every")
	return cmd
}

func (a *app) createSchedule(ctx context.Context, tf temporalFlags, name string, f scheduleCreateFlags) error {
	if f.every < time.Second {
		return usageError("--every %v: give an interval of at least 1s, e.g. 15m", f.every)
	}
	if _, err := parseDest(f.dest); err != nil {
		return err
	}
	if err := temporal.CheckDest(f.dest); err != nil {
		return usageError("--dest: %v", err)
	}
	var names []string
	if strings.TrimSpace(f.tables) != "" {
		tables, err := selectTables(f.tables)
		if err != nil {
			return err
		}
		for _, t := range tables {
			names = append(names, t.Name)
		}
	}
	connection := a.global.conn.Connection
	if connection == "" {
		connection = os.Getenv("COUPA_CONNECTION")
	}
	c, err := a.dial(ctx, tf)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = temporal.CreateSchedule(ctx, c, temporal.ScheduleConfig{Name: name, TaskQueue: tf.taskQueue,
		Every: f.every, Jitter: f.jitter, CatchupWindow: f.catchup, Paused: f.paused,
		Input: temporal.SyncInput{Connection: connection, Dest: f.dest, Tables: names, ReconcileDeletes: f.reconcile}})
	if err != nil {
		return fmt.Errorf("creating schedule %s: %w", name, err)
	}
	fmt.Fprintf(a.stdout, "schedule %s created: every %v on task queue %s\n", name, f.every, tf.taskQueue)
	return nil
}

// newScheduleHandleCmd is a command that does one thing to one named schedule.
func newScheduleHandleCmd(a *app, tf *temporalFlags, verb, short string, do func(context.Context, client.ScheduleHandle) error) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.dial(cmd.Context(), *tf)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := do(cmd.Context(), c.ScheduleClient().GetHandle(cmd.Context(), args[0])); err != nil {
				return fmt.Errorf("%s schedule %s: %w", verb, args[0], err)
			}
			fmt.Fprintf(a.stdout, "schedule %s: %s done\n", args[0], verb)
			return nil
		},
	}
}

// scheduleDoc is one schedule as list and describe print it; list leaves out what Temporal does not list.
type scheduleDoc struct {
	Name          string           `json:"name"`
	Paused        bool             `json:"paused"`
	Note          string           `json:"note,omitempty"`
	Every         []string         `json:"every"`
	Jitter        string           `json:"jitter,omitempty"`
	Connection    string           `json:"connection,omitempty"`
	Dest          string           `json:"dest,omitempty"`
	Tables        []string         `json:"tables,omitempty"`
	CatchupWindow string           `json:"catchup_window,omitempty"`
	Overlap       string           `json:"overlap,omitempty"`
	Runs          int              `json:"runs,omitempty"`
	RecentRuns    []scheduledRun   `json:"recent_runs"`
	NextRuns      []time.Time      `json:"next_runs"`
	Running       []scheduledRunID `json:"running,omitempty"`
}

type scheduledRunID struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

type scheduledRun struct {
	Scheduled time.Time `json:"scheduled"`
	Started   time.Time `json:"started"`
	scheduledRunID
}

func recentRuns(actions []client.ScheduleActionResult) []scheduledRun {
	runs := []scheduledRun{}
	for _, r := range actions {
		run := scheduledRun{Scheduled: r.ScheduleTime, Started: r.ActualTime}
		if w := r.StartWorkflowResult; w != nil {
			run.scheduledRunID = scheduledRunID{WorkflowID: w.WorkflowID, RunID: w.FirstExecutionRunID}
		}
		runs = append(runs, run)
	}
	return runs
}

func intervals(spec *client.ScheduleSpec) (every []string, jitter string) {
	every = []string{}
	if spec == nil {
		return every, ""
	}
	for _, iv := range spec.Intervals {
		every = append(every, iv.Every.String())
	}
	if spec.Jitter > 0 {
		jitter = spec.Jitter.String()
	}
	return every, jitter
}

func newScheduleListCmd(a *app, tf *temporalFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the schedules of the namespace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return showTableOrJSON(a.stdout, output, func() ([]scheduleDoc, error) { return a.listSchedules(cmd.Context(), *tf) }, printSchedules)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func (a *app) listSchedules(ctx context.Context, tf temporalFlags) ([]scheduleDoc, error) {
	c, err := a.dial(ctx, tf)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing schedules: %w", err)
	}
	docs := []scheduleDoc{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("listing schedules: %w", err)
		}
		every, jitter := intervals(e.Spec)
		docs = append(docs, scheduleDoc{Name: e.ID, Paused: e.Paused, Note: e.Note, Every: every, Jitter: jitter,
			RecentRuns: recentRuns(e.RecentActions), NextRuns: append([]time.Time{}, e.NextActionTimes...)})
	}
	return docs, nil
}

func printSchedules(w io.Writer, docs []scheduleDoc) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPAUSED\tEVERY\tLAST RUN\tNEXT RUN")
	for _, d := range docs {
		last, next := "-", "-"
		if n := len(d.RecentRuns); n > 0 {
			last = d.RecentRuns[n-1].Started.UTC().Format(time.RFC3339)
		}
		if len(d.NextRuns) > 0 {
			next = d.NextRuns[0].UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", d.Name, d.Paused, strings.Join(d.Every, ","), last, next)
	}
	return tw.Flush()
}

func newScheduleDescribeCmd(a *app, tf *temporalFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a schedule: what it syncs, its policy, its recent and next runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showTableOrJSON(a.stdout, output, func() (*scheduleDoc, error) { return a.describeSchedule(cmd.Context(), *tf, args[0]) }, printScheduleDoc)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func (a *app) describeSchedule(ctx context.Context, tf temporalFlags, name string) (*scheduleDoc, error) {
	c, err := a.dial(ctx, tf)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	d, err := c.ScheduleClient().GetHandle(ctx, name).Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("describing schedule %s: %w", name, err)
	}
	every, jitter := intervals(d.Schedule.Spec)
	doc := &scheduleDoc{Name: name, Every: every, Jitter: jitter, Runs: d.Info.NumActions,
		RecentRuns: recentRuns(d.Info.RecentActions), NextRuns: append([]time.Time{}, d.Info.NextActionTimes...)}
	if s := d.Schedule.State; s != nil {
		doc.Paused, doc.Note = s.Paused, s.Note
	}
	if p := d.Schedule.Policy; p != nil {
		doc.CatchupWindow, doc.Overlap = p.CatchupWindow.String(), p.Overlap.String()
	}
	for _, r := range d.Info.RunningWorkflows {
		doc.Running = append(doc.Running, scheduledRunID{WorkflowID: r.WorkflowID, RunID: r.FirstExecutionRunID})
	}
	in, err := temporal.ScheduledInput(d.Schedule.Action)
	if err != nil {
		return nil, err
	}
	if in != nil {
		doc.Connection, doc.Dest, doc.Tables = in.Connection, in.Dest, in.Tables
	}
	return doc, nil
}

func printScheduleDoc(w io.Writer, d *scheduleDoc) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	tables := "all"
	if len(d.Tables) > 0 {
		tables = strings.Join(d.Tables, ",")
	}
	for _, kv := range [][2]string{{"name", d.Name}, {"paused", fmt.Sprint(d.Paused)}, {"note", d.Note},
		{"every", strings.Join(d.Every, ",")}, {"jitter", d.Jitter}, {"connection", d.Connection}, {"dest", d.Dest},
		{"tables", tables}, {"overlap", d.Overlap}, {"catchup window", d.CatchupWindow}, {"runs", fmt.Sprint(d.Runs)}} {
		if kv[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
		}
	}
	for _, r := range d.RecentRuns {
		fmt.Fprintf(tw, "recent run:\t%s\t%s\n", r.Started.UTC().Format(time.RFC3339), r.WorkflowID)
	}
	for _, t := range d.NextRuns {
		fmt.Fprintf(tw, "next run:\t%s\n", t.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// showTableOrJSON checks -o before anything is asked of Temporal, then prints what fetch returns as JSON or
// as table draws it.
func showTableOrJSON[T any](w io.Writer, format string, fetch func() (T, error), table func(io.Writer, T) error) error {
	if format != "table" && format != "json" {
		return usageError("-o %s: choose table or json", format)
	}
	doc, err := fetch()
	if err != nil {
		return err
	}
	if format == "json" {
		return printIndentedJSON(w, doc)
	}
	return table(w, doc)
}
