package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// badRequest is a client mistake answered with 400 and a Coupa-shaped errors body.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func bad(format string, args ...any) error { return &badRequest{fmt.Sprintf(format, args...)} }

// unknownAttribute is a filter naming an attribute the records do not have. Whether Coupa refuses it or
// ignores it is uncertain, so the list decides (query.refuseUnknown).
type unknownAttribute struct{ badRequest }

func isUnknownAttribute(err error) bool {
	var u *unknownAttribute
	return errors.As(err, &u)
}

var operators = map[string]bool{"contains": true, "starts_with": true, "ends_with": true, "gt": true, "lt": true,
	"gt_or_eq": true, "lt_or_eq": true, "not_eq": true, "in": true, "not_in": true, "blank": true}

// reserved query parameters are options of the request, not filters.
var reserved = map[string]bool{"limit": true, "offset": true, "order_by": true, "dir": true, "fields": true,
	"return_object": true, "filter": true, "format": true}

type filter struct {
	key  string   // as sent, for error messages
	path []string // normalised attribute path
	op   string   // "" = exact match
	raw  string

	// Parsed forms of the values, computed once per request: a filter is evaluated on every record a
	// list scans, and parsing a datetime per record made selective filters on large tables slow.
	list                       []string
	ints, times                []int64
	rats                       []*big.Rat
	bools                      []bool
	intErr, timeErr, ratErr    error
	boolErr                    error
	intDone, timeDone, ratDone bool
	boolDone                   bool
}

func (f *filter) intVals() ([]int64, error) {
	if !f.intDone {
		f.intDone = true
		for _, v := range f.values() {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				f.intErr = bad("expected an integer for %q, got %q", f.key, v)
				break
			}
			f.ints = append(f.ints, n)
		}
	}
	return f.ints, f.intErr
}

func (f *filter) timeVals(loc *time.Location) ([]int64, error) {
	if !f.timeDone {
		f.timeDone = true
		for _, v := range f.values() {
			n, err := parseTime(v, loc)
			if err != nil {
				f.timeErr = err
				break
			}
			f.times = append(f.times, n)
		}
	}
	return f.times, f.timeErr
}

func (f *filter) ratVals() ([]*big.Rat, error) {
	if !f.ratDone {
		f.ratDone = true
		for _, v := range f.values() {
			r, ok := parseRat(v)
			if !ok || strings.ContainsAny(v, "/eE") {
				f.ratErr = bad("expected a decimal for %q, got %q", f.key, v)
				break
			}
			f.rats = append(f.rats, r)
		}
	}
	return f.rats, f.ratErr
}

func (f *filter) boolVals() ([]bool, error) {
	if !f.boolDone {
		f.boolDone = true
		for _, v := range f.values() {
			b, err := parseBool(v)
			if err != nil {
				f.boolErr = err
				break
			}
			f.bools = append(f.bools, b)
		}
	}
	return f.bools, f.boolErr
}

type query struct {
	filters  []*filter
	limit    int
	offset   int
	orderBy  string
	desc     bool
	fields   []any // nil = every field
	proj     *projection
	returnOb string
	// refuseUnknown answers a filter on an unknown attribute with 400; otherwise the filter is ignored.
	refuseUnknown bool
}

// parseKey splits "supplier[name][contains]" into its path and operator.
func parseKey(key string) ([]string, string, error) {
	name, rest, _ := strings.Cut(key, "[")
	if name == "" {
		return nil, "", bad("malformed query parameter %q", key)
	}
	path := []string{norm(fromCamel(name))}
	if rest != "" {
		rest = "[" + rest
		for rest != "" {
			if rest[0] != '[' {
				return nil, "", bad("malformed query parameter %q", key)
			}
			end := strings.IndexByte(rest, ']')
			if end < 2 {
				return nil, "", bad("malformed query parameter %q", key)
			}
			path = append(path, norm(fromCamel(rest[1:end])))
			rest = rest[end+1:]
		}
	}
	op := ""
	if n := len(path); n > 1 && operators[path[n-1]] {
		op, path = path[n-1], path[:n-1]
	}
	return path, op, nil
}

