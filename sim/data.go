package sim

import (
	"strconv"
	"strings"
)

// The data set is generated, not stored: every field of a record follows from (seed, resource, id), so a
// million invoices cost only their mutable state (rec) plus whatever writes changed (override).

// rec is the mutable state of one record; id = index+1 in its table.
type rec struct {
	created, updated, lastExp int64 // unix seconds; lastExp 0 = never exported
	status                    uint8 // index into resource.statuses
	exported, active, deleted bool
	ov                        int32 // 1 + index into table.ovs; 0 = unchanged. No pointer, so the GC skips recs.
}

// override holds what writes changed. full marks a record created through the API, which has no
// generated base: set is then the whole record.
type override struct {
	set  obj
	full bool
}

type counts struct {
	suppliers, users, accounts, groups, memberships, pos, reqs, invoices, expenses, approvals, contracts int64
}

func newCounts(scale int) counts {
	n := int64(scale)
	c := counts{invoices: n}
	c.suppliers = max(10, n/20)
	c.users = max(25, n/10)
	c.accounts = max(20, n/50)
	c.groups = max(5, min(n/100, 500))
	c.memberships = c.users + c.users/2
	c.pos = max(1, n*4/5)
	c.reqs = c.pos
	c.expenses = max(5, n/4)
	c.approvals = c.reqs/2 + c.invoices/2 + c.expenses/2
	c.contracts = max(5, n/40)
	return c
}

var (
	currencyCodes = []string{"USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD"}
	commodityList = []string{"Office Supplies", "IT Hardware", "Software", "Consulting", "Travel", "Facilities",
		"Marketing", "Legal Services", "Telecom", "Furniture", "Lab Equipment", "Shipping", "Training",
		"Catering", "Printing", "Security", "Cleaning", "Utilities", "Insurance", "Recruiting"}
	roleList = [][2]string{{"Admin", "Full access to everything"}, {"User", "Basic requester"},
		{"Buyer", "Manages requisitions and purchase orders"}, {"AP Clerk", "Processes invoices"},
		{"Approver", "Approves documents"}, {"Expense User", "Submits expense reports"},
		{"Supplier Manager", "Maintains suppliers"}, {"Integration", "API integration user"}}
	businessGroups = []string{"Everyone", "North America", "EMEA", "APAC", "Finance"}
	firstNames     = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret",
		"Dennis", "Radia", "Niklaus", "Leslie", "John", "Sophie", "Tim", "Katherine", "Linus", "Hedy", "Claude"}
	lastNames = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
		"Hamilton", "Ritchie", "Perlman", "Wirth", "Lamport", "McCarthy", "Wilson", "Berners-Lee", "Johnson",
		"Torvalds", "Lamarr", "Shannon"}
	supplierWords = []string{"Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell",
		"Cyberdyne", "Soylent", "Hooli", "Vandelay", "Dunder", "Pied Piper", "Aperture", "Oceanic"}
	supplierKinds = []string{"Supplies", "Industries", "Logistics", "Consulting", "Systems", "Labs", "Holdings"}
	lineItems     = []string{"Laptop", "Monitor", "Desk chair", "Printer paper", "Toner cartridge", "Consulting hours",
		"Software license", "Conference booth", "Cloud credits", "Shipping crate", "Safety gloves", "Whiteboard"}
	licenses = []string{"purchasing-user", "expense-user", "sourcing-user", "inventory-user", "contracts-user",
		"analytics-user", "aic-user", "spend-guard-user", "ccw-user", "clm-advanced-user", "supply-chain-user",
		"risk-assess-user", "travel-user", "treasury-user", "invoicing-user", "category_planner_user"}
)

const day = 86400

// h is the deterministic source of every generated value.
func (s *store) h(tag uint64, id int64, k uint64) uint64 {
	x := uint64(s.seed) ^ tag*0x9E3779B97F4A7C15 ^ uint64(id)*0xBF58476D1CE4E5B9 ^ k*0x94D049BB133111EB
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x
}

func (s *store) pick(tag uint64, id int64, k uint64, n int64) int64 {
	return int64(s.h(tag, id, k) % uint64(n))
}

// ref chooses a related record among the n generated ones, 1-based.
func (s *store) ref(tag uint64, id int64, k uint64, n int64) int64 {
	if n <= 0 {
		return 1
	}
	return s.pick(tag, id, k, n) + 1
}

// pad renders n with at least w digits; prefix is prepended in the same allocation.
func pad(n int64, w int) string { return padWith("", n, w) }

