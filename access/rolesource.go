package access

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coupa-connector/coupa-connector/coupa"
)

// Pager is what the sync engine reads pages through (extract.Lister's methods): RolesPager hands it a
// client whose "roles" pages may come from elsewhere than /api/roles.
type Pager interface {
	ListPage(ctx context.Context, resource string, opts *coupa.ListOptions) ([]coupa.Record, *coupa.Response, error)
	ListPageDecode(ctx context.Context, resource string, opts *coupa.ListOptions, decode func(body []byte) error) (*coupa.Response, error)
	Stats() coupa.Stats
}

// RoleReader is the part of *coupa.Client RolesPager needs: REST pages, REST lists and GraphQL lists.
type RoleReader interface {
	Pager
	List(ctx context.Context, resource string, opts *coupa.ListOptions) iter.Seq2[coupa.Record, error]
	GraphQLList(ctx context.Context, collection, filter, selection string) iter.Seq2[coupa.Record, error]
}

// RoleSource says where the roles table is read from.
type RoleSource string

// The sources of roles, best first. /api/roles is not on every instance (fact sheet: UNCERTAIN); GraphQL's
// roles query is what third-party clients use; the roles users carry miss roles nobody holds.
const (
	RolesFromREST    RoleSource = "/api/roles"
	RolesFromGraphQL RoleSource = "GraphQL roles"
	RolesFromUsers   RoleSource = "the roles embedded in users"
)

// roleFields are the role attributes asked of GraphQL, in its camelCase; dashed they are the catalog's.
const roleFields = "createdAt updatedAt name description omnipotent systemRole createdBy { id login } updatedBy { id login }"

// RolesPager probes /api/roles. When it answers (or fails other than with 404) it returns c itself and
// RolesFromREST. When it is missing it reads every role once, from GraphQL or, without GraphQL, from the
// users' embedded roles, and returns a Pager that answers "roles" pages from that list in the shape of a
// REST page (dashed keys, the engine's id and cursor filters applied); every other resource goes to c.
func RolesPager(ctx context.Context, c RoleReader) (Pager, RoleSource, error) {
	_, resp, err := c.ListPage(ctx, "roles", &coupa.ListOptions{Limit: 1, Fields: []any{"id"}})
	if err == nil || !coupa.IsNotFound(err) {
		return c, RolesFromREST, nil // any other failure is the engine's to report, as before
	}
	seen := time.Now().UTC()
	if resp != nil && !resp.Date.IsZero() {
		seen = resp.Date.UTC()
	}
	roles, src, err := readFallbackRoles(ctx, c)
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(roles, func(a, b coupa.Record) int { x, _ := a.ID(); y, _ := b.ID(); return cmp.Compare(x, y) })
	return &rolesPager{Pager: c, roles: roles, seen: seen.Truncate(time.Second).Add(-time.Second)}, src, nil
}

// readFallbackRoles reads the roles from GraphQL, or from the users when GraphQL is missing or has no
// roles query.
func readFallbackRoles(ctx context.Context, c RoleReader) ([]coupa.Record, RoleSource, error) {
	var roles []coupa.Record
	var gqlErr error
	for rec, err := range c.GraphQLList(ctx, "roles", "", roleFields) {
		if err != nil {
			gqlErr = err
			break
		}
		roles = append(roles, dashed(rec))
	}
	var ge *coupa.GraphQLError
	switch {
	case gqlErr == nil:
		return roles, RolesFromGraphQL, nil
	case !errors.Is(gqlErr, coupa.ErrGraphQLUnavailable) && !errors.As(gqlErr, &ge):
		return nil, "", fmt.Errorf("reading roles through GraphQL (/api/roles is missing): %w", gqlErr)
	}
	byID := map[int64]coupa.Record{}
	opts := &coupa.ListOptions{Fields: []any{"id", map[string][]any{"roles": {
		"id", "created-at", "updated-at", "name", "description", "omnipotent", "system-role"}}}}
	for rec, err := range c.List(ctx, "users", opts) {
		if err != nil {
			return nil, "", fmt.Errorf("reading the roles users hold (neither /api/roles nor GraphQL is available): %w", scopeHint(err, "core.user.read"))
		}
		list, _ := rec["roles"].([]any)
		for _, r := range list {
			m, ok := r.(map[string]any)
			if id, idOK := coupa.Record(m).ID(); ok && idOK && byID[id] == nil {
				byID[id] = m
			}
		}
	}
	roles = roles[:0]
	for _, r := range byID {
		roles = append(roles, r)
	}
	return roles, RolesFromUsers, nil
}

