package jsonscan

import (
	"strings"
	"testing"
)

// TestSkipRefusesWhatValueRefuses: Skip, which reads values the decoder does not keep, must accept and
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
	}
}
