// Package pace schedules the requests of one Coupa instance: a send rate that follows Coupa's 429s (additive
// increase, multiplicative decrease) under a cap, and a number in flight sized from the latency it observes.
//
// Coupa allows about 25 requests/s per instance with a burst of 20 and documents no rate headers, so the only
// signal that the budget is shared (another integration, a second `coupa` process) is a 429. A Scheduler starts
// at the cap, cuts its rate when a 429 comes back (at most once per cool-down, since requests already in flight
// were sent at the old rate), and climbs back by a fixed step per calm interval, as TCP and the AWS SDKs'
// adaptive retry mode do. Requests in flight are bounded by Little's law, rate × latency with headroom,
// which keeps a slow server from being buried under queued requests and bounds the pages held in memory.
package pace

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Coupa's documented limit, and the defaults of a Scheduler.
const (
	CoupaRate        = 25 // requests per second per instance
	CoupaBurst       = 20
	DefaultInFlight  = 64
	defaultCut       = 0.7             // the rate kept after a 429
	defaultStep      = 1.0             // requests/s added per calm interval
	defaultCalm      = time.Second     // no 429 for this long before each raise
	defaultCoolDown  = 2 * time.Second // at most one cut per cool-down (or per latency, if longer)
	latencySamples   = 64              // the moving window the in-flight bound is sized from
	latencyQuantile  = 0.9
	inFlightHeadroom = 1.5
	minInFlight      = 4
)

// Config bounds a Scheduler. Zero values take the defaults above.
type Config struct {
	Rate        float64 // the cap in requests/s, what a user leaves room under for other integrations
	Burst       int     // requests that may go at once after a quiet spell
	MaxInFlight int     // requests in flight at most, whatever the latency
	MinRate     float64 // the floor the rate is never cut below (default Rate/25)
	Clock       Clock   // nil: the real clock
}

// Clock is the time source; tests substitute a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Scheduler gates every request to one Coupa instance. It is safe for concurrent use.
type Scheduler struct {
	cfg   Config
	clock Clock

	mu           sync.Mutex
	lim          *rate.Limiter
	rate         float64   // current send rate, <= cfg.Rate
	pauseUntil   time.Time // Retry-After: nothing is sent before it
	lastCut      time.Time
	cutFrom      float64 // the rate the last cut was made from: about where the limit is
	lastThrottle time.Time
	lastRaise    time.Time
	inFlight     int
	limit        int             // current bound on inFlight
	waiting      []chan struct{} // requests waiting for an in-flight slot, first come first served
	queue        []*Slot         // requests holding a slot, waiting for a token, first come first served
	latencies    []time.Duration // ring of the last latencySamples
	ring         int             // where the next latency goes once the ring is full
	stats        Stats
}

// Stats is what a Scheduler has seen, for progress lines and metrics.
type Stats struct {
	Rate      float64       // current send rate, requests/s
	Cap       float64       // the configured cap
	InFlight  int           // requests between Acquire and Done now
	Limit     int           // the current bound on InFlight
	Latency   time.Duration // the latency the bound is sized from (90th percentile of the recent window)
	Requests  int64         // requests that have finished
	Throttled int64         // of them, answered 429
	Cuts      int64         // times the rate was cut
	Waited    time.Duration // total time requests waited for a slot, a pause or the rate
}

// New returns a Scheduler at its cap.
func New(cfg Config) *Scheduler {
	if cfg.Rate <= 0 {
		cfg.Rate = CoupaRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = min(CoupaBurst, max(1, int(cfg.Rate)))
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultInFlight
	}
	if cfg.MinRate <= 0 {
		cfg.MinRate = cfg.Rate / 25
	}
	s := &Scheduler{cfg: cfg, clock: cfg.Clock, rate: cfg.Rate, limit: cfg.MaxInFlight}
	if s.clock == nil {
		s.clock = realClock{}
	}
	s.lim = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst)
	s.stats.Cap = cfg.Rate
	return s
}

// Outcome is what became of one request, told to Done.
type Outcome struct {
	Latency    time.Duration // from sending to the answer's headers
	Throttled  bool          // answered 429
	RetryAfter time.Duration // the 429's Retry-After, when it had one
	Failed     bool          // no answer at all (network error, cancelled): its latency says nothing
}