// dashed renames GraphQL's camelCase keys (systemRole, createdBy) to REST's dashed ones, nested objects too.
func dashed(rec map[string]any) coupa.Record {
	out := make(coupa.Record, len(rec))
	for k, v := range rec {
		if m, ok := v.(map[string]any); ok {
			v = map[string]any(dashed(m))
		}
		var b strings.Builder
		for i, r := range k {
			if r >= 'A' && r <= 'Z' {
				if i > 0 {
					b.WriteByte('-')
				}
				r += 'a' - 'A'
			}
			b.WriteRune(r)
		}
		out[b.String()] = v
	}
	return out
}

// rolesPager answers "roles" from a list read once; everything else goes to the embedded Pager.
type rolesPager struct {
	Pager
	roles []coupa.Record // ascending id
	seen  time.Time      // stands in for a missing updated-at, before the run's window closes
}

func (p *rolesPager) ListPage(ctx context.Context, resource string, opts *coupa.ListOptions) ([]coupa.Record, *coupa.Response, error) {
	if !isRoles(resource) {
		return p.Pager.ListPage(ctx, resource, opts)
	}
	return p.page(opts), &coupa.Response{Date: p.seen.Add(time.Second), Attempts: 1}, nil
}

func (p *rolesPager) ListPageDecode(ctx context.Context, resource string, opts *coupa.ListOptions, decode func(body []byte) error) (*coupa.Response, error) {
	if !isRoles(resource) {
		return p.Pager.ListPageDecode(ctx, resource, opts, decode)
	}
	body, err := json.Marshal(p.page(opts))
	if err != nil {
		return nil, err
	}
	if err := decode(body); err != nil {
		return nil, err // a refusal reads as, and unwraps to, the decoder's own error
	}
	return &coupa.Response{Date: p.seen.Add(time.Second), Attempts: 1}, nil
}

func isRoles(resource string) bool {
	return strings.TrimPrefix(strings.Trim(resource, "/"), "api/") == "roles"
}

// page applies what the engine asks of a REST page: id[gt] (AfterID), the id and cursor filters, limit.
// A record without the filtered attribute passes: nothing says it is outside.
func (p *rolesPager) page(opts *coupa.ListOptions) []coupa.Record {
	var o coupa.ListOptions
	if opts != nil {
		o = *opts
	}
	limit := o.Limit
	if limit <= 0 || limit > coupa.MaxPageSize {
		limit = coupa.MaxPageSize
	}
	out := []coupa.Record{}
	for _, r := range p.roles {
		if id, _ := r.ID(); id <= o.AfterID || !matchesAll(r, o.Filters) {
			continue
		}
		rec := maps.Clone(r)
		if s, _ := rec["updated-at"].(string); s == "" {
			rec["updated-at"] = p.seen.Format(time.RFC3339)
		}
		out = append(out, rec)
		if len(out) == limit {
			break
		}
	}
	return out
}

func matchesAll(r coupa.Record, filters []coupa.Filter) bool {
	for _, f := range filters {
		v, ok := r[strings.ReplaceAll(f.Field, "_", "-")]
		if ok && v != nil && !matches(fmt.Sprint(v), f) {
			return false
		}
	}
	return true
}

// matches compares as numbers, then as times, then as text: what the engine's id and cursor filters need.
func matches(v string, f coupa.Filter) bool {
	c := strings.Compare(v, f.Value)
	if a, err := strconv.ParseFloat(v, 64); err == nil {
		if b, err := strconv.ParseFloat(f.Value, 64); err == nil {
			c = cmp.Compare(a, b)
		}
	} else if a, err := time.Parse(time.RFC3339, v); err == nil {
		if b, err := time.Parse(time.RFC3339, f.Value); err == nil {
			c = a.Compare(b)
		}
	}
	switch f.Op {
	case coupa.OpEq:
		return c == 0
	case coupa.OpNotEq:
		return c != 0
	case coupa.OpGt:
		return c > 0
	case coupa.OpGtOrEq:
		return c >= 0
	case coupa.OpLt:
		return c < 0
	case coupa.OpLtOrEq:
		return c <= 0
	}
	return true // operators the engine does not send are not judged here
}
