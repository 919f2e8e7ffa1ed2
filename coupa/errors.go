package coupa

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode"
)

// APIError is any non-2xx answer from Coupa. Use errors.As, or the Is* helpers below.
type APIError struct {
	StatusCode int
	Method     string
	Path       string              // path and query, never credentials
	Errors     map[string][]string // Coupa's {"errors":{"field":["message"]}} body, when present
	Message    string              // readable one-line summary
	RetryAfter time.Duration       // from Retry-After, when present

	// OAuthCode is the "error" member of an OAuth2 error body (invalid_scope, invalid_client, ...).
	OAuthCode string
	// ContentType is the media type the server answered with.
	ContentType string
}

func (e *APIError) Error() string {
	status := http.StatusText(e.StatusCode)
	head := fmt.Sprintf("coupa: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if status != "" {
		head += " " + status
	}
	if e.Message == "" {
		return head
	}
	return head + ": " + e.Message
}

// AuthError is a failure to authenticate: token endpoint refused the client, or 401 after a fresh token.
type AuthError struct {
	StatusCode int
	Code       string // OAuth error code: invalid_client, invalid_scope, ...
	Message    string // one line, with what to do; never contains the secret
}

func (e *AuthError) Error() string {
	if e.Message != "" {
		return "coupa: authentication failed: " + e.Message
	}
	if e.Code != "" {
		return fmt.Sprintf("coupa: authentication failed (%d %s)", e.StatusCode, e.Code)
	}
	return fmt.Sprintf("coupa: authentication failed (HTTP %d)", e.StatusCode)
}

// IsNotFound reports a 404.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsForbidden reports a 403: the token lacks the scope or the user the permission.
func IsForbidden(err error) bool { return hasStatus(err, http.StatusForbidden) }

// IsRateLimited reports a 429 that survived the retry budget.
func IsRateLimited(err error) bool { return hasStatus(err, http.StatusTooManyRequests) }

// IsAuth reports an *AuthError or a 401.
func IsAuth(err error) bool {
	var ae *AuthError
	if errors.As(err, &ae) {
		return true
	}
	return hasStatus(err, http.StatusUnauthorized)
}

func hasStatus(err error, code int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == code
}

// checkResponse is the one place a non-2xx answer becomes an *APIError. body is what was read of the
// response; redact removes any credential a hostile or buggy server might echo back.
func checkResponse(resp *http.Response, body []byte, method, path string, redact func(string) string) *APIError {
	// Redact before anything is cut to a snippet, or a truncated secret would slip through.
	body = []byte(redact(string(body)))
	e := &APIError{
		StatusCode:  resp.StatusCode,
		Method:      method,
		Path:        path,
		RetryAfter:  parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		ContentType: mediaType(resp.Header.Get("Content-Type")),
	}
	parseErrorBody(e, body)
	if e.Message == "" && len(bytes.TrimSpace(body)) > 0 && !isJSONType(e.ContentType) && !isXMLType(e.ContentType) {
		e.Message = nonJSONMessage(e.ContentType, body)
	}
	if e.Message == "" {
		e.Message = statusHint(resp.StatusCode)
	}
	e.Message = redact(oneLine(e.Message))
	for k, msgs := range e.Errors {
		for i := range msgs {
			msgs[i] = redact(oneLine(msgs[i]))
		}
		e.Errors[k] = msgs
	}
	return e
}

