package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator"
)

// graphqlRequest is the body of POST /api/graphql.
type graphqlRequest struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
}

// graphqlRun is one query being executed: its variables, who asks, and what went wrong so far.
type graphqlRun struct {
	s       *Server
	p       principal
	vars    map[string]any
	errs    gqlerror.List
	records int
}

// handleGraphQL answers POST /api/graphql. Authentication and throttling happened before, as for REST
// (a bad token is a plain 401); everything else wrong is HTTP 200 with {"errors":[{"message":...}]}.
func (s *Server) handleGraphQL(r *http.Request, p principal) response {
	if r.Method != http.MethodPost {
		return s.fail(formatJSON, http.StatusMethodNotAllowed, "GraphQL requests are POST requests")
	}
	var req graphqlRequest
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.opts.MaxBody))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil || strings.TrimSpace(req.Query) == "" {
		return s.graphqlAnswer(nil, gqlerror.List{gqlerror.Errorf("the body must be JSON {\"query\": \"...\", \"variables\": {...}}")}, 0)
	}
	doc, errs := gqlparser.LoadQuery(graphqlSchema, req.Query)
	if len(errs) > 0 {
		return s.graphqlAnswer(nil, errs, 0)
	}
	op := doc.Operations.ForName(req.OperationName)
	if op == nil {
		return s.graphqlAnswer(nil, gqlerror.List{gqlerror.Errorf("no operation named %q in the document", req.OperationName)}, 0)
	}
	if op.Operation != ast.Query {
		return s.graphqlAnswer(nil, gqlerror.List{gqlerror.Errorf("Mutations are not supported")}, 0)
	}
	vars, err := validator.VariableValues(graphqlSchema, op, req.Variables)
	if err != nil {
		return s.graphqlAnswer(nil, gqlerror.List{asGraphQLError(err)}, 0)
	}
	run := &graphqlRun{s: s, p: p, vars: vars}
	s.mu.RLock()
	data := run.root(op.SelectionSet)
	s.mu.RUnlock()
	return s.graphqlAnswer(data, run.errs, run.records)
}

func asGraphQLError(err error) *gqlerror.Error {
	var g *gqlerror.Error
	if errors.As(err, &g) {
		return g
	}
	return gqlerror.Errorf("%s", err.Error())
}

// graphqlAnswer renders {"data":...,"errors":[...]}; data nil means the query never ran (no "data").
func (s *Server) graphqlAnswer(data obj, errs gqlerror.List, records int) response {
	b := []byte("{")
	if data != nil {
		b = append(b, `"data":`...)
		b = s.enc.jsonValue(b, data)
	}
	if len(errs) > 0 {
		if data != nil {
			b = append(b, ',')
		}
		list, _ := json.Marshal(errs)
		b = append(append(b, `"errors":`...), list...)
	}
	b = append(b, '}')
	return response{status: http.StatusOK, ctype: "application/json; charset=utf-8", body: b, records: records}
}

// root resolves the fields of Query; a field that fails is null with its error listed.
func (g *graphqlRun) root(sel ast.SelectionSet) obj {
	out := obj{}
	for _, fs := range g.collect(sel, "Query") {
		f := fs[0]
		key := responseKey(f)
		var v any
		var err error
		switch f.Name {
		case "__typename":
			v = "Query"
		case "__schema":
			v = g.object(introSchema(graphqlSchema), "__Schema", mergedSelection(fs))
		case "__type":
			name, _ := f.ArgumentMap(g.vars)["name"].(string)
			if d := graphqlSchema.Types[name]; d != nil {
				v = g.object(introNamed(graphqlSchema, d), "__Type", mergedSelection(fs))
			}
		default:
			v, err = g.rootField(f, mergedSelection(fs))
		}
		if err != nil {
			g.errs = append(g.errs, &gqlerror.Error{Message: err.Error(), Path: ast.Path{ast.PathName(key)},
				Locations: []gqlerror.Location{{Line: f.Position.Line, Column: f.Position.Column}}})
			v = nil
		}
		out = append(out, kv{key, v})
	}
	return out
}

// rootField runs one collection or single-object query.
func (g *graphqlRun) rootField(f *ast.Field, sel ast.SelectionSet) (any, error) {
	res, ok := graphqlRoots[f.Name]
	if !ok {
		return nil, fmt.Errorf("%s is not supported by the simulator", f.Name)
	}
	typ := f.Definition.Type.Name()
	args := f.ArgumentMap(g.vars)
	if res == "" { // account groups: none on this instance
		if _, err := g.s.parseQuery(queryArg(args), 50, false); err != nil {
			return nil, err
		}
		return []obj{}, nil
	}
	t := g.s.st.tables[res]
	if !g.p.has(t.r.scope) {
		return nil, fmt.Errorf("Access denied: the access token lacks scope %s needed for %s", t.r.scope, f.Name)
	}
	if id, single := args["id"]; single {
		n := intArg(id)
		if _, live := t.get(n); !live {
			return nil, nil
		}
		g.records++
		return g.object(g.s.st.render(t, n, true), typ, sel), nil
	}
	ids, err := g.list(t, queryArg(args))
	if err != nil {
		return nil, err
	}
	out := make([]obj, 0, len(ids))
	for _, id := range ids {
		out = append(out, g.object(g.s.st.render(t, id, true), typ, sel))
	}
	g.records += len(out)
	return out, nil
}

