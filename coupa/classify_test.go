package coupa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The requests, histories and answers the classify table is made of.
var (
	listCall        = &call{method: http.MethodGet, path: "/api/invoices", query: url.Values{"limit": {"50"}}, retryable: true}
	createCall      = &call{method: http.MethodPost, path: "/api/invoices"}
	tokenCall       = &call{method: http.MethodPost, path: "/oauth2/token", retryable: true, noAuth: true}
	firstTry        = tries{attempts: 1}
	budgetSpent     = tries{attempts: 3, retries: 2} // the table's policy allows 2 retries
	cutShort        = fmt.Errorf("invalid JSON at offset 8: %w", io.ErrUnexpectedEOF)
	refusedRecord   = errors.New("table invoices: record id 7 has no valid updated-at")
	connReset       = &url.Error{Op: "Get", URL: "https://acme.coupahost.com/api/invoices", Err: syscall.ECONNRESET}
	attemptTimedOut = &url.Error{Op: "Get", URL: "https://acme.coupahost.com/api/invoices", Err: context.DeadlineExceeded}
	jsonHeader      = http.Header{"Content-Type": {"application/json"}}
	htmlHeader      = http.Header{"Content-Type": {"text/html; charset=utf-8"}}
)

func retryAfter(secs string) http.Header { return http.Header{"Retry-After": {secs}} }

// classifyCase is one attempt and the verdict classify must give it.
type classifyCase struct {
	name    string
	apiKey  bool // API-key auth instead of OAuth2
	r       *report
	step    step
	wait    time.Duration // stepRetry
	reason  string        // stepRetry
	err     string        // the exact message, when an error is expected
	errType string        // its dynamic type
	errIs   error         // a cause it must keep
	sameErr error         // stepDone: the very error the decoder refused with
}