func padWith(prefix string, n int64, w int) string {
	var buf [40]byte
	return string(appendPadded(buf[:0], prefix, n, w))
}

func appendPadded(b []byte, prefix string, n int64, w int) []byte {
	b = append(b, prefix...)
	var digits [20]byte
	for k := len(strconv.AppendInt(digits[:0], n, 10)); k < w; k++ {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, n, 10)
}

// padded is padWith as a field value, its text kept in sc.
func (sc *scratch) padded(prefix string, n int64, w int) any {
	var buf [40]byte
	return sc.str(appendPadded(buf[:0], prefix, n, w))
}

// --- association stubs ---

func (s *store) currencyStub(id int64) any {
	if id < 1 || id > int64(len(currencyCodes)) || !s.plain("currencies", id) {
		return s.stubFrom("currencies", id, "id", "code")
	}
	return fixedStubs.currencies[id-1]
}

func (s *store) supplierName(id int64) string {
	return supplierWords[s.pick(2, id, 1, int64(len(supplierWords)))] + " " +
		supplierKinds[s.pick(2, id, 2, int64(len(supplierKinds)))] + " " + strconv.FormatInt(id, 10)
}

func (s *store) stubFrom(res string, id int64, keys ...string) any {
	t := s.tables[res]
	if t == nil || id < 1 || id > int64(len(t.recs)) {
		return nil
	}
	o := s.render(t, id, false)
	out := make(obj, 0, len(keys))
	for _, k := range keys {
		v, _ := o.get(k)
		out = append(out, kv{k, v})
	}
	return out
}

func (s *store) plain(res string, id int64) bool {
	t := s.refTable(res)
	return t != nil && id >= 1 && id <= t.base && t.recs[id-1].ov == 0
}

func (s *store) supplierStub(id int64) any {
	if c := s.stubs.suppliers; id >= 1 && id <= int64(len(c)) && c[id-1] != nil {
		return c[id-1]
	}
	if !s.plain("suppliers", id) {
		return s.stubFrom("suppliers", id, "id", "name", "number")
	}
	return obj{{"id", id}, {"name", s.supplierName(id)}, {"number", padWith("SUP-", id, 5)}}
}

func (s *store) userNames(id int64) (first, last, login string) {
	first = firstNames[s.pick(3, id, 1, int64(len(firstNames)))]
	last = lastNames[s.pick(3, id, 2, int64(len(lastNames)))]
	login = strings.ToLower(first[:1]+strings.ReplaceAll(last, "-", "")) + strconv.FormatInt(id, 10)
	return
}

func (s *store) userStub(id int64) any {
	if c := s.stubs.users; id >= 1 && id <= int64(len(c)) && c[id-1] != nil {
		return c[id-1]
	}
	if !s.plain("users", id) {
		return s.stubFrom("users", id, "id", "login", "email", "firstname", "lastname", "employee-number")
	}
	first, last, login := s.userNames(id)
	return obj{{"id", id}, {"login", login}, {"email", login + "@example.com"}, {"firstname", first},
		{"lastname", last}, {"employee-number", padWith("E", id, 6)}}
}

func (s *store) accountCode(id int64) string {
	return "CC-" + pad(100+id%900, 3) + "-" + pad(6000+s.pick(4, id, 1, 100), 4)
}

func (s *store) accountStub(id int64) any {
	if c := s.stubs.accounts; id >= 1 && id <= int64(len(c)) && c[id-1] != nil {
		return c[id-1]
	}
	if !s.plain("accounts", id) {
		return s.stubFrom("accounts", id, "id", "name", "code", "account-type-id")
	}
	code := s.accountCode(id)
	return obj{{"id", id}, {"name", "Account " + code}, {"code", code}, {"account-type-id", int64(1)}}
}

func (s *store) commodityStub(id int64) any {
	if id < 1 || id > int64(len(commodityList)) || !s.plain("commodities", id) {
		return s.stubFrom("commodities", id, "id", "name")
	}
	return fixedStubs.commodities[id-1]
}

func (s *store) groupStub(id int64) any {
	if !s.plain("user_groups", id) {
		return s.stubFrom("user_groups", id, "id", "name")
	}
	return obj{{"id", id}, {"name", groupName(id)}}
}

func groupName(id int64) string {
	names := []string{"Finance Approvers", "IT Buyers", "AP Team", "Travel Desk", "Procurement", "Legal Review",
		"Facilities", "Marketing Ops"}
	return names[(id-1)%int64(len(names))] + " " + strconv.FormatInt(id, 10)
}

