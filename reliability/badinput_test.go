package reliability

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// badCase is one wrong input: the command line and files, the exit code and the words the one-line error
// must carry.
type badCase struct {
	name  string
	class string // config, flags, where, file, access, hostile
	args  []string
	env   []string          // replaces the simulator's environment when set
	files map[string]string // written into the working directory first
	host  http.HandlerFunc  // a hostile Coupa: the command is pointed at it instead of the simulator
	code  int
	want  []string
}

// TestBadInputTable runs every wrong input against the same warehouse and simulator: each must end with
// its exit code and a one-line error naming the problem (no panic, no Go trace), and leave the warehouse's
// rows and cursors, the working directory and Coupa's data exactly as they were.
func TestBadInputTable(t *testing.T) {
	t.Parallel()
	s, ts := startSim(t, sim.Options{Seed: 61, Scale: 30})
	seed := t.TempDir()
	env := simtest.Env(s, ts)
	if r := runCoupa(t, seed, env, "sync", "--dest", "sqlite:w.db", "--tables", "suppliers,invoices", "--rate", "1000", "-q"); r.code != 0 {
		t.Fatalf("seeding the warehouse: exit %d\n%s", r.code, r.stderr)
	}
	sync := []string{"sync", "--dest", "sqlite:w.db", "--tables", "suppliers", "--rate", "1000", "-q"}
	noSecret := []string{"COUPA_HOST=" + ts.URL, "COUPA_CLIENT_ID=coupa-sim"}
	withHost := func(h string) []string {
		return []string{"COUPA_HOST=" + h, "COUPA_CLIENT_ID=x", "COUPA_CLIENT_SECRET=recognisable-but-wrong"}
	}
	cases := []badCase{
		// Connection config.
		{name: "config unknown key", class: "config", args: append([]string{"--config", "c.yaml"}, sync...),
			env:   []string{},
			files: map[string]string{"c.yaml": "connections:\n  prod:\n    host: " + ts.URL + "\n    hostt: x\n"},
			code:  1, want: []string{"hostt", "line 4"}},
		{name: "config not YAML", class: "config", args: append([]string{"--config", "c2.yaml"}, sync...), env: []string{},
			files: map[string]string{"c2.yaml": "connections: [unclosed\n"}, code: 1, want: []string{"c2.yaml"}},
		{name: "config unknown connection", class: "config", args: append([]string{"--config", "c3.yaml", "--connection", "staging"}, sync...),
			env: []string{}, files: map[string]string{"c3.yaml": "connections:\n  prod:\n    host: acme.coupahost.com\n"},
			code: 1, want: []string{"staging", "prod"}},
		{name: "config file missing", class: "config", args: append([]string{"--config", "nowhere.yaml"}, sync...), env: []string{},
			code: 1, want: []string{"nowhere.yaml"}},
		{name: "host with a space", class: "config", args: sync, env: withHost("acme coupa.com"), code: 1, want: []string{"host"}},
		{name: "plain http to a remote host", class: "config", args: sync, env: withHost("http://acme.coupahost.com"), code: 1, want: []string{"https"}},
		{name: "credentials in the host URL", class: "config", args: sync, env: withHost("https://u:p@acme.coupahost.com"), code: 1, want: []string{"credentials"}},
		{name: "no host", class: "config", args: sync, env: []string{"COUPA_CLIENT_ID=x", "COUPA_CLIENT_SECRET=y"}, code: 1, want: []string{"COUPA_HOST"}},
		{name: "missing client secret", class: "config", args: sync, env: noSecret, code: 1, want: []string{"secret"}},
		{name: "secret file missing", class: "config", args: sync, env: append(noSecret, "COUPA_CLIENT_SECRET_FILE=nope.txt"), code: 1, want: []string{"nope.txt"}},
		{name: "wrong client secret", class: "config", args: sync,
			env: []string{"COUPA_HOST=" + ts.URL, "COUPA_CLIENT_ID=coupa-sim", "COUPA_CLIENT_SECRET=not-the-secret"}, code: 1, want: []string{"client"}},
		{name: "CA file missing", class: "config", args: append([]string{"--ca-file", "no-ca.pem"}, sync...), code: 1, want: []string{"no-ca.pem"}},
		{name: "proxy not a URL", class: "config", args: append([]string{"--proxy", "::nope"}, sync...), code: 1, want: []string{"proxy"}},
		{name: "negative rate", class: "config", args: append(slices.Clone(sync[:len(sync)-3]), "--rate", "-5"), code: 1, want: []string{"rate"}},
		// Flags.
		{name: "unknown table", class: "flags", args: []string{"sync", "--dest", "sqlite:w.db", "--tables", "invoicez"}, code: 64, want: []string{"invoicez"}},
		{name: "concurrency 0", class: "flags", args: append(slices.Clone(sync), "--concurrency", "0"), code: 64, want: []string{"concurrency"}},
		{name: "unknown output format", class: "flags", args: append(slices.Clone(sync), "-o", "xml"), code: 64, want: []string{"xml"}},
		{name: "unknown destination", class: "flags", args: []string{"sync", "--dest", "mysql://db/x"}, code: 64, want: []string{"sqlite:PATH"}},
		{name: "unknown flag", class: "flags", args: append(slices.Clone(sync), "--frobnicate"), code: 64, want: []string{"frobnicate"}},
		{name: "get with a non-numeric id", class: "flags", args: []string{"get", "invoices", "abc"}, code: 64, want: []string{"abc"}},
		{name: "query of an unknown object", class: "flags", args: []string{"query", "invoicez"}, code: 64, want: []string{"invoicez"}},
		{name: "state reset of an unknown table", class: "flags", args: []string{"state", "reset", "invoicez", "--dest", "w.db"}, code: 64, want: []string{"invoicez"}},
		// --where expressions.
		{name: "where without operator", class: "where", args: []string{"query", "invoices", "--where", "status"}, code: 64, want: []string{"operator"}},
		{name: "where double equals", class: "where", args: []string{"query", "invoices", "--where", "status == x"}, code: 64, want: []string{"value"}},
		{name: "where unknown field", class: "where", args: []string{"query", "invoices", "--where", "nosuchfield=1"}, code: 64, want: []string{"nosuchfield"}},
		{name: "where empty in list", class: "where", args: []string{"query", "invoices", "--where", "status in"}, code: 64, want: []string{"in"}},
		{name: "where empty path segment", class: "where", args: []string{"query", "invoices", "--where", "supplier..name=x"}, code: 64, want: []string{"dots"}},
		// Bulk input files.
		{name: "CSV unterminated quote", class: "file", args: []string{"create", "suppliers", "-f", "q.csv"},
			files: map[string]string{"q.csv": "name,number\n\"Unterminated,1\n"}, code: 2, want: []string{"row"}},
		{name: "CSV unknown column", class: "file", args: []string{"create", "suppliers", "-f", "h.csv"},
			files: map[string]string{"h.csv": "name,numbr\nAcme,1\n"}, code: 2, want: []string{"row"}},
		{name: "JSONL line not JSON", class: "file", args: []string{"create", "suppliers", "-f", "l.jsonl"},
			files: map[string]string{"l.jsonl": "{\"name\":\"Bad Line Co\"\n"}, code: 2, want: []string{"row"}},
		{name: "input file missing", class: "file", args: []string{"create", "suppliers", "-f", "absent.jsonl"}, code: 1, want: []string{"absent.jsonl"}},
		{name: "input of unknown format", class: "file", args: []string{"create", "suppliers", "-f", "rows.txt"},
			files: map[string]string{"rows.txt": "name\n"}, code: 64, want: []string{"format"}},
		{name: "create of an unknown object", class: "file", args: []string{"create", "supplierz", "-f", "ok.jsonl"},
			files: map[string]string{"ok.jsonl": "{\"name\":\"Never Sent Co\"}\n"}, code: 64, want: []string{"supplierz"}},
		// access.yaml.
		{name: "access.yaml unknown key", class: "access", args: []string{"access", "plan", "-f", "a1.yaml"},
			files: map[string]string{"a1.yaml": "users:\n  - user: x\n    rolez: [User]\n"}, code: 1, want: []string{"a1.yaml:3", "rolez"}},
		{name: "access.yaml not YAML", class: "access", args: []string{"access", "plan", "-f", "a2.yaml"},
			files: map[string]string{"a2.yaml": "users:\n\t- user: x\n"}, code: 1, want: []string{"a2.yaml"}},
		{name: "access.yaml unknown user", class: "access", args: []string{"access", "apply", "-f", "a3.yaml", "--yes"},
			files: map[string]string{"a3.yaml": "users:\n  - user: nobody-at-all\n    roles: [User]\n"}, code: 1, want: []string{"nobody-at-all"}},
		{name: "access grant without a user", class: "access", args: []string{"access", "grant", "--role", "User"}, code: 64, want: []string{"user"}},
		// Hostile servers: sync goes through its real path and must keep the warehouse intact.
		{name: "non-JSON body", class: "hostile", args: sync, code: 1, want: []string{"suppliers", "json"},
			host: hostile(func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, "hello, not json")
			})},
		{name: "HTML error page", class: "hostile", args: sync, code: 1, want: []string{"suppliers", "html"},
			host: hostile(func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/html")
				fmt.Fprint(w, "<!DOCTYPE html><html><body><h1>Scheduled maintenance</h1></body></html>")
			})},
		{name: "wrong types", class: "hostile", args: sync, code: 1, want: []string{"suppliers", "id"},
			host: hostile(func(w http.ResponseWriter) { fmt.Fprint(w, `[{"id":"twelve","name":42,"updated-at":true}]`) })},
		{name: "record without id", class: "hostile", args: sync, code: 1, want: []string{"suppliers", "id"},
			host: hostile(func(w http.ResponseWriter) {
				fmt.Fprint(w, `[{"name":"No Id Inc","updated-at":"2026-01-01T00:00:00Z","created-at":"2026-01-01T00:00:00Z"}]`)
			})},
		{name: "object instead of a list", class: "hostile", args: sync, code: 1, want: []string{"suppliers"},
			host: hostile(func(w http.ResponseWriter) { fmt.Fprint(w, `{"errors":{"base":["not a list"]}}`) })},
		{name: "100 MB body", class: "hostile", args: sync, code: 1, want: []string{"suppliers", "larger"},
			host: hostile(func(w http.ResponseWriter) {
				chunk := []byte(strings.Repeat(`{"id":1,"name":"`+strings.Repeat("x", 1000)+`"},`, 64))
				w.Write([]byte("["))
				for n := 0; n < 100<<20; n += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
				w.Write([]byte(`{"id":2}]`))
			})},
		{name: "deeply nested JSON", class: "hostile", args: sync, code: 1, want: []string{"suppliers"},
			host: hostile(func(w http.ResponseWriter) {
				fmt.Fprint(w, `[{"id":1,"custom-fields":`+strings.Repeat(`{"a":`, 200000)+"1"+strings.Repeat("}", 200000)+"}]")
			})},
		{name: "redirect to another host", class: "hostile", args: sync, code: 1, want: []string{"redirect"},
			host: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/oauth2/token" {
					tokenOK(w)
					return
				}
				http.Redirect(w, r, "http://127.0.0.2:1/steal"+r.URL.RequestURI(), http.StatusFound)
			}},
	}

	// Each case gets its own copy of the warehouse, so that the cases run in parallel (the hostile ones
	// spend most of their time in the client's retries).
	tried := 0
	classes := map[string]int{}
	for _, tc := range cases {
		tried++
		classes[tc.class]++
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			copyWarehouse(t, seed, dir)
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			runEnv := env
			if tc.env != nil {
				runEnv = tc.env
			}
			if tc.host != nil {
				hs := httptest.NewServer(tc.host)
				defer hs.Close()
				runEnv = []string{"COUPA_HOST=" + hs.URL, "COUPA_CLIENT_ID=hostile-test", "COUPA_CLIENT_SECRET=hostile-test-secret"}
			}
			before, suppliers, listing := fingerprint(t, dir), s.Count("suppliers"), listDir(t, dir)
			r := runCoupa(t, dir, runEnv, tc.args...)
			assertCleanError(t, tc.name, r, tc.code, tc.want...)
			t.Logf("%s: exit %d: %.300s", tc.class, r.code, r.lastLine())
			if after := fingerprint(t, dir); after != before {
				t.Errorf("%s: the warehouse's rows or cursors changed: %s", tc.name, firstDiff(before, after))
			}
			if n := s.Count("suppliers"); n != suppliers {
				t.Errorf("%s: Coupa's suppliers went from %d to %d", tc.name, suppliers, n)
			}
			if l := listDir(t, dir); l != listing {
				t.Errorf("%s: files appeared or vanished in the working directory:\nbefore %s\nafter  %s", tc.name, listing, l)
			}
		})
	}
	t.Logf("FIGURE bad input: %d cases tried %v", tried, classes)
	if tried < 30 {
		t.Fatalf("only %d bad inputs", tried)
	}
}

