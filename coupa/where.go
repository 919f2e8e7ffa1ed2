package coupa

import (
	"fmt"
	"strconv"
	"strings"
)

// WhereError is an expression ParseWhere could not read. Pos is the 1-based character position where
// reading stopped, so that a user can see which part of a long expression is wrong.
type WhereError struct {
	Expr     string
	Pos      int
	Expected string
	Found    string
}

func (e *WhereError) Error() string {
	found := "end of expression"
	if e.Found != "" {
		found = strconv.Quote(e.Found)
	}
	return fmt.Sprintf("where %q: at position %d: expected %s, found %s", e.Expr, e.Pos, e.Expected, found)
}

// symbolOps are the operators written with symbols, longest first so that ">=" is not read as ">".
var symbolOps = []struct {
	text string
	op   Op
}{
	{"!=", OpNotEq}, {">=", OpGtOrEq}, {"<=", OpLtOrEq}, {"^=", OpStartsWith}, {"$=", OpEndsWith},
	{"=", OpEq}, {">", OpGt}, {"<", OpLt}, {"~", OpContains},
}

const expectedOp = `an operator (= != > >= < <= ~ ^= $= in, not in, is blank, is not blank)`

// ParseWhere reads one condition of the --where grammar and compiles it to the Filter that becomes
// Coupa's attr[op]=value parameter:
//
//	field OP value      OP one of = != > >= < <= ~ (contains) ^= (starts with) $= (ends with)
//	field in a,b,c      field not in a,b
//	field is blank      field is not blank
//
// Fields may be nested with dots (supplier.name). A value may be quoted ("..." with Go escapes, or '...'
// taken literally) to keep leading or trailing spaces; otherwise it is the rest of the expression, trimmed.
func ParseWhere(expr string) (Filter, error) {
	p := &whereParser{expr: expr}
	p.skipSpace()
	field, err := p.field()
	if err != nil {
		return Filter{}, err
	}
	p.skipSpace()
	for _, s := range symbolOps {
		if strings.HasPrefix(p.rest(), s.text) {
			p.pos += len(s.text)
			v, err := p.value(s.text)
			if err != nil {
				return Filter{}, err
			}
			return Filter{Field: field, Op: s.op, Value: v}, nil
		}
	}
	start := p.pos
	switch kw := strings.ToLower(p.word()); kw {
	case "in":
		return p.list(field, OpIn, "in")
	case "not":
		p.skipSpace()
		if w := p.word(); !strings.EqualFold(w, "in") {
			return Filter{}, p.errAt(p.pos-len(w), `"in" after "not"`, w)
		}
		return p.list(field, OpNotIn, "not in")
	case "is":
		p.skipSpace()
		w := p.word()
		value := "true"
		if strings.EqualFold(w, "not") {
			value = "false"
			p.skipSpace()
			w = p.word()
		}
		if !strings.EqualFold(w, "blank") {
			return Filter{}, p.errAt(p.pos-len(w), `"blank" or "not blank" after "is"`, w)
		}
		p.skipSpace()
		if p.pos < len(p.expr) {
			return Filter{}, p.errAt(p.pos, "end of expression after \"blank\"", p.rest())
		}
		return Filter{Field: field, Op: OpBlank, Value: value}, nil
	default:
		return Filter{}, p.errAt(start, expectedOp, p.expr[start:])
	}
}

// ParseWheres parses several conditions, which Coupa ANDs.
func ParseWheres(exprs []string) ([]Filter, error) {
	filters := make([]Filter, 0, len(exprs))
	for _, e := range exprs {
		f, err := ParseWhere(e)
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	}
	return filters, nil
}

type whereParser struct {
	expr string
	pos  int // byte offset into expr
}

func (p *whereParser) rest() string { return p.expr[p.pos:] }

func (p *whereParser) skipSpace() {
	for p.pos < len(p.expr) && (p.expr[p.pos] == ' ' || p.expr[p.pos] == '\t') {
		p.pos++
	}
}

