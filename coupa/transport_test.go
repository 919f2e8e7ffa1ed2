package coupa

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEveryRequestSendsAcceptAndUserAgent(t *testing.T) {
	old := Version
	Version = "1.2.3"
	t.Cleanup(func() { Version = old })
	f := newFakeCoupa(t, 1)
	var tokAccept, accept, ua, tokUA string
	f.tokenHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		tokAccept, tokUA = r.Header.Get("Accept"), r.Header.Get("User-Agent")
		return false
	}
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		accept, ua = r.Header.Get("Accept"), r.Header.Get("User-Agent")
		return false
	}
	c := testClient(t, f.srv.URL, nil)
	if _, _, err := c.ListPage(context.Background(), "invoices", nil); err != nil {
		t.Fatal(err)
	}
	if accept != "application/json" || tokAccept != "application/json" {
		t.Errorf("Accept = %q (api), %q (token); want application/json", accept, tokAccept)
	}
	if ua != "coupa-connector/1.2.3" || tokUA != ua {
		t.Errorf("User-Agent = %q (api), %q (token)", ua, tokUA)
	}
}

func Test429RetryAfterWaitsAtLeastThatLong(t *testing.T) {
	f := newFakeCoupa(t, 2)
	var first, second time.Time
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		second = time.Now()
		return false
	}
	c := testClient(t, f.srv.URL, nil)
	recs, resp, err := c.ListPage(context.Background(), "invoices", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || resp.Attempts != 2 {
		t.Errorf("records %d, attempts %d; want 2 and 2", len(recs), resp.Attempts)
	}
	if gap := second.Sub(first); gap < time.Second {
		t.Errorf("retried after %v, want >= 1s (Retry-After)", gap)
	}
	if s := c.Stats(); s.RateLimited != 1 || s.Retries != 1 {
		t.Errorf("stats = %+v, want RateLimited 1, Retries 1", s)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Mon, 23 Nov 2026 12:00:07 GMT": 7 * time.Second,
		"Mon, 23 Nov 2026 11:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func Test503StormShorterThanBudgetSucceeds(t *testing.T) {
	f := newFakeCoupa(t, 4)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n <= 5 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.MaxRetries = 8 })
	recs, resp, err := c.ListPage(context.Background(), "invoices", nil)
	if err != nil {
		t.Fatalf("ListPage: %v", err)
	}
	if len(recs) != 4 || resp.Attempts != 6 || c.Stats().Retries != 5 {
		t.Errorf("records %d attempts %d retries %d; want 4, 6, 5", len(recs), resp.Attempts, c.Stats().Retries)
	}
}

func Test503StormLongerThanBudgetIsAPIError(t *testing.T) {
	f := newFakeCoupa(t, 4)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}
	c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.MaxRetries = 3 })
	_, _, err := c.ListPage(context.Background(), "invoices", nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 503 {
		t.Fatalf("err = %v, want *APIError 503", err)
	}
	if n := f.apiHits.Load(); n != 4 {
		t.Errorf("attempts = %d, want 1 + MaxRetries = 4", n)
	}
}

func Test429BeyondBudgetIsRateLimited(t *testing.T) {
	f := newFakeCoupa(t, 1)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}
	c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.MaxRetries = 2 })
	_, _, err := c.ListPage(context.Background(), "invoices", nil)
	if !IsRateLimited(err) || f.apiHits.Load() != 3 {
		t.Errorf("err = %v after %d attempts; want rate limited after 3", err, f.apiHits.Load())
	}
}

func TestCrossHostRedirectRefused(t *testing.T) {
	var otherHits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		_, _ = w.Write([]byte("[]"))
	}))
	defer other.Close()
	f := newFakeCoupa(t, 1)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if r.URL.Path == "/api/elsewhere" {
			http.Redirect(w, r, other.URL+"/api/invoices", http.StatusFound)
			return true
		}
		if r.URL.Path == "/api/moved" {
			http.Redirect(w, r, "/api/invoices", http.StatusMovedPermanently)
			return true
		}
		return false
	}
	c := testClient(t, f.srv.URL, nil)
	_, _, err := c.ListPage(context.Background(), "elsewhere", nil)
	if err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("err = %v, want a refused redirect", err)
	}
	if otherHits.Load() != 0 {
		t.Error("the other host was contacted")
	}
	recs, _, err := c.ListPage(context.Background(), "moved", nil)
	if err != nil || len(recs) != 1 {
		t.Errorf("same-host redirect: %d records, err %v; want it followed", len(recs), err)
	}
}

