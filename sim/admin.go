package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Mutation changes one record behind the API's back, as another Coupa user would.
type Mutation struct {
	Resource string         `json:"resource"`
	ID       int64          `json:"id"`               // 0 with Create
	Set      map[string]any `json:"set,omitempty"`    // dashed or underscore field names
	Delete   bool           `json:"delete,omitempty"` // remove the record (GET then answers 404)
	Create   bool           `json:"create,omitempty"` // add a generated record with the next id
	// SetUpdatedAt puts updated-at at this datetime (even in the past), e.g. a late-arriving update.
	SetUpdatedAt string `json:"set_updated_at,omitempty"`
}

// Mutate applies m and returns the id it touched. Every change of an existing record bumps updated-at,
// and a new record's is its creation time, unless SetUpdatedAt says otherwise.
func (s *Server) Mutate(m Mutation) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.tables[m.Resource]
	if t == nil {
		return 0, fmt.Errorf("sim: unknown resource %q; use one of %s", m.Resource, strings.Join(sortedNames(), ", "))
	}
	if m.Create {
		m.ID = s.st.create(t, nil)
	}
	r, ok := t.get(m.ID)
	if !ok {
		return 0, fmt.Errorf("sim: %s %d does not exist", m.Resource, m.ID)
	}
	if m.Delete {
		s.st.remove(t, m.ID)
		return m.ID, nil
	}
	for k, v := range m.Set {
		s.st.setField(t, m.ID, dash(norm(k)), fromJSON(v))
	}
	// A created record's fields are part of its creation: its updated-at stays its created-at, as Coupa
	// renders a new record. Touching it as well put updated-at a second after created-at, in the future of
	// the server's clock, and a sync starting within that second correctly left it for the next run.
	if m.Set != nil && !m.Create {
		s.st.touch(r)
	}
	if m.SetUpdatedAt != "" {
		ts, err := parseTime(m.SetUpdatedAt, s.opts.Location)
		if err != nil {
			return 0, fmt.Errorf("sim: set_updated_at: %v", err)
		}
		r.updated = ts
	}
	return m.ID, nil
}

// Snapshot returns every live record of a resource exactly as GET /api/<resource>/<id> renders it in JSON.
func (s *Server) Snapshot(resource string) ([]map[string]any, error) {
	b, err := s.snapshotJSON(resource)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("sim: snapshot of %s is not valid JSON: %v", resource, err)
	}
	return out, nil
}

func (s *Server) snapshotJSON(resource string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.st.tables[resource]
	if t == nil {
		return nil, fmt.Errorf("sim: unknown resource %q; use one of %s", resource, strings.Join(sortedNames(), ", "))
	}
	b := []byte{'['}
	first := true
	for id := int64(1); id <= int64(len(t.recs)); id++ {
		if t.recs[id-1].deleted {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = s.st.enc.jsonValue(b, s.st.render(t, id, true))
	}
	return append(b, ']'), nil
}

// Count is the number of live records of a resource (-1 for an unknown resource).
func (s *Server) Count(resource string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.st.tables[resource]
	if t == nil {
		return -1
	}
	return int(t.live)
}

// Reset regenerates the data set from the options and clears the counters; tokens stay valid.
func (s *Server) Reset() {
	st := newStore(s.opts.Seed, s.opts.Scale, s.opts.Location, s.opts.Now)
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
	s.resetStats()
}

// Resources lists the simulated /api resources.
func Resources() []string { return sortedNames() }

func adminJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func adminError(w http.ResponseWriter, status int, msg string) {
	adminJSON(w, status, map[string]any{"errors": map[string][]string{"base": {msg}}})
}

type churnSetting struct {
	PerSecond float64 `json:"per_second"`
}

func (s *Server) handleAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/__sim/")
	decode := func(v any) bool {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			adminError(w, 400, "invalid JSON body: "+err.Error())
			return false
		}
		return true
	}
	switch {
	case path == "health" && r.Method == http.MethodGet:
		s.mu.RLock()
		recs := map[string]int64{}
		for name, t := range s.st.tables {
			recs[name] = t.live
		}
		s.mu.RUnlock()
		adminJSON(w, 200, map[string]any{"status": "ok", "records": recs})
	case path == "stats" && r.Method == http.MethodGet:
		adminJSON(w, 200, s.Stats())
	case path == "reset" && r.Method == http.MethodPost:
		s.Reset()
		adminJSON(w, 200, map[string]string{"status": "reset"})
	case path == "faults" && r.Method == http.MethodGet:
		adminJSON(w, 200, s.currentFaults())
	case path == "faults" && r.Method == http.MethodPut:
		var f Faults
		if !decode(&f) {
			return
		}
		for _, p := range []float64{f.Error500, f.Error502, f.Error503, f.Reset, f.Truncate, f.SlowBody, f.RateLimit} {
			if p < 0 || p > 1 {
				adminError(w, 400, "fault rates are shares between 0 and 1")
				return
			}
		}
		s.SetFaults(f)
		adminJSON(w, 200, s.currentFaults())
	case path == "churn" && r.Method == http.MethodGet:
		s.faultMu.Lock()
		c := churnSetting{PerSecond: s.churn}
		s.faultMu.Unlock()
		adminJSON(w, 200, c)
	case path == "churn" && r.Method == http.MethodPut:
		var c churnSetting
		if !decode(&c) {
			return
		}
		if c.PerSecond < 0 {
			adminError(w, 400, "per_second must be 0 or more")
			return
		}
		s.SetChurn(c.PerSecond)
		adminJSON(w, 200, c)
	case path == "mutate" && r.Method == http.MethodPost:
		var m Mutation
		if !decode(&m) {
			return
		}
		id, err := s.Mutate(m)
		if err != nil {
			status := 400
			if strings.Contains(err.Error(), "does not exist") {
				status = 404
			}
			adminError(w, status, err.Error())
			return
		}
		s.mu.RLock()
		o := s.st.render(s.st.tables[m.Resource], id, true)
		if m.Delete {
			o = obj{{"id", id}, {"deleted", true}}
		}
		b := s.enc.jsonValue(nil, o)
		s.mu.RUnlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(b)
	case strings.HasPrefix(path, "snapshot/") && r.Method == http.MethodGet:
		b, err := s.snapshotJSON(strings.TrimPrefix(path, "snapshot/"))
		if err != nil {
			adminError(w, 404, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(bytes.TrimSpace(b))
	default:
		adminError(w, 404, "no admin route "+r.Method+" /__sim/"+path+"; see sim/README.md")
	}
}
