package sim

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func decodeObj(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %s", b)
	}
	return m
}

func TestCreateUser(t *testing.T) {
	st := start(t, Options{})
	n := len(st.snapshot("users"))
	r := st.do("POST", "/api/users", st.tok, jsonType, `{"login":"newbie","email":"newbie@example.com","active":true,
		"firstname":"New","lastname":"Bie","manager":{"login":"`+st.one("/api/users/2")["login"].(string)+`"},
		"roles":[{"id":2},{"name":"Buyer"}],"user_groups":[{"id":1}],"purchasing-user":true,
		"custom-fields":{"cost-center":"CC-1"},"id":999,"created-at":"2001-01-01"}`)
	if r.code != 201 {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	u := decodeObj(t, r.body)
	if u["id"] != float64(n+1) || u["login"] != "newbie" || u["purchasing-user"] != true || u["active"] != true {
		t.Fatalf("created user: %v", u)
	}
	if u["manager"].(map[string]any)["id"] != float64(2) {
		t.Fatalf("manager by natural key: %v", u["manager"])
	}
	roles := path(u, "roles", "name")
	if !slices.Equal(roles, []any{"User", "Buyer"}) {
		t.Fatalf("roles %v", roles)
	}
	if g := path(u, "user-groups", "id"); !slices.Equal(g, []any{float64(1)}) {
		t.Fatalf("user-groups %v", g)
	}
	if _, ok := u["expense-user"]; !ok {
		t.Fatalf("created user lacks the license booleans generated users carry")
	}
	got := st.one("/api/users/" + itoa(n+1))
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(u)
	if string(a) != string(b) {
		t.Fatalf("GET differs from the create response:\n%s\n%s", a, b)
	}
	m := st.list("/api/user_group_memberships?user_id=" + itoa(n+1))
	if len(m) != 1 || m[0]["user-group-id"] != float64(1) {
		t.Fatalf("membership for the new user: %v", m)
	}
}

func TestWriteValidation(t *testing.T) {
	st := start(t, Options{})
	existing := st.one("/api/users/1")
	cases := []struct {
		name, method, path, body string
		field                    string
	}{
		{"missing required", "POST", "/api/users", `{"login":"x1"}`, "email"},
		{"duplicate login", "POST", "/api/users", `{"login":"` + existing["login"].(string) + `","email":"u@x.com","active":true}`, "login"},
		{"duplicate email", "PUT", "/api/users/2", `{"email":"` + existing["email"].(string) + `"}`, "email"},
		{"too long", "PUT", "/api/users/2", `{"firstname":"` + strings.Repeat("a", 41) + `"}`, "firstname"},
		{"bad enum", "PUT", "/api/users/2", `{"authentication-method":"SAML"}`, "authentication-method"},
		{"bad bool", "PUT", "/api/users/2", `{"active":"perhaps"}`, "active"},
		{"unknown reference", "PUT", "/api/users/2", `{"manager":{"login":"nobody-here"}}`, "manager"},
		{"unknown role", "PUT", "/api/users/2", `{"roles":[{"id":999}]}`, "roles"},
		{"roles not an array", "PUT", "/api/users/2", `{"roles":"Admin"}`, "roles"},
		{"unknown field", "PUT", "/api/users/2", `{"shoe-size":42}`, "shoe-size"},
		{"duplicate group name", "POST", "/api/user_groups", `{"name":"` + st.one("/api/user_groups/1")["name"].(string) + `"}`, "name"},
		{"duplicate membership", "POST", "/api/user_group_memberships", `{"user":{"id":1},"user-group":{"id":1}}`, "user"},
		{"bad decimal", "PUT", "/api/invoices/1", `{"tax-amount":"ten"}`, "tax-amount"},
		{"bad date", "PUT", "/api/invoices/1", `{"invoice-date":"someday"}`, "invoice-date"},
		{"missing supplier", "POST", "/api/invoices", `{"invoice-number":"X","invoice-date":"2024-01-01","currency":{"code":"USD"}}`, "supplier"},
		{"unknown currency", "POST", "/api/invoices", `{"invoice-number":"X","invoice-date":"2024-01-01","currency":{"code":"ZZZ"},"supplier":{"id":1}}`, "currency"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := st.snapshot("users")
			r := st.do(c.method, c.path, st.tok, jsonType, c.body)
			if r.code != 400 {
				t.Fatalf("status %d, want 400: %s", r.code, r.body)
			}
			if errs := errorsOf(t, r.body); len(errs[c.field]) == 0 {
				t.Fatalf("errors %v lack field %s", errs, c.field)
			}
			after := st.snapshot("users")
			a, _ := json.Marshal(before)
			b, _ := json.Marshal(after)
			if string(a) != string(b) {
				t.Fatalf("a refused write changed users")
			}
		})
	}
	st422 := start(t, Options{ValidationStatus: 422})
	if r := st422.do("POST", "/api/users", st422.tok, jsonType, `{"login":"x"}`); r.code != 422 {
		t.Fatalf("ValidationStatus 422: got %d", r.code)
	}
	x := st.do("POST", "/api/users", st.tok, "application/xml", `<user><login>x9</login></user>`)
	if x.code != 400 || !strings.Contains(string(x.body), "<error>email: can't be blank</error>") {
		t.Fatalf("XML validation error: %d %s", x.code, x.body)
	}
}

