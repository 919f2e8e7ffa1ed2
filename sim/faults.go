package sim

import (
	"time"
)

func (s *Server) currentFaults() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults
}

// SetFaults changes the injected faults at run time.
func (s *Server) SetFaults(f Faults) {
	if f.SlowBodyBy <= 0 {
		f.SlowBodyBy = 2 * time.Second
	}
	s.faultMu.Lock()
	s.faults = f
	s.faultMu.Unlock()
}

// SetChurn changes the background change rate (changes per second; 0 stops churn).
func (s *Server) SetChurn(perSecond float64) {
	s.faultMu.Lock()
	s.churn = max(0, perSecond)
	s.faultMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pickFault draws at most one fault for a request: an error response, or the name of a fault that
// changes how the answer is delivered (reset, truncate, slow_body).
func (s *Server) pickFault(f format) (string, *response) {
	s.faultMu.Lock()
	fl := s.faults
	x := s.rng.Float64()
	s.faultMu.Unlock()
	kinds := []struct {
		name string
		p    float64
	}{{"error_500", fl.Error500}, {"error_502", fl.Error502}, {"error_503", fl.Error503},
		{"rate_limit", fl.RateLimit}, {"reset", fl.Reset}, {"truncate", fl.Truncate}, {"slow_body", fl.SlowBody}}
	for _, k := range kinds {
		if x < k.p {
			s.countFault(k.name)
			var resp response
			switch k.name {
			case "error_500":
				resp = s.fail(f, 500, "We're sorry, but something went wrong.")
			case "error_502":
				resp = s.fail(f, 502, "Bad Gateway")
			case "error_503":
				resp = s.fail(f, 503, "Service Unavailable")
			case "rate_limit":
				s.statsMu.Lock()
				s.stats.Throttled++
				s.statsMu.Unlock()
				resp = s.tooMany(f, 1)
			default:
				return k.name, nil
			}
			return k.name, &resp
		}
		x -= k.p
	}
	return "", nil
}

// churnLoop makes background creates, updates and deletes so that syncs run against a moving target.
func (s *Server) churnLoop() {
	defer close(s.done)
	for {
		s.faultMu.Lock()
		rate := s.churn
		s.faultMu.Unlock()
		if rate <= 0 {
			select {
			case <-s.stop:
				return
			case <-s.wake:
				continue
			}
		}
		select {
		case <-s.stop:
			return
		case <-s.wake:
			continue
		case <-time.After(time.Duration(float64(time.Second) / rate)):
		}
		s.churnOnce()
	}
}

var churnTargets = []string{"invoices", "invoices", "invoices", "purchase_orders", "purchase_orders",
	"requisitions", "expense_reports", "suppliers", "users", "approvals"}

// churnOnce makes one random change: 60% updates, 25% creates, 15% deletes.
func (s *Server) churnOnce() {
	s.faultMu.Lock()
	res := churnTargets[s.rng.IntN(len(churnTargets))]
	x := s.rng.IntN(100)
	pick := s.rng.Int64()
	s.faultMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.tables[res]
	n := int64(len(t.recs))
	if n == 0 {
		return
	}
	kind := "update"
	switch {
	case x < 25:
		kind = "create"
		s.st.create(t, nil)
	case x < 40 && res != "users" && res != "approvals":
		kind = "delete"
		id := pick%n + 1
		if _, ok := t.get(id); !ok {
			return
		}
		s.st.remove(t, id)
	default:
		id := pick%n + 1
		r, ok := t.get(id)
		if !ok {
			return
		}
		switch {
		case t.r.statuses != nil:
			r.status = uint8((pick / n) % int64(len(t.r.statuses)))
		case t.r.active:
			r.active = !r.active
		}
		s.st.touch(r)
	}
	s.statsMu.Lock()
	s.stats.Churn[kind]++
	s.statsMu.Unlock()
}
