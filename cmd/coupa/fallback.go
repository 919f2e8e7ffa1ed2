package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/coupa-connector/coupa-connector/access"
	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/extract"
)

// syncLister is what the sync engine reads through: c itself or, when roles are among tables and the
// instance has no /api/roles, a lister that reads them from GraphQL or from the users (access.RolesPager).
// It says in one line where the roles came from, so that a missing optional endpoint is a note, not a skip.
func (a *app) syncLister(ctx context.Context, c *coupa.Client, tables []*catalog.Table) (extract.Lister, error) {
	if !slices.ContainsFunc(tables, func(t *catalog.Table) bool { return t.Resource == "roles" }) {
		return c, nil
	}
	p, src, err := access.RolesPager(ctx, c)
	if err != nil {
		return nil, libError(err)
	}
	if src != access.RolesFromREST && !a.global.quiet {
		fmt.Fprintf(a.stderr, "roles: this instance has no /api/roles; read from %s\n", src)
	}
	return p, nil
}
