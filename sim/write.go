package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// kinds of writable fields.
const (
	kString = iota
	kBool
	kInt
	kDecimal
	kDatetime
	kRef    // one association, matched by id or natural key
	kRefs   // a collection of associations, replaced wholesale
	kLines  // embedded child records
	kCustom // custom-fields object
)

type field struct {
	kind   int
	res    string // kRef/kRefs: the referenced resource
	maxLen int
	enum   []string
}

type action struct {
	from []string // statuses the action applies to
	to   string
}

type writeSpec struct {
	create, update, deletable bool
	required                  []string
	unique                    []string
	fields                    map[string]field
	actions                   map[string]action
}

func str(n int) field                      { return field{kind: kString, maxLen: n} }
func ref(res string) field                 { return field{kind: kRef, res: res} }
func refs(res string) field                { return field{kind: kRefs, res: res} }
func enum(values ...string) field          { return field{kind: kString, enum: values} }
func act(to string, from ...string) action { return action{from: from, to: to} }

var (
	fBool   = field{kind: kBool}
	fDec    = field{kind: kDecimal}
	fTime   = field{kind: kDatetime}
	fLines  = field{kind: kLines}
	fCustom = field{kind: kCustom}
)

// naturalKeys are the attributes a reference may be matched by besides id, per resource.
var naturalKeys = map[string][]string{"currencies": {"code"}, "users": {"login", "email"},
	"suppliers": {"name", "number"}, "accounts": {"code", "name"}, "roles": {"name"}, "user_groups": {"name"},
	"business_groups": {"name"}, "commodities": {"name"}}

func init() {
	specs := map[string]writeSpec{
		"invoices": {create: true, update: true, required: []string{"invoice-number", "invoice-date", "supplier", "currency"},
			fields: map[string]field{"invoice-number": str(40), "invoice-date": fTime, "supplier": ref("suppliers"),
				"currency": ref("currencies"), "invoice-lines": fLines, "invoice-charges": fLines, "custom-fields": fCustom,
				"tax-amount": fDec, "payment-date": fTime, "original-invoice-number": str(40), "is-credit-note": fBool},
			actions: map[string]action{"void": act("voided", "approved"),
				"abandon": act("abandoned", "draft", "pending_approval", "ap_hold", "disputed", "booking_hold"),
				"dispute": act("disputed", "pending_approval", "ap_hold", "approved", "booking_hold"),
				"submit":  act("pending_approval", "draft")}},
		"purchase_orders": {update: true,
			fields: map[string]field{"ship-to-attention": str(255), "payment-method": enum("invoice", "pcard"),
				"custom-fields": fCustom},
			actions: map[string]action{"issue": act("issued", "draft", "buyer_hold"), "close": act("closed", "issued"),
				"cancel": act("cancelled", "draft", "buyer_hold", "issued"), "reopen": act("issued", "closed", "soft_closed")}},
		"requisitions": {create: true, update: true, required: []string{"requested-by"},
			fields: map[string]field{"justification": str(255), "need-by-date": fTime, "requested-by": ref("users"),
				"currency": ref("currencies"), "requisition-lines": fLines, "custom-fields": fCustom, "buyer-note": str(255)},
			actions: map[string]action{"submit": act("pending_approval", "draft")}},
		"suppliers": {create: true, update: true, deletable: true, required: []string{"name"}, unique: []string{"name"},
			fields: map[string]field{"name": str(100), "display-name": str(100), "number": str(40), "website": str(255),
				"po-method": enum("email", "cxml", "prompt", "xml", "buy_online"), "payment-method": str(40),
				"po-email": str(255), "invoice-matching-level": enum("2-way", "3-way", "3-way-direct", "none"),
				"on-hold": fBool, "status": enum("active", "inactive", "draft"), "custom-fields": fCustom}},
		"contracts": {create: true, update: true, required: []string{"name", "supplier"},
			fields: map[string]field{"name": str(255), "number": str(40), "start-date": fTime, "end-date": fTime,
				"maximum-value": fDec, "supplier": ref("suppliers"), "currency": ref("currencies"),
				"contract-owner": ref("users"), "custom-fields": fCustom}},
		"expense_reports": {create: true, update: true, required: []string{"title", "expensed-by"},
			fields: map[string]field{"title": str(255), "expensed-by": ref("users"), "currency": ref("currencies"),
				"expense-lines": fLines, "custom-fields": fCustom},
			actions: map[string]action{"submit": act("pending_approval", "draft")}},
		"users": {create: true, update: true, required: []string{"login", "email", "active"},
			unique: []string{"login", "email"},
			fields: map[string]field{"login": str(255), "email": str(255), "firstname": str(40), "lastname": str(40),
				"employee-number": str(255), "active": fBool, "api-user": fBool,
				"authentication-method": enum("coupa_credentials", "ldap", "saml"), "sso-identifier": str(255),
				"default-locale": str(10), "mention-name": str(255), "manager": ref("users"),
				"default-currency": ref("currencies"), "default-account": ref("accounts"), "roles": refs("roles"),
				"user-groups": refs("user_groups"), "content-groups": refs("business_groups"), "custom-fields": fCustom}},
		"approvals": {update: true, fields: map[string]field{"note": str(255)},
			actions: map[string]action{"approve": act("approved", "pending", "on_hold"),
				"reject": act("rejected", "pending", "on_hold"), "hold": act("on_hold", "pending")}},
		"user_groups": {create: true, update: true, required: []string{"name"}, unique: []string{"name"},
			fields: map[string]field{"name": str(255), "description": str(255), "active": fBool, "can-approve": fBool,
				"open": fBool, "mention-name": str(255)}},
		"user_group_memberships": {create: true, update: true, required: []string{"user", "user-group"},
			fields: map[string]field{"user": ref("users"), "user-group": ref("user_groups"), "owner": fBool,
				"participant": fBool}},
		"accounts": {create: true, update: true, required: []string{"name", "code"}, unique: []string{"code"},
			fields: map[string]field{"name": str(255), "code": str(255), "active": fBool, "segment-1": str(100),
				"segment-2": str(100), "segment-3": str(100)}},
	}
	for _, r := range resources {
		r.write = specs[r.name]
	}
	for _, r := range resources {
		if r.write.fields == nil {
			continue
		}
		for _, l := range licenses {
			if r.name == "users" {
				r.write.fields[l] = fBool
			}
		}
	}
}

