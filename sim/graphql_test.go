package sim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Conformance tests for GraphQL, written from the fact sheet (§0, §6.11; wave 2 §7): POST /api/graphql
// with {"query","variables"}, Bearer token, collections taking a REST-style `query:` filter string,
// camelCase fields, errors as HTTP 200 with {"errors":[{"message"}]}, auth failures plain 401.

type gqlReply struct {
	code   int
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message string `json:"message"`
		Path    []any  `json:"path"`
	} `json:"errors"`
	raw []byte
}

func (st *simT) gql(tok, query string, vars map[string]any) gqlReply {
	st.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	r := st.do("POST", "/api/graphql", tok, jsonType, string(body))
	g := gqlReply{code: r.code, raw: r.body}
	if r.code == 200 {
		if err := json.Unmarshal(r.body, &g); err != nil {
			st.t.Fatalf("GraphQL answer is not JSON: %v: %.300s", err, r.body)
		}
	}
	return g
}

// data decodes data[field] of a successful answer.
func (g gqlReply) data(t *testing.T, field string, into any) {
	t.Helper()
	if g.code != 200 || len(g.Errors) > 0 {
		t.Fatalf("GraphQL answer %d with errors: %s", g.code, g.raw)
	}
	if err := json.Unmarshal(g.Data[field], into); err != nil {
		t.Fatalf("data.%s: %v: %s", field, err, g.raw)
	}
}

func (g gqlReply) mustFail(t *testing.T, want string) {
	t.Helper()
	if g.code == 200 {
		for _, e := range g.Errors {
			if strings.Contains(e.Message, want) {
				return
			}
		}
	}
	t.Fatalf("want HTTP 200 with an error mentioning %q, got %d %s", want, g.code, g.raw)
}

func TestGraphQLUsersMatchREST(t *testing.T) {
	st := start(t, Options{Scale: 600})
	var users []map[string]any
	st.gql(st.tok, `query getUsers { users(query: "id[gt]=0&type[blank]=true") { id email fullname active login } }`, nil).
		data(t, "users", &users)
	rest := st.list("/api/users")
	if len(users) != 50 || len(rest) != 50 {
		t.Fatalf("page of %d users (REST %d), want 50", len(users), len(rest))
	}
	for i, u := range users {
		if len(u) != 5 {
			t.Fatalf("user %v: want exactly the 5 selected fields", u)
		}
		r := rest[i]
		if u["id"] != r["id"] || u["email"] != r["email"] || u["fullname"] != r["fullname"] || u["active"] != r["active"] || u["login"] != r["login"] {
			t.Fatalf("GraphQL user %v differs from REST %v", u, r)
		}
	}
}

func TestGraphQLKeysetPaging(t *testing.T) {
	st := start(t, Options{Scale: 1300})
	var all []int64
	last := int64(0)
	for page := 0; page < 100; page++ {
		// baton-coupa's first page may start with '&'; it must be accepted.
		q := fmt.Sprintf("&type[blank]=true&id[gt]=%d", last)
		var users []map[string]any
		st.gql(st.tok, `query($q: String) { users(query: $q) { id } }`, map[string]any{"q": q}).data(t, "users", &users)
		if len(users) == 0 {
			break
		}
		if len(users) > 50 {
			t.Fatalf("page of %d", len(users))
		}
		got := ids(users)
		all = append(all, got...)
		last = got[len(got)-1]
	}
	if len(all) != st.s.Count("users") || !slices.IsSorted(all) {
		t.Fatalf("keyset paging read %d users (sorted %v), want %d", len(all), slices.IsSorted(all), st.s.Count("users"))
	}
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Fatalf("user %d twice", all[i])
		}
	}
}

