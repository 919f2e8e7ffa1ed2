package coupa

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Op is a Coupa query operator: attr[op]=value.
type Op string

// The operators of Coupa's query language. OpEq is the bare attr=value form.
const (
	OpEq         Op = ""
	OpNotEq      Op = "not_eq"
	OpContains   Op = "contains"
	OpStartsWith Op = "starts_with"
	OpEndsWith   Op = "ends_with"
	OpGt         Op = "gt"
	OpLt         Op = "lt"
	OpGtOrEq     Op = "gt_or_eq"
	OpLtOrEq     Op = "lt_or_eq"
	OpIn         Op = "in"     // Value is comma-separated
	OpNotIn      Op = "not_in" // Value is comma-separated
	OpBlank      Op = "blank"  // Value "true" or "false"
)

// Filter is one condition. Field may be nested with dots ("supplier.name"), which becomes supplier[name].
type Filter struct {
	Field string
	Op    Op
	Value string
}

// Key is the query parameter name of f: "supplier.name" with OpContains gives supplier[name][contains].
// Dashes become underscores, as Coupa documents for query-string attributes.
func (f Filter) Key() string {
	parts := strings.Split(f.Field, ".")
	var sb strings.Builder
	for i, p := range parts {
		p = strings.ReplaceAll(strings.TrimSpace(p), "-", "_")
		if i == 0 {
			sb.WriteString(p)
		} else {
			sb.WriteString("[" + p + "]")
		}
	}
	if f.Op != OpEq {
		sb.WriteString("[" + string(f.Op) + "]")
	}
	return sb.String()
}

// ListOptions shape a list request. The zero value lists the first page in id order.
type ListOptions struct {
	Filters      []Filter
	Params       url.Values // raw extra parameters, passed through as they are
	Fields       []any      // projection: strings and map[string][]any for associations; nil = everything
	Limit        int        // page size, at most 50 (Coupa's cap)
	Offset       int        // offset paging (only when asked for; keyset paging is the default in List)
	AfterID      int64      // keyset paging: id[gt]=AfterID, ascending id
	OrderBy      string
	Desc         bool
	ReturnObject string // none|limited|shallow
}

func (o *ListOptions) limit() int {
	if o == nil || o.Limit <= 0 || o.Limit > MaxPageSize {
		return MaxPageSize
	}
	return o.Limit
}

// Values encodes opts as Coupa query parameters.
func (o *ListOptions) Values() (url.Values, error) {
	v := url.Values{}
	if o == nil {
		v.Set("limit", strconv.Itoa(MaxPageSize))
		return v, nil
	}
	for _, f := range o.Filters {
		if strings.TrimSpace(f.Field) == "" {
			return nil, errors.New("coupa: a filter has an empty field name")
		}
		v.Add(f.Key(), f.Value)
	}
	for k, vals := range o.Params {
		for _, x := range vals {
			v.Add(k, x)
		}
	}
	if o.Fields != nil {
		s, err := encodeFields(o.Fields)
		if err != nil {
			return nil, err
		}
		v.Set("fields", s)
	}
	v.Set("limit", strconv.Itoa(o.limit()))
	if o.Offset > 0 {
		v.Set("offset", strconv.Itoa(o.Offset))
	}
	if o.AfterID > 0 {
		// Keyset paging relies on Coupa's default ascending id order; order_by is not documented by
		// Coupa, so it is sent only when the caller asks for it.
		v.Set("id[gt]", strconv.FormatInt(o.AfterID, 10))
	}
	if o.OrderBy != "" {
		v.Set("order_by", strings.ReplaceAll(o.OrderBy, "-", "_"))
		if o.Desc {
			v.Set("dir", "desc")
		}
	}
	if o.ReturnObject != "" {
		v.Set("return_object", o.ReturnObject)
	}
	return v, nil
}

// encodeFields renders a projection as Coupa's compact JSON array, with names in underscore form as
// Coupa documents them: what encoding/json makes of it, associations' names sorted as it sorts map keys.
// It is written out by hand because a sync sends it with every page, and encoding the maps through
// reflection cost more than the rest of building the request.
func encodeFields(fields []any) (string, error) {
	b, err := appendFields(make([]byte, 0, 256), fields)
	return string(b), err
}