// validation collects Coupa-shaped field errors.
type validation map[string][]string

func (v validation) add(field, msg string) { v[field] = append(v[field], msg) }

// readBody decodes a JSON or XML request body into dashed record fields.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, t *table) (obj, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxBody+1))
	if err != nil {
		return nil, bad("cannot read the request body: %v", err)
	}
	if int64(len(data)) > s.opts.MaxBody {
		return nil, bad("the request body is larger than %d bytes", s.opts.MaxBody)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return obj{}, nil
	}
	if data[0] == '<' || strings.Contains(r.Header.Get("Content-Type"), "xml") {
		o, err := decodeXML(data)
		if err != nil {
			return nil, bad("the XML body is malformed: %v", err)
		}
		return normalizeBody(o), nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, bad("the JSON body is malformed: %v", err)
	}
	if dec.More() {
		return nil, bad("the JSON body has trailing data after the object")
	}
	o, _ := fromJSON(m).(obj)
	return normalizeBody(o), nil
}

// normalizeBody dashes the top-level keys so that "user_groups" and "user-groups" mean the same.
func normalizeBody(o obj) obj {
	for i := range o {
		o[i].k = dash(norm(o[i].k))
	}
	return o
}

// coerce checks one value against its field and converts it to the stored form.
func (s *Server) coerce(t *table, name string, f field, v any, errs validation) (any, bool) {
	if v == nil && f.kind != kRefs && f.kind != kLines {
		return nil, true
	}
	switch f.kind {
	case kString:
		var str string
		switch x := v.(type) {
		case string:
			str = x
		case int64:
			str = strconv.FormatInt(x, 10)
		case dec:
			str = string(x)
		default:
			errs.add(name, "must be text")
			return nil, false
		}
		if f.maxLen > 0 && len([]rune(str)) > f.maxLen {
			errs.add(name, fmt.Sprintf("is too long (maximum is %d characters)", f.maxLen))
			return nil, false
		}
		if f.enum != nil {
			ok := false
			for _, e := range f.enum {
				ok = ok || e == str
			}
			if !ok {
				errs.add(name, "is not included in the list: "+strings.Join(f.enum, ", "))
				return nil, false
			}
		}
		return str, true
	case kBool:
		switch x := v.(type) {
		case bool:
			return x, true
		case string:
			if b, err := parseBool(x); err == nil {
				return b, true
			}
		}
		errs.add(name, "must be true or false")
	case kInt:
		switch x := v.(type) {
		case int64:
			return x, true
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n, true
			}
		}
		errs.add(name, "must be an integer")
	case kDecimal:
		var str string
		switch x := v.(type) {
		case dec:
			str = string(x)
		case int64:
			str = strconv.FormatInt(x, 10)
		case string:
			str = x
		}
		if _, ok := parseRat(str); ok && !strings.ContainsAny(str, "/eE") {
			return dec(str), true
		}
		errs.add(name, "is not a number")
	case kDatetime:
		if x, ok := v.(string); ok {
			if ts, err := parseTime(x, s.opts.Location); err == nil {
				return tm(ts), true
			}
		}
		errs.add(name, "is not a valid datetime")
	case kRef:
		id, ok := s.resolve(f.res, v)
		if !ok {
			errs.add(name, refError(f.res, name, v))
			return nil, false
		}
		return s.st.stub(f.res, id), true
	case kRefs:
		var list []any
		switch x := v.(type) {
		case nil:
		case []any:
			list = x
		case obj: // XML <roles type="array"> with one element decodes as a list; a bare object is one item
			list = []any{x}
		default:
			errs.add(name, "must be an array of objects such as [{\"id\": 2}]")
			return nil, false
		}
		out := make([]obj, 0, len(list))
		seen := map[int64]bool{}
		for _, item := range list {
			id, ok := s.resolve(f.res, item)
			if !ok {
				errs.add(name, refError(f.res, name, item))
				return nil, false
			}
			if !seen[id] {
				seen[id] = true
				st, _ := s.st.stub(f.res, id).(obj)
				out = append(out, st)
			}
		}
		return out, true
	case kLines:
		var list []any
		switch x := v.(type) {
		case nil:
		case []any:
			list = x
		default:
			errs.add(name, "must be an array of line objects")
			return nil, false
		}
		out := make([]obj, 0, len(list))
		for i, item := range list {
			o, ok := item.(obj)
			if !ok {
				errs.add(name, "must be an array of line objects")
				return nil, false
			}
			s.st.lineSeq++
			line := obj{{"id", s.st.lineSeq}, {"line-num", int64(i + 1)}}
			for _, f := range normalizeBody(o) {
				if f.k == "id" || f.k == "line-num" {
					continue
				}
				line = line.set(f.k, f.v)
			}
			out = append(out, line)
		}
		return out, true
	case kCustom:
		if o, ok := v.(obj); ok {
			return o, true
		}
		errs.add(name, "must be an object of custom field values")
	}
	return nil, false
}

