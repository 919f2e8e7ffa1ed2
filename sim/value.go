package sim

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// A record is rendered as an ordered list of fields so that JSON and XML come out in Coupa's field
// order and can be encoded without reflection: encoding dominates the cost of a list request.
type kv struct {
	k string
	v any // nil, string, int64, bool, dec, tm, obj, []obj, []any
}

type obj []kv

// dec is an exact decimal amount, rendered as a JSON string and an XML type="decimal" element.
type dec string

// tm is a datetime in unix seconds, rendered in the instance's time zone.
type tm int64

func (o obj) get(k string) (any, bool) {
	for i := range o {
		if o[i].k == k {
			return o[i].v, true
		}
	}
	return nil, false
}

// set replaces k in place (keeping its position) or appends it.
func (o obj) set(k string, v any) obj {
	for i := range o {
		if o[i].k == k {
			o[i].v = v
			return o
		}
	}
	return append(o, kv{k, v})
}

func (o obj) del(k string) obj {
	for i := range o {
		if o[i].k == k {
			return append(o[:i:i], o[i+1:]...)
		}
	}
	return o
}

// norm is the form attribute names are compared in: Coupa accepts dashes and underscores alike.
func norm(s string) string {
	if strings.IndexByte(s, '-') < 0 && !hasUpper(s) {
		return s
	}
	return strings.ToLower(strings.ReplaceAll(s, "-", "_"))
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// dash turns an underscore attribute name into the dashed form Coupa renders, keeping the one
// documented exception (category_planner_user) as it is.
func dash(s string) string {
	if s == "category_planner_user" {
		return s
	}
	return strings.ReplaceAll(s, "_", "-")
}

// lookup finds a field by name in either spelling.
func (o obj) lookup(name string) (int, bool) {
	for i := range o {
		if o[i].k == name || sameName(o[i].k, name) {
			return i, true
		}
	}
	return -1, false
}

// sameName is norm(a) == norm(b) without allocating: projections look up every field of every record,
// and building normalised copies of the keys was a large share of a list request's cost.
func sameName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if normByte(a[i]) != normByte(b[i]) {
			return false
		}
	}
	return true
}

func normByte(c byte) byte {
	switch {
	case c == '-':
		return '_'
	case c >= 'A' && c <= 'Z':
		return c + ('a' - 'A')
	}
	return c
}

type encoder struct {
	loc *time.Location
}

// preKey marks the hidden slot (just past len, within cap) where a shared, immutable association stub
// keeps its encoded JSON: every record embeds several stubs, and encoding them each time (or finding
// them in a map) was a large share of a list request. An append to the stub overwrites the slot, which
// then no longer carries the key, so a changed copy is never encoded from the stale JSON.
const preKey = "\x00pre"

// withPre returns a copy of a stub that carries its own encoded JSON.
func withPre(o obj) obj {
	n := make(obj, len(o), len(o)+1)
	copy(n, o)
	n[:len(o)+1][len(o)] = kv{preKey, encoder{}.jsonValue(nil, o)}
	return n
}

func (e encoder) timeString(t tm) string {
	return string(time.Unix(int64(t), 0).In(e.loc).AppendFormat(nil, "2006-01-02T15:04:05-07:00"))
}

func jsonArray[T any](e encoder, b []byte, xs []T) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.jsonValue(b, x)
	}
	return append(b, ']')
}

func (e encoder) jsonValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return jsonString(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case float64:
		return strconv.AppendFloat(b, x, 'f', -1, 64)
	case bool:
		return strconv.AppendBool(b, x)
	case dec:
		return jsonString(b, string(x))
	case tm:
		b = append(b, '"')
		b = time.Unix(int64(x), 0).In(e.loc).AppendFormat(b, "2006-01-02T15:04:05-07:00")
		return append(b, '"')
	case obj:
		if cap(x) > len(x) {
			if h := x[: len(x)+1 : len(x)+1][len(x)]; h.k == preKey {
				return append(b, h.v.([]byte)...)
			}
		}
		b = append(b, '{')
		for i, f := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonString(b, f.k)
			b = append(b, ':')
			b = e.jsonValue(b, f.v)
		}
		return append(b, '}')
	case []obj:
		return jsonArray(e, b, x)
	case []any:
		return jsonArray(e, b, x)
	case map[string]any:
		m, _ := json.Marshal(x)
		return append(b, m...)
	default:
		m, err := json.Marshal(x)
		if err != nil {
			return append(b, "null"...)
		}
		return append(b, m...)
	}
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes that need no escaping in a JSON string.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return
}()

