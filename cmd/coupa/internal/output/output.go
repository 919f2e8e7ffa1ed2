// Package output writes Coupa records for people and scripts: aligned tables, JSON, JSON Lines and CSV
// with nested objects flattened into dotted column names.
package output

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// Format names an output format of -o.
type Format string

// The formats -o accepts.
const (
	Table Format = "table"
	JSON  Format = "json"
	JSONL Format = "jsonl"
	CSV   Format = "csv"
)

// Formats lists every format, for flag help and errors.
var Formats = []Format{Table, JSON, JSONL, CSV}

// ParseFormat checks an -o value.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == strings.ToLower(s) {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown output format %q: use one of table, json, jsonl, csv", s)
}

// Writer receives records one at a time; Close finishes the output (a JSON array's bracket, a table's
// rows). Nothing is guaranteed to reach the underlying writer before Close.
type Writer interface {
	Write(rec map[string]any) error
	Close() error
}

// New returns a writer of format f. columns are dotted paths ("id", "supplier.name") chosen for table
// and CSV output; when nil, CSV and table use every flattened key seen, in first-seen order (which needs
// the records buffered until Close).
func New(w io.Writer, f Format, columns []string) (Writer, error) {
	switch f {
	case JSON:
		return &jsonWriter{w: w}, nil
	case JSONL:
		return &jsonlWriter{enc: newEncoder(w)}, nil
	case CSV:
		return &csvWriter{w: csv.NewWriter(w), columns: columns}, nil
	case Table:
		return &tableWriter{w: w, columns: columns}, nil
	}
	return nil, fmt.Errorf("unknown output format %q: use one of table, json, jsonl, csv", f)
}

func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

type jsonlWriter struct{ enc *json.Encoder }

func (j *jsonlWriter) Write(rec map[string]any) error { return j.enc.Encode(rec) }
func (j *jsonlWriter) Close() error                   { return nil }

// jsonWriter streams an array, one indented element at a time, so that large results do not sit in memory.
type jsonWriter struct {
	w io.Writer
	n int
}

func (j *jsonWriter) Write(rec map[string]any) error {
	var buf bytes.Buffer
	enc := newEncoder(&buf)
	enc.SetIndent("  ", "  ")
	if err := enc.Encode(rec); err != nil {
		return err
	}
	sep := ",\n  "
	if j.n == 0 {
		sep = "[\n  "
	}
	j.n++
	_, err := io.WriteString(j.w, sep+strings.TrimRight(buf.String(), "\n"))
	return err
}

func (j *jsonWriter) Close() error {
	end := "\n]\n"
	if j.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(j.w, end)
	return err
}

// Flatten turns nested objects into dotted keys ({"supplier":{"name":"A"}} -> "supplier.name": "A").
// Arrays stay whole (a cell cannot hold a list of lines); Cell renders them as JSON.
func Flatten(rec map[string]any) map[string]any {
	out := make(map[string]any, len(rec))
	flattenInto(out, "", rec)
	return out
}

func flattenInto(out map[string]any, prefix string, m map[string]any) {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			flattenInto(out, key, sub)
			continue
		}
		out[key] = v
	}
}

// flatKeys returns the flattened keys of rec in a stable order: the record's own key order is lost in a
// Go map, so keys are sorted, with "id" first because every Coupa object is known by it.
func flatKeys(flat map[string]any) []string {
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if i := slices.Index(keys, "id"); i > 0 {
		keys = append([]string{"id"}, slices.Delete(keys, i, i+1)...)
	}
	return keys
}

// Cell renders one value as text: strings as they are, numbers exactly as Coupa sent them, null as
// empty, objects and arrays as compact JSON.
func Cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	case fmt.Stringer:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// collector buffers records until the column set is known.
type collector struct {
	columns []string
	seen    map[string]bool
	rows    []map[string]any
}

func (c *collector) add(rec map[string]any) map[string]any {
	flat := Flatten(rec)
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	for _, k := range flatKeys(flat) {
		if !c.seen[k] {
			c.seen[k] = true
			c.columns = append(c.columns, k)
		}
	}
	return flat
}