// Slot is one request's place in flight; Done must be called exactly once.
type Slot struct {
	s      *Scheduler
	queued bool          // waiting in Scheduler.queue for a token
	kick   chan struct{} // told when its wait must be estimated again
	done   bool
}

func newSlot(s *Scheduler) *Slot { return &Slot{s: s, kick: make(chan struct{}, 1)} }

// Acquire waits until a request may be sent: a slot in flight, a token of the current rate, the end of any
// Retry-After pause. It returns early with ctx's error.
func (s *Scheduler) Acquire(ctx context.Context) (*Slot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := s.clock.Now()
	if err := s.takeSlot(ctx); err != nil {
		return nil, err
	}
	slot := newSlot(s)
	for {
		now := s.clock.Now()
		until := s.next(now, slot)
		if !until.After(now) {
			break
		}
		select {
		case <-s.clock.After(until.Sub(now)):
		case <-slot.kick: // it became the head of the queue, or the rate rose: its estimate is stale
		case <-ctx.Done():
			s.leaveQueue(slot)
			slot.release()
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	s.stats.Waited += s.clock.Now().Sub(start)
	s.mu.Unlock()
	return slot, nil
}

// next says until when a request holding a slot must wait before it is sent; now or earlier means "send".
// Requests take tokens in the order they queued, and a queued request's wait is estimated from its place in
// the queue at the current rate and asked again when it ends. Nothing is reserved ahead: a rate cut or a
// Retry-After pause holds back every request not yet sent, which tokens booked at the old rate would not.
func (s *Scheduler) next(now time.Time, sl *Slot) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pauseUntil.After(now) {
		if !sl.queued {
			sl.queued = true
			s.queue = append(s.queue, sl)
		}
		return s.pauseUntil
	}
	pos := slices.Index(s.queue, sl)
	if pos < 0 {
		pos = len(s.queue)
	}
	if pos == 0 && s.lim.AllowN(now, 1) {
		if sl.queued {
			s.queue = s.queue[1:]
			sl.queued = false
			s.kickHead()
		}
		return now
	}
	if !sl.queued {
		sl.queued = true
		s.queue = append(s.queue, sl)
	}
	wait := time.Duration((float64(pos) + 1 - s.lim.TokensAt(now)) / s.rate * float64(time.Second))
	return now.Add(max(wait, time.Millisecond))
}

// leaveQueue takes a cancelled request out of the token queue.
func (s *Scheduler) leaveQueue(sl *Slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.queue, sl); i >= 0 {
		s.queue = slices.Delete(s.queue, i, i+1)
		if i == 0 {
			s.kickHead()
		}
	}
	sl.queued = false
}

// kickHead wakes the request at the head of the token queue to look again; s.mu is held.
func (s *Scheduler) kickHead() {
	if len(s.queue) > 0 {
		select {
		case s.queue[0].kick <- struct{}{}:
		default: // already kicked
		}
	}
}

// tryTakeSlot takes a slot if one is free and nobody queues for one.
func (s *Scheduler) tryTakeSlot() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight < s.limit && len(s.waiting) == 0 {
		s.inFlight++
		return true
	}
	return false
}

