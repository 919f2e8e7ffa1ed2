package coupa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// GraphQLPath is Coupa's read-only GraphQL endpoint (fact sheet 6.11, wave 2 section 7).
const GraphQLPath = "/api/graphql"

// ErrGraphQLUnavailable is what GraphQL's error wraps when the instance answers 404 to POST /api/graphql:
// an optional endpoint missing, which a caller reports as a note and falls back from.
var ErrGraphQLUnavailable = errors.New("coupa: GraphQL is not available on this instance (POST /api/graphql answered 404)")

// GraphQLError is an answer with HTTP 200 whose body lists errors, GraphQL's way of failing (Coupa:
// "always check the response body for errors, even if the response code of 200 was returned").
type GraphQLError struct {
	Messages []string // each error's message, in the server's order
	// Partial says that data came too (some fields resolved); GraphQL decoded it into out all the same.
	Partial bool
}

func (e *GraphQLError) Error() string {
	msg := "coupa: GraphQL query failed"
	if len(e.Messages) > 0 {
		msg += ": " + strings.Join(e.Messages, "; ")
	}
	return msg
}

// graphqlEnvelope is GraphQL's answer: {"data": {...}, "errors": [{"message": "..."}]}.
type graphqlEnvelope struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// GraphQL runs a read-only query through POST /api/graphql and decodes its "data" member into out (a
// pointer, or nil to ignore it); numbers decode as json.Number when out holds interfaces. It shares the
// REST requests' transport: token, rate limit and retries (the request cannot change anything, so it may
// be repeated). Errors: a 404 wraps ErrGraphQLUnavailable (and the *APIError); an answer listing errors is
// a *GraphQLError, with whatever data came decoded into out; other failures are as for REST.
func (c *Client) GraphQL(ctx context.Context, query string, vars map[string]any, out any) error {
	if strings.TrimSpace(query) == "" {
		return errors.New("coupa: GraphQL: the query is empty")
	}
	body, err := json.Marshal(struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables,omitempty"`
	}{query, vars})
	if err != nil {
		return fmt.Errorf("coupa: GraphQL variables cannot be encoded as JSON: %v", err)
	}
	var env graphqlEnvelope
	_, err = c.do(ctx, &call{
		method: http.MethodPost, path: GraphQLPath, body: body, retryable: true,
		// Unmarshalling into RawMessage copies, so env outlives the pooled buffer.
		decode: func(b []byte) error { env = graphqlEnvelope{}; return json.Unmarshal(b, &env) },
	})
	if err != nil {
		if IsNotFound(err) {
			return fmt.Errorf("%w: %w", ErrGraphQLUnavailable, err)
		}
		return err
	}
	hasData := len(env.Data) > 0 && !bytes.Equal(bytes.TrimSpace(env.Data), []byte("null"))
	if hasData && out != nil {
		dec := json.NewDecoder(bytes.NewReader(env.Data))
		dec.UseNumber()
		if err := dec.Decode(out); err != nil {
			return fmt.Errorf("coupa: GraphQL: the data does not fit %T: %v", out, err)
		}
	}
	if len(env.Errors) > 0 {
		ge := &GraphQLError{Partial: hasData}
		for _, e := range env.Errors {
			ge.Messages = append(ge.Messages, c.redact(oneLine(e.Message)))
		}
		return ge
	}
	return nil
}

// GraphQLList streams every record of a GraphQL collection (users, userGroups, roles, ...) with the
// fields of selection (GraphQL syntax: "name description users { id }"; id is always asked for),
// filtered by filter, Coupa's REST-style query string ("active=true"). It pages as Coupa's GraphQL
// expects, by id[gt]=<last id> inside the query argument, and stops on an empty page: the page size is
// the server's (fact sheet: uncertain).
func (c *Client) GraphQLList(ctx context.Context, collection, filter, selection string) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		if !graphqlName.MatchString(collection) {
			yield(nil, fmt.Errorf("coupa: GraphQL: %q is not a collection name", collection))
			return
		}
		doc := fmt.Sprintf("query($q: String) { %s(query: $q) { id %s } }", collection, selection)
		var after int64
		for {
			q := "id[gt]=" + strconv.FormatInt(after, 10)
			if f := strings.TrimLeft(strings.TrimSpace(filter), "&"); f != "" {
				q += "&" + f
			}
			var data map[string][]Record
			if err := c.GraphQL(ctx, doc, map[string]any{"q": q}, &data); err != nil {
				yield(nil, err)
				return
			}
			page := data[collection]
			if len(page) == 0 {
				return
			}
			sortByID(page)
			last, ok := page[len(page)-1].ID()
			if !ok || last <= after {
				yield(nil, fmt.Errorf("coupa: GraphQL %s: the server ignored id[gt]=%d; refusing to loop", collection, after))
				return
			}
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
			after = last
		}
	}
}

// graphqlName is a GraphQL field name: what may be put in a document without quoting.
var graphqlName = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]*$`)
