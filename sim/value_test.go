package sim

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
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

// TestAppendTime checks the hand-written datetime formatter against the time package's layout, over
// zones with DST, half-hour and 45-minute offsets, historic local mean time with second offsets, and
// times around era, leap-day and year boundaries.
func TestAppendTime(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("PDT", -7*3600), time.FixedZone("odd", -(7*3600 + 52*60 + 58)),
		time.FixedZone("east", 5*3600+30*60)}
	for _, name := range []string{"America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham", "Europe/London", "America/St_Johns"} {
		if loc, err := time.LoadLocation(name); err == nil {
			zones = append(zones, loc)
		}
	}
	times := []int64{0, -1, 1, 86399, 86400, -86400, -86401, 951782400, 951868800, 1709164800, 1709251199,
		1741510800, 1762074000, 4102444799, -2208988800, -62135596800, 253402300799}
	x := uint64(12345)
	for range 20000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		times = append(times, int64(x%(1<<36))-(1<<35)) // ±1000 years around 1970
	}
	for _, loc := range zones {
		for _, ts := range times {
			want := time.Unix(ts, 0).In(loc).Format("2006-01-02T15:04:05-07:00")
			if got := string(appendTime([]byte("x"), ts, loc)); got != "x"+want {
				t.Fatalf("appendTime(%d, %s) = %q, want %q", ts, loc, got[1:], want)
			}
		}
	}
}

// TestJSONStringWordwise checks the word-at-a-time scan against the byte-at-a-time one it shortcuts:
// every byte value at every position of strings around the word size, in otherwise plain text.
func TestJSONStringWordwise(t *testing.T) {
	for n := 1; n <= 20; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				s := []byte(strings.Repeat("abcdefgh", 3)[:n])
				s[pos] = byte(c)
				got, want := jsonString(nil, string(s)), appendQuoted(nil, string(s), 0) // no word skipped: byte by byte
				if !bytes.Equal(got, want) {
					t.Fatalf("jsonString(%q) = %s, want %s", s, got, want)
				}
			}
		}
	}
}

// TestFromJSONKeepsAStableKeyOrder: a written record (say, an invoice line sent through the API) is stored
// from a decoded map, whose iteration order Go randomises; what is stored, and so every later answer, must
// not depend on it.
func TestFromJSONKeepsAStableKeyOrder(t *testing.T) {
	body := map[string]any{"total": json.Number("1.50"), "description": "Desk", "account": map[string]any{"id": json.Number("3"), "code": "X"}, "line-num": json.Number("1")}
	for range 20 {
		o := fromJSON(body).(obj)
		var keys []string
		for _, f := range o {
			keys = append(keys, f.k)
		}
		if want := []string{"account", "description", "line-num", "total"}; !slices.Equal(keys, want) {
			t.Fatalf("keys %v, want %v", keys, want)
		}
		if acct := o[0].v.(obj); acct[0].k != "code" || acct[1].k != "id" {
			t.Fatalf("nested keys %v", acct)
		}
	}
}