// errAt reports a problem at byte offset off as a 1-based character position.
func (p *whereParser) errAt(off int, expected, found string) error {
	if off > len(p.expr) {
		off = len(p.expr)
	}
	if len(found) > 20 {
		found = found[:20] + "..."
	}
	return &WhereError{Expr: p.expr, Pos: len([]rune(p.expr[:off])) + 1, Expected: expected, Found: found}
}

func isFieldByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// field reads a dotted attribute path; empty segments ("a..b", ".a", "a.") are refused because they
// would compile to an empty bracket that Coupa silently ignores.
func (p *whereParser) field() (string, error) {
	start := p.pos
	for p.pos < len(p.expr) && isFieldByte(p.expr[p.pos]) {
		p.pos++
	}
	f := p.expr[start:p.pos]
	if f == "" {
		found := p.rest()
		if found != "" {
			found = found[:1]
		}
		return "", p.errAt(start, "a field name (letters, digits, _ - and . for nested fields)", found)
	}
	off := start
	for _, seg := range strings.Split(f, ".") {
		if seg == "" {
			return "", p.errAt(off, "a field name between dots", ".")
		}
		off += len(seg) + 1
	}
	return f, nil
}

func (p *whereParser) word() string {
	start := p.pos
	for p.pos < len(p.expr) && (p.expr[p.pos] >= 'a' && p.expr[p.pos] <= 'z' || p.expr[p.pos] >= 'A' && p.expr[p.pos] <= 'Z') {
		p.pos++
	}
	return p.expr[start:p.pos]
}

// value reads what follows a symbolic operator.
func (p *whereParser) value(op string) (string, error) {
	p.skipSpace()
	start := p.pos
	raw := strings.TrimRight(p.rest(), " \t")
	if raw == "" {
		return "", p.errAt(start, fmt.Sprintf("a value after %q (use \"is blank\" to match empty fields)", op), "")
	}
	if strings.ContainsRune("=<>!~", rune(raw[0])) {
		// "total >> 5" or "total => 5" is a mistyped operator far more often than a value.
		return "", p.errAt(start, fmt.Sprintf("a value after %q (quote a value that starts with = < > ! or ~)", op), raw)
	}
	v, n, err := unquote(raw)
	if err != nil {
		return "", p.errAt(start, "a closed quoted value", raw)
	}
	if n < len(raw) {
		return "", p.errAt(start+n, "end of expression after the quoted value", raw[n:])
	}
	return v, nil
}

// list reads the comma-separated values of in / not in. Coupa splits the list on commas and has no
// escape, so a value cannot hold a comma, quoted or not.
func (p *whereParser) list(field string, op Op, kw string) (Filter, error) {
	if p.pos < len(p.expr) && p.expr[p.pos] != ' ' && p.expr[p.pos] != '\t' {
		return Filter{}, p.errAt(p.pos, fmt.Sprintf("a space after %q", kw), p.rest())
	}
	p.skipSpace()
	var items []string
	for {
		p.skipSpace()
		start := p.pos
		end := strings.IndexByte(p.rest(), ',')
		raw := p.rest()
		if end >= 0 {
			raw = raw[:end]
		}
		raw = strings.TrimRight(raw, " \t")
		if raw == "" {
			return Filter{}, p.errAt(start, fmt.Sprintf("a value in the %q list", kw), "")
		}
		v, n, err := unquote(raw)
		if err != nil || n < len(raw) {
			return Filter{}, p.errAt(start, "a plain or closed quoted value", raw)
		}
		items = append(items, v)
		if end < 0 {
			break
		}
		p.pos += end + 1
	}
	return Filter{Field: field, Op: op, Value: strings.Join(items, ",")}, nil
}

// unquote returns the value of s and how many bytes of s it used: all of s when unquoted.
func unquote(s string) (string, int, error) {
	switch s[0] {
	case '"':
		prefix, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", 0, err
		}
		v, err := strconv.Unquote(prefix)
		return v, len(prefix), err
	case '\'':
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", 0, fmt.Errorf("unclosed quote")
		}
		return s[1 : end+1], end + 2, nil
	}
	return s, len(s), nil
}
