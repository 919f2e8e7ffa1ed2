package catalog

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEveryTableIsWellFormed(t *testing.T) {
	seenTable := map[string]bool{}
	for _, tb := range All() {
		if seenTable[tb.Name] {
			t.Errorf("table name %s used twice", tb.Name)
		}
		seenTable[tb.Name] = true
		if len(tb.Columns) == 0 || tb.Columns[0] != (Column{Name: "id", Path: "id", Type: Int}) {
			t.Errorf("%s: first column must be id Int", tb.Name)
		}
		if tb.Resource == "" || !strings.HasPrefix(tb.Scope, "core.") || !strings.HasSuffix(tb.Scope, ".read") {
			t.Errorf("%s: resource %q scope %q", tb.Name, tb.Resource, tb.Scope)
		}
		if tb.WriteScope != "" && tb.WriteScope != strings.TrimSuffix(tb.Scope, ".read")+".write" {
			t.Errorf("%s: write scope %q is not the twin of %q", tb.Name, tb.WriteScope, tb.Scope)
		}
		writable := tb.Create || tb.Update || len(tb.Actions) > 0
		if writable != (tb.WriteScope != "") {
			t.Errorf("%s: writable=%v but WriteScope=%q", tb.Name, writable, tb.WriteScope)
		}
		if tb.Cursor != "updated-at" || tb.Lookback <= 0 {
			t.Errorf("%s: cursor %q lookback %v", tb.Name, tb.Cursor, tb.Lookback)
		}
		names := map[string]bool{ColExtra: true, ColSyncedAt: true, ColDeletedAt: true}
		hasCursor := false
		for _, col := range tb.Columns {
			if names[col.Name] {
				t.Errorf("%s: duplicate or reserved column %s", tb.Name, col.Name)
			}
			names[col.Name] = true
			if col.Path == tb.Cursor && col.Type == Timestamp {
				hasCursor = true
			}
			if col.Path == "custom-fields" && col.Type != JSON {
				t.Errorf("%s: custom_fields must be JSON", tb.Name)
			}
		}
		if !hasCursor {
			t.Errorf("%s: no Timestamp column for cursor %s", tb.Name, tb.Cursor)
		}
		if !names["created_at"] || !names["updated_at"] {
			t.Errorf("%s: created_at/updated_at missing", tb.Name)
		}
		for _, ch := range tb.Children {
			if seenTable[ch.Name] {
				t.Errorf("child table name %s used twice", ch.Name)
			}
			seenTable[ch.Name] = true
			if ch.ParentKey == "" || (ch.Path == "") == (ch.Explode == nil) {
				t.Errorf("%s.%s: needs ParentKey and exactly one of Path / Explode", tb.Name, ch.Name)
			}
			if ch.Explode != nil && len(ch.Uses) == 0 {
				t.Errorf("%s.%s: Explode without Uses", tb.Name, ch.Name)
			}
			cn := map[string]bool{ch.ParentKey: true, ColSyncedAt: true}
			for _, col := range ch.Columns {
				if cn[col.Name] {
					t.Errorf("%s: duplicate or reserved column %s", ch.Name, col.Name)
				}
				cn[col.Name] = true
			}
			if len(ch.Key) == 0 {
				t.Errorf("%s: no key", ch.Name)
			}
			for _, k := range ch.Key {
				if !cn[k] {
					t.Errorf("%s: key column %s is not a column", ch.Name, k)
				}
			}
			if !slices.Contains(ch.Key, "id") && !slices.Contains(ch.Key, ch.ParentKey) {
				t.Errorf("%s: a child without its own id must be keyed by its parent key", ch.Name)
			}
		}
	}
}

