package rowcodec

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// compactJSON encodes a decoded JSON value (maps, slices, strings, json.Number, bools, nil) exactly as
// encoding/json does with HTML escaping off: keys sorted, no spaces. custom_fields and _extra are
// encoded for every record, and reflection made encoding/json a twentieth of a sync's CPU; values of
// any other type, and strings that need escaping, still go through encoding/json.
func compactJSON(v any) (string, error) {
	if b, ok := appendCompact(make([]byte, 0, 128), v); ok {
		return string(b), nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// Coupa text (supplier names with "&") is stored as written, not as \u0026.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimRight(b.Bytes(), "\n")), nil
}

// appendCompact appends v to b; false when v holds something it leaves to encoding/json.
func appendCompact(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, x), true
	case string:
		return appendPlainString(b, x)
	case json.Number:
		// A number literal begins with - or a digit and ends with a digit; json.Valid checks the rest.
		if x == "" || !(x[0] == '-' || isDigit(x[0])) || !isDigit(x[len(x)-1]) || !json.Valid([]byte(x)) {
			return b, false
		}
		return append(b, x...), true
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendCompact(b, e); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	case map[string]any:
		var small [16]string
		keys := small[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendPlainString(b, k); !ok {
				return b, false
			}
			b = append(b, ':')
			if b, ok = appendCompact(b, x[k]); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	}
	return b, false
}

// appendPlainString quotes s when nothing in it needs an escape (or a replacement of invalid UTF-8).
func appendPlainString(b []byte, s string) ([]byte, bool) {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == '"' || c == '\\':
			return b, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	// encoding/json replaces invalid UTF-8 and escapes U+2028 and U+2029 even with HTML escaping off.
	if !ascii && (!utf8.ValidString(s) || strings.ContainsAny(s, "\u2028\u2029")) {
		return b, false
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
