package coupa

import "testing"

// Redaction replaces whole tokens, once: short secrets cannot mangle the text around them, and one
// secret cannot match inside another's "[redacted]".
func TestRedactWholeTokensOnce(t *testing.T) {
	for _, tc := range []struct {
		secrets []string
		in      string
		want    string
	}{
		{[]string{"a"}, "a bad answer: a", "[redacted] bad answer: [redacted]"},
		{[]string{"secret"}, "client_secret=secret&secretary=secret.", "client_secret=[redacted]&secretary=[redacted]."},
		{[]string{"a", "secret", "red"}, "secret a red redacted", "[redacted] [redacted] [redacted] redacted"},
		{[]string{"e", "d"}, "e d [redacted]", "[redacted] [redacted] [redacted]"},
		{[]string{"p+w/d"}, "client_secret=p%2Bw%2Fd and p+w/d and p+w%2Fd", "client_secret=[redacted] and [redacted] and [redacted]"},
		{[]string{"+x"}, "a+x", "a[redacted]"},
		// Long secrets go wherever they occur, glued to other text or not.
		{[]string{testSecret}, "tok" + testSecret + "x", "tok[redacted]x"},
		{[]string{"abc", "abcdef"}, "abcdef abc", "[redacted] [redacted]"},
		{nil, "nothing to hide", "nothing to hide"},
		{[]string{""}, "empty secret", "empty secret"},
	} {
		if got := redactTokens(tc.in, tc.secrets); got != tc.want {
			t.Errorf("redact(%q) with %q = %q, want %q", tc.in, tc.secrets, got, tc.want)
		}
	}
}
