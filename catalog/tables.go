package catalog

import "time"

// The table definitions follow /work/shared/coupa-api.md (section 6). Column names are derived from the
// dashed Coupa path (see c), so a name can never drift from the field it reads.

// Lookback defaults. Most objects get their updated-at stamped when the change commits, so a few minutes of
// overlap absorbs clock jitter between Coupa's app servers. Purchase orders are known to receive updates whose
// updated-at lies days in the past (supplier acknowledgements and change orders applied asynchronously; Fivetran
// had to add a 7-day lookback for exactly this). Invoices get a day because approval, export and payment-status
// jobs run in batches that can commit well after the timestamp they write.
const (
	DefaultLookback       = 5 * time.Minute
	PurchaseOrderLookback = 7 * 24 * time.Hour
	InvoiceLookback       = 24 * time.Hour
)

// CursorField is the dashed field every table's incremental cursor follows.
const CursorField = "updated-at"

// Licenses lists every license boolean a Coupa user carries ("*-user" fields of the users API). Coupa spells
// category_planner_user with underscores in its own documentation, so the list keeps that spelling. user_licenses
// has one row per (user, license) present on the record.
var Licenses = []string{
	"purchasing-user",
	"expense-user",
	"sourcing-user",
	"inventory-user",
	"contracts-user",
	"analytics-user",
	"aic-user",
	"spend-guard-user",
	"ccw-user",
	"clm-advanced-user",
	"supply-chain-user",
	"risk-assess-user",
	"travel-user",
	"treasury-user",
	"invoicing-user",
	"category_planner_user",
}

// c builds a column from its dashed Coupa path; the warehouse name is the path with '-' and '.' turned to '_'
// ("supplier.id" -> supplier_id, "created-by.login" -> created_by_login).
func c(path string, t Type) Column {
	b := []byte(path)
	for i, ch := range b {
		if ch == '-' || ch == '.' {
			b[i] = '_'
		}
	}
	return Column{Name: string(b), Path: path, Type: t}
}

// head is the start of every parent table: id first, then the two timestamps.
func head() []Column {
	return []Column{c("id", Int), c("created-at", Timestamp), c("updated-at", Timestamp)}
}

// audit is the created-by/updated-by user stubs most objects embed.
func audit() []Column {
	return []Column{
		c("created-by.id", Int), c("created-by.login", String),
		c("updated-by.id", Int), c("updated-by.login", String),
	}
}

