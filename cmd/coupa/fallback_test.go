package main

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// On an instance without /api/roles, access sync and sync --tables roles still read every role: from
// GraphQL, or without GraphQL from the users holding them. They exit 0 and say where roles came from.
func TestRolesWithoutRolesEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noGraphQL bool
		args      []string
		source    string
	}{
		{"access sync, GraphQL", false, []string{"access", "sync"}, "GraphQL roles"},
		{"access sync, users", true, []string{"access", "sync"}, "the roles embedded in users"},
		{"sync roles, GraphQL", false, []string{"sync", "--tables", "roles"}, "GraphQL roles"},
		{"sync roles, users", true, []string{"sync", "--tables", "roles"}, "the roles embedded in users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ts := simtest.Start(t, sim.Options{Seed: 29, Scale: 200, NoRolesEndpoint: true, NoGraphQL: tc.noGraphQL})
			dir := t.TempDir()
			r := runCoupa(t, dir, simtest.Env(s, ts), append(tc.args, "--dest", "sqlite:id.db")...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if n := strings.Count(r.stderr, "read from "+tc.source); n != 1 {
				t.Fatalf("want one line naming %q, got %d in:\n%s", tc.source, n, r.stderr)
			}
			want := simRoleNames(t, s, tc.noGraphQL)
			got := warehouseRoleNames(t, filepath.Join(dir, "id.db"))
			if !slices.Equal(got, want) {
				t.Fatalf("roles in the warehouse %v, want %v", got, want)
			}
			// A second run reads them again without complaint.
			if r := runCoupa(t, dir, simtest.Env(s, ts), append(tc.args, "--dest", "sqlite:id.db", "-q")...); r.code != 0 {
				t.Fatalf("second run: exit %d: %s", r.code, r.stderr)
			}
		})
	}
}

// simRoleNames are the "id name" of every role of the simulator, or of the roles some user holds.
func simRoleNames(t *testing.T, s *sim.Server, heldOnly bool) []string {
	t.Helper()
	held := map[string]bool{}
	users, _ := s.Snapshot("users")
	for _, u := range users {
		for _, id := range idsOf(u["roles"]) {
			held[fmt.Sprint(id)] = true
		}
	}
	roles, _ := s.Snapshot("roles")
	var out []string
	for _, r := range roles {
		id := fmt.Sprint(r["id"])
		if !heldOnly || held[id] {
			out = append(out, id+" "+fmt.Sprint(r["name"]))
		}
	}
	if len(out) == 0 {
		t.Fatal("the simulator has no roles")
	}
	slices.Sort(out)
	return out
}

func warehouseRoleNames(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT id, name FROM roles")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(id)+" "+name)
	}
	slices.Sort(out)
	return out
}
