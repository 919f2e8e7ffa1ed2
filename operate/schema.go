package operate

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
)

// Mode is what a run does with each row.
type Mode int

// Modes.
const (
	Create Mode = iota + 1 // POST /api/<resource>
	Update                 // PUT /api/<resource>/<id>
)

func (m Mode) String() string {
	if m == Update {
		return "update"
	}
	return "create"
}

// Schema is what the catalog knows about the fields of one object, shaped for checking input rows.
type Schema struct {
	table    *catalog.Table
	cols     map[string]catalog.Type // dashed dotted path -> type
	assoc    map[string]bool         // first segments that are associations: supplier, currency
	children map[string]bool         // nested collections: invoice-lines
	free     map[string]bool         // objects whose keys are the customer's own: custom-fields
}

// NewSchema indexes t's columns and children.
func NewSchema(t *catalog.Table) *Schema {
	s := &Schema{table: t, cols: map[string]catalog.Type{}, assoc: map[string]bool{}, children: map[string]bool{}, free: map[string]bool{}}
	for _, c := range t.Columns {
		s.cols[c.Path] = c.Type
		if first, _, ok := strings.Cut(c.Path, "."); ok {
			s.assoc[first] = true
		}
		if c.Type == catalog.JSON && !strings.Contains(c.Path, ".") {
			s.free[c.Path] = true
		}
	}
	for _, ch := range t.Children {
		if ch.Path != "" {
			s.children[ch.Path] = true
		}
	}
	if _, ok := s.cols["id"]; !ok {
		s.cols["id"] = catalog.Int
	}
	return s
}

// Canonical rewrites a path to the catalog's dashed spelling when only that spelling is known:
// people write invoice_number in CSV headers, Coupa's keys are invoice-number. Unknown paths are
// returned unchanged so that validation can name them as written.
func (s *Schema) Canonical(path string) string {
	if s.known(path) {
		return path
	}
	if d := strings.ReplaceAll(path, "_", "-"); s.known(d) {
		return d
	}
	// Only the first segments may be ours to rename; keys under custom-fields are the customer's.
	segs := strings.Split(path, ".")
	for i := range segs {
		head := strings.ReplaceAll(strings.Join(segs[:i+1], "."), "_", "-")
		if s.free[head] || s.children[head] || s.assoc[head] {
			return head + joinRest(segs[i+1:])
		}
	}
	return path
}

func joinRest(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	return "." + strings.Join(segs, ".")
}

// Known reports a dotted path the catalog knows for this object (an association's other keys and
// custom fields included), in either spelling.
func (s *Schema) Known(path string) bool { return s.known(s.Canonical(path)) }

func (s *Schema) known(path string) bool {
	_, ok := s.typeOf(path)
	return ok
}

// typeOf is the type a path's value must have. Keys under an association the catalog knows but not
// listed in it are accepted as strings: Coupa resolves an association by any of its keys
// (id, name, number, code...), far more than the catalog keeps as columns.
func (s *Schema) typeOf(path string) (catalog.Type, bool) {
	if t, ok := s.cols[path]; ok {
		return t, true
	}
	first, rest, nested := strings.Cut(path, ".")
	switch {
	case s.free[first] && nested:
		return catalog.JSON, true
	case s.children[first]:
		return catalog.JSON, true
	case s.assoc[first] && nested && rest != "":
		return catalog.String, true
	}
	return 0, false
}

// Problems maps a field (or "row") to what is wrong with it, in the shape of Coupa's own errors body.
type Problems map[string][]string

func (p Problems) add(field, format string, args ...any) {
	p[field] = append(p[field], fmt.Sprintf(format, args...))
}

// String renders problems on one line, fields sorted.
func (p Problems) String() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+": "+strings.Join(p[k], ", "))
	}
	return strings.Join(parts, "; ")
}

