package coupa

import (
	"net/url"
	"slices"
	"strings"
)

// redacted is what a credential is replaced with.
const redacted = "[redacted]"

// anyTokenLen is the length from which a secret is replaced even inside a longer token.
const anyTokenLen = 12

// redactTokens replaces every whole-token occurrence of each secret (and of its query- and
// path-escaped forms) in s with [redacted], in one pass from left to right. Whole tokens, so that a
// short secret ("a") cannot eat the letters of other words; one pass, so that one secret cannot match
// inside another's replacement ("[redacted]" holds "a" and "red"). At each place the longest form wins.
// A form of anyTokenLen bytes or more is replaced wherever it occurs: text cannot hold it by chance,
// and glued to other characters it is still a leak.
func redactTokens(s string, secrets []string) string {
	var forms []string
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for _, f := range []string{sec, url.QueryEscape(sec), url.PathEscape(sec)} {
			if !slices.Contains(forms, f) {
				forms = append(forms, f)
			}
		}
	}
	if len(forms) == 0 {
		return s
	}
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	var b strings.Builder
	done := 0 // s[:done] is copied or replaced
	for i := 0; i < len(s); {
		f := matchAt(s, i, forms)
		if f == "" {
			i++
			continue
		}
		b.WriteString(s[done:i])
		b.WriteString(redacted)
		i += len(f)
		done = i
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// matchAt returns the longest of forms that occurs at s[i:] as a whole token, or "".
func matchAt(s string, i int, forms []string) string {
	for _, f := range forms {
		if !strings.HasPrefix(s[i:], f) {
			continue
		}
		end := i + len(f)
		if len(f) >= anyTokenLen {
			return f
		}
		// A form that starts (ends) with a word character must not continue a word before (after) it.
		if i > 0 && isWordByte(f[0]) && isWordByte(s[i-1]) {
			continue
		}
		if end < len(s) && isWordByte(f[len(f)-1]) && isWordByte(s[end]) {
			continue
		}
		return f
	}
	return ""
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
