// Package jsonscan reads JSON in one pass over the bytes, without reflection, giving exactly what
// encoding/json with UseNumber gives. It is the parser under coupa's page decoder and catalog's row decoder.
package jsonscan

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"unicode/utf8"
)

// Scanner reads one JSON document held in memory. encoding/json scans a value once to find its end and
// once more to build it, through reflection; a page of 50 invoices with their lines is about 28,000
// allocations that way, and decoding was the client's largest cost in a sync.
//
// Generic values come out as encoding/json with UseNumber makes them: objects map[string]any (the last of
// duplicate keys wins), arrays []any, numbers json.Number, invalid UTF-8 replaced by U+FFFD. Any string not
// taken on the fast path is handed to encoding/json, so escapes and odd bytes are interpreted by the
// standard library, not re-implemented here. Every string is copied out of the input, which callers may reuse.
type Scanner struct {
	data  []byte
	pos   int
	depth int
	// sizes remembers the key count of the last object seen under each key ("" at the top), as the size
	// hint of the next: the records of a page, their lines and their associations keep their shape, and a
	// map made to size is not rebuilt as it grows.
	sizes map[string]int
	// keys interns object keys: a page repeats the same few dozen keys thousands of times.
	keys map[string]string
	// expect is the key the caller guesses comes next (see Expect).
	expect string
}

// New returns a Scanner at the start of data.
func New(data []byte) *Scanner { return &Scanner{data: data} }

// MaxDepth matches encoding/json's nesting limit, so that a hostile document cannot exhaust the stack.
const MaxDepth = 10000

// Truncated reports a document that stops mid-value: what a cut connection leaves, so worth asking again.
// It wraps io.ErrUnexpectedEOF, as encoding/json's Decoder does for the same input.
func (s *Scanner) Truncated() error {
	return fmt.Errorf("invalid JSON at offset %d: %w", s.pos, io.ErrUnexpectedEOF)
}

// Syntax reports malformed JSON at the current offset; running into the end of the data is reported as
// truncated, whatever was being read, since that is what a body cut short looks like.
func (s *Scanner) Syntax(msg string) error {
	if s.pos >= len(s.data) {
		return s.Truncated()
	}
	return fmt.Errorf("invalid JSON at offset %d: %s", s.pos, msg)
}

func (s *Scanner) skipSpace() {
	for s.pos < len(s.data) {
		// Answers are mostly compact: one comparison tells nearly every byte is not a space.
		if c := s.data[s.pos]; c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return
		}
		s.pos++
	}
}

// SkipUnexpected reads through the value at hand, which the caller does not take, and returns the error
// to report for it (msg says what was expected) once the rest of the document has been read: encoding/json
// reports a document cut short, or malformed further on, before a value of the wrong kind, and so must
// callers, so that a cut answer is always recognised as such. err is the syntax error of the value itself.
func (s *Scanner) SkipUnexpected(msg string) (unexpected, err error) {
	start := s.pos
	if err := s.Skip(); err != nil {
		return nil, err
	}
	return fmt.Errorf("invalid JSON at offset %d: %s", start, msg), nil
}

// Peek skips whitespace and returns the next byte; at the end of the data it returns a Truncated error.
func (s *Scanner) Peek() (byte, error) {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return 0, s.Truncated()
	}
	return s.data[s.pos], nil
}

// End checks that nothing but whitespace is left.
func (s *Scanner) End() error {
	s.skipSpace()
	if s.pos != len(s.data) {
		return fmt.Errorf("invalid JSON at offset %d: unexpected data after the document", s.pos)
	}
	return nil
}

// List reads a whole document that is a list: an array (or null, read as no items) followed by nothing
// but whitespace, calling item with the scanner on each item's first byte.
func (s *Scanner) List(item func() error) error {
	c, err := s.Peek()
	if err != nil {
		return err
	}
	switch c {
	case 'n':
		err = s.Null()
	case '[':
		err = s.Array(item)
	default:
		unexpected, err := s.SkipUnexpected("the answer is not a JSON array")
		if err == nil {
			err = unexpected
		}
		return err
	}
	if err != nil {
		return err
	}
	return s.End()
}

// Null consumes a null literal.
func (s *Scanner) Null() error { return s.literal("null") }

func (s *Scanner) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		if rest := s.data[s.pos:]; len(rest) < len(word) && string(rest) == word[:len(rest)] {
			s.pos = len(s.data) // "tr" at the very end: a literal cut short
		}
		return s.Syntax("invalid literal, expected " + word)
	}
	s.pos += len(word)
	return nil
}

func (s *Scanner) enter() error {
	s.depth++
	if s.depth > MaxDepth {
		return s.Syntax("nested too deeply")
	}
	return nil
}

