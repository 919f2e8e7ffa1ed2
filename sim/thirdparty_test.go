package sim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// REST behaviours a third-party client (baton-coupa) relies on, each from the fact sheet: users' `type`
// (§6.11 queries send type[blank]=true), group members as users[] (§6.9), embedded roles and groups
// with description when fields= asks (§6.8), camelCase names (§6.11), and the UNCERTAIN settings.

func TestUserType(t *testing.T) {
	st := start(t, Options{})
	u := st.one("/api/users/3")
	if v, ok := u["type"]; !ok || v != nil {
		t.Fatalf("user type = %v (present %v), want blank", v, ok)
	}
	if people, all := st.listAll("/api/users?type[blank]=true"), st.listAll("/api/users"); len(people) != len(all) {
		t.Fatalf("type[blank]=true: %d of %d users", len(people), len(all))
	}
	if others := st.list("/api/users?type[blank]=false"); len(others) != 0 {
		t.Fatalf("type[blank]=false: %d users", len(others))
	}
}

func TestUnknownFilterAttribute(t *testing.T) {
	st := start(t, Options{})
	all := ids(st.list("/api/users"))
	for _, q := range []string{"shoe_size=42", "shoe-size[gt]=3", "default_currency[shoe_size]=1"} {
		if got := ids(st.list("/api/users?" + q)); !slices.Equal(got, all) {
			t.Fatalf("%s: ignored filter changed the page: %v", q, got)
		}
	}
	// Known attributes still filter, and operator mistakes are still refused.
	if got := st.list("/api/users?shoe_size=42&id=3"); len(got) != 1 {
		t.Fatalf("known filter beside an unknown one: %d users", len(got))
	}
	if r := st.getJSON("/api/users?login[bogus]=x"); r.code != 400 {
		t.Fatalf("bad operator: %d", r.code)
	}
	strict := start(t, Options{RefuseUnknownFilters: true})
	r := strict.getJSON("/api/users?shoe_size=42")
	if r.code != 400 || !strings.Contains(strings.Join(errorsOf(t, r.body)["base"], " "), `unknown attribute "shoe_size"`) {
		t.Fatalf("RefuseUnknownFilters: %d %s", r.code, r.body)
	}
}

func TestGroupUsers(t *testing.T) {
	st := start(t, Options{Scale: 600})
	g := st.one("/api/user_groups/2")
	members, ok := g["users"].([]any)
	if !ok || len(members) == 0 {
		t.Fatalf("user group without users[]: %v", g["users"])
	}
	var want []int64
	for _, m := range st.listAll("/api/user_group_memberships?user_group_id=2") {
		want = append(want, int64(m["user-id"].(float64)))
	}
	var got []int64
	for _, m := range members {
		u := m.(map[string]any)
		if u["login"] == nil {
			t.Fatalf("member stub without login: %v", u)
		}
		got = append(got, int64(u["id"].(float64)))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("users[] %v, memberships %v", got, want)
	}
	proj := st.one(`/api/user_groups/2?fields=["id",{"users":["id"]}]`)
	if len(proj) != 2 || len(proj["users"].([]any)) != len(want) {
		t.Fatalf("projected members: %v", proj)
	}
	// A user moved out of every group leaves the group's users[].
	uid := want[0]
	if r := st.do("PUT", "/api/users/"+itoa(int(uid)), st.tok, jsonType, `{"user-groups": []}`); r.code != 200 {
		t.Fatalf("PUT user-groups: %d %s", r.code, r.body)
	}
	for _, m := range st.one("/api/user_groups/2")["users"].([]any) {
		if int64(m.(map[string]any)["id"].(float64)) == uid {
			t.Fatalf("user %d still listed after leaving", uid)
		}
	}
	if n := st.list(`/api/user_groups?users[id]=` + itoa(int(want[1])) + `&id=2`); len(n) != 1 {
		t.Fatalf("filter users[id]: %d groups", len(n))
	}
}

