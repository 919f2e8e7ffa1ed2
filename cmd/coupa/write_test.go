package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/sim"
	"github.com/coupa-connector/coupa-connector/sim/simtest"
)

type resultLine struct {
	Row       int                 `json:"row"`
	Status    string              `json:"status"`
	ID        int64               `json:"id"`
	Errors    map[string][]string `json:"errors"`
	InDoubt   bool                `json:"in_doubt"`
	Recovered bool                `json:"recovered"`
}

// finalResults reads a results file: the last non-attempt line of each row, and how many attempt lines.
// A last line without its newline is what a kill mid-write leaves; the next run drops it, and so does this.
func finalResults(t *testing.T, path string) (map[int]resultLine, int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]resultLine{}
	attempts := 0
	lines := strings.Split(string(data), "\n")
	for _, line := range lines[:len(lines)-1] {
		var r resultLine
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("results line %q: %v", line, err)
		}
		if r.Status == "attempt" {
			attempts++
			continue
		}
		out[r.Row] = r
	}
	return out, attempts
}

// namesCount counts suppliers by name in the simulator's truth.
func namesCount(t *testing.T, s *sim.Server) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range snapshot(t, s, "suppliers") {
		out[at(r, "name")]++
	}
	return out
}

// writeRows writes dir/rows.jsonl: n lines, line i being format applied to i.
func writeRows(t *testing.T, dir, format string, n int) {
	t.Helper()
	var in strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&in, format+"\n", i)
	}
	writeFile(t, dir, "rows.jsonl", in.String())
}

// waitForResults returns once the results file holds n copies of sub, or after 30 seconds: the point at
// which a test interrupts a bulk run whose progress it cannot otherwise see.
func waitForResults(path, sub string, n int) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		if strings.Count(string(b), sub) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// resumeCreatesEachOnce runs an interrupted bulk create (args) again to its end, then checks that each of
// its n rows, named "<name> NN", exists exactly once and that nothing else was created.
func resumeCreatesEachOnce(t *testing.T, s *sim.Server, dir string, env, args []string, name string, n, before int) result {
	t.Helper()
	res := runCoupa(t, dir, env, args...)
	if res.code != 0 {
		t.Fatalf("resumed run: exit %d: %s", res.code, res.stderr)
	}
	counts := namesCount(t, s)
	for i := 1; i <= n; i++ {
		if row := fmt.Sprintf("%s %02d", name, i); counts[row] != 1 {
			t.Errorf("%s exists %d times after the interrupted run and its resume, want once", row, counts[row])
		}
	}
	if got := len(snapshot(t, s, "suppliers")); got != before+n {
		t.Errorf("%d suppliers, want %d", got, before+n)
	}
	return res
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBulkCreateGoodAndBadRows(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 11})
	before := snapshot(t, s, "suppliers")
	taken := at(before[0], "name")
	dir := t.TempDir()
	writeFile(t, dir, "suppliers.csv", "name,number,on_hold,po-method,custom-fields.diversity-class\n"+
		"Good One,G-1,false,email,small\n"+
		"Good Two,G-2,true,cxml,\n"+
		"Bad Type,B-3,maybe,email,\n"+
		taken+",B-4,false,email,\n"+
		",B-5,false,email,\n"+
		"Ragged,B-6\n"+
		"Bad Enum,B-7,false,fax,\n"+
		"Good Three,G-8,,,\n")
	res := runCoupa(t, dir, simtest.Env(s, ts), "create", "suppliers", "-f", "suppliers.csv", "--results", "out.jsonl", "--concurrency", "1")
	if res.code != exitPartial {
		t.Fatalf("exit %d, want %d (some rows failed): %s", res.code, exitPartial, res.stderr)
	}
	if !strings.Contains(res.stderr, "8 rows: sent 5, created 3, updated 0, failed 5, skipped 0") {
		t.Errorf("summary missing or wrong: %s", res.stderr)
	}
	if !strings.Contains(res.stderr, "row 3: on-hold: must be true or false") {
		t.Errorf("row errors not on stderr: %s", res.stderr)
	}

	counts := namesCount(t, s)
	ids := map[string]int64{}
	for _, r := range snapshot(t, s, "suppliers") {
		var id int64
		fmt.Sscan(at(r, "id"), &id)
		ids[at(r, "name")] = id
	}
	for _, name := range []string{"Good One", "Good Two", "Good Three"} {
		if counts[name] != 1 {
			t.Errorf("Coupa holds %q %d times, want once", name, counts[name])
		}
	}
	if got := len(snapshot(t, s, "suppliers")); got != len(before)+3 {
		t.Errorf("Coupa holds %d suppliers, want %d + exactly the 3 good rows", got, len(before))
	}
	if counts[taken] != 1 {
		t.Errorf("the duplicate name was created: %d", counts[taken])
	}
	for _, r := range snapshot(t, s, "suppliers") {
		switch at(r, "name") {
		case "Good Two":
			if r["on-hold"] != true || at(r, "po-method") != "cxml" {
				t.Errorf("Good Two stored as %v (the CSV cell must arrive as a boolean)", r)
			}
		case "Good One":
			if at(r, "custom-fields.diversity-class") != "small" {
				t.Errorf("Good One custom field = %v", r["custom-fields"])
			}
		}
	}

	got, attempts := finalResults(t, filepath.Join(dir, "out.jsonl"))
	want := map[int]resultLine{
		1: {Row: 1, Status: "created", ID: ids["Good One"]},
		2: {Row: 2, Status: "created", ID: ids["Good Two"]},
		3: {Row: 3, Status: "failed", Errors: map[string][]string{"on-hold": {`must be true or false, got "maybe"`}}},
		4: {Row: 4, Status: "failed", Errors: map[string][]string{"name": {"has already been taken"}}},
		5: {Row: 5, Status: "failed", Errors: map[string][]string{"name": {"is required to create suppliers"}}},
		6: {Row: 6, Status: "failed", Errors: map[string][]string{"row": {"line 7 has 2 fields, the header has 5"}}},
		8: {Row: 8, Status: "created", ID: ids["Good Three"]},
	}
	for row, w := range want {
		g := got[row]
		if g.Status != w.Status || g.ID != w.ID || fmt.Sprint(g.Errors) != fmt.Sprint(w.Errors) {
			t.Errorf("row %d = %+v, want %+v", row, g, w)
		}
	}
	if g := got[7]; g.Status != "failed" || len(g.Errors["po-method"]) != 1 {
		t.Errorf("row 7 = %+v, want Coupa's po-method error", g)
	}
	if len(got) != 8 || attempts != 5 {
		t.Errorf("%d rows with results and %d attempt lines, want 8 and 5 (one per row sent)", len(got), attempts)
	}
}

