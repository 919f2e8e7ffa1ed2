package sim

// Embedded associations are stubs (a few identifying attributes); a projection that asks an association
// for more, e.g. fields=["id",{"roles":["id","name","description"]}], gets them from the associated
// record, as Coupa's full embedded objects carry them (fact sheet §2 and §6.8).

// assocResource names the resource whose records an embedded association shows, by its dashed key.
var assocResource = map[string]string{
	"roles": "roles", "user-groups": "user_groups", "content-groups": "business_groups", "users": "users",
	"manager": "users", "created-by": "users", "updated-by": "users", "user": "users", "requested-by": "users",
	"approver": "users", "contract-owner": "users", "expensed-by": "users", "user-group": "user_groups",
	"supplier": "suppliers", "currency": "currencies", "default-currency": "currencies",
	"default-account": "accounts", "account": "accounts", "commodity": "commodities",
}

// expand returns o with every embedded association that p asks attributes of which its stub lacks
// replaced by the associated records in full; o itself is never changed.
func (s *store) expand(o obj, p *projection) obj {
	l := p.layoutOf(o)
	out := o
	for pos, i := range l.from {
		sub := p.sub[pos]
		if i < 0 || sub == nil {
			continue
		}
		t := s.tables[assocResource[o[i].k]]
		if t == nil {
			continue
		}
		v, changed := s.expandValue(t, o[i].v, sub)
		if !changed {
			continue
		}
		if &out[0] == &o[0] {
			out = append(obj(nil), o...)
		}
		out[i].v = v
	}
	return out
}

// expandValue expands one association value (a stub or a list of stubs) of table t under sub.
func (s *store) expandValue(t *table, v any, sub *projection) (any, bool) {
	switch x := v.(type) {
	case obj:
		if full, ok := s.fullRecord(t, x, sub); ok {
			return full, true
		}
	case []obj:
		var list []obj
		for j, e := range x {
			full, ok := s.fullRecord(t, e, sub)
			if !ok {
				continue
			}
			if list == nil {
				list = append([]obj(nil), x...)
			}
			list[j] = full
		}
		if list != nil {
			return list, true
		}
	}
	return v, false
}

// fullRecord renders the record stub names when sub asks for an attribute stub lacks.
func (s *store) fullRecord(t *table, stub obj, sub *projection) (obj, bool) {
	if len(stub) == 0 || sub.layoutOf(stub).found == len(sub.sub) {
		return nil, false
	}
	v, _ := stub.get("id")
	id, ok := v.(int64)
	if !ok || id < 1 || id > int64(len(t.recs)) {
		return nil, false
	}
	return s.expand(s.render(t, id, true), sub), true
}

// unknownField names the first attribute p asks of table t that t's records do not have, looking into
// associations whose resource is known; "" when there is none.
func (s *store) unknownField(t *table, p *projection) string {
	if len(t.recs) == 0 {
		return ""
	}
	o := s.render(t, 1, true)
	for pos, name := range p.names {
		i, ok := o.lookup(name)
		if !ok {
			return name
		}
		at := s.tables[assocResource[o[i].k]]
		if sub := p.sub[pos]; sub != nil && at != nil {
			if n := s.unknownField(at, sub); n != "" {
				return name + "." + n
			}
		}
	}
	return ""
}