func TestEmbeddedDescriptionsOnRequest(t *testing.T) {
	st := start(t, Options{Scale: 600})
	u := st.one(`/api/users/7?fields=["id",{"roles":["id","name","description"]},{"user-groups":["id","description"]}]`)
	roles := u["roles"].([]any)
	if len(roles) == 0 {
		t.Fatalf("no roles: %v", u)
	}
	for _, x := range roles {
		r := x.(map[string]any)
		full := st.one("/api/roles/" + itoa(int(r["id"].(float64))))
		if r["description"] == nil || r["description"] != full["description"] || len(r) != 3 {
			t.Fatalf("embedded role %v, role %v", r, full["description"])
		}
	}
	for _, x := range u["user-groups"].([]any) {
		g := x.(map[string]any)
		if g["description"] == nil || len(g) != 2 {
			t.Fatalf("embedded group %v", g)
		}
	}
	// Unasked, embedded roles stay stubs; lists expand like single records.
	if r := st.one("/api/users/7")["roles"].([]any)[0].(map[string]any); r["description"] != nil {
		t.Fatalf("unprojected role stub carries %v", r)
	}
	page := st.list(`/api/users?limit=3&fields=["id",{"roles":["description"]}]`)
	for _, u := range page {
		for _, x := range u["roles"].([]any) {
			if x.(map[string]any)["description"] == nil {
				t.Fatalf("list page role %v", x)
			}
		}
	}
	x := st.do("GET", `/api/users/7?fields=["id",{"roles":["id","description"]}]`, st.tok, "application/xml", "")
	if x.code != 200 || !strings.Contains(string(x.body), "<description>") {
		t.Fatalf("XML projection: %d %.300s", x.code, x.body)
	}
}

func TestCamelCaseFields(t *testing.T) {
	st := start(t, Options{})
	u := st.one(`/api/users/4?fields=["id","employeeNumber","categoryPlannerUser",{"userGroups":["id","name"]},{"defaultCurrency":["code"]}]`)
	for _, k := range []string{"id", "employee-number", "category_planner_user", "user-groups", "default-currency"} {
		if _, ok := u[k]; !ok {
			t.Fatalf("camelCase field for %s dropped: %v", k, u)
		}
	}
	g := st.one(`/api/user_groups/1?fields=["canApprove","mentionName"]`)
	if len(g) != 2 {
		t.Fatalf("group %v", g)
	}
	// Filters and order_by read camelCase names the same way, rather than ignoring them as unknown.
	for _, c := range [][2]string{{"/api/user_groups?canApprove=true", "/api/user_groups?can_approve=true"},
		{"/api/users?employeeNumber[ends_with]=7", "/api/users?employee-number[ends_with]=7"},
		{"/api/users?defaultCurrency[code]=USD", "/api/users?default_currency[code]=USD"}} {
		camel, snake := st.list(c[0]), st.list(c[1])
		if len(snake) == 0 || !slices.Equal(ids(camel), ids(snake)) {
			t.Fatalf("%s: %v, %s gives %v", c[0], ids(camel), c[1], ids(snake))
		}
	}
	if a, b := st.list("/api/users?order_by=employeeNumber&dir=desc&limit=5"), st.list("/api/users?order_by=employee_number&dir=desc&limit=5"); !slices.Equal(ids(a), ids(b)) {
		t.Fatalf("order_by camelCase %v, snake %v", ids(a), ids(b))
	}
}

func TestUnknownFieldsSetting(t *testing.T) {
	st := start(t, Options{})
	if u := st.one(`/api/users/4?fields=["id","shoeSize"]`); len(u) != 1 {
		t.Fatalf("default drops unknown names: %v", u)
	}
	strict := start(t, Options{RefuseUnknownFields: true})
	for _, f := range []string{`["id","shoeSize"]`, `["id",{"roles":["id","colour"]}]`} {
		r := strict.getJSON("/api/users?fields=" + f)
		if r.code != 400 || !strings.Contains(string(r.body), "unknown attribute") {
			t.Fatalf("RefuseUnknownFields %s: %d %s", f, r.code, r.body)
		}
	}
	if u := strict.one(`/api/users/4?fields=["id","userGroups",{"roles":["description"]}]`); len(u) != 3 {
		t.Fatalf("known names refused: %v", u)
	}
}

// escapedGet sends the path exactly as written, %3F and all, as Go's URL.JoinPath makes it.
func (st *simT) escapedGet(path string) reply {
	st.t.Helper()
	req, err := http.NewRequest("GET", st.ts.URL+path, nil)
	if err != nil {
		st.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+st.tok)
	req.Header.Set("Accept", jsonType)
	return doReq(st.t, req)
}

func TestEscapedQuestionMark(t *testing.T) {
	const path = `/api/users/5%3Ffields=%5B%22id%22,%22login%22%5D`
	cases := []struct {
		setting string
		code    int
		keys    int // 0: the full record
	}{{"", 200, 0}, {"ignore", 200, 0}, {"apply", 200, 2}, {"404", 404, 0}}
	for _, c := range cases {
		st := start(t, Options{EscapedQuery: c.setting})
		r := st.escapedGet(path)
		if r.code != c.code {
			t.Fatalf("EscapedQuery %q: %d %s", c.setting, r.code, r.body)
		}
		if c.code != 200 {
			continue
		}
		u := st.one("/api/users/5")
		got := map[string]any{}
		jsonInto(t, r.body, &got)
		if got["id"] != float64(5) || (c.keys == 0 && len(got) != len(u)) || (c.keys != 0 && len(got) != c.keys) {
			t.Fatalf("EscapedQuery %q: %d keys, id %v", c.setting, len(got), got["id"])
		}
	}
	if _, err := New(Options{EscapedQuery: "maybe"}); err == nil {
		t.Fatal("EscapedQuery maybe accepted")
	}
}