func cols(groups ...[]Column) []Column {
	var out []Column
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

var customFields = []Column{c("custom-fields", JSON)}

func currency() []Column { return []Column{c("currency.id", Int), c("currency.code", String)} }

func supplier() []Column {
	return []Column{c("supplier.id", Int), c("supplier.name", String), c("supplier.number", String)}
}

func account() []Column { return []Column{c("account.id", Int), c("account.code", String)} }

func commodity() []Column { return []Column{c("commodity.id", Int), c("commodity.name", String)} }

// lineChild is an ordinary array child with its own id.
func lineChild(name, path, parentKey string, columns []Column) Child {
	return Child{Name: name, Path: path, ParentKey: parentKey, Key: []string{"id"}, Columns: columns}
}

var invoices = &Table{
	Name: "invoices", Resource: "invoices",
	Scope: "core.invoice.read", WriteScope: "core.invoice.write",
	Cursor: CursorField, Lookback: InvoiceLookback,
	Columns: cols(head(), []Column{
		c("invoice-number", String),
		c("invoice-date", Timestamp),
		c("status", String),
		c("document-type", String),
		c("is-credit-note", Bool),
		c("original-invoice-number", String),
		c("total-with-taxes", Decimal),
		c("gross-total", Decimal),
		c("supplier-total", Decimal),
		c("tax-amount", Decimal),
		c("tax-rate", Decimal),
		c("tax-code.id", Int),
		c("tax-code.code", String),
		c("line-level-taxation", Bool),
		c("line-count", Int),
		c("exported", Bool),
		c("last-exported-at", Timestamp),
		c("payment-date", Timestamp),
		c("net-due-date", Timestamp),
		c("payment-term.id", Int),
		c("payment-term.code", String),
	}, currency(), supplier(), audit(), customFields),
	Children: []Child{
		lineChild("invoice_lines", "invoice-lines", "invoice_id", cols([]Column{
			c("id", Int),
			c("line-num", Int),
			c("type", String),
			c("description", String),
			c("quantity", Decimal),
			c("price", Decimal),
			c("total", Decimal),
			c("po-number", String),
			c("order-line-num", String),
			c("order-line-id", Int),
		}, account(), commodity(), customFields)),
		lineChild("invoice_charges", "invoice-charges", "invoice_id", []Column{
			c("id", Int),
			c("line-num", Int),
			c("type", String),
			c("description", String),
			c("total", Decimal),
		}),
	},
	Create: true, Update: true,
	Actions:     []string{"submit", "void", "abandon", "dispute"},
	Required:    []string{"invoice-number", "invoice-date", "supplier", "currency"},
	NaturalKeys: [][]string{{"invoice-number", "supplier.id"}, {"invoice-number", "supplier.number"}, {"invoice-number", "supplier.name"}},
}

var purchaseOrders = &Table{
	Name: "purchase_orders", Resource: "purchase_orders",
	Scope: "core.purchase_order.read", WriteScope: "core.purchase_order.write",
	Cursor: CursorField, Lookback: PurchaseOrderLookback,
	Columns: cols(head(), []Column{
		c("po-number", String),
		c("status", String),
		c("version", Int),
		c("acknowledged-flag", Bool),
		c("acknowledged-at", Timestamp),
		c("exported", Bool),
		c("last-exported-at", Timestamp),
		c("payment-method", String),
		c("ship-to-address.id", Int),
	}, currency(), supplier(), audit(), customFields),
	Children: []Child{
		lineChild("purchase_order_lines", "order-lines", "purchase_order_id", cols([]Column{
			c("id", Int),
			c("line-num", Int),
			c("description", String),
			c("quantity", Decimal),
			c("price", Decimal),
			c("total", Decimal),
			c("need-by-date", Timestamp),
		}, account(), commodity())),
	},
	// POST exists only with the external-POs feature, so the connector does not offer create.
	Create: false, Update: true,
	Actions: []string{"issue", "close", "cancel", "reopen"},
}

var requisitions = &Table{
	Name: "requisitions", Resource: "requisitions",
	Scope: "core.requisition.read", WriteScope: "core.requisition.write",
	Cursor: CursorField, Lookback: DefaultLookback,
	Columns: cols(head(), []Column{
		c("status", String),
		c("submitted-at", Timestamp),
		c("need-by-date", Timestamp),
		c("total", Decimal),
		c("buyer-note", String),
		c("justification", String),
		c("reject-reason-comment", String),
		c("ship-to-attention", String),
		c("exported", Bool),
		c("department.id", Int),
		c("department.name", String),
		c("requested-by.id", Int),
		c("requested-by.login", String),
	}, currency(), audit(), customFields),
	Children: []Child{
		lineChild("requisition_lines", "requisition-lines", "requisition_id", cols([]Column{
			c("id", Int),
			c("line-num", Int),
			c("description", String),
			c("quantity", Decimal),
			c("unit-price", Decimal),
			c("total", Decimal),
			c("need-by-date", Timestamp),
		}, account(), commodity())),
	},
	Create: true, Update: true,
	Required: []string{"requisition-lines"},
}

var suppliers = &Table{
	Name: "suppliers", Resource: "suppliers",
	Scope: "core.supplier.read", WriteScope: "core.supplier.write",
	Cursor: CursorField, Lookback: DefaultLookback,
	Columns: cols(head(), []Column{
		c("name", String),
		c("display-name", String),
		c("number", String),
		c("status", String),
		c("website", String),
		c("po-method", String),
		c("po-change-method", String),
		c("payment-method", String),
		c("po-email", String),
		c("invoice-matching-level", String),
		c("on-hold", Bool),
		c("buyer-hold", Bool),
		c("savings-pct", Decimal),
		c("allow-cxml-invoicing", Bool),
		c("primary-contact.id", Int),
		c("primary-contact.email", String),
		c("primary-address.id", Int),
	}, audit(), customFields),
	Create: true, Update: true,
	Required:    []string{"name"},
	NaturalKeys: [][]string{{"number"}, {"name"}},
}

// contracts: the fact sheet has no field list (UNCERTAIN); these are the commonly documented header fields.
// Issue 4 says contracts cannot be updated through the connector.
var contracts = &Table{
	Name: "contracts", Resource: "contracts",
	Scope: "core.contract.read", WriteScope: "core.contract.write",
	Cursor: CursorField, Lookback: DefaultLookback,
	Columns: cols(head(), []Column{
		c("name", String),
		c("number", String),
		c("status", String),
		c("start-date", Timestamp),
		c("end-date", Timestamp),
		c("term-type", String),
		c("min-commit", Decimal),
		c("max-commit", Decimal),
	}, supplier(), currency(), audit()),
	Create: true, Update: false,
	Required:    []string{"name", "supplier"},
	NaturalKeys: [][]string{{"number"}},
}

var expenseReports = &Table{
	Name: "expense_reports", Resource: "expense_reports",
	Scope: "core.expense.read", WriteScope: "core.expense.write",
	Cursor: CursorField, Lookback: DefaultLookback,
	Columns: cols(head(), []Column{
		c("title", String),
		c("status", String),
		c("submitted-at", Timestamp),
		c("end-date", Timestamp),
		c("exported", Bool),
		c("last-exported-at", Timestamp),
		c("paid", Bool),
		c("is-trip", Bool),
		c("audit-score", Int),
		c("auditor-note", String),
		c("erp-document-id", String),
		c("erp-document-status", String),
		c("external-src-name", String),
		c("external-src-ref", String),
		c("expensed-by.id", Int),
		c("expensed-by.login", String),
	}, currency(), audit(), customFields),
	Children: []Child{
		lineChild("expense_lines", "expense-lines", "expense_report_id", cols([]Column{
			c("id", Int),
			c("line-num", Int),
			c("description", String),
			c("expense-date", Timestamp),
			c("amount", Decimal),
			c("merchant", String),
			c("reason", String),
			c("expense-category.id", Int),
			c("expense-category.name", String),
		}, currency(), account())),
	},
	Create: true, Update: true,
	Actions:  []string{"submit"},
	Required: []string{"expensed-by"},
}

// users keeps the license booleans as columns (handy in SQL) and also explodes them into user_licenses.
var users = &Table{
	Name: "users", Resource: "users",
	Scope: "core.user.read", WriteScope: "core.user.write",
	Cursor: CursorField, Lookback: DefaultLookback,
	Columns: cols(head(), []Column{
		c("login", String),
		c("email", String),
		c("firstname", String),
		c("lastname", String),
		c("fullname", String),
		c("employee-number", String),
		c("active", Bool),
		c("api-user", Bool),
		c("authentication-method", String),
		c("sso-identifier", String),
		c("default-locale", String),
		c("account-security-type", String),
		c("business-group-security-type", Int),
		c("mention-name", String),
		c("manager.id", Int),
		c("manager.login", String),
		c("default-currency.id", Int),
		c("default-currency.code", String),
		c("department.id", Int),
		c("department.name", String),
	}, licenseColumns(), audit(), customFields),
	Children: []Child{
		{
			Name: "user_roles", Path: "roles", ParentKey: "user_id", Key: []string{"user_id", "role_id"},
			Columns: []Column{{Name: "role_id", Path: "id", Type: Int}, {Name: "role_name", Path: "name", Type: String}},
		},
		{
			Name: "user_group_members", Path: "user-groups", ParentKey: "user_id",
			Key: []string{"user_id", "user_group_id"},
			Columns: []Column{
				{Name: "user_group_id", Path: "id", Type: Int},
				{Name: "user_group_name", Path: "name", Type: String},
			},
		},
		{
			Name: "user_licenses", ParentKey: "user_id", Key: []string{"user_id", "license"},
			Columns: []Column{{Name: "license", Path: "license", Type: String}, {Name: "enabled", Path: "enabled", Type: Bool}},
			Explode: explodeLicenses,
			Uses:    Licenses,
		},
		{
			Name: "user_content_groups", Path: "content-groups", ParentKey: "user_id",
			Key: []string{"user_id", "content_group_id"},
			Columns: []Column{
				{Name: "content_group_id", Path: "id", Type: Int},
				{Name: "content_group_name", Path: "name", Type: String},
			},
		},
	},
	Create: true, Update: true,
	Required:    []string{"login", "email", "active"},
	NaturalKeys: [][]string{{"login"}},
}

func licenseColumns() []Column {
	out := make([]Column, len(Licenses))
	for i, l := range Licenses {
		out[i] = c(l, Bool)
	}
	return out
}

// explodeLicenses makes one record per license field present on the user. A license the record does not
// carry is unknown, not "disabled", so it yields no row.
func explodeLicenses(parent map[string]any) []map[string]any {
	out := make([]map[string]any, 0, len(Licenses))
	for _, l := range Licenses {
		v, ok := parent[l]
		if !ok || v == nil {
			continue
		}
		out = append(out, map[string]any{"license": l, "enabled": v})
	}
	return out
}

// approvals cannot be created or edited through the connector, only acted upon.
var approvals = &Table{
	Name: "approvals", Resource: "approvals",
	Scope: "core.approval.read", WriteScope: "core.approval.write",
	Cursor: CursorField, Lookback: DefaultLookback,
	Columns: cols(head(), []Column{
		c("status", String),
		c("type", String),
		c("approvable-type", String),
		c("approvable-id", Int),
		c("approval-chain-id", Int),
		c("approval-date", Timestamp),
		c("position", Int),
		c("holdable", Bool),
		c("note", String),
		c("reason", String),
		c("delegate-id", Int),
		c("approver.id", Int),
		c("approver.login", String),
		c("approver.name", String),
		c("approved-by.id", Int),
		c("approved-by.login", String),
	}, audit()),
	Create: false, Update: false,
	Actions: []string{"approve", "reject", "hold"},
}

// contentGroups are Coupa's content groups (business groups), served as /api/business_groups. The scope of
// that endpoint is not documented (core.common.read is the likeliest), so the table is Optional: an instance
// that does not serve it skips the table and the others go on.
var contentGroups = &Table{
	Name: "content_groups", Resource: "business_groups",
	Scope:  "core.common.read",
	Cursor: CursorField, Lookback: DefaultLookback,
	Columns: cols(head(), []Column{
		c("name", String),
		c("description", String),
		c("active", Bool),
	}),
	Optional: true,
}

var userGroups = &Table{
	Name: "user_groups", Resource: "user_groups",
	Scope: "core.user_group.read", WriteScope: "core.user_group.write",
	Cursor: CursorField, Lookback: DefaultLookback,
	Columns: cols(head(), []Column{
		c("name", String),
		c("description", String),
		c("active", Bool),
		c("can-approve", Bool),
		c("open", Bool),
		c("mention-name", String),
		c("type", String),
	}, audit()),
	Create: true, Update: true,
	Required:    []string{"name"},
	NaturalKeys: [][]string{{"name"}},
}

// roles: no core.role scope exists and a REST /api/roles is not documented on every instance (UNCERTAIN in the
// fact sheet), so the table is Optional and read with the users scope. Roles change through users, so no writes.
var roles = &Table{
	Name: "roles", Resource: "roles",
	Scope:  "core.user.read",
	Cursor: CursorField, Lookback: DefaultLookback,
	Columns: cols(head(), []Column{
		c("name", String),
		c("description", String),
		c("omnipotent", Bool),
		c("system-role", Bool),
	}, audit()),
	Optional: true,
}

var accounts = &Table{
	Name: "accounts", Resource: "accounts",
	Scope: "core.accounting.read", WriteScope: "core.accounting.write",
	Cursor: CursorField, Lookback: DefaultLookback,
	Columns: cols(head(), []Column{
		c("name", String),
		c("code", String),
		c("active", Bool),
		c("account-type.id", Int),
		c("account-type.name", String),
		c("segment-1", String),
		c("segment-2", String),
		c("segment-3", String),
	}, audit()),
	Create: true, Update: true,
	Required: []string{"code", "account-type"},
}

// currencies and commodities are reference data the connector only reads.
var currencies = &Table{
	Name: "currencies", Resource: "currencies",
	Scope:  "core.common.read",
	Cursor: CursorField, Lookback: DefaultLookback,
	Columns: cols(head(), []Column{
		c("code", String),
		c("decimals", Int),
	}),
}

var commodities = &Table{
	Name: "commodities", Resource: "commodities",
	Scope:  "core.common.read",
	Cursor: CursorField, Lookback: DefaultLookback,
	Columns: cols(head(), []Column{
		c("name", String),
		c("active", Bool),
	}),
}

// all is the catalog in the stable order All returns: transactions first, reference data last.
var all = []*Table{
	invoices, purchaseOrders, requisitions, suppliers, contracts, expenseReports,
	users, approvals, userGroups, roles, contentGroups, accounts, currencies, commodities,
}
