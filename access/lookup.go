package access

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/coupa-connector/coupa-connector/coupa"
)

// Lookup reads only what one change to one user needs: that user (by id, login or email) and the list of
// kind's targets. On an instance with many users this is a few requests instead of a full read. When a
// name matches nothing it falls back to the full read, so that close matches can be suggested.
func Lookup(ctx context.Context, api API, user string, kind Kind) (*Model, User, error) {
	full := func() (*Model, User, error) {
		m, err := Fetch(ctx, api)
		if err != nil {
			return nil, User{}, err
		}
		u, err := m.ResolveUser(user)
		return m, u, err
	}
	u, err := findUser(ctx, api, user)
	if err != nil {
		var nf *NotFoundError
		if errors.As(err, &nf) {
			return full()
		}
		return nil, User{}, err
	}
	m := &Model{Users: []User{u}}
	switch kind {
	case KindGroup:
		for rec, err := range api.List(ctx, "user_groups", &coupa.ListOptions{Fields: []any{"id", "name", "active"}}) {
			if err != nil {
				return nil, User{}, fmt.Errorf("reading user groups: %w", scopeHint(err, "core.user_group.read"))
			}
			id, _ := rec.ID()
			m.Groups = append(m.Groups, Group{ID: id, Name: str(rec["name"]), Active: boolean(rec["active"])})
		}
	case KindRole:
		m.RolesListed = true
		for rec, err := range api.List(ctx, "roles", nil) {
			if err != nil {
				if coupa.IsNotFound(err) || coupa.IsForbidden(err) {
					return full() // roles are then known only from the users holding them
				}
				return nil, User{}, fmt.Errorf("reading roles: %w", err)
			}
			id, _ := rec.ID()
			m.Roles = append(m.Roles, Role{ID: id, Name: str(rec["name"]), Omnipotent: boolean(rec["omnipotent"])})
		}
	case KindContentGroup:
		for rec, err := range api.List(ctx, "business_groups", &coupa.ListOptions{Fields: []any{"id", "name"}}) {
			if err != nil {
				if coupa.IsNotFound(err) || coupa.IsForbidden(err) {
					return full()
				}
				return nil, User{}, fmt.Errorf("reading content groups: %w", err)
			}
			id, _ := rec.ID()
			m.ContentGroups = append(m.ContentGroups, Ref{ID: id, Name: str(rec["name"])})
		}
	}
	return m, u, nil
}

// findUser reads one user by id, or by login then email through Coupa's equality filters.
func findUser(ctx context.Context, api API, name string) (User, error) {
	name = strings.TrimSpace(name)
	if id, err := strconv.ParseInt(name, 10, 64); err == nil && id > 0 {
		rec, _, err := api.Get(ctx, "users", id, nil)
		if err != nil {
			if coupa.IsNotFound(err) {
				return User{}, &NotFoundError{What: "user", Name: name}
			}
			return User{}, scopeHint(err, "core.user.read")
		}
		return ParseUser(rec), nil
	}
	for _, field := range []string{"login", "email"} {
		var hits []User
		for rec, err := range api.List(ctx, "users", &coupa.ListOptions{Filters: []coupa.Filter{{Field: field, Value: name}}}) {
			if err != nil {
				return User{}, scopeHint(err, "core.user.read")
			}
			// The filter's case rules are the instance's; the match here is case-insensitive and exact.
			if u := ParseUser(rec); strings.EqualFold(str(rec[field]), name) {
				hits = append(hits, u)
			}
		}
		switch len(hits) {
		case 0:
			continue
		case 1:
			return hits[0], nil
		}
		ids := make([]int64, len(hits))
		for i, h := range hits {
			ids[i] = h.ID
		}
		return User{}, &AmbiguousError{What: "user", Name: name, IDs: ids}
	}
	return User{}, &NotFoundError{What: "user", Name: name}
}
