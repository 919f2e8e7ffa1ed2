package gcpolicy

import (
	"runtime/debug"
	"testing"
)

func TestPoliciesSetGOGCUnlessTheEnvironmentDoes(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	Connector()
	if got := debug.SetGCPercent(100); got != 400 {
		t.Errorf("Connector: GOGC = %d, want 400", got)
	}
	if got := debug.SetMemoryLimit(-1); got != connectorSoftLimit {
		t.Errorf("Connector: memory limit = %d, want %d", got, connectorSoftLimit)
	}
	Simulator()
	if got := debug.SetGCPercent(100); got != 200 {
		t.Errorf("Simulator: GOGC = %d, want 200", got)
	}

	// An operator's GOGC is the runtime's business: the policy must leave it alone.
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(150)
	debug.SetMemoryLimit(1 << 30)
	Connector()
	Simulator()
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("with GOGC set: GOGC = %d, want 150 (left alone)", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("with GOMEMLIMIT set: limit = %d, want 1 GiB (left alone)", got)
	}
}
