package coupa

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// NormalizeHost turns what a user types (acme.coupahost.com, https://acme.coupacloud.com/, a custom
// domain, with or without scheme, path or trailing slash) into the instance base URL
// "https://host[:port]". Plain http is accepted only for loopback hosts, where the simulator runs.
func NormalizeHost(raw string) (string, error) {
	u, err := normalizeHost(raw)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func normalizeHost(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, errors.New("coupa: no host given; set --host or COUPA_HOST (e.g. acme.coupahost.com)")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return nil, fmt.Errorf("coupa: host %q contains spaces; give a host name like acme.coupahost.com", s)
	}
	if !strings.Contains(s, "://") {
		if strings.Contains(s, ":/") || strings.HasPrefix(s, "//") {
			return nil, fmt.Errorf("coupa: host %q is malformed; give a host name like acme.coupahost.com", s)
		}
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		// url's error repeats the input, which might carry user:password; say only what is wrong.
		return nil, errors.New("coupa: host is not a valid URL or host name; give a host name like acme.coupahost.com")
	}
	if u.User != nil {
		return nil, errors.New("coupa: host must not contain a user name or password; pass credentials with --client-id/--client-secret")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return nil, fmt.Errorf("coupa: host %q has scheme %q; Coupa is reached over https (e.g. https://acme.coupahost.com)", raw, u.Scheme)
	}
	hostname := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if hostname == "" {
		return nil, fmt.Errorf("coupa: host %q has no host name; give a host name like acme.coupahost.com", raw)
	}
	port := u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return nil, fmt.Errorf("coupa: host %q has an empty port", raw)
	}
	if port != "" {
		if p, perr := parsePort(port); perr != nil || p == 0 {
			return nil, fmt.Errorf("coupa: host %q has an invalid port %q", raw, port)
		}
	}
	ip := net.ParseIP(hostname)
	if ip == nil {
		if err := validDNSName(hostname); err != nil {
			return nil, fmt.Errorf("coupa: host %q is not a valid host name (%v); give a host name like acme.coupahost.com", raw, err)
		}
		if !strings.Contains(hostname, ".") && hostname != "localhost" {
			return nil, fmt.Errorf("coupa: host %q has no domain; did you mean %s.coupahost.com?", raw, hostname)
		}
	}
	hostport := hostname
	if ip != nil && ip.To4() == nil {
		hostport = "[" + hostname + "]"
	}
	if port != "" {
		hostport = net.JoinHostPort(hostname, port)
	}
	out := &url.URL{Scheme: "https", Host: hostport}
	if scheme == "http" {
		if !isLoopback(hostname, ip) {
			return nil, fmt.Errorf("coupa: http://%s: Coupa requires https; use https://%s", hostport, hostport)
		}
		out.Scheme = "http"
	}
	return out, nil
}

func isLoopback(hostname string, ip net.IP) bool {
	if ip != nil {
		return ip.IsLoopback()
	}
	return hostname == "localhost" || strings.HasSuffix(hostname, ".localhost")
}

func parsePort(s string) (int, error) {
	n := 0
	if len(s) > 5 {
		return 0, errors.New("too long")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int(r-'0')
	}
	if n > 65535 {
		return 0, errors.New("out of range")
	}
	return n, nil
}

// validDNSName checks the letters, digits and hyphens rule of host names (RFC 1123), so that a typo
// such as "acme_coupahost.com" or "acme..com" fails here, not as a confusing DNS error later.
func validDNSName(h string) error {
	if len(h) > 253 {
		return errors.New("longer than 253 characters")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" {
			return errors.New("empty label")
		}
		if len(label) > 63 {
			return errors.New("label longer than 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("label starts or ends with '-'")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("character %q not allowed", r)
			}
		}
	}
	return nil
}
