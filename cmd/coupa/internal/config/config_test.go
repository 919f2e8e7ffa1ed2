package config

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/coupa"
)

// envMap is a fake environment; HOME points at an empty dir so the developer's own config never leaks in.
func envMap(t *testing.T, kv ...string) func(string) (string, bool) {
	m := map[string]string{"HOME": t.TempDir()}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoConnections = `default: prod
connections:
  prod:
    host: prod.coupahost.com
    client_id: prod-id
    client_secret: ${PROD_SECRET}
    scopes: [core.invoice.read, core.user.read]
    rate: 10
    burst: 5
  sandbox:
    host: sandbox.coupacloud.com
    client_id: sb-id
    client_secret: ${SB_SECRET}
    scopes: core.common.read core.supplier.read
`

func TestPrecedenceFlagOverEnvOverFile(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "c.yaml", twoConnections, 0o600)
	env := envMap(t, "PROD_SECRET", "file-secret", "SB_SECRET", "x",
		EnvClientID, "env-id", EnvHost, "env.coupahost.com")
	c, err := Resolve(Options{ConfigPath: path, LookupEnv: env, Flags: Settings{Config: coupa.Config{Host: "flag.coupahost.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		field, got, want string
		src              Source
	}{
		{FieldHost, c.Host, "flag.coupahost.com", SourceFlag},
		{FieldClientID, c.ClientID, "env-id", SourceEnv},
		{FieldClientSecret, c.ClientSecret, "file-secret", SourceFile},
	}
	for _, ck := range checks {
		if ck.got != ck.want || c.Sources[ck.field] != ck.src {
			t.Errorf("%s = %q from %s, want %q from %s", ck.field, ck.got, c.Sources[ck.field], ck.want, ck.src)
		}
	}
	if c.Rate != 10 || c.Sources[FieldRate] != SourceFile || c.Burst != 5 {
		t.Errorf("rate/burst = %v/%d from %s, want 10/5 from file", c.Rate, c.Burst, c.Sources[FieldRate])
	}
	if !slices.Equal(c.Scopes, []string{"core.invoice.read", "core.user.read"}) {
		t.Errorf("scopes = %v", c.Scopes)
	}
	if c.Name != "prod" || c.ConfigPath != path {
		t.Errorf("connection %q from %q, want prod from %s", c.Name, c.ConfigPath, path)
	}
}

func TestDefaultsWithoutAnySource(t *testing.T) {
	c, err := Resolve(Options{LookupEnv: envMap(t)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Rate != coupa.DefaultRate || c.Burst != coupa.DefaultBurst || c.Sources[FieldRate] != SourceDefault {
		t.Errorf("rate/burst = %v/%d (%s), want defaults", c.Rate, c.Burst, c.Sources[FieldRate])
	}
	if _, ok := c.Sources[FieldHost]; ok || c.ConfigPath != "" {
		t.Errorf("host source %q, config %q: want unset", c.Sources[FieldHost], c.ConfigPath)
	}
}

func TestConnectionChosenByEnvAndScopesAsString(t *testing.T) {
	path := writeFile(t, t.TempDir(), "c.yaml", twoConnections, 0o600)
	c, err := Resolve(Options{ConfigPath: path, LookupEnv: envMap(t, "PROD_SECRET", "a", "SB_SECRET", "sb", EnvConnection, "sandbox")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "sandbox.coupacloud.com" || c.ClientSecret != "sb" {
		t.Errorf("got host %q secret %q, want the sandbox connection", c.Host, c.ClientSecret)
	}
	if !slices.Equal(c.Scopes, []string{"core.common.read", "core.supplier.read"}) {
		t.Errorf("scopes = %v", c.Scopes)
	}
}

func TestDefaultPathUnderXDG(t *testing.T) {
	xdg := t.TempDir()
	writeFile(t, xdg, "coupa/config.yaml", "connections:\n  only:\n    host: only.coupahost.com\n", 0o600)
	c, err := Resolve(Options{LookupEnv: envMap(t, "XDG_CONFIG_HOME", xdg)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "only.coupahost.com" || c.Name != "only" {
		t.Errorf("host %q connection %q: the single connection of the default file was not used", c.Host, c.Name)
	}
}

func TestExpandUnsetVariableNamesIt(t *testing.T) {
	path := writeFile(t, t.TempDir(), "c.yaml", twoConnections, 0o600)
	_, err := Load(Options{ConfigPath: path, LookupEnv: envMap(t, "SB_SECRET", "x")})
	if err == nil || !strings.Contains(err.Error(), "PROD_SECRET") || !strings.Contains(err.Error(), "connections.prod.client_secret") {
		t.Fatalf("err = %v, want it to name PROD_SECRET and the field", err)
	}
	// Resolve still gives the settings, so that `config show` can show them with the problem.
	c, err := Resolve(Options{ConfigPath: path, LookupEnv: envMap(t, "SB_SECRET", "x")})
	if err != nil || c.Host != "prod.coupahost.com" || c.FileProblem == nil {
		t.Fatalf("Resolve: %+v %v", c, err)
	}
}

// An unset ${VAR} of one connection does not break another; a variable mended by the environment
// (the field set by COUPA_CLIENT_SECRET) is no problem either.
func TestUnsetVariableOfAnotherConnection(t *testing.T) {
	path := writeFile(t, t.TempDir(), "c.yaml", twoConnections, 0o600)
	c, err := Load(Options{ConfigPath: path, Connection: "sandbox", LookupEnv: envMap(t, "SB_SECRET", "x")})
	if err != nil || c.Host != "sandbox.coupacloud.com" || c.ClientSecret != "x" {
		t.Fatalf("sandbox with prod's variable unset: %+v %v", c, err)
	}
	c, err = Load(Options{ConfigPath: path, LookupEnv: envMap(t, "COUPA_CLIENT_SECRET", "from-env")})
	if err != nil || c.ClientSecret != "from-env" {
		t.Fatalf("prod with its secret from the environment: %+v %v", c, err)
	}
}

func TestExpand(t *testing.T) {
	env := envMap(t, "A", "alpha", "B", "")
	for in, want := range map[string]string{
		"plain":            "plain",
		"${A}":             "alpha",
		"x-${A}-${B}-y":    "x-alpha--y",
		"$${A} stays":      "${A} stays",
		"cost $5 ${A}":     "cost $5 alpha",
		"https://${A}.com": "https://alpha.com",
	} {
		got, err := Expand(in, env)
		if err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"${", "${A", "${1X}", "${}"} {
		if _, err := Expand(in, env); err == nil {
			t.Errorf("Expand(%q): no error", in)
		}
	}
}

func TestUnknownKeyIsAnErrorNamingKeyAndLine(t *testing.T) {
	for _, tc := range []struct{ yaml, key, line string }{
		{"connections:\n  prod:\n    host: a.coupahost.com\n    clientid: x\n", `"clientid"`, "line 4"},
		{"defaults: prod\n", `"defaults"`, "line 1"},
	} {
		_, err := Parse([]byte(tc.yaml), envMap(t))
		if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.line) {
			t.Errorf("Parse(%q) err = %v, want %s and %s", tc.yaml, err, tc.key, tc.line)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error spans lines: %q", err)
		}
	}
}

func TestUnknownConnectionListsKnownNames(t *testing.T) {
	path := writeFile(t, t.TempDir(), "c.yaml", twoConnections, 0o600)
	_, err := Resolve(Options{ConfigPath: path, Connection: "staging", LookupEnv: envMap(t, "PROD_SECRET", "a", "SB_SECRET", "b")})
	if err == nil {
		t.Fatal("no error for an unknown connection")
	}
	for _, want := range []string{`"staging"`, "prod", "sandbox"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %s", err, want)
		}
	}
}

func TestDefaultNamingMissingConnection(t *testing.T) {
	_, err := Parse([]byte("default: nope\nconnections:\n  a:\n    host: a.coupahost.com\n"), envMap(t))
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestExplicitMissingConfigFileIsAnError(t *testing.T) {
	_, err := Resolve(Options{ConfigPath: filepath.Join(t.TempDir(), "absent.yaml"), LookupEnv: envMap(t)})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
}

func TestSecretFileAndPermissionWarning(t *testing.T) {
	dir := t.TempDir()
	loose := writeFile(t, dir, "loose", "s3cr3t-value\n", 0o644)
	tight := writeFile(t, dir, "tight", "other-secret\n", 0o600)

	c, logs := resolveLogged(t, Options{LookupEnv: envMap(t, EnvClientSecretFile, loose)})
	if c.ClientSecret != "s3cr3t-value" {
		t.Errorf("secret = %q, want the file's content without the newline", c.ClientSecret)
	}
	if !strings.Contains(logs, "chmod 600") || !strings.Contains(logs, loose) {
		t.Errorf("no chmod 600 warning for a 0644 secret file: %q", logs)
	}
	if strings.Contains(logs, "s3cr3t-value") {
		t.Errorf("the secret reached the log: %q", logs)
	}

	if _, logs := resolveLogged(t, Options{LookupEnv: envMap(t, EnvClientSecretFile, tight)}); strings.Contains(logs, "chmod") {
		t.Errorf("warning for a 0600 file: %q", logs)
	}
}

// resolveLogged resolves opts, which must succeed, and returns what Resolve logged.
func resolveLogged(t *testing.T, opts Options) (*Connection, string) {
	t.Helper()
	var logs bytes.Buffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	c, err := Resolve(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, logs.String()
}

func TestConfigFileHoldingSecretWarnsWhenLoose(t *testing.T) {
	dir := t.TempDir()
	literal := writeFile(t, dir, "lit.yaml", "connections:\n  a:\n    host: a.coupahost.com\n    client_id: i\n    client_secret: literal-secret\n", 0o644)
	viaEnv := writeFile(t, dir, "env.yaml", "connections:\n  a:\n    host: a.coupahost.com\n    client_id: i\n    client_secret: ${S}\n", 0o644)
	if _, logs := resolveLogged(t, Options{ConfigPath: literal, LookupEnv: envMap(t)}); !strings.Contains(logs, "chmod 600") {
		t.Errorf("no warning for a world-readable file holding a secret: %q", logs)
	}
	if _, logs := resolveLogged(t, Options{ConfigPath: viaEnv, LookupEnv: envMap(t, "S", "x")}); strings.Contains(logs, "chmod") {
		t.Errorf("warning although the file only references ${S}: %q", logs)
	}
}

func TestSecretFromEnvFileBeatsSecretInConfigFile(t *testing.T) {
	dir := t.TempDir()
	sf := writeFile(t, dir, "secret", "from-env-file", 0o600)
	cf := writeFile(t, dir, "c.yaml", "connections:\n  a:\n    host: a.coupahost.com\n    client_id: i\n    client_secret: from-config\n", 0o600)
	c, err := Resolve(Options{ConfigPath: cf, LookupEnv: envMap(t, EnvClientSecretFile, sf)})
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientSecret != "from-env-file" || c.Sources[FieldClientSecretFile] != SourceEnv {
		t.Errorf("secret %q (file source %q), want the env secret file to win", c.ClientSecret, c.Sources[FieldClientSecretFile])
	}
	if _, ok := c.Sources[FieldClientSecret]; ok {
		t.Errorf("client_secret still attributed to %s", c.Sources[FieldClientSecret])
	}
}

func TestValidateMessages(t *testing.T) {
	caFile := writeFile(t, t.TempDir(), "ca.pem", "x", 0o600)
	ok := Settings{Config: coupa.Config{Host: "acme.coupahost.com", ClientID: "id", ClientSecret: "sekret-123"}}
	for _, tc := range []struct {
		name   string
		mutate func(*Settings)
		want   string // "" means valid
	}{
		{"complete", func(*Settings) {}, ""},
		{"api key only", func(s *Settings) { s.ClientID, s.ClientSecret, s.APIKey = "", "", "k" }, ""},
		{"ca file", func(s *Settings) { s.CAFile = caFile }, ""},
		{"missing host", func(s *Settings) { s.Host = "" }, "no Coupa host: set --host or COUPA_HOST"},
		{"missing secret", func(s *Settings) { s.ClientSecret = "" }, "COUPA_CLIENT_SECRET"},
		{"missing id", func(s *Settings) { s.ClientID = "" }, "COUPA_CLIENT_ID"},
		{"no credentials", func(s *Settings) { s.ClientID, s.ClientSecret = "", "" }, "COUPA_CLIENT_ID and COUPA_CLIENT_SECRET"},
		{"host with spaces", func(s *Settings) { s.Host = "acme coupahost.com" }, `host "acme coupahost.com"`},
		{"ftp host", func(s *Settings) { s.Host = "ftp://acme.coupahost.com" }, "not https"},
		{"missing ca file", func(s *Settings) { s.CAFile = "/nonexistent/ca.pem" }, "ca_file"},
		{"bad proxy", func(s *Settings) { s.Proxy = "proxy" }, "proxy"},
		{"bad rate", func(s *Settings) { s.Rate = -1 }, "rate"},
		{"bad burst", func(s *Settings) { s.Burst = -2 }, "burst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			s := ok
			tc.mutate(&s)
			c.apply(s, SourceFlag)
			err := c.Validate(nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "sekret-123") {
				t.Fatalf("the secret is in the error: %v", err)
			}
		})
	}
}

func TestMissingHostHintsAtConnections(t *testing.T) {
	path := writeFile(t, t.TempDir(), "c.yaml", strings.Replace(twoConnections, "default: prod\n", "", 1), 0o600)
	c, err := Resolve(Options{ConfigPath: path, LookupEnv: envMap(t, "PROD_SECRET", "a", "SB_SECRET", "b")})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate(nil)
	if err == nil || !strings.Contains(err.Error(), "--connection (prod, sandbox)") {
		t.Fatalf("err = %v, want a hint naming the connections", err)
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("abcdefghijkl"); strings.Contains(got, "abc") || strings.Contains(got, "kl") || !strings.Contains(got, "12") {
		t.Errorf("Redact = %q", got)
	}
	if Redact("") != "" {
		t.Error("an unset secret should redact to empty")
	}
}

func TestFilePathsInConfigFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "secrets/prod", "rel-secret", 0o600)
	home := t.TempDir()
	writeFile(t, home, "ca.pem", "x", 0o600)
	path := writeFile(t, dir, "c.yaml", "connections:\n  a:\n    host: a.coupahost.com\n    client_id: i\n    client_secret_file: secrets/prod\n    ca_file: ~/ca.pem\n", 0o600)
	c, err := Resolve(Options{ConfigPath: path, LookupEnv: func(k string) (string, bool) {
		if k == "HOME" {
			return home, true
		}
		return "", false
	}})
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientSecret != "rel-secret" {
		t.Errorf("secret %q: a relative client_secret_file is not read from the config file's directory", c.ClientSecret)
	}
	if c.CAFile != filepath.Join(home, "ca.pem") {
		t.Errorf("ca_file = %q, want ~ expanded", c.CAFile)
	}
}
