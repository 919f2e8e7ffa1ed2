package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/coupa-connector/coupa-connector/internal/pgtest"
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
	code := pgtest.Run(m) // PostgreSQL starts only if a test asks for a database
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
