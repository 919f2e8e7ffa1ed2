// Package access is identity governance for Coupa: it reads users, groups, roles, content groups and licenses,
// reviews them for an auditor, and changes them safely (grant, revoke, plan/apply) with an audit log.
package access

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
)

// API is the part of *coupa.Client this package uses; tests substitute fakes.
type API interface {
	List(ctx context.Context, resource string, opts *coupa.ListOptions) iter.Seq2[coupa.Record, error]
	Get(ctx context.Context, resource string, id int64, fields []any) (coupa.Record, *coupa.Response, error)
	Update(ctx context.Context, resource string, id int64, body any, opts *coupa.WriteOptions) (coupa.Record, *coupa.Response, error)
	Create(ctx context.Context, resource string, body any, opts *coupa.WriteOptions) (coupa.Record, *coupa.Response, error)
}

// Scopes a client needs to read (and, with write, change) what this package touches.
func Scopes(write bool) []string {
	s := []string{"core.user.read", "core.user_group.read", "core.common.read"}
	if write {
		s = append(s, "core.user.write")
	}
	return s
}

// Ref names one object: its id and, when known, its name.
type Ref struct {
	ID   int64  `json:"id"`
	Name string `json:"name,omitempty"`
}

// User is one Coupa account with its entitlements.
type User struct {
	ID             int64    `json:"id"`
	Login          string   `json:"login"`
	Email          string   `json:"email"`
	Name           string   `json:"name"`
	Active         bool     `json:"active"`
	APIUser        bool     `json:"api_user"`
	AuthMethod     string   `json:"authentication_method,omitempty"`
	Manager        *Ref     `json:"manager,omitempty"`
	Department     string   `json:"department,omitempty"`
	EmployeeNumber string   `json:"employee_number,omitempty"`
	LastLogin      string   `json:"last_login,omitempty"` // when the instance returns a last-activity field
	Roles          []Ref    `json:"roles"`
	Groups         []Ref    `json:"groups"`
	ContentGroups  []Ref    `json:"content_groups"`
	Licenses       []string `json:"licenses"` // license fields that are true, in catalog.Licenses order
}

// Group is a user group with its members.
type Group struct {
	ID      int64   `json:"id"`
	Name    string  `json:"name"`
	Active  bool    `json:"active"`
	Members []int64 `json:"members"`
}

// Role is a Coupa role.
type Role struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Omnipotent bool   `json:"omnipotent"`
}

// Model is everything read from one instance.
type Model struct {
	Users         []User  `json:"users"`
	Groups        []Group `json:"groups"`
	Roles         []Role  `json:"roles"`
	ContentGroups []Ref   `json:"content_groups"`
	// RolesListed says whether /api/roles answered; when not, Roles are those seen on users.
	RolesListed bool `json:"roles_listed"`
}

