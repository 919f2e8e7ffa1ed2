package sim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMutateAndSnapshot(t *testing.T) {
	clock := newClock()
	st := start(t, Options{Now: clock.Now})
	before := st.one("/api/invoices/5")
	clock.Add(time.Minute)
	r := st.do("POST", "/__sim/mutate", "", "", `{"resource":"invoices","id":5,"set":{"status":"voided","custom_fields":{"project-code":"X"}}}`)
	if r.code != 200 {
		t.Fatalf("mutate: %d %s", r.code, r.body)
	}
	after := st.one("/api/invoices/5")
	if after["status"] != "voided" || after["custom-fields"].(map[string]any)["project-code"] != "X" {
		t.Fatalf("mutation not visible: %v", after)
	}
	if after["updated-at"].(string) <= before["updated-at"].(string) {
		t.Fatalf("updated-at did not move forward: %v -> %v", before["updated-at"], after["updated-at"])
	}
	want := clock.Now().In(time.FixedZone("", -7*3600)).Format("2006-01-02T15:04:05-07:00")
	if after["updated-at"] != want {
		t.Fatalf("updated-at %v, want the instance clock %v", after["updated-at"], want)
	}
	// Two changes within one second still give two distinct updated-at values.
	id, err := st.s.Mutate(Mutation{Resource: "invoices", ID: 5, Set: map[string]any{"status": "approved"}})
	if err != nil || id != 5 {
		t.Fatal(err)
	}
	again := st.one("/api/invoices/5")
	if again["updated-at"].(string) <= after["updated-at"].(string) {
		t.Fatalf("second change in the same second did not bump updated-at: %v", again["updated-at"])
	}
	// set_updated_at puts a change in the past (a late-arriving update).
	r = st.do("POST", "/__sim/mutate", "", "", `{"resource":"invoices","id":6,"set":{"status":"ap_hold"},"set_updated_at":"2020-01-02T03:04:05-07:00"}`)
	if r.code != 200 {
		t.Fatalf("mutate: %d %s", r.code, r.body)
	}
	if got := st.one("/api/invoices/6"); got["updated-at"] != "2020-01-02T03:04:05-07:00" || got["status"] != "ap_hold" {
		t.Fatalf("set_updated_at: %v %v", got["updated-at"], got["status"])
	}
	// Delete: gone from GET, lists and snapshot.
	if r := st.do("POST", "/__sim/mutate", "", "", `{"resource":"invoices","id":7,"delete":true}`); r.code != 200 {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	if r := st.getJSON("/api/invoices/7"); r.code != 404 {
		t.Fatalf("deleted record answered %d", r.code)
	}
	snap := st.snapshot("invoices")
	if len(snap) != 199 || slices.Contains(ids(snap), 7) {
		t.Fatalf("snapshot after delete has %d records", len(snap))
	}
	if got := ids(st.list("/api/invoices?id[gt]=5&limit=2")); !slices.Equal(got, []int64{6, 8}) {
		t.Fatalf("list skips the deleted record: %v", got)
	}
	// Create: next id, visible everywhere.
	id, err = st.s.Mutate(Mutation{Resource: "invoices", Create: true})
	if err != nil || id != 201 {
		t.Fatalf("create: %d %v", id, err)
	}
	got := st.one("/api/invoices/201")
	if got["invoice-number"] != "INV-0000201" {
		t.Fatalf("created record: %v", got["invoice-number"])
	}
	// A new record was last updated when it was created, not later than the instance's clock: a sync
	// whose window ends at that clock must be able to see it.
	now := clock.Now().In(time.FixedZone("", -7*3600)).Format("2006-01-02T15:04:05-07:00")
	if got["updated-at"] != got["created-at"] || got["created-at"] != now {
		t.Fatalf("created record: created-at %v, updated-at %v; want both the clock's %v", got["created-at"], got["updated-at"], now)
	}
	// The HTTP snapshot equals the Go one and GET renders.
	hs := st.do("GET", "/__sim/snapshot/invoices", "", "", "")
	var httpSnap []map[string]any
	if err := json.Unmarshal(hs.body, &httpSnap); err != nil || len(httpSnap) != 200 {
		t.Fatalf("HTTP snapshot: %v, %d records", err, len(httpSnap))
	}
	a, _ := json.Marshal(httpSnap[4])
	b, _ := json.Marshal(st.one("/api/invoices/5"))
	if string(a) != string(b) {
		t.Fatalf("snapshot differs from GET:\n%s\n%s", a, b)
	}
	for _, c := range []struct{ body string }{
		{`{"resource":"nothing","id":1}`}, {`{"resource":"invoices","id":99999,"set":{}}`}, {`{"resource":"invoices","id":1,"bogus":1}`},
		{`{"resource":"invoices","id":1,"set_updated_at":"never"}`}, {`not json`},
	} {
		if r := st.do("POST", "/__sim/mutate", "", "", c.body); r.code != 400 && r.code != 404 {
			t.Errorf("bad mutation %s answered %d", c.body, r.code)
		} else {
			errorsOf(t, r.body)
		}
	}
	if r := st.do("GET", "/__sim/snapshot/nothing", "", "", ""); r.code != 404 {
		t.Errorf("snapshot of unknown resource: %d", r.code)
	}
	// Reset regenerates the data set.
	if r := st.do("POST", "/__sim/reset", "", "", ""); r.code != 200 {
		t.Fatalf("reset: %d", r.code)
	}
	if got := st.one("/api/invoices/5"); got["status"] != before["status"] || len(st.snapshot("invoices")) != 200 {
		t.Fatalf("reset did not restore the data: %v", got["status"])
	}
}

func TestAdminHealthStats(t *testing.T) {
	st := start(t, Options{})
	st.getJSON("/api/invoices?limit=1")
	st.getJSON("/api/invoices?limit=-1")
	st.getJSON("/api/users/1")
	r := st.do("GET", "/__sim/health", "", "", "")
	var h struct {
		Status  string           `json:"status"`
		Records map[string]int64 `json:"records"`
	}
	if json.Unmarshal(r.body, &h); h.Status != "ok" || h.Records["invoices"] != 200 {
		t.Fatalf("health: %s", r.body)
	}
	var s Stats
	r = st.do("GET", "/__sim/stats", "", "", "")
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatal(err)
	}
	if s.Requests["invoices"]["200"] != 1 || s.Requests["invoices"]["400"] != 1 || s.Requests["users"]["200"] != 1 ||
		s.TokensMinted != 1 || s.Requests["oauth2/token"]["200"] != 1 {
		t.Fatalf("stats: %s", r.body)
	}
	if r := st.do("GET", "/__sim/nothing", "", "", ""); r.code != 404 {
		t.Fatalf("unknown admin route: %d", r.code)
	}
	if r := st.do("GET", "/api/__sim/health", st.tok, jsonType, ""); r.code != 404 {
		t.Fatalf("admin must not live under /api: %d", r.code)
	}
}

