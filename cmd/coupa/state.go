package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/postgres"
)

func init() { registerCommand(newStateCmd) }

func newStateCmd(a *app) *cobra.Command {
	var destFlag, prefix string
	var pgSchema pgSchemaFlag
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Show or reset the sync state kept in a warehouse",
		Long: `The sync state lives in the warehouse itself (_coupa_state): per table, the cursor (every record
updated before it is in the warehouse) and the open window of an unfinished run with its id ranges.`,
	}
	cmd.PersistentFlags().StringVar(&destFlag, "dest", defaultDest, "the warehouse: sqlite:PATH, PATH.db or postgres://...")
	cmd.PersistentFlags().StringVar(&prefix, "prefix", "", "the table prefix the warehouse was synced with")
	cmd.PersistentFlags().Var(&pgSchema, "pg-schema", "the PostgreSQL schema the warehouse was synced into (default: the DSN's search_path, else "+
		postgres.DefaultSchema+")")
	// Both subcommands read a warehouse a sync made: opening one that does not exist would create it.
	open := func(ctx context.Context) (dest.Destination, error) {
		spec, err := resolveDest(destFlag, pgSchema)
		if err != nil {
			return nil, err
		}
		return openDest(ctx, spec, prefix, true)
	}

	var output string
	show := &cobra.Command{
		Use:   "show",
		Short: "Print each table's cursor and open window",
		Example: `  coupa state show --dest sqlite:coupa.db
  coupa state show -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return usageError("-o %s: choose table or json", output)
			}
			d, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			states, err := d.States(cmd.Context())
			if err != nil {
				return fmt.Errorf("reading the sync state: %w", err)
			}
			return printStates(a, output, states)
		},
	}
	show.Flags().StringVarP(&output, "output", "o", "table", "table or json")

	var all bool
	reset := &cobra.Command{
		Use:   "reset [TABLE | --all]",
		Short: "Forget a table's state (or every table's): its next sync is a full one",
		Long: `Forget the sync state of TABLE, or of every table with --all (without either, it asks first).
Rows already in the warehouse stay; the next sync fetches everything again and upserts it.`,
		Example: `  coupa state reset invoices
  coupa state reset --all --dest sqlite:coupa.db`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			table := ""
			if len(args) == 1 {
				table = args[0]
				if _, ok := catalog.Lookup(table); !ok {
					return usageError("unknown table %q: choose one of %s", table, strings.Join(catalog.Names(), ", "))
				}
				if all {
					return usageError("name a table or pass --all, not both")
				}
			}
			d, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			if table == "" && !all {
				// Forgetting every cursor makes the next sync a full one of everything: hours on a big instance.
				fmt.Fprintf(a.stderr, "Reset the sync state of every table in %s? Type yes: ", destFlag)
				line, _ := bufio.NewReader(a.stdin).ReadString('\n')
				if strings.TrimSpace(strings.ToLower(line)) != "yes" {
					return withExit(exitError, errors.New("not confirmed: nothing was reset (name a table, or pass --all)"))
				}
			}
			if err := d.ResetState(cmd.Context(), table); err != nil {
				return fmt.Errorf("resetting the sync state: %w", err)
			}
			if table == "" {
				fmt.Fprintln(a.stdout, "state of every table reset: the next sync is a full one")
			} else {
				fmt.Fprintf(a.stdout, "state of %s reset: its next sync is a full one\n", table)
			}
			return nil
		},
	}
	reset.Flags().BoolVar(&all, "all", false, "reset every table's state without asking")
	cmd.AddCommand(show, reset)
	return cmd
}

// stateRow is one table of `coupa state show -o json`.
type stateRow struct {
	Table      string           `json:"table"`
	Version    int              `json:"version"`
	Cursor     string           `json:"cursor,omitempty"`
	UpdatedAt  string           `json:"updated_at,omitempty"`
	Window     *stateWindowJSON `json:"window,omitempty"`
	Incomplete bool             `json:"incomplete"` // a run stopped inside this window; the next one resumes it
}

type stateWindowJSON struct {
	From        string           `json:"from,omitempty"`
	To          string           `json:"to"`
	FullRefresh bool             `json:"full_refresh"`
	Partitions  []dest.Partition `json:"partitions"`
}

func stateStamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func printStates(a *app, output string, states []*dest.State) error {
	rows := []stateRow{}
	for _, s := range states {
		r := stateRow{Table: s.Table, Version: s.Version, Cursor: stateStamp(s.Cursor), UpdatedAt: stateStamp(s.UpdatedAt)}
		if w := s.Window; w != nil {
			r.Incomplete = true
			r.Window = &stateWindowJSON{From: stateStamp(w.From), To: stateStamp(w.To), FullRefresh: w.FullRefresh, Partitions: w.Partitions}
		}
		rows = append(rows, r)
	}
	if output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(a.stdout, "no table has been synced into this warehouse yet")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tCURSOR\tOPEN WINDOW\tPARTITIONS DONE\tUPDATED")
	for _, r := range rows {
		cursor, window, parts := r.Cursor, "-", "-"
		if cursor == "" {
			cursor = "(never completed)"
		}
		if w := r.Window; w != nil {
			from := w.From
			if from == "" {
				from = "beginning"
			}
			window = from + " .. " + w.To
			done := 0
			for _, p := range w.Partitions {
				if p.Done {
					done++
				}
			}
			parts = fmt.Sprintf("%d/%d", done, len(w.Partitions))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Table, cursor, window, parts, r.UpdatedAt)
	}
	return tw.Flush()
}
