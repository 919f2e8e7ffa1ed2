package dest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// Normalize checks v against column type t and returns it as the canonical Go value of that type
// (int64, exact decimal string, bool, UTC time.Time, JSON string), or nil. A zero time.Time becomes nil.
// Decimals must already be strings: a float64 has lost exactness before it got here, so it is refused.
func Normalize(t catalog.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t {
	// Values already canonical are returned as the same interface value: re-boxing them would allocate
	// for every column of every row.
	case catalog.String:
		if _, ok := v.(string); ok {
			return v, nil
		}
	case catalog.Int:
		switch n := v.(type) {
		case int64:
			return v, nil
		case int:
			return int64(n), nil
		case int32:
			return int64(n), nil
		case json.Number:
			if i, err := n.Int64(); err == nil {
				return i, nil
			}
		}
	case catalog.Decimal:
		var s string
		switch d := v.(type) {
		case string:
			s = d
		case json.Number:
			s = string(d)
		default:
			return nil, fmt.Errorf("want an exact decimal string, got %T %v", v, v)
		}
		if !ValidDecimal(s) {
			return nil, fmt.Errorf("%q is not a decimal number", s)
		}
		if _, ok := v.(string); ok {
			return v, nil
		}
		return s, nil
	case catalog.Bool:
		if _, ok := v.(bool); ok {
			return v, nil
		}
	case catalog.Timestamp:
		if ts, ok := v.(time.Time); ok {
			if ts.IsZero() {
				return nil, nil
			}
			if ts.Location() == time.UTC {
				return v, nil // the catalog's times are UTC already
			}
			return ts.UTC(), nil
		}
	case catalog.JSON:
		switch j := v.(type) {
		case string:
			return v, nil
		case json.RawMessage:
			return string(j), nil
		case []byte:
			return string(j), nil
		}
	default:
		return nil, fmt.Errorf("unknown column type %d", t)
	}
	return nil, fmt.Errorf("want %s, got %T", TypeName(t), v)
}

// TypeName names a column type in error messages.
func TypeName(t catalog.Type) string {
	switch t {
	case catalog.String:
		return "string"
	case catalog.Int:
		return "int64"
	case catalog.Decimal:
		return "decimal string"
	case catalog.Bool:
		return "bool"
	case catalog.Timestamp:
		return "time.Time"
	case catalog.JSON:
		return "JSON string"
	}
	return fmt.Sprintf("type(%d)", int(t))
}

// ValidDecimal reports whether s is a plain decimal number: optional sign, digits, optional fraction
// ("-5.00", "1234.5678", ".5"). No exponent, no spaces, no thousands separators.
func ValidDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	return digits > 0 && i == len(s)
}

// StateVersionError is returned by LoadState for a state written by a newer coupa: reading it could
// misinterpret the progress it records and skip rows, so it is refused rather than guessed at.
type StateVersionError struct {
	Table   string
	Version int
}

func (e *StateVersionError) Error() string {
	return fmt.Sprintf("state of %s was written by a newer coupa (version %d); upgrade coupa or run `coupa state reset %s`",
		e.Table, e.Version, e.Table)
}

// CheckStateVersion returns a *StateVersionError when s is newer than this code understands.
func CheckStateVersion(s *State) error {
	if s != nil && s.Version > StateVersion {
		return &StateVersionError{Table: s.Table, Version: s.Version}
	}
	return nil
}

// windowJSON is the stored form of a Window, shared by every backend so that a state moved between
// backends (or read by a human) has one shape.
type windowJSON struct {
	From        string          `json:"from,omitempty"`
	To          string          `json:"to"`
	FullRefresh bool            `json:"full_refresh,omitempty"`
	Partitions  []partitionJSON `json:"partitions"`
}

type partitionJSON struct {
	Lo     int64 `json:"lo"`
	Hi     int64 `json:"hi"`
	LastID int64 `json:"last_id"`
	Done   bool  `json:"done,omitempty"`
}

// EncodeWindow renders w as JSON ("" for nil). Times keep their full precision.
func EncodeWindow(w *Window) (string, error) {
	if w == nil {
		return "", nil
	}
	j := windowJSON{To: formatTime(w.To), FullRefresh: w.FullRefresh, Partitions: make([]partitionJSON, len(w.Partitions))}
	if !w.From.IsZero() {
		j.From = formatTime(w.From)
	}
	for i, p := range w.Partitions {
		j.Partitions[i] = partitionJSON{Lo: p.Lo, Hi: p.Hi, LastID: p.LastID, Done: p.Done}
	}
	b, err := json.Marshal(j)
	return string(b), err
}

// DecodeWindow parses what EncodeWindow wrote ("" gives nil).
func DecodeWindow(s string) (*Window, error) {
	if s == "" {
		return nil, nil
	}
	var j windowJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return nil, fmt.Errorf("stored window is not valid JSON: %w", err)
	}
	w := &Window{FullRefresh: j.FullRefresh, Partitions: make([]Partition, len(j.Partitions))}
	var err error
	if w.From, err = ParseTime(j.From); err != nil {
		return nil, err
	}
	if w.To, err = ParseTime(j.To); err != nil {
		return nil, err
	}
	for i, p := range j.Partitions {
		w.Partitions[i] = Partition{Lo: p.Lo, Hi: p.Hi, LastID: p.LastID, Done: p.Done}
	}
	return w, nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// FormatTime renders a state time exactly (RFC 3339, nanoseconds, UTC), "" for the zero time.
func FormatTime(t time.Time) string { return formatTime(t) }

// ParseTime reads what FormatTime wrote; "" is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q is not RFC 3339", s)
	}
	return t.UTC(), nil
}
