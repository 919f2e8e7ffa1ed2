package extract_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/postgres"
	"github.com/coupa-connector/coupa-connector/dest/sqlite"
	"github.com/coupa-connector/coupa-connector/extract"
	"github.com/coupa-connector/coupa-connector/extract/extracttest"
	"github.com/coupa-connector/coupa-connector/internal/pgtest"
	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

// warehouse is a destination the tests can read back.
type warehouse interface {
	dest.Destination
	dest.Reader
}

type env struct {
	sim    *sim.Server
	ts     *httptest.Server
	client *coupa.Client
	db     warehouse
}

// TestMain stops the throwaway PostgreSQL the Postgres test starts.
func TestMain(m *testing.M) { pgtest.Main(m) }

func newEnv(t *testing.T, opts sim.Options, scopes []string) *env {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "w.db"), dest.Options{})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return newEnvWith(t, opts, scopes, db)
}

func newEnvWith(t *testing.T, opts sim.Options, scopes []string, db warehouse) *env {
	t.Helper()
	if opts.Rate == 0 {
		opts.Rate = -1
	}
	s, err := sim.New(opts)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	c := s.DefaultClient()
	if scopes == nil {
		scopes = catalog.Scopes(catalog.All())
	}
	client, err := coupa.New(coupa.Config{Host: ts.URL, ClientID: c.ID, ClientSecret: c.Secret, Scopes: scopes,
		Rate: 1e6, Burst: 1000})
	if err != nil {
		t.Fatalf("coupa.New: %v", err)
	}
	return &env{sim: s, ts: ts, client: client, db: db}
}

func (e *env) sync(t *testing.T, tables []*catalog.Table, mod func(*extract.Config)) *extract.Summary {
	t.Helper()
	cfg := extract.Config{Client: e.client, Dest: e.db, Tables: tables, Concurrency: 4}
	if mod != nil {
		mod(&cfg)
	}
	sum, err := extract.Sync(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return sum
}

// assertTruth fails the test with the first differences between the warehouse and the simulator.
func (e *env) assertTruth(t *testing.T, tables []*catalog.Table) {
	t.Helper()
	var all []string
	for _, tb := range tables {
		d, err := extracttest.Diff(context.Background(), e.ts.URL, e.db, tb, 10)
		if err != nil {
			t.Fatalf("comparing %s: %v", tb.Name, err)
		}
		all = append(all, d...)
	}
	if len(all) > 0 {
		if len(all) > 30 {
			all = all[:30]
		}
		t.Fatalf("warehouse differs from the simulator:\n%s", strings.Join(all, "\n"))
	}
}

func requireOK(t *testing.T, sum *extract.Summary) {
	t.Helper()
	if sum.Status != extract.StatusOK {
		for _, ts := range sum.Tables {
			if ts.Status != extract.StatusOK {
				t.Errorf("%s: %s %s", ts.Table, ts.Status, ts.Message)
			}
		}
		t.Fatalf("run status %s", sum.Status)
	}
}

func TestE2EFullIncrementalLateUpdateAndDeletes(t *testing.T) {
	e := newEnv(t, sim.Options{Seed: 7, Scale: 300}, nil)
	fullIncrementalDeletes(t, e)
}

// The same engine into PostgreSQL: the warehouse must equal the truth just the same.
func TestE2EPostgres(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{})
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	e := newEnvWith(t, sim.Options{Seed: 8, Scale: 150}, nil, db)
	fullIncrementalDeletes(t, e)
}

func fullIncrementalDeletes(t *testing.T, e *env) {
	tables := catalog.All()
	sum := e.sync(t, tables, nil)
	requireOK(t, sum)
	e.assertTruth(t, tables)
	full := e.client.Stats().Requests
	var inserted int
	for _, ts := range sum.Tables {
		inserted += ts.New
	}
	if inserted == 0 {
		t.Fatal("the full sync inserted nothing")
	}

	// Changes behind the connector's back: updates, creates, deletes.
	mutate := func(m sim.Mutation) int64 {
		t.Helper()
		id, err := e.sim.Mutate(m)
		if err != nil {
			t.Fatalf("Mutate %+v: %v", m, err)
		}
		return id
	}
	mutate(sim.Mutation{Resource: "invoices", ID: 3, Set: map[string]any{"status": "voided"}})
	mutate(sim.Mutation{Resource: "purchase_orders", ID: 2, Set: map[string]any{"status": "closed"}})
	// Not the supplier's name: invoices carry supplier_name, and Coupa does not bump an invoice's
	// updated-at when its supplier is renamed, so no incremental sync can see that (join on supplier_id).
	mutate(sim.Mutation{Resource: "suppliers", ID: 1, Set: map[string]any{"website": "https://renamed.example.com"}})
	mutate(sim.Mutation{Resource: "users", ID: 4, Set: map[string]any{"active": false}})
	newInvoice := mutate(sim.Mutation{Resource: "invoices", Create: true})
	mutate(sim.Mutation{Resource: "suppliers", Create: true})
	mutate(sim.Mutation{Resource: "invoices", ID: 10, Delete: true})
	mutate(sim.Mutation{Resource: "suppliers", ID: 2, Delete: true})
	// The late update: its updated-at lands before the cursor, but inside the invoices lookback.
	st, err := e.db.LoadState(context.Background(), "invoices")
	if err != nil || st == nil || st.Cursor.IsZero() {
		t.Fatalf("invoices state after the full sync: %+v %v", st, err)
	}
	inv, _ := catalog.Lookup("invoices")
	late := st.Cursor.Add(-inv.Lookback / 2).Format(time.RFC3339)
	mutate(sim.Mutation{Resource: "invoices", ID: 5, Set: map[string]any{"status": "disputed"}, SetUpdatedAt: late})
	simtest.WaitPastChanges(t, e.sim, "invoices", "purchase_orders", "suppliers", "users")

	before := e.client.Stats().Requests
	sum = e.sync(t, tables, nil)
	requireOK(t, sum)
	incremental := e.client.Stats().Requests - before
	t.Logf("requests: full run %d, incremental run %d (%d tables)", full, incremental, len(tables))
	// Proportional to the changes, not to the data: about one probe and one page per table. (A full run of
	// this small data set is itself only a few pages per table, so the bound per table is the telling one.)
	if incremental > int64(3*len(tables)) || incremental >= full {
		t.Fatalf("incremental run took %d requests (full run %d, %d tables): not proportional to the changes", incremental, full, len(tables))
	}
	byName := map[string]extract.TableSummary{}
	for _, ts := range sum.Tables {
		byName[ts.Table] = ts
	}
	if got := byName["invoices"]; got.New != 1 || got.Updated < 2 {
		t.Fatalf("invoices incremental: %+v; want the created one new and the voided and late ones updated", got)
	}
	rows, err := e.db.ReadRows(context.Background(), "invoices")
	if err != nil {
		t.Fatal(err)
	}
	var sawLate, sawNew bool
	for _, r := range rows {
		switch r["id"] {
		case int64(5):
			sawLate = r["status"] == "disputed"
		case newInvoice:
			sawNew = true
		}
	}
	if !sawLate || !sawNew {
		t.Fatalf("late update picked up: %v; created invoice %d present: %v", sawLate, newInvoice, sawNew)
	}

	// Deletes need the reconciliation; after it the warehouse equals the truth again.
	sum = e.sync(t, tables, func(c *extract.Config) { c.ReconcileDeletes = true })
	requireOK(t, sum)
	e.assertTruth(t, tables)
	deleted := 0
	for _, ts := range sum.Tables {
		deleted += ts.Deleted
	}
	if deleted < 2 {
		t.Fatalf("reconciliation marked %d rows deleted, want at least the 2 deleted", deleted)
	}
}

