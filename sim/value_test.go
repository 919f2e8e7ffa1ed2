package sim

import (
	"encoding/json"
	"testing"
	"time"
)

func TestFixed(t *testing.T) {
	cases := []struct {
		n      int64
		places int
		want   string
	}{{0, 2, "0.00"}, {5, 2, "0.05"}, {12345, 2, "123.45"}, {-5, 2, "-0.05"}, {15, 1, "1.5"},
		{123456, 4, "12.3456"}, {7, 0, "7"}, {0, 0, "0"}, {100, 2, "1.00"}, {-120, 0, "-120"}}
	for _, c := range cases {
		if got := fixed(c.n, c.places); got != c.want {
			t.Errorf("fixed(%d, %d) = %q, want %q", c.n, c.places, got, c.want)
		}
	}
	if got := padWith("INV-", 42, 7); got != "INV-0000042" {
		t.Errorf("padWith = %q", got)
	}
	if got := pad(123456789, 3); got != "123456789" {
		t.Errorf("pad = %q", got)
	}
}

// TestJSONString checks the hand-written encoder against encoding/json's decoder for awkward strings.
func TestJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `quo"te`, `back\slash`, "new\nline\ttab\r", "ctl\x01\x1f", "<b>&amp;</b>",
		"ünïcödé ✓", "bad\xffutf8", "\u2028sep"} {
		b := jsonString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, b, err)
		}
		want := s
		if s == "bad\xffutf8" {
			want = "bad\ufffdutf8"
		}
		if got != want {
			t.Errorf("%q round-trips to %q", s, got)
		}
	}
	o := obj{{"a", int64(-3)}, {"b", dec("1.50")}, {"c", nil}, {"d", []obj{{{"x", true}}}}, {"e", []any{"s", int64(1)}}}
	if got := string(encoder{}.jsonValue(nil, o)); got != `{"a":-3,"b":"1.50","c":null,"d":[{"x":true}],"e":["s",1]}` {
		t.Errorf("jsonValue = %s", got)
	}
}

func TestPreEncodedStub(t *testing.T) {
	plain := obj{{"id", int64(7)}, {"name", "Acme"}}
	st := withPre(plain)
	e := encoder{}
	if a, b := string(e.jsonValue(nil, st)), string(e.jsonValue(nil, plain)); a != b {
		t.Fatalf("pre-encoded %s, plain %s", a, b)
	}
	// A copy that grows must not be encoded from the stale JSON.
	grown := append(st, kv{"code", "X"})
	if got := string(e.jsonValue(nil, grown)); got != `{"id":7,"name":"Acme","code":"X"}` {
		t.Fatalf("grown stub encodes as %s", got)
	}
	if got := string(e.jsonValue(nil, st)); got != `{"id":7,"name":"Acme"}` {
		t.Fatalf("original stub after a copy grew: %s", got)
	}
}

func TestParseTime(t *testing.T) {
	loc := time.FixedZone("", -7*3600)
	want := time.Date(2024, 4, 1, 2, 16, 48, 0, loc).Unix()
	for _, s := range []string{"2024-04-01T02:16:48-07:00", "2024-04-01T09:16:48Z", "2024-04-01T02:16:48",
		"2024-04-01T19:16:48 10:00", "2024-04-01T09:16:48.000Z", "2024-04-01T02:16:48-0700"} {
		got, err := parseTime(s, loc)
		if err != nil || got != want {
			t.Errorf("parseTime(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	if got, err := parseTime("2024-04-01", loc); err != nil || got != time.Date(2024, 4, 1, 0, 0, 0, 0, loc).Unix() {
		t.Errorf("a plain date is local midnight: %v %v", got, err)
	}
	if _, err := parseTime("yesterday", loc); err == nil {
		t.Errorf("nonsense accepted")
	}
}

// sameName must agree with comparing norm()ed names, which is what the query and projection rules say.
func TestSameNameAgreesWithNorm(t *testing.T) {
	names := []string{"invoice-number", "invoice_number", "Invoice-Number", "INVOICE_NUMBER", "invoice-numbers",
		"total", "Total", "tota1", "category_planner_user", "category-planner-user", "a-b", "a_b", "ab", ""}
	for _, a := range names {
		for _, b := range names {
			if got, want := sameName(a, b), norm(a) == norm(b); got != want {
				t.Errorf("sameName(%q, %q) = %v, norm says %v", a, b, got, want)
			}
		}
	}
}
