package reliability

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/coupa-connector/coupa-connector/internal/pgtest"
	"github.com/coupa-connector/coupa-connector/sim"
)

// Recognisable secrets: none of them may show up anywhere the connector writes.
const (
	clientSecret = "S3CR3T-client-Zq9xw"
	apiKey       = "K3Y-legacy-Zq9xw"
	wrongSecret  = "S3CR3T-wrong-Zq9xw"
)

// TestSecretsNeverLeak runs every command with -v against a simulator whose client secret and API key
// are recognisable, and a PostgreSQL DSN with a password; none of them may appear in stdout, stderr
// (debug logs included), the SQLite file, the Parquet files, the PostgreSQL tables, the results file or
// the audit log.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	s, ts := startSim(t, sim.Options{Seed: 71, Scale: 60,
		Clients: []sim.Client{{ID: "leak-test-client", Secret: clientSecret, Scopes: sim.AllScopes()}},
		APIKeys: []string{apiKey}})
	dir := t.TempDir()
	env := []string{"COUPA_HOST=" + ts.URL, "COUPA_CLIENT_ID=leak-test-client", "COUPA_CLIENT_SECRET=" + clientSecret}
	keyEnv := []string{"COUPA_HOST=" + ts.URL, "COUPA_API_KEY=" + apiKey}
	pg := pgDest(t)
	secrets := []string{clientSecret, apiKey, wrongSecret, pgtest.Password}

	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("new.jsonl", "{\"name\":\"Leak Test Supplier 1\"}\n{\"name\":\"Leak Test Supplier 2\"}\n")
	write("upd.json", `{"website":"https://leak-test.example.com"}`)
	write("c.yaml", "connections:\n  prod:\n    host: "+ts.URL+"\n    client_id: leak-test-client\n    client_secret: ${LEAK_SECRET}\n")
	write("lit.yaml", "connections:\n  prod:\n    host: "+ts.URL+"\n    client_id: leak-test-client\n    client_secret: "+clientSecret+"\n")
	write("secret.txt", clientSecret+"\n")
	user, role := grantable(t, s)
	write("access.yaml", fmt.Sprintf("users:\n  - user: %s\n    roles: [%q]\n", user, role))
	invoice := firstWith(t, s, "invoices", "status", "approved")
	supplier := firstWith(t, s, "suppliers", "", "")

	type run struct {
		env  []string
		args []string
		ok   bool // must succeed: the secret was really used
	}
	runs := []run{
		{env, []string{"check"}, true},
		{env, []string{"sync", "--dest", "sqlite:w.db", "--rate", "1000"}, true},
		{env, []string{"sync", "--dest", "parquet:lake", "--tables", "invoices,suppliers,users", "--rate", "1000"}, true},
		{env, []string{"sync", "--dest", pg, "--tables", "invoices,suppliers,users", "--rate", "1000"}, true},
		{nil, []string{"state", "show", "--dest", pg}, true},
		{nil, []string{"state", "show", "--dest", "w.db"}, true},
		{env, []string{"query", "invoices", "--where", "status=approved", "-o", "json"}, true},
		{env, []string{"get", "suppliers", supplier}, true},
		{env, []string{"create", "suppliers", "-f", "new.jsonl", "--dry-run"}, true},
		{env, []string{"create", "suppliers", "-f", "new.jsonl", "--results", "results.jsonl"}, true},
		{env, []string{"update", "suppliers", supplier, "-f", "upd.json"}, true},
		{env, []string{"action", "invoices", invoice, "void"}, true},
		{env, []string{"access", "review", "-o", "json", "--out", "review.json"}, true},
		{env, []string{"access", "grant", "--user", user, "--role", role, "--audit-log", "audit.jsonl"}, true},
		{env, []string{"access", "plan", "-f", "access.yaml"}, true},
		{env, []string{"access", "sync", "--dest", "sqlite:access.db"}, true},
		{env, []string{"config", "show"}, true},
		{env, []string{"config", "show", "-o", "yaml"}, true},
		{env, []string{"config", "show", "-o", "json"}, true},
		{[]string{"LEAK_SECRET=" + clientSecret}, []string{"--config", "c.yaml", "config", "show"}, true},
		{nil, []string{"--config", "lit.yaml", "config", "show", "-o", "json"}, true},
		{nil, []string{"--config", "lit.yaml", "check"}, true},
		{nil, []string{"--host", ts.URL, "--client-id", "leak-test-client", "--client-secret", clientSecret, "config", "show"}, true},
		{[]string{"COUPA_HOST=" + ts.URL, "COUPA_CLIENT_ID=leak-test-client", "COUPA_CLIENT_SECRET_FILE=secret.txt"}, []string{"query", "suppliers", "--limit", "2"}, true},
		{keyEnv, []string{"query", "invoices", "--limit", "3"}, true},
		{keyEnv, []string{"config", "show"}, true},
		// Failures print errors: the wrong secret must not be echoed in them either.
		{[]string{"COUPA_HOST=" + ts.URL, "COUPA_CLIENT_ID=leak-test-client", "COUPA_CLIENT_SECRET=" + wrongSecret}, []string{"check"}, false},
		{[]string{"COUPA_HOST=" + ts.URL, "COUPA_CLIENT_ID=leak-test-client", "COUPA_CLIENT_SECRET=" + wrongSecret}, []string{"sync", "--dest", "sqlite:w.db"}, false},
		{[]string{"COUPA_HOST=" + ts.URL, "COUPA_API_KEY=" + wrongSecret}, []string{"get", "suppliers", supplier}, false},
		{env, []string{"sync", "--dest", strings.Replace(pg, pgtest.Password, pgtest.Password+"x", 1), "--tables", "suppliers"}, false},
	}
	for _, r := range runs {
		res := runCoupa(t, dir, r.env, append([]string{"-v"}, r.args...)...)
		if r.ok && res.code != 0 {
			t.Errorf("coupa %v: exit %d: %s", r.args, res.code, res.lastLine())
		}
		if !r.ok && res.code == 0 {
			t.Errorf("coupa %v succeeded with a wrong credential", r.args)
		}
		for _, sec := range secrets {
			for stream, out := range map[string]string{"stdout": res.stdout, "stderr": res.stderr} {
				if strings.Contains(out, sec) {
					t.Errorf("coupa %v: a secret (%.6s...) appears in %s:\n%s", r.args, sec, stream, out)
				}
			}
		}
	}

	// Every file the commands wrote, byte for byte (the inputs that hold a secret on purpose excepted).
	scanned := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Base(p) {
		case "lit.yaml", "secret.txt":
			// The control: these hold the secret on purpose, so the scan must see it there.
			if !strings.Contains(string(b), clientSecret) {
				t.Errorf("the scan does not find the secret in %s, where it is: the scan proves nothing", p)
			}
			return nil
		}
		scanned++
		for _, sec := range secrets {
			if strings.Contains(string(b), sec) {
				t.Errorf("a secret (%.6s...) is written in %s", sec, p)
			}
		}
		return nil
	})
	for _, must := range []string{"w.db", "results.jsonl", "audit.jsonl", "review.json", "access.db"} {
		if _, err := os.Stat(filepath.Join(dir, must)); err != nil {
			t.Errorf("%s was not written, so it was not checked: %v", must, err)
		}
	}
	cells := scanPostgres(t, pg, secrets)
	t.Logf("FIGURE secrets: %d command runs, %d files and %d PostgreSQL rows scanned for %d secrets: 0 found unless reported above",
		len(runs), scanned, cells, len(secrets))
}

