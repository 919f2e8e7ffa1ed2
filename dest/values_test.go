package dest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
)

func TestNormalize(t *testing.T) {
	ny := time.FixedZone("-05:00", -5*3600)
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, ny)
	ok := []struct {
		typ  catalog.Type
		in   any
		want any
	}{
		{catalog.String, "x", "x"},
		{catalog.Int, int64(7), int64(7)},
		{catalog.Int, 7, int64(7)},
		{catalog.Int, json.Number("12"), int64(12)},
		{catalog.Decimal, "-5.00", "-5.00"},
		{catalog.Decimal, json.Number("0.10"), "0.10"},
		{catalog.Bool, false, false},
		{catalog.Timestamp, at, at.UTC()},
		{catalog.Timestamp, time.Time{}, nil},
		{catalog.JSON, json.RawMessage(`{"a":1}`), `{"a":1}`},
		{catalog.Decimal, nil, nil},
	}
	for _, c := range ok {
		got, err := Normalize(c.typ, c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Normalize(%s, %#v) = %#v, %v; want %#v", TypeName(c.typ), c.in, got, err, c.want)
		}
		if ts, isTime := got.(time.Time); isTime && ts.Location() != time.UTC {
			t.Errorf("Normalize(timestamp) kept location %v, want UTC", ts.Location())
		}
	}
	bad := []struct {
		typ catalog.Type
		in  any
	}{
		{catalog.Decimal, 0.1},
		{catalog.Decimal, "1e3"},
		{catalog.Decimal, "12,50"},
		{catalog.Decimal, ""},
		{catalog.Int, "7"},
		{catalog.Int, json.Number("1.5")},
		{catalog.Bool, "true"},
		{catalog.Timestamp, "2026-01-01T00:00:00Z"},
		{catalog.String, 5},
		{catalog.Type(99), "x"},
	}
	for _, c := range bad {
		if got, err := Normalize(c.typ, c.in); err == nil {
			t.Errorf("Normalize(%s, %#v) = %#v, want an error", TypeName(c.typ), c.in, got)
		}
	}
}

func TestValidDecimal(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-5.00": true, "+1.5": true, "1234.5678": true, ".5": true, "5.": true,
		"": false, "-": false, ".": false, "1.2.3": false, "1e5": false, " 1": false, "1,000.00": false, "NaN": false,
	} {
		if got := ValidDecimal(s); got != want {
			t.Errorf("ValidDecimal(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestWindowRoundTrip(t *testing.T) {
	w := &Window{
		From:        time.Date(2026, 1, 1, 0, 0, 0, 1, time.UTC),
		To:          time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC),
		FullRefresh: true,
		Partitions:  []Partition{{Lo: 0, Hi: 100, LastID: 42}, {Lo: 100, Hi: 0, LastID: 100, Done: true}},
	}
	s, err := EncodeWindow(w)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeWindow(s)
	if err != nil || !reflect.DeepEqual(got, w) {
		t.Errorf("window round trip = %+v, %v; want %+v (stored %s)", got, err, w, s)
	}
	full := &Window{To: w.To, Partitions: []Partition{{}}}
	s, _ = EncodeWindow(full)
	if got, err := DecodeWindow(s); err != nil || !got.From.IsZero() || !got.To.Equal(w.To) {
		t.Errorf("a full-sync window (zero From) came back as %+v, %v", got, err)
	}
	if s, err := EncodeWindow(nil); s != "" || err != nil {
		t.Errorf("EncodeWindow(nil) = %q, %v; want \"\"", s, err)
	}
	if got, err := DecodeWindow(""); got != nil || err != nil {
		t.Errorf("DecodeWindow(\"\") = %+v, %v; want nil", got, err)
	}
	if _, err := DecodeWindow(`{"to":"yesterday"}`); err == nil {
		t.Error("a window with a malformed time decoded without error")
	}
}

func TestCheckStateVersion(t *testing.T) {
	if err := CheckStateVersion(&State{Table: "x", Version: StateVersion}); err != nil {
		t.Errorf("current version refused: %v", err)
	}
	err := CheckStateVersion(&State{Table: "invoices", Version: 3})
	var ve *StateVersionError
	if !errors.As(err, &ve) {
		t.Fatalf("newer version: err = %v, want *StateVersionError", err)
	}
	want := "state of invoices was written by a newer coupa (version 3); upgrade coupa or run `coupa state reset invoices`"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}