func appendFields(b []byte, fields []any) ([]byte, error) {
	b = append(b, '[')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		switch x := f.(type) {
		case string:
			b = appendName(b, x)
		case map[string][]any:
			b, err = appendAssociations(b, x, func(l []any) ([]any, bool) { return l, true })
		case map[string]any:
			b, err = appendAssociations(b, x, func(v any) ([]any, bool) {
				switch l := v.(type) {
				case []any:
					return l, true
				case []string:
					return stringsAsAny(l), true
				}
				return nil, false
			})
		case map[string][]string:
			b, err = appendAssociations(b, x, func(l []string) ([]any, bool) { return stringsAsAny(l), true })
		default:
			err = fmt.Errorf("coupa: fields projection holds a %T; use strings and maps of lists", f)
		}
		if err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func stringsAsAny(ss []string) []any {
	l := make([]any, len(ss))
	for i, s := range ss {
		l[i] = s
	}
	return l
}

// appendAssociations appends an object of association name -> its own projection. Two names that are one
// once normalised ("line-items", "line_items") are sent once: the last in byte order wins.
func appendAssociations[V any](b []byte, m map[string]V, list func(V) ([]any, bool)) ([]byte, error) {
	type entry struct{ norm, name string }
	names := make([]entry, 0, len(m))
	for k := range m {
		names = append(names, entry{strings.ReplaceAll(k, "-", "_"), k})
	}
	slices.SortFunc(names, func(x, y entry) int { return cmp.Or(strings.Compare(x.norm, y.norm), strings.Compare(x.name, y.name)) })
	b = append(b, '{')
	for i, e := range names {
		sub, ok := list(m[e.name])
		if !ok {
			return nil, fmt.Errorf("coupa: fields projection for %q must be a list", e.name)
		}
		if i+1 < len(names) && names[i+1].norm == e.norm {
			continue
		}
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
		b = appendName(b, e.name)
		b = append(b, ':')
		var err error
		if b, err = appendFields(b, sub); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendName appends name, dashes turned into underscores, as a JSON string.
func appendName(b []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			// Escapes are encoding/json's business; Coupa's names never need them.
			var q bytes.Buffer
			enc := json.NewEncoder(&q)
			enc.SetEscapeHTML(false)
			enc.Encode(strings.ReplaceAll(name, "-", "_")) // a string always encodes
			return append(b, bytes.TrimRight(q.Bytes(), "\n")...)
		}
	}
	b = append(b, '"')
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '-' {
			c = '_'
		}
		b = append(b, c)
	}
	return append(b, '"')
}

// resourcePath builds /api/<resource>[/<id>[/<action>]], accepting "invoices", "/invoices" or "/api/invoices".
func resourcePath(resource string, id int64, action string) (string, error) {
	r := strings.Trim(strings.TrimSpace(resource), "/")
	r = strings.TrimPrefix(r, "api/")
	if r == "" {
		return "", errors.New("coupa: no resource given (e.g. invoices)")
	}
	for _, seg := range strings.Split(r, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "?#") {
			return "", fmt.Errorf("coupa: resource %q is not a valid API path", resource)
		}
	}
	p := "/api/" + r
	if id != 0 {
		p += "/" + strconv.FormatInt(id, 10)
	}
	if action != "" {
		a := strings.Trim(action, "/")
		if a == "" || strings.ContainsAny(a, "/?#") || a == "." || a == ".." {
			return "", fmt.Errorf("coupa: action %q is not a valid action name", action)
		}
		p += "/" + url.PathEscape(a)
	}
	return p, nil
}

// decodeRecord reads one JSON object keeping numbers exact; an empty body (return_object=none) is nil.
func decodeRecord(body []byte) (Record, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var rec Record
	if err := dec.Decode(&rec); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return rec, nil
}