// The scopes are fixed by the brief and shared with the simulator; written out here by hand.
func TestScopesAndResources(t *testing.T) {
	want := map[string]string{
		"invoices": "core.invoice.read", "purchase_orders": "core.purchase_order.read",
		"requisitions": "core.requisition.read", "suppliers": "core.supplier.read",
		"contracts": "core.contract.read", "expense_reports": "core.expense.read", "users": "core.user.read",
		"approvals": "core.approval.read", "user_groups": "core.user_group.read", "roles": "core.user.read",
		"content_groups": "core.common.read",
		"accounts":       "core.accounting.read", "currencies": "core.common.read", "commodities": "core.common.read",
	}
	if len(All()) != len(want) {
		t.Errorf("catalog has %d tables, want %d", len(All()), len(want))
	}
	for name, scope := range want {
		tb, ok := Lookup(name)
		if !ok {
			t.Errorf("table %s missing", name)
			continue
		}
		resource := name
		if name == "content_groups" {
			resource = "business_groups" // Coupa's resource name for content groups
		}
		if tb.Scope != scope || tb.Resource != resource {
			t.Errorf("%s: scope %q resource %q, want %q %q", name, tb.Scope, tb.Resource, scope, resource)
		}
	}
	got := Scopes([]*Table{invoices, users, roles, currencies, commodities})
	if !slices.Equal(got, []string{"core.common.read", "core.invoice.read", "core.user.read"}) {
		t.Errorf("Scopes = %v", got)
	}
	got = WriteScopes([]*Table{invoices, currencies})
	if !slices.Equal(got, []string{"core.common.read", "core.invoice.read", "core.invoice.write"}) {
		t.Errorf("WriteScopes = %v", got)
	}
	if s := roles.ScopesFor(true); !slices.Equal(s, []string{"core.user.read"}) {
		t.Errorf("roles.ScopesFor(true) = %v: roles are read-only", s)
	}
	if !roles.Optional || invoices.Optional {
		t.Error("only roles is optional")
	}
}

func TestCapabilities(t *testing.T) {
	type caps struct {
		create, update bool
		actions        []string
	}
	want := map[string]caps{
		"invoices":        {true, true, []string{"abandon", "dispute", "submit", "void"}},
		"purchase_orders": {false, true, []string{"cancel", "close", "issue", "reopen"}},
		"requisitions":    {true, true, nil},
		"approvals":       {false, false, []string{"approve", "hold", "reject"}},
		"expense_reports": {true, true, []string{"submit"}},
		"suppliers":       {true, true, nil},
		"users":           {true, true, nil},
		"user_groups":     {true, true, nil},
		"contracts":       {true, false, nil},
	}
	for name, w := range want {
		tb, _ := Lookup(name)
		acts := slices.Sorted(slices.Values(tb.Actions))
		if tb.Create != w.create || tb.Update != w.update || !slices.Equal(acts, w.actions) {
			t.Errorf("%s: create %v update %v actions %v; want %v %v %v", name, tb.Create, tb.Update, acts, w.create, w.update, w.actions)
		}
	}
	for name, req := range map[string][]string{
		"users": {"login", "email", "active"}, "suppliers": {"name"}, "user_groups": {"name"},
		"invoices": {"invoice-number", "invoice-date", "supplier", "currency"},
	} {
		tb, _ := Lookup(name)
		for _, r := range req {
			if !slices.Contains(tb.Required, r) {
				t.Errorf("%s: %s not required for create", name, r)
			}
		}
	}
}

func TestLookbacks(t *testing.T) {
	if purchaseOrders.Lookback != 7*24*time.Hour || invoices.Lookback != 24*time.Hour || users.Lookback != 5*time.Minute {
		t.Errorf("lookbacks: po %v invoices %v users %v", purchaseOrders.Lookback, invoices.Lookback, users.Lookback)
	}
}

func TestLicenses(t *testing.T) {
	if len(Licenses) != 16 || !slices.Contains(Licenses, "category_planner_user") || !slices.Contains(Licenses, "purchasing-user") {
		t.Errorf("Licenses = %v", Licenses)
	}
	for _, l := range Licenses {
		if !strings.HasSuffix(l, "user") {
			t.Errorf("%s is not a license boolean", l)
		}
		found := false
		for _, col := range users.Columns {
			if col.Path == l && col.Type == Bool {
				found = true
			}
		}
		if !found {
			t.Errorf("users has no Bool column for %s", l)
		}
	}
}

// flatten lists every path a fields projection asks for, dotted ("supplier.id", "invoice-lines.account.code").
func flatten(prefix string, fields []any, out map[string]bool) {
	for _, f := range fields {
		switch v := f.(type) {
		case string:
			out[prefix+v] = true
		case map[string][]any:
			for k, sub := range v {
				flatten(prefix+k+".", sub, out)
			}
		}
	}
}

