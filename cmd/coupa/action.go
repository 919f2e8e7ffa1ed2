package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
)

func init() { registerCommand(newActionCmd) }

// markExported is the action name for Coupa's PUT /api/<resource>/<id>?exported=true.
const markExported = "mark-exported"

func newActionCmd(a *app) *cobra.Command {
	var file, out string
	cmd := &cobra.Command{
		Use:   "action OBJECT ID ACTION",
		Short: "Run a Coupa action on one object: void, approve, issue, close, submit, mark-exported...",
		Long: `action sends PUT /api/<object>/<id>/<action> and prints the object Coupa returns. The catalog knows
which actions each object has (coupa tables shows them); anything else is refused before a request is sent:

  invoices         submit, void, abandon, dispute      purchase_orders  issue, close, cancel, reopen
  approvals        approve, reject, hold               expense_reports  submit

mark-exported (PUT /api/<object>/<id>?exported=true) works on every object with an exported flag.
-f FILE gives a JSON payload, e.g. a dispute reason.`,
		Example: `  coupa action invoices 1234 void
  coupa action approvals 77 approve
  coupa action invoices 1234 dispute -f reason.json
  coupa action purchase_orders 25 mark-exported`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, id, err := lookupObjectID(args[0], args[1])
			if err != nil {
				return err
			}
			format, err := recordFormat(out)
			if err != nil {
				return err
			}
			action := strings.ToLower(args[2])
			if action == "mark_exported" {
				action = markExported
			}
			if err := checkAction(t, action); err != nil {
				return err
			}
			var body any
			if file != "" {
				if action == markExported {
					return usageError("mark-exported takes no payload: Coupa ignores other changes sent with it")
				}
				if body, err = readPayload(file, a.stdin); err != nil {
					return err
				}
			}
			client, err := a.newClient(cmd.Context(), []string{t.WriteScope, t.Scope})
			if err != nil {
				return err
			}
			var rec coupa.Record
			if action == markExported {
				rec, _, err = client.MarkExported(cmd.Context(), t.Resource, id)
			} else {
				rec, _, err = client.Action(cmd.Context(), t.Resource, id, strings.ReplaceAll(action, "-", "_"), body)
			}
			if coupa.IsNotFound(err) {
				return fmt.Errorf("%s %d does not exist (or is not visible to this client)", t.Name, id)
			}
			if err != nil {
				return libError(err)
			}
			if rec == nil {
				rec = coupa.Record{"id": id}
			}
			return printRecord(a.stdout, format, t, nil, rec)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "JSON payload to send with the action (- for standard input)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output format of the object Coupa returns: json (default), table, jsonl or csv")
	return cmd
}

// checkAction refuses an action the catalog does not list for t, naming the ones it has.
func checkAction(t *catalog.Table, action string) error {
	if action == markExported || action == "mark_exported" {
		if hasExported(t) {
			return nil
		}
		return usageError("%s has no exported flag, so it cannot be marked exported", t.Name)
	}
	if slices.Contains(t.Actions, action) || slices.Contains(t.Actions, strings.ReplaceAll(action, "_", "-")) ||
		slices.Contains(t.Actions, strings.ReplaceAll(action, "-", "_")) {
		return nil
	}
	have := append(slices.Clone(t.Actions), markExported)
	if !hasExported(t) {
		have = have[:len(have)-1]
	}
	if len(have) == 0 {
		return usageError("%s has no action %q: it has no actions at all (see coupa tables)", t.Name, action)
	}
	return usageError("%s has no action %q: use one of %s", t.Name, action, strings.Join(have, ", "))
}

func hasExported(t *catalog.Table) bool {
	for _, c := range t.Columns {
		if c.Path == "exported" {
			return true
		}
	}
	return false
}

// readPayload reads one JSON object, keeping numbers exact.
func readPayload(file string, stdin io.Reader) (map[string]any, error) {
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("reading payload: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, usageError("payload %s is not a JSON object", file)
	}
	return m, nil
}