func (s *store) roleStub(id int64) any {
	if id < 1 || id > int64(len(roleList)) || !s.plain("roles", id) {
		return s.stubFrom("roles", id, "id", "name")
	}
	return fixedStubs.roles[id-1]
}

func (s *store) bgStub(id int64) any {
	if id < 1 || id > int64(len(businessGroups)) || !s.plain("business_groups", id) {
		return s.stubFrom("business_groups", id, "id", "name")
	}
	return fixedStubs.groups[id-1]
}

func (s *store) by(tag uint64, id int64, k uint64) any {
	return s.userStub(s.ref(tag, id, k, s.c.users))
}

// --- per-resource generators; r is the record's state, already set ---

func (s *store) common(sc *scratch, t *table, id int64, r *rec) obj {
	o := sc.obj(40)
	o = append(o, kv{"id", id}, kv{"created-at", tm(r.created)}, kv{"updated-at", tm(r.updated)})
	return o
}

func (s *store) tail(o obj, tag uint64, id int64) obj {
	return append(o, kv{"created-by", s.by(tag, id, 90)}, kv{"updated-by", s.by(tag, id, 91)})
}

func (s *store) exportFields(o obj, r *rec) obj {
	var le any
	if r.lastExp != 0 {
		le = tm(r.lastExp)
	}
	return append(o, kv{"exported", r.exported}, kv{"last-exported-at", le})
}

// lineAmounts gives a line's quantity (tenths), unit price (1/10000) and total (cents), exactly.
func (s *store) lineAmounts(tag uint64, id int64) (q10, p4, cents int64) {
	q10 = 10 * (1 + s.pick(tag, id, 11, 9))
	if s.h(tag, id, 12)%3 == 0 {
		q10 += 5 // quantities such as "1.5"
	}
	p4 = 10000*(1+s.pick(tag, id, 13, 500)) + s.pick(tag, id, 14, 10000)
	cents = (q10*p4 + 500) / 1000
	return
}

func (s *store) genInvoice(sc *scratch, t *table, id int64, r *rec, children bool) obj {
	const tag = 10
	po := s.ref(tag, id, 1, s.c.pos)
	sup := s.ref(21, po, 1, s.c.suppliers)
	cur := s.currencyOf(po)
	nl := 1 + s.pick(tag, id, 2, 4)
	nc := s.pick(tag, id, 3, 3)
	var sum int64
	var lines, charges []obj
	var poNumber any
	if children {
		lines, charges = sc.list(int(nl)), sc.list(int(nc))
		poNumber = sc.padded("PO-", po, 6) // every line names the same order
	}
	for k := int64(1); k <= nl; k++ {
		lid := (id-1)*4 + k
		q10, p4, cents := s.lineAmounts(11, lid)
		sum += cents
		if children {
			var typ, qty, price any = "InvoiceQuantityLine", nil, nil
			if s.h(11, lid, 5)%5 == 0 {
				typ = "InvoiceAmountLine"
			} else {
				qty, price = tenthsValue(q10), sc.decimal(p4, 4)
			}
			lines = append(lines, append(sc.obj(12), kv{"id", lid}, kv{"line-num", k},
				kv{"description", lineItemValues[s.pick(11, lid, 1, int64(len(lineItems)))]},
				kv{"quantity", qty}, kv{"price", price}, kv{"total", sc.money(cents)}, kv{"type", typ},
				kv{"po-number", poNumber}, kv{"order-line-num", 1 + s.pick(11, lid, 2, 3)},
				kv{"account", s.accountStub(s.ref(11, lid, 3, s.c.accounts))},
				kv{"commodity", s.commodityStub(s.ref(11, lid, 4, int64(len(commodityList))))},
				kv{"custom-fields", lineCustomFields}))
		}
	}
	for k := int64(1); k <= nc; k++ {
		cid := (id-1)*3 + k
		cents := 100 + s.pick(12, cid, 1, 5000)
		sum += cents
		if children {
			ct := chargeTypes[s.pick(12, cid, 2, 3)]
			charges = append(charges, append(sc.obj(5), kv{"id", cid}, kv{"line-num", nl + k}, kv{"type", ct.name},
				kv{"description", ct.description}, kv{"total", sc.money(cents)}))
		}
	}
	tax := sum * int64(s.pick(tag, id, 4, 3)*5) / 100
	o := s.common(sc, t, id, r)
	total := sc.money(sum + tax) // boxed once, shared by the three total fields
	idate := (r.created/day - s.pick(tag, id, 5, 10)) * day
	o = append(o,
		kv{"invoice-date", s.localMidnight(idate)},
		kv{"invoice-number", sc.padded("INV-", id, 7)},
		kv{"status", t.status(r)},
		kv{"document-type", "Invoice"},
		kv{"is-credit-note", false},
		kv{"original-invoice-number", nil},
		kv{"line-level-taxation", false},
		kv{"total-with-taxes", total},
		kv{"gross-total", total},
		kv{"supplier-total", total},
		kv{"tax-amount", sc.money(tax)},
		kv{"tax-rate", taxRates[s.pick(tag, id, 4, 3)]},
		kv{"line-count", nl},
		kv{"payment-date", nil},
		kv{"net-due-date", s.localMidnight(idate + 30*day)},
		kv{"currency", s.currencyStub(cur)},
		kv{"payment-term", net30},
		kv{"supplier", s.supplierStub(sup)},
	)
	o = s.exportFields(o, r)
	o = append(o, kv{"custom-fields", append(sc.obj(2), kv{"project-code", projectCodes[s.pick(tag, id, 6, 40)]},
		kv{"cost-center-override", nil})})
	if children {
		o = append(o, kv{"invoice-lines", lines}, kv{"invoice-charges", charges})
	}
	return s.tail(o, tag, id)
}

