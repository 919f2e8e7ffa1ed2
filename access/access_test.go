package access

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/coupa"
)

func TestParseSpecErrorsPointAtLineAndColumn(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"unknown top key", "users: []\nrolls: []\n", "a.yaml:2:1: unknown key \"rolls\""},
		{"unknown user key", "users:\n  - user: jdoe\n    rolez: [User]\n", "a.yaml:3:5: unknown key \"rolez\""},
		{"list expected", "users:\n  - user: jdoe\n    roles: User\n", "a.yaml:3:12: roles must be a list"},
		{"active not bool", "users:\n  - user: jdoe\n    active: maybe\n", "a.yaml:3:13: active must be true or false"},
		{"missing user", "users:\n  - roles: [User]\n", "a.yaml:2:5: a user entry needs `user: LOGIN`"},
		{"duplicate key", "users:\n  - user: a\n    user: b\n", "a.yaml:3:5: key \"user\" appears twice"},
		{"duplicate entry", "disable: [a, b, A]\n", "a.yaml:1:17: \"A\" is listed twice"},
		{"group without members", "groups:\n  - group: X\n", "a.yaml:2:5: group \"X\" needs a members list"},
		{"not a mapping", "- a\n- b\n", "a.yaml:1:1: expected a mapping"},
	}
	for _, tc := range cases {
		_, err := ParseSpec("a.yaml", strings.NewReader(tc.doc))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want prefix %q", tc.name, err, tc.want)
		}
	}
	_, err := ParseSpec("a.yaml", strings.NewReader("users: [\n"))
	if err == nil || !strings.Contains(err.Error(), "a.yaml") || !strings.Contains(err.Error(), "line") {
		t.Errorf("syntax error should name the file and line: %v", err)
	}
}

func fixtureModel() *Model {
	return &Model{
		Users: []User{
			{ID: 1, Login: "jdoe", Email: "jdoe@x.com", Active: true, Groups: []Ref{{1, "Finance"}}, Roles: []Ref{{2, "User"}},
				Licenses: []string{"purchasing-user"}},
			{ID: 2, Login: "asmith", Email: "asmith@x.com", Active: true, Groups: []Ref{{1, "Finance"}, {2, "AP Team"}}},
			{ID: 3, Login: "bjones", Email: "bjones@x.com", Active: true},
		},
		Groups:        []Group{{ID: 1, Name: "Finance", Members: []int64{1, 2}}, {ID: 2, Name: "AP Team", Members: []int64{2}}},
		Roles:         []Role{{ID: 1, Name: "Admin", Omnipotent: true}, {ID: 2, Name: "User"}, {ID: 3, Name: "Buyer"}},
		ContentGroups: []Ref{{1, "North America"}},
	}
}

