package rowcodec

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
)

// Rows turns one API record into t's parent row and the child rows of each child table (see catalog.Layout).
// rec is a record as decoded by a json.Decoder with UseNumber (numbers are json.Number; amounts and
// datetimes are strings). A column the record lacks is nil; every top-level key no column or child takes
// is kept in catalog.ColExtra as a JSON object (nil when there is none), and so is every key of a child item
// no child column takes. A record without an id or without its
// cursor value, or with a value that does not fit its column type, is an error naming table, id and field.
// DecodePage gives the same rows straight from a list answer.
func Rows(t *catalog.Table, rec map[string]any) (catalog.Row, map[string][]catalog.Row, error) {
	p := planOf(t)
	rawID, ok := rec["id"]
	if !ok || rawID == nil {
		return nil, nil, fmt.Errorf("%s record without \"id\": the API response is malformed", t.Name)
	}
	idv, err := toInt(rawID)
	if err != nil {
		return nil, nil, fmt.Errorf("%s record: field \"id\": %v", t.Name, err)
	}
	id, ok := idv.(int64)
	if !ok {
		return nil, nil, fmt.Errorf("%s record with an empty \"id\": the API response is malformed", t.Name)
	}
	row := make(catalog.Row, len(p.layout))
	if err := fill(row, rec, p.cols); err != nil {
		return nil, nil, fmt.Errorf("%s id %d: %v", t.Name, id, err)
	}
	if p.cursor >= 0 && row[p.cursor] == nil {
		return nil, nil, fmt.Errorf("%s id %d: field %q is missing: the incremental cursor needs it", t.Name, id, t.Cursor)
	}
	for k := range rec {
		if _, ok := p.taken[k]; !ok {
			extra, err := extraOf(rec, p.taken)
			if err != nil {
				return nil, nil, fmt.Errorf("%s id %d: unknown fields do not encode as JSON: %v", t.Name, id, err)
			}
			row[len(p.cols)] = extra
			break
		}
	}
	if len(p.children) == 0 {
		return row, nil, nil
	}
	children := make(map[string][]catalog.Row, len(p.children))
	for i := range p.children {
		cc := &p.children[i]
		rows, err := childRows(cc, rec, id)
		if err != nil {
			return nil, nil, fmt.Errorf("%s id %d: %s: %v", t.Name, id, cc.child.Name, err)
		}
		children[cc.child.Name] = rows
	}
	return row, children, nil
}

