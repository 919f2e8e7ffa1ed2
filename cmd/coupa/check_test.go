package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// fakeCoupa is a minimal Coupa for check's own logic: a token endpoint that checks the secret and grants
// the scopes it was given, and list endpoints answering 403 without the table's scope and 404 for absent
// resources. The simulator tests below cover the real thing.
type fakeCoupa struct {
	secret  string
	granted []string
	absent  map[string]bool // resources answering 404
	probes  atomic.Int64
	scopeQ  atomic.Value // the scope parameter of the last token request
}

func (f *fakeCoupa) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/oauth2/token" {
		_ = r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != "fake-client" || secret != f.secret {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client","error_description":"Client authentication failed"}`))
			return
		}
		f.scopeQ.Store(r.PostForm.Get("scope"))
		json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-" + strings.Join(f.granted, "+"),
			"token_type": "bearer", "expires_in": 86400})
		return
	}
	res, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	f.probes.Add(1)
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer tok-")
	if f.absent[res] {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errors":{"base":["No route"]}}`))
		return
	}
	for _, t := range catalog.All() {
		if t.Resource == res && !slices.Contains(strings.Split(tok, "+"), t.Scope) {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"errors":{"base":["Insufficient scope"]}}`))
			return
		}
	}
	w.Write([]byte(`[{"id":1}]`))
}

func allScopes() []string { return catalog.Scopes(catalog.All()) }

func startFake(t *testing.T, f *fakeCoupa) []string {
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return []string{"COUPA_HOST=" + ts.URL, "COUPA_CLIENT_ID=fake-client", "COUPA_CLIENT_SECRET=" + f.secret}
}

// rowStatus reads the STATUS column of a table's row in check's printed table.
func rowStatus(t *testing.T, out, table string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + table + `\s+(\S+)\s+(ok|missing scope|not available|error)\s`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no row for %s in:\n%s", table, out)
	}
	return m[2]
}

func TestCheckFakeAllOK(t *testing.T) {
	f := &fakeCoupa{secret: "fake-secret-0123456789", granted: allScopes()}
	r := runCoupa(t, t.TempDir(), startFake(t, f), "check")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	for _, tb := range catalog.All() {
		if got := rowStatus(t, r.stdout, tb.Name); got != "ok" {
			t.Errorf("%s: %s", tb.Name, got)
		}
	}
	if n := f.probes.Load(); n != int64(len(catalog.All())) {
		t.Errorf("%d probes for %d tables", n, len(catalog.All()))
	}
	// The token asks for exactly the catalog's scopes.
	if got := splitSorted(f.scopeQ.Load().(string)); !slices.Equal(got, allScopes()) {
		t.Errorf("token scope = %v, want %v", got, allScopes())
	}
}

func splitSorted(s string) []string {
	out := strings.Fields(s)
	slices.Sort(out)
	return out
}

func TestCheckFakeMissingScopeAndOptional(t *testing.T) {
	f := &fakeCoupa{secret: "fake-secret-0123456789",
		granted: []string{"core.invoice.read", "core.user.read", "core.common.read"},
		absent:  map[string]bool{"roles": true}}
	env := startFake(t, f)
	r := runCoupa(t, t.TempDir(), env, "check")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2; stdout %s stderr %s", r.code, r.stdout, r.stderr)
	}
	if rowStatus(t, r.stdout, "invoices") != "ok" || rowStatus(t, r.stdout, "users") != "ok" {
		t.Errorf("granted tables not ok:\n%s", r.stdout)
	}
	if rowStatus(t, r.stdout, "roles") != "not available" {
		t.Errorf("roles (optional, 404) not reported as not available:\n%s", r.stdout)
	}
	if !regexp.MustCompile(`(?m)^suppliers\s+core\.supplier\.read\s+missing scope\s`).MatchString(r.stdout) {
		t.Errorf("suppliers row does not say missing scope with its scope:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "core.supplier.read") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("stderr should be one line naming the scopes to grant: %q", r.stderr)
	}

	// Only readable tables requested: exit 0, and the optional 404 does not count against it.
	r = runCoupa(t, t.TempDir(), env, "check", "--tables", "invoices,roles,currencies")
	if r.code != 2 {
		t.Errorf("explicitly requested unavailable table: exit %d, want 2", r.code)
	}
	r = runCoupa(t, t.TempDir(), env, "check", "--tables", "invoices", "--tables", "currencies", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.stdout)
	}
	if rep.Auth != "ok" || len(rep.Tables) != 2 || rep.Readable != 2 || rep.Failing != 0 || rep.Tables[0].Table != "invoices" {
		t.Errorf("json report = %+v", rep)
	}
}

func TestCheckFakeBadSecret(t *testing.T) {
	f := &fakeCoupa{secret: "the-right-secret-42", granted: allScopes()}
	env := startFake(t, f)
	const wrong = "Wr0ngSecretValue-abcdef"
	env[2] = "COUPA_CLIENT_SECRET=" + wrong
	for _, args := range [][]string{{"check"}, {"check", "-o", "json"}, {"-v", "check"}} {
		r := runCoupa(t, t.TempDir(), env, args...)
		if r.code != 1 {
			t.Fatalf("%v: exit %d, want 1", args, r.code)
		}
		if strings.Contains(r.stdout+r.stderr, wrong) {
			t.Fatalf("%v: the secret was printed:\n%s\n%s", args, r.stdout, r.stderr)
		}
		last := lastLine(r.stderr)
		if !strings.Contains(last, "invalid_client") || !strings.Contains(last, "COUPA_CLIENT_SECRET") {
			t.Errorf("%v: last stderr line does not name the cause and fix: %q", args, last)
		}
	}
	if f.probes.Load() != 0 {
		t.Errorf("%d table probes after a failed authentication", f.probes.Load())
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestCheckHostFailures(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	refused := ts.URL
	ts.Close() // nothing listens there now
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point of the test
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	for _, tc := range []struct {
		host, want, kind string
	}{
		{"coupa-check-test.invalid", "not found", "unknown_host"},
		{refused, "connection refused", "connection_refused"},
		{tlsSrv.URL, "--ca-file", "tls"}, // a certificate no system pool trusts
		{"http://acme.coupahost.com", "https", ""},
	} {
		r := runCoupa(t, t.TempDir(), []string{"COUPA_HOST=" + tc.host, "COUPA_CLIENT_ID=x", "COUPA_CLIENT_SECRET=s3cr3t-host-test"}, "check")
		if r.code != 1 {
			t.Errorf("%s: exit %d, want 1 (stderr %q)", tc.host, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "s3cr3t-host-test") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: stderr %q: want one line containing %q and no secret", tc.host, r.stderr, tc.want)
		}
		if tc.kind == "" {
			continue
		}
		r = runCoupa(t, t.TempDir(), []string{"COUPA_HOST=" + tc.host, "COUPA_CLIENT_ID=x", "COUPA_CLIENT_SECRET=s3cr3t-host-test"}, "check", "-o", "json")
		var rep checkReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.AuthFailure != tc.kind || r.code != 1 {
			t.Errorf("%s -o json: exit %d, auth_failure %q (want %q), err %v", tc.host, r.code, rep.AuthFailure, tc.kind, err)
		}
	}
}

func TestCheckConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("connections:\n  prod:\n    host: acme.coupahost.com\n    secret: x\n"), 0o600)
	two := filepath.Join(dir, "two.yaml")
	os.WriteFile(two, []byte("connections:\n  prod:\n    host: a.coupahost.com\n  sandbox:\n    host: b.coupahost.com\n"), 0o600)
	for _, tc := range []struct {
		env  []string
		args []string
		want []string
	}{
		{nil, []string{"--config", bad, "check"}, []string{`"secret"`, "line 4"}},
		{[]string{"COUPA_CONFIG=" + two}, []string{"--connection", "staging", "check"}, []string{`"staging"`, "prod, sandbox"}},
		{nil, []string{"check"}, []string{"no Coupa host: set --host or COUPA_HOST"}},
		{[]string{"COUPA_HOST=acme.coupahost.com"}, []string{"check"}, []string{"COUPA_CLIENT_ID", "COUPA_CLIENT_SECRET"}},
		{[]string{"COUPA_HOST=acme.coupahost.com", "COUPA_CLIENT_ID=x"}, []string{"check"}, []string{"COUPA_CLIENT_SECRET_FILE"}},
	} {
		r := runCoupa(t, dir, tc.env, tc.args...)
		if r.code == 0 {
			t.Errorf("%v: exit 0", tc.args)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: stderr %q lacks %q", tc.args, r.stderr, w)
			}
		}
		if strings.Contains(r.stderr, "goroutine") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: not a one-line error: %q", tc.args, r.stderr)
		}
	}
}

// The tests below run against the simulator: the end-to-end proof that check and sim agree on OAuth,
// scopes and errors, although they are independent readings of the API.

func TestCheckSimAllOK(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Scale: 20})
	r := runCoupa(t, t.TempDir(), simtest.Env(s, ts), "check")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, tb := range catalog.All() {
		if got := rowStatus(t, r.stdout, tb.Name); got != "ok" {
			t.Errorf("%s: %s", tb.Name, got)
		}
	}
	n := len(catalog.All())
	if !strings.Contains(r.stdout, fmt.Sprintf("%d of %d tables readable", n, n)) {
		t.Errorf("no summary line:\n%s", r.stdout)
	}
}

func TestCheckSimMissingScope(t *testing.T) {
	limited := sim.Client{ID: "limited-client", Secret: "limited-secret-0123456789",
		Scopes: []string{"core.invoice.read", "core.common.read"}}
	_, ts := simtest.Start(t, sim.Options{Scale: 20, Clients: []sim.Client{limited}})
	env := []string{"COUPA_HOST=" + ts.URL, "COUPA_CLIENT_ID=" + limited.ID, "COUPA_CLIENT_SECRET=" + limited.Secret}
	r := runCoupa(t, t.TempDir(), env, "check")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, name := range []string{"invoices", "currencies", "commodities"} {
		if got := rowStatus(t, r.stdout, name); got != "ok" {
			t.Errorf("%s (scope granted): %s", name, got)
		}
	}
	for _, tb := range []string{"suppliers", "purchase_orders", "users"} {
		want := regexp.MustCompile(`(?m)^` + tb + `\s+core\.[a-z_.]+read\s+missing scope\s`)
		if !want.MatchString(r.stdout) {
			t.Errorf("%s row does not say missing scope with the scope name:\n%s", tb, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "core.supplier.read") {
		t.Errorf("stderr does not name a scope to grant: %q", r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, limited.Secret) {
		t.Error("secret printed")
	}
}

func TestCheckSimBadSecret(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Scale: 20})
	env := simtest.Env(s, ts)
	const wrong = "definitely-not-the-secret-987"
	env[2] = "COUPA_CLIENT_SECRET=" + wrong
	r := runCoupa(t, t.TempDir(), env, "check")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, wrong) || strings.Contains(r.stdout+r.stderr, s.DefaultClient().Secret) {
		t.Fatalf("a secret was printed:\n%s\n%s", r.stdout, r.stderr)
	}
	if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "COUPA_CLIENT_SECRET") {
		t.Errorf("want one line naming the fix, got %q", r.stderr)
	}
}

func TestCheckScopesOverride(t *testing.T) {
	f := &fakeCoupa{secret: "fake-secret-0123456789", granted: nil}
	env := startFake(t, f)
	r := runCoupa(t, t.TempDir(), env, "check", "--tables", "invoices", "--scopes", "core.invoice.read,core.custom.read")
	if got := f.scopeQ.Load(); got != "core.custom.read core.invoice.read" {
		t.Errorf("token scope = %v, want the --scopes list instead of the catalog's", got)
	}
	// The fake grants nothing, so the probe is refused: the override reached the token request only.
	if r.code != 2 {
		t.Errorf("exit %d, want 2", r.code)
	}
}