var classifyCases = []classifyCase{
	{name: "2xx read", r: answered(listCall, firstTry, 200, jsonHeader, `[]`, nil), step: stepDone},
	{name: "2xx cut short on GET is asked again", r: answered(listCall, firstTry, 200, jsonHeader, `[{"id":1`, cutShort),
		step: stepRetry, wait: time.Second, reason: "truncated JSON body"},
	{name: "2xx cut short with the budget spent", r: answered(listCall, budgetSpent, 200, jsonHeader, `[{"id":1`, cutShort), step: stepFail,
		err:     "coupa: GET /api/invoices?limit=50: 200 OK: the answer is not valid JSON (cut short; attempts: 3): invalid JSON at offset 8: unexpected EOF; try again, or check any proxy between you and Coupa",
		errType: "*coupa.APIError"},
	{name: "2xx cut short on POST is not asked again", r: answered(createCall, firstTry, 201, jsonHeader, `{"id":1`, cutShort), step: stepFail,
		err:     "coupa: POST /api/invoices: 201 Created: the answer is not valid JSON (cut short; attempts: 1): invalid JSON at offset 8: unexpected EOF; try again, or check any proxy between you and Coupa",
		errType: "*coupa.APIError"},
	{name: "2xx JSON of the wrong shape", r: answered(listCall, firstTry, 200, nil, `{"id":1}`, errors.New("invalid JSON at offset 0: the answer is not a JSON array")), step: stepFail,
		err:     "coupa: GET /api/invoices?limit=50: 200 OK: the answer is not valid JSON of the expected shape: invalid JSON at offset 0: the answer is not a JSON array; check that the host is a Coupa instance",
		errType: "*coupa.APIError"},
	{name: "2xx portal page", r: answered(listCall, firstTry, 200, htmlHeader, "<html>\n<b>Access denied</b></html>", errors.New("invalid JSON at offset 0")), step: stepFail,
		err:     `coupa: GET /api/invoices?limit=50: 200 OK: the host answered non-JSON (text/html) starting "<html> <b>Access denied</b></html>"; check the host name and any proxy between you and Coupa`,
		errType: "*coupa.APIError"},
	{name: "2xx cut-short JSON served as HTML is a portal, not asked again", r: answered(listCall, firstTry, 200, htmlHeader, `[{"id":1`, cutShort), step: stepFail,
		err:     `coupa: GET /api/invoices?limit=50: 200 OK: the host answered non-JSON (text/html) starting "[{\"id\":1"; check the host name and any proxy between you and Coupa`,
		errType: "*coupa.APIError"},
	{name: "2xx refused by the decoder", r: answered(listCall, firstTry, 200, jsonHeader, `[{"id":7}]`, Refuse(refusedRecord)),
		step: stepDone, sameErr: refusedRecord},
	{name: "401 mints a fresh token once", r: answered(listCall, firstTry, 401, nil, ``, nil), step: stepReauth},
	{name: "401 even with a fresh token", r: answered(listCall, tries{attempts: 2, reauthed: true}, 401, jsonHeader, `{"error":"invalid_token"}`, nil), step: stepFail,
		err:     "coupa: authentication failed: Coupa answered 401 to GET /api/invoices?limit=50 even with a fresh token; check that the OAuth2 client is active and its user may use the API",
		errType: "*coupa.AuthError"},
	{name: "401 with an API key", apiKey: true, r: answered(listCall, firstTry, 401, nil, ``, nil), step: stepFail,
		err:     "coupa: authentication failed: Coupa refused the API key (401); check COUPA_API_KEY, and note API keys are deprecated (unsupported from R35): switch to OAuth2 client credentials",
		errType: "*coupa.AuthError"},
	{name: "401 from the token endpoint is its answer, not a reason to mint", r: answered(tokenCall, firstTry, 401, jsonHeader, `{"error":"invalid_client"}`, nil), step: stepFail,
		err: "coupa: POST /oauth2/token: 401 Unauthorized: invalid_client", errType: "*coupa.APIError"},
	{name: "429 on POST waits as long as Retry-After asks", r: answered(createCall, firstTry, 429, retryAfter("5"), ``, nil),
		step: stepRetry, wait: 5 * time.Second, reason: "429 rate limited"},
	{name: "429 waits the backoff when it is longer", r: answered(listCall, tries{attempts: 2, retries: 1}, 429, retryAfter("1"), ``, nil),
		step: stepRetry, wait: 2 * time.Second, reason: "429 rate limited"},
	{name: "429 with the budget spent", r: answered(listCall, budgetSpent, 429, nil, ``, nil), step: stepFail,
		err: "coupa: GET /api/invoices?limit=50: 429 Too Many Requests: rate limited by Coupa; lower --rate or --concurrency", errType: "*coupa.APIError"},
	{name: "503 retryable, honouring Retry-After", r: answered(listCall, firstTry, 503, retryAfter("3"), ``, nil),
		step: stepRetry, wait: 3 * time.Second, reason: "HTTP 503"},
	{name: "502 retryable", r: answered(listCall, firstTry, 502, nil, ``, nil), step: stepRetry, wait: time.Second, reason: "HTTP 502"},
	{name: "503 on a POST that may not be repeated", r: answered(createCall, firstTry, 503, nil, ``, nil), step: stepFail,
		err: "coupa: POST /api/invoices: 503 Service Unavailable: Coupa server error; try again later", errType: "*coupa.APIError"},
	{name: "503 with the budget spent", r: answered(listCall, budgetSpent, 503, nil, ``, nil), step: stepFail,
		err: "coupa: GET /api/invoices?limit=50: 503 Service Unavailable: Coupa server error; try again later", errType: "*coupa.APIError"},
	{name: "404 is an answer", r: answered(listCall, firstTry, 404, nil, ``, nil), step: stepFail,
		err: "coupa: GET /api/invoices?limit=50: 404 Not Found: not found", errType: "*coupa.APIError"},
	{name: "connection reset", r: failed(listCall, firstTry, connReset, nil), step: stepRetry, wait: time.Second, reason: "connection reset by peer"},
	{name: "connection reset on a POST", r: failed(createCall, firstTry, connReset, nil), step: stepFail,
		err: "coupa: POST /api/invoices: connection reset by peer", errType: "*coupa.netError", errIs: syscall.ECONNRESET},
	{name: "connection reset with the budget spent", r: failed(listCall, budgetSpent, connReset, nil), step: stepFail,
		err: "coupa: GET /api/invoices?limit=50: giving up after 3 attempts: connection reset by peer", errType: "*coupa.netError", errIs: syscall.ECONNRESET},
	{name: "attempt timed out", r: failed(listCall, firstTry, attemptTimedOut, nil), step: stepRetry, wait: time.Second, reason: "context deadline exceeded"},
	{name: "attempt timed out with the budget spent", r: failed(listCall, budgetSpent, attemptTimedOut, nil), step: stepFail,
		err: "coupa: GET /api/invoices?limit=50: giving up after 3 attempts: no answer within 1m0s; check the network and proxy, or raise the timeout", errType: "*coupa.netError"},
	{name: "connection refused fails fast", r: failed(listCall, firstTry, &url.Error{Op: "Get", URL: "x", Err: syscall.ECONNREFUSED}, nil), step: stepFail,
		err: "coupa: GET /api/invoices?limit=50: connection refused (connection refused); check the host, port and any proxy", errType: "*coupa.netError"},
	{name: "redirect to another host", r: failed(listCall, firstTry, &url.Error{Op: "Get", URL: "x", Err: &redirectError{from: "acme.coupahost.com", to: "evil.example"}}, nil), step: stepFail,
		err: "coupa: GET /api/invoices?limit=50: Coupa redirected from acme.coupahost.com to another host (evil.example); refusing to follow it with credentials; use the instance's own host name", errType: "*fmt.wrapError"},
	{name: "body too large", r: failed(listCall, firstTry, errBodyTooLarge, nil), step: stepFail,
		err: "coupa: GET /api/invoices?limit=50: response larger than 64 MiB; ask for fewer records (limit) or fields", errType: "*errors.errorString"},
	{name: "context cancelled", r: failed(listCall, firstTry, &url.Error{Op: "Get", URL: "x", Err: context.Canceled}, context.Canceled), step: stepFail,
		err: "coupa: GET /api/invoices?limit=50: context canceled", errType: "*fmt.wrapError", errIs: context.Canceled},
}