func TestGraphQLFilters(t *testing.T) {
	st := start(t, Options{Scale: 600})
	cases := []struct{ gql, rest string }{
		{"active=true", "active=true"},
		{"roles[id]=2&id[gt]=0", "roles[id]=2"},
		{"expense-user=true", "expense_user=true"},
		{"treasury_user=true", "treasury-user=true"},
		{"id[lt_or_eq]=5", "id[lt_or_eq]=5"},
		{"limit=5", "limit=5"},
		{"offset=10&limit=3", "offset=10&limit=3"},
	}
	for _, c := range cases {
		var users []map[string]any
		st.gql(st.tok, `query($q: String) { users(query: $q) { id } }`, map[string]any{"q": c.gql}).data(t, "users", &users)
		want := ids(st.list("/api/users?" + c.rest))
		if !slices.Equal(ids(users), want) {
			t.Fatalf("query %q: ids %v, REST gives %v", c.gql, ids(users), want)
		}
	}
	// A filter the REST engine refuses is an error of that field: HTTP 200, data.users null.
	g := st.gql(st.tok, `{ users(query: "id=abc") { id } }`, nil)
	g.mustFail(t, "integer")
	if string(g.Data["users"]) != "null" || len(g.Errors[0].Path) != 1 || g.Errors[0].Path[0] != "users" {
		t.Fatalf("failed field: %s", g.raw)
	}
}

func TestGraphQLPagingSettings(t *testing.T) {
	st := start(t, Options{Scale: 600, GraphQLPageSize: 20})
	var users []map[string]any
	st.gql(st.tok, `{ users { id } }`, nil).data(t, "users", &users)
	if len(users) != 20 {
		t.Fatalf("GraphQLPageSize 20: page of %d", len(users))
	}
	ig := start(t, Options{Scale: 600, GraphQLIgnoresPaging: true})
	ig.gql(ig.tok, `{ users(query: "limit=5&offset=7") { id } }`, nil).data(t, "users", &users)
	if len(users) != 50 || ids(users)[0] != 1 {
		t.Fatalf("GraphQLIgnoresPaging: page of %d from id %v", len(users), ids(users)[:1])
	}
}

func TestGraphQLNestedSelections(t *testing.T) {
	st := start(t, Options{Scale: 600})
	var users []struct {
		ID    int64 `json:"id"`
		Roles []struct {
			ID          int64  `json:"id"`
			Name        string `json:"name"`
			Description string `json:"description"`
		} `json:"roles"`
		UserGroups []struct {
			ID          int64  `json:"id"`
			Description string `json:"description"`
		} `json:"userGroups"`
		ContentGroups []map[string]any `json:"contentGroups"`
		AccountGroups []map[string]any `json:"accountGroups"`
		Manager       *struct {
			Login    string `json:"login"`
			Fullname string `json:"fullname"`
		} `json:"manager"`
	}
	st.gql(st.tok, `{ users(query: "id=7") { id roles { id name description } userGroups { id description }
		contentGroups { id } accountGroups { id } manager { login fullname } } }`, nil).data(t, "users", &users)
	if len(users) != 1 || users[0].ID != 7 || len(users[0].Roles) == 0 || len(users[0].UserGroups) == 0 ||
		len(users[0].ContentGroups) == 0 || users[0].AccountGroups == nil || users[0].Manager == nil {
		t.Fatalf("user 7: %+v", users)
	}
	for _, r := range users[0].Roles {
		role := st.one(fmt.Sprintf("/api/roles/%d", r.ID))
		if r.Description == "" || r.Description != role["description"] || r.Name != role["name"] {
			t.Fatalf("role %+v, REST role %v", r, role)
		}
	}
	for _, g := range users[0].UserGroups {
		if want := st.one(fmt.Sprintf("/api/user_groups/%d", g.ID))["description"]; g.Description != want {
			t.Fatalf("group %+v, REST description %v", g, want)
		}
	}
	mgr := st.one(fmt.Sprintf("/api/users/%d", int64(st.one("/api/users/7")["manager"].(map[string]any)["id"].(float64))))
	if users[0].Manager.Fullname != mgr["fullname"] {
		t.Fatalf("manager %+v, REST %v", users[0].Manager, mgr["fullname"])
	}
}