// takeSlot waits for inFlight to be under the bound.
func (s *Scheduler) takeSlot(ctx context.Context) error {
	if s.tryTakeSlot() {
		return nil
	}
	s.mu.Lock()
	if s.inFlight < s.limit && len(s.waiting) == 0 { // freed meanwhile
		s.inFlight++
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	s.waiting = append(s.waiting, ch)
	s.mu.Unlock()
	select {
	case <-ch:
		return nil // the releaser counted us in
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if i := slices.Index(s.waiting, ch); i >= 0 {
			s.waiting = slices.Delete(s.waiting, i, i+1)
			return ctx.Err()
		}
		// Handed a slot just as ctx ended: give it on.
		s.inFlight--
		s.admit()
		return ctx.Err()
	}
}

// admit hands free slots to waiters in order; s.mu is held.
func (s *Scheduler) admit() {
	for len(s.waiting) > 0 && s.inFlight < s.limit {
		close(s.waiting[0])
		s.waiting = s.waiting[1:]
		s.inFlight++
	}
}

func (sl *Slot) release() {
	s := sl.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	s.admit()
}

// Done ends the request's slot and learns from its outcome.
func (sl *Slot) Done(o Outcome) {
	if sl.done {
		return
	}
	sl.done = true
	s := sl.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.inFlight--
	s.stats.Requests++
	if !o.Failed && o.Latency > 0 {
		s.observe(o.Latency)
	}
	if o.Throttled {
		s.stats.Throttled++
		s.throttled(now, o.RetryAfter)
	} else if !o.Failed {
		s.calm(now)
	}
	s.admit()
}

// throttled cuts the rate (once per cool-down) and pauses every request for Retry-After; s.mu is held.
// A lone 429 cuts nothing: a client alone at the cap is throttled now and then only because its bucket
// and Coupa's refill out of phase, and a cut to 0.7 would cost it seconds at the full rate. A second
// within the cool-down is a sign the limit is shared (or lower), and cuts.
func (s *Scheduler) throttled(now time.Time, retryAfter time.Duration) {
	if retryAfter > 0 && now.Add(retryAfter).After(s.pauseUntil) {
		s.pauseUntil = now.Add(retryAfter)
	}
	s.lastRaise = now // the calm interval starts again
	coolDown := max(defaultCoolDown, s.quantile())
	lone := s.lastThrottle.IsZero() || now.Sub(s.lastThrottle) > coolDown
	s.lastThrottle = now
	if lone || !s.lastCut.IsZero() && now.Sub(s.lastCut) < coolDown {
		return
	}
	s.lastCut, s.cutFrom = now, s.rate
	s.stats.Cuts++
	s.setRate(now, max(s.cfg.MinRate, s.rate*defaultCut))
	// Tokens saved up at the old rate would go out as a burst the moment the pause ends.
	if n := int(s.lim.TokensAt(now)); n > 0 {
		s.lim.AllowN(now, n)
	}
}

// calm raises the rate by one step per calm interval without a 429, a quarter step near the rate of the last
// cut (where the limit was found, so where the next 429 waits: as CUBIC does, linger there); s.mu is held.
func (s *Scheduler) calm(now time.Time) {
	if s.rate >= s.cfg.Rate {
		return
	}
	if now.Sub(s.lastCut) < defaultCalm || now.Sub(s.lastRaise) < defaultCalm {
		return
	}
	s.lastRaise = now
	step := defaultStep
	if s.rate > 0.9*s.cutFrom && s.rate < 1.1*s.cutFrom {
		step /= 4
	}
	s.setRate(now, min(s.cfg.Rate, s.rate+step))
}

func (s *Scheduler) setRate(now time.Time, r float64) {
	raised := r > s.rate
	s.rate = r
	s.lim.SetLimitAt(now, rate.Limit(r))
	s.resize()
	if raised {
		s.kickHead()
	}
}

// observe records a latency and re-sizes the in-flight bound; s.mu is held.
func (s *Scheduler) observe(d time.Duration) {
	if len(s.latencies) < latencySamples {
		s.latencies = append(s.latencies, d)
	} else {
		s.latencies[s.ring] = d
		s.ring = (s.ring + 1) % latencySamples
	}
	s.resize()
}

// resize applies Little's law: in flight = rate × latency, with headroom for the spread of latencies and
// for the rate to climb back. Until enough latencies are seen the bound stays at its maximum.
func (s *Scheduler) resize() {
	if len(s.latencies) < minInFlight {
		return
	}
	want := int(math.Ceil(s.cfg.Rate*s.quantile().Seconds()*inFlightHeadroom)) + minInFlight
	s.limit = min(s.cfg.MaxInFlight, max(minInFlight, want))
}

// quantile is the latencyQuantile of the recent window; s.mu is held.
func (s *Scheduler) quantile() time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	sorted := slices.Clone(s.latencies)
	slices.Sort(sorted)
	return sorted[int(float64(len(sorted)-1)*latencyQuantile)]
}

// Stats returns a snapshot.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Rate, st.InFlight, st.Limit, st.Latency = s.rate, s.inFlight, s.limit, s.quantile()
	return st
}