func (s *store) localMidnight(t int64) tm {
	// Date-only fields are midnight in the instance's zone, as Coupa renders them.
	_, off := timeUnix(t).In(s.loc).Zone()
	return tm(t/day*day - int64(off))
}

func (s *store) currencyOf(po int64) int64 {
	if s.h(20, po, 7)%10 < 7 {
		return 1
	}
	return 1 + s.pick(20, po, 8, int64(len(currencyCodes)))
}

// orderLines totals the lines of purchase order id and, when children, renders them with line. Requisition
// id has the very same lines (ids, count and amounts): it is the requisition that became that order.
func (s *store) orderLines(sc *scratch, id int64, children bool, line func(lid, k, q10, p4, cents int64) obj) (sum int64, lines []obj) {
	nl := 1 + s.pick(20, id, 2, 4)
	if children {
		lines = sc.list(int(nl))
	}
	for k := int64(1); k <= nl; k++ {
		lid := (id-1)*4 + k
		q10, p4, cents := s.lineAmounts(22, lid)
		sum += cents
		if children {
			lines = append(lines, line(lid, k, q10, p4, cents))
		}
	}
	return sum, lines
}

func (s *store) genPO(sc *scratch, t *table, id int64, r *rec, children bool) obj {
	const tag = 20
	sup := s.ref(21, id, 1, s.c.suppliers)
	sum, lines := s.orderLines(sc, id, children, func(lid, k, q10, p4, cents int64) obj {
		return append(sc.obj(10), kv{"id", lid}, kv{"line-num", k},
			kv{"description", lineItemValues[s.pick(22, lid, 1, int64(len(lineItems)))]},
			kv{"quantity", tenthsValue(q10)}, kv{"price", sc.decimal(p4, 4)}, kv{"total", sc.money(cents)},
			kv{"type", "OrderQuantityLine"}, kv{"need-by-date", s.localMidnight(r.created + 14*day)},
			kv{"account", s.accountStub(s.ref(22, lid, 3, s.c.accounts))},
			kv{"commodity", s.commodityStub(s.ref(22, lid, 4, int64(len(commodityList))))})
	})
	o := s.common(sc, t, id, r)
	var req any
	if id <= s.c.reqs {
		req = obj{{"id", id}}
	}
	o = append(o,
		kv{"po-number", sc.padded("PO-", id, 6)},
		kv{"status", t.status(r)},
		kv{"version", 1 + s.pick(tag, id, 3, 3)},
		kv{"acknowledged-flag", s.h(tag, id, 4)%2 == 0},
		kv{"payment-method", []string{"invoice", "pcard"}[s.pick(tag, id, 5, 2)]},
		kv{"ship-to-attention", nil},
		kv{"total", moneyValue(sum)},
		kv{"currency", s.currencyStub(s.currencyOf(id))},
		kv{"supplier", s.supplierStub(sup)},
		kv{"requisition-header", req},
	)
	o = s.exportFields(o, r)
	o = append(o, kv{"custom-fields", append(sc.obj(1), kv{"delivery-terms", []string{"FOB", "CIF", "DAP"}[s.pick(tag, id, 6, 3)]})})
	if children {
		o = append(o, kv{"order-lines", lines})
	}
	return s.tail(o, tag, id)
}