func parseQuery(raw string, maxLimit int, rejectOver bool) (*query, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, bad("malformed query string: %v", err)
	}
	q := &query{limit: maxLimit}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := vals[k][len(vals[k])-1]
		switch nk := norm(k); {
		case nk == "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, bad("limit must be a positive integer, got %q", v)
			}
			if n > maxLimit && rejectOver {
				return nil, bad("limit must be at most %d", maxLimit)
			}
			q.limit = min(n, maxLimit)
		case nk == "offset":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, bad("offset must be a non-negative integer, got %q", v)
			}
			q.offset = n
		case nk == "order_by":
			q.orderBy = norm(fromCamel(v))
		case nk == "dir":
			switch strings.ToLower(v) {
			case "asc", "":
			case "desc":
				q.desc = true
			default:
				return nil, bad("dir must be asc or desc, got %q", v)
			}
		case nk == "fields":
			if c, ok := compiledFields.Load(v); ok {
				q.fields, q.proj = c.(*compiledSpec).fields, c.(*compiledSpec).proj
				continue
			}
			if err := json.Unmarshal([]byte(v), &q.fields); err != nil || q.fields == nil {
				return nil, bad("fields must be a JSON array such as [\"id\",{\"supplier\":[\"name\"]}]")
			}
			if err := checkFields(q.fields); err != nil {
				return nil, err
			}
			q.proj = compileFields(q.fields)
			if compiledCount.Add(1) <= maxCompiledFields {
				compiledFields.Store(v, &compiledSpec{q.fields, q.proj})
			}
		case nk == "return_object":
			switch v {
			case "none", "limited", "shallow":
				q.returnOb = v
			default:
				return nil, bad("return_object must be none, limited or shallow, got %q", v)
			}
		case reserved[nk]:
		default:
			path, op, err := parseKey(k)
			if err != nil {
				return nil, err
			}
			for _, v := range vals[k] {
				q.filters = append(q.filters, &filter{key: k, path: path, op: op, raw: v})
			}
		}
	}
	return q, nil
}

func checkFields(spec []any) error {
	for _, f := range spec {
		switch x := f.(type) {
		case string:
		case map[string]any:
			for _, sub := range x {
				arr, ok := sub.([]any)
				if !ok {
					return bad("fields: an association must map to an array of fields")
				}
				if err := checkFields(arr); err != nil {
					return err
				}
			}
		default:
			return bad("fields: entries must be strings or objects")
		}
	}
	return nil
}

// stateValue answers a single-attribute filter from the record's state, without rendering it.
func stateValue(t *table, id int64, r *rec, attr string) (any, bool) {
	switch attr {
	case "id":
		return id, true
	case "created_at":
		return tm(r.created), true
	case "updated_at":
		return tm(r.updated), true
	case "status":
		if t.r.statuses != nil {
			return t.status(r), true
		}
	case "exported":
		if t.r.exported {
			return r.exported, true
		}
	case "last_exported_at":
		if t.r.exported {
			if r.lastExp == 0 {
				return nil, true
			}
			return tm(r.lastExp), true
		}
	case "active":
		if t.r.active {
			return r.active, true
		}
	}
	return nil, false
}

// matchState decides a filter that stateValue answers. Ids and datetimes compared by an ordering
// operator, which is what keyset and incremental syncs send, are compared as integers: boxing them for
// match allocated for every record a list scanned. Anything else goes through match.
func (f *filter) matchState(t *table, id int64, r *rec, loc *time.Location) (bool, error) {
	n, isTime, typed := id, false, true
	switch f.path[0] {
	case "id":
	case "created_at":
		n, isTime = r.created, true
	case "updated_at":
		n, isTime = r.updated, true
	default:
		typed = false
	}
	if _, known := ordered(f.op, 0); !known {
		typed = false
	}
	if !typed {
		v, _ := stateValue(t, id, r, f.path[0])
		return f.match(v, loc)
	}
	var vs []int64
	var err error
	if isTime {
		vs, err = f.timeVals(loc)
	} else {
		vs, err = f.intVals()
	}
	if err != nil {
		return false, err
	}
	holds, _ := ordered(f.op, cmpInt(n, vs[0])) // known: checked above
	return holds, nil
}