func refError(res, name string, v any) string {
	keys, _ := json.Marshal(append([]string{"id"}, naturalKeys[res]...))
	given, _ := json.Marshal(jsonable(v))
	return fmt.Sprintf("Unable to find valid %s record for %s with keys %s. Possible keys are %s.",
		strings.TrimSuffix(resourceByName(res).xmlName, "-header"), name, given, keys)
}

func jsonable(v any) any {
	switch x := v.(type) {
	case obj:
		m := map[string]any{}
		for _, f := range x {
			m[f.k] = jsonable(f.v)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = jsonable(x[i])
		}
		return out
	case dec:
		return string(x)
	case tm:
		return int64(x)
	}
	return v
}

// resolve finds a referenced record by {"id": N}, a bare id, or a natural key such as {"code": "USD"}.
func (s *Server) resolve(res string, v any) (int64, bool) {
	t := s.st.tables[res]
	if t == nil {
		return 0, false
	}
	switch x := v.(type) {
	case int64:
		_, ok := t.get(x)
		return x, ok
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			_, ok := t.get(n)
			return n, ok
		}
		return 0, false
	case obj:
		o := normalizeBody(append(obj(nil), x...))
		if idv, ok := o.get("id"); ok && idv != nil {
			return s.resolve(res, idv)
		}
		for _, k := range naturalKeys[res] {
			want, ok := o.get(k)
			if !ok {
				continue
			}
			ws, _ := want.(string)
			for id := int64(1); id <= int64(len(t.recs)); id++ {
				if t.recs[id-1].deleted {
					continue
				}
				if got, _ := s.st.render(t, id, false).get(k); got == ws {
					return id, true
				}
			}
			return 0, false
		}
	}
	return 0, false
}