func (s *store) genRequisition(sc *scratch, t *table, id int64, r *rec, children bool) obj {
	const tag = 30
	sum, lines := s.orderLines(sc, id, children, func(lid, k, q10, p4, cents int64) obj {
		return append(sc.obj(10), kv{"id", lid}, kv{"line-num", k},
			kv{"description", lineItemValues[s.pick(22, lid, 1, int64(len(lineItems)))]},
			kv{"quantity", tenthsValue(q10)}, kv{"unit-price", sc.decimal(p4, 4)}, kv{"total", sc.money(cents)},
			kv{"need-by-date", s.localMidnight(r.created + 14*day)},
			kv{"supplier", s.supplierStub(s.ref(21, id, 1, s.c.suppliers))},
			kv{"account", s.accountStub(s.ref(22, lid, 3, s.c.accounts))},
			kv{"commodity", s.commodityStub(s.ref(22, lid, 4, int64(len(commodityList))))})
	})
	o := s.common(sc, t, id, r)
	o = append(o,
		kv{"submitted-at", tm(r.created + 600)},
		kv{"status", t.status(r)},
		kv{"justification", "Needed for project " + strconv.FormatInt(1+s.pick(tag, id, 1, 40), 10)},
		kv{"need-by-date", s.localMidnight(r.created + 14*day)},
		kv{"buyer-note", nil},
		kv{"total", moneyValue(sum)},
		kv{"currency", s.currencyStub(s.currencyOf(id))},
		kv{"requested-by", s.by(tag, id, 2)},
		kv{"ship-to-attention", nil},
	)
	o = s.exportFields(o, r)
	o = append(o, kv{"custom-fields", append(sc.obj(1), kv{"urgency", []string{"low", "normal", "high"}[s.pick(tag, id, 3, 3)]})})
	if children {
		o = append(o, kv{"requisition-lines", lines})
	}
	return s.tail(o, tag, id)
}

func (s *store) genExpense(sc *scratch, t *table, id int64, r *rec, children bool) obj {
	const tag = 40
	nl := 1 + s.pick(tag, id, 1, 5)
	var sum int64
	var lines []obj
	if children {
		lines = sc.list(int(nl))
	}
	cats := []string{"Airfare", "Hotel", "Meals", "Taxi", "Mileage", "Supplies"}
	for k := int64(1); k <= nl; k++ {
		lid := (id-1)*5 + k
		cents := 500 + s.pick(41, lid, 1, 90000)
		sum += cents
		if children {
			c := s.pick(41, lid, 2, int64(len(cats)))
			lines = append(lines, append(sc.obj(8), kv{"id", lid}, kv{"line-num", k}, kv{"description", cats[c] + " expense"},
				kv{"amount", moneyValue(cents)}, kv{"expense-date", s.localMidnight(r.created - k*day)},
				kv{"merchant", supplierWords[s.pick(41, lid, 3, int64(len(supplierWords)))]},
				kv{"expense-category", append(sc.obj(2), kv{"id", c + 1}, kv{"name", cats[c]})},
				kv{"account", s.accountStub(s.ref(41, lid, 4, s.c.accounts))}))
		}
	}
	o := s.common(sc, t, id, r)
	o = append(o,
		kv{"title", "Trip " + strconv.FormatInt(id, 10)},
		kv{"status", t.status(r)},
		kv{"submitted-at", tm(r.created + 3600)},
		kv{"total", moneyValue(sum)},
		kv{"paid", t.r.statuses[r.status] == "paid"},
		kv{"currency", s.currencyStub(1)},
		kv{"expensed-by", s.by(tag, id, 2)},
	)
	o = s.exportFields(o, r)
	o = append(o, kv{"custom-fields", append(sc.obj(1), kv{"trip-purpose", []string{"client", "conference", "internal"}[s.pick(tag, id, 3, 3)]})})
	if children {
		o = append(o, kv{"expense-lines", lines})
	}
	return s.tail(o, tag, id)
}

func (s *store) approvable(id int64) (string, int64) {
	b1, b2 := s.c.reqs/2, s.c.invoices/2
	switch {
	case id <= b1:
		return "RequisitionHeader", 2 * id
	case id <= b1+b2:
		return "InvoiceHeader", 2 * (id - b1)
	default:
		// Approvals created later (churn) wrap around, so every approvable exists.
		return "ExpenseReport", 2 * ((max(1, id-b1-b2)-1)%max(1, s.c.expenses/2) + 1)
	}
}

