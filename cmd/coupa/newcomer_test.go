package main

import (
	"net"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/coupa"
)

// `coupa sim --addr :4012` listens on every interface; the URL it prints must be one the client accepts
// (http is allowed for loopback only), not http://[::]:4012.
func TestSimPrintsALoopbackURL(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 4012}, "http://127.0.0.1:4012"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 4012}, "http://127.0.0.1:4012"},
		{&net.TCPAddr{Port: 4012}, "http://127.0.0.1:4012"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4010}, "http://127.0.0.1:4010"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 4010}, "http://[::1]:4010"},
	} {
		got := dialURL("http", tc.addr)
		if got != tc.want {
			t.Errorf("%v: %s, want %s", tc.addr, got, tc.want)
		}
		if _, err := coupa.New(coupa.Config{Host: got, ClientID: "id", ClientSecret: "s"}); err != nil {
			t.Errorf("%s: the client refuses it: %v", got, err)
		}
	}
}

// `coupa --version` prints what `coupa version` prints.
func TestVersionFlag(t *testing.T) {
	dir := t.TempDir()
	flag := runCoupa(t, dir, nil, "--version")
	cmd := runCoupa(t, dir, nil, "version")
	if flag.code != 0 || !strings.HasPrefix(flag.stdout, "coupa ") || flag.stdout != cmd.stdout {
		t.Fatalf("--version: %d %q, version: %q", flag.code, flag.stdout, cmd.stdout)
	}
}

// An unknown subcommand under a group exits 64 with the closest name, like one under root.
func TestUnknownSubcommandIsAUsageError(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args    []string
		suggest string
	}{
		{[]string{"access", "reveiw"}, "review"},
		{[]string{"state", "shwo"}, "show"},
		{[]string{"state", "foo"}, ""},
		{[]string{"syncc"}, "sync"},
	} {
		r := runCoupa(t, dir, nil, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "unknown command") || !strings.Contains(r.stderr, tc.suggest) {
			t.Errorf("coupa %v: exit %d, stderr %q; want 64 suggesting %q", tc.args, r.code, r.stderr, tc.suggest)
		}
	}
	// The group alone still shows its help.
	if r := runCoupa(t, dir, nil, "state"); r.code != 0 || !strings.Contains(r.stdout, "reset") {
		t.Errorf("coupa state: exit %d, %q", r.code, r.stdout)
	}
}