// leaves collects the values a path reaches; collections match when any element does.
func leaves(v any, path []string, out []any) ([]any, error) {
	if len(path) == 0 {
		if o, ok := v.(obj); ok {
			id, _ := o.get("id")
			return append(out, id), nil
		}
		if l, ok := v.([]obj); ok {
			if len(l) == 0 {
				return append(out, nil), nil
			}
			for _, o := range l {
				id, _ := o.get("id")
				out = append(out, id)
			}
			return out, nil
		}
		return append(out, v), nil
	}
	switch x := v.(type) {
	case obj:
		if i, ok := x.lookup(path[0]); ok {
			return leaves(x[i].v, path[1:], out)
		}
		if base, ok := strings.CutSuffix(path[0], "_id"); ok {
			if i, ok := x.lookup(base); ok {
				return leaves(x[i].v, append([]string{"id"}, path[1:]...), out)
			}
		}
		return out, &unknownAttribute{badRequest{fmt.Sprintf("unknown attribute %q", path[0])}}
	case []obj:
		if len(x) == 0 {
			return append(out, nil), nil
		}
		var err error
		for _, o := range x {
			if out, err = leaves(o, path, out); err != nil {
				return out, err
			}
		}
		return out, nil
	case nil:
		return append(out, nil), nil
	}
	return out, bad("unknown operator %q", path[0])
}

func (f *filter) values() []string {
	if f.list == nil {
		if f.op == "in" || f.op == "not_in" {
			f.list = strings.Split(f.raw, ",")
		} else {
			f.list = []string{f.raw}
		}
	}
	return f.list
}

// parseTime reads the datetime forms Coupa accepts in filters; a '+' decoded to a space is repaired.
func parseTime(s string, loc *time.Location) (int64, error) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, ' '); i > 10 {
		s = s[:i] + "+" + s[i+1:]
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix(), nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.Unix(), nil
		}
	}
	return 0, bad("cannot read %q as a datetime; use 2024-04-01 or 2024-04-01T02:16:48-07:00", s)
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "t", "yes":
		return true, nil
	case "false", "0", "f", "no":
		return false, nil
	}
	return false, bad("expected true or false, got %q", s)
}

// match decides one filter for one leaf value.
func (f *filter) match(v any, loc *time.Location) (bool, error) {
	if f.op == "blank" {
		want, err := parseBool(f.raw)
		if err != nil {
			return false, err
		}
		isBlank := v == nil
		if s, ok := v.(string); ok {
			isBlank = s == ""
		}
		return isBlank == want, nil
	}
	neg := f.op == "not_eq" || f.op == "not_in"
	switch f.op {
	case "contains", "starts_with", "ends_with":
		if _, ok := v.(tm); ok {
			return false, bad("operator %s does not apply to datetime attribute %q", f.op, f.key)
		}
	}
	if v == nil {
		return neg, nil
	}
	vals := f.values()
	cmp := func(i int) (int, error) { // compares v with vals[i]
		switch x := v.(type) {
		case string:
			return strings.Compare(x, vals[i]), nil
		case int64:
			ns, err := f.intVals()
			if err != nil {
				return 0, err
			}
			return cmpInt(x, ns[i]), nil
		case dec:
			rs, err := f.ratVals()
			if err != nil {
				return 0, err
			}
			b := rs[i]
			a, ok1 := parseRat(string(x))
			if !ok1 {
				return -1, nil
			}
			return a.Cmp(b), nil
		case tm:
			ts, err := f.timeVals(loc)
			if err != nil {
				return 0, err
			}
			return cmpInt(int64(x), ts[i]), nil
		case bool:
			bs, err := f.boolVals()
			if err != nil {
				return 0, err
			}
			return cmpInt(boolInt(x), boolInt(bs[i])), nil
		}
		return strings.Compare(fmt.Sprint(v), vals[i]), nil
	}
	switch f.op {
	case "contains", "starts_with", "ends_with":
		s := strings.ToLower(fmt.Sprint(plainValue(v)))
		w := strings.ToLower(f.raw)
		switch f.op {
		case "contains":
			return strings.Contains(s, w), nil
		case "starts_with":
			return strings.HasPrefix(s, w), nil
		}
		return strings.HasSuffix(s, w), nil
	case "in", "not_in":
		for i := range vals {
			c, err := cmp(i)
			if err != nil {
				return false, err
			}
			if c == 0 {
				return !neg, nil
			}
		}
		return neg, nil
	}
	c, err := cmp(0)
	if err != nil {
		return false, err
	}
	holds, known := ordered(f.op, c)
	if !known {
		return false, bad("unknown operator %q", f.op)
	}
	return holds, nil
}

