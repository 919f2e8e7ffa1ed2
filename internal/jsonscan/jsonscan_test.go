package jsonscan

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestSkipRefusesWhatValueRefuses: Skip (and SkipRaw), which reads values the decoder does not keep, must accept and
// refuse exactly what Value does, and stop at the same offset; the values themselves are held to
// encoding/json by the client's and the catalog's decoder tests.
func TestSkipRefusesWhatValueRefuses(t *testing.T) {
	docs := []string{
		`1`, `-0.5e+3`, `"plain"`, `"esc \" \\ \/ \u00e9 \ud83d\ude00"`, "\"bad utf8 \xff\"", `true`, `false`, `null`,
		`{}`, `[]`, `{"a":[1,{"b":null}],"a":"dup"}`, ` [ 1 , "x" ] `,
		`01`, `1.`, `.5`, `-`, `1e`, `tru`, `nul`, `"\x"`, `"\u12"`, "\"ctl\x01\"", `"open`, `{"a"}`, `{"a":}`,
		`{a:1}`, `[1,]`, `[1 2]`, `{"a":1,}`, `[`, `{`, `NaN`,
		strings.Repeat(`[`, MaxDepth+1) + strings.Repeat(`]`, MaxDepth+1),
	}
	for _, doc := range docs {
		v := New([]byte(doc))
		_, verr := v.Value("")
		s := New([]byte(doc))
		serr := s.Skip()
		if (verr == nil) != (serr == nil) {
			t.Errorf("%.40q: Value error %v, Skip error %v", doc, verr, serr)
		}
		if verr == nil && v.pos != s.pos {
			t.Errorf("%.40q: Value stopped at %d, Skip at %d", doc, v.pos, s.pos)
		}
		// SkipRaw is Skip giving the value's bytes; a Reset scanner reads them as a new one does.
		raw, rerr := New([]byte(doc)).SkipRaw()
		if (rerr == nil) != (serr == nil) || rerr == nil && string(raw) != strings.TrimSpace(doc[:s.pos]) {
			t.Errorf("%.40q: SkipRaw gave %.40q (%v)", doc, raw, rerr)
		}
		s.Reset([]byte(doc))
		if _, err := s.Value(""); (err == nil) != (verr == nil) {
			t.Errorf("%.40q: after Reset, Value error %v, want %v", doc, err, verr)
		}
	}
}

// TestStringsAgreeWithEncodingJSON puts every kind of byte a string scan must stop at (the closing quote,
// an escape, a control character, a multi-byte or invalid UTF-8 sequence) at every offset of a string
// longer than the eight bytes read at once, and compares the result with encoding/json's.
func TestStringsAgreeWithEncodingJSON(t *testing.T) {
	specials := []string{`\"`, `\\`, `\n`, `\u00e9`, "\x01", "é", "\xff", "😀", `\ud83d\ude00`}
	for _, sp := range specials {
		for at := 0; at <= 20; at++ {
			doc := `"` + strings.Repeat("a", at) + sp + strings.Repeat("b", 20-at) + `"`
			var want string
			werr := json.Unmarshal([]byte(doc), &want)
			got, gerr := New([]byte(doc)).Str()
			if (werr == nil) != (gerr == nil) || got != want {
				t.Errorf("%q: got %q (%v), want %q (%v)", doc, got, gerr, want, werr)
			}
			b, berr := New([]byte(doc)).StrBytes()
			if (werr == nil) != (berr == nil) || string(b) != want {
				t.Errorf("%q: StrBytes %q (%v), want %q", doc, b, berr, want)
			}
		}
	}
	// The end of the data inside the eight-byte stride is a cut string, not a read past the end.
	for n := 1; n < 30; n++ {
		doc := `"` + strings.Repeat("x", n)
		if _, err := New([]byte(doc)).Str(); err == nil {
			t.Errorf("%q: no error for an unterminated string", doc)
		}
	}
}

// TestExpectNeverChangesWhatIsRead: a guessed key (plain, as Expect requires) is only a shortcut: right,
// wrong, or a prefix of the real key, and with the real key spelled with escapes, the keys read are those
// of the input.
func TestExpectNeverChangesWhatIsRead(t *testing.T) {
	doc := `{"id":1,"idx":2,"i\u0064":3,"name":{"id":4},"":5}`
	for _, guess := range []string{"id", "idx", "i", "name", "nam", "zzz"} {
		s := New([]byte(doc))
		var keys []string
		err := s.Object(func(kb []byte) error {
			keys = append(keys, string(kb))
			s.Expect(guess)
			return s.Skip()
		})
		if err != nil {
			t.Fatalf("guess %q: %v", guess, err)
		}
		if want := []string{"id", "idx", "id", "name", ""}; !slices.Equal(keys, want) {
			t.Errorf("guess %q: keys %q, want %q", guess, keys, want)
		}
	}
}
