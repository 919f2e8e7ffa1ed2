package sim

import (
	"errors"
	"strings"
	"time"
)

// ParseLatency reads a latency setting as `coupa sim --latency` takes it: a duration ("300ms") or a
// range ("20ms-200ms"), optionally followed by a cost per record returned ("300ms+10ms/record"). It
// returns Options.Latency, Options.LatencyJitter and Options.LatencyPerRecord.
func ParseLatency(spec string) (base, jitter, perRecord time.Duration, err error) {
	fixed, per, hasPer := strings.Cut(strings.TrimSpace(spec), "+")
	if hasPer {
		d, ok := strings.CutSuffix(strings.TrimSpace(per), "/record")
		if perRecord, err = time.ParseDuration(d); !ok || err != nil || perRecord < 0 {
			return 0, 0, 0, errors.New("the per-record cost must look like +10ms/record")
		}
	}
	if fixed == "" && hasPer {
		return 0, 0, perRecord, nil
	}
	lo, hi, isRange := strings.Cut(fixed, "-")
	if base, err = time.ParseDuration(strings.TrimSpace(lo)); err != nil || base < 0 {
		return 0, 0, 0, errors.New("use a duration such as 50ms or a range such as 20ms-200ms, optionally followed by +10ms/record")
	}
	if isRange {
		top, err := time.ParseDuration(strings.TrimSpace(hi))
		if err != nil || top < base {
			return 0, 0, 0, errors.New("the range must be low-high, e.g. 20ms-200ms")
		}
		jitter = top - base
	}
	return base, jitter, perRecord, nil
}
