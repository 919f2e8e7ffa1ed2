package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/cmd/coupa/internal/output"
	"github.com/coupa-connector/coupa-connector/cmd/coupa/internal/progress"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/operate"
)

func init() { registerCommand(newQueryCmd) }

// defaultQueryLimit keeps an unbounded query from paging through a whole instance by accident.
const defaultQueryLimit = 50

type queryFlags struct {
	where   []string
	params  []string
	fields  string
	orderBy string
	desc    bool
	limit   int
	all     bool
	output  string
}

func newQueryCmd(a *app) *cobra.Command {
	var f queryFlags
	cmd := &cobra.Command{
		Use:   "query OBJECT",
		Short: "Find Coupa objects with conditions and print them as a table, JSON, JSON Lines or CSV",
		Long: `query lists the objects of one kind (invoices, suppliers, users... see coupa tables) that match
every --where condition:

  field = value     field != value     field > value     field >= value     field < value     field <= value
  field ~ text      (contains)         field ^= text     (starts with)      field $= text     (ends with)
  field in a,b,c    field not in a,b   field is blank    field is not blank

Nested fields use dots (supplier.name). Quote a value to keep spaces at its ends ("Acme "). Conditions
compile to Coupa's attr[op]=value parameters; --param passes one such parameter as it is.

Output: a table on a terminal, JSON Lines otherwise; -o json, jsonl, csv (nested fields become dotted
columns) or table.`,
		Example: `  coupa query invoices --where 'status in approved,voided' --where 'supplier.name ~ Acme' --limit 10
  coupa query suppliers --fields id,name,number -o csv > suppliers.csv
  coupa query users --where 'active=true' --where 'email $= @example.com' --all -o jsonl
  coupa query purchase_orders --param 'version[gt]=1' --order-by updated-at --desc`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runQuery(cmd, args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.where, "where", "w", nil, "condition, repeatable (all must hold): 'field OP value'")
	fl.StringArrayVar(&f.params, "param", nil, "raw Coupa query parameter, repeatable: 'attr[op]=value'")
	fl.StringVar(&f.fields, "fields", "", "fields to fetch and show, comma-separated, nested with dots (supplier.name)")
	fl.StringVar(&f.orderBy, "order-by", "", "field to sort by (Coupa's order_by)")
	fl.BoolVar(&f.desc, "desc", false, "sort descending (with --order-by)")
	fl.IntVar(&f.limit, "limit", 0, fmt.Sprintf("stop after this many objects (default %d)", defaultQueryLimit))
	fl.BoolVar(&f.all, "all", false, "fetch every matching object, page after page")
	fl.StringVarP(&f.output, "output", "o", "", "output format: table, json, jsonl or csv (default: table on a terminal, else jsonl)")
	return cmd
}

func (a *app) runQuery(cmd *cobra.Command, object string, f queryFlags) error {
	t, err := lookupObject(object)
	if err != nil {
		return err
	}
	schema := operate.NewSchema(t)
	filters, err := coupa.ParseWheres(f.where)
	if err != nil {
		return usageError("--where: %v", err)
	}
	for i, flt := range filters {
		if !schema.Known(flt.Field) {
			return usageError("--where %q: %s has no field %q%s (its fields: coupa tables %s; pass any other attribute raw with --param)",
				f.where[i], t.Name, flt.Field, didYouMean(t, flt.Field), t.Name)
		}
		filters[i].Field = schema.Canonical(flt.Field)
	}
	params, err := parseParams(f.params)
	if err != nil {
		return err
	}
	proj, cols, err := parseFieldsFlag(f.fields, schema, t)
	if err != nil {
		return err
	}
	if f.orderBy != "" && !schema.Known(f.orderBy) {
		return usageError("--order-by: %s has no field %q", t.Name, f.orderBy)
	}
	if f.desc && f.orderBy == "" {
		return usageError("--desc needs --order-by")
	}
	if f.all && f.limit > 0 {
		return usageError("--all and --limit contradict each other: choose one")
	}
	if f.limit < 0 {
		return usageError("--limit must be positive")
	}
	limit := f.limit
	if limit == 0 && !f.all {
		limit = defaultQueryLimit
	}
	format, err := outputFormat(f.output, a.stdout, output.JSONL)
	if err != nil {
		return err
	}
	if cols == nil && format == output.Table {
		cols = output.DefaultColumns(t)
	}
	opts := &coupa.ListOptions{Filters: filters, Params: params, Fields: proj, OrderBy: schemaOrRaw(schema, f.orderBy), Desc: f.desc}
	if limit > 0 && limit < coupa.MaxPageSize {
		opts.Limit = limit // one small page instead of a full one when only a few objects are wanted
	}
	client, err := a.newClient(cmd.Context(), []string{t.Scope})
	if err != nil {
		return err
	}
	w, err := output.New(a.stdout, format, cols)
	if err != nil {
		return usageError("%v", err)
	}
	n := 0
	for rec, err := range client.List(cmd.Context(), t.Resource, opts) {
		if err != nil {
			w.Close()
			return libError(err)
		}
		if err := w.Write(rec); err != nil {
			return err
		}
		n++
		if limit > 0 && n >= limit {
			break
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	a.logger.Debug("query done", "object", t.Name, "rows", n)
	return nil
}

func schemaOrRaw(s *operate.Schema, field string) string {
	if field == "" {
		return ""
	}
	return s.Canonical(field)
}

// lookupObject finds a catalog table by name, accepting dashes for underscores; an unknown name is a
// usage error that lists the valid ones.
func lookupObject(name string) (*catalog.Table, error) {
	if t, ok := catalog.Lookup(name); ok {
		return t, nil
	}
	if t, ok := catalog.Lookup(strings.ReplaceAll(strings.ToLower(name), "-", "_")); ok {
		return t, nil
	}
	return nil, usageError("unknown object %q: use one of %s", name, strings.Join(catalog.Names(), ", "))
}

// parseParams reads --param 'attr[op]=value' into query values, untouched.
func parseParams(raw []string) (url.Values, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	v := url.Values{}
	for _, p := range raw {
		k, val, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usageError("--param %q: write it as attr=value or attr[op]=value", p)
		}
		v.Add(strings.TrimSpace(k), val)
	}
	return v, nil
}

// parseFieldsFlag turns "id,supplier.name,invoice-lines.account.code" into Coupa's fields projection
// (["id",{"supplier":["name"]},{"invoice-lines":[{"account":["code"]}]}]) and the dotted columns to show.
func parseFieldsFlag(s string, schema *operate.Schema, t *catalog.Table) ([]any, []string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil, nil
	}
	type node struct {
		name string
		kids []*node
	}
	var roots []*node
	find := func(list *[]*node, name string) *node {
		for _, n := range *list {
			if n.name == name {
				return n
			}
		}
		n := &node{name: name}
		*list = append(*list, n)
		return n
	}
	var cols []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !schema.Known(f) {
			return nil, nil, usageError("--fields: %s has no field %q%s; its fields: coupa tables %s", t.Name, f, didYouMean(t, f), t.Name)
		}
		f = schema.Canonical(f)
		cols = append(cols, f)
		list := &roots
		for _, seg := range strings.Split(f, ".") {
			n := find(list, seg)
			list = &n.kids
		}
	}
	var render func(ns []*node) []any
	render = func(ns []*node) []any {
		out := make([]any, 0, len(ns))
		for _, n := range ns {
			if len(n.kids) == 0 {
				out = append(out, n.name)
			} else {
				out = append(out, map[string][]any{n.name: render(n.kids)})
			}
		}
		return out
	}
	return render(roots), cols, nil
}

// outputFormat resolves -o, defaulting to a table for people at a terminal and to def for pipes.
func outputFormat(flag string, stdout io.Writer, def output.Format) (output.Format, error) {
	if flag == "" {
		if progress.IsTerminal(stdout) {
			return output.Table, nil
		}
		return def, nil
	}
	f, err := output.ParseFormat(flag)
	if err != nil {
		return "", usageError("-o: %v", err)
	}
	return f, nil
}

// parseObjectID reads an ID argument.
func parseObjectID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError("ID %q: must be the positive number Coupa gave the object", s)
	}
	return id, nil
}

// lookupObjectID reads the OBJECT ID arguments of get and action.
func lookupObjectID(object, id string) (*catalog.Table, int64, error) {
	t, err := lookupObject(object)
	if err != nil {
		return nil, 0, err
	}
	n, err := parseObjectID(id)
	if err != nil {
		return nil, 0, err
	}
	return t, n, nil
}

// printIndentedJSON prints one value as indented JSON, keeping Coupa's exact numbers.
func printIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
