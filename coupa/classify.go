package coupa

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// step is what the request loop does after one attempt.
type step int

const (
	stepDone   step = iota // the answer is in and read; err, if set, is the decoder's refusal of it
	stepRetry              // wait, then send the request again
	stepReauth             // the token was refused: mint a fresh one and send the request again, once
	stepFail               // give up with err
)

// verdict is classify's decision on one attempt.
type verdict struct {
	step   step
	wait   time.Duration // stepRetry: how long to wait before sending again
	reason string        // stepRetry: why, for the log
	err    error         // stepFail; stepDone when the decoder refused the answer
}

func fail(err error) verdict { return verdict{step: stepFail, err: err} }

// policy is what classify knows of the client: its settings and pure helpers, none of its state.
type policy struct {
	maxRetries int
	timeout    time.Duration // named when an attempt got no answer in time
	maxBody    int64         // named when an answer was too large
	oauth      bool          // false for API-key auth, where no new token can cure a 401
	redact     func(string) string
	// backoff is the wait before retry number n+1, when the server asks for none longer.
	backoff func(n int) time.Duration
}

func (c *Client) policy() policy {
	return policy{maxRetries: c.maxRetries, timeout: c.timeout, maxBody: c.maxBody, oauth: c.auth != nil,
		redact: c.redact, backoff: c.backoff}
}

// tries counts what the request loop has done so far for one call.
type tries struct {
	attempts int  // HTTP exchanges made, the one being judged included
	retries  int  // retries made (a fresh token after a 401 is not one)
	reauthed bool // a fresh token was already tried after a 401
}

// report is everything one attempt gave, as classify judges it.
type report struct {
	call *call
	tries
	netErr error // the exchange failed: no answer
	ctxErr error // the call's context error when the exchange failed
	resp   *http.Response
	body   []byte
	apiErr *APIError // a non-2xx answer as an error (checkResponse), with its Retry-After
	// decodeErr is what call.decode made of a 2xx body: nil, a refusal (Refuse), an error wrapping
	// io.ErrUnexpectedEOF (cut short), or any other error (not the expected JSON).
	decodeErr error
}

// classify decides what follows one attempt. It is pure: the loop in do acts on the verdict.
func (p policy) classify(r *report) verdict {
	switch code := r.statusCode(); {
	case r.netErr != nil:
		return p.classifyNetErr(r)
	case code >= 200 && code < 300:
		return p.classifyBody(r)
	default:
		return p.classifyStatus(r)
	}
}

func (r *report) statusCode() int {
	if r.resp == nil {
		return 0
	}
	return r.resp.StatusCode
}

// where names the request in an error: briefly, and without credentials.
func (p policy) where(r *report) string { return p.redact(r.call.brief()) }

// retry is the verdict to send again after at least minWait, or false when the retry budget is spent.
func (p policy) retry(r *report, minWait time.Duration, reason string) (verdict, bool) {
	if r.retries >= p.maxRetries {
		return verdict{}, false
	}
	wait := max(p.backoff(r.retries), minWait)
	return verdict{step: stepRetry, wait: wait, reason: reason}, true
}

func (p policy) classifyNetErr(r *report) verdict {
	err, method := r.netErr, r.call.method
	if r.ctxErr != nil {
		return fail(fmt.Errorf("coupa: %s %s: %w", method, p.where(r), r.ctxErr))
	}
	var rerr *redirectError
	switch {
	case errors.As(err, &rerr):
		return fail(fmt.Errorf("coupa: %s %s: %w", method, p.where(r), rerr))
	case errors.Is(err, errBodyTooLarge):
		return fail(fmt.Errorf("coupa: %s %s: response larger than %d MiB; ask for fewer records (limit) or fields", method, p.where(r), p.maxBody>>20))
	}
	if r.call.retryable && isTransient(err) {
		if v, ok := p.retry(r, 0, shortErr(err)); ok {
			return v
		}
		return fail(&netError{
			msg: fmt.Sprintf("coupa: %s %s: giving up after %d attempts: %s", method, p.where(r), r.attempts, p.redact(describeNetErr(err, p.timeout))),
			err: err,
		})
	}
	return fail(&netError{
		msg: fmt.Sprintf("coupa: %s %s: %s", method, p.where(r), p.redact(describeNetErr(err, p.timeout))),
		err: err,
	})
}