func (s *store) genApproval(sc *scratch, t *table, id int64, r *rec, _ bool) obj {
	const tag = 50
	typ, aid := s.approvable(id)
	st := t.r.statuses[r.status]
	var adate, aby any
	if st == "approved" || st == "rejected" {
		adate = tm(r.updated)
		aby = s.by(tag, id, 1)
	}
	o := s.common(sc, t, id, r)
	o = append(o,
		kv{"approvable-id", aid},
		kv{"approvable-type", typ},
		kv{"approval-chain-id", 1 + s.pick(tag, id, 2, 5)},
		kv{"approval-date", adate},
		kv{"approved-by", aby},
		kv{"approver", s.by(tag, id, 1)},
		kv{"delegate-id", nil},
		kv{"holdable", true},
		kv{"note", nil},
		kv{"position", 1 + s.pick(tag, id, 3, 3)},
		kv{"reason", nil},
		kv{"status", st},
		kv{"type", "ManagementHierarchyApproval"},
	)
	return s.tail(o, tag, id)
}

func (s *store) genSupplier(sc *scratch, t *table, id int64, r *rec, _ bool) obj {
	const tag = 60
	name := s.supplierName(id)
	o := s.common(sc, t, id, r)
	slug := strings.ToLower(strings.ReplaceAll(name, " ", ""))
	o = append(o,
		kv{"name", name},
		kv{"display-name", name},
		kv{"number", padWith("SUP-", id, 5)},
		kv{"status", t.status(r)},
		kv{"website", "https://" + slug + ".example.com"},
		kv{"po-method", []string{"email", "cxml", "prompt"}[s.pick(tag, id, 1, 3)]},
		kv{"po-change-method", "email"},
		kv{"payment-method", "invoice"},
		kv{"po-email", "orders@" + slug + ".example.com"},
		kv{"invoice-matching-level", []string{"2-way", "3-way", "none"}[s.pick(tag, id, 2, 3)]},
		kv{"on-hold", false},
		kv{"buyer-hold", false},
		kv{"savings-pct", dec(fixed(s.pick(tag, id, 3, 100), 1))},
		kv{"allow-cxml-invoicing", s.h(tag, id, 4)%2 == 0},
		kv{"primary-contact", obj{{"email", "ar@" + slug + ".example.com"}, {"name-given", "Pat"}, {"name-family", "Supplier"}}},
		kv{"custom-fields", obj{{"diversity-class", []any{nil, "small", "minority"}[s.pick(tag, id, 5, 3)]}}},
	)
	return s.tail(o, tag, id)
}

func (s *store) genUser(sc *scratch, t *table, id int64, r *rec, children bool) obj {
	const tag = 70
	first, last, login := s.userNames(id)
	o := s.common(sc, t, id, r)
	var mgr any
	if id > 1 {
		mgr = s.userStub(1 + s.pick(tag, id, 1, min(id-1, 50)))
	}
	o = append(o,
		kv{"login", login}, kv{"email", login + "@example.com"}, kv{"firstname", first}, kv{"lastname", last},
		kv{"fullname", first + " " + last}, kv{"employee-number", padWith("E", id, 6)},
		kv{"active", r.active}, kv{"api-user", id == 1},
		kv{"authentication-method", []string{"coupa_credentials", "saml", "ldap"}[s.pick(tag, id, 2, 3)]},
		kv{"sso-identifier", nil}, kv{"default-locale", "en"}, kv{"business-group-security-type", s.pick(tag, id, 3, 2)},
		kv{"mention-name", login},
		kv{"type", nil}, // blank for people; what else Coupa puts there is not documented
		kv{"manager", mgr},
		kv{"default-currency", s.currencyStub(1)},
		kv{"default-account", s.accountStub(s.ref(tag, id, 4, s.c.accounts))},
	)
	for i, l := range licenses {
		o = append(o, kv{l, s.h(tag, id, 100+uint64(i))%3 == 0 || (i < 2 && s.h(tag, id, 100+uint64(i))%3 != 2)})
	}
	if children {
		nr := 1 + s.pick(tag, id, 5, 2)
		roles := make([]obj, 0, nr)
		first := s.ref(tag, id, 6, int64(len(roleList)))
		for k := int64(0); k < nr; k++ {
			roles = append(roles, s.roleStub((first-1+k*3)%int64(len(roleList))+1).(obj))
		}
		o = append(o, kv{"roles", roles}, kv{"user-groups", []obj{}},
			kv{"content-groups", []obj{s.bgStub(s.ref(tag, id, 7, int64(len(businessGroups)))).(obj)}})
	}
	o = append(o, kv{"custom-fields", obj{{"cost-center", s.accountCode(s.ref(tag, id, 4, s.c.accounts))}, {"badge-number", nil}}})
	return s.tail(o, tag, id)
}

