package coupa

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// call is one logical API request; do turns it into one or more HTTP attempts.
type call struct {
	method string
	path   string // "/api/invoices/1"
	query  url.Values
	body   []byte
	// contentType of body; "application/json" when empty and body is set.
	contentType string
	// retryable says that repeating the request cannot cause a duplicate (GET, PUT, idempotent POST).
	retryable bool
	// token requests carry their own credentials and must not recurse into auth.
	noAuth    bool
	basicUser string
	basicPass string
	// decode is applied to a 2xx body; what it returns is its verdict (see ListPageDecode).
	decode func(body []byte) error
}

func (cl *call) pathAndQuery() string {
	if len(cl.query) == 0 {
		return cl.path
	}
	return cl.path + "?" + cl.query.Encode()
}

// maxBriefQuery bounds the query an error message quotes: enough to recognise the filters, short enough
// that the message stays one readable line.
const maxBriefQuery = 120

// brief is the request as an error message names it: the path and its filters, without the fields
// projection (often a kilobyte of percent-encoded JSON) and cut to maxBriefQuery. Debug logs keep the
// whole query.
func (cl *call) brief() string {
	if len(cl.query) == 0 {
		return cl.path
	}
	q := make(url.Values, len(cl.query))
	for k, v := range cl.query {
		if k != "fields" {
			q[k] = v
		}
	}
	enc := q.Encode()
	if len(enc) > maxBriefQuery {
		enc = enc[:maxBriefQuery] + "..."
	}
	if enc == "" {
		return cl.path
	}
	return cl.path + "?" + enc
}

var errBodyTooLarge = errors.New("response body too large")

// do sends cl until it is answered for good and returns the final response or a typed error (*APIError,
// *AuthError, a wrapped network or context error, or the decoder's refusal). Each attempt is a pipeline:
// authorize, wait at the gate, attempt, read (decode), classify, then act on the verdict.
func (c *Client) do(ctx context.Context, cl *call) (*Response, error) {
	p := c.policy()
	var t tries
	throttled := 0
	for {
		tok, gen, err := c.authorize(ctx, cl)
		if err != nil {
			return nil, err
		}
		release, err := c.wait(ctx, cl)
		if err != nil {
			return nil, err
		}
		t.attempts++
		ex := c.attempt(ctx, cl, tok)
		r := &report{call: cl, tries: t}
		out := c.read(ctx, ex, r)
		v := p.classify(r)
		o := c.observe(ex, r, v)
		release(o)
		c.logger.Debug("coupa: request", "method", cl.method, "path", c.redact(cl.brief()),
			"status", o.status, "latency", ex.latency.Round(time.Millisecond), "attempt", t.attempts)
		if o.throttled {
			throttled++
		}
		if out != nil {
			out.RateLimited = throttled
		}
		switch v.step {
		case stepDone:
			// Decoders copy what they keep, so the buffer can serve the next answer.
			putBuf(ex.buf)
			return out, v.err
		case stepReauth:
			t.reauthed = true
			c.auth.invalidate(gen)
			c.logger.Debug("coupa: 401 from API, minting a new token", "method", cl.method, "path", c.redact(cl.brief()))
		case stepRetry:
			t.retries++
			c.stats.retries.Add(1)
			c.logger.Debug("coupa: retrying request", "method", cl.method, "path", c.redact(cl.pathAndQuery()),
				"reason", v.reason, "retry", t.retries, "wait", v.wait)
			if err := sleepCtx(ctx, v.wait); err != nil {
				return out, fmt.Errorf("coupa: %s %s: %w", cl.method, c.redact(cl.brief()), ctx.Err())
			}
		default:
			return out, v.err
		}
	}
}