func TestUpdateUserAccess(t *testing.T) {
	clock := newClock()
	st := start(t, Options{Now: clock.Now})
	u := st.one("/api/users/4")
	clock.Add(time.Minute)
	// Roles and groups are replaced wholesale; read-only fields are ignored.
	r := st.do("PUT", "/api/users/4", st.tok, jsonType, `{"roles":[{"id":1},{"id":3}],"user-groups":[{"id":2},{"id":5}],
		"content-groups":[],"active":false,"updated-at":"2000-01-01T00:00:00Z","fullname":"ignored"}`)
	if r.code != 200 {
		t.Fatalf("update: %d %s", r.code, r.body)
	}
	got := st.one("/api/users/4")
	gids := path(got, "user-groups", "id")
	slices.SortFunc(gids, func(a, b any) int { return int(a.(float64) - b.(float64)) })
	if !slices.Equal(path(got, "roles", "id"), []any{float64(1), float64(3)}) ||
		!slices.Equal(gids, []any{float64(2), float64(5)}) ||
		len(got["content-groups"].([]any)) != 0 || got["active"] != false || got["fullname"] != u["fullname"] {
		t.Fatalf("user after update: roles %v groups %v cg %v active %v", path(got, "roles", "id"),
			path(got, "user-groups", "id"), got["content-groups"], got["active"])
	}
	if got["updated-at"].(string) <= u["updated-at"].(string) {
		t.Fatalf("update did not bump updated-at")
	}
	var groups []any
	for _, m := range st.listAll("/api/user_group_memberships?user_id=4") {
		groups = append(groups, m["user-group-id"])
	}
	slices.SortFunc(groups, func(a, b any) int { return int(a.(float64) - b.(float64)) })
	if !slices.Equal(groups, []any{float64(2), float64(5)}) {
		t.Fatalf("memberships of user 4 after replacing groups: %v", groups)
	}
	if inactive := ids(st.listAll("/api/users?active=false")); !slices.Contains(inactive, 4) {
		t.Fatalf("deactivated user not found by active=false")
	}
	// Null empties a collection, as baton-coupa sends it.
	st.do("PUT", "/api/users/4", st.tok, jsonType, `{"roles":null}`)
	if roles := st.one("/api/users/4")["roles"].([]any); len(roles) != 0 {
		t.Fatalf("roles after null: %v", roles)
	}
	// Memberships can be created directly and show up on the user.
	r = st.do("POST", "/api/user_group_memberships", st.tok, jsonType, `{"user":{"id":4},"user-group":{"name":"`+st.one("/api/user_groups/3")["name"].(string)+`"},"owner":true}`)
	if r.code != 201 || decodeObj(t, r.body)["owner"] != true {
		t.Fatalf("create membership: %d %s", r.code, r.body)
	}
	if g := path(st.one("/api/users/4"), "user-groups", "id"); !slices.Contains(g, any(float64(3))) {
		t.Fatalf("user-groups after membership create: %v", g)
	}
	// XML update.
	r = st.do("PUT", "/api/users/4", st.tok, jsonType, `<user><firstname>Xml</firstname><api-user type="boolean">true</api-user><custom-fields><badge-number>B7</badge-number></custom-fields></user>`)
	if r.code != 200 {
		t.Fatalf("XML update: %d %s", r.code, r.body)
	}
	got = st.one("/api/users/4")
	if got["firstname"] != "Xml" || got["api-user"] != true || got["custom-fields"].(map[string]any)["badge-number"] != "B7" {
		t.Fatalf("after XML update: %v %v %v", got["firstname"], got["api-user"], got["custom-fields"])
	}
}