func TestThrottle(t *testing.T) {
	for _, retryAfter := range []bool{false, true} {
		st := start(t, Options{Rate: 0.001, Burst: 3, RetryAfter: retryAfter})
		codes := []int{}
		var last reply
		for i := 0; i < 5; i++ {
			last = st.getJSON("/api/currencies")
			codes = append(codes, last.code)
		}
		if !slices.Equal(codes, []int{200, 200, 200, 429, 429}) {
			t.Fatalf("codes %v, want a burst of 3 then 429", codes)
		}
		errorsOf(t, last.body)
		if got := last.header.Get("Retry-After") != ""; got != retryAfter {
			t.Fatalf("Retry-After present=%v, want %v", got, retryAfter)
		}
		if n := st.s.Stats().Throttled; n != 2 {
			t.Fatalf("throttled count %d", n)
		}
	}
	st := start(t, Options{Rate: 0.001, Burst: 1, Clients: []Client{
		{ID: "a", Secret: "a", Scopes: []string{"core.common.read"}}, {ID: "b", Secret: "b", Scopes: []string{"core.common.read"}}}})
	ta, tb := st.mint("a", "a", ""), st.mint("b", "b", "")
	if st.do("GET", "/api/currencies", ta, jsonType, "").code != 200 || st.do("GET", "/api/currencies", ta, jsonType, "").code != 429 ||
		st.do("GET", "/api/currencies", tb, jsonType, "").code != 200 {
		t.Fatalf("token buckets are not per client")
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name   string
		faults Faults
		check  func(t *testing.T, resp *http.Response, err error)
	}{
		{"500", Faults{Error500: 1}, func(t *testing.T, resp *http.Response, err error) {
			if err != nil || resp.StatusCode != 500 {
				t.Fatalf("want 500, got %v %v", resp, err)
			}
		}},
		{"503", Faults{Error503: 1}, func(t *testing.T, resp *http.Response, err error) {
			if err != nil || resp.StatusCode != 503 {
				t.Fatalf("want 503, got %v %v", resp, err)
			}
		}},
		{"extra 429", Faults{RateLimit: 1}, func(t *testing.T, resp *http.Response, err error) {
			if err != nil || resp.StatusCode != 429 {
				t.Fatalf("want 429, got %v %v", resp, err)
			}
		}},
		{"reset", Faults{Reset: 1}, func(t *testing.T, resp *http.Response, err error) {
			if err == nil {
				t.Fatalf("want a connection error, got %d", resp.StatusCode)
			}
		}},
		{"truncate", Faults{Truncate: 1}, func(t *testing.T, resp *http.Response, err error) {
			if err != nil {
				t.Fatal(err)
			}
			_, rerr := io.ReadAll(resp.Body)
			if !errors.Is(rerr, io.ErrUnexpectedEOF) {
				t.Fatalf("want an unexpected EOF, got %v", rerr)
			}
		}},
		{"slow body", Faults{SlowBody: 1, SlowBodyBy: 40 * time.Millisecond}, func(t *testing.T, resp *http.Response, err error) {
			if err != nil || resp.StatusCode != 200 {
				t.Fatal(err)
			}
			var v []any
			if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || len(v) != 7 {
				t.Fatalf("slow body is still complete: %v %d", err, len(v))
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := start(t, Options{})
			st.s.SetFaults(c.faults)
			req, _ := newReq("GET", st.ts.URL+"/api/currencies")
			req.Header.Set("Authorization", "Bearer "+st.tok)
			req.Header.Set("Accept", jsonType)
			resp, err := http.DefaultTransport.RoundTrip(req)
			c.check(t, resp, err)
			if resp != nil {
				resp.Body.Close()
			}
			total := int64(0)
			for _, n := range st.s.Stats().Faults {
				total += n
			}
			// The transport may retry a reset GET once on a reused connection.
			if total != 1 && !(c.name == "reset" && total == 2) {
				t.Fatalf("faults injected %v, want 1", st.s.Stats().Faults)
			}
			// Token and admin endpoints are never faulted.
			if r := st.do("GET", "/__sim/health", "", "", ""); r.code != 200 {
				t.Fatalf("admin faulted: %d", r.code)
			}
		})
	}
	// Fault rates are shares: with a seed, 30% 503 gives a stable count near 30 of 100.
	st := start(t, Options{Seed: 9, Faults: Faults{Error503: 0.3}})
	n := 0
	for i := 0; i < 100; i++ {
		if st.getJSON("/api/currencies").code == 503 {
			n++
		}
	}
	if n < 15 || n > 45 {
		t.Fatalf("%d of 100 requests failed with a 30%% rate", n)
	}
	if r := st.do("PUT", "/__sim/faults", "", "", `{"error_503":0}`); r.code != 200 {
		t.Fatalf("PUT faults: %d %s", r.code, r.body)
	}
	for i := 0; i < 20; i++ {
		if c := st.getJSON("/api/currencies").code; c != 200 {
			t.Fatalf("faults still injected after clearing: %d", c)
		}
	}
	if r := st.do("PUT", "/__sim/faults", "", "", `{"error_500":2}`); r.code != 400 {
		t.Fatalf("rate above 1 accepted: %d", r.code)
	}
}

func TestLatency(t *testing.T) {
	st := start(t, Options{Latency: 30 * time.Millisecond})
	t0 := time.Now()
	st.getJSON("/api/currencies")
	slow := time.Since(t0)
	t1 := time.Now()
	st.do("GET", "/__sim/health", "", "", "")
	if slow < 30*time.Millisecond {
		t.Fatalf("latency not applied: %v (admin %v)", slow, time.Since(t1))
	}
}

func TestChurn(t *testing.T) {
	st := start(t, Options{})
	liveTotal := func() int {
		n := 0
		for _, res := range Resources() {
			n += st.s.Count(res)
		}
		return n
	}
	before := liveTotal()
	if r := st.do("PUT", "/__sim/churn", "", "", `{"per_second":500}`); r.code != 200 {
		t.Fatalf("PUT churn: %d %s", r.code, r.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := st.s.Stats().Churn
		if c["create"] > 0 && c["update"] > 0 && c["delete"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("churn made no creates, updates and deletes: %v", c)
		}
		time.Sleep(10 * time.Millisecond)
	}
	st.s.SetChurn(0)
	c := st.s.Stats().Churn
	if got, want := liveTotal(), before+int(c["create"]-c["delete"]); got != want {
		t.Fatalf("live records %d, want %d after churn %v", got, want, c)
	}
	r := st.do("GET", "/__sim/churn", "", "", "")
	if !strings.Contains(string(r.body), `"per_second":0`) {
		t.Fatalf("GET churn after stop: %s", r.body)
	}
}
