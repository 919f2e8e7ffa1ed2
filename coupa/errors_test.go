package coupa

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCheckResponseShapes(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		errs              map[string][]string
		msg               string
	}{
		{"errors map", "application/json", `{"errors":{"account":["Segment 1 - Cost Center can't be blank"],"currency":["is missing","is invalid"]}}`, 400,
			map[string][]string{"account": {"Segment 1 - Cost Center can't be blank"}, "currency": {"is missing", "is invalid"}},
			"account: Segment 1 - Cost Center can't be blank; currency: is missing; is invalid"},
		{"errors list", "application/json", `{"errors":["No results match","second"]}`, 404,
			map[string][]string{"base": {"No results match", "second"}}, "No results match; second"},
		{"errors string", "application/json", `{"errors":"boom"}`, 422, map[string][]string{"base": {"boom"}}, "boom"},
		{"xml", "application/xml", `<?xml version="1.0" encoding="UTF-8"?><errors><error>This is a sample error.</error><error>Two</error></errors>`, 400,
			map[string][]string{"base": {"This is a sample error.", "Two"}}, "This is a sample error.; Two"},
		{"oauth", "application/json", `{"error":"invalid_scope","error_description":"scope x"}`, 400, nil, "invalid_scope: scope x"},
		{"empty 403", "", ``, 403, nil, "forbidden; the token lacks the scope"},
		{"html 502", "text/html", "<html>\n<title>502 Bad Gateway</title></html>", 502, nil, `non-JSON (text/html) starting "<html> <title>502 Bad Gateway</title></html>"`},
		{"multiline message", "application/json", `{"errors":{"base":["line one\nline two"]}}`, 400, map[string][]string{"base": {"line one line two"}}, "line one line two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			if tc.ctype != "" {
				resp.Header.Set("Content-Type", tc.ctype)
			}
			e := checkResponse(resp, []byte(tc.body), "POST", "/api/invoices", func(s string) string { return s })
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("Message = %q, want it to contain %q", e.Message, tc.msg)
			}
			if fmt.Sprint(e.Errors) != fmt.Sprint(tc.errs) {
				t.Errorf("Errors = %v, want %v", e.Errors, tc.errs)
			}
			if !strings.HasPrefix(e.Error(), fmt.Sprintf("coupa: POST /api/invoices: %d", tc.status)) || strings.Contains(e.Error(), "\n") {
				t.Errorf("Error() = %q", e.Error())
			}
		})
	}
}

func TestCheckResponseRetryAfterAndOAuthCode(t *testing.T) {
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"12"}}}
	e := checkResponse(resp, []byte(`{"error":"slow_down"}`), "GET", "/api/x", func(s string) string { return s })
	if e.RetryAfter != 12*time.Second || e.OAuthCode != "slow_down" {
		t.Errorf("RetryAfter %v OAuthCode %q", e.RetryAfter, e.OAuthCode)
	}
}

func TestErrorHelpers(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("sync invoices: %w", err) }
	nf := wrap(&APIError{StatusCode: 404})
	fb := wrap(&APIError{StatusCode: 403})
	rl := wrap(&APIError{StatusCode: 429})
	un := wrap(&APIError{StatusCode: 401})
	au := wrap(&AuthError{StatusCode: 400, Code: "invalid_client"})
	other := errors.New("x")
	check := func(name string, fn func(error) bool, yes error, no ...error) {
		if !fn(yes) {
			t.Errorf("%s(%v) = false", name, yes)
		}
		for _, n := range no {
			if fn(n) {
				t.Errorf("%s(%v) = true", name, n)
			}
		}
	}
	check("IsNotFound", IsNotFound, nf, fb, rl, au, other, nil)
	check("IsForbidden", IsForbidden, fb, nf, rl, au, other, nil)
	check("IsRateLimited", IsRateLimited, rl, nf, fb, au, other, nil)
	check("IsAuth", IsAuth, au, nf, fb, rl, other, nil)
	check("IsAuth", IsAuth, un)
}