func TestActions(t *testing.T) {
	st := start(t, Options{})
	first := func(res, status string) string {
		l := st.list("/api/" + res + "?status=" + status + "&limit=1")
		if len(l) == 0 {
			t.Fatalf("no %s in status %s", res, status)
		}
		return itoa(int(l[0]["id"].(float64)))
	}
	cases := []struct {
		res, from, action, to string
		ok                    bool
	}{
		{"invoices", "approved", "void", "voided", true},
		{"invoices", "draft", "void", "", false},
		{"invoices", "draft", "submit", "pending_approval", true},
		{"invoices", "pending_approval", "dispute", "disputed", true},
		{"invoices", "ap_hold", "abandon", "abandoned", true},
		{"purchase_orders", "draft", "issue", "issued", true},
		{"purchase_orders", "issued", "close", "closed", true},
		{"purchase_orders", "closed", "reopen", "issued", true},
		{"purchase_orders", "buyer_hold", "cancel", "cancelled", true},
		{"purchase_orders", "cancelled", "close", "", false},
		{"approvals", "pending", "approve", "approved", true},
		{"approvals", "pending", "hold", "on_hold", true},
		{"approvals", "on_hold", "reject", "rejected", true},
		{"approvals", "approved", "reject", "", false},
		{"expense_reports", "draft", "submit", "pending_approval", true},
		{"requisitions", "draft", "submit", "pending_approval", true},
		{"requisitions", "ordered", "submit", "", false},
	}
	for _, c := range cases {
		t.Run(c.res+" "+c.from+" "+c.action, func(t *testing.T) {
			id := first(c.res, c.from)
			before := st.one("/api/" + c.res + "/" + id)
			r := st.do("PUT", "/api/"+c.res+"/"+id+"/"+c.action, st.tok, jsonType, "")
			after := st.one("/api/" + c.res + "/" + id)
			if !c.ok {
				if r.code != 400 || after["status"] != c.from {
					t.Fatalf("refused action: %d %s, status now %v", r.code, r.body, after["status"])
				}
				errorsOf(t, r.body)
				return
			}
			if r.code != 200 || decodeObj(t, r.body)["status"] != c.to || after["status"] != c.to {
				t.Fatalf("action: %d %s", r.code, r.body)
			}
			if after["updated-at"].(string) <= before["updated-at"].(string) {
				t.Fatalf("action did not bump updated-at")
			}
		})
	}
}