// authorize returns the bearer token for cl, and its generation so that a 401 invalidates exactly that
// token; none for token requests and API-key auth. It comes before the gate: minting goes through the
// gate itself, and must not wait behind a request that holds a place there.
func (c *Client) authorize(ctx context.Context, cl *call) (tok string, gen uint64, err error) {
	if cl.noAuth || c.auth == nil {
		return "", 0, nil
	}
	return c.auth.token(ctx)
}

// wait holds cl at the client's gate until it may be sent, and returns what to tell the gate after.
func (c *Client) wait(ctx context.Context, cl *call) (func(outcome), error) {
	release, err := c.gate.Wait(ctx)
	switch {
	case err == nil:
		return release, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("coupa: %s %s: %w", cl.method, c.redact(cl.brief()), ctx.Err())
	}
	return nil, fmt.Errorf("coupa: %s %s: rate limiter: %w", cl.method, c.redact(cl.brief()), err)
}

// read fills r with what the exchange gave: the transport failure, or the answer with its 2xx body run
// through cl.decode or its non-2xx status made an *APIError. It returns the Response to hand back, nil
// when no answer came.
func (c *Client) read(ctx context.Context, ex exchange, r *report) *Response {
	if ex.err != nil {
		r.netErr, r.ctxErr = ex.err, ctx.Err()
		return nil
	}
	cl, resp := r.call, ex.resp
	out := &Response{Response: resp, Attempts: r.attempts}
	if d := resp.Header.Get("Date"); d != "" {
		if t, perr := http.ParseTime(d); perr == nil {
			out.Date = t
		}
	}
	r.resp, r.body = resp, ex.buf.Bytes()
	switch {
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		r.apiErr = checkResponse(resp, r.body, cl.method, c.redact(cl.brief()), c.redact)
	case cl.decode != nil:
		r.decodeErr = cl.decode(r.body)
	}
	return out
}

// observe counts the attempt and says how it went, for the gate.
func (c *Client) observe(ex exchange, r *report, v verdict) outcome {
	o := outcome{latency: ex.latency}
	if ex.resp != nil {
		o.status = ex.resp.StatusCode
	}
	if o.status == http.StatusTooManyRequests {
		o.throttled = true
		c.stats.rateLimited.Add(1)
		if r.apiErr != nil {
			o.retryAfter = r.apiErr.RetryAfter
		}
	}
	if v.step == stepRetry {
		o.retryIn = v.wait
	}
	return o
}

// bufPool recycles response buffers: a list page is about 100 KB, and reading each into a fresh slice
// that doubles as it grows was a tenth of the client's allocations in a sync.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuf keeps an unusually large answer's buffer from being held by the pool for the process's life.
const maxPooledBuf = 4 << 20

func putBuf(b *bytes.Buffer) {
	if b == nil || b.Cap() > maxPooledBuf {
		return
	}
	b.Reset()
	bufPool.Put(b)
}

// exchange is one HTTP request and its answer, read in full: resp and buf, or err.
type exchange struct {
	resp    *http.Response // its Body is read and closed
	buf     *bytes.Buffer  // the body, in a pooled buffer
	err     error
	latency time.Duration
}

