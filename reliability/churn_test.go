package reliability

import (
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// churnResources are the resources the simulator's churn changes.
var churnResources = []string{"invoices", "purchase_orders", "requisitions", "expense_reports", "suppliers", "users", "approvals"}

// TestMovingTarget syncs into SQLite and PostgreSQL while Coupa creates, updates and deletes records
// underneath (a full run, then an incremental one with delete reconciliation, both under churn); once the
// churn stops, one more incremental run with --reconcile-deletes must leave the warehouse equal to the truth.
func TestMovingTarget(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			s, ts := startSim(t, sim.Options{Seed: 55, Scale: 200, Latency: 3 * time.Millisecond, Churn: 40})
			dir := t.TempDir()
			destArg := "sqlite:w.db"
			if backend == "postgres" {
				destArg = pgDest(t)
			}
			env := simtest.Env(s, ts)
			base := []string{"sync", "--dest", destArg, "--rate", "150", "--burst", "10", "-q"}
			for _, args := range [][]string{base, append(base, "--reconcile-deletes")} {
				if r := runCoupa(t, dir, env, args...); r.code != 0 {
					t.Fatalf("sync under churn: exit %d\n%s", r.code, r.stderr)
				}
			}
			s.SetChurn(0)
			churn := s.Stats().Churn
			if churn["create"] == 0 || churn["update"] == 0 || churn["delete"] == 0 {
				t.Fatalf("churn %v: the data did not move in every way during the syncs", churn)
			}
			simtest.WaitPastChanges(t, s, churnResources...)
			if r := runCoupa(t, dir, env, append(base, "--reconcile-deletes")...); r.code != 0 {
				t.Fatalf("final incremental run: exit %d\n%s", r.code, r.stderr)
			}
			diffs := diffTruth(t, ts.URL, destArg, dir, catalog.All())
			t.Logf("FIGURE churn %s: %d creates, %d updates, %d deletes during the syncs; %d rows compared after the final run, differences: %d",
				backend, churn["create"], churn["update"], churn["delete"], truthRows(t, s, catalog.All()), len(diffs))
			if len(diffs) > 0 {
				t.Fatalf("after churn the warehouse differs from the simulator:\n%v", diffs)
			}
		})
	}
}
