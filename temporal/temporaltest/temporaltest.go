// Package temporaltest starts a real Temporal dev server (the pinned Temporal CLI's `server start-dev`)
// for a test, on free loopback ports, and stops it when the test ends.
package temporaltest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

// CLIVersion is the Temporal CLI the tests run; ./test.sh builds it from its Go module when missing.
const CLIVersion = "v1.5.1"

// CLIPath is where the Temporal CLI is: $COUPA_TEMPORAL_CLI, else $HOME/.cache/coupa-connector/bin/temporal.
func CLIPath() string {
	if p := os.Getenv("COUPA_TEMPORAL_CLI"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "coupa-connector", "bin", "temporal")
}

// Server is a running dev server.
type Server struct {
	Address   string // host:port of its frontend
	Namespace string
}

// Start runs a dev server until t ends. Without the CLI it skips t, except under CI (CI=true), where it
// fails t: CI must run what it claims to run.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := CLIPath()
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("no Temporal CLI at %s: run ./test.sh, which builds github.com/temporalio/cli/cmd/temporal@%s there (or set COUPA_TEMPORAL_CLI)", bin, CLIVersion)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Ports are picked free, then bound by the server a moment later; another dev server starting at the
	// same time (test binaries run in parallel) may take one first. A server that exits at once is
	// started again on other ports.
	var last error
	for range 3 {
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		last = err
	}
	t.Fatalf("the Temporal dev server did not come up: %v", last)
	return nil
}

// start runs one dev server on free loopback ports and waits for it; its cleanup is registered on t.
func start(t testing.TB, bin string) (*Server, error) {
	port := freePort(t)
	cmd := exec.Command(bin, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", strconv.Itoa(port),
		"--http-port", strconv.Itoa(freePort(t)), "--metrics-port", strconv.Itoa(freePort(t)), "--log-level", "warn")
	out := &Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the Temporal dev server: %v", err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.stop)
	s := &Server{Address: "127.0.0.1:" + strconv.Itoa(port), Namespace: "default"}
	if err := s.wait(p, 90*time.Second); err != nil {
		return nil, fmt.Errorf("%v\n%s", err, out.String())
	}
	return s, nil
}

// process is a running dev server; exited is closed once it has ended, with err its exit status.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// stop interrupts the server, as Ctrl-C would, and kills it if it lingers.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// wait dials until the frontend answers, the server exits, or timeout passes.
func (s *Server) wait(p *process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("it exited: %v", p.err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := client.DialContext(ctx, client.Options{HostPort: s.Address, Namespace: s.Namespace})
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Client is a client of the server, closed when t ends.
func (s *Server) Client(t testing.TB) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.Address, Namespace: s.Namespace})
	if err != nil {
		t.Fatalf("dialing Temporal at %s: %v", s.Address, err)
	}
	t.Cleanup(c.Close)
	return c
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Buffer collects a process's output while a test reads it: the server's for a failure message, a
// worker's for the secrets test. The process writes it from its own goroutines.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