func TestGraphQLGroupMembers(t *testing.T) {
	st := start(t, Options{Scale: 600})
	var groups []struct {
		ID         int64            `json:"id"`
		Name       string           `json:"name"`
		CanApprove *bool            `json:"canApprove"`
		Active     *bool            `json:"active"`
		Users      []map[string]any `json:"users"`
	}
	st.gql(st.tok, `query getGroupMembers { userGroups(query: "id=2") { id name description active canApprove users { id } } }`, nil).
		data(t, "userGroups", &groups)
	var want []int64
	for _, m := range st.listAll("/api/user_group_memberships?user_group_id=2") {
		want = append(want, int64(m["user-id"].(float64)))
	}
	slices.Sort(want)
	got := ids(groups[0].Users)
	slices.Sort(got)
	if len(groups) != 1 || groups[0].CanApprove == nil || groups[0].Active == nil || len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("group 2 members %v, memberships say %v (%+v)", got, want, groups)
	}
}

func TestGraphQLRolesWithoutRESTRoles(t *testing.T) {
	st := start(t, Options{NoRolesEndpoint: true})
	var roles []map[string]any
	st.gql(st.tok, `query getRoles { roles(query: "id[gt]=0") { id name description } }`, nil).data(t, "roles", &roles)
	if len(roles) != len(roleList) || roles[0]["name"] != "Admin" || roles[0]["description"] == "" {
		t.Fatalf("roles %v", roles)
	}
	if r := st.getJSON("/api/roles"); r.code != 404 {
		t.Fatalf("/api/roles answered %d with NoRolesEndpoint", r.code)
	}
}

func TestGraphQLLanguage(t *testing.T) {
	st := start(t, Options{})
	g := st.gql(st.tok, `query Q($id: Int!, $yes: Boolean!) { one: user(id: $id) { ...U } none: user(id: 999999) { id }
		g: userGroup(id: 1) { __typename id @include(if: $yes) name @skip(if: $yes) } }
		fragment U on User { id login ... on User { email } }`, map[string]any{"id": 3, "yes": true})
	var one map[string]any
	g.data(t, "one", &one)
	if one["id"] != float64(3) || one["login"] == nil || one["email"] == nil || len(one) != 3 {
		t.Fatalf("aliased user with fragments: %v", one)
	}
	if string(g.Data["none"]) != "null" {
		t.Fatalf("missing user: %s", g.Data["none"])
	}
	var grp map[string]any
	g.data(t, "g", &grp)
	if grp["__typename"] != "UserGroup" || grp["id"] != float64(1) || grp["name"] != nil {
		t.Fatalf("directives: %v", grp)
	}
}

func TestGraphQLErrors(t *testing.T) {
	st := start(t, Options{Clients: []Client{{ID: "ap", Secret: "s", Scopes: []string{"core.invoice.read"}}}})
	cases := []struct{ name, query, want string }{
		{"unknown field", `{ users { id shoeSize } }`, "shoeSize"},
		{"unknown root", `{ invoiceHeaders { id } }`, "invoiceHeaders"},
		{"unknown argument", `{ users(first: 5) { id } }`, "first"},
		{"syntax", `{ users { id `, "Expected"},
		{"scalar with selection", `{ users { id { x } } }`, "id"},
		{"object without selection", `{ users { roles } }`, "roles"},
		{"mutation", `mutation { deactivate(id: 1) { id } }`, "mutation"},
		{"wrong argument type", `{ user(id: "x") { id } }`, "Int"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := st.gql(st.tok, c.query, nil)
			g.mustFail(t, c.want)
			if g.Data != nil {
				t.Fatalf("an invalid document must not run: %s", g.raw)
			}
		})
	}
	r := st.do("POST", "/api/graphql", st.tok, jsonType, `{"query": 5}`)
	if r.code != 200 || !strings.Contains(string(r.body), `"errors"`) {
		t.Fatalf("malformed body: %d %s", r.code, r.body)
	}
	if r := st.do("GET", "/api/graphql", st.tok, jsonType, ""); r.code != 405 {
		t.Fatalf("GET /api/graphql: %d", r.code)
	}
	// Auth failures are plain 401, as in REST, and JSON whatever Accept says.
	for _, tok := range []string{"", "nope"} {
		r := st.do("POST", "/api/graphql", tok, "", `{"query":"{ users { id } }"}`)
		if r.code != 401 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("token %q: %d %s", tok, r.code, r.header.Get("Content-Type"))
		}
	}
	// A token without the object's read scope: the field fails, HTTP stays 200.
	ap := st.mint("ap", "s", "")
	g := st.gql(ap, `{ users { id } }`, nil)
	g.mustFail(t, "core.user.read")
	if string(g.Data["users"]) != "null" {
		t.Fatalf("denied field: %s", g.raw)
	}
}