// stub renders the association stub a record embeds for a referenced record.
func (st *store) stub(res string, id int64) any {
	switch res {
	case "suppliers":
		return st.supplierStub(id)
	case "users":
		return st.userStub(id)
	case "accounts":
		return st.accountStub(id)
	case "currencies":
		return st.currencyStub(id)
	case "roles":
		return st.roleStub(id)
	case "user_groups":
		return st.groupStub(id)
	case "business_groups":
		return st.bgStub(id)
	case "commodities":
		return st.commodityStub(id)
	}
	return obj{{"id", id}}
}

// applyBody validates a create or update body and returns the fields to store.
func (s *Server) applyBody(t *table, id int64, body obj, creating bool) (obj, validation) {
	errs := validation{}
	spec := t.r.write
	var known obj
	if len(t.recs) > 0 {
		known = s.st.render(t, 1, true)
	}
	out := obj{}
	for _, f := range body {
		fs, ok := spec.fields[f.k]
		if !ok {
			if _, present := known.get(f.k); present || f.k == "id" {
				continue // read-only attributes are ignored, as Coupa does
			}
			errs.add(f.k, "is not an attribute of "+t.r.xmlName+" that the API can set")
			continue
		}
		if v, ok := s.coerce(t, f.k, fs, f.v, errs); ok {
			out = append(out, kv{f.k, v})
		}
	}
	if creating {
		for _, req := range spec.required {
			v, ok := out.get(req)
			if !ok || v == nil || v == "" {
				if len(errs[req]) == 0 {
					errs.add(req, "can't be blank")
				}
			}
		}
	}
	for _, u := range spec.unique {
		v, ok := out.get(u)
		if !ok || v == nil {
			continue
		}
		for other := int64(1); other <= int64(len(t.recs)); other++ {
			if other == id || t.recs[other-1].deleted {
				continue
			}
			if got, _ := s.st.render(t, other, false).get(u); got == v {
				errs.add(u, "has already been taken")
				break
			}
		}
	}
	if t.r.name == "user_group_memberships" && len(errs) == 0 {
		u, _ := out.get("user")
		g, _ := out.get("user-group")
		uo, _ := u.(obj)
		gobj, _ := g.(obj)
		if uo != nil && gobj != nil {
			uid, _ := uo.get("id")
			gid, _ := gobj.get("id")
			if s.st.isMember(uid.(int64), gid.(int64), id) {
				errs.add("user", "is already a member of this group")
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func (st *store) isMember(user, group, except int64) bool {
	if user < 1 || user > int64(len(st.userMembers)) {
		return false
	}
	mt := st.tables["user_group_memberships"]
	for _, m := range st.userMembers[user-1] {
		if int64(m) != except && !mt.recs[m-1].deleted && int64(st.memberGroup[m-1]) == group {
			return true
		}
	}
	return false
}

// store applies validated fields to a record, with the side effects some fields carry.
func (s *Server) saveFields(t *table, id int64, fields obj) {
	for _, f := range fields {
		switch {
		case t.r.name == "users" && f.k == "user-groups":
			s.replaceGroups(id, f.v.([]obj))
			continue
		case t.r.name == "user_group_memberships" && (f.k == "user" || f.k == "user-group"):
			o := f.v.(obj)
			oid, _ := o.get("id")
			key := "user-id"
			if f.k == "user-group" {
				key = "user-group-id"
			}
			s.st.setField(t, id, key, oid)
		}
		s.st.setField(t, id, f.k, f.v)
	}
	if t.r.name == "user_group_memberships" {
		o := s.st.render(t, id, false)
		u, _ := o.get("user-id")
		g, _ := o.get("user-group-id")
		ui, _ := u.(int64)
		gi, _ := g.(int64)
		if int64(len(s.st.memberUser)) < id || int64(s.st.memberUser[id-1]) != ui || int64(s.st.memberGroup[id-1]) != gi {
			s.st.moveMember(id, ui, gi)
		}
	}
}

func (st *store) moveMember(id, user, group int64) {
	if id <= int64(len(st.memberUser)) {
		dropMember(st.userMembers, int64(st.memberUser[id-1]), id)
		dropMember(st.groupMembers, int64(st.memberGroup[id-1]), id)
	}
	st.addMember(id, user, group)
}

// dropMember removes membership id from index[owner-1], a user's or a group's membership list.
func dropMember(index [][]int32, owner, id int64) {
	if owner < 1 || owner > int64(len(index)) {
		return
	}
	l := index[owner-1]
	for i, m := range l {
		if int64(m) == id {
			index[owner-1] = append(l[:i:i], l[i+1:]...)
			return
		}
	}
}

// replaceGroups makes a user's memberships exactly groups: PUT on a user replaces the set.
func (s *Server) replaceGroups(user int64, groups []obj) {
	want := map[int64]bool{}
	for _, g := range groups {
		id, _ := g.get("id")
		want[id.(int64)] = true
	}
	mt := s.st.tables["user_group_memberships"]
	have := map[int64]bool{}
	for _, m := range append([]int32(nil), s.st.userMembers[user-1]...) {
		if mt.recs[m-1].deleted {
			continue
		}
		g := int64(s.st.memberGroup[m-1])
		if !want[g] || have[g] {
			s.st.remove(mt, int64(m))
			continue
		}
		have[g] = true
	}
	for _, g := range groups {
		gid, _ := g.get("id")
		if have[gid.(int64)] {
			continue
		}
		id := s.st.create(mt, obj{{"owner", false}, {"participant", true}, {"user", s.st.userStub(user)},
			{"user-group", g}, {"user-id", user}, {"user-group-id", gid}, {"user-group-type", "group"}})
		s.st.addMember(id, user, gid.(int64))
	}
}

func (s *Server) writeResult(r *http.Request, f format, t *table, id int64, status int) response {
	q, err := s.queryOf(r)
	if err != nil {
		q = &query{limit: 50}
	}
	if q.returnOb == "none" {
		return response{status: status}
	}
	resp := s.render(f, t, q.shape(s.renderFor(nil, t, id, q)))
	resp.status = status
	return resp
}

func (s *Server) validationResponse(f format, errs validation) response {
	return s.errorResponse(f, s.opts.ValidationStatus, errs)
}

func (s *Server) handleCreate(r *http.Request, f format, t *table, _ principal) response {
	if !t.r.write.create {
		return s.fail(f, http.StatusMethodNotAllowed, "Creating "+t.r.name+" is not supported by the API")
	}
	if _, err := s.queryOf(r); err != nil {
		return s.fail(f, 400, err.Error())
	}
	body, err := s.readBody(nil, r, t)
	if err != nil {
		return s.fail(f, 400, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fields, errs := s.applyBody(t, 0, body, true)
	if errs != nil {
		return s.validationResponse(f, errs)
	}
	base := s.template(t)
	if t.r.name == "user_group_memberships" {
		base = base.set("participant", true).set("user-group-type", "group")
	}
	id := s.st.create(t, base)
	if t.r.statuses != nil {
		t.recs[id-1].status = t.statusIndex(initialStatus(t.r.name))
	}
	s.saveFields(t, id, fields)
	return s.writeResult(r, f, t, id, http.StatusCreated)
}

func initialStatus(res string) string {
	switch res {
	case "suppliers":
		return "active"
	case "approvals":
		return "pending"
	}
	return "draft"
}

func (s *Server) handleUpdate(r *http.Request, f format, t *table, id int64, _ principal) response {
	q, err := s.queryOf(r)
	if err != nil {
		return s.fail(f, 400, err.Error())
	}
	markExp := ""
	for _, fl := range q.filters {
		if fl.path[0] == "exported" && len(fl.path) == 1 && fl.op == "" && t.r.exported {
			markExp = fl.raw
		}
	}
	if markExp == "" && !t.r.write.update {
		return s.fail(f, http.StatusMethodNotAllowed, "Updating "+t.r.name+" is not supported by the API")
	}
	body, err := s.readBody(nil, r, t)
	if err != nil {
		return s.fail(f, 400, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rc, ok := t.get(id)
	if !ok {
		return s.notFound(f, t, id)
	}
	if markExp != "" {
		// Mark exported: "any other changes included may be ignored during the update".
		b, err := parseBool(markExp)
		if err != nil {
			return s.fail(f, 400, "exported must be true or false")
		}
		rc.exported = b
		if b {
			rc.lastExp = s.opts.Now().Unix()
		}
		if !s.opts.ExportKeepsUpdatedAt {
			s.st.touch(rc)
		}
		return s.writeResult(r, f, t, id, 200)
	}
	fields, errs := s.applyBody(t, id, body, false)
	if errs != nil {
		return s.validationResponse(f, errs)
	}
	s.saveFields(t, id, fields)
	if t.r.name == "purchase_orders" && len(fields) > 0 {
		// A change that makes a new PO version resends it and resets exported.
		v, _ := s.st.render(t, id, false).get("version")
		n, _ := v.(int64)
		s.st.setField(t, id, "version", n+1)
		rc.exported = false
	}
	s.st.touch(rc)
	return s.writeResult(r, f, t, id, 200)
}

func (s *Server) handleAction(r *http.Request, f format, t *table, id int64, name string, _ principal) response {
	a, ok := t.r.write.actions[name]
	if !ok {
		return s.fail(f, 404, fmt.Sprintf("No route matches PUT /api/%s/%d/%s", t.r.name, id, name))
	}
	if _, err := s.readBody(nil, r, t); err != nil {
		return s.fail(f, 400, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rc, ok := t.get(id)
	if !ok {
		return s.notFound(f, t, id)
	}
	cur := t.r.statuses[rc.status]
	allowed := false
	for _, st := range a.from {
		allowed = allowed || st == cur
	}
	if !allowed {
		return s.validationResponse(f, validation{"status": {fmt.Sprintf("cannot %s a %s in status %s", name,
			strings.TrimSuffix(t.r.xmlName, "-header"), cur)}})
	}
	rc.status = t.statusIndex(a.to)
	s.st.touch(rc)
	return s.writeResult(r, f, t, id, 200)
}

func (s *Server) handleDelete(_ *http.Request, f format, t *table, id int64) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := t.get(id); !ok {
		return s.notFound(f, t, id)
	}
	s.st.remove(t, id)
	return response{status: 200, ctype: "application/json; charset=utf-8", body: []byte("{}")}
}

// template is the shape of a record created through the API: every attribute a generated record has,
// empty, so that created and generated records carry the same keys.
func (s *Server) template(t *table) obj {
	if t.base == 0 {
		return obj{}
	}
	o := t.r.gen(s.st, nil, t, 1, &rec{}, true)
	out := make(obj, 0, len(o))
	for _, f := range o {
		var v any
		switch f.v.(type) {
		case bool:
			v = false
		case []obj:
			v = []obj{}
		}
		if f.k == "custom-fields" {
			v = obj{}
		}
		switch f.k {
		case "id", "created-at", "updated-at", "user-groups":
			continue
		case "created-by", "updated-by":
			v = s.st.userStub(1) // the API user the integration acts as
		}
		out = append(out, kv{f.k, v})
	}
	return out
}