// membershipOf names the user and group of a generated membership; a user's first membership has the
// same id as the user, so users and memberships stay consistent at every scale.
func (s *store) membershipOf(id int64) (user, group int64) {
	nu, ng := s.c.users, s.c.groups
	user = (id-1)%nu + 1
	g1 := (user-1)%ng + 1
	if id <= nu || ng < 2 {
		return user, g1
	}
	return user, (g1-1+1+user%(ng-1))%ng + 1
}

func (s *store) genMembership(sc *scratch, t *table, id int64, r *rec, _ bool) obj {
	u, g := s.memberUser[id-1], s.memberGroup[id-1]
	o := s.common(sc, t, id, r)
	return append(o, kv{"owner", s.h(80, id, 1)%10 == 0}, kv{"participant", true},
		kv{"user", s.userStub(int64(u))}, kv{"user-group", s.groupStub(int64(g))},
		kv{"user-id", int64(u)}, kv{"user-group-id", int64(g)}, kv{"user-group-type", "group"})
}

func (s *store) genGroup(sc *scratch, t *table, id int64, r *rec, _ bool) obj {
	const tag = 90
	o := s.common(sc, t, id, r)
	name := groupName(id)
	o = append(o, kv{"name", name}, kv{"description", "Generated group " + strconv.FormatInt(id, 10)},
		kv{"active", r.active}, kv{"can-approve", s.h(tag, id, 1)%2 == 0},
		kv{"mention-name", strings.ToLower(strings.ReplaceAll(name, " ", "_"))}, kv{"open", s.h(tag, id, 2)%3 == 0},
		kv{"type", nil})
	return s.tail(o, tag, id)
}

func (s *store) genRole(sc *scratch, t *table, id int64, r *rec, _ bool) obj {
	o := s.common(sc, t, id, r)
	name, desc := "Role "+strconv.FormatInt(id, 10), ""
	if id <= int64(len(roleList)) {
		name, desc = roleList[id-1][0], roleList[id-1][1]
	}
	return append(o, kv{"name", name}, kv{"description", desc}, kv{"omnipotent", id == 1}, kv{"system-role", id <= 2},
		kv{"created-by", s.userStub(1)}, kv{"updated-by", s.userStub(1)})
}

func (s *store) genAccount(sc *scratch, t *table, id int64, r *rec, _ bool) obj {
	o := s.common(sc, t, id, r)
	code := s.accountCode(id)
	parts := strings.Split(code, "-")
	return append(o, kv{"name", "Account " + code}, kv{"code", code}, kv{"active", r.active},
		kv{"account-type-id", int64(1)}, kv{"segment-1", parts[0] + "-" + parts[1]}, kv{"segment-2", parts[2]},
		kv{"segment-3", nil})
}

func (s *store) genCurrency(sc *scratch, t *table, id int64, r *rec, _ bool) obj {
	o := s.common(sc, t, id, r)
	code := "X" + pad(id, 2)
	if id <= int64(len(currencyCodes)) {
		code = currencyCodes[id-1]
	}
	decimals := int64(2)
	if code == "JPY" {
		decimals = 0
	}
	return append(o, kv{"code", code}, kv{"decimals", decimals}, kv{"enabled-flag", true})
}

func (s *store) genCommodity(sc *scratch, t *table, id int64, r *rec, _ bool) obj {
	o := s.common(sc, t, id, r)
	name := "Commodity " + strconv.FormatInt(id, 10)
	if id <= int64(len(commodityList)) {
		name = commodityList[id-1]
	}
	return append(o, kv{"name", name}, kv{"active", r.active},
		kv{"category", []string{"Goods", "Services"}[id%2]}, kv{"parent", nil})
}

func (s *store) genBusinessGroup(sc *scratch, t *table, id int64, r *rec, _ bool) obj {
	o := s.common(sc, t, id, r)
	name := "Content group " + strconv.FormatInt(id, 10)
	if id <= int64(len(businessGroups)) {
		name = businessGroups[id-1]
	}
	return append(o, kv{"name", name}, kv{"description", name + " content"}, kv{"active", true})
}