func TestPostNotRetriedOn503UnlessIdempotent(t *testing.T) {
	for _, idem := range []bool{false, true} {
		f := newFakeCoupa(t, 0)
		f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
			if n == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id": 7}`))
			return true
		}
		c := testClient(t, f.srv.URL, nil)
		rec, _, err := c.Create(context.Background(), "invoices", map[string]any{"invoice-number": "A1"}, &WriteOptions{Idempotent: idem})
		if idem {
			if err != nil || f.apiHits.Load() != 2 {
				t.Errorf("idempotent POST: err %v after %d attempts; want success after 2", err, f.apiHits.Load())
			}
			if id, _ := rec.ID(); id != 7 {
				t.Errorf("created record = %v", rec)
			}
		} else {
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != 503 || f.apiHits.Load() != 1 {
				t.Errorf("plain POST: err %v after %d attempts; want 503 after exactly 1", err, f.apiHits.Load())
			}
		}
	}
}

func TestPutRetriedOn503(t *testing.T) {
	f := newFakeCoupa(t, 0)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		_, _ = w.Write([]byte(`{"id": 7, "exported": true}`))
		return true
	}
	c := testClient(t, f.srv.URL, nil)
	rec, _, err := c.MarkExported(context.Background(), "invoices", 7)
	if err != nil || rec["exported"] != true || f.apiHits.Load() != 2 {
		t.Errorf("rec %v err %v hits %d", rec, err, f.apiHits.Load())
	}
}

func TestInvalidJSONBodyRetriedThenTypedError(t *testing.T) {
	t.Run("always truncated", func(t *testing.T) {
		f := newFakeCoupa(t, 0)
		f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`[{"id":1,"total":"1`))
			return true
		}
		c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.MaxRetries = 2 })
		_, _, err := c.ListPage(context.Background(), "invoices", nil)
		var ae *APIError
		if !errors.As(err, &ae) || !strings.Contains(ae.Message, "not valid JSON") {
			t.Fatalf("err = %v, want *APIError about invalid JSON", err)
		}
		if f.apiHits.Load() != 3 {
			t.Errorf("attempts = %d, want 3", f.apiHits.Load())
		}
	})
	t.Run("complete but not a list is not retried", func(t *testing.T) {
		f := newFakeCoupa(t, 0)
		f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":1,"total":"1.00"}`))
			return true
		}
		c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.MaxRetries = 5 })
		_, _, err := c.ListPage(context.Background(), "invoices", nil)
		var ae *APIError
		if !errors.As(err, &ae) || !strings.Contains(ae.Message, "expected shape") {
			t.Fatalf("err = %v, want *APIError about the shape", err)
		}
		if f.apiHits.Load() != 1 {
			t.Errorf("attempts = %d, want 1: a complete answer comes back the same", f.apiHits.Load())
		}
	})
	t.Run("truncated once", func(t *testing.T) {
		f := newFakeCoupa(t, 3)
		f.apiHook = firstOnly(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`[{"id":1`))
		})
		c := testClient(t, f.srv.URL, nil)
		recs, _, err := c.ListPage(context.Background(), "invoices", nil)
		if err != nil || len(recs) != 3 {
			t.Errorf("records %d err %v; want 3 after a retry", len(recs), err)
		}
	})
}

func TestHTMLProxyPageIsAPIErrorNotRetried(t *testing.T) {
	f := newFakeCoupa(t, 0)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<html>\n<body>\x1b[31mAccess denied by proxy</body></html>"))
		return true
	}
	c := testClient(t, f.srv.URL, nil)
	_, _, err := c.ListPage(context.Background(), "invoices", nil)
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *APIError", err)
	}
	msg := err.Error()
	for _, want := range []string{"non-JSON", "text/html", "Access denied", "proxy"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.ContainsAny(msg, "\n\x1b") {
		t.Errorf("error not sanitized: %q", msg)
	}
	if f.apiHits.Load() != 1 {
		t.Errorf("attempts = %d, want 1", f.apiHits.Load())
	}
}

func TestHTMLErrorPageFromProxyOn502(t *testing.T) {
	f := newFakeCoupa(t, 0)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("<html><h1>Blocked by corporate proxy</h1></html>"))
		return true
	}
	c := testClient(t, f.srv.URL, nil)
	_, _, err := c.ListPage(context.Background(), "invoices", nil)
	if !IsForbidden(err) || !strings.Contains(err.Error(), "non-JSON") || !strings.Contains(err.Error(), "Blocked by corporate proxy") {
		t.Errorf("err = %v", err)
	}
}

