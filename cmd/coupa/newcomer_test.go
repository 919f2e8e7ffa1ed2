package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/sqlite"
)

// `coupa sim --addr :4012` listens on every interface; the URL it prints must be one the client accepts
// (http is allowed for loopback only), not http://[::]:4012.
func TestSimPrintsALoopbackURL(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 4012}, "http://127.0.0.1:4012"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 4012}, "http://127.0.0.1:4012"},
		{&net.TCPAddr{Port: 4012}, "http://127.0.0.1:4012"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4010}, "http://127.0.0.1:4010"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 4010}, "http://[::1]:4010"},
	} {
		got := dialURL("http", tc.addr)
		if got != tc.want {
			t.Errorf("%v: %s, want %s", tc.addr, got, tc.want)
		}
		if _, err := coupa.New(coupa.Config{Host: got, ClientID: "id", ClientSecret: "s"}); err != nil {
			t.Errorf("%s: the client refuses it: %v", got, err)
		}
	}
}

// `coupa --version` prints what `coupa version` prints.
func TestVersionFlag(t *testing.T) {
	dir := t.TempDir()
	flag := runCoupa(t, dir, nil, "--version")
	cmd := runCoupa(t, dir, nil, "version")
	if flag.code != 0 || !strings.HasPrefix(flag.stdout, "coupa ") || flag.stdout != cmd.stdout {
		t.Fatalf("--version: %d %q, version: %q", flag.code, flag.stdout, cmd.stdout)
	}
}

// An unknown subcommand under a group exits 64 with the closest name, like one under root.
func TestUnknownSubcommandIsAUsageError(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args    []string
		suggest string
	}{
		{[]string{"access", "reveiw"}, "review"},
		{[]string{"state", "shwo"}, "show"},
		{[]string{"state", "foo"}, ""},
		{[]string{"syncc"}, "sync"},
	} {
		r := runCoupa(t, dir, nil, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "unknown command") || !strings.Contains(r.stderr, tc.suggest) {
			t.Errorf("coupa %v: exit %d, stderr %q; want 64 suggesting %q", tc.args, r.code, r.stderr, tc.suggest)
		}
	}
	// The group alone still shows its help.
	if r := runCoupa(t, dir, nil, "state"); r.code != 0 || !strings.Contains(r.stdout, "reset") {
		t.Errorf("coupa state: exit %d, %q", r.code, r.stdout)
	}
}

// `state reset` without a table forgets every cursor only when confirmed or given --all.
func TestStateResetAllNeedsConfirmation(t *testing.T) {
	dir := t.TempDir()
	d := openSQLiteWithState(t, filepath.Join(dir, "w.db"), "invoices", "suppliers")
	d.Close()
	r := runCoupa(t, dir, nil, "state", "reset", "--dest", "w.db")
	if r.code != exitError || !strings.Contains(r.stderr, "not confirmed") || len(statesIn(t, filepath.Join(dir, "w.db"))) != 2 {
		t.Fatalf("unconfirmed reset: exit %d %q; states %v", r.code, r.stderr, statesIn(t, filepath.Join(dir, "w.db")))
	}
	cmd := coupaCommand(dir, nil, "state", "reset", "--dest", "w.db")
	cmd.Stdin = strings.NewReader("yes\n")
	if out, err := cmd.CombinedOutput(); err != nil || len(statesIn(t, filepath.Join(dir, "w.db"))) != 0 {
		t.Fatalf("confirmed reset: %v %s", err, out)
	}
	openSQLiteWithState(t, filepath.Join(dir, "w.db"), "invoices").Close()
	if r := runCoupa(t, dir, nil, "state", "reset", "--all", "--dest", "w.db"); r.code != 0 || len(statesIn(t, filepath.Join(dir, "w.db"))) != 0 {
		t.Fatalf("--all: exit %d %q", r.code, r.stderr)
	}
	if r := runCoupa(t, dir, nil, "state", "reset", "invoices", "--all", "--dest", "w.db"); r.code != exitUsage {
		t.Fatalf("a table and --all: exit %d %q", r.code, r.stderr)
	}
}