// ListPage fetches one page of GET /api/<resource>. Unless OrderBy is set, the page is returned in
// ascending id order: records of one page are a set, and sorting makes keyset paging robust to a
// server that does not sort.
func (c *Client) ListPage(ctx context.Context, resource string, opts *ListOptions) ([]Record, *Response, error) {
	var recs []Record
	resp, err := c.ListPageDecode(ctx, resource, opts, func(b []byte) error {
		r, derr := decodeRecords(b)
		recs = r
		return derr
	})
	if err != nil {
		return nil, resp, err
	}
	if opts == nil || opts.OrderBy == "" {
		sortByID(recs)
	}
	return recs, resp, nil
}

// ListPageDecode fetches one page like ListPage but hands the body of the answer to decode instead of
// making records of it, in the server's order: the sync reads its pages straight into rows
// (rowcodec.DecodePage). decode must copy what it keeps, since the buffer serves the next answer.
// What decode returns is its verdict on the answer:
//   - nil: the page is read.
//   - an error wrapping io.ErrUnexpectedEOF: the answer was cut short; the page is asked for again
//     (within the retry budget), then reported as an *APIError saying so.
//   - Refuse(err): the answer is well-formed but the caller will not take it (a record it cannot
//     store); ListPageDecode returns err itself, unwrapped, and does not ask again.
//   - any other error: the answer is not the expected JSON; it is reported, without asking again, as an
//     *APIError that quotes the error. Every parser's errors fall here without being marked.
//
// In the last two cases an answer that is not JSON at all (a proxy's HTML page) is reported as such instead,
// and never asked for again.
func (c *Client) ListPageDecode(ctx context.Context, resource string, opts *ListOptions, decode func(body []byte) error) (*Response, error) {
	path, err := resourcePath(resource, 0, "")
	if err != nil {
		return nil, err
	}
	q, err := opts.Values()
	if err != nil {
		return nil, err
	}
	return c.do(ctx, &call{method: http.MethodGet, path: path, query: q, retryable: true, decode: decode})
}

// sortByID orders records by ascending id when they are not already; records without id go last.
func sortByID(recs []Record) {
	if slices.IsSortedFunc(recs, cmpID) {
		return
	}
	slices.SortStableFunc(recs, cmpID)
}

func cmpID(a, b Record) int {
	ia, oka := a.ID()
	ib, okb := b.ID()
	switch {
	case !oka && !okb:
		return 0
	case !oka:
		return 1
	case !okb:
		return -1
	case ia < ib:
		return -1
	case ia > ib:
		return 1
	}
	return 0
}

// List streams every record matching opts, paging by id[gt] in ascending id order (offset paging when
// opts.Offset > 0 or opts.OrderBy is set). It stops at the first error, which it yields.
func (c *Client) List(ctx context.Context, resource string, opts *ListOptions) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		var o ListOptions
		if opts != nil {
			o = *opts
		}
		limit := o.limit()
		o.Limit = limit
		keyset := o.Offset == 0 && o.OrderBy == ""
		for {
			page, _, err := c.ListPage(ctx, resource, &o)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
			if len(page) < limit {
				return
			}
			if keyset {
				maxID, ok := page[len(page)-1].ID()
				if !ok {
					yield(nil, fmt.Errorf("coupa: %s: a record has no integer id, so keyset paging cannot continue; use offset paging", resource))
					return
				}
				if maxID <= o.AfterID {
					yield(nil, fmt.Errorf("coupa: %s: the server ignored id[gt]=%d (page ended at id %d); refusing to loop", resource, o.AfterID, maxID))
					return
				}
				o.AfterID = maxID
			} else {
				o.Offset += len(page)
			}
		}
	}
}

// Get fetches GET /api/<resource>/<id>; fields may be nil.
func (c *Client) Get(ctx context.Context, resource string, id int64, fields []any) (Record, *Response, error) {
	path, err := resourcePath(resource, id, "")
	if err != nil {
		return nil, nil, err
	}
	q := url.Values{}
	if fields != nil {
		s, err := encodeFields(fields)
		if err != nil {
			return nil, nil, err
		}
		q.Set("fields", s)
	}
	return c.send(ctx, http.MethodGet, path, q, nil, true)
}

