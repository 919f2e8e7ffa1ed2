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
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
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
	// decode is applied to a 2xx body. On GET a failure is treated as a truncated answer and retried.
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

// do sends cl through the rate limiter, authenticates it, retries what may be retried and returns the
// final response or a typed error (*APIError, *AuthError, or a wrapped network or context error).
func (c *Client) do(ctx context.Context, cl *call) (*Response, error) {
	retries := 0
	attempts := 0
	reauthed := false
	where := func() string { return c.redact(cl.brief()) }
	for {
		if until := c.pauseUntil.Load(); until > 0 {
			if d := time.Until(time.Unix(0, until)); d > 0 {
				if err := sleepCtx(ctx, d); err != nil {
					return nil, fmt.Errorf("coupa: %s %s: %w", cl.method, where(), ctx.Err())
				}
			}
		}
		if err := c.limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("coupa: %s %s: %w", cl.method, where(), ctx.Err())
			}
			return nil, fmt.Errorf("coupa: %s %s: rate limiter: %w", cl.method, where(), err)
		}
		var tok string
		var gen uint64
		if !cl.noAuth && c.auth != nil {
			var err error
			if tok, gen, err = c.auth.token(ctx); err != nil {
				return nil, err
			}
		}
		attempts++
		resp, buf, err := c.attempt(ctx, cl, tok)
		var body []byte
		if buf != nil {
			body = buf.Bytes()
		}

		// retry waits (unless the budget is spent) and reports whether to go round again.
		retry := func(minWait time.Duration, reason string) (bool, error) {
			if retries >= c.maxRetries {
				return false, nil
			}
			wait := c.backoff(retries)
			if minWait > wait {
				wait = minWait
			}
			if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
				c.pauseAll(wait)
			}
			retries++
			c.stats.retries.Add(1)
			c.logger.Debug("coupa: retrying request", "method", cl.method, "path", c.redact(cl.pathAndQuery()),
				"reason", reason, "retry", retries, "wait", wait)
			if err := sleepCtx(ctx, wait); err != nil {
				return false, fmt.Errorf("coupa: %s %s: %w", cl.method, where(), ctx.Err())
			}
			return true, nil
		}

		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("coupa: %s %s: %w", cl.method, where(), ctx.Err())
			}
			var rerr *redirectError
			switch {
			case errors.As(err, &rerr):
				return nil, fmt.Errorf("coupa: %s %s: %w", cl.method, where(), rerr)
			case errors.Is(err, errBodyTooLarge):
				return nil, fmt.Errorf("coupa: %s %s: response larger than %d MiB; ask for fewer records (limit) or fields", cl.method, where(), c.maxBody>>20)
			}
			if cl.retryable && isTransient(err) {
				again, werr := retry(0, shortErr(err))
				if werr != nil {
					return nil, werr
				}
				if again {
					continue
				}
				return nil, &netError{
					msg: fmt.Sprintf("coupa: %s %s: giving up after %d attempts: %s", cl.method, where(), attempts, c.redact(describeNetErr(err, c.timeout))),
					err: err,
				}
			}
			return nil, &netError{
				msg: fmt.Sprintf("coupa: %s %s: %s", cl.method, where(), c.redact(describeNetErr(err, c.timeout))),
				err: err,
			}
		}

		out := &Response{Response: resp, Attempts: attempts}
		if d := resp.Header.Get("Date"); d != "" {
			if t, perr := http.ParseTime(d); perr == nil {
				out.Date = t
			}
		}

		code := resp.StatusCode
		if code >= 200 && code < 300 {
			if cl.decode == nil {
				putBuf(buf)
				return out, nil
			}
			derr := cl.decode(body)
			if derr == nil {
				// Decoders copy what they keep, so the buffer can serve the next answer.
				putBuf(buf)
				return out, nil
			}
			mt := mediaType(resp.Header.Get("Content-Type"))
			if !looksLikeJSON(body) || (mt != "" && !isJSONType(mt) && !strings.HasPrefix(mt, "text/plain")) {
				// A proxy or portal page: the request never reached the API, retrying will not help.
				return out, &APIError{StatusCode: code, Method: cl.method, Path: where(), ContentType: mt,
					Message: nonJSONMessage(mt, []byte(c.redact(string(body))))}
			}
			if cl.method == http.MethodGet && errors.Is(derr, io.ErrUnexpectedEOF) {
				// Only an answer cut short is worth asking for again; complete JSON of the wrong shape
				// would come back the same.
				again, werr := retry(0, "truncated JSON body")
				if werr != nil {
					return out, werr
				}
				if again {
					continue
				}
			}
			return out, &APIError{StatusCode: code, Method: cl.method, Path: where(), ContentType: mt,
				Message: c.redact(jsonProblem(derr, attempts))}
		}

		apiErr := checkResponse(resp, body, cl.method, where(), c.redact)
		switch {
		case code == http.StatusUnauthorized && !cl.noAuth:
			if c.auth == nil {
				return out, &AuthError{StatusCode: code, Message: "Coupa refused the API key (401); check COUPA_API_KEY, and note API keys are deprecated (unsupported from R35): switch to OAuth2 client credentials"}
			}
			if !reauthed {
				// The token may have been revoked or expired early: mint a fresh one and try once more.
				reauthed = true
				c.auth.invalidate(gen)
				c.logger.Debug("coupa: 401 from API, minting a new token", "method", cl.method, "path", where())
				continue
			}
			return out, &AuthError{StatusCode: code, Code: apiErr.OAuthCode,
				Message: fmt.Sprintf("Coupa answered 401 to %s %s even with a fresh token; check that the OAuth2 client is active and its user may use the API", cl.method, where())}
		case code == http.StatusTooManyRequests:
			c.stats.rateLimited.Add(1)
			// A 429 means Coupa did not process the request, so even a POST may be repeated.
			again, werr := retry(apiErr.RetryAfter, "429 rate limited")
			if werr != nil {
				return out, werr
			}
			if again {
				continue
			}
		case retryableStatus(code) && cl.retryable:
			again, werr := retry(apiErr.RetryAfter, fmt.Sprintf("HTTP %d", code))
			if werr != nil {
				return out, werr
			}
			if again {
				continue
			}
		}
		return out, apiErr
	}
}