func jsonString(b []byte, s string) []byte {
	b = append(b, '"')
	i := 0
	for i < len(s) && jsonSafe[s[i]] {
		i++
	}
	if i == len(s) { // the common case: nothing to escape
		b = append(b, s...)
		return append(b, '"')
	}
	b = append(b, s[:i]...)
	start := i
	for i < len(s) {
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// singular names the elements of an XML array: invoice-lines -> invoice-line.
func singular(k string) string {
	switch {
	case strings.HasSuffix(k, "ies"):
		return k[:len(k)-3] + "y"
	case strings.HasSuffix(k, "sses"):
		return k[:len(k)-2]
	case strings.HasSuffix(k, "s"):
		return k[:len(k)-1]
	}
	return k + "-item"
}

func xmlText(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		default:
			if r < 0x20 && r != '\n' && r != '\t' && r != '\r' {
				continue
			}
			b.WriteRune(r)
		}
	}
}

func (e encoder) xmlValue(b *bytes.Buffer, name string, v any) {
	open := func(attr string) {
		b.WriteByte('<')
		b.WriteString(name)
		b.WriteString(attr)
		b.WriteByte('>')
	}
	closeTag := func() {
		b.WriteString("</")
		b.WriteString(name)
		b.WriteString(">")
	}
	switch x := v.(type) {
	case nil:
		b.WriteByte('<')
		b.WriteString(name)
		b.WriteString(` nil="true"/>`)
		return
	case string:
		open("")
		xmlText(b, x)
	case int64:
		open(` type="integer"`)
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		open(` type="integer"`)
		b.WriteString(strconv.Itoa(x))
	case float64:
		open(` type="float"`)
		b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
	case bool:
		open(` type="boolean"`)
		b.WriteString(strconv.FormatBool(x))
	case dec:
		open(` type="decimal"`)
		b.WriteString(string(x))
	case tm:
		open(` type="dateTime"`)
		b.WriteString(e.timeString(x))
	case obj:
		open("")
		for _, f := range x {
			e.xmlValue(b, f.k, f.v)
		}
	case []obj:
		open(` type="array"`)
		for _, o := range x {
			e.xmlValue(b, singular(name), o)
		}
	case []any:
		open(` type="array"`)
		for _, o := range x {
			e.xmlValue(b, singular(name), o)
		}
	case map[string]any:
		open("")
		for k, f := range x {
			e.xmlValue(b, k, fromJSON(f))
		}
	default:
		open("")
		m, _ := json.Marshal(x)
		xmlText(b, string(m))
	}
	closeTag()
}

// fromJSON turns a decoded request value (json.Number, map, slice) into a record value.
func fromJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		return dec(x)
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
		return dec(strconv.FormatFloat(x, 'f', -1, 64))
	case map[string]any:
		o := make(obj, 0, len(x))
		for k, f := range x {
			o = append(o, kv{k, fromJSON(f)})
		}
		return o
	case []any:
		out := make([]any, len(x))
		for i, f := range x {
			out[i] = fromJSON(f)
		}
		return out
	}
	return v
}

// decimal helpers keep money exact: amounts are integers in a fixed number of decimal places.
func money(cents int64) dec { return dec(fixed(cents, 2)) }

func fixed(n int64, places int) string {
	var buf [32]byte
	i := len(buf)
	neg := n < 0
	if neg {
		n = -n
	}
	for d := 0; d < places || n > 0 || d <= places; d++ {
		if d == places && places > 0 {
			i--
			buf[i] = '.'
		}
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if d >= places && n == 0 {
			break
		}
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

func parseRat(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}