// ordered says whether c, the sign of comparing a value with the filter's, satisfies the comparison
// operator op; known is false for an operator that is not one.
func ordered(op string, c int) (holds, known bool) {
	switch op {
	case "":
		return c == 0, true
	case "not_eq":
		return c != 0, true
	case "gt":
		return c > 0, true
	case "lt":
		return c < 0, true
	case "gt_or_eq":
		return c >= 0, true
	case "lt_or_eq":
		return c <= 0, true
	}
	return false, false
}

func plainValue(v any) any {
	switch x := v.(type) {
	case dec:
		return string(x)
	}
	return v
}

// matches evaluates a filter against a rendered record: true when any reached value matches, except for
// negative operators, which must hold for every value.
func (f *filter) matches(o obj, loc *time.Location) (bool, error) {
	ls, err := leaves(o, f.path, nil)
	if err != nil {
		return false, err
	}
	neg := f.op == "not_eq" || f.op == "not_in"
	for _, l := range ls {
		ok, err := f.match(l, loc)
		if err != nil {
			return false, err
		}
		if ok != neg {
			return !neg, nil
		}
	}
	return neg, nil
}

// projection is a compiled `fields` parameter. Compiling it once per request, instead of matching every
// asked name against every attribute of every record, took the projection from half of a list request's
// cost to a small share of it.
type projection struct {
	names []string       // per output position: the attribute's normalised name
	at    map[string]int // attribute name, in its normalised and its dashed spelling -> output position
	sub   []*projection  // per output position: an association's own fields, nil for an attribute
	// last is the layout of the last record applied: records of a table list their attributes in the
	// same order, so the next one is matched by comparing keys instead of hashing them.
	last atomic.Pointer[layout]
}

// layout maps a record's attribute order to the projection's output.
type layout struct {
	keys  []string // the record's attribute names, in order
	from  []int    // per output position: the index of the record's attribute, -1 when it lacks it
	found int
	// names are the JSON-encoded attribute names per output position, followed by ':'. An attribute is
	// named the same in every record the layout fits, so it is encoded once, not per record.
	names [][]byte
}

// fits says whether o lists the same attributes in the same order. Generated records name their
// attributes with the same string constants, so comparing where the names are stored settles almost
// every key without comparing bytes (this check runs for every record and embedded object of a page).
func (l *layout) fits(o obj) bool {
	if len(l.keys) != len(o) {
		return false
	}
	for i := range o {
		a, b := o[i].k, l.keys[i]
		if len(a) != len(b) || (unsafe.StringData(a) != unsafe.StringData(b) && a != b) {
			return false
		}
	}
	return true
}

func (p *projection) layoutOf(o obj) *layout {
	if l := p.last.Load(); l != nil && l.fits(o) {
		return l
	}
	l := &layout{keys: make([]string, len(o)), from: make([]int, len(p.sub)), names: make([][]byte, len(p.sub))}
	for i := range l.from {
		l.from[i] = -1
	}
	for i := range o {
		l.keys[i] = o[i].k
		pos, ok := p.at[o[i].k]
		if !ok && hasUpper(o[i].k) {
			pos, ok = p.at[norm(o[i].k)]
		}
		if ok && l.from[pos] < 0 {
			l.from[pos] = i
			l.names[pos] = append(jsonString(nil, o[i].k), ':')
			l.found++
		}
	}
	p.last.Store(l)
	return l
}