// looksLikeJSON tells a truncated JSON answer (worth a retry) from a page that is not JSON at all.
func looksLikeJSON(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && (b[0] == '[' || b[0] == '{')
}

// pauseAll holds every request of the client for d from now (never shortening a longer pause).
func (c *Client) pauseAll(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := c.pauseUntil.Load()
		if cur >= until || c.pauseUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
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

// attempt makes exactly one HTTP exchange and reads the whole (bounded) body within the attempt timeout.
// The body comes in a pooled buffer; the caller may hand it back with putBuf once nothing refers to it.
func (c *Client) attempt(ctx context.Context, cl *call, tok string) (*http.Response, *bytes.Buffer, error) {
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
		return nil, nil, err
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
		c.stats.latency.Add(int64(time.Since(start)))
		return nil, nil, err
	}
	defer resp.Body.Close()
	buf := bufPool.Get().(*bytes.Buffer)
	if n := resp.ContentLength; n > 0 && n <= c.maxBody {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, c.maxBody+1))
	c.stats.latency.Add(int64(time.Since(start)))
	c.stats.bytes.Add(int64(buf.Len()))
	if err != nil {
		putBuf(buf)
		return nil, nil, err
	}
	if int64(buf.Len()) > c.maxBody {
		putBuf(buf)
		return nil, nil, errBodyTooLarge
	}
	resp.Body = http.NoBody
	return resp, buf, nil
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

// isTransient reports network failures that a repeat may cure: timeouts, resets, a connection closed
// mid-answer. DNS failures, refused connections and TLS errors are configuration problems: fail fast.
func isTransient(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return false
}

// netError is a transport failure with a one-line, secret-free message; Unwrap keeps the cause.
type netError struct {
	msg string
	err error
}

func (e *netError) Error() string { return e.msg }
func (e *netError) Unwrap() error { return e.err }

func shortErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return oneLine(err.Error())
}

// describeNetErr names the cause of a transport failure and what to check.
func describeNetErr(err error, timeout time.Duration) string {
	cause := shortErr(err)
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("host %s not found (%s); check the host name", dnsErr.Name, cause)
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid):
		return fmt.Sprintf("TLS certificate not trusted (%s); if a private CA or TLS-inspecting proxy is in the way, pass --ca-file", cause)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection refused (%s); check the host, port and any proxy", cause)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s; check the network and proxy, or raise the timeout", timeout)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("timed out (%s); check the network and proxy, or raise the timeout", cause)
	}
	return cause
}

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

// jsonProblem describes a 2xx answer that could not be decoded, telling a cut answer from a wrong one.
func jsonProblem(err error, attempts int) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("the answer is not valid JSON (cut short; attempts: %d): %s; try again, or check any proxy between you and Coupa", attempts, oneLine(err.Error()))
	}
	return fmt.Sprintf("the answer is not valid JSON of the expected shape: %s; check that the host is a Coupa instance", oneLine(err.Error()))
}
