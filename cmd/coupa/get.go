package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/catalog"
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
			format, err := recordFormat(out)
			if err != nil {
				return err
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
			return printRecord(a.stdout, format, t, cols, rec)
		},
	}
	cmd.Flags().StringVar(&fields, "fields", "", "fields to fetch, comma-separated, nested with dots")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output format: json (default), table, jsonl or csv")
	return cmd
}

// recordFormat reads -o of the commands that print one object: json unless told otherwise.
func recordFormat(s string) (output.Format, error) {
	if s == "" {
		return output.JSON, nil
	}
	f, err := output.ParseFormat(s)
	if err != nil {
		return output.JSON, usageError("-o: %v", err)
	}
	return f, nil
}

// printRecord prints one object: indented JSON (the object, not an array of one), or a row of cols
// (t's default columns when nil) as a table, a JSON line or CSV.
func printRecord(w io.Writer, format output.Format, t *catalog.Table, cols []string, rec coupa.Record) error {
	if format == output.JSON {
		return printIndentedJSON(w, rec)
	}
	if cols == nil {
		cols = output.DefaultColumns(t)
	}
	ow, err := output.New(w, format, cols)
	if err != nil {
		return err
	}
	if err := ow.Write(rec); err != nil {
		return err
	}
	return ow.Close()
}