var decimalRE = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)$`)

// Check validates one row for mode and returns the body to send, keys in the catalog's spelling, and
// the problems found: unknown fields, values of the wrong type, required fields missing on create.
// On update, "id" is taken out of the body (it goes in the URL).
func (s *Schema) Check(data map[string]any, mode Mode) (map[string]any, Problems) {
	p := Problems{}
	body := s.walk("", data, p)
	if mode == Update {
		delete(body, "id")
	}
	if mode == Create {
		for _, req := range s.table.Required {
			if !present(body, req) {
				p.add(req, "is required to create %s", s.table.Name)
			}
		}
	}
	if len(p) == 0 {
		p = nil
	}
	return body, p
}

func (s *Schema) walk(prefix string, m map[string]any, p Problems) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if prefix == "" || !s.free[strings.SplitN(prefix, ".", 2)[0]] {
			path = s.Canonical(path)
		}
		key := path[strings.LastIndexByte(path, '.')+1:]
		if sub, ok := v.(map[string]any); ok {
			if typ, known := s.cols[path]; known && typ == catalog.JSON {
				out[key] = sub
				continue
			}
			if !s.assoc[path] && !s.free[path] && !s.assocPrefix(path) {
				p.add(path, "is not a field of %s (check the name against `coupa tables`)", s.table.Name)
			}
			out[key] = s.walk(path, sub, p)
			continue
		}
		out[key] = v
		typ, known := s.typeOf(path)
		if !known {
			p.add(path, "is not a field of %s (check the name against `coupa tables`)", s.table.Name)
			continue
		}
		if msg := checkType(v, typ); msg != "" {
			p.add(path, "%s", msg)
		} else if _, column := s.cols[path]; column && typ == catalog.String {
			if msg := textOnly(v); msg != "" {
				p.add(path, "%s", msg)
			}
		}
	}
	return out
}

// textOnly refuses a JSON number or boolean for a text column of the catalog: an invoice number of 7
// or a name of true is a mistake in the input, which the dry run promises to find. Keys of an
// association the catalog does not list stay lenient (their type is Coupa's to know).
func textOnly(v any) string {
	switch v.(type) {
	case json.Number, bool:
		return fmt.Sprintf("must be text, got %s (write it in quotes)", describe(v))
	}
	return ""
}

// assocPrefix reports a path that is the beginning of known column paths (a nested association).
func (s *Schema) assocPrefix(path string) bool {
	for c := range s.cols {
		if strings.HasPrefix(c, path+".") {
			return true
		}
	}
	first, _, _ := strings.Cut(path, ".")
	return s.free[first]
}

// numberText is the text of a number given as a JSON number or as a string (as CSV gives every value).
func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return x.String(), true
	case string:
		return strings.TrimSpace(x), true
	}
	return "", false
}

// checkType says what is wrong with v as a value of typ, or "" when it fits. null always fits: it clears
// the field.
func checkType(v any, typ catalog.Type) string {
	if v == nil {
		return ""
	}
	switch typ {
	case catalog.Int:
		s, ok := numberText(v)
		if !ok {
			return fmt.Sprintf("must be an integer, got %s", describe(v))
		}
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return fmt.Sprintf("must be an integer, got %q", s)
		}
	case catalog.Decimal:
		s, ok := numberText(v)
		if !ok {
			return fmt.Sprintf("must be a decimal number, got %s", describe(v))
		}
		if !decimalRE.MatchString(s) {
			return fmt.Sprintf("must be a decimal number such as 1234.50, got %q", s)
		}
	case catalog.Bool:
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("must be true or false, got %s", describe(v))
		}
	case catalog.Timestamp:
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("must be a date or datetime, got %s", describe(v))
		}
		if !validTime(s) {
			return fmt.Sprintf("must be a date (2024-04-01) or an ISO-8601 datetime with offset, got %q", s)
		}
	case catalog.String:
		switch v.(type) {
		case string, json.Number, bool:
		default:
			return fmt.Sprintf("must be text, got %s", describe(v))
		}
	}
	return ""
}

func validTime(s string) bool {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly, "2006-01-02T15:04:05"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	// Coupa documents its datetimes as YYYY-MM-DDTHH:MM:SS+HH:MMZ.
	if t, ok := strings.CutSuffix(s, "Z"); ok {
		if _, err := time.Parse(time.RFC3339, t); err == nil {
			return true
		}
	}
	return false
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case json.Number:
		return "the number " + x.String()
	case bool:
		return strconv.FormatBool(x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// present reports a required dotted path with a non-empty value; an association given as an object by
// any key (supplier: {name: ...}) counts for "supplier".
func present(m map[string]any, path string) bool {
	v, notObject := coupa.Record(m).Path(path)
	if notObject != "" {
		return false
	}
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return strings.TrimSpace(x) != ""
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// valueAt returns the scalar at a dotted path as text, "" when absent or not a scalar.
func valueAt(m map[string]any, path string) string {
	v, notObject := coupa.Record(m).Path(path)
	if notObject != "" {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}