// Fetch reads users, groups, memberships and roles, paging every list to its end. Roles and memberships are
// optional endpoints: a 404 or 403 falls back to what the user records carry.
func Fetch(ctx context.Context, api API) (*Model, error) {
	m := &Model{}
	for rec, err := range api.List(ctx, "users", nil) {
		if err != nil {
			return nil, fmt.Errorf("reading users: %w", scopeHint(err, "core.user.read"))
		}
		m.Users = append(m.Users, ParseUser(rec))
	}
	groups := map[int64]*Group{}
	for rec, err := range api.List(ctx, "user_groups", nil) {
		if err != nil {
			return nil, fmt.Errorf("reading user groups: %w", scopeHint(err, "core.user_group.read"))
		}
		id, _ := rec.ID()
		g := &Group{ID: id, Name: str(rec["name"]), Active: boolean(rec["active"])}
		groups[id] = g
	}
	userIdx := map[int64]int{}
	for i, u := range m.Users {
		userIdx[u.ID] = i
	}
	// Members come from both sides: the users' user-groups arrays and the membership list. Their union is
	// the membership, so a partial array on either side cannot hide a member.
	members := map[int64]map[int64]bool{}
	add := func(g, u int64, name string) {
		if members[g] == nil {
			members[g] = map[int64]bool{}
		}
		members[g][u] = true
		if groups[g] == nil {
			groups[g] = &Group{ID: g, Name: name, Active: true}
		}
	}
	for _, u := range m.Users {
		for _, g := range u.Groups {
			add(g.ID, u.ID, g.Name)
		}
	}
	for rec, err := range api.List(ctx, "user_group_memberships", nil) {
		if err != nil {
			if coupa.IsNotFound(err) || coupa.IsForbidden(err) {
				break
			}
			return nil, fmt.Errorf("reading user group memberships: %w", err)
		}
		uid := intOf(rec["user-id"])
		if uid == 0 {
			uid = refOf(rec["user"]).ID
		}
		gid := intOf(rec["user-group-id"])
		if gid == 0 {
			gid = refOf(rec["user-group"]).ID
		}
		if uid == 0 || gid == 0 {
			continue
		}
		add(gid, uid, refOf(rec["user-group"]).Name)
		if i, ok := userIdx[uid]; ok && !hasRef(m.Users[i].Groups, gid) {
			m.Users[i].Groups = append(m.Users[i].Groups, Ref{ID: gid, Name: groups[gid].Name})
		}
	}
	for id, g := range groups {
		for u := range members[id] {
			g.Members = append(g.Members, u)
		}
		slices.Sort(g.Members)
		m.Groups = append(m.Groups, *g)
	}
	sort.Slice(m.Groups, func(i, j int) bool { return m.Groups[i].ID < m.Groups[j].ID })
	for i := range m.Users {
		for j, g := range m.Users[i].Groups {
			if g.Name == "" && groups[g.ID] != nil {
				m.Users[i].Groups[j].Name = groups[g.ID].Name
			}
		}
		sortRefs(m.Users[i].Groups)
	}

	roles := map[int64]Role{}
	m.RolesListed = true
	for rec, err := range api.List(ctx, "roles", nil) {
		if err != nil {
			if coupa.IsNotFound(err) || coupa.IsForbidden(err) {
				m.RolesListed = false
				break
			}
			return nil, fmt.Errorf("reading roles: %w", err)
		}
		id, _ := rec.ID()
		roles[id] = Role{ID: id, Name: str(rec["name"]), Omnipotent: boolean(rec["omnipotent"])}
	}
	cgs := map[int64]Ref{}
	for _, u := range m.Users {
		for _, r := range u.Roles {
			if _, ok := roles[r.ID]; !ok {
				roles[r.ID] = Role{ID: r.ID, Name: r.Name}
			}
		}
		for _, c := range u.ContentGroups {
			if _, ok := cgs[c.ID]; !ok || cgs[c.ID].Name == "" {
				cgs[c.ID] = c
			}
		}
	}
	for _, r := range roles {
		m.Roles = append(m.Roles, r)
	}
	sort.Slice(m.Roles, func(i, j int) bool { return m.Roles[i].ID < m.Roles[j].ID })
	for _, c := range cgs {
		m.ContentGroups = append(m.ContentGroups, c)
	}
	sortRefs(m.ContentGroups)
	return m, nil
}

// ParseUser reads a user record as the API returns it (dashed keys).
func ParseUser(rec coupa.Record) User {
	id, _ := rec.ID()
	u := User{
		ID:             id,
		Login:          str(rec["login"]),
		Email:          str(rec["email"]),
		Active:         boolean(rec["active"]),
		APIUser:        boolean(rec["api-user"]),
		AuthMethod:     str(rec["authentication-method"]),
		EmployeeNumber: str(rec["employee-number"]),
		Roles:          refsOf(rec["roles"]),
		Groups:         refsOf(rec["user-groups"]),
		ContentGroups:  refsOf(rec["content-groups"]),
		Licenses:       licensesOf(rec),
	}
	u.Name = str(rec["fullname"])
	if u.Name == "" {
		u.Name = strings.TrimSpace(str(rec["firstname"]) + " " + str(rec["lastname"]))
	}
	if mgr := refOf(rec["manager"]); mgr.ID != 0 {
		if l := str(asMap(rec["manager"])["login"]); l != "" {
			mgr.Name = l
		}
		u.Manager = &mgr
	}
	u.Department = refOf(rec["department"]).Name
	for _, k := range []string{"last-login-at", "last-login", "last-activity-at"} {
		if s := str(rec[k]); s != "" {
			u.LastLogin = s
			break
		}
	}
	return u
}

func licensesOf(rec coupa.Record) []string {
	out := []string{}
	for _, l := range catalog.Licenses {
		if boolean(rec[l]) {
			out = append(out, l)
		}
	}
	return out
}

func asMap(v any) map[string]any {
	switch m := v.(type) {
	case map[string]any:
		return m
	case coupa.Record:
		return m
	}
	return nil
}

func refOf(v any) Ref {
	m := asMap(v)
	if m == nil {
		return Ref{}
	}
	name := str(m["name"])
	if name == "" {
		name = str(m["login"])
	}
	return Ref{ID: intOf(m["id"]), Name: name}
}

func refsOf(v any) []Ref {
	out := []Ref{}
	arr, _ := v.([]any)
	for _, x := range arr {
		if r := refOf(x); r.ID != 0 {
			out = append(out, r)
		}
	}
	sortRefs(out)
	return out
}

func sortRefs(r []Ref) { sort.Slice(r, func(i, j int) bool { return r[i].ID < r[j].ID }) }

func hasRef(refs []Ref, id int64) bool {
	for _, r := range refs {
		if r.ID == id {
			return true
		}
	}
	return false
}

func str(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case json.Number:
		return s.String()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func boolean(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return b == "true" || b == "1"
	}
	return false
}

func intOf(v any) int64 {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return i
	case float64:
		return int64(n)
	case int64:
		return n
	case int:
		return int64(n)
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}
