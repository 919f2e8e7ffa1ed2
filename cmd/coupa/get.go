package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/cmd/coupa/internal/output"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/operate"
)

func init() { registerCommand(newGetCmd) }

func newGetCmd(a *app) *cobra.Command {
	var fields, out string
	cmd := &cobra.Command{
		Use:   "get OBJECT ID",
		Short: "Print one Coupa object by its id",
		Long: `get fetches one object (GET /api/<resource>/<id>) and prints it as JSON, or with -o as a table,
JSON Lines or CSV. --fields limits what Coupa returns, nested with dots (supplier.name).`,
		Example: `  coupa get invoices 1234
  coupa get users 42 --fields id,login,email,roles.name`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, id, err := lookupObjectID(args[0], args[1])
			if err != nil {
				return err
			}
			proj, cols, err := parseFieldsFlag(fields, operate.NewSchema(t), t)
			if err != nil {
				return err
			}
			format := output.JSON
			if out != "" {
				if format, err = output.ParseFormat(out); err != nil {
					return usageError("-o: %v", err)
				}
			}
			if cols == nil && format == output.Table {
				cols = output.DefaultColumns(t)
			}
			client, err := a.newClient(cmd.Context(), []string{t.Scope})
			if err != nil {
				return err
			}
			rec, _, err := client.Get(cmd.Context(), t.Resource, id, proj)
			if coupa.IsNotFound(err) {
				return withExit(exitError, fmt.Errorf("%s %d does not exist (or is not visible to this client)", t.Name, id))
			}
			if err != nil {
				return libError(err)
			}
			if format == output.JSON {
				// One object, not an array of one.
				return printIndentedJSON(a.stdout, rec)
			}
			w, err := output.New(a.stdout, format, cols)
			if err != nil {
				return err
			}
			if err := w.Write(rec); err != nil {
				return err
			}
			return w.Close()
		},
	}
	cmd.Flags().StringVar(&fields, "fields", "", "fields to fetch, comma-separated, nested with dots")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output format: json (default), table, jsonl or csv")
	return cmd
}
