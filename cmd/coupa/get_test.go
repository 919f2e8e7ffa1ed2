package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

func TestGet(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 5})
	env := simtest.Env(s, ts)
	sup := snapshot(t, s, "suppliers")[2]
	res := runCoupa(t, t.TempDir(), env, "get", "suppliers", at(sup, "id"))
	var got map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil || res.code != 0 {
		t.Fatalf("get: exit %d, %v: %s %s", res.code, err, res.stdout, res.stderr)
	}
	if at(got, "name") != at(sup, "name") || at(got, "number") != at(sup, "number") {
		t.Errorf("get = %v, want the record of %s", got, at(sup, "name"))
	}
	res = runCoupa(t, t.TempDir(), env, "get", "suppliers", "999999")
	if res.code != exitError || !strings.Contains(res.stderr, "suppliers 999999 does not exist") {
		t.Errorf("missing id: exit %d, %q", res.code, res.stderr)
	}
}

func TestGetFieldsAsCSV(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 6})
	sup := snapshot(t, s, "suppliers")[0]
	res := runCoupa(t, t.TempDir(), simtest.Env(s, ts), "get", "suppliers", at(sup, "id"), "--fields", "id,name,primary_contact.email", "-o", "csv")
	want := "id,name,primary-contact.email\n" + at(sup, "id") + "," + at(sup, "name") + "," + at(sup, "primary-contact.email") + "\n"
	if res.code != 0 || res.stdout != want {
		t.Errorf("exit %d, stdout %q, want %q (%s)", res.code, res.stdout, want, res.stderr)
	}
}
