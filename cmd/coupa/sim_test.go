package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/sim"
)

func defaultSimFlags() simFlags {
	return simFlags{addr: "127.0.0.1:0", seed: 1, scale: 200, rate: 25, burst: 20, churn: "0",
		validationStatus: 400, tokenTTL: 24 * time.Hour}
}

func TestSimOptions(t *testing.T) {
	f := defaultSimFlags()
	f.latency = "20ms-200ms"
	f.faults = "500=0.01,503=0.02,429=0.03,reset=0.001,truncate=0.002,slow=0.01,slow-by=3s"
	f.churn = "5/s"
	f.clients = []string{"ap:pw:core.invoice.read,core.supplier.read"}
	o, err := simOptions(f)
	if err != nil {
		t.Fatal(err)
	}
	want := sim.Faults{Error500: 0.01, Error503: 0.02, RateLimit: 0.03, Reset: 0.001, Truncate: 0.002, SlowBody: 0.01, SlowBodyBy: 3 * time.Second}
	if o.Faults != want || o.Latency != 20*time.Millisecond || o.LatencyJitter != 180*time.Millisecond || o.Churn != 5 {
		t.Fatalf("options %+v", o)
	}
	if len(o.Clients) != 2 || o.Clients[1].ID != "ap" || strings.Join(o.Clients[1].Scopes, " ") != "core.invoice.read core.supplier.read" {
		t.Fatalf("clients %+v", o.Clients)
	}
	dir := t.TempDir()
	yml := filepath.Join(dir, "clients.yaml")
	os.WriteFile(yml, []byte("clients:\n  - id: hr\n    secret: s\n    scopes: [core.user.read]\n"), 0o600)
	f = defaultSimFlags()
	f.clientsFile = yml
	if o, err := simOptions(f); err != nil || len(o.Clients) != 2 || o.Clients[1].ID != "hr" {
		t.Fatalf("clients file: %+v %v", o.Clients, err)
	}
	bad := []func(*simFlags){
		func(f *simFlags) { f.latency = "soon" },
		func(f *simFlags) { f.latency = "200ms-20ms" },
		func(f *simFlags) { f.faults = "500" },
		func(f *simFlags) { f.faults = "500=2" },
		func(f *simFlags) { f.faults = "teapot=0.1" },
		func(f *simFlags) { f.churn = "often" },
		func(f *simFlags) { f.scale = 0 },
		func(f *simFlags) { f.rate = 0 },
		func(f *simFlags) { f.validationStatus = 500 },
		func(f *simFlags) { f.tz = "Mars/Olympus" },
		func(f *simFlags) { f.clients = []string{"id-only-secret-hidden:topsecret"} },
		func(f *simFlags) { f.clientsFile = filepath.Join(dir, "missing.yaml") },
		func(f *simFlags) { f.clients = []string{"ap:topsecret:core.nothing.read"} },
	}
	for i, mutate := range bad {
		f := defaultSimFlags()
		mutate(&f)
		_, err := simOptions(f)
		var ee *exitErr
		if !errors.As(err, &ee) || ee.code != exitUsage {
			t.Errorf("case %d: want a usage error, got %v", i, err)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("case %d: error leaks a secret: %v", i, err)
		}
	}
}

// TestSimCommand runs the real binary over TLS, uses it with a limited client, and stops it with SIGTERM.
func TestSimCommand(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "sim.pem")
	cmd := exec.Command(coupaBin, "sim", "--addr", "127.0.0.1:0", "--tls", "--cert-file", cert,
		"--client", "ap:pw:core.invoice.read", "--scale", "50")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	var printed []string
	addr := regexp.MustCompile(`listening on (https://\S+)`)
	var base string
	for base == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("sim exited early: %v", printed)
			}
			printed = append(printed, l)
			if m := addr.FindStringSubmatch(l); m != nil {
				base = m[1]
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("sim printed no address: %v", printed)
		}
	}
	// The rest of the banner: default client and the hint.
	for len(printed) < 4 {
		printed = append(printed, <-lines)
	}
	banner := strings.Join(printed, "\n")
	for _, want := range []string{"default client: id coupa-sim secret coupa-sim-secret", "COUPA_HOST=" + base, "COUPA_CA_FILE=" + cert} {
		if !strings.Contains(banner, want) {
			t.Fatalf("banner lacks %q:\n%s", want, banner)
		}
	}
	pemBytes, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("certificate file is not PEM")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.PostForm(base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"ap"}, "client_secret": {"pw"}})
	if err != nil {
		t.Fatalf("token over TLS with the written certificate: %v", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	get := func(p string) int {
		req, _ := http.NewRequest("GET", base+p, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Accept", "application/json")
		r, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if c := get("/api/invoices"); c != 200 {
		t.Fatalf("invoices with core.invoice.read: %d", c)
	}
	if c := get("/api/users"); c != 403 {
		t.Fatalf("users without core.user.read: %d", c)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sim did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sim did not stop on SIGTERM")
	}
	if !strings.Contains(strings.Join(rest, "\n"), "coupa sim stopped") {
		t.Fatalf("no shutdown message: %v", rest)
	}
}
