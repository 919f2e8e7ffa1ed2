package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is an instance clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 10, 18, 30, 0, 0, time.UTC)} }

type simT struct {
	t   *testing.T
	s   *Server
	ts  *httptest.Server
	tok string
}

func start(t *testing.T, opts Options) *simT {
	t.Helper()
	if opts.Rate == 0 {
		opts.Rate = -1 // tests that need throttling turn it on
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	st := &simT{t: t, s: s, ts: ts}
	c := s.DefaultClient()
	st.tok = st.mint(c.ID, c.Secret, "")
	return st
}

func (st *simT) tokenRequest(form url.Values, basicID, basicSecret string) (int, map[string]any) {
	st.t.Helper()
	req, _ := http.NewRequest("POST", st.ts.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(basicID, basicSecret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		st.t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		st.t.Fatalf("token response is not JSON: %v", err)
	}
	return resp.StatusCode, m
}

func (st *simT) mint(id, secret, scope string) string {
	st.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	if scope != "" {
		form.Set("scope", scope)
	}
	code, m := st.tokenRequest(form, "", "")
	if code != 200 {
		st.t.Fatalf("minting a token: %d %v", code, m)
	}
	return m["access_token"].(string)
}

type reply struct {
	code   int
	body   []byte
	header http.Header
}

func (st *simT) do(method, path, tok, accept, body string) reply {
	st.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, st.ts.URL+path, rd)
	if err != nil {
		st.t.Fatalf("request %s: %v", path, err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if strings.HasPrefix(body, "<") {
		req.Header.Set("Content-Type", "application/xml")
	} else if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		st.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		st.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return reply{resp.StatusCode, b, resp.Header}
}

const jsonType = "application/json"

func (st *simT) getJSON(path string) reply { return st.do("GET", path, st.tok, jsonType, "") }

// list decodes a JSON list response and fails the test on any other status.
func (st *simT) list(path string) []map[string]any {
	st.t.Helper()
	r := st.getJSON(path)
	if r.code != 200 {
		st.t.Fatalf("GET %s: %d %s", path, r.code, r.body)
	}
	var out []map[string]any
	if err := json.Unmarshal(r.body, &out); err != nil {
		st.t.Fatalf("GET %s: not a JSON array: %v", path, err)
	}
	return out
}

// listAll pages with offset until a short page, as a simple client would.
func (st *simT) listAll(path string) []map[string]any {
	st.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var all []map[string]any
	for off := 0; ; off += 50 {
		page := st.list(path + sep + "offset=" + itoa(off))
		all = append(all, page...)
		if len(page) < 50 {
			return all
		}
	}
}

func (st *simT) one(path string) map[string]any {
	st.t.Helper()
	r := st.getJSON(path)
	if r.code != 200 {
		st.t.Fatalf("GET %s: %d %s", path, r.code, r.body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		st.t.Fatalf("GET %s: not a JSON object: %v", path, err)
	}
	return m
}

func (st *simT) snapshot(res string) []map[string]any {
	st.t.Helper()
	out, err := st.s.Snapshot(res)
	if err != nil {
		st.t.Fatal(err)
	}
	return out
}

// errorsOf decodes a Coupa JSON error body {"errors":{"field":["message"]}}.
func errorsOf(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	var m struct {
		Errors map[string][]string `json:"errors"`
	}
	if err := json.Unmarshal(b, &m); err != nil || len(m.Errors) == 0 {
		t.Fatalf("not a Coupa error body: %s", b)
	}
	return m.Errors
}

func itoa(n int) string { return strings.TrimSpace(strings.ReplaceAll(jsonNum(n), "\n", "")) }

func jsonNum(n int) string { b, _ := json.Marshal(n); return string(b) }

func ids(recs []map[string]any) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = int64(r["id"].(float64))
	}
	return out
}

func newReq(method, u string) (*http.Request, error) { return http.NewRequest(method, u, nil) }

func doReq(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return reply{resp.StatusCode, b, resp.Header}
}
