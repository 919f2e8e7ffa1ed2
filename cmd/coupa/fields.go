package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// fieldInfo is one field of a table as `coupa tables TABLE` prints it.
type fieldInfo struct {
	Field      string `json:"field"`  // the Coupa attribute, dashed and dotted: supplier.name
	Column     string `json:"column"` // the warehouse column
	Type       string `json:"type"`
	Required   bool   `json:"required_for_create"`
	Filterable bool   `json:"filterable"` // usable in query --where (Coupa filters scalar attributes)
}

// tableDetail is `coupa tables TABLE -o json`: the table, its fields and its child tables' fields.
type tableDetail struct {
	tableInfo
	RequiredForCreate []string               `json:"required_for_create"`
	Fields            []fieldInfo            `json:"fields"`
	ChildFields       map[string][]fieldInfo `json:"child_fields"`
}

var typeNames = map[catalog.Type]string{catalog.String: "text", catalog.Int: "integer", catalog.Decimal: "decimal",
	catalog.Bool: "boolean", catalog.Timestamp: "datetime", catalog.JSON: "json"}

func describeFields(t *catalog.Table) tableDetail {
	d := tableDetail{tableInfo: describeTable(t), RequiredForCreate: append([]string{}, t.Required...),
		ChildFields: map[string][]fieldInfo{}}
	d.Fields = fieldInfos(t.Columns, t.Required)
	for _, ch := range t.Children {
		d.ChildFields[ch.Name] = fieldInfos(ch.Columns, nil)
	}
	return d
}

func fieldInfos(cols []catalog.Column, required []string) []fieldInfo {
	out := make([]fieldInfo, 0, len(cols))
	for _, c := range cols {
		top, _, _ := strings.Cut(c.Path, ".")
		out = append(out, fieldInfo{Field: c.Path, Column: c.Name, Type: typeNames[c.Type],
			Required:   slices.Contains(required, c.Path) || slices.Contains(required, top),
			Filterable: c.Type != catalog.JSON})
	}
	return out
}

// printTableDetail prints one table's fields: what --fields, --where and create take.
func (a *app) printTableDetail(t *catalog.Table, output string) error {
	d := describeFields(t)
	if output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	}
	fmt.Fprintf(a.stdout, "%s: GET /api/%s, scope %s, %s sync", t.Name, t.Resource, t.Scope, d.Sync)
	if w := writeSummary(d.tableInfo); w != "" {
		fmt.Fprintf(a.stdout, "; writes: %s", w)
	}
	fmt.Fprintln(a.stdout)
	if len(t.Required) > 0 {
		fmt.Fprintf(a.stdout, "required to create: %s\n", strings.Join(t.Required, ", "))
	}
	fmt.Fprintln(a.stdout)
	printFields(a, d.Fields)
	for _, ch := range t.Children {
		fmt.Fprintf(a.stdout, "\n%s (child table: one row per item of %s, keyed by %s)\n", ch.Name, dash(ch.Path), strings.Join(ch.Key, ", "))
		printFields(a, d.ChildFields[ch.Name])
	}
	return nil
}

func printFields(a *app, fields []fieldInfo) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tTYPE\tREQUIRED\tFILTERABLE\tCOLUMN")
	for _, f := range fields {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Field, f.Type, yesNo(f.Required), yesNo(f.Filterable), f.Column)
	}
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}

// didYouMean is " (did you mean X?)" for the field names of t closest to name, or "" when none is close.
func didYouMean(t *catalog.Table, name string) string {
	name = strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	best, bestD := []string{}, 3 // farther than 2 edits is not a typo
	consider := func(cand string) {
		d := editDistance(name, cand)
		if strings.HasSuffix(cand, "."+name) || strings.HasPrefix(cand, name+"-") || strings.HasSuffix(cand, "-"+name) {
			d = min(d, 1) // total -> gross-total: the name of a part
		}
		switch {
		case d < bestD:
			best, bestD = []string{cand}, d
		case d == bestD && !slices.Contains(best, cand):
			best = append(best, cand)
		}
	}
	for _, c := range t.Columns {
		consider(c.Path)
	}
	if len(best) == 0 {
		return ""
	}
	if len(best) > 3 {
		best = best[:3]
	}
	return " (did you mean " + strings.Join(best, " or ") + "?)"
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