func childRows(cc *cchild, rec map[string]any, parentID int64) ([]catalog.Row, error) {
	ch := cc.child
	var items []map[string]any
	if ch.Explode != nil {
		items = ch.Explode(rec)
	} else {
		raw := rec[ch.Path]
		if raw == nil {
			return nil, nil
		}
		arr, ok := raw.([]any)
		if !ok {
			return nil, fmt.Errorf("field %q: want an array, got %s", ch.Path, describe(raw))
		}
		items = make([]map[string]any, len(arr))
		for i, el := range arr {
			m, ok := el.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("field %q item %d: want an object, got %s", ch.Path, i, describe(el))
			}
			items[i] = m
		}
	}
	rows := make([]catalog.Row, 0, len(items))
	for i, item := range items {
		r := make(catalog.Row, len(cc.cols)+2) // parent key, columns, _extra
		if err := fill(r[1:len(cc.cols)+1], item, cc.cols); err != nil {
			return nil, fmt.Errorf("item %d: %v", i, err)
		}
		r[0] = parentID
		for k := range item {
			if _, ok := cc.taken[k]; !ok {
				extra, err := extraOf(item, cc.taken)
				if err != nil {
					return nil, fmt.Errorf("item %d: unknown fields do not encode as JSON: %v", i, err)
				}
				r[len(cc.cols)+1] = extra
				break
			}
		}
		if err := cc.checkKeys(r, i); err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// checkKeys refuses child row r (item i of its parent) when a key column is nil.
func (cc *cchild) checkKeys(r catalog.Row, i int) error {
	for j, k := range cc.keys {
		if k < 0 || r[k] == nil {
			return fmt.Errorf("item %d: key column %q is missing", i, cc.child.Key[j])
		}
	}
	return nil
}

// fill converts the value at each column's path into vals, by column position.
func fill(vals []any, rec map[string]any, cols []ccol) error {
	for i := range cols {
		col := &cols[i]
		raw, notObject := coupa.Record(rec).Path(col.dotted)
		if notObject != "" {
			return fmt.Errorf("field %q: want an object, got %s", notObject, describe(raw))
		}
		if raw == nil {
			continue
		}
		v, err := convert(raw, col.typ)
		if err != nil {
			return fmt.Errorf("field %q: %v", col.dotted, err)
		}
		vals[i] = v
	}
	return nil
}

func extraOf(rec map[string]any, taken map[string]struct{}) (string, error) {
	extra := make(map[string]any)
	for k, v := range rec {
		if _, ok := taken[k]; !ok {
			extra[k] = v
		}
	}
	return compactJSON(extra)
}

// convert gives raw the Go type t names. Callers handle nil.
func convert(raw any, t catalog.Type) (any, error) {
	switch t {
	case catalog.String:
		return toString(raw)
	case catalog.Int:
		return toInt(raw)
	case catalog.Decimal:
		return toDecimal(raw)
	case catalog.Bool:
		return toBool(raw)
	case catalog.Timestamp:
		return toTime(raw)
	case catalog.JSON:
		return compactJSON(raw)
	}
	return nil, fmt.Errorf("unknown column type %d", t)
}

// Blank strings count as null for typed columns: Coupa renders some empty values as "".

// Where a value is already of the column's Go type, raw itself is returned: boxing it again would cost an
// allocation per value, and a sync converts millions of them.

func toString(raw any) (any, error) {
	switch v := raw.(type) {
	case string:
		return raw, nil
	case json.Number:
		return string(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return nil, fmt.Errorf("want a string, got %s", describe(raw))
}

func toInt(raw any) (any, error) {
	switch v := raw.(type) {
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want an integer, got %s", describe(raw))
		}
		return n, nil
	case string:
		if v == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want an integer, got %s", describe(raw))
		}
		return n, nil
	case int64:
		return v, nil
	case int:
		return int64(v), nil
	case float64:
		// Only reachable when the caller decoded without UseNumber; exact up to 2^53.
		if v == float64(int64(v)) && v < 1<<53 && v > -(1<<53) {
			return int64(v), nil
		}
	}
	return nil, fmt.Errorf("want an integer, got %s", describe(raw))
}

func toDecimal(raw any) (any, error) {
	var s string
	switch v := raw.(type) {
	case string:
		if v == "" {
			return nil, nil
		}
		s = v
	case json.Number:
		s = string(v)
	case float64:
		return nil, fmt.Errorf("got a float %v, which is not exact: decode responses with json.Decoder.UseNumber", v)
	default:
		return nil, fmt.Errorf("want a decimal, got %s", describe(raw))
	}
	if !isDecimal(s) {
		return nil, fmt.Errorf("want a decimal, got %s", describe(raw))
	}
	if _, ok := raw.(string); ok {
		return raw, nil
	}
	return s, nil
}

// isDecimal accepts an optional sign, digits, and an optional fraction: the form Coupa renders amounts in.
// Exponents are refused rather than expanded: no Coupa amount uses them and guessing would risk exactness.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	return digits > 0 && i == len(s)
}

func toBool(raw any) (any, error) {
	switch v := raw.(type) {
	case bool:
		return v, nil
	case string:
		switch v {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "":
			return nil, nil
		}
	}
	return nil, fmt.Errorf("want a boolean, got %s", describe(raw))
}

func toTime(raw any) (any, error) {
	s, ok := raw.(string)
	if !ok {
		return nil, fmt.Errorf("want a datetime string, got %s", describe(raw))
	}
	if s == "" {
		return nil, nil
	}
	ts, err := ParseTime(s)
	if err != nil {
		return nil, err
	}
	return ts, nil
}

// ParseTime reads a Coupa datetime and returns it in UTC. It accepts RFC 3339 with a numeric offset or Z,
// the "+HH:MMZ" form Coupa's element tables document (offset followed by a stray Z), and a bare date, which is
// taken as midnight UTC.
func ParseTime(s string) (time.Time, error) {
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err == nil {
		return ts.UTC(), nil
	}
	n := len(s)
	if n > 7 && s[n-1] == 'Z' && (s[n-7] == '+' || s[n-7] == '-') && s[n-4] == ':' {
		if ts, err := time.Parse(time.RFC3339Nano, s[:n-1]); err == nil {
			return ts.UTC(), nil
		}
	}
	if n == len("2006-01-02") {
		if ts, err := time.Parse(time.DateOnly, s); err == nil {
			return ts, nil
		}
	}
	return time.Time{}, fmt.Errorf("want a datetime like 2024-04-01T02:16:48+03:00, got %s", describe(s))
}

// describe names a bad value for an error message without dumping large objects.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return strconv.Quote(x)
	case json.Number:
		return "number " + string(x)
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case float64:
		return "number " + strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprintf("%T", v)
}