type csvWriter struct {
	w       *csv.Writer
	columns []string
	header  bool
	buf     collector
}

func (c *csvWriter) Write(rec map[string]any) error {
	if c.columns == nil {
		c.buf.rows = append(c.buf.rows, c.buf.add(rec))
		return nil
	}
	return c.row(Flatten(rec), c.columns)
}

func (c *csvWriter) row(flat map[string]any, cols []string) error {
	if !c.header {
		c.header = true
		if err := c.w.Write(cols); err != nil {
			return err
		}
	}
	cells := make([]string, len(cols))
	for i, col := range cols {
		cells[i] = Cell(lookup(flat, col))
	}
	return c.w.Write(cells)
}

// lookup finds a column in a flattened record; a column naming a whole object ("supplier") gets the
// object back as JSON rather than nothing.
func lookup(flat map[string]any, col string) any {
	if v, ok := flat[col]; ok {
		return v
	}
	var sub map[string]any
	for k, v := range flat {
		if rest, ok := strings.CutPrefix(k, col+"."); ok {
			if sub == nil {
				sub = map[string]any{}
			}
			sub[rest] = v
		}
	}
	if sub == nil {
		return nil
	}
	return sub
}

func (c *csvWriter) Close() error {
	if c.columns == nil {
		for _, r := range c.buf.rows {
			if err := c.row(r, c.buf.columns); err != nil {
				return err
			}
		}
	}
	c.w.Flush()
	return c.w.Error()
}

// maxCell keeps one long description from pushing every other column off the screen.
const maxCell = 40

type tableWriter struct {
	w       io.Writer
	columns []string
	buf     collector
}

func (t *tableWriter) Write(rec map[string]any) error {
	if t.columns == nil {
		t.buf.rows = append(t.buf.rows, t.buf.add(rec))
	} else {
		t.buf.rows = append(t.buf.rows, Flatten(rec))
	}
	return nil
}

func (t *tableWriter) Close() error {
	cols := t.columns
	if cols == nil {
		cols = t.buf.columns
	}
	if len(cols) == 0 {
		_, err := io.WriteString(t.w, "(no rows)\n")
		return err
	}
	cells := make([][]string, 0, len(t.buf.rows)+1)
	cells = append(cells, upper(cols))
	for _, r := range t.buf.rows {
		line := make([]string, len(cols))
		for i, col := range cols {
			line[i] = clip(Cell(lookup(r, col)))
		}
		cells = append(cells, line)
	}
	widths := make([]int, len(cols))
	for _, line := range cells {
		for i, s := range line {
			widths[i] = max(widths[i], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	for _, line := range cells {
		for i, s := range line {
			if i == len(line)-1 {
				b.WriteString(s)
				break
			}
			b.WriteString(s)
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(s)+2))
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(t.w, b.String())
	return err
}

func upper(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = strings.ToUpper(c)
	}
	return out
}

// clip shortens a cell to maxCell runes and keeps it on one line.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= maxCell {
		return s
	}
	r := []rune(s)
	return string(r[:maxCell-1]) + "…"
}

// preferred are the fields that tell a person which object a row is, in the order a table shows them;
// a table gets those its catalog entry has.
var preferred = []string{
	"invoice-number", "po-number", "login", "name", "title", "code", "fullname", "email", "number",
	"status", "active", "total-with-taxes", "total", "currency.code", "supplier.name", "approvable-type",
	"approvable-id", "updated-at",
}

// DefaultColumns chooses the columns of a table view of t: id, then the identifying and status fields
// the catalog knows for it, at most eight; when none match, the first catalog columns.
func DefaultColumns(t *catalog.Table) []string {
	have := map[string]bool{}
	for _, c := range t.Columns {
		have[c.Path] = true
	}
	cols := []string{"id"}
	for _, p := range preferred {
		if have[p] && len(cols) < 8 {
			cols = append(cols, p)
		}
	}
	if len(cols) > 2 {
		return cols
	}
	for _, c := range t.Columns {
		if c.Path == "id" || c.Type == catalog.JSON {
			continue
		}
		if len(cols) >= 6 {
			break
		}
		cols = append(cols, c.Path)
	}
	return cols
}