func compileFields(spec []any) *projection {
	p := &projection{at: map[string]int{}}
	add := func(name string, sub *projection) {
		n := norm(fromCamel(name)) // GraphQL's camelCase names mean the same attributes
		if _, dup := p.at[n]; dup {
			return // asked twice: Coupa renders an attribute once
		}
		p.at[n] = len(p.sub)
		p.at[strings.ReplaceAll(n, "_", "-")] = len(p.sub)
		p.sub = append(p.sub, sub)
		p.names = append(p.names, n)
	}
	for _, f := range spec {
		switch x := f.(type) {
		case string:
			add(x, nil)
		case map[string]any:
			names := make([]string, 0, len(x))
			for k := range x {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				subSpec, _ := x[k].([]any)
				add(k, compileFields(subSpec))
			}
		}
	}
	return p
}

// apply keeps the fields p asks for, in the order they were asked, recursively.
func (p *projection) apply(o obj) obj {
	l := p.layoutOf(o)
	out := make(obj, 0, l.found)
	for pos, i := range l.from {
		if i < 0 {
			continue
		}
		f := o[i]
		if sub := p.sub[pos]; sub != nil {
			switch v := f.v.(type) {
			case obj:
				f.v = sub.apply(v)
			case []obj:
				list := make([]obj, len(v))
				for j := range v {
					list[j] = sub.apply(v[j])
				}
				f.v = list
			}
		}
		out = append(out, f)
	}
	return out
}