// Array reads the array at the current position, calling item with the scanner on each item's first byte;
// item must consume exactly that item.
func (s *Scanner) Array(item func() error) error {
	return s.container(']', "an array item", func() error {
		if _, err := s.Peek(); err != nil {
			return err
		}
		return item()
	})
}

// Object reads the object at the current position, calling member with each key's raw bytes (valid only
// during the call; see Key) and the scanner on the value's first byte; member must consume the value.
func (s *Scanner) Object(member func(key []byte) error) error {
	return s.container('}', "an object value", func() error {
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.Syntax("expected a string key")
		}
		k, err := s.keyBytes()
		if err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.Syntax("expected : after an object key")
		}
		s.pos++
		if _, err := s.Peek(); err != nil {
			return err
		}
		return member(k)
	})
}

// container reads the array or object whose opening byte is at the current position: nothing, or elements
// read by element and separated by commas, up to the closing byte end. after names an element in errors.
func (s *Scanner) container(end byte, after string, element func() error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer func() { s.depth-- }()
	s.pos++ // '[' or '{'
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == end {
		s.pos++
		return nil
	}
	for {
		if err := element(); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.Truncated()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case end:
			s.pos++
			return nil
		default:
			return s.Syntax("expected , or " + string(end) + " after " + after)
		}
	}
}

// keyBytes reads an object key and returns its decoded bytes: the input itself when the key is plain,
// a decoded copy otherwise.
func (s *Scanner) keyBytes() ([]byte, error) {
	if k := s.expect; k != "" {
		s.expect = ""
		end := s.pos + 1 + len(k)
		if end < len(s.data) && s.data[end] == '"' && string(s.data[s.pos+1:end]) == k {
			s.pos = end + 1
			return s.data[end-len(k) : end], nil
		}
	}
	return s.StrBytes()
}

// PlainKey reports whether k may be given to Expect: ASCII without quote, backslash or control byte, so
// that its bytes in the input are the key itself.
func PlainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Expect tells the scanner that the next object key it reads is probably k, a PlainKey: when the input
// holds exactly that key, it is taken by one comparison instead of being scanned. A wrong guess costs the
// comparison; the key read is the input's either way. Records of a page share their key order, so a caller
// that remembers it guesses nearly every key.
func (s *Scanner) Expect(k string) { s.expect = k }

// Key turns key bytes from Object into an interned string.
func (s *Scanner) Key(b []byte) string {
	if k, ok := s.keys[string(b)]; ok {
		return k
	}
	k := string(b)
	if s.keys == nil {
		s.keys = make(map[string]string, 64)
	}
	s.keys[k] = k
	return k
}

// Value reads any JSON value as encoding/json with UseNumber would; key is the object key it sits under
// (the array's key for array items), which sizes the maps it makes.
func (s *Scanner) Value(key string) (any, error) {
	c, err := s.Peek()
	if err != nil {
		return nil, err
	}
	switch {
	case c == '{':
		return s.objectValue(key)
	case c == '[':
		a := []any{}
		err := s.Array(func() error {
			v, err := s.Value(key)
			a = append(a, v)
			return err
		})
		return a, err
	case c == '"':
		return s.Str()
	case c == 't':
		return true, s.literal("true")
	case c == 'f':
		return false, s.literal("false")
	case c == 'n':
		return nil, s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.Number()
	}
	return nil, s.Syntax(fmt.Sprintf("unexpected character %q", c))
}

func (s *Scanner) objectValue(key string) (map[string]any, error) {
	if s.sizes == nil {
		s.sizes = make(map[string]int, 32)
	}
	hint, ok := s.sizes[key]
	if !ok {
		hint = 8
	}
	m := make(map[string]any, hint)
	err := s.Object(func(kb []byte) error {
		k := s.Key(kb)
		v, err := s.Value(k)
		m[k] = v
		return err
	})
	if len(m) != hint {
		s.sizes[key] = len(m)
	}
	return m, err
}

// Skip reads a value and drops it, refusing exactly what Value refuses, without building it.
func (s *Scanner) Skip() error {
	c, err := s.Peek()
	if err != nil {
		return err
	}
	switch {
	case c == '{':
		return s.Object(func([]byte) error { return s.Skip() })
	case c == '[':
		return s.Array(s.Skip)
	case c == '"':
		_, err := s.StrBytes() // escapes are checked as Value checks them
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := s.number()
		return err
	}
	_, err = s.Value("")
	return err
}

// SkipRaw reads through the value at hand as Skip does and returns its bytes, whitespace around it
// excluded; they alias the data. Callers use them to recognise a value they have converted before.
func (s *Scanner) SkipRaw() ([]byte, error) {
	if _, err := s.Peek(); err != nil {
		return nil, err
	}
	start := s.pos
	if err := s.Skip(); err != nil {
		return nil, err
	}
	return s.data[start:s.pos], nil
}