// classifyBody judges a 2xx answer by what the decoder made of it.
func (p policy) classifyBody(r *report) verdict {
	derr := r.decodeErr
	if derr == nil {
		return verdict{step: stepDone}
	}
	var refused *refusal
	if errors.As(derr, &refused) {
		return verdict{step: stepDone, err: refused.err}
	}
	code, method := r.resp.StatusCode, r.call.method
	mt := mediaType(r.resp.Header.Get("Content-Type"))
	if !looksLikeJSON(r.body) || (mt != "" && !isJSONType(mt) && !strings.HasPrefix(mt, "text/plain")) {
		// A proxy or portal page: the request never reached the API, retrying will not help.
		return fail(&APIError{StatusCode: code, Method: method, Path: p.where(r), ContentType: mt,
			Message: nonJSONMessage(mt, []byte(p.redact(string(r.body))))})
	}
	if method == http.MethodGet && errors.Is(derr, io.ErrUnexpectedEOF) {
		// Only an answer cut short is worth asking for again; complete JSON of the wrong shape
		// would come back the same.
		if v, ok := p.retry(r, 0, "truncated JSON body"); ok {
			return v
		}
	}
	return fail(&APIError{StatusCode: code, Method: method, Path: p.where(r), ContentType: mt,
		Message: p.redact(jsonProblem(derr, r.attempts))})
}

// classifyStatus judges a non-2xx answer.
func (p policy) classifyStatus(r *report) verdict {
	code, apiErr := r.resp.StatusCode, r.apiErr
	switch {
	case code == http.StatusUnauthorized && !r.call.noAuth:
		if !p.oauth {
			return fail(&AuthError{StatusCode: code, Message: "Coupa refused the API key (401); check COUPA_API_KEY, and note API keys are deprecated (unsupported from R35): switch to OAuth2 client credentials"})
		}
		if !r.reauthed {
			// The token may have been revoked or expired early: a fresh one is worth one more try.
			return verdict{step: stepReauth}
		}
		return fail(&AuthError{StatusCode: code, Code: apiErr.OAuthCode,
			Message: fmt.Sprintf("Coupa answered 401 to %s %s even with a fresh token; check that the OAuth2 client is active and its user may use the API", r.call.method, p.where(r))})
	case code == http.StatusTooManyRequests:
		// A 429 means Coupa did not process the request, so even a POST may be repeated.
		if v, ok := p.retry(r, apiErr.RetryAfter, "429 rate limited"); ok {
			return v
		}
	case retryableStatus(code) && r.call.retryable:
		if v, ok := p.retry(r, apiErr.RetryAfter, fmt.Sprintf("HTTP %d", code)); ok {
			return v
		}
	}
	return fail(apiErr)
}

// Refuse marks err, returned by a decode function (see ListPageDecode), as the caller's own verdict on an
// answer that is well-formed but that it will not take, a record it cannot store for instance: the
// request is not sent again, and the error given to Refuse comes back as it is, not as an *APIError.
// Refuse(nil) is nil.
func Refuse(err error) error {
	if err == nil {
		return nil
	}
	return &refusal{err: err}
}

// refusal carries the decoder's error through the transport; it reads as that error.
type refusal struct{ err error }

func (e *refusal) Error() string { return e.err.Error() }
func (e *refusal) Unwrap() error { return e.err }

// looksLikeJSON tells a truncated JSON answer (worth a retry) from a page that is not JSON at all.
func looksLikeJSON(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && (b[0] == '[' || b[0] == '{')
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
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

// jsonProblem describes a 2xx answer that could not be decoded, telling a cut answer from a wrong one.
func jsonProblem(err error, attempts int) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("the answer is not valid JSON (cut short; attempts: %d): %s; try again, or check any proxy between you and Coupa", attempts, oneLine(err.Error()))
	}
	return fmt.Sprintf("the answer is not valid JSON of the expected shape: %s; check that the host is a Coupa instance", oneLine(err.Error()))
}