func (s *store) genContract(sc *scratch, t *table, id int64, r *rec, _ bool) obj {
	const tag = 100
	o := s.common(sc, t, id, r)
	start := s.localMidnight(r.created)
	o = append(o, kv{"name", "Master agreement " + strconv.FormatInt(id, 10)},
		kv{"number", padWith("CTR-", id, 5)},
		kv{"status", t.status(r)},
		kv{"start-date", start},
		kv{"end-date", tm(int64(start) + 365*day)},
		kv{"maximum-value", moneyValue(100000 * (1 + s.pick(tag, id, 1, 500)))},
		kv{"currency", s.currencyStub(1)},
		kv{"supplier", s.supplierStub(s.ref(tag, id, 2, s.c.suppliers))},
		kv{"contract-owner", s.by(tag, id, 3)},
		kv{"content-groups", []obj{s.bgStub(s.ref(tag, id, 4, int64(len(businessGroups)))).(obj)}},
		kv{"custom-fields", obj{{"renewal-type", []string{"auto", "manual"}[s.pick(tag, id, 5, 2)]}}})
	return s.tail(o, tag, id)
}

// stubs are the association stubs of generated reference records, rendered once: they are embedded in
// every transactional record, and building them per render dominated list requests. Giving a record an
// override empties its entry (see newOverride), so the cache never goes stale; being consulted before
// the record's state, it also spares a page a cache miss into a large table per embedded stub.
type stubs struct {
	users, suppliers, accounts []any // per id-1; nil once the record has an override
}

func (s *store) buildStubs() {
	for _, res := range []string{"users", "suppliers", "accounts"} {
		n := s.tables[res].base
		c := make([]any, n)
		for id := int64(1); id <= n; id++ {
			var o any
			switch res {
			case "users":
				o = s.userStub(id)
			case "suppliers":
				o = s.supplierStub(id)
			case "accounts":
				o = s.accountStub(id)
			}
			c[id-1] = withPre(o.(obj))
		}
		switch res {
		case "users":
			s.stubs.users = c
		case "suppliers":
			s.stubs.suppliers = c
		case "accounts":
			s.stubs.accounts = c
		}
	}
}

// stubCache is t's entries in s.stubs, or nil when its stubs are not cached.
func (s *store) stubCache(t *table) []any {
	switch t {
	case s.refTables[0]:
		return s.stubs.users
	case s.refTables[1]:
		return s.stubs.suppliers
	case s.refTables[2]:
		return s.stubs.accounts
	}
	return nil
}

// Shared immutable values every invoice embeds, boxed once: boxing a slice or a string that is not a
// constant allocates, and an invoice embeds dozens of them.
var (
	lineCustomFields any = withPre(obj{{"gl-override", nil}})
	net30            any = withPre(obj{{"id", int64(1)}, {"code", "Net 30"}, {"description", "Payment due in 30 days"}})
	chargeTypes          = []struct{ name, description any }{{"InvoiceShippingCharge", "Shipping"},
		{"InvoiceHandlingCharge", "Handling"}, {"InvoiceMiscCharge", "Misc"}}
	lineItemValues = boxAll(lineItems)
	// taxRates are the generated invoices' tax rates, 0, 5 and 10 percent.
	taxRates = []any{dec("0.0"), dec("5.0"), dec("10.0")}
	// projectCodes are the 40 project codes of invoices' custom fields, PRJ-001 to PRJ-040.
	projectCodes = func() (c []any) {
		for n := int64(1); n <= 40; n++ {
			c = append(c, "PRJ-"+pad(n, 3))
		}
		return
	}()
)

// fixedStubs are the stubs of the fixed reference lists, shared by every store; stubs are never modified
// after they are built (rendering copies before it changes anything).
// They are kept boxed: converting a slice to an interface allocates, once per embedding otherwise.
var fixedStubs = func() (f struct{ commodities, currencies, roles, groups []any }) {
	for i, n := range commodityList {
		f.commodities = append(f.commodities, withPre(obj{{"id", int64(i + 1)}, {"name", n}}))
	}
	for i, c := range currencyCodes {
		f.currencies = append(f.currencies, withPre(obj{{"id", int64(i + 1)}, {"code", c}}))
	}
	for i, r := range roleList {
		f.roles = append(f.roles, withPre(obj{{"id", int64(i + 1)}, {"name", r[0]}}))
	}
	for i, g := range businessGroups {
		f.groups = append(f.groups, withPre(obj{{"id", int64(i + 1)}, {"name", g}}))
	}
	return
}()

// refTable finds the tables stubs come from without hashing the name: stubs are built for every embedded
// association of every rendered record.
func (s *store) refTable(res string) *table {
	switch res {
	case "users":
		return s.refTables[0]
	case "suppliers":
		return s.refTables[1]
	case "accounts":
		return s.refTables[2]
	case "currencies":
		return s.refTables[3]
	case "commodities":
		return s.refTables[4]
	case "user_groups":
		return s.refTables[5]
	}
	return s.tables[res]
}

func boxAll[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
