package coupa

import (
	"github.com/coupa-connector/coupa-connector/internal/jsonscan"
)

// decodeRecords reads a JSON list answer (an array of objects, or null) into records in one pass over the
// bytes; the result is exactly what encoding/json with UseNumber gives for the same input (see jsonscan).
func decodeRecords(body []byte) ([]Record, error) {
	s := jsonscan.New(body)
	var recs []Record
	if c, _ := s.Peek(); c == '[' {
		recs = []Record{} // as encoding/json gives for []
	}
	var unexpected error // the first item that is not an object, reported once the whole answer is read
	err := s.List(func() error {
		switch c, _ := s.Peek(); c {
		case '{':
			v, err := s.Value("")
			recs = append(recs, Record(v.(map[string]any)))
			return err
		case 'n':
			recs = append(recs, nil)
			return s.Null()
		}
		u, err := s.SkipUnexpected("a list item is not an object")
		if unexpected == nil {
			unexpected = u
		}
		return err
	})
	if err == nil {
		err = unexpected
	}
	if err != nil {
		return nil, err
	}
	return recs, nil
}
