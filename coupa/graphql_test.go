package coupa_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

func simClient(t *testing.T, opts sim.Options) (*sim.Server, *coupa.Client) {
	t.Helper()
	s, ts := simtest.Start(t, opts)
	dc := s.DefaultClient()
	c, err := coupa.New(coupa.Config{Host: ts.URL, ClientID: dc.ID, ClientSecret: dc.Secret})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// The client's GraphQL path against the simulator: a query with variables, answered in data.
func TestGraphQLQueryAgainstSim(t *testing.T) {
	s, c := simClient(t, sim.Options{Seed: 1, Scale: 20, Rate: -1})
	var data struct {
		Roles []struct {
			ID          json.Number `json:"id"`
			Name        string      `json:"name"`
			Description string      `json:"description"`
		} `json:"roles"`
	}
	err := c.GraphQL(context.Background(), `query($q: String) { roles(query: $q) { id name description } }`,
		map[string]any{"q": "id[gt]=0"}, &data)
	if err != nil {
		t.Fatal(err)
	}
	if want := s.Count("roles"); len(data.Roles) != want || want == 0 {
		t.Fatalf("got %d roles, the simulator has %d", len(data.Roles), want)
	}
	if data.Roles[0].Name == "" {
		t.Fatalf("role without a name: %+v", data.Roles[0])
	}
}

// GraphQLList pages by id[gt] until an empty page, across many small pages, with a filter, and sees
// every record exactly once — also when the server ignores limit inside query:.
func TestGraphQLListPagesAndFilters(t *testing.T) {
	s, c := simClient(t, sim.Options{Seed: 2, Scale: 40, Rate: -1, GraphQLPageSize: 3, GraphQLIgnoresPaging: true})
	want := map[string]bool{}
	snap, _ := s.Snapshot("users")
	for _, u := range snap {
		if u["active"] == true {
			want[toString(u["id"])] = true
		}
	}
	got := map[string]bool{}
	for r, err := range c.GraphQLList(context.Background(), "users", "active=true", "login active") {
		if err != nil {
			t.Fatal(err)
		}
		id := toString(r["id"])
		if got[id] {
			t.Fatalf("user %s seen twice", id)
		}
		if r["active"] != true {
			t.Fatalf("filter not applied: %v", r)
		}
		got[id] = true
	}
	if len(got) != len(want) || len(want) < 4 {
		t.Fatalf("got %d active users over pages of 3, want %d", len(got), len(want))
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

// An error in the query is HTTP 200 with errors: a *GraphQLError naming the message.
func TestGraphQLErrorsAreTyped(t *testing.T) {
	_, c := simClient(t, sim.Options{Seed: 1, Scale: 10, Rate: -1})
	err := c.GraphQL(context.Background(), `{ roles { id noSuchField } }`, nil, nil)
	var ge *coupa.GraphQLError
	if !errors.As(err, &ge) || len(ge.Messages) == 0 || !strings.Contains(err.Error(), "noSuchField") {
		t.Fatalf("want a *GraphQLError naming the field, got %v", err)
	}
	if errors.Is(err, coupa.ErrGraphQLUnavailable) {
		t.Fatal("a query error is not a missing endpoint")
	}
}

// Without GraphQL (404) the error says so and errors.Is finds it: a note, not a failure, for callers.
func TestGraphQLUnavailable(t *testing.T) {
	_, c := simClient(t, sim.Options{Seed: 1, Scale: 10, Rate: -1, NoGraphQL: true})
	err := c.GraphQL(context.Background(), `{ roles { id } }`, nil, nil)
	if !errors.Is(err, coupa.ErrGraphQLUnavailable) || !coupa.IsNotFound(err) {
		t.Fatalf("want ErrGraphQLUnavailable wrapping a 404, got %v", err)
	}
	for _, err := range c.GraphQLList(context.Background(), "roles", "", "name") {
		if !errors.Is(err, coupa.ErrGraphQLUnavailable) {
			t.Fatalf("GraphQLList: want ErrGraphQLUnavailable, got %v", err)
		}
	}
}

// The request as the fact sheet describes it (6.11): POST /api/graphql, JSON {"query", "variables"},
// Bearer token; a partial answer (data with errors) decodes the data and still reports the errors; a 5xx
// is retried like any read.
func TestGraphQLWireShapeFromFactSheet(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/token" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"tok","token_type":"bearer","expires_in":3600}`)
			return
		}
		calls++
		if r.Method != http.MethodPost || r.URL.Path != "/api/graphql" || r.Header.Get("Authorization") != "Bearer tok" ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("unexpected request %s %s auth=%q ct=%q", r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"))
		}
		var body struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Variables["q"] != "id[gt]=0" {
			t.Errorf("body %+v, %v", body, err)
		}
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"roles":[{"id":2,"name":"Admin"}],"users":null},"errors":[{"message":"missing scope core.user.read","path":["users"]}]}`)
	}))
	defer srv.Close()
	c, err := coupa.New(coupa.Config{Host: srv.URL, ClientID: "id", ClientSecret: "secret", Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	var data map[string][]coupa.Record
	err = c.GraphQL(context.Background(), `query($q: String) { roles(query: $q) { id name } users { id } }`, map[string]any{"q": "id[gt]=0"}, &data)
	var ge *coupa.GraphQLError
	if !errors.As(err, &ge) || !ge.Partial || ge.Messages[0] != "missing scope core.user.read" {
		t.Fatalf("want a partial *GraphQLError, got %#v", err)
	}
	if id, _ := data["roles"][0].ID(); id != 2 || calls != 2 {
		t.Fatalf("data %v after %d calls", data, calls)
	}
}
