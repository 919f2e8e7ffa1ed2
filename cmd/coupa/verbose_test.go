package main

import (
	"regexp"
	"testing"

	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// -v logs every request a person may need to see why something is slow or fails: method, path, status,
// latency and which attempt it was; the secret is in none of it.
func TestVerboseLogsEveryRequest(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 3, Scale: 20})
	res := runCoupa(t, t.TempDir(), simtest.Env(s, ts), "-v", "query", "suppliers", "--limit", "1")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	line := regexp.MustCompile(`msg="coupa: request" method=GET path="?/api/suppliers\S* status=200 latency=\S+ attempt=1`)
	if !line.MatchString(res.stderr) {
		t.Errorf("no request line in -v output:\n%s", res.stderr)
	}
	token := regexp.MustCompile(`msg="coupa: request" method=POST path="?/oauth2/token\S* status=200`)
	if !token.MatchString(res.stderr) {
		t.Errorf("the token request is not logged:\n%s", res.stderr)
	}
	if secret := s.DefaultClient().Secret; regexp.MustCompile(regexp.QuoteMeta(secret)).MatchString(res.stderr) {
		t.Error("the client secret is in the -v output")
	}
}