func openSQLiteWithState(t *testing.T, path string, tables ...string) dest.Destination {
	t.Helper()
	d, err := sqlite.Open(path, dest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var cts []*catalog.Table
	for _, n := range tables {
		ct, _ := catalog.Lookup(n)
		cts = append(cts, ct)
	}
	if err := d.Prepare(ctx, cts); err != nil {
		t.Fatal(err)
	}
	for _, n := range tables {
		if err := d.SaveState(ctx, &dest.State{Table: n, Cursor: time.Now().UTC().Truncate(time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func statesIn(t *testing.T, path string) []*dest.State {
	t.Helper()
	d, err := sqlite.Open(path, dest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st, err := d.States(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// access review --out r.html writes HTML unless told otherwise, and refuses a format its name contradicts.
func TestReviewFormatFromOut(t *testing.T) {
	for _, tc := range []struct {
		format string
		given  bool
		out    string
		want   string // "" for a usage error
	}{
		{"csv", false, "r.html", "html"},
		{"csv", false, "R.HTM", "html"},
		{"csv", false, "r.json", "json"},
		{"csv", false, "r.txt", "csv"},
		{"csv", false, "", "csv"},
		{"json", true, "", "json"},
		{"html", true, "r.html", "html"},
		{"csv", true, "r.html", ""},
		{"xml", true, "r.dat", ""},
	} {
		got, err := reviewFormat(tc.format, tc.given, tc.out)
		if tc.want == "" {
			var ee *exitErr
			if !errors.As(err, &ee) || ee.code != exitUsage {
				t.Errorf("%+v: want a usage error, got %q %v", tc, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: got %q %v, want %s", tc, got, err, tc.want)
		}
	}
}

// create --dry-run refuses a number or a boolean where the catalog has text, as its help promises.
func TestDryRunChecksScalarTypes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "s.jsonl", `{"name":7,"number":"S-1"}`+"\n")
	res := runCoupa(t, dir, []string{"COUPA_HOST=http://127.0.0.1:1", "COUPA_CLIENT_ID=x", "COUPA_CLIENT_SECRET=y"},
		"create", "suppliers", "-f", "s.jsonl", "--dry-run")
	if res.code != exitPartial || !strings.Contains(res.stdout, `"name":["must be text, got the number 7`) {
		t.Fatalf("exit %d, stdout %s, stderr %s", res.code, res.stdout, res.stderr)
	}
}

// `coupa tables TABLE` shows the fields with type, required-for-create and filterable, and a wrong
// --fields name is answered with the close ones.
func TestTablesShowsFields(t *testing.T) {
	dir := t.TempDir()
	r := runCoupa(t, dir, nil, "tables", "invoices")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"FIELD", "TYPE", "REQUIRED", "FILTERABLE", "required to create: invoice-number",
		"invoice_lines (child table"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("coupa tables invoices lacks %q:\n%s", want, r.stdout)
		}
	}
	if !regexp.MustCompile(`(?m)^invoice-number\s+text\s+yes\s+yes\s+invoice_number$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^custom-fields\s+json\s+-\s+-\s+custom_fields$`).MatchString(r.stdout) {
		t.Errorf("field rows:\n%s", r.stdout)
	}
	j := runCoupa(t, dir, nil, "tables", "invoices", "-o", "json")
	var d tableDetail
	if err := json.Unmarshal([]byte(j.stdout), &d); err != nil || len(d.Fields) == 0 || len(d.ChildFields["invoice_lines"]) == 0 {
		t.Fatalf("-o json: %v %s", err, j.stdout)
	}
	if r := runCoupa(t, dir, nil, "tables", "invoicez"); r.code != exitUsage {
		t.Errorf("unknown table: exit %d", r.code)
	}
	env := []string{"COUPA_HOST=http://127.0.0.1:1", "COUPA_CLIENT_ID=x", "COUPA_CLIENT_SECRET=y"}
	q := runCoupa(t, dir, env, "query", "invoices", "--fields", "id,total")
	if q.code != exitUsage || !strings.Contains(q.stderr, "did you mean total-with-taxes") {
		t.Errorf("--fields total: exit %d %s", q.code, q.stderr)
	}
	q = runCoupa(t, dir, env, "query", "invoices", "--where", "invoice_numbr = X")
	if q.code != exitUsage || !strings.Contains(q.stderr, "did you mean invoice-number") {
		t.Errorf("--where typo: exit %d %s", q.code, q.stderr)
	}
}

// A config file whose other connection names an unset ${VAR} still serves the chosen one, and
// `config show` shows the broken one's settings with the problem instead of failing.
func TestConfigUnsetVariableElsewhere(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "c.yaml", `default: prod
connections:
  prod:
    host: prod.coupahost.com
    client_id: p
    client_secret: ${PROD_SECRET}
  sandbox:
    host: sandbox.coupahost.com
    client_id: s
    client_secret: ${SB_SECRET}
`)
	env := []string{"COUPA_CONFIG=" + filepath.Join(dir, "c.yaml"), "SB_SECRET=sb"}
	r := runCoupa(t, dir, env, "--connection", "sandbox", "config", "show", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, "sandbox.coupahost.com") || strings.Contains(r.stdout, `"problem"`) {
		t.Fatalf("sandbox: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCoupa(t, dir, env, "config", "show")
	if r.code != 0 || !strings.Contains(r.stdout, "prod.coupahost.com") || !strings.Contains(r.stdout, "PROD_SECRET") {
		t.Fatalf("config show of the broken connection: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := runCoupa(t, dir, env, "check"); r.code == 0 || !strings.Contains(r.stderr, "PROD_SECRET") {
		t.Fatalf("check on the broken connection: exit %d %s", r.code, r.stderr)
	}
}

// Every command that prints results takes -o, and the human format is called table everywhere (the
// access review report, a file format, excepted).
func TestOutputFlagEverywhere(t *testing.T) {
	root := newRootCmd(&app{})
	want := []string{"access review", "access grant", "access revoke", "access enable", "access disable",
		"access create-user", "access plan", "access apply", "access sync", "action", "check", "config show",
		"get", "query", "state show", "sync", "tables"}
	for _, path := range want {
		cmd, _, err := root.Find(strings.Fields(path))
		if err != nil || cmd.Name() != strings.Fields(path)[len(strings.Fields(path))-1] {
			t.Fatalf("no command %q: %v", path, err)
		}
		f := cmd.Flags().Lookup("output")
		if f == nil || f.Shorthand != "o" {
			t.Errorf("coupa %s has no -o", path)
			continue
		}
		if path != "access review" && !strings.Contains(f.Usage, "table") {
			t.Errorf("coupa %s -o does not offer table: %q", path, f.Usage)
		}
		if strings.Contains(f.Usage, "text") {
			t.Errorf("coupa %s -o still names the human format text: %q", path, f.Usage)
		}
	}
	for in, want := range map[string]string{"table": "table", "text": "table", "json": "json"} {
		if got, err := humanOrJSON(in); err != nil || got != want {
			t.Errorf("humanOrJSON(%q) = %q %v", in, got, err)
		}
	}
	if r := runCoupa(t, t.TempDir(), nil, "access", "grant", "--user", "x", "--group", "y", "-o", "xml"); r.code != exitUsage {
		t.Errorf("access grant -o xml: exit %d %s", r.code, r.stderr)
	}
}