func TestConnectionResetIsRetried(t *testing.T) {
	f := newFakeCoupa(t, 2)
	f.apiHook = firstOnly(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST instead of FIN
			}
			conn.Close()
		}
	})
	// Without keep-alive, net/http cannot retry on its own: the retry seen here is ours.
	c := testClient(t, f.srv.URL, func(cfg *Config) {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	})
	recs, resp, err := c.ListPage(context.Background(), "invoices", nil)
	if err != nil || len(recs) != 2 || resp.Attempts != 2 || f.apiHits.Load() != 2 {
		t.Errorf("records %d err %v; want 2 after one retry", len(recs), err)
	}
}

func TestTruncatedBodyMidStreamIsRetried(t *testing.T) {
	f := newFakeCoupa(t, 2)
	// The handler stops short of its Content-Length: unexpected EOF on the client.
	f.apiHook = firstOnly(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = w.Write([]byte(`[{"id":1}`))
	})
	c := testClient(t, f.srv.URL, nil)
	recs, _, err := c.ListPage(context.Background(), "invoices", nil)
	if err != nil || len(recs) != 2 {
		t.Errorf("records %d err %v", len(recs), err)
	}
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	f := newFakeCoupa(t, 2)
	f.apiHook = firstOnly(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.Timeout = 100 * time.Millisecond })
	recs, resp, err := c.ListPage(context.Background(), "invoices", nil)
	if err != nil || len(recs) != 2 || resp.Attempts != 2 {
		t.Errorf("records %d err %v", len(recs), err)
	}
}

func TestContextCancelledWhileWaiting(t *testing.T) {
	f := newFakeCoupa(t, 0)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}
	c := testClient(t, f.srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, _, err := c.ListPage(ctx, "invoices", nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if f.apiHits.Load() != 1 {
		t.Errorf("attempts = %d, want 1", f.apiHits.Load())
	}
}

func TestPostNotRetriedOnReset(t *testing.T) {
	f := newFakeCoupa(t, 0)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return true
	}
	c := testClient(t, f.srv.URL, nil)
	_, _, err := c.Create(context.Background(), "invoices", map[string]any{}, nil)
	if err == nil || f.apiHits.Load() != 1 {
		t.Errorf("err %v after %d attempts; want an error after exactly 1", err, f.apiHits.Load())
	}
}

func TestResponseBodyIsLimited(t *testing.T) {
	f := newFakeCoupa(t, 0)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		_, _ = w.Write([]byte("[" + strings.Repeat(`{"id":1},`, 1000) + `{"id":2}]`))
		return true
	}
	c := testClient(t, f.srv.URL, nil)
	c.maxBody = 1024
	_, _, err := c.ListPage(context.Background(), "invoices", nil)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v, want a size error", err)
	}
	if f.apiHits.Load() != 1 {
		t.Errorf("oversized answer retried %d times", f.apiHits.Load()-1)
	}
}

func TestResponseDateFromServer(t *testing.T) {
	f := newFakeCoupa(t, 1)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.Header().Set("Date", "Tue, 03 Feb 2026 04:05:06 GMT")
		return false
	}
	c := testClient(t, f.srv.URL, nil)
	_, resp, err := c.ListPage(context.Background(), "invoices", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC); !resp.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", resp.Date, want)
	}
}

func TestStatsCountRequestsBytesLatency(t *testing.T) {
	f := newFakeCoupa(t, 3)
	c := testClient(t, f.srv.URL, nil)
	if _, _, err := c.ListPage(context.Background(), "invoices", nil); err != nil {
		t.Fatal(err)
	}
	s := c.Stats()
	if s.Requests != 2 || s.TokenMints != 1 || s.Bytes < 50 || s.Latency <= 0 || s.Retries != 0 {
		t.Errorf("stats = %+v; want 2 requests (token + page), 1 mint, bytes and latency counted", s)
	}
}

func TestRateLimiterThrottles(t *testing.T) {
	f := newFakeCoupa(t, 0)
	c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.Rate = 20; cfg.Burst = 1 })
	start := time.Now()
	for range 6 { // token + 6 pages = 7 requests; 6 of them wait 50ms each
		if _, _, err := c.ListPage(context.Background(), "invoices", nil); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("7 requests at 20/s burst 1 took %v, want >= 250ms", el)
	}
}

func TestProxyFromConfig(t *testing.T) {
	var seen atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.String())
		if r.URL.Path == "/oauth2/token" {
			_, _ = w.Write([]byte(`{"access_token":"t","token_type":"bearer"}`))
			return
		}
		_, _ = w.Write([]byte(`[{"id":1}]`))
	}))
	defer proxy.Close()
	c, err := New(Config{Host: "http://localhost:9", ClientID: "a", ClientSecret: "b", Proxy: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := c.ListPage(context.Background(), "invoices", nil)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %d err %v", len(recs), err)
	}
	if got, _ := seen.Load().(string); !strings.HasPrefix(got, "http://localhost:9/api/invoices") {
		t.Errorf("proxy saw %q, want the absolute target URL", got)
	}
	if _, err := New(Config{Host: "acme.coupahost.com", APIKey: "k", Proxy: "http://[::1"}); err == nil {
		t.Error("malformed proxy accepted")
	}
}

func TestCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/token" {
			_, _ = w.Write([]byte(`{"access_token":"t","token_type":"bearer"}`))
			return
		}
		_, _ = w.Write([]byte(`[{"id":1}]`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	caPath := filepath.Join(dir, "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caPath, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	host := srv.URL

	c, err := New(Config{Host: host, ClientID: "a", ClientSecret: "b"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ListPage(context.Background(), "invoices", nil)
	if err == nil || !strings.Contains(err.Error(), "--ca-file") {
		t.Errorf("untrusted cert: err = %v, want advice to pass --ca-file", err)
	}

	c, err = New(Config{Host: host, ClientID: "a", ClientSecret: "b", CAFile: caPath})
	if err != nil {
		t.Fatal(err)
	}
	if recs, _, err := c.ListPage(context.Background(), "invoices", nil); err != nil || len(recs) != 1 {
		t.Errorf("with CA file: records %d err %v", len(recs), err)
	}

	if _, err := New(Config{Host: host, APIKey: "k", CAFile: filepath.Join(dir, "missing.pem")}); err == nil || !strings.Contains(err.Error(), "cannot read CA bundle") {
		t.Errorf("missing CA file: err = %v", err)
	}
	junk := filepath.Join(dir, "junk.pem")
	_ = os.WriteFile(junk, []byte("not a cert"), 0o600)
	if _, err := New(Config{Host: host, APIKey: "k", CAFile: junk}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("junk CA file: err = %v", err)
	}
}

func TestConnectionRefusedFailsFastWithHint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := testClient(t, "http://"+addr, nil)
	err = c.Authenticate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "check the host") {
		t.Errorf("err = %v", err)
	}
	if s := c.Stats(); s.Retries != 0 {
		t.Errorf("refused connection retried %d times", s.Retries)
	}
}

// TestBodyReadCountsBytes guards Stats.Bytes against counting only headers.
func TestBodyReadCountsBytes(t *testing.T) {
	body := "[" + strings.Repeat(`{"id":1},`, 99) + `{"id":2}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	c := testClient(t, srv.URL, func(cfg *Config) { cfg.ClientID, cfg.ClientSecret, cfg.APIKey = "", "", "k" })
	if _, _, err := c.ListPage(context.Background(), "x", nil); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().Bytes; got != int64(len(body)) {
		t.Errorf("Bytes = %d, want %d", got, len(body))
	}
}

func Test429PausesEveryGoroutineOfTheClient(t *testing.T) {
	f := newFakeCoupa(t, 1)
	var limited time.Time
	var mu sync.Mutex
	var others []time.Time
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if r.URL.Query().Get("who") == "a" && n == 1 {
			mu.Lock()
			limited = time.Now()
			mu.Unlock()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		if r.URL.Query().Get("who") == "b" {
			mu.Lock()
			others = append(others, time.Now())
			mu.Unlock()
		}
		return false
	}
	c := testClient(t, f.srv.URL, nil)
	ctx := context.Background()
	if err := c.Authenticate(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ListPage(ctx, "invoices", &ListOptions{Params: url.Values{"who": {"a"}}})
		done <- err
	}()
	for f.apiHits.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if _, _, err := c.ListPage(ctx, "invoices", &ListOptions{Params: url.Values{"who": {"b"}}}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(others) != 1 || others[0].Sub(limited) < time.Second {
		t.Errorf("other goroutine's request reached the server %v after the 429, want >= 1s", others[0].Sub(limited))
	}
}

// An error names the request by its path and filters, not by the kilobyte-long fields projection, so that
// it stays a readable line.
func TestErrorNamesRequestBriefly(t *testing.T) {
	f := newFakeCoupa(t, 0)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.WriteHeader(http.StatusNotFound)
		return true
	}
	c := testClient(t, f.srv.URL, nil)
	var fields []any
	for i := 0; i < 100; i++ {
		fields = append(fields, fmt.Sprintf("custom-field-%d", i))
	}
	_, _, err := c.ListPage(context.Background(), "invoices", &ListOptions{Fields: fields,
		Filters: []Filter{{Field: "status", Value: "approved"}}})
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *APIError", err)
	}
	if strings.Contains(ae.Path, "custom-field") || !strings.Contains(ae.Path, "status=approved") {
		t.Errorf("Path = %q: want the filters without the fields projection", ae.Path)
	}
	if n := len(err.Error()); n > 300 {
		t.Errorf("error is %d characters: %s", n, err)
	}
}