// scanPostgres reads every row of every table of the warehouse as text and fails on a secret in it.
func scanPostgres(t *testing.T, pg string, secrets []string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var sch, name string
		rows.Scan(&sch, &name)
		tables = append(tables, pgx.Identifier{sch, name}.Sanitize())
	}
	rows.Close()
	if len(tables) < 3 {
		t.Fatalf("the PostgreSQL warehouse holds %d tables: the sync did not write it", len(tables))
	}
	n := 0
	for _, tb := range tables {
		rs, err := conn.Query(ctx, `SELECT t::text FROM `+tb+` t`)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var row string
			rs.Scan(&row)
			n++
			for _, sec := range secrets {
				if strings.Contains(row, sec) {
					t.Errorf("a secret (%.6s...) is stored in PostgreSQL table %s", sec, tb)
				}
			}
		}
		rs.Close()
	}
	return n
}

// firstWith returns the id of the first record of resource whose field equals value (any record when
// field is empty).
func firstWith(t *testing.T, s *sim.Server, resource, field, value string) string {
	t.Helper()
	recs, err := s.Snapshot(resource)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if field == "" || fmt.Sprint(r[field]) == value {
			return fmt.Sprint(r["id"])
		}
	}
	t.Fatalf("no %s with %s=%s", resource, field, value)
	return ""
}

// grantable picks an active user and a role the user does not hold.
func grantable(t *testing.T, s *sim.Server) (login, role string) {
	t.Helper()
	users, _ := s.Snapshot("users")
	roles, _ := s.Snapshot("roles")
	for _, u := range users {
		if u["active"] != true {
			continue
		}
		held := map[string]bool{}
		if list, ok := u["roles"].([]any); ok {
			for _, r := range list {
				if m, ok := r.(map[string]any); ok {
					held[fmt.Sprint(m["id"])] = true
				}
			}
		}
		for _, r := range roles {
			if !held[fmt.Sprint(r["id"])] {
				return fmt.Sprint(u["login"]), fmt.Sprint(r["name"])
			}
		}
	}
	t.Fatal("no user without some role")
	return "", ""
}
