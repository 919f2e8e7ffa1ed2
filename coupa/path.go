package coupa

import "strings"

// Path returns the value at a dotted path of keys ("supplier.name") in r, following nested objects; nil when
// a key on the way is missing or null. A value on the way that is neither an object nor null ends the walk
// early: Path returns that value, and notObject is the part of the path that led to it ("supplier"), empty
// when the walk reached the end. Each caller decides what such a record of another shape means: absent
// (a filter, a required field) or an error (a column that cannot be filled).
func (r Record) Path(dotted string) (v any, notObject string) {
	// The row decoder looks up every column of every record it is given as a map: the path is cut in
	// place, never split into a slice.
	end := strings.IndexByte(dotted, '.')
	if end < 0 {
		return r[dotted], ""
	}
	v = r[dotted[:end]]
	for v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return v, dotted[:end]
		}
		rest := dotted[end+1:]
		next := strings.IndexByte(rest, '.')
		if next < 0 {
			return m[rest], ""
		}
		v = m[rest[:next]]
		end += 1 + next
	}
	return nil, ""
}
