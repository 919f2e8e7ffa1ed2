package main

import (
	"bufio"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

func simPuts(s *sim.Server) int64 {
	var n int64
	for ep, codes := range s.Stats().Requests {
		if strings.HasPrefix(ep, "PUT") || strings.HasPrefix(ep, "POST /api") {
			for _, c := range codes {
				n += c
			}
		}
	}
	return n
}

func simUser(t *testing.T, s *sim.Server, id int64) map[string]any {
	t.Helper()
	users, err := s.Snapshot("users")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if fmt.Sprint(u["id"]) == fmt.Sprint(id) {
			return u
		}
	}
	t.Fatalf("user %d not in the simulator", id)
	return nil
}

func idsOf(v any) []string {
	var out []string
	arr, _ := v.([]any)
	for _, x := range arr {
		out = append(out, fmt.Sprint(x.(map[string]any)["id"]))
	}
	return out
}

// wellFormed parses an HTML document strictly as XML with HTML's entities, which is what our
// report promises: balanced, properly nested tags.
func wellFormed(doc string) error {
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 {
		return fmt.Errorf("unbalanced document (depth %d at end)", depth)
	}
	return nil
}

func TestAccessReviewReports(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 21, Scale: 600})
	if _, err := s.Mutate(sim.Mutation{Resource: "users", ID: 3, Set: map[string]any{"active": false, "expense-user": true}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := simtest.Env(s, ts)
	users, _ := s.Snapshot("users")
	inactive, licensedInactive := 0, 0
	for _, u := range users {
		if u["active"] != true {
			inactive++
			for k, v := range u {
				if strings.HasSuffix(k, "-user") && k != "api-user" && v == true {
					licensedInactive++
					break
				}
			}
		}
	}

	r := runCoupa(t, dir, env, "access", "review", "-o", "html", "--out", "review.html")
	if r.code != 0 {
		t.Fatalf("review html: %d %s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "review.html"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if err := wellFormed(doc); err != nil {
		t.Fatalf("the HTML report does not parse: %v", err)
	}
	for metric, want := range map[string]int{"users": len(users), "inactive_users": inactive} {
		re := regexp.MustCompile(`data-metric="` + metric + `"><b>(\d+)</b>`)
		m := re.FindStringSubmatch(doc)
		if m == nil || m[1] != fmt.Sprint(want) {
			t.Errorf("summary %s = %v, want %d", metric, m, want)
		}
	}
	m := regexp.MustCompile(`data-kind="inactive_with_license"><td>[^<]*</td><td>(\d+)</td>`).FindStringSubmatch(doc)
	if m == nil || m[1] != fmt.Sprint(licensedInactive) {
		t.Errorf("inactive-with-license count %v, want %d", m, licensedInactive)
	}
	if !strings.Contains(doc, "<svg") || strings.Count(doc, `class="bar"`) != 16 {
		t.Errorf("the report should carry an inline SVG chart with one bar per license")
	}
	if regexp.MustCompile(`(src|href)="https?:`).MatchString(doc) {
		t.Error("the report references an external resource; it must be self-contained")
	}

	r = runCoupa(t, dir, env, "access", "review", "-o", "csv")
	if r.code != 0 {
		t.Fatalf("review csv: %d %s", r.code, r.stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || len(rows) != len(users)+1 {
		t.Fatalf("csv: %d rows (%v), want header + %d users", len(rows), err, len(users))
	}

	r = runCoupa(t, dir, env, "access", "review", "-o", "json")
	var rv struct {
		Summary struct {
			Users int `json:"users"`
		} `json:"summary"`
		Users []json.RawMessage `json:"users"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rv); err != nil || rv.Summary.Users != len(users) || len(rv.Users) != len(users) {
		t.Fatalf("json review: %v, %d users", err, rv.Summary.Users)
	}
}

func TestAccessGrantRevokeCLI(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 23, Scale: 300})
	dir := t.TempDir()
	env := simtest.Env(s, ts)
	u := simUser(t, s, 4)
	login := u["login"].(string)
	roles, _ := s.Snapshot("roles")
	var role map[string]any
	for _, r := range roles {
		held := false
		for _, id := range idsOf(u["roles"]) {
			held = held || id == fmt.Sprint(r["id"])
		}
		if !held {
			role = r
			break
		}
	}
	roleName := role["name"].(string)

	// dry run writes nothing
	n := simPuts(s)
	r := runCoupa(t, dir, env, "access", "grant", "--user", login, "--role", roleName, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "dry run") || simPuts(s) != n {
		t.Fatalf("dry run: code %d, out %q, writes %d", r.code, r.stdout, simPuts(s)-n)
	}

	r = runCoupa(t, dir, env, "access", "grant", "--user", login, "--role", roleName)
	if r.code != 0 {
		t.Fatalf("grant: %d %s", r.code, r.stderr)
	}
	after := idsOf(simUser(t, s, 4)["roles"])
	if len(after) != len(idsOf(u["roles"]))+1 || !strings.Contains(strings.Join(after, ","), fmt.Sprint(role["id"])) {
		t.Fatalf("roles after grant %v (before %v)", after, idsOf(u["roles"]))
	}
	r = runCoupa(t, dir, env, "access", "grant", "--user", login, "--role", roleName)
	if r.code != 0 || !strings.Contains(r.stdout, "no change") {
		t.Fatalf("second grant should be a reported no-op: %d %q", r.code, r.stdout)
	}
	r = runCoupa(t, dir, env, "access", "revoke", "--user", login, "--role", fmt.Sprint(role["id"]))
	if r.code != 0 || strings.Join(idsOf(simUser(t, s, 4)["roles"]), ",") != strings.Join(idsOf(u["roles"]), ",") {
		t.Fatalf("revoke: %d %s; roles %v", r.code, r.stderr, idsOf(simUser(t, s, 4)["roles"]))
	}

	// audit log: one line per change, actor is the client id, the secret never appears
	b, err := os.ReadFile(filepath.Join(dir, defaultAuditLog))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), s.DefaultClient().Secret) {
		t.Fatal("the audit log contains the client secret")
	}
	var results []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e["actor"] != s.DefaultClient().ID || e["login"] != login || e["time"] == nil || e["before"] == nil {
			t.Errorf("audit entry incomplete: %s", sc.Text())
		}
		results = append(results, fmt.Sprint(e["result"]))
	}
	if strings.Join(results, ",") != "applied,noop,applied" {
		t.Errorf("audit results %v", results)
	}

	// unknown names: suggestion, usage-free error, nothing written
	n = simPuts(s)
	r = runCoupa(t, dir, env, "access", "grant", "--user", login, "--role", strings.ToLower(roleName)+"x")
	if r.code == 0 || !strings.Contains(r.stderr, "did you mean") || !strings.Contains(r.stderr, roleName) {
		t.Errorf("unknown role: %d %q", r.code, r.stderr)
	}
	r = runCoupa(t, dir, env, "access", "grant", "--user", login+"zz", "--license", "purchasing")
	if r.code == 0 || !strings.Contains(r.stderr, login) {
		t.Errorf("unknown user: %d %q", r.code, r.stderr)
	}
	r = runCoupa(t, dir, env, "access", "grant", "--user", login, "--license", "purchasng")
	if r.code == 0 || !strings.Contains(r.stderr, "purchasing-user") {
		t.Errorf("unknown license: %d %q", r.code, r.stderr)
	}
	if simPuts(s) != n {
		t.Error("a refused command wrote to Coupa")
	}

	// disable / enable
	r = runCoupa(t, dir, env, "access", "disable", "--user", login)
	if r.code != 0 || simUser(t, s, 4)["active"] != false {
		t.Fatalf("disable: %d %s", r.code, r.stderr)
	}
	r = runCoupa(t, dir, env, "access", "enable", "--user", login)
	if r.code != 0 || simUser(t, s, 4)["active"] != true {
		t.Fatalf("enable: %d %s", r.code, r.stderr)
	}
}

func TestAccessMissingWriteScopeWritesNothing(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 25, Scale: 300, Clients: []sim.Client{{ID: "reader", Secret: "reader-secret-value",
		Scopes: []string{"core.user.read", "core.user_group.read", "core.common.read"}}}})
	dir := t.TempDir()
	u := simUser(t, s, 2)
	n := simPuts(s)
	r := runCoupa(t, dir, simtest.Env(s, ts), "access", "disable", "--user", u["login"].(string))
	if r.code == 0 || !strings.Contains(r.stderr, "core.user.write") {
		t.Fatalf("want an error naming core.user.write, got %d %q", r.code, r.stderr)
	}
	if simPuts(s) != n || simUser(t, s, 2)["active"] != u["active"] {
		t.Fatal("something was written without the write scope")
	}
	if strings.Contains(r.stderr, "reader-secret-value") {
		t.Fatal("the error shows the secret")
	}
}

func TestAccessPlanApplyCLI(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 27, Scale: 300})
	dir := t.TempDir()
	env := simtest.Env(s, ts)
	u2, u3 := simUser(t, s, 2), simUser(t, s, 3)
	groups, _ := s.Snapshot("user_groups")
	g := groups[0]
	yml := fmt.Sprintf("users:\n  - user: %s\n    licenses: [purchasing-user]\n    roles: [User]\ngroups:\n  - group: %q\n    members: [%s]\n",
		u2["login"], g["name"], u3["login"])
	if err := os.WriteFile(filepath.Join(dir, "access.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCoupa(t, dir, env, "access", "plan", "-f", "access.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "change(s)") {
		t.Fatalf("plan: %d %q %q", r.code, r.stdout, r.stderr)
	}
	// without --yes and without an answer nothing happens
	n := simPuts(s)
	r = runCoupa(t, dir, env, "access", "apply", "-f", "access.yaml")
	if r.code == 0 || !strings.Contains(r.stderr, "not confirmed") || simPuts(s) != n {
		t.Fatalf("unconfirmed apply: %d %q, writes %d", r.code, r.stderr, simPuts(s)-n)
	}
	r = runCoupa(t, dir, env, "access", "apply", "-f", "access.yaml", "--yes")
	if r.code != 0 {
		t.Fatalf("apply: %d %s %s", r.code, r.stdout, r.stderr)
	}
	lic := 0
	after := simUser(t, s, 2)
	for k, v := range after {
		if strings.HasSuffix(k, "-user") && k != "api-user" && v == true {
			lic++
		}
	}
	if lic != 1 || after["purchasing-user"] != true || len(idsOf(after["roles"])) != 1 {
		t.Errorf("user 2 after apply: %d licenses, roles %v", lic, idsOf(after["roles"]))
	}
	members, _ := s.Snapshot("user_group_memberships")
	var in []string
	for _, m := range members {
		if fmt.Sprint(m["user-group-id"]) == fmt.Sprint(g["id"]) {
			in = append(in, fmt.Sprint(m["user-id"]))
		}
	}
	if strings.Join(in, ",") != "3" {
		t.Errorf("group %v members %v, want [3]", g["name"], in)
	}
	n = simPuts(s)
	r = runCoupa(t, dir, env, "access", "apply", "-f", "access.yaml", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "No changes") || simPuts(s) != n {
		t.Fatalf("second apply: %d %q, writes %d", r.code, r.stdout, simPuts(s)-n)
	}

	// a broken file: line and column, nothing contacted
	bad := "users:\n  - user: x\n    rolez: [User]\n"
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad), 0o600)
	r = runCoupa(t, dir, env, "access", "apply", "-f", "bad.yaml", "--yes")
	if r.code == 0 || !strings.Contains(r.stderr, "bad.yaml:3:5") || !strings.Contains(r.stderr, "rolez") {
		t.Fatalf("bad file: %d %q", r.code, r.stderr)
	}
}

func TestAccessSyncIntoWarehouse(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 29, Scale: 700})
	dir := t.TempDir()
	r := runCoupa(t, dir, simtest.Env(s, ts), "access", "sync", "--dest", "sqlite:id.db", "-q")
	if r.code != 0 {
		t.Fatalf("access sync: %d %s", r.code, r.stderr)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "id.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	users, _ := s.Snapshot("users")
	groups, _ := s.Snapshot("user_groups")
	memberships, _ := s.Snapshot("user_group_memberships")
	bgs, _ := s.Snapshot("business_groups")
	roles, _ := s.Snapshot("roles")
	userRoles, userCGs, userLicenses := 0, 0, 0
	for _, u := range users {
		userRoles += len(idsOf(u["roles"]))
		userCGs += len(idsOf(u["content-groups"]))
		for _, l := range catalog.Licenses {
			if _, ok := u[l]; ok {
				userLicenses++
			}
		}
	}
	for table, want := range map[string]int{"users": len(users), "user_groups": len(groups),
		"user_group_members": len(memberships), "user_roles": userRoles, "content_groups": len(bgs),
		"user_content_groups": userCGs, "roles": len(roles), "user_licenses": userLicenses} {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if n != want {
			t.Errorf("%s has %d rows, simulator %d", table, n, want)
		}
	}
}

func TestAccessCreateUser(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 31, Scale: 300})
	dir := t.TempDir()
	env := simtest.Env(s, ts)
	before := s.Count("users")
	os.WriteFile(filepath.Join(dir, "u.json"), []byte(`{"login":"new.hire","email":"new.hire@example.com","active":true,"firstname":"New","lastname":"Hire","purchasing_user":true}`), 0o600)
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"login":"x.y"}`), 0o600)

	r := runCoupa(t, dir, env, "access", "create-user", "-f", "u.json", "--dry-run")
	if r.code != 0 || s.Count("users") != before {
		t.Fatalf("dry run: %d %s; users %d -> %d", r.code, r.stderr, before, s.Count("users"))
	}
	r = runCoupa(t, dir, env, "access", "create-user", "-f", "bad.json")
	if r.code == 0 || !strings.Contains(r.stderr, "email") || !strings.Contains(r.stderr, "active") || s.Count("users") != before {
		t.Fatalf("incomplete user file: %d %q", r.code, r.stderr)
	}
	r = runCoupa(t, dir, env, "access", "create-user", "-f", "u.json")
	if r.code != 0 || s.Count("users") != before+1 {
		t.Fatalf("create: %d %s", r.code, r.stderr)
	}
	users, _ := s.Snapshot("users")
	last := users[len(users)-1]
	if last["login"] != "new.hire" || last["purchasing-user"] != true {
		t.Fatalf("created user %v", last)
	}
	r = runCoupa(t, dir, env, "access", "create-user", "-f", "u.json")
	if r.code == 0 || !strings.Contains(r.stderr, "already exists") || s.Count("users") != before+1 {
		t.Fatalf("duplicate create: %d %q", r.code, r.stderr)
	}
}
