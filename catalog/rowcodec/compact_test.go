package rowcodec

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// stdCompact is what compactJSON must produce: encoding/json, HTML escaping off, no trailing newline.
func stdCompact(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func checkCompact(t *testing.T, v any) {
	t.Helper()
	want, werr := stdCompact(v)
	got, gerr := compactJSON(v)
	if (werr != nil) != (gerr != nil) || got != want {
		t.Fatalf("compactJSON(%#v) = %q, %v; encoding/json gives %q, %v", v, got, gerr, want, werr)
	}
}

var tricky = []string{"", "plain", "R&D <team>", "tab\there", "quote\"d", `back\slash`, "naïve café", "日本語",
	"line\u2028sep", "para\u2029sep", "bad\xffutf8", "\x00nul", "emoji 🎉", "\u007f del"}

var numbers = []json.Number{"0", "-1", "12.50", "1e10", "-0.0", "1E-7", "", "01", " 1", "1 ", "+1", "1.", ".5",
	"NaN", "true", `"1"`, "[1]", "123456789012345678901234567890.123"}

func TestCompactJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range tricky {
		checkCompact(t, s)
		checkCompact(t, map[string]any{s: s, "k": []any{s}})
	}
	for _, n := range numbers {
		checkCompact(t, n)
		checkCompact(t, map[string]any{"n": n})
	}
	for _, v := range []any{nil, true, false, []any{}, map[string]any{}, []any{nil, 1.5, int64(3)},
		map[string]any{"b": 1, "a": map[string]any{"z": nil, "y": []any{"x", json.Number("2")}}}} {
		checkCompact(t, v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		checkCompact(t, randomValue(r, 0))
	}
}

func randomValue(r *rand.Rand, depth int) any {
	n := 7
	if depth > 3 {
		n = 4
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return tricky[r.IntN(len(tricky))]
	case 3:
		return numbers[r.IntN(len(numbers))]
	case 4, 5:
		m := map[string]any{}
		for range r.IntN(20) {
			m[tricky[r.IntN(len(tricky))]+string(rune('a'+r.IntN(26)))] = randomValue(r, depth+1)
		}
		return m
	default:
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = randomValue(r, depth+1)
		}
		return l
	}
}

func FuzzCompactJSON(f *testing.F) {
	f.Add(`{"cost-center":"R&D","n":1.50,"l":[true,null,"\u2028"]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		d := json.NewDecoder(strings.NewReader(doc))
		d.UseNumber()
		var v any
		if d.Decode(&v) != nil {
			return
		}
		checkCompact(t, v)
	})
}
