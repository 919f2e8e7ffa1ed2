// Package gcpolicy tunes the garbage collector of coupa's processes. The connector and the simulator keep a
// small live heap and make a lot of short-lived garbage, so collecting less often buys CPU with memory they
// have to spare. The binary and the benchmarks apply the same policy, so the benchmarks measure what ships.
package gcpolicy

import (
	"os"
	"runtime/debug"
)

// connectorSoftLimit keeps a sync well under its 200 MB budget whatever GOGC lets the heap grow to.
const connectorSoftLimit = 150 << 20

// Connector sets the policy of a process that syncs: collect at 5x the live heap instead of 2x (a sync's
// live heap is a few pages; this cut the connector's CPU per record by a fifth, and by a third when writing
// to PostgreSQL, in the overhead benchmark), under a soft memory limit. GOGC and GOMEMLIMIT, when set, win.
func Connector() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(connectorSoftLimit)
	}
}

// Simulator sets the policy of a process that serves the simulator: its heap is mostly response garbage,
// so collecting at 3x instead of 2x of it is cheaper per request. GOGC, when set, wins.
func Simulator() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}
