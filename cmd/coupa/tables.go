package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/catalog"
)

func init() { registerCommand(newTablesCmd) }

// tableInfo is one catalog table as `coupa tables -o json` prints it.
type tableInfo struct {
	Name       string   `json:"name"`
	Resource   string   `json:"resource"`
	Scope      string   `json:"scope"`
	WriteScope string   `json:"write_scope,omitempty"`
	Sync       string   `json:"sync"`             // incremental (by Cursor) or full
	Cursor     string   `json:"cursor,omitempty"` // the field incremental syncs follow
	Children   []string `json:"children"`
	Create     bool     `json:"create"`
	Update     bool     `json:"update"`
	Actions    []string `json:"actions"`
	Optional   bool     `json:"optional"` // not on every instance: a 404 skips the table
}

func describeTable(t *catalog.Table) tableInfo {
	info := tableInfo{Name: t.Name, Resource: t.Resource, Scope: t.Scope, WriteScope: t.WriteScope,
		Sync: "full", Cursor: t.Cursor, Children: []string{}, Create: t.Create, Update: t.Update,
		Actions: append([]string{}, t.Actions...), Optional: t.Optional}
	if t.Cursor != "" {
		info.Sync = "incremental"
	}
	for _, ch := range t.Children {
		info.Children = append(info.Children, ch.Name)
	}
	return info
}

func newTablesCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "tables [TABLE]",
		Short: "List the Coupa objects coupa knows: tables, scopes, sync mode, child tables, what can be written",
		Long: `List the catalog: every Coupa object coupa syncs and operates on.

  TABLE     warehouse table (and the name for --tables)      SCOPE     OAuth scope needed to read it
  RESOURCE  the API path /api/<resource>                     SYNC      incremental (by updated-at) or full
  CHILDREN  child tables made from nested lines              WRITE     create / update / the actions (coupa action)

With a TABLE, its fields: their types, which a create requires, which --where can filter on, and
the warehouse column each lands in (child tables too).

Grant the scopes in Coupa: Setup > Integrations > OAuth2/OpenID Connect Clients.`,
		Example: `  coupa tables
  coupa tables invoices          its fields: type, required to create, filterable, warehouse column
  coupa tables -o json | jq -r '.[].scope' | sort -u`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return usageError("-o %s: choose table or json", output)
			}
			if len(args) == 1 {
				t, err := lookupObject(args[0])
				if err != nil {
					return err
				}
				return a.printTableDetail(t, output)
			}
			var infos []tableInfo
			for _, t := range catalog.All() {
				infos = append(infos, describeTable(t))
			}
			switch output {
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(infos)
			case "table":
			default:
				return usageError("-o %s: choose table or json", output)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TABLE\tRESOURCE\tSCOPE\tSYNC\tCHILDREN\tWRITE")
			for _, in := range infos {
				name := in.Name
				if in.Optional {
					name += " (optional)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, in.Resource, in.Scope, in.Sync,
					dash(strings.Join(in.Children, ",")), dash(writeSummary(in)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func writeSummary(in tableInfo) string {
	var parts []string
	if in.Create {
		parts = append(parts, "create")
	}
	if in.Update {
		parts = append(parts, "update")
	}
	parts = append(parts, in.Actions...)
	return strings.Join(parts, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
