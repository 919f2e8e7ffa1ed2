package sim

import (
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// resource is one /api/<name> endpoint: how its records are generated, rendered and changed.
type resource struct {
	name     string // "invoices"
	xmlName  string // root element of one record in XML: "invoice-header"
	scope    string // read scope; the write scope is its .write twin
	statuses []string
	weights  []int // initial status distribution, parallel to statuses
	exported bool  // has exported / last-exported-at
	active   bool  // has an active flag kept in rec
	count    func(c counts) int64
	gen      func(s *store, sc *scratch, t *table, id int64, r *rec, children bool) obj
	children []string // dashed keys of embedded collections
	write    writeSpec
}

func (r *resource) writeScope() string { return strings.TrimSuffix(r.scope, ".read") + ".write" }

func fixedCount(n int) func(counts) int64 { return func(counts) int64 { return int64(n) } }

var resources = []*resource{
	{name: "invoices", xmlName: "invoice-header", scope: "core.invoice.read",
		statuses: []string{"approved", "pending_approval", "draft", "voided", "ap_hold", "disputed", "abandoned", "booking_hold"},
		weights:  []int{60, 12, 10, 5, 5, 4, 2, 2}, exported: true,
		count: func(c counts) int64 { return c.invoices }, gen: (*store).genInvoice,
		children: []string{"invoice-lines", "invoice-charges"}},
	{name: "purchase_orders", xmlName: "order-header", scope: "core.purchase_order.read",
		statuses: []string{"issued", "closed", "draft", "buyer_hold", "cancelled", "soft_closed"},
		weights:  []int{60, 20, 8, 4, 5, 3}, exported: true,
		count: func(c counts) int64 { return c.pos }, gen: (*store).genPO, children: []string{"order-lines"}},
	{name: "requisitions", xmlName: "requisition-header", scope: "core.requisition.read",
		statuses: []string{"ordered", "approved", "pending_approval", "draft", "withdrawn"},
		weights:  []int{65, 10, 10, 10, 5}, exported: true,
		count: func(c counts) int64 { return c.reqs }, gen: (*store).genRequisition, children: []string{"requisition-lines"}},
	{name: "suppliers", xmlName: "supplier", scope: "core.supplier.read",
		statuses: []string{"active", "inactive", "draft"}, weights: []int{85, 10, 5},
		count: func(c counts) int64 { return c.suppliers }, gen: (*store).genSupplier},
	{name: "contracts", xmlName: "contract", scope: "core.contract.read",
		statuses: []string{"published", "draft", "expired", "pending_approval"}, weights: []int{60, 15, 20, 5},
		count: func(c counts) int64 { return c.contracts }, gen: (*store).genContract},
	{name: "expense_reports", xmlName: "expense-report", scope: "core.expense.read",
		statuses: []string{"paid", "approved", "pending_approval", "draft", "approved_for_payment", "accounting_review"},
		weights:  []int{40, 20, 15, 15, 5, 5}, exported: true,
		count: func(c counts) int64 { return c.expenses }, gen: (*store).genExpense, children: []string{"expense-lines"}},
	{name: "users", xmlName: "user", scope: "core.user.read", active: true,
		count: func(c counts) int64 { return c.users }, gen: (*store).genUser,
		children: []string{"roles", "user-groups", "content-groups"}},
	{name: "approvals", xmlName: "approval", scope: "core.approval.read",
		statuses: []string{"approved", "pending", "rejected", "on_hold"}, weights: []int{70, 20, 7, 3},
		count: func(c counts) int64 { return c.approvals }, gen: (*store).genApproval},
	{name: "user_groups", xmlName: "user-group", scope: "core.user_group.read", active: true,
		count: func(c counts) int64 { return c.groups }, gen: (*store).genGroup, children: []string{"users"}},
	{name: "user_group_memberships", xmlName: "user-group-membership", scope: "core.user_group.read",
		count: func(c counts) int64 { return c.memberships }, gen: (*store).genMembership},
	{name: "roles", xmlName: "role", scope: "core.user.read",
		count: fixedCount(len(roleList)), gen: (*store).genRole},
	{name: "accounts", xmlName: "account", scope: "core.accounting.read", active: true,
		count: func(c counts) int64 { return c.accounts }, gen: (*store).genAccount},
	{name: "currencies", xmlName: "currency", scope: "core.common.read",
		count: fixedCount(len(currencyCodes)), gen: (*store).genCurrency},
	{name: "commodities", xmlName: "commodity", scope: "core.common.read", active: true,
		count: fixedCount(len(commodityList)), gen: (*store).genCommodity},
	{name: "business_groups", xmlName: "business-group", scope: "core.common.read",
		count: fixedCount(len(businessGroups)), gen: (*store).genBusinessGroup},
}

func resourceByName(name string) *resource {
	for _, r := range resources {
		if r.name == name {
			return r
		}
	}
	return nil
}

type table struct {
	r    *resource
	recs []rec // id = index+1
	// statusVals are r.statuses boxed, so that a rendered status does not allocate.
	statusVals []any
	ovs        []*override
	base       int64 // ids up to base have a generated body
	live       int64
}

// store is the data of one simulated instance. It is not safe for concurrent use: Server locks it.
type store struct {
	seed      int64
	loc       *time.Location
	now       func() time.Time
	c         counts
	t0        int64
	tables    map[string]*table
	refTables [6]*table // users, suppliers, accounts, currencies, commodities, user_groups
	enc       encoder
	stubs     stubs
	lineSeq   int64        // ids of lines written through the API, far above generated line ids
	renders   atomic.Int64 // records rendered, so tests can check that lists render only what they return

	memberUser, memberGroup []int32   // per membership id-1
	userMembers             [][]int32 // per user id-1: membership ids
	groupMembers            [][]int32 // per group id-1: membership ids
}

func timeUnix(t int64) time.Time { return time.Unix(t, 0) }

func newStore(seed int64, scale int, loc *time.Location, now func() time.Time) *store {
	s := &store{seed: seed, loc: loc, now: now, c: newCounts(scale), tables: map[string]*table{}, enc: encoder{loc: loc}}
	s.t0 = now().Unix()
	s.lineSeq = 9_000_000_000
	for i, shared := range resources {
		r := new(resource)
		*r = *shared
		r.statuses = append([]string(nil), shared.statuses...) // admin mutations may add statuses
		n := r.count(s.c)
		t := &table{r: r, recs: make([]rec, n), base: n, live: n, statusVals: boxAll(r.statuses)}
		for id := int64(1); id <= n; id++ {
			t.recs[id-1] = s.initial(r, uint64(1000+i), id, n)
		}
		s.tables[r.name] = t
	}
	for i, name := range []string{"users", "suppliers", "accounts", "currencies", "commodities", "user_groups"} {
		s.refTables[i] = s.tables[name]
	}
	s.buildStubs()
	nm := s.c.memberships
	s.memberUser = make([]int32, nm)
	s.memberGroup = make([]int32, nm)
	s.userMembers = make([][]int32, s.c.users)
	s.groupMembers = make([][]int32, s.c.groups)
	for m := int64(1); m <= nm; m++ {
		u, g := s.membershipOf(m)
		s.memberUser[m-1], s.memberGroup[m-1] = int32(u), int32(g)
		s.userMembers[u-1] = append(s.userMembers[u-1], int32(m))
		s.groupMembers[g-1] = append(s.groupMembers[g-1], int32(m))
	}
	return s
}

// initial spreads generated records over the last ~400 days in id order, so that created-at grows with id
// and updated-at is later than created-at but never in the future.
func (s *store) initial(r *resource, tag uint64, id, n int64) rec {
	const span = 400 * day
	created := s.t0 - span + span*id/(n+1) - int64(s.h(tag, id, 1)%3600)
	room := s.t0 - 60 - created
	upd := created
	if room > 0 {
		upd += int64(s.h(tag, id, 2) % uint64(min(room, 30*day)))
	}
	x := rec{created: created, updated: upd, active: true}
	if r.statuses != nil {
		total := 0
		for _, w := range r.weights {
			total += w
		}
		p := int(s.h(tag, id, 3) % uint64(total))
		for i, w := range r.weights {
			if p < w {
				x.status = uint8(i)
				break
			}
			p -= w
		}
	}
	if r.active {
		x.active = s.h(tag, id, 4)%10 != 0
	}
	if r.exported && s.h(tag, id, 5)%3 == 0 {
		x.exported = true
		x.lastExp = upd
	}
	return x
}

// render builds a record as GET /api/<resource>/<id> shows it; children adds the embedded collections.
func (s *store) render(t *table, id int64, children bool) obj {
	return s.renderIn(nil, t, id, children)
}

// renderIn is render with the record's slices lent by sc (nil: allocated), for a record that is encoded
// and dropped before sc is reset.
func (s *store) renderIn(sc *scratch, t *table, id int64, children bool) obj {
	s.renders.Add(1)
	r := &t.recs[id-1]
	ov := t.override(r)
	var o obj
	if ov != nil && ov.full {
		o = make(obj, 0, len(ov.set))
		for _, f := range ov.set {
			if !children && t.r.isChild(f.k) {
				continue
			}
			o = append(o, f)
		}
		o = o.set("created-at", tm(r.created)).set("updated-at", tm(r.updated))
		if t.r.statuses != nil {
			o = o.set("status", t.status(r))
		}
		if t.r.exported {
			var le any
			if r.lastExp != 0 {
				le = tm(r.lastExp)
			}
			o = o.set("exported", r.exported).set("last-exported-at", le)
		}
		if t.r.active {
			o = o.set("active", r.active)
		}
	} else {
		o = t.r.gen(s, sc, t, id, r, children)
		if ov != nil {
			for _, f := range ov.set {
				if !children && t.r.isChild(f.k) {
					continue
				}
				o = o.set(f.k, f.v)
			}
		}
	}
	if children && t.r.name == "users" {
		o = o.set("user-groups", s.userGroupStubs(id))
	}
	if children && t.r.name == "user_groups" {
		o = o.set("users", s.groupUserStubs(id))
	}
	return o
}

func (r *resource) isChild(k string) bool {
	for _, c := range r.children {
		if c == k {
			return true
		}
	}
	return false
}

func (s *store) userGroupStubs(user int64) []obj {
	out := []obj{}
	if user < 1 || user > int64(len(s.userMembers)) {
		return out
	}
	mt := s.tables["user_group_memberships"]
	for _, m := range s.userMembers[user-1] {
		if mt.recs[m-1].deleted {
			continue
		}
		if g, ok := s.groupStub(int64(s.memberGroup[m-1])).(obj); ok {
			out = append(out, g)
		}
	}
	return out
}

// groupUserStubs are a group's members, as the group's users[] shows them (fact sheet 6.9).
func (s *store) groupUserStubs(group int64) []obj {
	out := []obj{}
	if group < 1 || group > int64(len(s.groupMembers)) {
		return out
	}
	mt := s.tables["user_group_memberships"]
	for _, m := range s.groupMembers[group-1] {
		if mt.recs[m-1].deleted || int64(s.memberGroup[m-1]) != group {
			continue
		}
		if u, ok := s.userStub(int64(s.memberUser[m-1])).(obj); ok {
			out = append(out, u)
		}
	}
	return out
}

// touch records a change: updated-at moves to the instance clock and always forward, so that every
// change is visible to an updated-at cursor even within one second.
func (s *store) touch(r *rec) {
	r.updated = max(s.now().Unix(), r.updated+1)
}

// statusIndex finds or registers a status value (admin mutations may set any status).
func (t *table) statusIndex(v string) uint8 {
	for i, st := range t.r.statuses {
		if st == v {
			return uint8(i)
		}
	}
	t.r.statuses = append(t.r.statuses, v)
	t.statusVals = append(t.statusVals, v)
	return uint8(len(t.r.statuses) - 1)
}

// status is the record's status as a field value.
func (t *table) status(r *rec) any { return t.statusVals[r.status] }

// setField applies one dashed field to the state or override of record id.
func (s *store) setField(t *table, id int64, k string, v any) {
	r := &t.recs[id-1]
	switch {
	case k == "status" && t.r.statuses != nil:
		if str, ok := v.(string); ok {
			r.status = t.statusIndex(str)
		}
		return
	case k == "active" && t.r.active:
		if b, ok := v.(bool); ok {
			r.active = b
		}
		return
	case k == "exported" && t.r.exported:
		if b, ok := v.(bool); ok {
			r.exported = b
		}
		return
	case k == "id" || k == "created-at" || k == "updated-at":
		return
	}
	ov := t.override(r)
	if ov == nil {
		ov = s.newOverride(t, id, false)
	}
	ov.set = ov.set.set(k, v)
}

// create appends a record. body nil means a generated one (churn); ids continue after the last one.
func (s *store) create(t *table, body obj) int64 {
	now := s.now().Unix()
	id := int64(len(t.recs)) + 1
	r := rec{created: now, updated: now, active: true}
	if last := len(t.recs); last > 0 && t.recs[last-1].updated >= now {
		r.updated = t.recs[last-1].updated // keep updated-at monotonic in id order for new records
	}
	t.recs = append(t.recs, r)
	t.live++
	if body != nil {
		s.newOverride(t, id, true).set = obj{{"id", id}, {"created-at", tm(now)}, {"updated-at", tm(now)}}
		for _, f := range body {
			s.setField(t, id, f.k, f.v)
		}
	} else if t.r.statuses != nil {
		t.recs[id-1].status = 0
		if t.r.name == "invoices" || t.r.name == "requisitions" || t.r.name == "expense_reports" {
			t.recs[id-1].status = t.statusIndex("pending_approval")
		}
	}
	if t.r.name == "users" {
		s.userMembers = append(s.userMembers, nil)
	}
	if t.r.name == "user_group_memberships" && body == nil {
		u, g := s.membershipOf(id)
		s.addMember(id, u, g)
	}
	return id
}

func (s *store) addMember(id, user, group int64) {
	for int64(len(s.memberUser)) < id {
		s.memberUser = append(s.memberUser, 0)
		s.memberGroup = append(s.memberGroup, 0)
	}
	s.memberUser[id-1], s.memberGroup[id-1] = int32(user), int32(group)
	if user >= 1 && user <= int64(len(s.userMembers)) {
		s.userMembers[user-1] = append(s.userMembers[user-1], int32(id))
	}
	if group >= 1 {
		for int64(len(s.groupMembers)) < group {
			s.groupMembers = append(s.groupMembers, nil)
		}
		s.groupMembers[group-1] = append(s.groupMembers[group-1], int32(id))
	}
}

func (s *store) remove(t *table, id int64) {
	r := &t.recs[id-1]
	if !r.deleted {
		r.deleted = true
		t.live--
	}
}

func (t *table) override(r *rec) *override {
	if r.ov == 0 {
		return nil
	}
	return t.ovs[r.ov-1]
}

func (s *store) newOverride(t *table, id int64, full bool) *override {
	ov := &override{full: full}
	t.ovs = append(t.ovs, ov)
	t.recs[id-1].ov = int32(len(t.ovs))
	// The record's cached stub shows its generated fields; from now on its stub is built from the
	// record as it renders.
	if c := s.stubCache(t); id <= int64(len(c)) {
		c[id-1] = nil
	}
	return ov
}

// get returns the record with id when it exists and is live.
func (t *table) get(id int64) (*rec, bool) {
	if id < 1 || id > int64(len(t.recs)) || t.recs[id-1].deleted {
		return nil, false
	}
	return &t.recs[id-1], true
}

func sortedNames() []string {
	out := make([]string, 0, len(resources))
	for _, r := range resources {
		out = append(out, r.name)
	}
	sort.Strings(out)
	return out
}