func TestFieldsCoverEveryColumn(t *testing.T) {
	for _, tb := range All() {
		got := map[string]bool{}
		flatten("", tb.Fields(), got)
		for _, col := range tb.Columns {
			if !got[col.Path] {
				t.Errorf("%s: fields lack %s", tb.Name, col.Path)
			}
		}
		for _, ch := range tb.Children {
			for _, u := range ch.Uses {
				if !got[u] {
					t.Errorf("%s: fields lack %s used by %s", tb.Name, u, ch.Name)
				}
			}
			if ch.Path == "" {
				continue
			}
			for _, col := range ch.Columns {
				if !got[ch.Path+"."+col.Path] {
					t.Errorf("%s: fields lack %s.%s", tb.Name, ch.Path, col.Path)
				}
			}
		}
		var back []any
		if err := json.Unmarshal([]byte(tb.FieldsParam()), &back); err != nil || len(back) != len(tb.Fields()) {
			t.Errorf("%s: FieldsParam %q does not match Fields", tb.Name, tb.FieldsParam())
		}
	}
}

func TestFieldsShape(t *testing.T) {
	if got := currencies.FieldsParam(); got != `["id","created-at","updated-at","code","decimals"]` {
		t.Errorf("currencies fields = %s", got)
	}
	inv := invoices.FieldsParam()
	for _, want := range []string{
		`{"supplier":["id","name","number"]}`,
		`{"currency":["id","code"]}`,
		`"custom-fields"`,
		`{"invoice-lines":["id","line-num","type","description","quantity","price","total","po-number","order-line-num","order-line-id",{"account":["id","code"]},{"commodity":["id","name"]},"custom-fields"]}`,
		`{"invoice-charges":["id","line-num","type","description","total"]}`,
	} {
		if !strings.Contains(inv, want) {
			t.Errorf("invoices fields %s lack %s", inv, want)
		}
	}
	if strings.Count(inv, `"supplier"`) != 1 {
		t.Errorf("supplier asked for more than once: %s", inv)
	}
	if !strings.HasPrefix(inv, `["id","created-at","updated-at",`) {
		t.Errorf("invoices fields start %s", inv[:40])
	}
	usr := users.FieldsParam()
	if !strings.Contains(usr, `{"roles":["id","name"]}`) || !strings.Contains(usr, `"category_planner_user"`) {
		t.Errorf("users fields = %s", usr)
	}
	if a, b := invoices.FieldsParam(), invoices.FieldsParam(); a != b {
		t.Error("fields are not deterministic")
	}
}

func TestFieldsLeafWinsOverParts(t *testing.T) {
	tb := &Table{Name: "x", Columns: []Column{
		{Name: "id", Path: "id", Type: Int},
		{Name: "owner_id", Path: "owner.id", Type: Int},
		{Name: "owner", Path: "owner", Type: JSON},
	}}
	if got := tb.FieldsParam(); got != `["id","owner"]` {
		t.Errorf("fields = %s, want the whole owner object requested once", got)
	}
}

// TestLayouts: every row layout starts with the key the destinations look for, has _extra last on parents,
// and names each column once, so that a position means one column.
func TestLayouts(t *testing.T) {
	for _, tab := range All() {
		l := tab.Layout()
		if l[0].Name != "id" || l[len(l)-1].Name != ColExtra || len(l) != len(tab.Columns)+1 {
			t.Errorf("%s: layout %v, want id first, the columns, then %s", tab.Name, l, ColExtra)
		}
		layouts := map[string]Layout{tab.Name: l}
		for i := range tab.Children {
			ch := &tab.Children[i]
			cl := ch.Layout()
			if cl[0].Name != ch.ParentKey || cl[0].Type != Int || len(cl) != len(ch.Columns)+2 || cl[len(cl)-1].Name != ColExtra {
				t.Errorf("%s: layout %v, want %s first, then the columns, then %s", ch.Name, cl, ch.ParentKey, ColExtra)
			}
			layouts[ch.Name] = cl
		}
		for name, l := range layouts {
			seen := map[string]bool{}
			for _, c := range l {
				if seen[c.Name] {
					t.Errorf("%s: column %s twice in the layout", name, c.Name)
				}
				seen[c.Name] = true
			}
		}
	}
	l := Layout{{Name: "id", Type: Int}, {Name: "name"}, {Name: ColExtra, Type: JSON}}
	r := l.Row(map[string]any{"name": "x", "id": int64(3)})
	if len(r) != 3 || r[0] != int64(3) || r[1] != "x" || r[2] != nil || l.Index("name") != 1 || l.Index("nope") != -1 {
		t.Errorf("Row = %v", r)
	}
	if m := l.Named(r); len(m) != 3 || m["id"] != int64(3) || m["name"] != "x" {
		t.Errorf("Named = %v", m)
	}
	defer func() {
		if recover() == nil {
			t.Error("Row with a name the layout lacks did not panic")
		}
	}()
	l.Row(map[string]any{"surprise": 1})
}