// hostile is a fake Coupa whose token endpoint works and whose API answers every request with body.
func hostile(body func(http.ResponseWriter)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/token" {
			tokenOK(w)
			return
		}
		w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
		body(w)
	}
}

func tokenOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"access_token":"hostile-token","token_type":"bearer","expires_in":3600}`)
}

// fingerprint hashes every data row and every saved cursor of the warehouse w.db in dir: what a failed
// command must not change. Run records are left out: a failed run is recorded, and that is no loss.
func fingerprint(t *testing.T, dir string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "w.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('_coupa_runs', '_coupa_state', 'sqlite_sequence') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	h := new(strings.Builder)
	for _, tb := range append(tables, "cursors") {
		q := `SELECT * FROM "` + tb + `" ORDER BY 1`
		if tb == "cursors" {
			q = `SELECT table_name, cursor FROM _coupa_state ORDER BY 1`
		}
		rs, err := db.Query(q)
		if err != nil {
			t.Fatalf("fingerprint of %s: %v", tb, err)
		}
		cols, _ := rs.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		fmt.Fprintf(h, "%s\n", tb)
		for rs.Next() {
			rs.Scan(ptrs...)
			fmt.Fprintln(h, vals...)
		}
		rs.Close()
	}
	return h.String()
}

// firstDiff shows the first line where two fingerprints differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: before %.300q, after %.300q", i+1, x, y)
		}
	}
	return ""
}

// listDir names the regular files of dir, sorted, leaving out SQLite's own side files.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); !strings.HasPrefix(n, "w.db") {
			names = append(names, n)
		}
	}
	return strings.Join(names, " ")
}

// copyWarehouse copies the SQLite warehouse w.db (and any side file) from one directory to another.
func copyWarehouse(t *testing.T, from, to string) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(from, "w.db*"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(m)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
