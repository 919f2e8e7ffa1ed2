package sim

import (
	"bytes"
	"encoding/json"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
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

// fromCamel turns a GraphQL-style camelCase name (userGroups, canApprove) into Coupa's underscore form
// (user_groups, can_approve). Names that already use dashes or underscores, or have no lowercase letter
// before an uppercase one, are left to norm.
func fromCamel(s string) string {
	if strings.ContainsAny(s, "-_") || !hasUpper(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			if i > 0 && s[i-1] >= 'a' && s[i-1] <= 'z' || i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
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
// keeps its encoded forms (stubForms): every record embeds several stubs, and encoding them each time
// (or finding them in a map) was a large share of a list request. An append to the stub overwrites the
// slot, which then no longer carries the key, so a changed copy is never encoded from the stale JSON.
const preKey = "\x00pre"

// stubForms are the encoded forms of a stub. The stub's fields never depend on the time zone, so its
// JSON does not either.
type stubForms struct {
	json []byte // the whole stub
	// last is the stub under the last projection asked of it: a sync asks the same projection of the same
	// stubs on every page, and projecting each stub again wherever it is embedded was a large share of a
	// projected page's encoding (with many users and suppliers, their stubs are seldom in the CPU cache).
	last atomic.Pointer[projectedStub]
}

type projectedStub struct {
	p    *projection
	json []byte
}

// withPre returns a copy of a stub that carries its own encoded forms.
func withPre(o obj) obj {
	n := make(obj, len(o), len(o)+1)
	copy(n, o)
	n[:len(o)+1][len(o)] = kv{preKey, &stubForms{json: encoder{}.jsonValue(nil, o)}}
	return n
}

// stubOf returns the encoded forms o carries, or nil when it is not a stub made by withPre. Checking
// the type of the slot's value as well keeps a stray field of that name (say, in a reused scratch
// slot) from being taken for one.
func stubOf(o obj) *stubForms {
	if cap(o) > len(o) {
		if h := o[: len(o)+1 : len(o)+1][len(o)]; h.k == preKey {
			f, _ := h.v.(*stubForms)
			return f
		}
	}
	return nil
}

// projected appends the stub o (whose forms f are) under projection p.
func (f *stubForms) projected(b []byte, e encoder, o obj, p *projection) []byte {
	if last := f.last.Load(); last != nil && last.p == p {
		return append(b, last.json...)
	}
	j := e.jsonProjected(nil, o, p)
	f.last.Store(&projectedStub{p, j})
	return append(b, j...)
}

func (e encoder) timeString(t tm) string { return string(appendTime(nil, int64(t), e.loc)) }

// appendTime appends unix second t as Coupa renders datetimes, 2006-01-02T15:04:05-07:00, in loc. It is
// what time.Time.AppendFormat makes of that layout (the tests compare them), at a fraction of the cost:
// a page carries hundreds of datetimes, and formatting them through the general layout interpreter was
// about a tenth of a list request.
func appendTime(b []byte, t int64, loc *time.Location) []byte {
	_, off := time.Unix(t, 0).In(loc).Zone()
	local := t + int64(off)
	days, secs := local/day, local%day
	if secs < 0 {
		days, secs = days-1, secs+day
	}
	y, m, d := civil(days)
	if y < 0 || y > 9999 {
		return time.Unix(t, 0).In(loc).AppendFormat(b, "2006-01-02T15:04:05-07:00")
	}
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10), 'T')
	b = append2(b, int(secs/3600), ':')
	b = append2(b, int(secs/60%60), ':')
	b = append2(b, int(secs%60), 0)
	// The layout's -07:00 shows whole minutes of the offset, truncated as the time package does.
	zone := off / 60
	if zone < 0 {
		b = append(b, '-')
		zone = -zone
	} else {
		b = append(b, '+')
	}
	b = append2(b, zone/60, ':')
	return append2(b, zone%60, 0)
}

// append2 appends n in two digits, then sep unless it is 0.
func append2(b []byte, n int, sep byte) []byte {
	b = append(b, byte('0'+n/10), byte('0'+n%10))
	if sep != 0 {
		b = append(b, sep)
	}
	return b
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date (the days-from-civil algorithm
// inverted, counting in 400-year eras that start on March 1st).
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097                                  // day of era, 0..146096
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of era, 0..399
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of year from March 1st, 0..365
	mp := (5*doy + 2) / 153                                // month from March, 0..11
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
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
		b = appendTime(b, int64(x), e.loc)
		return append(b, '"')
	case obj:
		if f := stubOf(x); f != nil {
			return append(b, f.json...)
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

// jsonString first scans eight bytes at a time, with the bit tricks of "Bit Twiddling Hacks" (has a
// zero byte, has a byte less than n): almost every key and value of a record needs no escaping, and a
// word per step is several times cheaper than a byte per step.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

func hasZeroByte(x uint64) bool { return (x-ones)&^x&highs != 0 }

// needsEscape8 says whether any of the 8 bytes in x is not jsonSafe.
func needsEscape8(x uint64) bool {
	return x&highs != 0 || (x-0x20*ones)&^x&highs != 0 || hasZeroByte(x^'"'*ones) || hasZeroByte(x^'\\'*ones) ||
		hasZeroByte(x^'<'*ones) || hasZeroByte(x^'>'*ones) || hasZeroByte(x^'&'*ones)
}

func jsonString(b []byte, s string) []byte { return appendQuoted(b, s, safeWords(s)) }

// safeWords is how many leading bytes of s, in whole eight-byte words, need no escaping.
func safeWords(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if needsEscape8(x) {
			break
		}
	}
	return i
}

// appendQuoted appends s as a JSON string, its first i bytes known to need no escaping.
func appendQuoted(b []byte, s string, i int) []byte {
	b = append(b, '"')
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

func xmlOpen(b *bytes.Buffer, name, attr string) {
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteString(attr)
	b.WriteByte('>')
}

func xmlClose(b *bytes.Buffer, name string) {
	b.WriteString("</")
	b.WriteString(name)
	b.WriteString(">")
}

func (e encoder) xmlValue(b *bytes.Buffer, name string, v any) {
	open := func(attr string) { xmlOpen(b, name, attr) }
	closeTag := func() { xmlClose(b, name) }
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
		// A decoded object has lost its key order: sorting the keys keeps what is stored, and so every
		// later answer that shows it, the same from run to run.
		o := make(obj, 0, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			o = append(o, kv{k, fromJSON(x[k])})
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

// moneyValue is money(cents) as a field value. Amounts under 100.00 (every invoice charge, many taxes)
// come boxed from a table: making and boxing the string allocates twice, and an invoice carries several.
func moneyValue(cents int64) any { return (*scratch)(nil).money(cents) }

// money is moneyValue with the text of larger amounts kept in sc.
func (sc *scratch) money(cents int64) any {
	if cents >= 0 && cents < int64(len(smallMoney)) {
		return smallMoney[cents]
	}
	return sc.decimal(cents, 2)
}

// decimal is dec(fixed(n, places)) as a field value, its text kept in sc.
func (sc *scratch) decimal(n int64, places int) any {
	var buf [32]byte
	return dec(sc.str(appendFixed(buf[:0], n, places)))
}

// tenthsValue is an amount in tenths (a quantity) as a field value; generated quantities are under 10.
func tenthsValue(n int64) any {
	if n >= 0 && n < int64(len(smallTenths)) {
		return smallTenths[n]
	}
	return dec(fixed(n, 1))
}

var (
	smallMoney  = decTable(10000, 2)
	smallTenths = decTable(100, 1)
)

func decTable(n int64, places int) []any {
	t := make([]any, n)
	for i := range n {
		t[i] = dec(fixed(i, places))
	}
	return t
}

func fixed(n int64, places int) string {
	var buf [32]byte
	return string(appendFixed(buf[:0], n, places))
}

// appendFixed appends n/10^places in decimal with exactly places decimals.
func appendFixed(b []byte, n int64, places int) []byte {
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
	return append(b, buf[i:]...)
}

func parseRat(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}
