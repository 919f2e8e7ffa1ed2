// Package operate creates and updates Coupa objects in bulk from JSON, JSON Lines or CSV files: rows are
// validated against the catalog, sent under the client's rate limit, and recorded in a resumable results file.
package operate

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// Format is the layout of an input file.
type Format int

// Input formats.
const (
	JSON  Format = iota + 1 // one object, or an array of objects
	JSONL                   // one object per line
	CSV                     // a header of dotted field paths, one object per record
)

func (f Format) String() string {
	switch f {
	case JSON:
		return "json"
	case JSONL:
		return "jsonl"
	case CSV:
		return "csv"
	}
	return "unknown"
}

// ParseFormat reads a format name (json, jsonl, ndjson, csv).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimPrefix(s, ".")) {
	case "json":
		return JSON, nil
	case "jsonl", "ndjson":
		return JSONL, nil
	case "csv":
		return CSV, nil
	}
	return 0, fmt.Errorf("unknown input format %q: use json, jsonl or csv", s)
}

// FormatOf guesses the format from a file name's extension.
func FormatOf(path string) (Format, error) {
	ext := filepath.Ext(path)
	if ext == "" {
		return 0, fmt.Errorf("cannot tell the format of %q from its name: give it a .json, .jsonl or .csv extension, or pass --format", path)
	}
	return ParseFormat(ext)
}

// Row is one input record. Err is set when the record itself could not be read (a line that is not JSON,
// a ragged CSV row, bad UTF-8): that row fails and the others go on.
type Row struct {
	N    int            // 1-based record number in the file, the header not counted
	Line int            // line of the file where the record starts
	Data map[string]any // nested object with numbers as json.Number
	Err  error
}

// Reader turns an input file into rows.
type Reader struct {
	r      io.Reader
	format Format
	schema *Schema
	single bool
}

// NewReader reads r in format f; t types CSV cells (CSV has no types of its own) and may be nil.
func NewReader(r io.Reader, f Format, t *catalog.Table) *Reader {
	rd := &Reader{r: r, format: f}
	if t != nil {
		rd.schema = NewSchema(t)
	}
	return rd
}

// Single reports, once Rows has been consumed, whether the input was one JSON object rather than a
// list: the CLI then prints the created object instead of per-row results.
func (rd *Reader) Single() bool { return rd.single }

// Rows streams the records. A non-nil error ends the stream: the file as a whole cannot be read
// (I/O error, a CSV header that is not usable, a JSON document that is neither object nor array).
func (rd *Reader) Rows() iter.Seq2[Row, error] {
	switch rd.format {
	case JSON:
		return rd.jsonRows
	case JSONL:
		return rd.jsonlRows
	case CSV:
		return rd.csvRows
	}
	return func(yield func(Row, error) bool) {
		yield(Row{}, fmt.Errorf("unknown input format %d", rd.format))
	}
}

func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null is not an object")
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value on the line")
	}
	return m, nil
}

func (rd *Reader) jsonlRows(yield func(Row, error) bool) {
	br := bufio.NewReaderSize(rd.r, 64<<10)
	line, n := 0, 0
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			line++
			trimmed := bytes.TrimSpace(b)
			if len(trimmed) > 0 {
				n++
				row := Row{N: n, Line: line}
				switch {
				case !utf8.Valid(trimmed):
					row.Err = fmt.Errorf("line %d is not valid UTF-8: save the file as UTF-8", line)
				default:
					m, derr := decodeObject(trimmed)
					if derr != nil {
						row.Err = fmt.Errorf("line %d is not a JSON object: %v", line, derr)
					}
					row.Data = m
				}
				if !yield(row, nil) {
					return
				}
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			yield(Row{}, fmt.Errorf("reading input: %w", err))
			return
		}
	}
}

// jsonRows streams an array element by element so that a large array never sits in memory whole.
func (rd *Reader) jsonRows(yield func(Row, error) bool) {
	dec := json.NewDecoder(rd.r)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		yield(Row{}, fmt.Errorf("input is not JSON: %v", err))
		return
	}
	switch tok {
	case json.Delim('{'):
		// One object: re-read it whole from what the decoder buffered plus the rest.
		rest := io.MultiReader(strings.NewReader("{"), dec.Buffered(), rd.r)
		b, err := io.ReadAll(rest)
		if err != nil {
			yield(Row{}, fmt.Errorf("reading input: %w", err))
			return
		}
		rd.single = true
		row := Row{N: 1, Line: 1}
		if !utf8.Valid(b) {
			row.Err = errors.New("the input is not valid UTF-8: save the file as UTF-8")
		} else if row.Data, err = decodeObject(b); err != nil {
			row.Err = fmt.Errorf("input is not a JSON object: %v", err)
		}
		yield(row, nil)
		return
	case json.Delim('['):
	default:
		yield(Row{}, fmt.Errorf("input JSON must be an object or an array of objects, not %v", tok))
		return
	}
	for n := 1; dec.More(); n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			yield(Row{}, fmt.Errorf("element %d of the input array is not JSON: %v", n, err))
			return
		}
		row := Row{N: n}
		if m, err := decodeObject(raw); err != nil {
			row.Err = fmt.Errorf("element %d of the input array is not a JSON object", n)
		} else {
			row.Data = m
		}
		if !yield(row, nil) {
			return
		}
	}
}