// parseErrorBody understands the shapes Coupa and OAuth servers use: {"errors":{"field":["msg"]}},
// {"errors":["msg"]}, {"errors":"msg"}, {"error":"code","error_description":"..."} and XML <errors><error>.
func parseErrorBody(e *APIError, body []byte) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return
	}
	switch trimmed[0] {
	case '{':
		var doc map[string]json.RawMessage
		if json.Unmarshal(trimmed, &doc) != nil {
			return
		}
		if raw, ok := doc["errors"]; ok {
			e.Errors = decodeErrorsMember(raw)
		}
		if raw, ok := doc["error"]; ok {
			var code string
			if json.Unmarshal(raw, &code) == nil {
				e.OAuthCode = code
			} else if m := decodeErrorsMember(raw); len(m) > 0 && e.Errors == nil {
				e.Errors = m
			}
		}
		var desc string
		if raw, ok := doc["error_description"]; ok {
			_ = json.Unmarshal(raw, &desc)
		}
		var msg string
		if raw, ok := doc["message"]; ok {
			_ = json.Unmarshal(raw, &msg)
		}
		switch {
		case len(e.Errors) > 0:
			e.Message = summarizeErrors(e.Errors)
		case desc != "" && e.OAuthCode != "":
			e.Message = e.OAuthCode + ": " + desc
		case desc != "":
			e.Message = desc
		case e.OAuthCode != "":
			e.Message = e.OAuthCode
		case msg != "":
			e.Message = msg
		}
	case '[':
		if m := decodeErrorsMember(trimmed); len(m) > 0 {
			e.Errors = m
			e.Message = summarizeErrors(m)
		}
	case '<':
		var doc struct {
			XMLName xml.Name
			Errors  []string `xml:"error"`
		}
		if xml.Unmarshal(trimmed, &doc) == nil && doc.XMLName.Local == "errors" && len(doc.Errors) > 0 {
			msgs := make([]string, 0, len(doc.Errors))
			for _, m := range doc.Errors {
				if m = strings.TrimSpace(m); m != "" {
					msgs = append(msgs, m)
				}
			}
			if len(msgs) > 0 {
				e.Errors = map[string][]string{"base": msgs}
				e.Message = summarizeErrors(e.Errors)
			}
		}
	}
}

// decodeErrorsMember accepts a map of field -> message(s), a list of messages, or one message.
// Messages without a field go under "base", Rails' name for errors of the whole object.
func decodeErrorsMember(raw json.RawMessage) map[string][]string {
	var asMap map[string]json.RawMessage
	if json.Unmarshal(raw, &asMap) == nil {
		out := make(map[string][]string, len(asMap))
		for k, v := range asMap {
			if msgs := decodeMessages(v); len(msgs) > 0 {
				out[k] = msgs
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	if msgs := decodeMessages(raw); len(msgs) > 0 {
		return map[string][]string{"base": msgs}
	}
	return nil
}

func decodeMessages(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil
		}
		return []string{one}
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		var out []string
		for _, item := range list {
			var s string
			if json.Unmarshal(item, &s) == nil {
				if s != "" {
					out = append(out, s)
				}
				continue
			}
			// An object inside the list, e.g. {"message": "..."}: keep it readable as compact JSON.
			var obj map[string]any
			if json.Unmarshal(item, &obj) == nil {
				if m, ok := obj["message"].(string); ok {
					out = append(out, m)
					continue
				}
			}
			out = append(out, string(item))
		}
		return out
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return []string{n.String()}
	}
	return nil
}

func summarizeErrors(m map[string][]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		msg := strings.Join(m[k], "; ")
		if k == "base" || k == "" {
			parts = append(parts, msg)
		} else {
			parts = append(parts, k+": "+msg)
		}
	}
	return strings.Join(parts, "; ")
}

func statusHint(code int) string {
	switch code {
	case http.StatusUnauthorized:
		return "credentials refused; check the client id and secret (or API key)"
	case http.StatusForbidden:
		return "forbidden; the token lacks the scope for this resource or the API user lacks the permission"
	case http.StatusNotFound:
		return "not found"
	case http.StatusTooManyRequests:
		return "rate limited by Coupa; lower --rate or --concurrency"
	}
	if code >= 500 {
		return "Coupa server error; try again later"
	}
	return ""
}

// nonJSONMessage describes an answer that is not Coupa's JSON: typically a proxy's or load balancer's
// HTML page, which means the request never reached the Coupa API.
func nonJSONMessage(contentType string, body []byte) string {
	if contentType == "" {
		contentType = "no content type"
	}
	return fmt.Sprintf("the host answered non-JSON (%s) starting %q; check the host name and any proxy between you and Coupa",
		contentType, snippet(body, 80))
}

// snippet returns the first n printable characters of b on one line, so that a hostile body cannot
// inject lines or terminal escapes into logs.
func snippet(b []byte, n int) string {
	var sb strings.Builder
	space := false
	for _, r := range string(b) {
		if sb.Len() >= n {
			sb.WriteString("...")
			break
		}
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			if !space && sb.Len() > 0 {
				sb.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		sb.WriteRune(r)
	}
	return strings.TrimSpace(sb.String())
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

func mediaType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	}
	return mt
}

func isJSONType(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/json"
}

func isXMLType(mt string) bool {
	return mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml")
}

// parseRetryAfter reads delay-seconds or an HTTP date; zero when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var secs int64
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && fmt.Sprint(secs) == v {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