func TestMarkExportedAndPOVersion(t *testing.T) {
	clock := newClock()
	st := start(t, Options{Now: clock.Now})
	id := itoa(int(st.list("/api/invoices?exported=false&limit=1")[0]["id"].(float64)))
	clock.Add(time.Second)
	r := st.do("PUT", "/api/invoices/"+id+"?exported=true", st.tok, jsonType, `{"invoice-number":"ignored"}`)
	if r.code != 200 {
		t.Fatalf("mark exported: %d %s", r.code, r.body)
	}
	got := st.one("/api/invoices/" + id)
	if got["exported"] != true || got["last-exported-at"] == nil || got["invoice-number"] == "ignored" {
		t.Fatalf("after mark exported: %v %v %v", got["exported"], got["last-exported-at"], got["invoice-number"])
	}
	if slices.Contains(ids(st.listAll("/api/invoices?exported=false")), int64(atoi(id))) {
		t.Fatalf("exported invoice still listed by exported=false")
	}
	// A PO edit makes a new version and resets exported.
	po := st.list("/api/purchase_orders?exported=true&limit=1")[0]
	pid := itoa(int(po["id"].(float64)))
	r = st.do("PUT", "/api/purchase_orders/"+pid, st.tok, jsonType, `{"ship-to-attention":"Dock 4"}`)
	if r.code != 200 {
		t.Fatalf("PO update: %d %s", r.code, r.body)
	}
	after := st.one("/api/purchase_orders/" + pid)
	if after["exported"] != false || after["version"].(float64) != po["version"].(float64)+1 || after["ship-to-attention"] != "Dock 4" {
		t.Fatalf("PO after edit: exported %v version %v", after["exported"], after["version"])
	}
	// return_object=none answers without a body.
	r = st.do("PUT", "/api/purchase_orders/"+pid+"?return_object=none", st.tok, jsonType, `{"ship-to-attention":"Dock 5"}`)
	if r.code != 200 || len(r.body) != 0 {
		t.Fatalf("return_object=none: %d %q", r.code, r.body)
	}
	r = st.do("PUT", "/api/purchase_orders/"+pid+"?return_object=limited", st.tok, jsonType, `{"ship-to-attention":"Dock 6"}`)
	if string(r.body) != `{"id":`+pid+`}` {
		t.Fatalf("return_object=limited: %s", r.body)
	}
	if r := st.do("POST", "/api/purchase_orders", st.tok, jsonType, `{}`); r.code != 405 {
		t.Fatalf("PO create must be refused: %d", r.code)
	}
}

func TestCreateInvoiceXMLAndJSON(t *testing.T) {
	st := start(t, Options{})
	r := st.do("POST", "/api/invoices", st.tok, jsonType, `{"invoice-number":"EXT-1","invoice-date":"2024-04-01",
		"supplier":{"number":"SUP-00002"},"currency":{"code":"EUR"},
		"invoice-lines":[{"description":"Widget","quantity":"1.5","price":"12.3456","total":"18.52"}]}`)
	if r.code != 201 {
		t.Fatalf("create invoice: %d %s", r.code, r.body)
	}
	inv := decodeObj(t, r.body)
	lines := inv["invoice-lines"].([]any)
	if inv["status"] != "draft" || inv["currency"].(map[string]any)["code"] != "EUR" ||
		inv["supplier"].(map[string]any)["id"] != float64(2) || inv["invoice-date"] != "2024-04-01T00:00:00-07:00" ||
		len(lines) != 1 || lines[0].(map[string]any)["price"] != "12.3456" || lines[0].(map[string]any)["line-num"] != float64(1) {
		t.Fatalf("created invoice: %s", r.body)
	}
	x := st.do("POST", "/api/invoices", st.tok, "application/xml", `<?xml version="1.0"?>
<invoice-header><invoice-number>EXT-2</invoice-number><invoice-date type="dateTime">2024-04-02T00:00:00-07:00</invoice-date>
<supplier><id type="integer">3</id></supplier><currency><code>USD</code></currency>
<invoice-lines type="array"><invoice-line><description>Bolt</description><total type="decimal">3.10</total></invoice-line></invoice-lines>
</invoice-header>`)
	if x.code != 201 || !strings.Contains(string(x.body), "<invoice-number>EXT-2</invoice-number>") ||
		!strings.Contains(string(x.body), `<total type="decimal">3.10</total>`) {
		t.Fatalf("XML create: %d %s", x.code, x.body)
	}
	if got := st.list("/api/invoices?invoice_number[starts_with]=EXT-"); len(got) != 2 {
		t.Fatalf("created invoices are queryable: %d", len(got))
	}
	if r := st.do("PUT", "/api/invoices/"+itoa(int(inv["id"].(float64)))+"/submit", st.tok, jsonType, ""); r.code != 200 {
		t.Fatalf("submit created invoice: %d %s", r.code, r.body)
	}
	// Suppliers can be deleted.
	if r := st.do("DELETE", "/api/suppliers/3", st.tok, jsonType, ""); r.code != 200 {
		t.Fatalf("delete supplier: %d", r.code)
	}
	if r := st.getJSON("/api/suppliers/3"); r.code != 404 {
		t.Fatalf("deleted supplier: %d", r.code)
	}
}

func atoi(s string) int {
	var n int
	json.Unmarshal([]byte(s), &n)
	return n
}