// TestClassify walks every branch of the retry rules: what one attempt gave, and what follows it.
func TestClassify(t *testing.T) {
	for _, tc := range classifyCases {
		t.Run(tc.name, func(t *testing.T) {
			p := policy{maxRetries: 2, timeout: time.Minute, maxBody: 64 << 20, oauth: !tc.apiKey,
				redact:  func(s string) string { return s },
				backoff: func(n int) time.Duration { return time.Duration(n+1) * time.Second }}
			v := p.classify(tc.r)
			if v.step != tc.step || v.wait != tc.wait || v.reason != tc.reason {
				t.Errorf("verdict = step %d wait %v reason %q; want step %d wait %v reason %q", v.step, v.wait, v.reason, tc.step, tc.wait, tc.reason)
			}
			switch {
			case tc.sameErr != nil:
				if v.err != tc.sameErr {
					t.Errorf("err = %#v, want the decoder's own error %#v", v.err, tc.sameErr)
				}
			case tc.err == "":
				if v.err != nil {
					t.Errorf("err = %v, want none", v.err)
				}
			case v.err == nil:
				t.Errorf("err = nil, want %q", tc.err)
			default:
				if v.err.Error() != tc.err {
					t.Errorf("err =\n  %s\nwant\n  %s", v.err, tc.err)
				}
				if typ := fmt.Sprintf("%T", v.err); typ != tc.errType {
					t.Errorf("err is a %s, want %s", typ, tc.errType)
				}
				if tc.errIs != nil && !errors.Is(v.err, tc.errIs) {
					t.Errorf("err %v does not wrap %v", v.err, tc.errIs)
				}
			}
		})
	}
}

// TestClassifyRedacts: a secret the server echoes never reaches the error classify makes of its answer.
func TestClassifyRedacts(t *testing.T) {
	p := policy{maxRetries: 2, timeout: time.Minute, maxBody: 64 << 20, oauth: true,
		redact:  func(s string) string { return strings.ReplaceAll(s, "s3cret", "[redacted]") },
		backoff: func(int) time.Duration { return 0 }}
	get := &call{method: http.MethodGet, path: "/api/invoices", query: url.Values{"q": {"s3cret"}}, retryable: true}
	for _, r := range []*report{
		answered(get, tries{attempts: 1}, 200, http.Header{"Content-Type": {"text/html"}}, "<p>s3cret</p>", errors.New("x")),
		answered(get, tries{attempts: 1}, 200, nil, `{"a":1}`, errors.New("unexpected s3cret")),
		failed(get, tries{attempts: 1}, errors.New("dial s3cret: no route"), nil),
	} {
		if v := p.classify(r); v.err == nil || strings.Contains(v.err.Error(), "s3cret") {
			t.Errorf("err = %v, want one without the secret", v.err)
		}
	}
}

// answered is the report of an attempt that got code, header and body, read as Client.read reads it.
func answered(cl *call, n tries, code int, header http.Header, body string, decodeErr error) *report {
	if header == nil {
		header = http.Header{}
	}
	resp := &http.Response{StatusCode: code, Header: header}
	r := &report{call: cl, tries: n, resp: resp, body: []byte(body)}
	if code < 200 || code >= 300 {
		r.apiErr = checkResponse(resp, r.body, cl.method, cl.brief(), func(s string) string { return s })
	} else {
		r.decodeErr = decodeErr
	}
	return r
}

// failed is the report of an attempt that got no answer.
func failed(cl *call, n tries, err, ctxErr error) *report {
	return &report{call: cl, tries: n, netErr: err, ctxErr: ctxErr}
}

// The decoder's verdict, end to end: a refusal comes back as the decoder's own error after one attempt.
func TestListPageDecodeRefusal(t *testing.T) {
	f := newFakeCoupa(t, 2)
	c := testClient(t, f.srv.URL, nil)
	bad := errors.New("table invoices: record id 2 has no valid updated-at")
	calls := 0
	resp, err := c.ListPageDecode(context.Background(), "invoices", nil, func(body []byte) error {
		calls++
		return Refuse(bad)
	})
	if err != bad {
		t.Errorf("err = %#v, want the decoder's own %#v", err, bad)
	}
	if calls != 1 || f.apiHits.Load() != 1 || resp == nil || resp.Attempts != 1 {
		t.Errorf("decoded %d times, %d requests, response %v; want one of each", calls, f.apiHits.Load(), resp)
	}
	if Refuse(nil) != nil {
		t.Error("Refuse(nil) is not nil")
	}
}