func TestPlanUnknownNameSuggestsAndPointsAtIt(t *testing.T) {
	doc := "users:\n  - user: jdoe\n    groups: [Finanse]\n"
	sp, err := ParseSpec("access.yaml", strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	_, err = MakePlan(fixtureModel(), sp)
	want := `access.yaml:3:14: no group named "Finanse"; did you mean "Finance"?`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	sp, _ = ParseSpec("access.yaml", strings.NewReader("disable: [jdo]\n"))
	if _, err = MakePlan(fixtureModel(), sp); err == nil || !strings.Contains(err.Error(), `did you mean "jdoe"`) {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestPlanGroupAndUserEntriesMustAgree(t *testing.T) {
	doc := "users:\n  - user: jdoe\n    groups: [Finance]\ngroups:\n  - group: Finance\n    members: [asmith]\n"
	sp, err := ParseSpec("access.yaml", strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := MakePlan(fixtureModel(), sp); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Fatalf("conflict not detected: %v", err)
	}
}

func TestPlanOrderAndContent(t *testing.T) {
	doc := `users:
  - user: jdoe
    roles: [User, Buyer]
  - user: asmith
    roles: []
    groups: [Finance]
groups:
  - group: AP Team
    members: [bjones]
disable: [bjones]
`
	sp, err := ParseSpec("access.yaml", strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	p, err := MakePlan(fixtureModel(), sp)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range p.Steps {
		got = append(got, s.String())
	}
	// asmith has no roles already, so roles: [] is not a step; asmith leaves AP Team (a removal) before
	// jdoe gains Buyer and bjones joins AP Team (additions); disabling comes first.
	want := []string{
		"~ bjones: disable",
		"~ asmith: groups -AP Team (2)",
		"~ jdoe: roles +Buyer (3)",
		"~ bjones: groups +AP Team (2)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("plan\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// recorder is an in-memory Coupa users endpoint that records every write.
type recorder struct {
	users map[int64]coupa.Record
	puts  []string
}

func (r *recorder) List(ctx context.Context, res string, o *coupa.ListOptions) iter.Seq2[coupa.Record, error] {
	return func(yield func(coupa.Record, error) bool) {}
}

func (r *recorder) Get(ctx context.Context, res string, id int64, f []any) (coupa.Record, *coupa.Response, error) {
	u, ok := r.users[id]
	if !ok {
		return nil, nil, &coupa.APIError{StatusCode: 404}
	}
	b, _ := json.Marshal(u)
	var c coupa.Record
	json.Unmarshal(b, &c)
	return c, nil, nil
}

func (r *recorder) Update(ctx context.Context, res string, id int64, body any, o *coupa.WriteOptions) (coupa.Record, *coupa.Response, error) {
	b, _ := json.Marshal(body)
	r.puts = append(r.puts, string(b))
	var m map[string]any
	json.Unmarshal(b, &m)
	for k, v := range m {
		r.users[id][k] = v
	}
	return r.users[id], nil, nil
}

func (r *recorder) Create(ctx context.Context, res string, body any, o *coupa.WriteOptions) (coupa.Record, *coupa.Response, error) {
	return nil, nil, errors.New("not supported")
}

func TestOneWriteWithTheCompleteSet(t *testing.T) {
	rec := &recorder{users: map[int64]coupa.Record{7: {"id": 7, "login": "jdoe", "active": true,
		"roles": []any{map[string]any{"id": 2, "name": "User"}, map[string]any{"id": 5, "name": "Approver"}}}}}
	p := &Provisioner{API: rec}
	ctx := context.Background()
	if _, err := p.Apply(ctx, 7, Change{Kind: KindRole, Op: OpGrant, Target: Ref{ID: 3, Name: "Buyer"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(ctx, 7, Change{Kind: KindRole, Op: OpRevoke, Target: Ref{ID: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(ctx, 7, Change{Kind: KindLicense, Op: OpGrant, Target: Ref{Name: "travel-user"}}); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"roles":[{"id":2},{"id":3},{"id":5}]}`, `{"roles":[{"id":3},{"id":5}]}`, `{"travel-user":true}`}
	if !slices.Equal(rec.puts, want) {
		t.Fatalf("writes %v, want %v", rec.puts, want)
	}
	// dry run: nothing written, the would-be result reported
	p.DryRun = true
	out, err := p.Apply(ctx, 7, Change{Kind: KindRole, Op: OpRevoke, Target: Ref{ID: 5}})
	if err != nil || out.Result != ResultDryRun || len(rec.puts) != 3 || !slices.Equal(out.After, []string{"#3"}) {
		t.Fatalf("dry run: %v %+v, writes %d", err, out, len(rec.puts))
	}
}

func TestVerifyCatchesAWriteCoupaIgnored(t *testing.T) {
	rec := &ignoring{recorder{users: map[int64]coupa.Record{7: {"id": 7, "login": "jdoe", "roles": []any{}}}}}
	out, err := (&Provisioner{API: rec}).Apply(context.Background(), 7, Change{Kind: KindRole, Op: OpGrant, Target: Ref{ID: 3}})
	if err == nil || out.Result != ResultUnverified || !strings.Contains(err.Error(), "read back") {
		t.Fatalf("got %v %q", err, out.Result)
	}
}

// ignoring accepts writes and changes nothing, as an instance that silently drops a field would.
type ignoring struct{ recorder }

func (r *ignoring) Update(ctx context.Context, res string, id int64, body any, o *coupa.WriteOptions) (coupa.Record, *coupa.Response, error) {
	return r.users[id], nil, nil
}

func TestResolveAndSuggest(t *testing.T) {
	m := fixtureModel()
	if r, err := m.ResolveRole("buyer"); err != nil || r.ID != 3 {
		t.Errorf("case-insensitive role: %v %v", r, err)
	}
	if r, err := m.ResolveGroup("2"); err != nil || r.Name != "AP Team" {
		t.Errorf("group by id: %v %v", r, err)
	}
	if u, err := m.ResolveUser("ASMITH@x.com"); err != nil || u.ID != 2 {
		t.Errorf("user by email: %v %v", u, err)
	}
	for in, want := range map[string]string{"purchasing": "purchasing-user", "Expense_User": "expense-user",
		"category-planner": "category_planner_user"} {
		if l, err := ResolveLicense(in); err != nil || l != want {
			t.Errorf("license %q: %q %v", in, l, err)
		}
	}
	var nf *NotFoundError
	if _, err := ResolveLicense("purchasng"); !errors.As(err, &nf) || !slices.Contains(nf.Suggestions, "purchasing-user") {
		t.Errorf("license typo: %v", err)
	}
	if _, err := m.ResolveRole("Accountant"); !errors.As(err, &nf) || len(nf.Suggestions) != 0 {
		t.Errorf("a far name should get no suggestion: %v", err)
	}
}

func TestReportsCarryEveryUserAndFinding(t *testing.T) {
	m := fixtureModel()
	m.Users[2].Active = false
	m.Users[2].Licenses = []string{"expense-user"}
	rv := NewReview(m, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if got := rv.Summary.Findings[FindingInactiveLicensed]; got != 1 {
		t.Errorf("inactive with license: %d", got)
	}
	if got := rv.Summary.Findings[FindingNoGroup]; got != 1 {
		t.Errorf("no group: %d", got)
	}
	var csvOut, html strings.Builder
	if err := rv.WriteCSV(&csvOut); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csvOut.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[3], "inactive_with_license") {
		t.Errorf("csv:\n%s", csvOut.String())
	}
	if err := rv.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), `data-metric="inactive_users"><b>1</b>`) {
		t.Error("html summary lacks the inactive count")
	}
}

// The audit log is checked before any change but appears only with its first entry, so a refused run
// leaves no empty file behind; an unwritable path is refused up front.
func TestAuditLogAppearsWithItsFirstEntry(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	l, err := OpenAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("audit log exists before any entry (stat err %v)", err)
	}
	if err := l.Append(Entry{Actor: "bot"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), `"actor":"bot"`) {
		t.Fatalf("audit log after Append = %q, %v", b, err)
	}
	if _, err := OpenAuditLog(filepath.Join(dir, "missing-dir", "audit.jsonl")); err == nil {
		t.Error("an audit log in a missing directory was accepted")
	}
}
