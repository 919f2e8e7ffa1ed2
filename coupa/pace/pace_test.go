package pace

import (
	"context"
	"errors"
	"testing"
	"time"
)

const workers = 200 // more than enough demand to fill any in-flight bound

// At Coupa's limit and the connector's default cap, a client alone reaches the limit and is never throttled,
// at any latency: the in-flight bound grows with it.
func TestAloneReachesTheLimitAtAnyLatency(t *testing.T) {
	for _, lat := range []time.Duration{50 * time.Millisecond, time.Second, 2 * time.Second} {
		w := newWorld(CoupaRate, lat)
		c := w.addClient(Config{}, workers)
		w.run(60 * time.Second)
		perSec := float64(c.served) / 60
		if perSec < 0.95*CoupaRate {
			t.Errorf("latency %v: %.1f requests/s served, want >= 95%% of %d", lat, perSec, CoupaRate)
		}
		if w.srv.throttled != 0 {
			t.Errorf("latency %v: %d requests throttled by a server at the client's own cap", lat, w.srv.throttled)
		}
		st := c.s.Stats()
		if lat == time.Second && (st.Limit < CoupaRate || st.Limit > DefaultInFlight) {
			t.Errorf("latency 1s: in-flight bound %d, want between rate x latency (%d) and %d", st.Limit, CoupaRate, DefaultInFlight)
		}
		if lat == 50*time.Millisecond && st.Limit > 16 {
			t.Errorf("latency 50ms: in-flight bound %d: Little's law asks for about 2", st.Limit)
		}
	}
}

// The client never sends faster than its cap: over every second the server sees at most rate + burst.
func TestNeverExceedsTheCap(t *testing.T) {
	w := newWorld(1000, 100*time.Millisecond) // a server that would take anything
	w.addClient(Config{Rate: 10, Burst: 5}, workers)
	w.run(30 * time.Second)
	if most := w.srv.maxInWindow(time.Second); most > 10+5 {
		t.Errorf("%d requests in one second, cap 10/s with burst 5", most)
	}
	if n := w.srv.sentBetween(5*time.Second, 25*time.Second); n < 190 || n > 201 {
		t.Errorf("%d requests in 20 s at a cap of 10/s", n)
	}
}

// A server whose real limit is below the cap (another integration takes the rest): the client converges to it
// with few 429s, and the rate stays between the cut and the limit.
func TestConvergesToTheServersLimit(t *testing.T) {
	w := newWorld(10, time.Second)
	c := w.addClient(Config{}, workers)
	w.run(120 * time.Second)
	served := float64(w.srv.sentBetween(20*time.Second, 120*time.Second)-0) / 100
	if served < 8 {
		t.Errorf("%.1f requests/s reached the server after convergence, its limit is 10", served)
	}
	share := float64(w.srv.throttled) / float64(len(w.srv.sent))
	if share > 0.05 {
		t.Errorf("%.1f%% of requests throttled, want < 5%%", 100*share)
	}
	if r := c.s.Stats().Rate; r > 14 {
		t.Errorf("rate %.1f after two minutes against a limit of 10", r)
	}
}

