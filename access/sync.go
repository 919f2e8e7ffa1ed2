package access

import "github.com/coupa-connector/coupa-connector/catalog"

var syncTables = buildSyncTables()

// SyncTables are the warehouse tables of identity data: the catalog's users (with user_roles,
// user_group_members, user_licenses and user_content_groups), user_groups, roles and content_groups.
// They are data for the sync engine (package extract); nothing here fetches.
func SyncTables() []*catalog.Table { return syncTables }

func buildSyncTables() []*catalog.Table {
	var out []*catalog.Table
	for _, name := range []string{"users", "user_groups", "roles", "content_groups"} {
		t, ok := catalog.Lookup(name)
		if !ok {
			panic("access: catalog lacks identity table " + name)
		}
		out = append(out, t)
	}
	return out
}
