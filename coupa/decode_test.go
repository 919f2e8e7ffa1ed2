package coupa

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/internal/jsonscan"
)

// stdRecords is the reference: what encoding/json with UseNumber makes of a list answer.
func stdRecords(body []byte) ([]Record, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var recs []Record
	if err := dec.Decode(&recs); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return recs, nil
}

// TestDecodeRecordsMatchesEncodingJSON holds the one-pass page decoder to encoding/json's result, on
// valid answers with every JSON feature and on broken ones that both must refuse.
func TestDecodeRecordsMatchesEncodingJSON(t *testing.T) {
	valid := []string{
		`[]`,
		`null`,
		` [ ] `,
		`[null]`,
		`[{}]`,
		`[{"id":1,"total":"10.00","rate":0.1,"big":123456789012345678901234567890,"neg":-0,"e":1.5e-7,"E":2E+10}]`,
		`[{"id":1,"a":true,"b":false,"c":null,"d":[],"e":{},"f":[1,"x",null,true,{"g":[[]]}]}]`,
		"[{\"id\":1,\"s\":\"tab\\tquote\\\" slash\\/ back\\\\ nl\\n uni\\u00e9 pair\\ud83d\\ude00 lone\\ud800 x\"}]",
		"[{\"id\":1,\"utf8\":\"Zürich – 東京 😀\",\"bad\":\"a\xffb\xc3\",\"key\xe9\":1}]",
		`[{"id":1,"dup":1,"dup":"second"}]`,
		"[\n\t{ \"id\" : 1 ,\r\n \"x\" : [ 1 , 2 ] }\n]\n",
		`[{"id":1},{"id":2,"nested":{"a":{"b":{"c":"deep"}}}},{"id":3}]`,
		`[{"id-with-dash":"x","custom-fields":{"region":{"id":3,"name":"EMEA"}}}]`,
	}
	for _, in := range valid {
		want, err := stdRecords([]byte(in))
		if err != nil {
			t.Fatalf("reference refused %q: %v", in, err)
		}
		got, err := decodeRecords([]byte(in))
		if err != nil {
			t.Errorf("decodeRecords(%q): %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decodeRecords(%q)\n got %#v\nwant %#v", in, got, want)
		}
	}

	invalid := []string{
		``, ` `, `{"id":1}`, `"x"`, `1`, `[1]`, `["x"]`, `[[]]`, `[{"id":1}] trailing`, `[{"id":1}][]`,
		`[{"id":1}`, `[{"id":1},]`, `[{"id":1,}]`, `[{"id"}]`, `[{"id":}]`, `[{id:1}]`, `[{"id":01}]`,
		`[{"id":1.}]`, `[{"id":.5}]`, `[{"id":1e}]`, `[{"id":-}]`, `[{"id":+1}]`, `[{"id":tru}]`, `[{"id":nul}]`,
		`[{"id":"unterminated}]`, "[{\"id\":\"ctl\x01\"}]", `[{"id":"bad \x escape"}]`, `[{"id":"\u12"}]`,
		`[{"id":1 "x":2}]`, `[{"a":[1 2]}]`, `[{"a":[1,]}]`, `[{"id":NaN}]`,
		`[{"a":` + strings.Repeat(`[`, jsonscan.MaxDepth+1) + strings.Repeat(`]`, jsonscan.MaxDepth+1) + `}]`,
	}
	for _, in := range invalid {
		if _, err := stdRecords([]byte(in)); err == nil {
			t.Fatalf("reference accepted %q", in)
		}
		if got, err := decodeRecords([]byte(in)); err == nil {
			t.Errorf("decodeRecords(%.40q) = %v, want an error", in, got)
		}
	}
}

// TestDecodeRecordsInvoicePage compares a realistic page, and checks that decoded values do not share
// memory with the read buffer, which the transport reuses for the next answer.
func TestDecodeRecordsInvoicePage(t *testing.T) {
	body := invoicePage(t)
	want, err := stdRecords(body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecords(body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("decodeRecords differs from encoding/json on the invoice page")
	}
	for i := range body {
		body[i] = ' '
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("decoded records changed when the response buffer was overwritten")
	}
}

// FuzzDecodeRecords: for any input, the page decoder accepts exactly what encoding/json accepts and
// yields the same records. `go test -fuzz FuzzDecodeRecords ./coupa` explores beyond the seeds.
func FuzzDecodeRecords(f *testing.F) {
	for _, s := range []string{`[]`, `null`, `[{"id":1,"a":[1,{"b":"\u00e9"}],"c":1.5e3}]`, "[{\"x\":\"\xff\"}]", `[{"id":1}] x`,
		`[{"a":tr`, `[nul`, `[1`, `"`, `{"a":`, `0`, `{"id":1}`, `"\0`, `"\u1`, `"\u1x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, werr := stdRecords(in)
		got, gerr := decodeRecords(in)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json error %v, decodeRecords error %v", in, werr, gerr)
		}
		// Only a cut answer is asked for again: both must agree on what is one (no data at all is io.EOF).
		if werr != nil && (errors.Is(werr, io.ErrUnexpectedEOF) || errors.Is(werr, io.EOF)) != errors.Is(gerr, io.ErrUnexpectedEOF) {
			t.Fatalf("%q: encoding/json error %v, decodeRecords error %v: one sees a cut answer, the other not", in, werr, gerr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, want %#v", in, got, want)
		}
	})
}