// A storm of 429s (every request in flight throttled at once) cuts the rate once per cool-down, not once per
// answer, and a Retry-After holds every request back.
func TestStormCutsOnceAndRetryAfterPauses(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(Config{Clock: clock})
	for range 30 {
		if !s.tryTakeSlot() {
			t.Fatal("no slot for the first 30 requests")
		}
	}
	for range 30 {
		(&Slot{s: s}).Done(Outcome{Latency: 100 * time.Millisecond, Throttled: true, RetryAfter: 3 * time.Second})
	}
	st := s.Stats()
	if st.Cuts != 1 || st.Rate > CoupaRate*defaultCut+0.01 || st.Rate < CoupaRate*defaultCut-0.01 {
		t.Errorf("after 30 throttled answers at once: %d cuts, rate %.2f; want 1 cut to %.2f", st.Cuts, st.Rate, CoupaRate*defaultCut)
	}
	if st.InFlight != 0 || st.Throttled != 30 {
		t.Errorf("in flight %d, throttled %d", st.InFlight, st.Throttled)
	}
	s.tryTakeSlot()
	if until := s.next(clock.now, &Slot{s: s}); until.Sub(clock.now) != 3*time.Second {
		t.Errorf("a request after Retry-After 3s may go in %v", until.Sub(clock.now))
	}
	clock.now = clock.now.Add(defaultCoolDown + time.Millisecond)
	(&Slot{s: s}).Done(Outcome{Latency: 100 * time.Millisecond, Throttled: true})
	if s.Stats().Cuts != 1 {
		t.Error("one 429 after the cool-down was already a cut: a lone 429 must not be")
	}
	(&Slot{s: s}).Done(Outcome{Latency: 100 * time.Millisecond, Throttled: true})
	if s.Stats().Cuts != 2 {
		t.Error("a second 429 after the cool-down did not cut again")
	}
}

// The limit drops, then comes back: the client falls with it and climbs back to its cap.
func TestRecoversWhenTheLimitComesBack(t *testing.T) {
	w := newWorld(CoupaRate, 200*time.Millisecond)
	c := w.addClient(Config{}, workers)
	w.change = func(t time.Duration) {
		switch {
		case t >= 20*time.Second && t < 40*time.Second:
			w.srv.lim.SetLimitAt(w.clock.now, 5)
		case t >= 40*time.Second:
			w.srv.lim.SetLimitAt(w.clock.now, CoupaRate)
		}
	}
	w.run(39 * time.Second)
	if r := c.s.Stats().Rate; r > 8 {
		t.Errorf("rate %.1f after 19 s against a limit of 5", r)
	}
	w.run(90 * time.Second)
	if r := c.s.Stats().Rate; r < CoupaRate {
		t.Errorf("rate %.1f 50 s after the limit came back, want the cap %d", r, CoupaRate)
	}
	if n := w.srv.sentBetween(80*time.Second, 90*time.Second); n < 240 {
		t.Errorf("%d requests in the last 10 s, want about 250", n)
	}
}

// Two processes on one instance share its limit through the 429s alone: together near the limit, few 429s,
// and neither starves.
func TestTwoClientsShareOneInstance(t *testing.T) {
	w := newWorld(CoupaRate, 500*time.Millisecond)
	a := w.addClient(Config{}, workers)
	b := w.addClient(Config{}, workers)
	w.run(120 * time.Second)
	total := float64(a.served+b.served) / 120
	if total < 0.85*CoupaRate {
		t.Errorf("together %.1f requests/s served, want >= 85%% of %d", total, CoupaRate)
	}
	share := float64(w.srv.throttled) / float64(len(w.srv.sent))
	if share > 0.05 {
		t.Errorf("%.1f%% of requests throttled", 100*share)
	}
	if lo, hi := min(a.served, b.served), max(a.served, b.served); float64(lo) < 0.5*float64(hi) {
		t.Errorf("served %d and %d: one starves", a.served, b.served)
	}
	t.Logf("together %.1f/s, %.2f%% throttled, split %d/%d", total, 100*share, a.served, b.served)
}

// Acquire gives up with the context's error and leaves no slot taken.
func TestAcquireCancelled(t *testing.T) {
	s := New(Config{Rate: 1, Burst: 1, MaxInFlight: 1})
	first, err := s.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := s.Acquire(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire = %v, want context.Canceled", err)
	}
	first.Done(Outcome{Latency: time.Millisecond})
	if st := s.Stats(); st.InFlight != 0 || st.Requests != 1 {
		t.Errorf("in flight %d, requests %d after one done and one cancelled", st.InFlight, st.Requests)
	}
	// The slot is free again: a new request gets it (its token comes within a second at 1/s).
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if _, err := s.Acquire(ctx2); err != nil {
		t.Errorf("Acquire after the cancelled one: %v", err)
	}
}