func TestInstanceBucket(t *testing.T) {
	clients := []Client{{ID: "a", Secret: "a", Scopes: []string{"core.common.read"}}, {ID: "b", Secret: "b", Scopes: []string{"core.common.read"}}}
	// By default every connection and token of one client id draws from the client's one bucket.
	per := start(t, Options{Rate: 0.001, Burst: 1, Clients: clients})
	a1, a2, b1 := per.mint("a", "a", ""), per.mint("a", "a", ""), per.mint("b", "b", "")
	if per.do("GET", "/api/currencies", a1, jsonType, "").code != 200 || per.do("GET", "/api/currencies", a2, jsonType, "").code != 429 ||
		per.do("GET", "/api/currencies", b1, jsonType, "").code != 200 {
		t.Fatal("a client's tokens do not share one bucket, or clients share one")
	}
	st := start(t, Options{Rate: 0.001, Burst: 1, InstanceBucket: true, Clients: clients})
	ta, tb := st.mint("a", "a", ""), st.mint("b", "b", "")
	if st.do("GET", "/api/currencies", ta, jsonType, "").code != 200 {
		t.Fatal("first request throttled")
	}
	r := st.do("GET", "/api/currencies", tb, jsonType, "")
	if r.code != 429 || r.header.Get("Retry-After") != "" {
		t.Fatalf("InstanceBucket: another client got %d (Retry-After %q), want 429 without Retry-After", r.code, r.header.Get("Retry-After"))
	}
}

func TestLatencyPerRecord(t *testing.T) {
	const per = 4 * time.Millisecond
	st := start(t, Options{Scale: 600, LatencyPerRecord: per})
	took := func(path string) time.Duration {
		best := time.Duration(1 << 62)
		for i := 0; i < 3; i++ {
			t0 := time.Now()
			if r := st.getJSON(path); r.code != 200 {
				t.Fatalf("%s: %d", path, r.code)
			}
			best = min(best, time.Since(t0))
		}
		return best
	}
	one, fifty := took("/api/users?limit=1"), took("/api/users?limit=50")
	projected := took(`/api/users?limit=50&fields=["id"]`)
	if fifty < 50*per || projected < 50*per {
		t.Fatalf("a 50-record page took %v (projected %v), less than 50 records' cost %v", fifty, projected, 50*per)
	}
	if fifty < 3*one {
		t.Fatalf("a 50-record page took %v, a 1-record page %v: want at least 3 times as long", fifty, one)
	}
	var users []map[string]any
	t0 := time.Now()
	st.gql(st.tok, `{ users(query: "limit=30") { id } }`, nil).data(t, "users", &users)
	if d := time.Since(t0); len(users) != 30 || d < 30*per {
		t.Fatalf("GraphQL page of %d took %v", len(users), d)
	}
}

func TestParseLatency(t *testing.T) {
	good := []struct {
		spec                    string
		base, jitter, perRecord time.Duration
	}{
		{"50ms", 50 * time.Millisecond, 0, 0},
		{"20ms-200ms", 20 * time.Millisecond, 180 * time.Millisecond, 0},
		{"300ms+10ms/record", 300 * time.Millisecond, 0, 10 * time.Millisecond},
		{"20ms-80ms+1ms/record", 20 * time.Millisecond, 60 * time.Millisecond, time.Millisecond},
		{"+5ms/record", 0, 0, 5 * time.Millisecond},
	}
	for _, c := range good {
		b, j, p, err := ParseLatency(c.spec)
		if err != nil || b != c.base || j != c.jitter || p != c.perRecord {
			t.Fatalf("%q: %v %v %v %v", c.spec, b, j, p, err)
		}
	}
	for _, spec := range []string{"soon", "200ms-20ms", "300ms+10ms", "300ms+x/record", "300ms+-1ms/record", "-5ms", ""} {
		if _, _, _, err := ParseLatency(spec); err == nil {
			t.Fatalf("%q accepted", spec)
		}
	}
}

func jsonInto(t *testing.T, b []byte, into any) {
	t.Helper()
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, b)
	}
}