func TestBulkCreateKilledThenResumedMakesNoDuplicate(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 12, Latency: 40 * time.Millisecond})
	env := simtest.Env(s, ts)
	before := len(snapshot(t, s, "suppliers"))
	dir := t.TempDir()
	const n = 40
	writeRows(t, dir, `{"name":"Resumed %02[1]d","number":"R-%02[1]d"}`, n)
	results := filepath.Join(dir, "results.jsonl")
	args := []string{"create", "suppliers", "-f", "rows.jsonl", "--results", "results.jsonl", "--concurrency", "4"}

	cmd := coupaCommand(dir, env, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForResults(results, "\n", 12)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	first, _ := finalResults(t, results)
	if len(first) >= n {
		t.Fatalf("the run finished before it was killed; the test proves nothing")
	}

	res := resumeCreatesEachOnce(t, s, dir, env, args, "Resumed", n, before)
	final, _ := finalResults(t, results)
	for i := 1; i <= n; i++ {
		if final[i].Status != "created" || final[i].ID == 0 {
			t.Errorf("row %d final result = %+v", i, final[i])
		}
	}
	if !strings.Contains(res.stderr, fmt.Sprintf("skipped %d", len(first))) {
		t.Errorf("resumed run should skip the %d rows done before the kill: %s", len(first), res.stderr)
	}

	// A kill between Coupa's answer and the result line leaves only an attempt line: the next run must
	// find the object by its natural key instead of creating it again.
	f, _ := os.OpenFile(results, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"row":3,"status":"attempt"}` + "\n")
	f.Close()
	res = runCoupa(t, dir, env, args...)
	if res.code != 0 {
		t.Fatalf("third run: exit %d: %s", res.code, res.stderr)
	}
	if got := len(snapshot(t, s, "suppliers")); got != before+n {
		t.Errorf("in-doubt row created again: %d suppliers, want %d", got, before+n)
	}
	final, _ = finalResults(t, results)
	if r := final[3]; r.Status != "created" || !r.Recovered || r.ID != final[3].ID || r.ID == 0 {
		t.Errorf("row 3 after the in-doubt run = %+v, want created and recovered", r)
	}
}

func TestDryRunSendsNothing(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 13})
	dir := t.TempDir()
	writeFile(t, dir, "users.jsonl", `{"login":"ada","email":"ada@example.com","active":true,"default_currency":{"code":"EUR"}}
{"login":"bob","email":"bob@example.com","active":"sometimes","shoe-size":44}
`)
	res := runCoupa(t, dir, simtest.Env(s, ts), "create", "users", "-f", "users.jsonl", "--dry-run", "--results", "r.jsonl")
	if res.code != exitPartial {
		t.Errorf("exit %d, want %d: an invalid row fails a dry run too", res.code, exitPartial)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	sort.Strings(lines)
	if len(lines) != 2 {
		t.Fatalf("stdout = %q", res.stdout)
	}
	wantValid := `{"row":1,"status":"valid","body":{"active":true,"default-currency":{"code":"EUR"},"email":"ada@example.com","login":"ada"}}`
	wantBad := `{"row":2,"status":"failed","errors":{"active":["must be true or false, got \"sometimes\""],"shoe-size":["is not a field of users (check the name against ` + "`coupa tables`" + `)"]},"body":{"active":"sometimes","email":"bob@example.com","login":"bob","shoe-size":44}}`
	if lines[0] != wantValid || lines[1] != wantBad {
		t.Errorf("dry run output:\n%s\n%s\nwant:\n%s\n%s", lines[0], lines[1], wantValid, wantBad)
	}
	if !strings.Contains(res.stderr, "dry run: 2 rows, 1 valid, 1 invalid, nothing sent") {
		t.Errorf("summary: %s", res.stderr)
	}
	if n := apiRequests(s); n != 0 {
		t.Errorf("dry run sent %d requests", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "r.jsonl")); err == nil {
		t.Error("dry run wrote a results file: a later real run would skip its rows")
	}
}

func TestRefusedOperationsSendNothing(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 14})
	env := simtest.Env(s, ts)
	dir := t.TempDir()
	writeFile(t, dir, "one.json", `{"note":"x"}`)
	writeFile(t, dir, "two.jsonl", `{"name":"a"}`+"\n"+`{"name":"b"}`+"\n")
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"update", "approvals", "1", "-f", "one.json"}, "approvals cannot be updated"},
		{[]string{"update", "contracts", "1", "-f", "one.json"}, "contracts cannot be updated"},
		{[]string{"create", "purchase_orders", "-f", "one.json"}, "purchase_orders cannot be created"},
		{[]string{"create", "approvals", "-f", "one.json"}, "approvals cannot be created"},
		{[]string{"create", "widgets", "-f", "one.json"}, `unknown object "widgets"`},
		{[]string{"action", "invoices", "1", "approve"}, `invoices has no action "approve": use one of`},
		{[]string{"action", "suppliers", "1", "void"}, `suppliers has no action "void"`},
		{[]string{"action", "widgets", "1", "void"}, `unknown object "widgets"`},
		{[]string{"update", "suppliers", "1", "-f", "two.jsonl"}, "the ID argument updates one object"},
		{[]string{"create", "suppliers", "-f", "rows.txt"}, "unknown input format"},
	}
	for _, c := range cases {
		res := runCoupa(t, dir, env, c.args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, res.code, res.stderr, exitUsage, c.msg)
		}
	}
	if n := apiRequests(s); n != 0 {
		t.Errorf("refused operations sent %d requests, want 0", n)
	}
}

func TestUpdateOneAndMany(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 15})
	env := simtest.Env(s, ts)
	sups := snapshot(t, s, "suppliers")
	id1, id2 := at(sups[0], "id"), at(sups[1], "id")
	dir := t.TempDir()
	writeFile(t, dir, "one.json", `{"website":"https://changed.example.com"}`)
	res := runCoupa(t, dir, env, "update", "suppliers", id1, "-f", "one.json")
	if res.code != 0 || !strings.Contains(res.stdout, `"status":"updated","id":`+id1) {
		t.Fatalf("single update: exit %d, %s %s", res.code, res.stdout, res.stderr)
	}
	writeFile(t, dir, "many.csv", "id,on-hold\n"+id2+",true\n999999,true\n")
	res = runCoupa(t, dir, env, "update", "suppliers", "-f", "many.csv")
	if res.code != exitPartial || !strings.Contains(res.stderr, "row 2: id: suppliers 999999 does not exist") {
		t.Errorf("bulk update: exit %d, %s", res.code, res.stderr)
	}
	for _, r := range snapshot(t, s, "suppliers") {
		switch at(r, "id") {
		case id1:
			if at(r, "website") != "https://changed.example.com" {
				t.Errorf("supplier %s website = %q", id1, at(r, "website"))
			}
		case id2:
			if r["on-hold"] != true {
				t.Errorf("supplier %s on-hold = %v", id2, r["on-hold"])
			}
		}
	}
}

func TestBulkCreateJSONLWithUnreadableLines(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 16})
	before := len(snapshot(t, s, "user_groups"))
	dir := t.TempDir()
	writeFile(t, dir, "groups.jsonl", `{"name":"Group North","active":true}`+"\n"+
		"name=Group South\n"+
		`{"name":"Group `+"\xff"+`"}`+"\n"+
		`{"name":"Group East","can-approve":false}`+"\n")
	res := runCoupa(t, dir, simtest.Env(s, ts), "create", "user_groups", "-f", "groups.jsonl")
	if res.code != exitPartial {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"row 2: row: line 2 is not a JSON object", "row 3: row: line 3 is not valid UTF-8"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, res.stderr)
		}
	}
	groups := snapshot(t, s, "user_groups")
	if len(groups) != before+2 {
		t.Errorf("%d user groups, want %d + the 2 readable rows", len(groups), before)
	}
	names := map[string]bool{}
	for _, g := range groups {
		names[at(g, "name")] = true
	}
	if !names["Group North"] || !names["Group East"] {
		t.Errorf("good rows missing from Coupa: %v", names)
	}
}

func TestBulkCreateInterruptedThenResumed(t *testing.T) {
	s, ts := simtest.Start(t, sim.Options{Seed: 17, Latency: 150 * time.Millisecond})
	env := simtest.Env(s, ts)
	before := len(snapshot(t, s, "suppliers"))
	dir := t.TempDir()
	const n = 30
	writeRows(t, dir, `{"name":"Interrupted %02d"}`, n)
	args := []string{"create", "suppliers", "-f", "rows.jsonl", "--results", "results.jsonl"}
	cmd := coupaCommand(dir, env, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForResults(filepath.Join(dir, "results.jsonl"), `"created"`, 4)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted || !strings.Contains(stderr.String(), "interrupted: run the same command again to resume") {
		t.Fatalf("interrupted run: %v, stderr %q; want exit %d and a hint to resume", err, stderr.String(), exitInterrupted)
	}
	// Four rows are always in flight: their requests were cut off, so Coupa may or may not have them.
	// They are "not confirmed", not failed, and their attempt stays their last line for the resume to check.
	mid, attempts := finalResults(t, filepath.Join(dir, "results.jsonl"))
	for _, r := range mid {
		if r.Status == "failed" {
			t.Errorf("row %d failed at the interrupt: %+v", r.Row, r)
		}
	}
	if attempts-len(mid) == 0 || !strings.Contains(stderr.String(), "not confirmed: interrupted before Coupa answered") ||
		!strings.Contains(stderr.String(), fmt.Sprintf("not confirmed %d", attempts-len(mid))) {
		t.Errorf("%d attempts, %d finals; stderr %q: want the rows in flight reported not confirmed", attempts, len(mid), stderr.String())
	}
	resumeCreatesEachOnce(t, s, dir, env, args, "Interrupted", n, before)
}
