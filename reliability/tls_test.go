package reliability

import (
	"encoding/pem"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/sim"
)

// TestTLSVerificationCannotBeTurnedOff serves the simulator over https with a self-signed certificate:
// every command refuses it (also with the environment variables other tools use to switch verification
// off, and a config key asking for it), and accepts it only when the certificate is trusted through
// --ca-file or COUPA_CA_FILE. No flag of any command and no line of the product's code turns verification off.
func TestTLSVerificationCannotBeTurnedOff(t *testing.T) {
	t.Parallel()
	s, err := sim.New(sim.Options{Seed: 81, Scale: 20, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	dir := t.TempDir()
	ca := filepath.Join(dir, "sim-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c := s.DefaultClient()
	env := []string{"COUPA_HOST=" + ts.URL, "COUPA_CLIENT_ID=" + c.ID, "COUPA_CLIENT_SECRET=" + c.Secret}
	attempts := []struct {
		name string
		env  []string
		args []string
	}{
		{"check", env, []string{"check"}},
		{"query", env, []string{"query", "suppliers", "--limit", "1"}},
		{"sync", env, []string{"sync", "--dest", "sqlite:w.db"}},
		{"insecure environment variables", append(slices.Clone(env), "COUPA_INSECURE=1", "COUPA_TLS_INSECURE=true",
			"COUPA_SKIP_TLS_VERIFY=true", "INSECURE_SKIP_VERIFY=1", "GODEBUG=x509ignoreCN=1"), []string{"query", "suppliers", "--limit", "1"}},
	}
	for _, a := range attempts {
		r := runCoupa(t, dir, a.env, a.args...)
		assertCleanError(t, "self-signed https, "+a.name, r, 1, "certificate")
	}
	if _, err := os.Stat(filepath.Join(dir, "w.db")); err == nil {
		t.Error("a warehouse was created although the server could not be trusted")
	}
	os.WriteFile(filepath.Join(dir, "insecure.yaml"), []byte("connections:\n  x:\n    host: "+ts.URL+"\n    insecure_skip_verify: true\n"), 0o600)
	r := runCoupa(t, dir, nil, "--config", "insecure.yaml", "check")
	assertCleanError(t, "config asking to skip verification", r, 1, "insecure_skip_verify")

	// Trusted explicitly: accepted.
	if r := runCoupa(t, dir, env, "--ca-file", ca, "query", "suppliers", "--limit", "1"); r.code != 0 {
		t.Fatalf("with --ca-file: exit %d %s", r.code, r.lastLine())
	}
	if r := runCoupa(t, dir, append(slices.Clone(env), "COUPA_CA_FILE="+ca), "sync", "--dest", "sqlite:w.db", "--tables", "suppliers", "-q"); r.code != 0 {
		t.Fatalf("with COUPA_CA_FILE: exit %d %s", r.code, r.lastLine())
	}

	// No flag that could switch verification off, on any command.
	commands := [][]string{{}, {"sync"}, {"check"}, {"query"}, {"get"}, {"create"}, {"update"}, {"action"}, {"state"},
		{"config", "show"}, {"access", "review"}, {"access", "grant"}, {"access", "apply"}, {"access", "sync"}, {"demo"}, {"sim"}, {"tables"}}
	for _, cmd := range commands {
		h := runCoupa(t, dir, nil, append(cmd, "--help")...)
		if h.code != 0 {
			t.Fatalf("coupa %v --help: exit %d", cmd, h.code)
		}
		low := strings.ToLower(h.stdout + h.stderr)
		for _, bad := range []string{"insecure", "skip-verify", "no-verify", "skip-tls", "tls-verify"} {
			if strings.Contains(low, bad) {
				t.Errorf("coupa %v --help offers %q", cmd, bad)
			}
		}
	}
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(here))
	files := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, _ := os.ReadFile(p)
		files++
		if strings.Contains(string(b), "InsecureSkipVerify") {
			t.Errorf("%s mentions InsecureSkipVerify", p)
		}
		return nil
	})
	t.Logf("FIGURE TLS: self-signed server refused %d ways, accepted only with an explicit CA; %d commands' flags and %d source files checked: no way to skip verification",
		len(attempts)+1, len(commands), files)
}
