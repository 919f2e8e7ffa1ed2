package coupa

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"` + code + `","error_description":"` + desc + `"}`))
}

func TestScopeFallbackHappensOnceOnlyOnInvalidScope(t *testing.T) {
	f := newFakeCoupa(t, 3)
	f.tokenHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if r.PostForm.Get("scope") != "" {
			writeOAuthError(w, 400, "invalid_scope", "core.invoice.read is not granted")
			return true
		}
		return false
	}
	logger, logs := newTestLogger()
	c := testClient(t, f.srv.URL, func(cfg *Config) {
		cfg.Scopes = []string{"core.invoice.read", "core.supplier.read"}
		cfg.Logger = logger
	})
	if err := c.Authenticate(context.Background()); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	forms := f.forms()
	if len(forms) != 2 {
		t.Fatalf("token requests = %d, want 2 (scoped, then unscoped)", len(forms))
	}
	if got := forms[0]["scope"]; got != "core.invoice.read core.supplier.read" {
		t.Errorf("first scope = %q, want space-separated scopes", got)
	}
	if _, has := forms[1]["scope"]; has {
		t.Errorf("fallback request still sent scope=%q", forms[1]["scope"])
	}
	if !strings.Contains(logs.String(), "invalid_scope") || !strings.Contains(logs.String(), "core.invoice.read is not granted") {
		t.Errorf("no warning naming the refusal in logs:\n%s", logs)
	}
	// A later re-mint remembers the refusal instead of paying for it again.
	c.auth.invalidate(c.auth.gen)
	if err := c.Authenticate(context.Background()); err != nil {
		t.Fatalf("second Authenticate: %v", err)
	}
	if n := f.tokenHits.Load(); n != 3 {
		t.Errorf("token requests after re-mint = %d, want 3", n)
	}
}

func TestScopeFallbackNotTriedForOtherErrors(t *testing.T) {
	for _, code := range []string{"invalid_request", "invalid_grant"} {
		t.Run(code, func(t *testing.T) {
			f := newFakeCoupa(t, 0)
			f.tokenHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
				writeOAuthError(w, 400, code, "nope")
				return true
			}
			c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.Scopes = []string{"core.invoice.read"} })
			err := c.Authenticate(context.Background())
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Code != code {
				t.Fatalf("err = %v, want *AuthError with code %s", err, code)
			}
			if n := f.tokenHits.Load(); n != 1 {
				t.Errorf("token requests = %d, want exactly 1 (no fallback for %s)", n, code)
			}
		})
	}
}

func TestScopeOmittedWhenEmpty(t *testing.T) {
	f := newFakeCoupa(t, 0)
	c := testClient(t, f.srv.URL, nil)
	if err := c.Authenticate(context.Background()); err != nil {
		t.Fatal(err)
	}
	form := f.forms()[0]
	if _, has := form["scope"]; has {
		t.Errorf("scope sent although none configured: %q", form["scope"])
	}
	if form["grant_type"] != "client_credentials" || form["client_id"] != "client-1" || form["client_secret"] != testSecret {
		t.Errorf("form = %v, want client credentials in the body", form)
	}
}

func TestAuthStyleInHeaderUsesBasic(t *testing.T) {
	f := newFakeCoupa(t, 0)
	var authz string
	f.tokenHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		authz = r.Header.Get("Authorization")
		return false
	}
	c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.AuthStyle = AuthStyleInHeader })
	if err := c.Authenticate(context.Background()); err != nil {
		t.Fatal(err)
	}
	form := f.forms()[0]
	if _, has := form["client_secret"]; has {
		t.Error("secret sent in the body with AuthStyleInHeader")
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(authz, "Basic "))
	if want := "client-1:" + strings.NewReplacer("+", "%2B", "/", "%2F").Replace(testSecret); string(raw) != want {
		t.Errorf("basic credentials = %q, want %q", raw, want)
	}
}

func TestAuthStyleAutoFallsBackToBasicAndRemembers(t *testing.T) {
	f := newFakeCoupa(t, 0)
	f.tokenHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if _, _, ok := r.BasicAuth(); !ok {
			writeOAuthError(w, 401, "invalid_client", "client authentication failed")
			return true
		}
		return false
	}
	c := testClient(t, f.srv.URL, nil)
	if err := c.Authenticate(context.Background()); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	c.auth.invalidate(c.auth.gen)
	if err := c.Authenticate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// body (refused), Basic (ok), then Basic straight away.
	if n := f.tokenHits.Load(); n != 3 {
		t.Errorf("token requests = %d, want 3", n)
	}
}

func TestInvalidClientIsAuthErrorNamingTheFix(t *testing.T) {
	f := newFakeCoupa(t, 0)
	f.tokenHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		writeOAuthError(w, 401, "invalid_client", "bad")
		return true
	}
	c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.AuthStyle = AuthStyleInParams })
	err := c.Authenticate(context.Background())
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Code != "invalid_client" || !IsAuth(err) {
		t.Fatalf("err = %v, want *AuthError invalid_client", err)
	}
	if !strings.Contains(err.Error(), "COUPA_CLIENT_ID/COUPA_CLIENT_SECRET") {
		t.Errorf("error does not say what to check: %v", err)
	}
	if f.tokenHits.Load() != 1 {
		t.Errorf("token requests = %d, want 1 with AuthStyleInParams", f.tokenHits.Load())
	}
}

func Test401MidListRemintsOnceAndListCompletes(t *testing.T) {
	f := newFakeCoupa(t, 120)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n == 2 {
			// Coupa drops the token between page 1 and page 2.
			f.revokeAll()
		}
		return false
	}
	c := testClient(t, f.srv.URL, nil)
	recs, err := collect(t, c.List(context.Background(), "invoices", nil))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(recs) != 120 {
		t.Errorf("records = %d, want 120", len(recs))
	}
	if n := f.tokenHits.Load(); n != 2 {
		t.Errorf("token requests = %d, want 2 (initial + one re-mint)", n)
	}
	if s := c.Stats(); s.TokenMints != 2 {
		t.Errorf("Stats.TokenMints = %d, want 2", s.TokenMints)
	}
}

func TestSecond401IsAuthError(t *testing.T) {
	f := newFakeCoupa(t, 5)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.WriteHeader(http.StatusUnauthorized)
		return true
	}
	c := testClient(t, f.srv.URL, nil)
	_, _, err := c.ListPage(context.Background(), "invoices", nil)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.StatusCode != 401 {
		t.Fatalf("err = %v, want *AuthError 401", err)
	}
	if f.tokenHits.Load() != 2 || f.apiHits.Load() != 2 {
		t.Errorf("token hits = %d, api hits = %d; want 2 and 2", f.tokenHits.Load(), f.apiHits.Load())
	}
}

func TestConcurrentListsShareOneToken(t *testing.T) {
	f := newFakeCoupa(t, 60)
	f.tokenWait = 50 * time.Millisecond // so that all goroutines arrive while the first mint is in flight
	c := testClient(t, f.srv.URL, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	counts := make(chan int, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs, err := collect(t, c.List(context.Background(), "invoices", nil))
			errs <- err
			counts <- len(recs)
		}()
	}
	wg.Wait()
	close(errs)
	close(counts)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for n := range counts {
		if n != 60 {
			t.Errorf("a List returned %d records, want 60", n)
		}
	}
	if n := f.tokenHits.Load(); n != 1 {
		t.Errorf("token endpoint hit %d times, want 1", n)
	}
}

func TestTokenRenewedBeforeExpiry(t *testing.T) {
	for _, tc := range []struct {
		name       string
		expiresIn  any
		stillValid time.Duration
		renewed    time.Duration
	}{
		{"expires_in number", 100, 79 * time.Second, 81 * time.Second},
		{"expires_in string", "100", 79 * time.Second, 81 * time.Second},
		{"expires_in absent", nil, 19*time.Hour + 59*time.Minute, 20*time.Hour + time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCoupa(t, 0)
			f.expiresIn = tc.expiresIn
			c := testClient(t, f.srv.URL, nil)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			c.now = func() time.Time { return now }
			ctx := context.Background()
			if err := c.Authenticate(ctx); err != nil {
				t.Fatal(err)
			}
			now = now.Add(tc.stillValid)
			_ = c.Authenticate(ctx)
			if n := f.tokenHits.Load(); n != 1 {
				t.Fatalf("re-minted at %v: hits %d", tc.stillValid, n)
			}
			now = now.Add(tc.renewed - tc.stillValid)
			_ = c.Authenticate(ctx)
			if n := f.tokenHits.Load(); n != 2 {
				t.Fatalf("not renewed at %v: hits %d", tc.renewed, n)
			}
		})
	}
}

func TestTokenTypeComparedCaseInsensitively(t *testing.T) {
	for _, tt := range []struct {
		typ string
		ok  bool
	}{{"Bearer", true}, {"BEARER", true}, {"bearer", true}, {"mac", false}} {
		f := newFakeCoupa(t, 1)
		f.tokenType = tt.typ
		c := testClient(t, f.srv.URL, nil)
		err := c.Authenticate(context.Background())
		if (err == nil) != tt.ok {
			t.Errorf("token_type %q: err = %v, want ok=%v", tt.typ, err, tt.ok)
		}
	}
}

func TestGrantedScopesFromEcho(t *testing.T) {
	f := newFakeCoupa(t, 0)
	c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.Scopes = []string{"core.user.read", "core.common.read"} })
	if got := c.GrantedScopes(); got != nil {
		t.Errorf("GrantedScopes before auth = %v, want nil", got)
	}
	if err := c.Authenticate(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := c.GrantedScopes()
	if len(got) != 2 || got[0] != "core.user.read" || got[1] != "core.common.read" {
		t.Errorf("GrantedScopes = %v", got)
	}
}

func TestAPIKeyHeaderAndOneDeprecationWarning(t *testing.T) {
	f := newFakeCoupa(t, 3)
	var key string
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		key = r.Header.Get("X-COUPA-API-KEY")
		return false
	}
	logger, logs := newTestLogger()
	c := testClient(t, f.srv.URL, func(cfg *Config) {
		cfg.ClientID, cfg.ClientSecret = "", ""
		cfg.APIKey = "k" + testSecret
		cfg.Logger = logger
	})
	for range 3 {
		if _, _, err := c.ListPage(context.Background(), "users", nil); err != nil {
			t.Fatal(err)
		}
	}
	if key != "k"+testSecret {
		t.Errorf("X-COUPA-API-KEY = %q", key)
	}
	if n := strings.Count(logs.String(), "deprecated"); n != 1 {
		t.Errorf("deprecation warnings = %d, want 1:\n%s", n, logs)
	}
	if f.tokenHits.Load() != 0 {
		t.Error("API-key client called the token endpoint")
	}
	if err := c.Authenticate(context.Background()); err != nil {
		t.Errorf("Authenticate with API key = %v, want nil", err)
	}
}

func TestSecretNeverInLogsOrErrors(t *testing.T) {
	logger, logs := newTestLogger()
	var errs []error

	// Token endpoint that echoes the credentials it received (form-encoded) in its error.
	f := newFakeCoupa(t, 0)
	f.tokenHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":"invalid_scope","error_description":"bad request client_secret=` + r.PostForm.Get("client_secret") + ` raw ` + testSecret + `"}`))
		return true
	}
	c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.Logger = logger; cfg.Scopes = []string{"x.y"} })
	errs = append(errs, c.Authenticate(context.Background()))

	// invalid_client, and a 5xx storm whose HTML body contains the secret.
	f2 := newFakeCoupa(t, 0)
	f2.tokenHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n == 1 {
			writeOAuthError(w, 401, "invalid_client", "secret "+testSecret+" is wrong")
			return true
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(503)
		_, _ = w.Write([]byte("<html>" + testSecret + "</html>"))
		return true
	}
	c2 := testClient(t, f2.srv.URL, func(cfg *Config) { cfg.Logger = logger; cfg.AuthStyle = AuthStyleInParams; cfg.MaxRetries = 2 })
	errs = append(errs, c2.Authenticate(context.Background()))
	errs = append(errs, c2.Authenticate(context.Background()))

	// API key refused; API answering with the key in a body.
	f3 := newFakeCoupa(t, 0)
	f3.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader([]int{401, 422}[(n-1)%2])
		_, _ = w.Write([]byte(`{"errors":{"key":["` + r.Header.Get("X-COUPA-API-KEY") + `"]}}`))
		return true
	}
	c3 := testClient(t, f3.srv.URL, func(cfg *Config) {
		cfg.Logger = logger
		cfg.ClientID, cfg.ClientSecret, cfg.APIKey = "", "", testSecret
	})
	_, _, err := c3.ListPage(context.Background(), "users", nil)
	errs = append(errs, err)
	_, _, err = c3.Create(context.Background(), "users", map[string]any{"login": "x"}, nil)
	errs = append(errs, err)

	// Configuration errors.
	_, err = New(Config{Host: "http://acme.coupahost.com", ClientID: "a", ClientSecret: testSecret})
	errs = append(errs, err)
	_, err = New(Config{Host: "https://user:" + testSecret + "@acme.coupahost.com", ClientID: "a", ClientSecret: testSecret})
	errs = append(errs, err)

	for i, err := range errs {
		if err == nil {
			t.Fatalf("case %d: no error", i)
		}
		if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("case %d: secret in error: %v", i, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("case %d: error spans lines: %q", i, err)
		}
	}
	if strings.Contains(logs.String(), "s3cr3t") {
		t.Errorf("secret in logs:\n%s", logs)
	}
	if logs.String() == "" {
		t.Error("nothing was logged; the log assertion would be vacuous")
	}
}

func TestBurstOf401sCostsOneMint(t *testing.T) {
	f := newFakeCoupa(t, 60)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n == 25 {
			f.revokeAll() // requests in flight with the old token now all get 401
		}
		return false
	}
	f.slow401 = true
	c := testClient(t, f.srv.URL, nil)
	var wg sync.WaitGroup
	var failed atomicCounter
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs, err := collect(t, c.List(context.Background(), "invoices", nil))
			if err != nil || len(recs) != 60 {
				failed.add()
			}
		}()
	}
	wg.Wait()
	if failed.n.Load() != 0 {
		t.Errorf("%d Lists failed", failed.n.Load())
	}
	if n := f.tokenHits.Load(); n != 2 {
		t.Errorf("token endpoint hit %d times, want 2 (one re-mint shared by all)", n)
	}
}

type atomicCounter struct{ n atomic.Int64 }

func (a *atomicCounter) add() { a.n.Add(1) }
