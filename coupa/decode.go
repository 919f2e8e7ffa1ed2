package coupa

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// pageDecoder turns a JSON list answer into records in one pass over the bytes. encoding/json scans a
// value once to find its end and once more to build it, through reflection; a page of 50 invoices with
// their lines is about 28,000 allocations that way, and decoding was the client's largest cost in a sync.
// The result is exactly what encoding/json with UseNumber gives for the same input: objects are
// map[string]any (the last of duplicate keys wins), arrays []any, numbers json.Number, invalid UTF-8 is
// replaced by U+FFFD. Any string it does not take on its fast path is handed to encoding/json, so escapes
// and odd bytes are interpreted by the standard library, not re-implemented here.
type pageDecoder struct {
	data  []byte
	pos   int
	depth int
	// sizes remembers the key count of the last object seen under each key ("" for the records), as the
	// size hint of the next: the records of a page, their lines and their associations keep their shape,
	// and a map made to size is not rebuilt as it grows.
	sizes map[string]int
	// keys interns object keys: a page repeats the same few dozen keys thousands of times.
	keys map[string]string
}

// maxDepth matches encoding/json's nesting limit, so that a hostile answer cannot exhaust the stack.
const maxDepth = 10000

// truncated reports an answer that stops mid-value: what a cut connection leaves, so worth asking again.
// It wraps io.ErrUnexpectedEOF, as encoding/json's Decoder does for the same input.
func (d *pageDecoder) truncated() error {
	return fmt.Errorf("invalid JSON at offset %d: %w", d.pos, io.ErrUnexpectedEOF)
}

// syntax reports malformed JSON; running into the end of the data is reported as truncated, whatever was
// being read, since that is what a body cut short looks like.
func (d *pageDecoder) syntax(msg string) error {
	if d.pos >= len(d.data) {
		return d.truncated()
	}
	return fmt.Errorf("invalid JSON at offset %d: %s", d.pos, msg)
}

func (d *pageDecoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// records reads a JSON array of objects (or null) followed by nothing but whitespace.
func (d *pageDecoder) records() ([]Record, error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return nil, d.truncated()
	}
	var recs []Record
	switch d.data[d.pos] {
	case 'n':
		if err := d.literal("null"); err != nil {
			return nil, err
		}
	case '[':
		d.pos++
		d.skipSpace()
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			recs = []Record{}
			break
		}
		for {
			d.skipSpace()
			if d.pos >= len(d.data) {
				return nil, d.truncated()
			}
			switch d.data[d.pos] {
			case '{':
				m, err := d.object("")
				if err != nil {
					return nil, err
				}
				recs = append(recs, Record(m))
			case 'n':
				if err := d.literal("null"); err != nil {
					return nil, err
				}
				recs = append(recs, nil)
			default:
				return nil, d.syntax("a list item is not an object")
			}
			d.skipSpace()
			if d.pos >= len(d.data) {
				return nil, d.truncated()
			}
			if d.data[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.data[d.pos] == ']' {
				d.pos++
				break
			}
			return nil, d.syntax("expected , or ] after a list item")
		}
	default:
		return nil, d.syntax("the answer is not a JSON array")
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return nil, errors.New("unexpected data after the JSON array")
	}
	return recs, nil
}

// value reads any JSON value; key is the object key it sits under (the array's key for array items).
func (d *pageDecoder) value(key string) (any, error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return nil, d.truncated()
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(key)
	case c == '[':
		return d.array(key)
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return nil, d.syntax(fmt.Sprintf("unexpected character %q", d.data[d.pos]))
}

func (d *pageDecoder) literal(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.syntax("invalid literal, expected " + word)
	}
	d.pos += len(word)
	return nil
}

func (d *pageDecoder) object(key string) (map[string]any, error) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDepth {
		return nil, d.syntax("nested too deeply")
	}
	d.pos++ // '{'
	if d.sizes == nil {
		d.sizes = make(map[string]int, 32)
	}
	hint, ok := d.sizes[key]
	if !ok {
		hint = 8
	}
	m := make(map[string]any, hint)
	defer func() {
		if len(m) != hint {
			d.sizes[key] = len(m)
		}
	}()
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return m, nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.syntax("expected a string key")
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, d.syntax("expected : after an object key")
		}
		d.pos++
		v, err := d.value(k)
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.truncated()
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return m, nil
		default:
			return nil, d.syntax("expected , or } after an object value")
		}
	}
}

func (d *pageDecoder) array(key string) ([]any, error) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDepth {
		return nil, d.syntax("nested too deeply")
	}
	d.pos++ // '['
	a := []any{}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return a, nil
	}
	for {
		v, err := d.value(key)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.truncated()
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return a, nil
		default:
			return nil, d.syntax("expected , or ] after an array item")
		}
	}
}

// rawString returns the bytes of the string literal at pos (quotes included) and whether they are plain:
// no escape and nothing but ASCII, so that they convert to a Go string as they are.
func (d *pageDecoder) rawString() ([]byte, bool, error) {
	start := d.pos
	i := d.pos + 1
	plain := true
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return d.data[start:d.pos], plain, nil
		case c == '\\':
			plain = false
			i += 2
			continue
		case c < 0x20:
			d.pos = i
			return nil, false, d.syntax("control character in a string")
		case c >= utf8.RuneSelf:
			plain = false
		}
		i++
	}
	d.pos = len(d.data)
	return nil, false, d.syntax("unterminated string")
}

func (d *pageDecoder) str() (string, error) {
	raw, plain, err := d.rawString()
	if err != nil {
		return "", err
	}
	inner := raw[1 : len(raw)-1]
	if plain || (utf8.Valid(inner) && !hasByte(inner, '\\')) {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

func (d *pageDecoder) key() (string, error) {
	start := d.pos
	raw, plain, err := d.rawString()
	if err != nil {
		return "", err
	}
	if !plain {
		d.pos = start
		return d.str()
	}
	inner := raw[1 : len(raw)-1]
	if k, ok := d.keys[string(inner)]; ok {
		return k, nil
	}
	k := string(inner)
	if d.keys == nil {
		d.keys = make(map[string]string, 64)
	}
	d.keys[k] = k
	return k, nil
}

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// number checks the JSON number grammar and keeps the literal: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func (d *pageDecoder) number() (json.Number, error) {
	start := d.pos
	i := d.pos
	n := len(d.data)
	if d.data[i] == '-' {
		i++
	}
	digits := func() int {
		s := i
		for i < n && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
		}
		return i - s
	}
	if i < n && d.data[i] == '0' {
		i++
	} else if digits() == 0 {
		d.pos = i
		return "", d.syntax("invalid number")
	}
	if i < n && d.data[i] == '.' {
		i++
		if digits() == 0 {
			d.pos = i
			return "", d.syntax("invalid number: no digit after the decimal point")
		}
	}
	if i < n && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < n && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if digits() == 0 {
			d.pos = i
			return "", d.syntax("invalid number: no digit in the exponent")
		}
	}
	d.pos = i
	return json.Number(d.data[start:i]), nil
}
