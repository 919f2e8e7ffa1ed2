package access

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/sim"
)

// startSim serves a simulator over real HTTP and returns a client of it.
func startSim(t *testing.T, opts sim.Options) (*sim.Server, *coupa.Client) {
	t.Helper()
	if opts.Rate == 0 {
		opts.Rate = -1
	}
	s, err := sim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	c := s.DefaultClient()
	cl, err := coupa.New(coupa.Config{Host: ts.URL, ClientID: c.ID, ClientSecret: c.Secret, Rate: 1000, Burst: 1000,
		MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	return s, cl
}

// entitlements reads the simulator's ground truth independently of the package under test: one string per
// (user, entitlement).
func entitlements(t *testing.T, s *sim.Server) map[string]bool {
	t.Helper()
	users, err := s.Snapshot("users")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, u := range users {
		id := fmt.Sprint(u["id"])
		for _, k := range []string{"roles", "user-groups", "content-groups"} {
			arr, _ := u[k].([]any)
			for _, x := range arr {
				out[id+" "+k+" "+fmt.Sprint(x.(map[string]any)["id"])] = true
			}
		}
		for _, l := range catalog.Licenses {
			if u[l] == true {
				out[id+" license "+l] = true
			}
		}
		if u["active"] == true {
			out[id+" active"] = true
		}
	}
	return out
}

func diff(before, after map[string]bool) (added, removed []string) {
	for k := range after {
		if !before[k] {
			added = append(added, k)
		}
	}
	for k := range before {
		if !after[k] {
			removed = append(removed, k)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return
}

func puts(s *sim.Server) int64 {
	var n int64
	for ep, codes := range s.Stats().Requests {
		if strings.HasPrefix(ep, "PUT") {
			for _, c := range codes {
				n += c
			}
		}
	}
	return n
}

func TestFetchMatchesSimulatorTruthAcrossPages(t *testing.T) {
	s, cl := startSim(t, sim.Options{Seed: 3, Scale: 700})
	m, err := Fetch(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	users, _ := s.Snapshot("users")
	if len(users) <= 50 || len(m.Users) != len(users) {
		t.Fatalf("fetched %d users, simulator has %d (want more than one page)", len(m.Users), len(users))
	}
	memberships, _ := s.Snapshot("user_group_memberships")
	if len(memberships) <= 50 {
		t.Fatalf("only %d memberships: the test needs more than one page", len(memberships))
	}
	got := 0
	for _, g := range m.Groups {
		got += len(g.Members)
	}
	if got != len(memberships) {
		t.Errorf("model has %d group memberships, simulator %d", got, len(memberships))
	}
	truth := entitlements(t, s)
	mine := map[string]bool{}
	for _, u := range m.Users {
		id := fmt.Sprint(u.ID)
		for _, r := range u.Roles {
			mine[id+" roles "+fmt.Sprint(r.ID)] = true
		}
		for _, r := range u.Groups {
			mine[id+" user-groups "+fmt.Sprint(r.ID)] = true
		}
		for _, r := range u.ContentGroups {
			mine[id+" content-groups "+fmt.Sprint(r.ID)] = true
		}
		for _, l := range u.Licenses {
			mine[id+" license "+l] = true
		}
		if u.Active {
			mine[id+" active"] = true
		}
	}
	if a, r := diff(truth, mine); len(a)+len(r) > 0 {
		t.Errorf("model differs from the simulator: extra %v, missing %v", a, r)
	}
}

func TestReviewFindingsOnSeededData(t *testing.T) {
	s, cl := startSim(t, sim.Options{Seed: 5, Scale: 300})
	mut := func(m sim.Mutation) int64 {
		id, err := s.Mutate(m)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	mut(sim.Mutation{Resource: "users", ID: 5, Set: map[string]any{"active": false, "purchasing-user": true}})
	mut(sim.Mutation{Resource: "users", ID: 6, Set: map[string]any{"email": "Shared@Example.com"}})
	mut(sim.Mutation{Resource: "users", ID: 7, Set: map[string]any{"email": "shared@example.com"}})
	mut(sim.Mutation{Resource: "users", ID: 8, Set: map[string]any{"manager": nil}})
	mut(sim.Mutation{Resource: "users", ID: 9, Set: map[string]any{"api-user": true}})
	mut(sim.Mutation{Resource: "users", ID: 10, Set: map[string]any{"roles": []any{map[string]any{"id": 1}}}})
	loner := mut(sim.Mutation{Resource: "users", Create: true})

	m, err := Fetch(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	rv := NewReview(m, time.Now())

	// Expected findings, computed from the simulator's snapshot with the rules written out again here.
	users, _ := s.Snapshot("users")
	roles, _ := s.Snapshot("roles")
	admin := map[string]bool{}
	for _, r := range roles {
		if r["omnipotent"] == true || strings.Contains(strings.ToLower(fmt.Sprint(r["name"])), "admin") {
			admin[fmt.Sprint(r["id"])] = true
		}
	}
	want := map[string]bool{}
	emails := map[string][]string{}
	licCount := map[string]int{}
	for _, u := range users {
		id := fmt.Sprint(u["id"])
		licensed := false
		for _, l := range catalog.Licenses {
			if u[l] == true {
				licensed = true
				licCount[l]++
			}
		}
		if u["active"] != true && licensed {
			want[FindingInactiveLicensed+" "+id] = true
		}
		for _, r := range u["roles"].([]any) {
			if admin[fmt.Sprint(r.(map[string]any)["id"])] {
				want[FindingAdminRole+" "+id] = true
			}
		}
		if g, _ := u["user-groups"].([]any); len(g) == 0 {
			want[FindingNoGroup+" "+id] = true
		}
		if u["manager"] == nil {
			want[FindingNoManager+" "+id] = true
		}
		if u["api-user"] == true {
			want[FindingAPIUser+" "+id] = true
		}
		e := strings.ToLower(fmt.Sprint(u["email"]))
		emails[e] = append(emails[e], id)
	}
	for _, ids := range emails {
		if len(ids) > 1 {
			for _, id := range ids {
				want[FindingDuplicateEmail+" "+id] = true
			}
		}
	}
	for _, must := range []string{FindingInactiveLicensed + " 5", FindingDuplicateEmail + " 6", FindingDuplicateEmail + " 7",
		FindingNoManager + " 8", FindingAPIUser + " 9", FindingAdminRole + " 10", FindingNoGroup + " " + fmt.Sprint(loner)} {
		if !want[must] {
			t.Fatalf("seeding did not produce %q in the simulator's truth", must)
		}
	}
	got := map[string]bool{}
	for _, f := range rv.Findings {
		got[f.Kind+" "+fmt.Sprint(f.UserID)] = true
	}
	if a, r := diff(want, got); len(a)+len(r) > 0 {
		t.Errorf("findings differ: unexpected %v, missing %v", a, r)
	}
	for _, lc := range rv.Licenses {
		if lc.Users != licCount[lc.License] {
			t.Errorf("license %s: %d users, simulator has %d", lc.License, lc.Users, licCount[lc.License])
		}
	}
	if len(rv.Licenses) != len(catalog.Licenses) {
		t.Errorf("%d license counts, want one per catalog license (%d)", len(rv.Licenses), len(catalog.Licenses))
	}
}

// notHeld picks, for user u, a target of kind that u does not hold.
func notHeld(t *testing.T, m *Model, u User, kind Kind) Ref {
	t.Helper()
	switch kind {
	case KindGroup:
		for _, g := range m.Groups {
			if !hasRef(u.Groups, g.ID) {
				return Ref{ID: g.ID, Name: g.Name}
			}
		}
	case KindRole:
		for _, r := range m.Roles {
			if !hasRef(u.Roles, r.ID) {
				return Ref{ID: r.ID, Name: r.Name}
			}
		}
	case KindContentGroup:
		for _, c := range m.ContentGroups {
			if !hasRef(u.ContentGroups, c.ID) {
				return c
			}
		}
	case KindLicense:
		for _, l := range catalog.Licenses {
			if !slices.Contains(u.Licenses, l) {
				return Ref{Name: l}
			}
		}
	}
	t.Fatalf("user %s holds every %s", u.Login, kind)
	return Ref{}
}

func expectKey(userID int64, kind Kind, target Ref) string {
	id := fmt.Sprint(userID)
	switch kind {
	case KindGroup:
		return id + " user-groups " + fmt.Sprint(target.ID)
	case KindRole:
		return id + " roles " + fmt.Sprint(target.ID)
	case KindContentGroup:
		return id + " content-groups " + fmt.Sprint(target.ID)
	case KindLicense:
		return id + " license " + target.Name
	}
	return id + " active"
}

func TestGrantRevokeChangeExactlyOneMembership(t *testing.T) {
	s, cl := startSim(t, sim.Options{Seed: 7, Scale: 300})
	ctx := context.Background()
	m, err := Fetch(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	audit, err := OpenAuditLog(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	p := &Provisioner{API: cl, Audit: audit, Actor: s.DefaultClient().ID}
	u := m.Users[3]
	for _, kind := range []Kind{KindGroup, KindRole, KindContentGroup, KindLicense} {
		target := notHeld(t, m, u, kind)
		key := expectKey(u.ID, kind, target)
		before := entitlements(t, s)
		out, err := p.Apply(ctx, u.ID, Change{Kind: kind, Op: OpGrant, Target: target})
		if err != nil || out.Result != ResultApplied {
			t.Fatalf("grant %s: %v (%+v)", kind, err, out)
		}
		mid := entitlements(t, s)
		if a, r := diff(before, mid); !slices.Equal(a, []string{key}) || len(r) != 0 {
			t.Fatalf("grant %s changed added=%v removed=%v, want added=[%s] only", kind, a, r, key)
		}
		n := puts(s)
		out, err = p.Apply(ctx, u.ID, Change{Kind: kind, Op: OpGrant, Target: target})
		if err != nil || out.Result != ResultNoop || puts(s) != n {
			t.Fatalf("granting again: result %q err %v, PUTs %d -> %d; want a no-op without a write", out.Result, err, n, puts(s))
		}
		out, err = p.Apply(ctx, u.ID, Change{Kind: kind, Op: OpRevoke, Target: target})
		if err != nil || out.Result != ResultApplied {
			t.Fatalf("revoke %s: %v", kind, err)
		}
		after := entitlements(t, s)
		if a, r := diff(mid, after); len(a) != 0 || !slices.Equal(r, []string{key}) {
			t.Fatalf("revoke %s changed added=%v removed=%v, want removed=[%s] only", kind, a, r, key)
		}
		out, err = p.Apply(ctx, u.ID, Change{Kind: kind, Op: OpRevoke, Target: target})
		if err != nil || out.Result != ResultNoop {
			t.Fatalf("revoking what is absent: %q %v, want noop", out.Result, err)
		}
	}
	// disable and enable toggle exactly the active flag
	before := entitlements(t, s)
	if _, err := p.Apply(ctx, u.ID, Change{Kind: KindActive, Op: OpRevoke}); err != nil {
		t.Fatal(err)
	}
	if a, r := diff(before, entitlements(t, s)); len(a) != 0 || !slices.Equal(r, []string{fmt.Sprint(u.ID) + " active"}) {
		t.Fatalf("disable changed added=%v removed=%v", a, r)
	}
	if _, err := p.Apply(ctx, u.ID, Change{Kind: KindActive, Op: OpGrant}); err != nil {
		t.Fatal(err)
	}
	if a, r := diff(before, entitlements(t, s)); len(a)+len(r) != 0 {
		t.Fatalf("enable did not restore: added=%v removed=%v", a, r)
	}

	// The audit log has one line per attempted change, with the actor and never the secret.
	raw, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), s.DefaultClient().Secret) {
		t.Fatal("the audit log contains the client secret")
	}
	var results []string
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		var e struct {
			Time   time.Time `json:"time"`
			Actor  string    `json:"actor"`
			UserID int64     `json:"user_id"`
			Result string    `json:"result"`
			Before []string  `json:"before"`
			After  []string  `json:"after"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if e.Actor != s.DefaultClient().ID || e.UserID != u.ID || e.Time.IsZero() {
			t.Errorf("audit entry lacks actor, user or time: %s", sc.Text())
		}
		results = append(results, e.Result)
	}
	want := slices.Repeat([]string{ResultApplied, ResultNoop, ResultApplied, ResultNoop}, 4)
	want = append(want, ResultApplied, ResultApplied)
	if !slices.Equal(results, want) {
		t.Errorf("audit results %v, want %v", results, want)
	}
}

// faultyWrites turns the simulator's faults on for the duration of each Update only.
type faultyWrites struct {
	API
	s      *sim.Server
	faults sim.Faults
}

func (f *faultyWrites) Update(ctx context.Context, res string, id int64, body any, o *coupa.WriteOptions) (coupa.Record, *coupa.Response, error) {
	f.s.SetFaults(f.faults)
	defer f.s.SetFaults(sim.Faults{})
	return f.API.Update(ctx, res, id, body, o)
}

func (f *faultyWrites) List(ctx context.Context, r string, o *coupa.ListOptions) iter.Seq2[coupa.Record, error] {
	return f.API.List(ctx, r, o)
}

func TestFailedWriteLeavesOldOrNewSetNeverFewer(t *testing.T) {
	s, cl := startSim(t, sim.Options{Seed: 11, Scale: 300})
	ctx := context.Background()
	m, err := Fetch(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		faults sim.Faults
	}{
		{"500", sim.Faults{Error500: 1}},
		{"reset", sim.Faults{Reset: 1}},
		{"truncated answer after the write", sim.Faults{Truncate: 1}},
	}
	for i, tc := range cases {
		u := m.Users[i+1]
		target := notHeld(t, m, u, KindRole)
		before := entitlements(t, s)
		p := &Provisioner{API: &faultyWrites{API: cl, s: s, faults: tc.faults}}
		out, err := p.Apply(ctx, u.ID, Change{Kind: KindRole, Op: OpGrant, Target: target})
		if err == nil {
			t.Fatalf("%s: the write was expected to fail", tc.name)
		}
		after := entitlements(t, s)
		added, removed := diff(before, after)
		if len(removed) != 0 {
			t.Fatalf("%s: a failed write removed %v", tc.name, removed)
		}
		if len(added) > 1 || (len(added) == 1 && added[0] != expectKey(u.ID, KindRole, target)) {
			t.Fatalf("%s: a failed write added %v", tc.name, added)
		}
		if out.Result != ResultFailed {
			t.Errorf("%s: result %q, want failed", tc.name, out.Result)
		}
		if tc.faults.Truncate > 0 && len(added) != 1 {
			t.Errorf("truncated answers come after the write, so the new set should be in place; got %v", added)
		}
		if tc.faults.Error500 > 0 && len(added) != 0 {
			t.Errorf("a 500 before the handler must leave the old set; got %v", added)
		}
		// the outcome reports what the user really holds after the failure
		holds := slices.ContainsFunc(out.After, func(s string) bool { return strings.Contains(s, fmt.Sprintf("(%d)", target.ID)) })
		if holds != (len(added) == 1) {
			t.Errorf("%s: outcome after=%v does not match the simulator (added %v)", tc.name, out.After, added)
		}
	}
}

func TestConcurrentEditIsRefused(t *testing.T) {
	s, cl := startSim(t, sim.Options{Seed: 13, Scale: 300})
	ctx := context.Background()
	m, err := Fetch(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	u := m.Users[2]
	target := notHeld(t, m, u, KindRole)
	p := &Provisioner{API: cl, BeforeWrite: func(ctx context.Context, id int64) {
		// another administrator sets the user's roles to Admin only
		if _, err := s.Mutate(sim.Mutation{Resource: "users", ID: id, Set: map[string]any{"roles": []any{map[string]any{"id": 1}}}}); err != nil {
			t.Error(err)
		}
	}}
	n := puts(s)
	out, err := p.Apply(ctx, u.ID, Change{Kind: KindRole, Op: OpGrant, Target: target})
	var ce *ConcurrentChangeError
	if !errors.As(err, &ce) || out.Result != ResultRefused {
		t.Fatalf("got %v (%q), want a concurrent change refusal", err, out.Result)
	}
	if puts(s) != n {
		t.Fatal("a refused change wrote to Coupa")
	}
	users, _ := s.Snapshot("users")
	roles := users[u.ID-1]["roles"].([]any)
	if len(roles) != 1 || fmt.Sprint(roles[0].(map[string]any)["id"]) != "1" {
		t.Fatalf("the other administrator's edit was overwritten: roles %v", roles)
	}
}

func TestPlanApplyConvergesAndIsIdempotent(t *testing.T) {
	s, cl := startSim(t, sim.Options{Seed: 17, Scale: 300})
	ctx := context.Background()
	m, err := Fetch(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c, d := m.Users[1], m.Users[2], m.Users[3], m.Users[4]
	if !d.Active {
		d = m.Users[5]
	}
	g0, g1 := m.Groups[0], m.Groups[1]
	yml := fmt.Sprintf(`users:
  - user: %s
    roles: [%s, %s]
    licenses: [purchasing-user, travel]
    content-groups: [%d]
  - user: %s
    groups: [%q]
groups:
  - group: %q
    members: [%s, %s]
disable: [%s]
`, a.Login, m.Roles[1].Name, m.Roles[2].Name, m.ContentGroups[0].ID, b.Login, g0.Name, g1.Name, c.Login, a.Login, d.Login)
	spec, err := ParseSpec("access.yaml", strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := MakePlan(m, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Steps) == 0 {
		t.Fatal("empty plan for a file that changes things")
	}
	if plan.Steps[0].Kind != KindActive || plan.Steps[0].Login != d.Login {
		t.Errorf("disable should come first, got %s", plan.Steps[0])
	}
	res, err := Apply(ctx, &Provisioner{API: cl}, plan)
	if err != nil {
		t.Fatalf("apply: %v (%+v)", err, res)
	}
	if len(res.Done) != len(plan.Steps) {
		t.Fatalf("%d steps done of %d", len(res.Done), len(plan.Steps))
	}
	// Check the simulator against the file, independently.
	truth := entitlements(t, s)
	has := func(id int64, rest string) bool { return truth[fmt.Sprint(id)+" "+rest] }
	for _, r := range m.Roles {
		want := r.ID == m.Roles[1].ID || r.ID == m.Roles[2].ID
		if has(a.ID, fmt.Sprint("roles ", r.ID)) != want {
			t.Errorf("user %s role %s: held=%v want %v", a.Login, r.Name, !want, want)
		}
	}
	for _, l := range catalog.Licenses {
		want := l == "purchasing-user" || l == "travel-user"
		if has(a.ID, "license "+l) != want {
			t.Errorf("user %s license %s: want %v", a.Login, l, want)
		}
	}
	for _, g := range m.Groups {
		if has(b.ID, fmt.Sprint("user-groups ", g.ID)) != (g.ID == g0.ID) {
			t.Errorf("user %s group %s wrong", b.Login, g.Name)
		}
	}
	members := 0
	for k := range truth {
		if strings.HasSuffix(k, fmt.Sprint(" user-groups ", g1.ID)) {
			members++
		}
	}
	if members != 2 || !has(c.ID, fmt.Sprint("user-groups ", g1.ID)) || !has(a.ID, fmt.Sprint("user-groups ", g1.ID)) {
		t.Errorf("group %s has %d members, want exactly %s and %s", g1.Name, members, c.Login, a.Login)
	}
	if has(d.ID, "active") {
		t.Errorf("user %s is still active", d.Login)
	}

	m2, err := Fetch(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	plan2, err := MakePlan(m2, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan2.Steps) != 0 {
		t.Fatalf("second plan is not empty:\n%s", plan2.Describe())
	}
	n := puts(s)
	if _, err := Apply(ctx, &Provisioner{API: cl}, plan2); err != nil || puts(s) != n {
		t.Fatalf("second apply wrote %d times (err %v)", puts(s)-n, err)
	}
}

func TestApplyStopsOnFirstFailureAndReports(t *testing.T) {
	s, cl := startSim(t, sim.Options{Seed: 19, Scale: 300})
	ctx := context.Background()
	m, err := Fetch(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	var active []string
	for _, u := range m.Users[1:] {
		if u.Active && len(active) < 3 {
			active = append(active, u.Login)
		}
	}
	yml := "disable: [" + strings.Join(active, ", ") + "]\n"
	spec, err := ParseSpec("access.yaml", strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := MakePlan(m, spec)
	if err != nil || len(plan.Steps) != 3 {
		t.Fatalf("plan: %v, %d steps", err, len(plan.Steps))
	}
	calls := 0
	p := &Provisioner{API: cl, BeforeWrite: func(ctx context.Context, id int64) {
		calls++
		if calls == 2 { // another administrator disables the second user meanwhile
			if _, err := s.Mutate(sim.Mutation{Resource: "users", ID: id, Set: map[string]any{"active": false}}); err != nil {
				t.Error(err)
			}
		}
	}}
	res, err := Apply(ctx, p, plan)
	if err == nil {
		t.Fatal("apply should fail on the second step")
	}
	if len(res.Done) != 1 || res.Failed == nil || res.Failed.UserID != plan.Steps[1].UserID || len(res.NotApplied) != 1 ||
		res.NotApplied[0].UserID != plan.Steps[2].UserID {
		t.Fatalf("report: done %d, failed %+v, not applied %+v", len(res.Done), res.Failed, res.NotApplied)
	}
	users, _ := s.Snapshot("users")
	if users[plan.Steps[2].UserID-1]["active"] != true {
		t.Fatal("a step after the failure was applied")
	}
}

// listSpy records every list call's resource and whether it was filtered.
type listSpy struct {
	API
	calls []string
}

func (l *listSpy) List(ctx context.Context, r string, o *coupa.ListOptions) iter.Seq2[coupa.Record, error] {
	c := r
	if o != nil && len(o.Filters) > 0 {
		c += "?" + o.Filters[0].Field
	}
	l.calls = append(l.calls, c)
	return l.API.List(ctx, r, o)
}

func TestLookupReadsOneUserNotAll(t *testing.T) {
	s, cl := startSim(t, sim.Options{Seed: 37, Scale: 700})
	users, _ := s.Snapshot("users")
	want := users[41]
	spy := &listSpy{API: cl}
	m, u, err := Lookup(context.Background(), spy, want["email"].(string), KindGroup)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(u.ID) != fmt.Sprint(want["id"]) || len(m.Groups) == 0 {
		t.Fatalf("found user %d with %d groups, want user %v", u.ID, len(m.Groups), want["id"])
	}
	if slices.Contains(spy.calls, "users") {
		t.Errorf("lookup listed every user: %v", spy.calls)
	}
	spy.calls = nil
	_, _, err = Lookup(context.Background(), spy, want["login"].(string)+"q", KindRole)
	var nf *NotFoundError
	if !errors.As(err, &nf) || !slices.Contains(nf.Suggestions, want["login"].(string)) {
		t.Errorf("unknown login: %v", err)
	}
}
