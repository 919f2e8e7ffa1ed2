package temporaltest

import (
	"os"
	"strings"
	"testing"
)

// The version test.sh builds is the one the tests expect; a bump must change both.
func TestWorkerCLIVersionMatchesTestScript(t *testing.T) {
	b, err := os.ReadFile("../../test.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "temporal_cli_version="+CLIVersion+"\n") {
		t.Errorf("test.sh does not build the Temporal CLI %s that temporaltest.CLIVersion names", CLIVersion)
	}
}
