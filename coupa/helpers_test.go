package coupa

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testSecret = "s3cr3t-Zq9+/xyz"

// fakeCoupa is a small stand-in for a Coupa instance: a token endpoint and a records endpoint that
// understands limit, offset and id[gt]. Hooks let each test inject faults.
type fakeCoupa struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	records []Record
	tokens  map[string]bool // valid access tokens
	nextTok int

	tokenHits atomic.Int64
	apiHits   atomic.Int64
	// tokenForms records each token request's form (for scope assertions).
	tokenForms []map[string]string

	// tokenHook may answer a token request itself (return true).
	tokenHook func(w http.ResponseWriter, r *http.Request, n int64) bool
	// apiHook may answer an API request itself (return true).
	apiHook func(w http.ResponseWriter, r *http.Request, n int64) bool
	// shuffle answers each page in reverse id order.
	shuffle   bool
	tokenWait time.Duration
	// slow401 delays refusals by up to 40ms so that some arrive after a re-mint.
	slow401   bool
	expiresIn any
	tokenType string
}

// firstOnly is a hook that answers the first request with fault and lets every later one through to the
// fake: the shape of a transient failure the client must retry past.
func firstOnly(fault func(w http.ResponseWriter, r *http.Request)) func(http.ResponseWriter, *http.Request, int64) bool {
	return func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n != 1 {
			return false
		}
		fault(w, r)
		return true
	}
}

func newFakeCoupa(t *testing.T, nrec int) *fakeCoupa {
	t.Helper()
	f := &fakeCoupa{t: t, tokens: map[string]bool{}, tokenType: "bearer", expiresIn: 86400}
	for i := 1; i <= nrec; i++ {
		// Ids with gaps, as real tables have after deletes.
		id := int64(i*3 + 1000)
		f.records = append(f.records, Record{"id": json.Number(strconv.FormatInt(id, 10)), "total": "10.00"})
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCoupa) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth2/token" {
		n := f.tokenHits.Add(1)
		_ = r.ParseForm()
		form := map[string]string{}
		for k := range r.PostForm {
			form[k] = r.PostForm.Get(k)
		}
		if u, p, ok := r.BasicAuth(); ok {
			form["basic_user"], form["basic_pass"] = u, p
		}
		f.mu.Lock()
		f.tokenForms = append(f.tokenForms, form)
		f.mu.Unlock()
		if f.tokenHook != nil && f.tokenHook(w, r, n) {
			return
		}
		if f.tokenWait > 0 {
			time.Sleep(f.tokenWait)
		}
		f.mu.Lock()
		f.nextTok++
		tok := fmt.Sprintf("tok%d", f.nextTok)
		f.tokens[tok] = true
		f.mu.Unlock()
		body := map[string]any{"access_token": tok, "token_type": f.tokenType}
		if f.expiresIn != nil {
			body["expires_in"] = f.expiresIn
		}
		if s, ok := form["scope"]; ok {
			body["scope"] = s
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
		return
	}
	n := f.apiHits.Add(1)
	if f.apiHook != nil && f.apiHook(w, r, n) {
		return
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	ok := f.tokens[tok]
	f.mu.Unlock()
	if !ok && r.Header.Get("X-COUPA-API-KEY") == "" {
		if f.slow401 {
			time.Sleep(time.Duration(n%5) * 10 * time.Millisecond)
		}
		http.Error(w, `{"errors":["unauthorized"]}`, http.StatusUnauthorized)
		return
	}
	f.list(w, r)
}

func (f *fakeCoupa) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 50 {
		limit = 50
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	after, _ := strconv.ParseInt(q.Get("id[gt]"), 10, 64)
	f.mu.Lock()
	var page []Record
	skipped := 0
	for _, rec := range f.records {
		id, _ := rec.ID()
		if id <= after {
			continue
		}
		if skipped < offset {
			skipped++
			continue
		}
		page = append(page, rec)
		if len(page) == limit {
			break
		}
	}
	f.mu.Unlock()
	if f.shuffle {
		for i, j := 0, len(page)-1; i < j; i, j = i+1, j-1 {
			page[i], page[j] = page[j], page[i]
		}
	}
	if page == nil {
		page = []Record{}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(page)
}

// revokeAll makes every token issued so far invalid, as an expiry or a rotation on the Coupa side would.
func (f *fakeCoupa) revokeAll() {
	f.mu.Lock()
	f.tokens = map[string]bool{}
	f.mu.Unlock()
}

func (f *fakeCoupa) forms() []map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]string(nil), f.tokenForms...)
}

// testClient builds a client for srv with fast backoff and a generous rate, so tests are quick.
func testClient(t *testing.T, url string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		Host:         url,
		ClientID:     "client-1",
		ClientSecret: testSecret,
		Rate:         1000,
		Burst:        100,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.backoffBase = time.Millisecond
	c.backoffCap = 5 * time.Millisecond
	return c
}

// logBuffer is a slog handler target safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func collect(t *testing.T, seq func(func(Record, error) bool)) ([]Record, error) {
	t.Helper()
	var out []Record
	var err error
	seq(func(r Record, e error) bool {
		if e != nil {
			err = e
			return false
		}
		out = append(out, r)
		return true
	})
	return out, err
}
