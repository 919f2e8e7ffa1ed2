package pace

import (
	"container/heap"
	"time"

	"golang.org/x/time/rate"
)

// A discrete-event model of clients and one Coupa instance in virtual time, driven in one goroutine through the
// same steps Acquire takes (tryTakeSlot, next, Done): AIMD and in-flight sizing are tested without sleeping.

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.now.Add(d) // only Acquire's tests use it, where the wait itself does not matter
	return ch
}

// server is Coupa's throttle: a token bucket per instance; what exceeds it is answered 429.
type server struct {
	lim        *rate.Limiter
	latency    func(t time.Duration) time.Duration // by the time since the start
	retryAfter time.Duration
	sent       []time.Duration // when each request arrived, since the start
	throttled  int
}

type client struct {
	s       *Scheduler
	served  int
	workers int
}

type event struct {
	at     time.Duration
	client int
	kind   int // wantSlot, wantSend, answer
	slot   *Slot
	o      Outcome
}

const (
	wantSlot = iota
	wantSend
	answer
)

type events []*event

func (e events) Len() int           { return len(e) }
func (e events) Less(i, j int) bool { return e[i].at < e[j].at }
func (e events) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)        { *e = append(*e, x.(*event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// world runs clients against one server until the virtual time is up.
type world struct {
	clock   *fakeClock
	start   time.Time
	srv     *server
	clients []*client
	queue   events
	waiting [][]*event // per client, workers waiting for a slot
	// change, if set, is called at every event so a test can alter the server mid-run.
	change func(t time.Duration)
	evOf   map[*Slot]*event // a slot's current event: a kick replaces it
}

func newWorld(serverRate float64, latency time.Duration) *world {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &world{
		clock: &fakeClock{now: start},
		start: start,
		evOf:  map[*Slot]*event{},
		srv: &server{lim: rate.NewLimiter(rate.Limit(serverRate), CoupaBurst),
			latency: func(time.Duration) time.Duration { return latency }},
	}
}

func (w *world) addClient(cfg Config, workers int) *client {
	cfg.Clock = w.clock
	c := &client{s: New(cfg), workers: workers}
	w.clients = append(w.clients, c)
	w.waiting = append(w.waiting, nil)
	for range workers {
		heap.Push(&w.queue, &event{client: len(w.clients) - 1, kind: wantSlot})
	}
	return c
}

func (w *world) elapsed() time.Duration { return w.clock.now.Sub(w.start) }

func (w *world) run(d time.Duration) {
	for w.queue.Len() > 0 {
		ev := heap.Pop(&w.queue).(*event)
		if ev.at > d {
			heap.Push(&w.queue, ev)
			return
		}
		w.clock.now = w.start.Add(ev.at)
		if w.change != nil {
			w.change(ev.at)
		}
		w.step(ev)
	}
}

func (w *world) step(ev *event) {
	c := w.clients[ev.client]
	switch ev.kind {
	case wantSlot:
		if !c.s.tryTakeSlot() {
			w.waiting[ev.client] = append(w.waiting[ev.client], ev)
			return
		}
		ev.slot, ev.kind = newSlot(c.s), wantSend
		w.evOf[ev.slot] = ev
		w.step(ev)
	case wantSend:
		if w.evOf[ev.slot] != ev {
			return // superseded by a kick, or long answered
		}
		until := c.s.next(w.clock.now, ev.slot)
		w.kicks(c)
		if until.After(w.clock.now) {
			ev.at = until.Sub(w.start)
			heap.Push(&w.queue, ev)
			return
		}
		w.send(ev)
	case answer:
		ev.slot.Done(ev.o)
		w.kicks(c)
		delete(w.evOf, ev.slot)
		if !ev.o.Throttled {
			c.served++
		}
		w.wake(ev.client)
		heap.Push(&w.queue, &event{at: ev.at, client: ev.client, kind: wantSlot})
	}
}

// send is the server's side: a request within the instance's bucket is served, any other answered 429 at once.
func (w *world) send(ev *event) {
	t := w.elapsed()
	w.srv.sent = append(w.srv.sent, t)
	lat := w.srv.latency(t)
	ev.o = Outcome{Latency: lat}
	if !w.srv.lim.AllowN(w.clock.now, 1) {
		w.srv.throttled++
		lat = min(lat, 50*time.Millisecond)
		ev.o = Outcome{Latency: lat, Throttled: true, RetryAfter: w.srv.retryAfter}
	}
	ev.kind, ev.at = answer, t+lat
	heap.Push(&w.queue, ev)
}

// kicks does what Acquire's select does with a kick: the head of the queue looks again now.
func (w *world) kicks(c *client) {
	if len(c.s.queue) == 0 {
		return
	}
	head := c.s.queue[0]
	select {
	case <-head.kick:
		ev := *w.evOf[head]
		ev.at = w.elapsed()
		w.evOf[head] = &ev
		heap.Push(&w.queue, &ev)
	default:
	}
}

// wake lets the client's queued workers try for a slot again, first come first served.
func (w *world) wake(client int) {
	q := w.waiting[client]
	w.waiting[client] = nil
	for _, ev := range q {
		ev.at = w.elapsed()
		heap.Push(&w.queue, ev)
	}
}

// maxInWindow is the most requests the server saw in any window of length d (sliding over arrivals).
func (srv *server) maxInWindow(d time.Duration) int {
	most, lo := 0, 0
	for hi, t := range srv.sent {
		for srv.sent[lo] <= t-d {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}

func (srv *server) sentBetween(from, to time.Duration) int {
	n := 0
	for _, t := range srv.sent {
		if t >= from && t < to {
			n++
		}
	}
	return n
}
