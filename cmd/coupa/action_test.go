package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// first returns the first record of resource whose field has the given value.
func first(t *testing.T, s *sim.Server, resource, field, value string) map[string]any {
	t.Helper()
	for _, r := range snapshot(t, s, resource) {
		if at(r, field) == value {
			return r
		}
	}
	t.Fatalf("the simulator has no %s with %s=%s", resource, field, value)
	return nil
}

func byID(t *testing.T, s *sim.Server, resource, id string) map[string]any {
	t.Helper()
	return first(t, s, resource, "id", id)
}

func TestActions(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 21})
	env := simtest.Env(s, ts)
	dir := t.TempDir()

	inv := at(first(t, s, "invoices", "status", "approved"), "id")
	res := runCoupa(t, dir, env, "action", "invoices", inv, "void")
	var rec map[string]any
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &rec) != nil {
		t.Fatalf("void: exit %d: %s %s", res.code, res.stdout, res.stderr)
	}
	if got := at(byID(t, s, "invoices", inv), "status"); got != "voided" {
		t.Errorf("invoice %s status after void = %q", inv, got)
	}

	// Coupa refuses to void a voided invoice: the message reaches the user, exit 1.
	res = runCoupa(t, dir, env, "action", "invoices", inv, "void")
	if res.code != exitError || !strings.Contains(res.stderr, "422") && !strings.Contains(res.stderr, "400") {
		t.Errorf("void twice: exit %d, %q", res.code, res.stderr)
	}

	ap := at(first(t, s, "approvals", "status", "pending"), "id")
	res = runCoupa(t, dir, env, "action", "approvals", ap, "approve")
	if res.code != 0 || at(byID(t, s, "approvals", ap), "status") != "approved" {
		t.Errorf("approve: exit %d, status %q: %s", res.code, at(byID(t, s, "approvals", ap), "status"), res.stderr)
	}

	exp := at(first(t, s, "invoices", "exported", "false"), "id")
	res = runCoupa(t, dir, env, "action", "invoices", exp, "mark-exported")
	if res.code != 0 || at(byID(t, s, "invoices", exp), "exported") != "true" {
		t.Errorf("mark-exported: exit %d, exported %q: %s", res.code, at(byID(t, s, "invoices", exp), "exported"), res.stderr)
	}

	writeFile(t, dir, "reason.json", `{"dispute-reason":{"code":"INCORRECT-QUANTITY"}}`)
	disp := at(first(t, s, "invoices", "status", "approved"), "id")
	res = runCoupa(t, dir, env, "action", "invoices", disp, "dispute", "-f", "reason.json")
	if res.code != 0 || at(byID(t, s, "invoices", disp), "status") != "disputed" {
		t.Errorf("dispute with payload: exit %d: %s", res.code, res.stderr)
	}

	res = runCoupa(t, dir, env, "action", "invoices", "999999", "void")
	if res.code != exitError || !strings.Contains(res.stderr, "invoices 999999 does not exist") {
		t.Errorf("missing id: exit %d, %q", res.code, res.stderr)
	}
}
