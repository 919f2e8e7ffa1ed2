package main

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/coupa-connector/coupa-connector/sim"
)

// coupaBin is the real binary, built once for the end-to-end tests of this package.
var coupaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coupa-bin-")
	if err != nil {
		panic(err)
	}
	coupaBin = filepath.Join(dir, "coupa")
	build := exec.Command("go", "build", "-o", coupaBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("building coupa: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the binary produced.
type result struct {
	stdout, stderr string
	code           int
}

// coupaCommand is the binary set to run in dir with only the given environment (plus PATH and HOME), so
// that the developer's own COUPA_* variables never leak into a test.
func coupaCommand(dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(coupaBin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	return cmd
}

// runCoupa runs coupaCommand to its end.
func runCoupa(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := coupaCommand(dir, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running coupa %v: %v", args, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// startSim serves a simulator over real HTTP on loopback for the duration of the test.
func startSim(t *testing.T, opts sim.Options) (*sim.Server, *httptest.Server) {
	t.Helper()
	s, err := sim.New(opts)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts
}

// simEnv is the environment that points the binary at a simulator with its default client.
func simEnv(s *sim.Server, ts *httptest.Server) []string {
	c := s.DefaultClient()
	return []string{"COUPA_HOST=" + ts.URL, "COUPA_CLIENT_ID=" + c.ID, "COUPA_CLIENT_SECRET=" + c.Secret}
}
