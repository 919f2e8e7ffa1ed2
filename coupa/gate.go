package coupa

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// gate admits the client's requests to the instance and learns from how each went. Every attempt of every
// request, token requests included, waits at the one gate of its client, and each Wait that returns nil is
// followed by exactly one Observe: a scheduler that sizes the requests in flight can count on the pair.
// tokenBucket is today's gate; an adaptive one (issue 17) replaces it without the request loop changing.
type gate interface {
	// Wait blocks until an attempt may be sent; an error means it must not be (the context ended, or
	// waiting would outlast its deadline).
	Wait(ctx context.Context) error
	// Observe reports how the attempt admitted by the last Wait went.
	Observe(o outcome)
}

// outcome is how one attempt went, as a gate learns from it.
type outcome struct {
	status    int           // the HTTP status; 0 when no answer came
	latency   time.Duration // from sending the request to reading the last byte of the answer
	throttled bool          // Coupa answered 429: the instance's limit was reached
	retryIn   time.Duration // how long until this request is sent again; 0 when it is not
}

// tokenBucket paces requests at a fixed rate and burst and, after a 429, holds every request of the client
// for as long as the throttled one waits, so that all goroutines back off together instead of each
// discovering the limit on its own.
type tokenBucket struct {
	limiter *rate.Limiter
	// pauseUntil is in unix nanoseconds; zero when no pause was ever asked for.
	pauseUntil atomic.Int64
}

func newTokenBucket(perSecond float64, burst int) *tokenBucket {
	return &tokenBucket{limiter: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

func (g *tokenBucket) Wait(ctx context.Context) error {
	if until := g.pauseUntil.Load(); until > 0 {
		if d := time.Until(time.Unix(0, until)); d > 0 {
			if err := sleepCtx(ctx, d); err != nil {
				return err
			}
		}
	}
	return g.limiter.Wait(ctx)
}

func (g *tokenBucket) Observe(o outcome) {
	if o.throttled && o.retryIn > 0 {
		g.pause(o.retryIn)
	}
}

// pause holds every request for d from now, never shortening a longer pause.
func (g *tokenBucket) pause(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := g.pauseUntil.Load()
		if cur >= until || g.pauseUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}