// attempt makes exactly one HTTP exchange and reads the whole (bounded) body within the attempt timeout.
// The body comes in a pooled buffer; the caller may hand it back with putBuf once nothing refers to it.
func (c *Client) attempt(ctx context.Context, cl *call, tok string) exchange {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.base
	u.Path = cl.path
	if len(cl.query) > 0 {
		u.RawQuery = cl.query.Encode()
	}
	var rd io.Reader
	if cl.body != nil {
		rd = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u.String(), rd)
	if err != nil {
		return exchange{err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if cl.body != nil {
		ct := cl.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	switch {
	case cl.basicUser != "":
		req.SetBasicAuth(url.QueryEscape(cl.basicUser), url.QueryEscape(cl.basicPass))
	case cl.noAuth:
	case tok != "":
		req.Header.Set("Authorization", "Bearer "+tok)
	case c.apiKey != "":
		req.Header.Set("X-COUPA-API-KEY", c.apiKey)
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	c.stats.requests.Add(1)
	if err != nil {
		latency := time.Since(start)
		c.stats.latency.Add(int64(latency))
		return exchange{err: err, latency: latency}
	}
	defer resp.Body.Close()
	buf := bufPool.Get().(*bytes.Buffer)
	if n := resp.ContentLength; n > 0 && n <= c.maxBody {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, c.maxBody+1))
	latency := time.Since(start)
	c.stats.latency.Add(int64(latency))
	c.stats.bytes.Add(int64(buf.Len()))
	if err == nil && int64(buf.Len()) > c.maxBody {
		err = errBodyTooLarge
	}
	if err != nil {
		putBuf(buf)
		return exchange{err: err, latency: latency}
	}
	resp.Body = http.NoBody
	return exchange{resp: resp, buf: buf, latency: latency}
}

// backoff is exponential with full jitter: uniform in [0, min(cap, base*2^n)], so that many clients
// that failed together do not retry together.
func (c *Client) backoff(n int) time.Duration {
	ceil := c.backoffBase
	for i := 0; i < n && ceil < c.backoffCap; i++ {
		ceil *= 2
	}
	if ceil > c.backoffCap {
		ceil = c.backoffCap
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// netError is a transport failure with a one-line, secret-free message; Unwrap keeps the cause.
type netError struct {
	msg string
	err error
}

func (e *netError) Error() string { return e.msg }
func (e *netError) Unwrap() error { return e.err }

// redirectError refuses a redirect that would carry credentials to another host.
type redirectError struct{ from, to string }

func (e *redirectError) Error() string {
	return fmt.Sprintf("Coupa redirected from %s to another host (%s); refusing to follow it with credentials; use the instance's own host name", e.from, e.to)
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	orig := via[0].URL
	if !strings.EqualFold(req.URL.Host, orig.Host) || (orig.Scheme == "https" && req.URL.Scheme != "https") {
		return &redirectError{from: orig.Host, to: req.URL.Host}
	}
	return nil
}

// buildHTTPClient copies the caller's client (or makes one) and applies proxy, CA bundle and the
// redirect policy. The per-attempt timeout is a context deadline, not http.Client.Timeout.
func buildHTTPClient(cfg Config) (*http.Client, error) {
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	own := hc.Transport == nil
	if own {
		hc.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if tr, ok := hc.Transport.(*http.Transport); ok && (own || cfg.Proxy != "" || cfg.CAFile != "") {
		if !own {
			tr = tr.Clone()
			hc.Transport = tr
		}
		if cfg.Proxy != "" {
			p := cfg.Proxy
			if !strings.Contains(p, "://") {
				p = "http://" + p
			}
			pu, err := url.Parse(p)
			if err != nil || pu.Host == "" {
				return nil, errors.New("coupa: proxy is not a valid URL; give one like http://proxy.example.com:3128")
			}
			tr.Proxy = http.ProxyURL(pu)
		} else if own {
			tr.Proxy = http.ProxyFromEnvironment
		}
		if cfg.CAFile != "" {
			pool, err := loadCAFile(cfg.CAFile)
			if err != nil {
				return nil, err
			}
			tc := &tls.Config{MinVersion: tls.VersionTLS12}
			if tr.TLSClientConfig != nil {
				tc = tr.TLSClientConfig.Clone()
			}
			tc.RootCAs = pool
			tr.TLSClientConfig = tc
		}
	}
	hc.CheckRedirect = checkRedirect
	return &hc, nil
}

// loadCAFile adds the PEM certificates of path to the system roots, so that a private CA or a
// TLS-inspecting proxy can be trusted without losing the public ones.
func loadCAFile(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("coupa: cannot read CA bundle %s: %v; check --ca-file", path, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("coupa: CA bundle %s holds no PEM certificate; give a file with -----BEGIN CERTIFICATE----- blocks", path)
	}
	return pool, nil
}
