// Package simtest serves the simulator to end-to-end tests over real HTTP on loopback, and waits out its
// clock; the tests of the sync engine, the CLI, the destinations and the reliability suite share it.
package simtest

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/sim"
)

// Start serves a simulator on loopback until the test ends.
func Start(t testing.TB, opts sim.Options) (*sim.Server, *httptest.Server) {
	t.Helper()
	s, err := sim.New(opts)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts
}

// Env is the environment that points the coupa binary at the simulator with its default client.
func Env(s *sim.Server, ts *httptest.Server) []string {
	c := s.DefaultClient()
	return []string{"COUPA_HOST=" + ts.URL, "COUPA_CLIENT_ID=" + c.ID, "COUPA_CLIENT_SECRET=" + c.Secret}
}

// WaitPastChanges sleeps until the simulator's clock is past the newest updated-at of resources. A sync
// window ends before its frozen upper bound (Coupa's clock, to the second), and the simulator stamps a
// burst of changes with distinct seconds, some ahead of its clock: only after this wait does the next
// run's window cover them all.
func WaitPastChanges(t testing.TB, s *sim.Server, resources ...string) {
	t.Helper()
	var latest time.Time
	for _, r := range resources {
		recs, err := s.Snapshot(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			v, _ := rec["updated-at"].(string)
			if u, err := time.Parse(time.RFC3339, v); err == nil && u.After(latest) {
				latest = u
			}
		}
	}
	if d := time.Until(latest.Add(time.Second)); d > 0 {
		if d > time.Minute {
			t.Fatalf("the simulator stamps changes %v ahead of its clock", d)
		}
		time.Sleep(d + 50*time.Millisecond)
	}
}