// WriteOptions shape a create, update or action.
type WriteOptions struct {
	ReturnObject string     // none|limited|shallow; empty = full object
	Params       url.Values // extra query parameters
	Idempotent   bool       // allow retrying a POST (the caller knows a duplicate cannot arise)
}

func (o *WriteOptions) values() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	for k, vals := range o.Params {
		for _, x := range vals {
			q.Add(k, x)
		}
	}
	if o.ReturnObject != "" {
		q.Set("return_object", o.ReturnObject)
	}
	return q
}

// Create POSTs body (a JSON-marshalable value with dashed keys) to /api/<resource>.
func (c *Client) Create(ctx context.Context, resource string, body any, opts *WriteOptions) (Record, *Response, error) {
	path, err := resourcePath(resource, 0, "")
	if err != nil {
		return nil, nil, err
	}
	b, err := marshalBody(body)
	if err != nil {
		return nil, nil, err
	}
	if b == nil {
		b = []byte("{}")
	}
	return c.send(ctx, http.MethodPost, path, opts.values(), b, opts != nil && opts.Idempotent)
}

// Update PUTs body to /api/<resource>/<id>.
func (c *Client) Update(ctx context.Context, resource string, id int64, body any, opts *WriteOptions) (Record, *Response, error) {
	if id <= 0 {
		return nil, nil, fmt.Errorf("coupa: update of %s needs a positive id, got %d", resource, id)
	}
	path, err := resourcePath(resource, id, "")
	if err != nil {
		return nil, nil, err
	}
	b, err := marshalBody(body)
	if err != nil {
		return nil, nil, err
	}
	if b == nil {
		b = []byte("{}")
	}
	return c.send(ctx, http.MethodPut, path, opts.values(), b, true)
}

// Action PUTs to /api/<resource>/<id>/<action>; body may be nil.
func (c *Client) Action(ctx context.Context, resource string, id int64, action string, body any) (Record, *Response, error) {
	if id <= 0 {
		return nil, nil, fmt.Errorf("coupa: action %s on %s needs a positive id, got %d", action, resource, id)
	}
	if strings.TrimSpace(action) == "" {
		return nil, nil, errors.New("coupa: no action given (e.g. void, issue, approve)")
	}
	path, err := resourcePath(resource, id, action)
	if err != nil {
		return nil, nil, err
	}
	b, err := marshalBody(body)
	if err != nil {
		return nil, nil, err
	}
	return c.send(ctx, http.MethodPut, path, nil, b, true)
}

// MarkExported sends PUT /api/<resource>/<id>?exported=true.
func (c *Client) MarkExported(ctx context.Context, resource string, id int64) (Record, *Response, error) {
	if id <= 0 {
		return nil, nil, fmt.Errorf("coupa: mark exported on %s needs a positive id, got %d", resource, id)
	}
	path, err := resourcePath(resource, id, "")
	if err != nil {
		return nil, nil, err
	}
	return c.send(ctx, http.MethodPut, path, url.Values{"exported": {"true"}}, nil, true)
}

func marshalBody(body any) ([]byte, error) {
	switch b := body.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if !json.Valid(b) {
			return nil, errors.New("coupa: request body is not valid JSON")
		}
		return b, nil
	case []byte:
		if !json.Valid(b) {
			return nil, errors.New("coupa: request body is not valid JSON")
		}
		return b, nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("coupa: request body cannot be encoded as JSON: %v", err)
	}
	return b, nil
}

func (c *Client) send(ctx context.Context, method, path string, q url.Values, body []byte, retryable bool) (Record, *Response, error) {
	var rec Record
	resp, err := c.do(ctx, &call{
		method:    method,
		path:      path,
		query:     q,
		body:      body,
		retryable: retryable,
		decode: func(b []byte) error {
			r, derr := decodeRecord(b)
			rec = r
			return derr
		},
	})
	if err != nil {
		return nil, resp, err
	}
	return rec, resp, nil
}