func TestE2EFaultsStillCorrect(t *testing.T) {
	e := newEnv(t, sim.Options{Seed: 11, Scale: 200, TokenTTL: time.Second, Latency: 20 * time.Millisecond,
		Faults: sim.Faults{Error500: 0.04, Error502: 0.03, Error503: 0.03, Reset: 0.03, RateLimit: 0.05}}, nil)
	tables := catalog.All()
	sum := e.sync(t, tables, nil)
	requireOK(t, sum)
	e.assertTruth(t, tables)
	// Tables sync at once, so the run may end within one token's life: the next run outlives it for sure.
	time.Sleep(1100 * time.Millisecond)
	requireOK(t, e.sync(t, tables, nil))
	e.assertTruth(t, tables)
	st := e.client.Stats()
	if st.Retries == 0 || st.TokenMints < 2 {
		t.Fatalf("client stats %+v: the faults and token expiry were not exercised", st)
	}
}

// Whether Coupa sorts a filtered list is uncertain: with each page's records shuffled (the simulator's
// UnsortedPages), a full and an incremental sync still land every record exactly once.
func TestE2EUnsortedPages(t *testing.T) {
	e := newEnv(t, sim.Options{Seed: 5, Scale: 400, UnsortedPages: true}, nil)
	tables := catalog.All()
	requireOK(t, e.sync(t, tables, nil))
	e.assertTruth(t, tables)
	for i := int64(1); i <= 60; i++ {
		m := sim.Mutation{Resource: "invoices", ID: i * 6, Set: map[string]any{"status": "disputed"}}
		if i%3 == 0 {
			m = sim.Mutation{Resource: "invoices", Create: true}
		}
		if _, err := e.sim.Mutate(m); err != nil {
			t.Fatal(err)
		}
	}
	simtest.WaitPastChanges(t, e.sim, "invoices")
	requireOK(t, e.sync(t, tables, nil))
	e.assertTruth(t, tables)
}

func TestE2EMissingScopeSkipsTable(t *testing.T) {
	all := catalog.Scopes(catalog.All())
	granted := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == "core.invoice.read" })
	opts := sim.Options{Seed: 3, Scale: 60, NoRolesEndpoint: true}
	s, err := sim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	def := s.DefaultClient()
	s.Close()
	opts.Clients = []sim.Client{{ID: def.ID, Secret: def.Secret, Scopes: granted}}
	e := newEnv(t, opts, granted)
	tables, err := catalog.Select([]string{"invoices", "roles", "suppliers"})
	if err != nil {
		t.Fatal(err)
	}
	sum := e.sync(t, tables, nil)
	if sum.Status != extract.StatusPartial {
		t.Fatalf("status %s, want partial", sum.Status)
	}
	by := map[string]extract.TableSummary{}
	for _, ts := range sum.Tables {
		by[ts.Table] = ts
	}
	if ts := by["invoices"]; ts.Status != extract.StatusSkipped || !strings.Contains(ts.Message, "core.invoice.read") {
		t.Fatalf("invoices: %+v; want skipped naming the scope", ts)
	}
	if ts := by["roles"]; ts.Status != extract.StatusSkipped || !strings.Contains(ts.Message, "not available") {
		t.Fatalf("roles without an endpoint: %+v; want skipped as not available", ts)
	}
	if ts := by["suppliers"]; ts.Status != extract.StatusOK {
		t.Fatalf("suppliers: %+v", ts)
	}
	sup, _ := catalog.Lookup("suppliers")
	e.assertTruth(t, []*catalog.Table{sup})
}
