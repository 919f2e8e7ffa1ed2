package access

import (
	"slices"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// contentGroups are Coupa's content groups, served as /api/business_groups. The endpoint's scope is not
// documented, so the table is Optional: an instance that refuses it skips the table, the others go on.
var contentGroups = &catalog.Table{
	Name: "content_groups", Resource: "business_groups",
	Scope:  "core.common.read",
	Cursor: catalog.CursorField, Lookback: catalog.DefaultLookback,
	Columns: []catalog.Column{
		{Name: "id", Path: "id", Type: catalog.Int},
		{Name: "created_at", Path: "created-at", Type: catalog.Timestamp},
		{Name: "updated_at", Path: "updated-at", Type: catalog.Timestamp},
		{Name: "name", Path: "name", Type: catalog.String},
		{Name: "description", Path: "description", Type: catalog.String},
		{Name: "active", Path: "active", Type: catalog.Bool},
	},
	Optional: true,
}

// userContentGroups links users to content groups, from each user's content-groups array.
var userContentGroups = catalog.Child{
	Name: "user_content_groups", Path: "content-groups", ParentKey: "user_id",
	Key: []string{"user_id", "content_group_id"},
	Columns: []catalog.Column{
		{Name: "content_group_id", Path: "id", Type: catalog.Int},
		{Name: "content_group_name", Path: "name", Type: catalog.String},
	},
}

var syncTables = buildSyncTables()

// SyncTables are the warehouse tables of identity data: the catalog's users (with user_roles,
// user_group_members, user_licenses and user_content_groups), user_groups, roles and content_groups.
// They are data for the sync engine (package extract); nothing here fetches.
func SyncTables() []*catalog.Table { return syncTables }

func buildSyncTables() []*catalog.Table {
	var out []*catalog.Table
	for _, name := range []string{"users", "user_groups", "roles"} {
		t, ok := catalog.Lookup(name)
		if !ok {
			continue
		}
		if name == "users" && !slices.ContainsFunc(t.Children, func(c catalog.Child) bool { return c.Path == "content-groups" }) {
			// A copy, so that the catalog's own users table is left as it is.
			u := *t
			u.Children = append(slices.Clone(t.Children), userContentGroups)
			t = &u
		}
		out = append(out, t)
	}
	if _, ok := catalog.Lookup("content_groups"); !ok {
		out = append(out, contentGroups)
	}
	return out
}
