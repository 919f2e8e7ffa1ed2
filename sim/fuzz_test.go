package sim

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzListQuery feeds arbitrary query strings and bodies to the handler: every answer must be a Coupa-shaped
// 2xx/4xx, never a 500 (a recovered panic) or a hang.
func FuzzListQuery(f *testing.F) {
	for _, seed := range []string{"status[in]=a,b", "supplier[name][contains]=x&limit=3", "fields=[\"id\",{\"supplier\":[\"name\"]}]",
		"invoice_lines[account][code][blank]=true", "order_by=supplier.name&dir=desc", "updated_at[gt]=2024-01-01T00:00:00 07:00",
		"id[in]=1,2,x", "custom_fields[project_code][starts_with]=PRJ", "return_object=shallow&fields=[]", "a[b][c][d][e]=1"} {
		f.Add(seed, "")
	}
	f.Add("", `{"invoice-number":"X","invoice-lines":[{"total":"1"}]}`)
	f.Add("", `<invoice-header><supplier><id type="integer">1</id></supplier></invoice-header>`)
	s, err := New(Options{Scale: 50, Rate: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	tok := mintDirect(f, s)
	f.Fuzz(func(t *testing.T, query, body string) {
		for _, m := range []struct{ method, path string }{{"GET", "/api/invoices"}, {"GET", "/api/users/3"},
			{"POST", "/api/invoices"}, {"PUT", "/api/users/4"}} {
			var req = httptest.NewRequest(m.method, "/", strings.NewReader(body))
			req.URL.Path = m.path
			req.URL.RawQuery = query
			req.Header.Set("Authorization", "Bearer "+tok)
			if len(query)%2 == 0 {
				req.Header.Set("Accept", "application/json")
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			if w.Code >= 500 {
				t.Fatalf("%s %s?%s with %q: %d %s", m.method, m.path, query, body, w.Code, w.Body)
			}
		}
	})
}

// FuzzGraphQL feeds arbitrary documents and query: strings to POST /api/graphql: every answer must be
// HTTP 200 (data or errors), never a 500 (a recovered panic).
func FuzzGraphQL(f *testing.F) {
	for _, seed := range []string{`{ users(query: "id[gt]=3") { id roles { description } } }`,
		`query($q: String) { userGroups(query: $q) { users { userGroups { users { id } } } } }`,
		`{ __schema { types { fields { type { ofType { name } } } } } }`, `{ user(id: 3) { ... on User { manager { manager { login } } } } }`,
		`{ a: roles { id } a: roles { name } }`, `{ accountGroups(query: "&x[") { id } }`, `{`, `mutation { x }`} {
		f.Add(seed, "type[blank]=true&limit=2")
	}
	s, err := New(Options{Scale: 50, Rate: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	tok := mintDirect(f, s)
	f.Fuzz(func(t *testing.T, doc, q string) {
		body, _ := json.Marshal(map[string]any{"query": doc, "variables": map[string]any{"q": q}})
		req := httptest.NewRequest("POST", graphqlPath, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("%q with query %q: %d %s", doc, q, w.Code, w.Body)
		}
	})
}