// intArg reads an Int argument, given inline (int64) or as a variable decoded from JSON.
func intArg(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case float64:
		return int64(x)
	case json.Number:
		n, _ := x.Int64()
		return n
	}
	return 0
}

func queryArg(args map[string]any) string {
	q, _ := args["query"].(string)
	return q
}

// list runs a query: argument through the REST query engine, so filters mean exactly what they mean in
// REST; pages hold at most GraphQLPageSize records, by ascending id unless the query orders them.
func (g *graphqlRun) list(t *table, raw string) ([]int64, error) {
	size := g.s.opts.GraphQLPageSize
	q, err := g.s.parseQuery(raw, size, false)
	if err != nil {
		return nil, err
	}
	if g.s.opts.GraphQLIgnoresPaging {
		q.limit, q.offset, q.orderBy, q.desc = size, 0, "", false
	}
	q.proj, q.fields, q.returnOb = nil, nil, "" // the selection set decides what is returned
	return g.s.st.list(t, q)
}

// object resolves a selection set on a record (or embedded object) of GraphQL type typ.
func (g *graphqlRun) object(o obj, typ string, sel ast.SelectionSet) obj {
	groups := g.collect(sel, typ)
	out := make(obj, 0, len(groups))
	for _, fs := range groups {
		f := fs[0]
		key := responseKey(f)
		if f.Name == "__typename" {
			out = append(out, kv{key, typ})
			continue
		}
		var v any
		i, found := o.lookup(fromCamel(f.Name))
		if found {
			v = o[i].v
		}
		if l, ok := v.(lazy); ok {
			v = l()
		}
		if def := graphqlSchema.Types[f.Definition.Type.Name()]; def != nil && def.Kind == ast.Object {
			if !found && f.Definition.Type.Elem != nil {
				v = []obj{} // a collection the record does not carry is empty
			}
			v = g.nested(v, f.Definition.Type, mergedSelection(fs))
		}
		out = append(out, kv{key, plainValue(v)})
	}
	return out
}

// nested resolves an embedded association; a stub lacking a selected attribute is replaced by its
// record in full. Nested collections are not paged (a group's users are all there).
func (g *graphqlRun) nested(v any, typ *ast.Type, sel ast.SelectionSet) any {
	name := typ.Name()
	t := g.s.st.tables[graphqlTypes[name]]
	one := func(e obj) obj {
		if t != nil && !g.covers(e, sel, name) {
			if idv, _ := e.get("id"); idv != nil {
				if id, ok := idv.(int64); ok && id >= 1 && id <= int64(len(t.recs)) {
					e = g.s.st.render(t, id, true)
				}
			}
		}
		return g.object(e, name, sel)
	}
	switch x := v.(type) {
	case obj:
		return one(x)
	case []obj:
		out := make([]obj, len(x))
		for i, e := range x {
			out[i] = one(e)
		}
		return out
	}
	return nil
}

// covers says whether e has every attribute sel asks for.
func (g *graphqlRun) covers(e obj, sel ast.SelectionSet, typ string) bool {
	for _, fs := range g.collect(sel, typ) {
		if n := fs[0].Name; n != "__typename" {
			if _, ok := e.lookup(fromCamel(n)); !ok {
				return false
			}
		}
	}
	return true
}

// collect flattens a selection set into fields grouped by response key, in order, following fragments
// and honouring @skip and @include (the validator checked everything else).
func (g *graphqlRun) collect(sel ast.SelectionSet, typ string) [][]*ast.Field {
	var order []string
	groups := map[string][]*ast.Field{}
	var walk func(ast.SelectionSet)
	walk = func(sel ast.SelectionSet) {
		for _, s := range sel {
			switch x := s.(type) {
			case *ast.Field:
				if !g.included(x.Directives) {
					continue
				}
				k := responseKey(x)
				if _, seen := groups[k]; !seen {
					order = append(order, k)
				}
				groups[k] = append(groups[k], x)
			case *ast.FragmentSpread:
				if g.included(x.Directives) && x.Definition != nil && applies(x.Definition.TypeCondition, typ) {
					walk(x.Definition.SelectionSet)
				}
			case *ast.InlineFragment:
				if g.included(x.Directives) && applies(x.TypeCondition, typ) {
					walk(x.SelectionSet)
				}
			}
		}
	}
	walk(sel)
	out := make([][]*ast.Field, len(order))
	for i, k := range order {
		out[i] = groups[k]
	}
	return out
}

func applies(cond, typ string) bool { return cond == "" || cond == typ }

func (g *graphqlRun) included(ds ast.DirectiveList) bool {
	if d := ds.ForName("skip"); d != nil {
		if v, _ := d.ArgumentMap(g.vars)["if"].(bool); v {
			return false
		}
	}
	if d := ds.ForName("include"); d != nil {
		if v, _ := d.ArgumentMap(g.vars)["if"].(bool); !v {
			return false
		}
	}
	return true
}

func responseKey(f *ast.Field) string {
	if f.Alias != "" {
		return f.Alias
	}
	return f.Name
}

// mergedSelection joins the sub-selections of fields that share a response key.
func mergedSelection(fs []*ast.Field) ast.SelectionSet {
	if len(fs) == 1 {
		return fs[0].SelectionSet
	}
	var out ast.SelectionSet
	for _, f := range fs {
		out = append(out, f.SelectionSet...)
	}
	return out
}