func TestNoGraphQL(t *testing.T) {
	st := start(t, Options{NoGraphQL: true})
	if r := st.do("POST", "/api/graphql", st.tok, jsonType, `{"query":"{ users { id } }"}`); r.code != 404 {
		t.Fatalf("NoGraphQL: %d %s", r.code, r.body)
	}
	if n := st.s.Stats().Requests["graphql"]["404"]; n != 1 {
		t.Fatalf("stats %v", st.s.Stats().Requests)
	}
}

func TestGraphQLCountsRecordsForLatency(t *testing.T) {
	st := start(t, Options{})
	r := st.s.graphqlAnswer(obj{}, nil, 0)
	if r.status != 200 || string(r.body) != `{"data":{}}` {
		t.Fatalf("empty answer %d %s", r.status, r.body)
	}
}

// Introspection is supported (wave 2 §7): answered from the schema the queries are validated against.
func TestGraphQLIntrospection(t *testing.T) {
	st := start(t, Options{})
	type typeRef struct {
		Kind   string   `json:"kind"`
		Name   *string  `json:"name"`
		OfType *typeRef `json:"ofType"`
	}
	var schema struct {
		QueryType    struct{ Name string } `json:"queryType"`
		MutationType any                   `json:"mutationType"`
		Types        []struct {
			Kind   string `json:"kind"`
			Name   string `json:"name"`
			Fields []struct {
				Name string  `json:"name"`
				Type typeRef `json:"type"`
				Args []struct {
					Name string `json:"name"`
				} `json:"args"`
			} `json:"fields"`
		} `json:"types"`
		Directives []struct {
			Name      string   `json:"name"`
			Locations []string `json:"locations"`
		} `json:"directives"`
	}
	st.gql(st.tok, `query IntrospectionQuery { __schema { queryType { name } mutationType { name }
		types { kind name fields(includeDeprecated: true) { name args { name } type { ...T } } }
		directives { name locations } } }
		fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }`, nil).
		data(t, "__schema", &schema)
	if schema.QueryType.Name != "Query" || schema.MutationType != nil || len(schema.Directives) == 0 {
		t.Fatalf("schema: %+v", schema.QueryType)
	}
	found := map[string]string{}
	for _, ty := range schema.Types {
		if ty.Kind == "SCALAR" && ty.Fields != nil {
			t.Fatalf("scalar %s has fields", ty.Name)
		}
		for _, f := range ty.Fields {
			r := f.Type
			desc := r.Kind
			for r.OfType != nil {
				r = *r.OfType
				desc += " " + r.Kind
			}
			if r.Name != nil {
				desc += " " + *r.Name
			}
			found[ty.Name+"."+f.Name] = desc
			if ty.Name == "Query" && f.Name == "users" && (len(f.Args) != 1 || f.Args[0].Name != "query") {
				t.Fatalf("users arguments %+v", f.Args)
			}
		}
	}
	if found["User.userGroups"] != "LIST NON_NULL OBJECT UserGroup" || found["UserGroup.users"] != "LIST NON_NULL OBJECT User" ||
		found["User.id"] != "NON_NULL SCALAR Int" || found["Role.description"] != "SCALAR String" {
		t.Fatalf("field types: userGroups %q, users %q, id %q, description %q", found["User.userGroups"],
			found["UserGroup.users"], found["User.id"], found["Role.description"])
	}
	var user struct {
		Name   string                  `json:"name"`
		Fields []struct{ Name string } `json:"fields"`
	}
	g := st.gql(st.tok, `{ __type(name: "User") { name fields { name } } nothing: __type(name: "Nope") { name } }`, nil)
	g.data(t, "__type", &user)
	names := map[string]bool{}
	for _, f := range user.Fields {
		names[f.Name] = true
	}
	if user.Name != "User" || !names["type"] || !names["categoryPlannerUser"] || !names["accountGroups"] || string(g.Data["nothing"]) != "null" {
		t.Fatalf("__type(User): %+v, nothing %s", user, g.Data["nothing"])
	}
}