func (rd *Reader) csvRows(yield func(Row, error) bool) {
	cr := csv.NewReader(rd.r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		return
	}
	if err != nil {
		yield(Row{}, fmt.Errorf("reading the CSV header: %v", err))
		return
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // Excel's UTF-8 byte order mark
	}
	paths, err := rd.csvPaths(header)
	if err != nil {
		yield(Row{}, err)
		return
	}
	cr.FieldsPerRecord = len(header)
	for n := 1; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return
		}
		row := Row{N: n}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe) && errors.Is(err, csv.ErrFieldCount):
			row.Line = pe.StartLine
			row.Err = fmt.Errorf("line %d has %d fields, the header has %d", pe.StartLine, len(rec), len(header))
		case errors.As(err, &pe):
			// No record came back, so FieldPos has nothing to report: the error says where it broke.
			row.Line = pe.StartLine
			row.Err = fmt.Errorf("line %d is not valid CSV: %v", pe.StartLine, pe.Err)
		case err != nil:
			yield(Row{}, fmt.Errorf("reading input: %w", err))
			return
		default:
			row.Line, _ = cr.FieldPos(0)
			row.Data, row.Err = rd.csvObject(paths, rec, row.Line)
		}
		if !yield(row, nil) {
			return
		}
	}
}

// csvPaths checks the header: dotted paths, no duplicates, no path that is both a value and an object.
func (rd *Reader) csvPaths(header []string) ([][]string, error) {
	paths := make([][]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if !utf8.ValidString(h) {
			return nil, fmt.Errorf("CSV header column %d is not valid UTF-8: save the file as UTF-8", i+1)
		}
		if h == "" || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
			return nil, fmt.Errorf("CSV header column %d %q is not a field path such as name or supplier.name", i+1, h)
		}
		if rd.schema != nil {
			h = rd.schema.Canonical(h)
		}
		if seen[h] {
			return nil, fmt.Errorf("CSV header names %q twice", h)
		}
		seen[h] = true
		paths[i] = strings.Split(h, ".")
	}
	for h := range seen {
		for o := range seen {
			if strings.HasPrefix(o, h+".") {
				return nil, fmt.Errorf("CSV header has both %q and %q: a field cannot be a value and an object", h, o)
			}
		}
	}
	return paths, nil
}

// csvObject builds the nested object of one record. Empty cells are left out: CSV cannot tell an empty
// string from a missing value, and sending "" would blank the field in Coupa on update.
func (rd *Reader) csvObject(paths [][]string, rec []string, line int) (map[string]any, error) {
	obj := map[string]any{}
	for i, cell := range rec {
		if !utf8.ValidString(cell) {
			return nil, fmt.Errorf("line %d, column %q is not valid UTF-8: save the file as UTF-8", line, strings.Join(paths[i], "."))
		}
		if cell == "" {
			continue
		}
		path := paths[i]
		var v any = cell
		if rd.schema != nil {
			v = rd.schema.typed(strings.Join(path, "."), cell)
		}
		m := obj
		for _, seg := range path[:len(path)-1] {
			sub, ok := m[seg].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[seg] = sub
			}
			m = sub
		}
		m[path[len(path)-1]] = v
	}
	return obj, nil
}

// typed converts a CSV cell to the JSON value its catalog type calls for. A cell that does not convert
// stays a string, and validation then names the field and the type it should have had.
func (s *Schema) typed(path, cell string) any {
	typ, ok := s.typeOf(path)
	if !ok {
		return cell
	}
	switch typ {
	case catalog.Int:
		if _, err := strconv.ParseInt(strings.TrimSpace(cell), 10, 64); err == nil {
			return json.Number(strings.TrimSpace(cell))
		}
	case catalog.Bool:
		switch strings.ToLower(strings.TrimSpace(cell)) {
		case "true", "1", "yes":
			return true
		case "false", "0", "no":
			return false
		}
	case catalog.JSON:
		dec := json.NewDecoder(strings.NewReader(cell))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err == nil && !dec.More() {
			return v
		}
	}
	return cell
}