// Reset makes s read data from its start, keeping what it has learnt of keys and object sizes.
func (s *Scanner) Reset(data []byte) {
	s.data, s.pos, s.depth, s.expect = data, 0, 0, ""
}

// rawString returns the bytes of the string literal at pos (quotes included) and whether they are plain:
// no escape and nothing but ASCII, so that they convert to a Go string as they are.
func (s *Scanner) rawString() ([]byte, bool, error) {
	start := s.pos
	i := s.pos + 1
	plain := true
	for i < len(s.data) {
		// Eight bytes at a time while none of them ends the string or needs a look: strings are most of
		// a page's bytes.
		for i+8 <= len(s.data) {
			if m := special(binary.LittleEndian.Uint64(s.data[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8 // the first byte flagged is a true one
				break
			}
			i += 8
		}
		if i >= len(s.data) {
			break
		}
		c := s.data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return s.data[start:s.pos], plain, nil
		case c == '\\':
			// The escape is checked as far as the data goes, as encoding/json does: a wrong one is malformed,
			// one the data stops in is a string cut short.
			plain = false
			i++
			if i < len(s.data) {
				switch s.data[i] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				case 'u':
					for j := i + 1; j < i+5 && j < len(s.data); j++ {
						if !isHex(s.data[j]) {
							s.pos = j
							return nil, false, s.Syntax("invalid character in a \\u escape")
						}
					}
				default:
					s.pos = i
					return nil, false, s.Syntax("invalid escape in a string")
				}
			}
			i++
			continue
		case c < 0x20:
			s.pos = i
			return nil, false, s.Syntax("control character in a string")
		case c >= utf8.RuneSelf:
			plain = false
		}
		i++
	}
	s.pos = len(s.data)
	return nil, false, s.Syntax("unterminated string")
}

// StrBytes reads a string value and returns its decoded bytes: for a plain string (ASCII, no escape) the
// input itself, valid only until the input is reused; otherwise a copy decoded as Str decodes it.
func (s *Scanner) StrBytes() ([]byte, error) {
	start := s.pos
	raw, plain, err := s.rawString()
	if err != nil {
		return nil, err
	}
	if plain {
		return raw[1 : len(raw)-1], nil
	}
	s.pos = start
	str, err := s.Str()
	return []byte(str), err
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special flags, by the high bit of each byte of w (the first byte of the data lowest), the bytes that are a
// quote, a backslash, a control character or not ASCII. Each test is the classic "some byte is below n" bit
// trick, which never misses one; a borrow may also flag a byte after a flagged one, never before.
func special(w uint64) uint64 {
	return below(w^(ones*'"'), 1) | below(w^(ones*'\\'), 1) | below(w, 0x20) | w&highs
}

// below has its high bit set in some byte when a byte of x is below n (n <= 128).
func below(x, n uint64) uint64 { return (x - ones*n) & ^x & highs }

// Str reads a string value.
func (s *Scanner) Str() (string, error) {
	raw, plain, err := s.rawString()
	if err != nil {
		return "", err
	}
	inner := raw[1 : len(raw)-1]
	if plain || (utf8.Valid(inner) && !hasByte(inner, '\\')) {
		return string(inner), nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return "", err
	}
	return str, nil
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// NumberBytes reads a number and returns its literal, valid only until the input is reused.
func (s *Scanner) NumberBytes() ([]byte, error) { return s.number() }

// Number reads a number and keeps its literal.
func (s *Scanner) Number() (json.Number, error) {
	b, err := s.number()
	return json.Number(b), err
}

// number checks the JSON number grammar and returns the literal's bytes:
// -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func (s *Scanner) number() ([]byte, error) {
	start := s.pos
	i := s.pos
	n := len(s.data)
	if s.data[i] == '-' {
		i++
	}
	digits := func() int {
		d := i
		for i < n && s.data[i] >= '0' && s.data[i] <= '9' {
			i++
		}
		return i - d
	}
	if i < n && s.data[i] == '0' {
		i++
	} else if digits() == 0 {
		s.pos = i
		return nil, s.Syntax("invalid number")
	}
	if i < n && s.data[i] == '.' {
		i++
		if digits() == 0 {
			s.pos = i
			return nil, s.Syntax("invalid number: no digit after the decimal point")
		}
	}
	if i < n && (s.data[i] == 'e' || s.data[i] == 'E') {
		i++
		if i < n && (s.data[i] == '+' || s.data[i] == '-') {
			i++
		}
		if digits() == 0 {
			s.pos = i
			return nil, s.Syntax("invalid number: no digit in the exponent")
		}
	}
	s.pos = i
	return s.data[start:i], nil
}