// jsonProjected appends what jsonValue makes of p.apply(o), without making the projected copy.
func (e encoder) jsonProjected(b []byte, o obj, p *projection) []byte {
	l := p.layoutOf(o)
	b = append(b, '{')
	n := 0
	for pos, i := range l.from {
		if i < 0 {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		f := o[i]
		b = append(b, l.names[pos]...)
		sub := p.sub[pos]
		switch v := f.v.(type) {
		case obj:
			if sub != nil {
				if st := stubOf(v); st != nil {
					b = st.projected(b, e, v, sub)
				} else {
					b = e.jsonProjected(b, v, sub)
				}
				continue
			}
		case []obj:
			if sub != nil {
				b = append(b, '[')
				for j := range v {
					if j > 0 {
						b = append(b, ',')
					}
					b = e.jsonProjected(b, v[j], sub)
				}
				b = append(b, ']')
				continue
			}
		}
		b = e.jsonValue(b, f.v)
	}
	return append(b, '}')
}

// compiledFields caches compiled `fields` parameters by their text: a sync sends the same one with every
// page. The cache stops growing at maxCompiledFields distinct texts.
var compiledFields sync.Map // string -> *compiledSpec

type compiledSpec struct {
	fields []any
	proj   *projection
}

var compiledCount atomic.Int64

const maxCompiledFields = 256

// shallow keeps every attribute but reduces associations to their ids.
func shallow(o obj) obj {
	out := make(obj, 0, len(o))
	for _, f := range o {
		switch v := f.v.(type) {
		case obj:
			id, ok := v.get("id")
			if !ok {
				out = append(out, f)
				continue
			}
			out = append(out, kv{f.k, obj{{"id", id}}})
		case []obj:
			l := make([]obj, len(v))
			for j := range v {
				id, _ := v[j].get("id")
				l[j] = obj{{"id", id}}
			}
			out = append(out, kv{f.k, l})
		default:
			out = append(out, f)
		}
	}
	return out
}

func (q *query) shape(o obj) obj {
	switch q.returnOb {
	case "limited":
		id, _ := o.get("id")
		return obj{{"id", id}}
	case "shallow":
		o = shallow(o)
	}
	if q.proj != nil {
		o = q.proj.apply(o)
	}
	return o
}

// list runs a query over a table and returns the ids of the page, in order.
func (s *store) list(t *table, q *query) ([]int64, error) {
	var fast, slow []*filter
	needChildren := false
	// Id bounds narrow the scan: keyset pages (id[gt]) and id-range partitions (id[lt_or_eq]) start and stop
	// where they must instead of walking the whole table.
	n := int64(len(t.recs))
	var startID, endID int64 = 1, n
	for _, f := range q.filters {
		if len(f.path) == 1 {
			if _, ok := stateValue(t, 1, &rec{}, f.path[0]); ok {
				fast = append(fast, f)
				if v, err := strconv.ParseInt(strings.TrimSpace(f.raw), 10, 64); err == nil && f.path[0] == "id" {
					switch f.op {
					case "gt":
						startID = max(startID, v+1)
					case "gt_or_eq":
						startID = max(startID, v)
					case "lt":
						endID = min(endID, v-1)
					case "lt_or_eq":
						endID = min(endID, v)
					case "":
						startID, endID = max(startID, v), min(endID, v)
					}
				}
				continue
			}
		}
		slow = append(slow, f)
		if t.r.isChild(dash(f.path[0])) {
			needChildren = true
		}
	}
	// test says whether record id is live (not deleted) and matches every filter.
	test := func(id int64) (bool, error) {
		r := &t.recs[id-1]
		if r.deleted {
			return false, nil
		}
		for _, f := range fast {
			ok, err := f.matchState(t, id, r, s.loc)
			if err != nil || !ok {
				return false, err
			}
		}
		if len(slow) == 0 {
			return true, nil
		}
		o := s.render(t, id, needChildren)
		for _, f := range slow {
			ok, err := f.matches(o, s.loc)
			if err != nil && !q.refuseUnknown && isUnknownAttribute(err) {
				continue // an ignored filter holds for every record
			}
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	}
	if q.orderBy == "" || q.orderBy == "id" {
		out := make([]int64, 0, q.limit)
		skip := q.offset
		step, id := int64(1), startID
		if q.desc {
			step, id = -1, endID
		}
		for ; id >= startID && id <= endID; id += step {
			ok, err := test(id)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, id)
			if len(out) == q.limit {
				break
			}
		}
		return out, nil
	}
	// Any other order needs every match first.
	var ids []int64
	for id := startID; id <= endID; id++ {
		ok, err := test(id)
		if err != nil {
			return nil, err
		}
		if ok {
			ids = append(ids, id)
		}
	}
	keys := make(map[int64]any, len(ids))
	for _, id := range ids {
		if v, ok := stateValue(t, id, &t.recs[id-1], q.orderBy); ok {
			keys[id] = v
			continue
		}
		ls, err := leaves(s.render(t, id, false), strings.Split(q.orderBy, "."), nil)
		if err != nil {
			return nil, bad("cannot order by %q: unknown attribute", q.orderBy)
		}
		keys[id] = ls[0]
	}
	sort.SliceStable(ids, func(i, j int) bool {
		c := compareValues(keys[ids[i]], keys[ids[j]])
		if c == 0 {
			return ids[i] < ids[j]
		}
		if q.desc {
			return c > 0
		}
		return c < 0
	})
	if q.offset >= len(ids) {
		return []int64{}, nil
	}
	ids = ids[q.offset:]
	if len(ids) > q.limit {
		ids = ids[:q.limit]
	}
	return ids, nil
}

// compareValues orders record values; nil sorts first.
func compareValues(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		}
		return 1
	}
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return cmpInt(x, y)
		}
	case tm:
		if y, ok := b.(tm); ok {
			return cmpInt(int64(x), int64(y))
		}
	case dec:
		if y, ok := b.(dec); ok {
			p, ok1 := parseRat(string(x))
			q, ok2 := parseRat(string(y))
			if ok1 && ok2 {
				return p.Cmp(q)
			}
		}
	case bool:
		if y, ok := b.(bool); ok {
			return cmpInt(boolInt(x), boolInt(y))
		}
	}
	return strings.Compare(fmt.Sprint(plainValue(a)), fmt.Sprint(plainValue(b)))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
