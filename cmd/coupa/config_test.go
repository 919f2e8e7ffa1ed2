package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/coupa-connector/coupa-connector/catalog"
)

func TestConfigShowSourcesAndRedaction(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte(`default: prod
connections:
  prod:
    host: file.coupahost.com
    client_id: file-id
    client_secret: ${PROD_SECRET}
    rate: 12
`), 0o600)
	const secret = "Pr0dSecretValue-xyz-0123456789"
	env := []string{"COUPA_CONFIG=" + cfg, "PROD_SECRET=" + secret, "COUPA_CLIENT_ID=env-id"}

	r := runCoupa(t, dir, env, "--burst", "7", "config", "show")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		`(?m)^host\s+file\.coupahost\.com\s+file \(connection prod\)$`,
		`(?m)^client_id\s+env-id\s+env$`,
		`(?m)^client_secret\s+\(set, 30 chars\)\s+file`,
		`(?m)^rate\s+12\s+file`,
		`(?m)^burst\s+7\s+flag$`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("config show lacks %s:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, cfg) {
		t.Errorf("config file path not shown:\n%s", r.stdout)
	}

	for _, format := range []string{"json", "yaml"} {
		r := runCoupa(t, dir, env, "config", "show", "-o", format)
		if r.code != 0 {
			t.Fatalf("-o %s: exit %d: %s", format, r.code, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Fatalf("-o %s printed the secret", format)
		}
		var got shownConfig
		var err error
		if format == "json" {
			err = json.Unmarshal([]byte(r.stdout), &got)
		} else {
			err = yaml.Unmarshal([]byte(r.stdout), &got)
		}
		if err != nil {
			t.Fatalf("-o %s: %v\n%s", format, err, r.stdout)
		}
		if got.Connection != "prod" || got.ConfigFile != cfg || got.Problem != "" {
			t.Errorf("-o %s: %+v", format, got)
		}
		bySrc := map[string]string{}
		for _, s := range got.Settings {
			bySrc[s.Field] = s.Source
		}
		if bySrc["host"] != "file" || bySrc["client_id"] != "env" || bySrc["burst"] != "default" {
			t.Errorf("-o %s: sources %v", format, bySrc)
		}
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Fatal("config show printed the secret")
	}
}

func TestConfigShowReportsProblemAndFlagWins(t *testing.T) {
	r := runCoupa(t, t.TempDir(), []string{"COUPA_HOST=env.coupahost.com"}, "--host", "flag.coupahost.com", "config", "show")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !regexp.MustCompile(`(?m)^host\s+flag\.coupahost\.com\s+flag$`).MatchString(r.stdout) {
		t.Errorf("flag does not win over env:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "problem: no credentials") {
		t.Errorf("missing credentials not reported:\n%s", r.stdout)
	}
}

func TestConfigShowWarnsOnLooseSecretFile(t *testing.T) {
	dir := t.TempDir()
	sf := filepath.Join(dir, "secret")
	os.WriteFile(sf, []byte("loose-secret-value\n"), 0o644)
	os.Chmod(sf, 0o644)
	r := runCoupa(t, dir, []string{"COUPA_CLIENT_SECRET_FILE=" + sf}, "config", "show")
	if r.code != 0 || !strings.Contains(r.stderr, "chmod 600 "+sf) {
		t.Errorf("exit %d, stderr %q: want a chmod 600 warning", r.code, r.stderr)
	}
	if !regexp.MustCompile(`(?m)^client_secret\s+\(set, 18 chars\)\s+env$`).MatchString(r.stdout) {
		t.Errorf("secret from the file not shown as set from env:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, "loose-secret-value") {
		t.Error("secret printed")
	}
}

func TestTablesLists(t *testing.T) {
	r := runCoupa(t, t.TempDir(), nil, "tables", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var infos []tableInfo
	if err := json.Unmarshal([]byte(r.stdout), &infos); err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(catalog.All()) {
		t.Fatalf("%d tables, catalog has %d", len(infos), len(catalog.All()))
	}
	for i, tb := range catalog.All() {
		in := infos[i]
		if in.Name != tb.Name || in.Scope != tb.Scope || in.Resource != tb.Resource || in.Create != tb.Create ||
			len(in.Children) != len(tb.Children) || len(in.Actions) != len(tb.Actions) {
			t.Errorf("table %d: %+v does not match the catalog's %s", i, in, tb.Name)
		}
	}
	r = runCoupa(t, t.TempDir(), nil, "tables")
	inv, _ := catalog.Lookup("invoices")
	row := regexp.MustCompile(`(?m)^invoices\s+invoices\s+` + regexp.QuoteMeta(inv.Scope) + `\s+incremental\s+invoice_lines`)
	if r.code != 0 || !row.MatchString(r.stdout) {
		t.Errorf("exit %d; no invoices row:\n%s", r.code, r.stdout)
	}
	if r := runCoupa(t, t.TempDir(), nil, "tables", "-o", "xml"); r.code != 64 {
		t.Errorf("-o xml: exit %d, want 64", r.code)
	}
}

func TestHelpAndVersion(t *testing.T) {
	r := runCoupa(t, t.TempDir(), nil, "--help")
	if r.code != 0 {
		t.Fatalf("--help: exit %d", r.code)
	}
	for _, cmd := range []string{"check", "tables", "version", "config"} {
		if !regexp.MustCompile(`(?m)^\s+` + cmd + `\s`).MatchString(r.stdout) {
			t.Errorf("--help does not list %s:\n%s", cmd, r.stdout)
		}
	}
	r = runCoupa(t, t.TempDir(), nil, "version")
	if r.code != 0 || !regexp.MustCompile(`^coupa dev \(commit \S+, go1\.\d+`).MatchString(r.stdout) {
		t.Errorf("version: exit %d, %q", r.code, r.stdout)
	}
}
