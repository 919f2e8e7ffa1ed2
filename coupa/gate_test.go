package coupa

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/coupa/pace"
)

// waitClock is a pace.Clock that lets every wait pass at once and remembers how long each was.
type waitClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *waitClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *waitClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// A 429's Retry-After holds the next request for that long; a 429 without one only slows the rate (the
// throttled request waits out its own backoff), so no request after it waits anywhere near a second.
func TestOnlyRetryAfterPausesEveryRequest(t *testing.T) {
	for _, tc := range []struct {
		retryAfter time.Duration
		wantPause  bool
	}{{3 * time.Second, true}, {0, false}} {
		clock := &waitClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		g := paced{pace.New(pace.Config{Clock: clock})}
		release, err := g.Wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		release(outcome{status: http.StatusTooManyRequests, throttled: true, retryAfter: tc.retryAfter, retryIn: 5 * time.Second, latency: time.Millisecond})
		if release, err = g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		release(outcome{status: http.StatusOK, latency: time.Millisecond})
		paused := slices.ContainsFunc(clock.waits, func(d time.Duration) bool { return d >= tc.retryAfter && d > 500*time.Millisecond })
		if paused != tc.wantPause {
			t.Errorf("Retry-After %v: waits %v, want a pause: %v", tc.retryAfter, clock.waits, tc.wantPause)
		}
		if st := g.s.Stats(); st.Throttled != 1 || st.Cuts != 0 || st.InFlight != 0 {
			t.Errorf("Retry-After %v: stats %+v, want one 429 seen, no cut for a lone one, nothing in flight", tc.retryAfter, st)
		}
	}
}

// recordingGate admits everything and keeps what it was told, to check the pipeline's side of the seam.
type recordingGate struct {
	mu       sync.Mutex
	waits    int
	outcomes []outcome
}

func (g *recordingGate) Wait(context.Context) (func(outcome), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waits++
	return func(o outcome) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.outcomes = append(g.outcomes, o)
	}, nil
}

// refusingGate admits nothing.
type refusingGate struct{ err error }

func (g refusingGate) Wait(context.Context) (func(outcome), error) { return nil, g.err }

// Every attempt, the token request's included, passes the gate once and reports back once, with its status,
// its latency, and for a retried 429 how long the request will wait.
func TestEveryAttemptWaitsAtTheGateAndReportsBack(t *testing.T) {
	f := newFakeCoupa(t, 1)
	f.apiHook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	}
	c := testClient(t, f.srv.URL, nil)
	g := &recordingGate{}
	c.gate = g
	if _, _, err := c.ListPage(context.Background(), "invoices", nil); err != nil {
		t.Fatal(err)
	}
	if g.waits != 3 || len(g.outcomes) != 3 {
		t.Fatalf("%d waits, %d outcomes; want 3 each (token, 429, 200)", g.waits, len(g.outcomes))
	}
	token, limited, ok := g.outcomes[0], g.outcomes[1], g.outcomes[2]
	if token.status != http.StatusOK || token.throttled || token.retryIn != 0 {
		t.Errorf("token request outcome %+v", token)
	}
	if limited.status != http.StatusTooManyRequests || !limited.throttled || limited.retryIn <= 0 {
		t.Errorf("429 outcome %+v, want throttled with the retry's wait", limited)
	}
	if ok.status != http.StatusOK || ok.throttled || ok.retryIn != 0 || ok.latency <= 0 {
		t.Errorf("last outcome %+v", ok)
	}
}

func TestGateRefusalIsTheRequestsError(t *testing.T) {
	f := newFakeCoupa(t, 1)
	c := testClient(t, f.srv.URL, func(cfg *Config) { cfg.APIKey, cfg.ClientID, cfg.ClientSecret = "k", "", "" })
	c.gate = refusingGate{errors.New("closed for the night")}
	_, _, err := c.ListPage(context.Background(), "invoices", nil)
	if err == nil || err.Error() != "coupa: GET /api/invoices?limit=50: rate limiter: closed for the night" {
		t.Errorf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.gate = paced{pace.New(pace.Config{})}
	if _, _, err := c.ListPage(ctx, "invoices", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want the context's error", err)
	}
	if f.apiHits.Load() != 0 {
		t.Errorf("%d requests sent past the gate", f.apiHits.Load())
	}
}
