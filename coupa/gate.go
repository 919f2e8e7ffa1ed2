package coupa

import (
	"context"
	"time"

	"github.com/coupa-connector/coupa-connector/coupa/pace"
)

// gate admits the client's requests to the instance and learns from how each went. Every attempt of every
// request, token requests included, waits at the one gate of its client, and the release Wait returns is
// called exactly once with how the attempt went: a scheduler that bounds the requests in flight counts on it.
type gate interface {
	// Wait blocks until an attempt may be sent; an error means it must not be (the context ended).
	Wait(ctx context.Context) (release func(outcome), err error)
}

// outcome is how one attempt went, as a gate learns from it.
type outcome struct {
	status     int           // the HTTP status; 0 when no answer came
	latency    time.Duration // from sending the request to reading the last byte of the answer
	throttled  bool          // Coupa answered 429: the instance's limit was reached
	retryAfter time.Duration // the 429's Retry-After header, when Coupa sent one
	retryIn    time.Duration // how long until this request is sent again; 0 when it is not
}

// paced is the gate of every client: the instance's pace.Scheduler, which follows Coupa's 429s under the
// configured cap and sizes the requests in flight from their latency. Clients of one instance in one process
// may share a Scheduler (Config.Scheduler) so that together they keep within its limit.
type paced struct{ s *pace.Scheduler }

func (g paced) Wait(ctx context.Context) (func(outcome), error) {
	slot, err := g.s.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return func(o outcome) {
		// Only an explicit Retry-After holds every request back: without one, the rate cut is the answer,
		// and the throttled request alone waits out its backoff.
		slot.Done(pace.Outcome{Latency: o.latency, Throttled: o.throttled, RetryAfter: o.retryAfter, Failed: o.status == 0})
	}, nil
}
