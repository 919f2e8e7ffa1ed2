package coupa

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestTokenBucketPausesAfterA429ThatIsRetried(t *testing.T) {
	g := newTokenBucket(1000, 100)
	ctx := context.Background()
	g.Observe(outcome{status: http.StatusTooManyRequests, throttled: true}) // not retried: no pause
	g.Observe(outcome{status: http.StatusServiceUnavailable, retryIn: time.Hour})
	start := time.Now()
	if err := g.Wait(ctx); err != nil || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("Wait = %v after %v; want no pause", err, time.Since(start))
	}
	g.Observe(outcome{status: http.StatusTooManyRequests, throttled: true, retryIn: 200 * time.Millisecond})
	g.Observe(outcome{status: http.StatusTooManyRequests, throttled: true, retryIn: time.Millisecond}) // never shortens
	start = time.Now()
	if err := g.Wait(ctx); err != nil || time.Since(start) < 150*time.Millisecond {
		t.Errorf("Wait = %v after %v; want the 200ms pause", err, time.Since(start))
	}
	g.Observe(outcome{status: http.StatusTooManyRequests, throttled: true, retryIn: time.Hour})
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := g.Wait(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v while paused past the deadline, want context.DeadlineExceeded", err)
	}
}

// recordingGate admits everything and keeps what it was told, to check the pipeline's side of the seam.
type recordingGate struct {
	mu       sync.Mutex
	waits    int
	outcomes []outcome
}

func (g *recordingGate) Wait(context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waits++
	return nil
}

func (g *recordingGate) Observe(o outcome) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.outcomes = append(g.outcomes, o)
}

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
	c.gate = newTokenBucket(0.001, 1)
	_ = c.gate.Wait(context.Background()) // the one token of the burst
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _, err := c.ListPage(ctx, "invoices", nil)
	if err == nil || err.Error() != "coupa: GET /api/invoices?limit=50: rate limiter: rate: Wait(n=1) would exceed context deadline" {
		t.Errorf("err = %v", err)
	}
	if f.apiHits.Load() != 0 {
		t.Errorf("%d requests sent past the gate", f.apiHits.Load())
	}
}
