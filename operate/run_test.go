package operate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
)

var supplierTable = &catalog.Table{
	Name: "suppliers", Resource: "suppliers", NaturalKeys: [][]string{{"number"}, {"name"}},
	Columns: []catalog.Column{
		{Name: "id", Path: "id", Type: catalog.Int},
		{Name: "name", Path: "name", Type: catalog.String},
		{Name: "number", Path: "number", Type: catalog.String},
		{Name: "on_hold", Path: "on-hold", Type: catalog.Bool},
	},
	Create: true, Update: true, Required: []string{"name"},
}

// fakeCoupa stores created objects and answers like Coupa: 400 with an errors body for a taken name.
type fakeCoupa struct {
	mu          sync.Mutex
	objects     []map[string]any
	updates     map[int64]map[string]any
	creates     int
	lists       int
	inflight    int
	maxInflight int
	delay       time.Duration
	// loseAnswer makes the next create succeed in the store but return a transport error, as when the
	// connection drops after Coupa committed.
	loseAnswer bool
}

func (f *fakeCoupa) enter() func() {
	f.mu.Lock()
	f.inflight++
	f.maxInflight = max(f.maxInflight, f.inflight)
	f.mu.Unlock()
	time.Sleep(f.delay)
	return func() { f.mu.Lock(); f.inflight--; f.mu.Unlock() }
}

func (f *fakeCoupa) Create(ctx context.Context, resource string, body any, _ *coupa.WriteOptions) (coupa.Record, *coupa.Response, error) {
	defer f.enter()()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	m := body.(map[string]any)
	for _, o := range f.objects {
		if o["name"] == m["name"] {
			return nil, nil, &coupa.APIError{StatusCode: 400, Method: "POST", Path: "/api/" + resource,
				Errors: map[string][]string{"name": {"has already been taken"}}, Message: "name has already been taken"}
		}
	}
	rec := map[string]any{"id": json.Number(strconv.Itoa(len(f.objects) + 1))}
	for k, v := range m {
		rec[k] = v
	}
	f.objects = append(f.objects, rec)
	if f.loseAnswer {
		f.loseAnswer = false
		return nil, nil, errors.New("read tcp: connection reset by peer")
	}
	return rec, nil, nil
}

func (f *fakeCoupa) Update(ctx context.Context, resource string, id int64, body any, _ *coupa.WriteOptions) (coupa.Record, *coupa.Response, error) {
	defer f.enter()()
	f.mu.Lock()
	defer f.mu.Unlock()
	if id > int64(len(f.objects)) {
		return nil, nil, &coupa.APIError{StatusCode: 404, Message: "not found"}
	}
	if f.updates == nil {
		f.updates = map[int64]map[string]any{}
	}
	f.updates[id] = body.(map[string]any)
	return coupa.Record{"id": json.Number(strconv.FormatInt(id, 10))}, nil, nil
}

func (f *fakeCoupa) List(ctx context.Context, resource string, opts *coupa.ListOptions) iter.Seq2[coupa.Record, error] {
	return func(yield func(coupa.Record, error) bool) {
		f.mu.Lock()
		f.lists++
		var match []coupa.Record
	objects:
		for _, o := range f.objects {
			for _, flt := range opts.Filters {
				if flt.Op != coupa.OpEq || valueAt(o, flt.Field) != flt.Value {
					continue objects
				}
			}
			match = append(match, o)
		}
		f.mu.Unlock()
		for _, m := range match {
			if !yield(m, nil) {
				return
			}
		}
	}
}

func (f *fakeCoupa) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, o := range f.objects {
		out = append(out, o["name"].(string))
	}
	sort.Strings(out)
	return out
}

func rowsOf(t *testing.T, jsonl string) iter.Seq2[Row, error] {
	t.Helper()
	return NewReader(strings.NewReader(jsonl), JSONL, nil).Rows()
}

var inputRE = regexp.MustCompile(`,"input":"[0-9a-f]{12}"`)

// readResults returns the results file's lines: finals sorted by row, and attempt rows.
func readResults(t *testing.T, path string) (finals []string, attempts []int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	type line struct {
		row  int
		text string
	}
	var ls []line
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("results line %q: %v", sc.Text(), err)
		}
		if r.Status == StatusAttempt {
			attempts = append(attempts, r.Row)
			continue
		}
		// The input fingerprint is checked by its own test; stripping it keeps these expectations readable.
		ls = append(ls, line{r.Row, inputRE.ReplaceAllString(sc.Text(), "")})
	}
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].row < ls[j].row })
	for _, l := range ls {
		finals = append(finals, l.text)
	}
	sort.Ints(attempts)
	return finals, attempts
}

func TestRunGoodAndBadRows(t *testing.T) {
	fc := &fakeCoupa{objects: []map[string]any{{"id": json.Number("1"), "name": "Taken"}}}
	results := filepath.Join(t.TempDir(), "results.jsonl")
	in := `{"name":"Alpha","number":"S-1"}
{"name":"Beta","on-hold":"maybe"}
this is not json
{"name":"Taken"}
{"number":"S-5"}
{"name":"Gamma","on_hold":true}
`
	var seen []int
	sum, err := Run(context.Background(), fc, rowsOf(t, in), Options{Table: supplierTable, Mode: Create, Results: results,
		OnResult: func(r Result) { seen = append(seen, r.Row) }})
	if err != nil {
		t.Fatal(err)
	}
	finals, attempts := readResults(t, results)
	want := []string{
		`{"row":1,"status":"created","id":2}`,
		`{"row":2,"status":"failed","errors":{"on-hold":["must be true or false, got \"maybe\""]}}`,
		`{"row":3,"status":"failed","errors":{"row":["line 3 is not a JSON object: invalid character 'h' in literal true (expecting 'r')"]}}`,
		`{"row":4,"status":"failed","errors":{"name":["has already been taken"]}}`,
		`{"row":5,"status":"failed","errors":{"name":["is required to create suppliers"]}}`,
		`{"row":6,"status":"created","id":3}`,
	}
	if strings.Contains(finals[0], `"id":3`) { // rows 1 and 6 race for the next id
		want[0], want[5] = `{"row":1,"status":"created","id":3}`, `{"row":6,"status":"created","id":2}`
	}
	if !reflect.DeepEqual(finals, want) {
		t.Errorf("results:\n%s\nwant:\n%s", strings.Join(finals, "\n"), strings.Join(want, "\n"))
	}
	if !reflect.DeepEqual(attempts, []int{1, 4, 6}) {
		t.Errorf("attempt lines for rows %v, want only the rows sent (1 4 6)", attempts)
	}
	if got := fc.names(); !reflect.DeepEqual(got, []string{"Alpha", "Gamma", "Taken"}) {
		t.Errorf("Coupa holds %v", got)
	}
	wantSum := Summary{Rows: 6, Sent: 3, Created: 2, Failed: 4}
	sum.Elapsed = 0
	if sum != wantSum {
		t.Errorf("summary = %+v, want %+v", sum, wantSum)
	}
	if len(seen) != 6 {
		t.Errorf("OnResult saw %v", seen)
	}
}

func TestRunResumesWithoutDuplicates(t *testing.T) {
	// State after a kill: row 1 done, row 2 created in Coupa but only its attempt line written,
	// row 3 attempted but never reached Coupa, row 4 refused by Coupa earlier, row 5 never tried.
	fc := &fakeCoupa{objects: []map[string]any{
		{"id": json.Number("1"), "name": "One"},
		{"id": json.Number("2"), "name": "Two", "number": "N-2"},
	}}
	results := filepath.Join(t.TempDir(), "results.jsonl")
	prev := `{"row":1,"status":"attempt"}
{"row":2,"status":"attempt"}
{"row":1,"status":"created","id":1}
{"row":3,"status":"attempt"}
{"row":4,"status":"attempt"}
{"row":4,"status":"failed","errors":{"name":["is invalid"]}}
{"row":5,"sta`
	if err := os.WriteFile(results, []byte(prev), 0o644); err != nil {
		t.Fatal(err)
	}
	in := `{"name":"One"}
{"name":"Two","number":"N-2"}
{"name":"Three"}
{"name":"Four"}
{"name":"Five"}
`
	sum, err := Run(context.Background(), fc, rowsOf(t, in), Options{Table: supplierTable, Mode: Create, Results: results})
	if err != nil {
		t.Fatal(err)
	}
	if got := fc.names(); !reflect.DeepEqual(got, []string{"Five", "Four", "One", "Three", "Two"}) {
		t.Errorf("Coupa holds %v, want each name once", got)
	}
	if fc.creates != 3 || fc.lists != 2 {
		t.Errorf("creates = %d, lists = %d; want 3 creates (rows 3-5) and 2 look-ups (rows 2 and 3)", fc.creates, fc.lists)
	}
	finals, _ := readResults(t, results)
	var byRow []string
	for _, f := range finals {
		var r Result
		json.Unmarshal([]byte(f), &r)
		byRow = append(byRow, strconv.Itoa(r.Row)+":"+string(r.Status)+":"+strconv.FormatInt(r.ID, 10)+":"+strconv.FormatBool(r.Recovered))
	}
	want := []string{"1:created:1:false", "2:created:2:true", "3:created:3:false", "4:failed:0:false", "4:created:4:false", "5:created:5:false"}
	if strings.Join(byRow, " ") != strings.Join(want, " ") && !sameIgnoringIDs(byRow, want) {
		t.Errorf("results = %v, want %v", byRow, want)
	}
	wantSum := Summary{Rows: 5, Sent: 3, Created: 4, Skipped: 1}
	sum.Elapsed = 0
	if sum != wantSum {
		t.Errorf("summary = %+v, want %+v", sum, wantSum)
	}
}

// sameIgnoringIDs compares results when concurrent creates may have taken ids in another order.
func sameIgnoringIDs(got, want []string) bool {
	strip := func(s []string) string {
		var out []string
		for _, x := range s {
			p := strings.Split(x, ":")
			if p[0] != "1" && p[0] != "2" {
				p[2] = "?"
			}
			out = append(out, strings.Join(p, ":"))
		}
		return strings.Join(out, " ")
	}
	return strip(got) == strip(want)
}

func TestRunLostAnswerIsLookedUpOnRerun(t *testing.T) {
	fc := &fakeCoupa{loseAnswer: true}
	results := filepath.Join(t.TempDir(), "results.jsonl")
	in := `{"name":"Solo","number":"N-1"}` + "\n"
	sum, err := Run(context.Background(), fc, rowsOf(t, in), Options{Table: supplierTable, Mode: Create, Results: results})
	if err != nil || sum.Failed != 1 {
		t.Fatalf("first run: %+v, %v", sum, err)
	}
	finals, _ := readResults(t, results)
	if len(finals) != 1 || !strings.Contains(finals[0], `"in_doubt":true`) || !strings.Contains(finals[0], "connection reset") {
		t.Fatalf("first run results = %v, want a failure marked in doubt", finals)
	}
	sum, err = Run(context.Background(), fc, rowsOf(t, in), Options{Table: supplierTable, Mode: Create, Results: results})
	if err != nil || sum.Created != 1 || sum.Sent != 0 {
		t.Fatalf("second run: %+v, %v", sum, err)
	}
	if fc.creates != 1 || len(fc.objects) != 1 {
		t.Errorf("%d creates, %d objects: the lost answer led to a duplicate", fc.creates, len(fc.objects))
	}
	// A 4xx is Coupa's answer: not in doubt, retried normally.
	if _, err := Run(context.Background(), fc, rowsOf(t, `{"name":"Solo"}`+"\n"), Options{Table: supplierTable, Mode: Create,
		Results: filepath.Join(t.TempDir(), "r2.jsonl")}); err != nil {
		t.Fatal(err)
	}
}

func TestRunInDoubtWithoutNaturalKeyIsLeftAlone(t *testing.T) {
	things := &catalog.Table{Name: "things", Resource: "things", Create: true,
		Columns: []catalog.Column{{Path: "id", Type: catalog.Int}, {Path: "note", Type: catalog.String}}}
	fc := &fakeCoupa{}
	results := filepath.Join(t.TempDir(), "results.jsonl")
	os.WriteFile(results, []byte(`{"row":1,"status":"attempt"}`+"\n"), 0o644)
	in := `{"note":"a"}` + "\n" + `{"note":"b"}` + "\n"
	for run := 1; run <= 2; run++ {
		sum, err := Run(context.Background(), fc, rowsOf(t, in), Options{Table: things, Mode: Create, Results: results})
		if err != nil {
			t.Fatal(err)
		}
		if sum.InDoubt != 1 {
			t.Errorf("run %d: summary %+v, want row 1 in doubt", run, sum)
		}
	}
	if fc.creates != 1 {
		t.Errorf("creates = %d, want only row 2, once", fc.creates)
	}
	finals, _ := readResults(t, results)
	if len(finals) != 2 || !strings.Contains(finals[0], `"status":"skipped"`) || !strings.Contains(finals[0], "no natural key") {
		t.Errorf("results = %v, want one skipped-in-doubt line for row 1 (not repeated) and row 2 created", finals)
	}
}

func TestRunBoundedConcurrency(t *testing.T) {
	fc := &fakeCoupa{delay: 15 * time.Millisecond}
	var in strings.Builder
	for i := range 24 {
		in.WriteString(`{"name":"S` + strconv.Itoa(i) + `"}` + "\n")
	}
	sum, err := Run(context.Background(), fc, rowsOf(t, in.String()), Options{Table: supplierTable, Mode: Create, Concurrency: 3})
	if err != nil || sum.Created != 24 {
		t.Fatalf("%+v, %v", sum, err)
	}
	if fc.maxInflight > 3 || fc.maxInflight < 2 {
		t.Errorf("max requests in flight = %d, want 2..3 with Concurrency 3", fc.maxInflight)
	}
}

func TestRunDryRunSendsNothing(t *testing.T) {
	fc := &fakeCoupa{}
	results := filepath.Join(t.TempDir(), "results.jsonl")
	var got []Result
	sum, err := Run(context.Background(), fc, rowsOf(t, `{"name":"A","on_hold":false}`+"\n"+`{"nam":"B"}`+"\n"),
		Options{Table: supplierTable, Mode: Create, DryRun: true, Results: results, Concurrency: 1,
			OnResult: func(r Result) { got = append(got, r) }})
	if err != nil {
		t.Fatal(err)
	}
	if fc.creates+fc.lists != 0 {
		t.Errorf("dry run made %d creates and %d lists", fc.creates, fc.lists)
	}
	if _, err := os.Stat(results); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dry run wrote the results file (stat err %v)", err)
	}
	if sum.Valid != 1 || sum.Failed != 1 || !sum.DryRun {
		t.Errorf("summary = %+v", sum)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Row < got[j].Row })
	if !reflect.DeepEqual(got[0].Body, map[string]any{"name": "A", "on-hold": false}) || got[0].Status != StatusValid {
		t.Errorf("row 1 = %+v, want the body that would be sent, in Coupa's spelling", got[0])
	}
	if len(got[1].Errors["nam"]) != 1 || len(got[1].Errors["name"]) != 1 {
		t.Errorf("row 2 errors = %v, want unknown nam and missing name", got[1].Errors)
	}
}

func TestRunUpdate(t *testing.T) {
	fc := &fakeCoupa{objects: []map[string]any{{"id": json.Number("1"), "name": "A"}, {"id": json.Number("2"), "name": "B"}}}
	results := filepath.Join(t.TempDir(), "results.jsonl")
	in := `{"id":2,"on-hold":true}
{"on-hold":true}
{"id":9,"on-hold":false}
{"id":"x"}
`
	sum, err := Run(context.Background(), fc, rowsOf(t, in), Options{Table: supplierTable, Mode: Update, Results: results})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fc.updates, map[int64]map[string]any{2: {"on-hold": true}}) {
		t.Errorf("updates = %v, want only id 2 without id in the body", fc.updates)
	}
	finals, _ := readResults(t, results)
	want := []string{
		`{"row":1,"status":"updated","id":2}`,
		`{"row":2,"status":"failed","errors":{"id":["is required to update: add an id field or column"]}}`,
		`{"row":3,"status":"failed","errors":{"id":["suppliers 9 does not exist"]}}`,
		`{"row":4,"status":"failed","errors":{"id":["must be an integer, got \"x\""],"row":["has no field to update besides the id"]}}`,
	}
	if !reflect.DeepEqual(finals, want) {
		t.Errorf("results:\n%s\nwant:\n%s", strings.Join(finals, "\n"), strings.Join(want, "\n"))
	}
	if sum.Updated != 1 || sum.Failed != 3 {
		t.Errorf("summary = %+v", sum)
	}
}

func TestRunResultsFileOfAnotherKindIsRefused(t *testing.T) {
	results := filepath.Join(t.TempDir(), "results.jsonl")
	os.WriteFile(results, []byte("id,name\n1,a\n"), 0o644)
	_, err := Run(context.Background(), &fakeCoupa{}, rowsOf(t, `{"name":"A"}`), Options{Table: supplierTable, Mode: Create, Results: results})
	if err == nil || !strings.Contains(err.Error(), "not a result line") {
		t.Errorf("err = %v", err)
	}
}

func TestNaturalKey(t *testing.T) {
	inv, _ := catalog.Lookup("invoices")
	got := NaturalKey(inv, map[string]any{"invoice-number": "I-1", "supplier": map[string]any{"name": "Acme"}})
	want := []coupa.Filter{{Field: "invoice-number", Value: "I-1"}, {Field: "supplier.name", Value: "Acme"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("invoice key = %v", got)
	}
	if got := NaturalKey(inv, map[string]any{"invoice-number": "I-1"}); got != nil {
		t.Errorf("invoice number alone is not unique across suppliers, got %v", got)
	}
	if got := NaturalKey(&catalog.Table{Name: "expense_reports"}, map[string]any{"external-ref-num": json.Number("77")}); len(got) != 1 || got[0].Value != "77" {
		t.Errorf("external ref key = %v", got)
	}
}

func TestRunRefusesResultsOfAnotherInput(t *testing.T) {
	fc := &fakeCoupa{}
	results := filepath.Join(t.TempDir(), "results.jsonl")
	opts := Options{Table: supplierTable, Mode: Create, Results: results}
	if _, err := Run(context.Background(), fc, rowsOf(t, `{"name":"A"}`+"\n"+`{"nome":"B"}`+"\n"), opts); err != nil {
		t.Fatal(err)
	}
	// Row 2 failed: fixing it is what a re-run is for.
	sum, err := Run(context.Background(), fc, rowsOf(t, `{"name":"A"}`+"\n"+`{"name":"B"}`+"\n"), opts)
	if err != nil || sum.Created != 1 || sum.Skipped != 1 {
		t.Fatalf("re-run with the failed row fixed: %+v, %v", sum, err)
	}
	// Row 1 was created from {"name":"A"}: another row 1 means another input file.
	_, err = Run(context.Background(), fc, rowsOf(t, `{"name":"Z"}`+"\n"), opts)
	if err == nil || !strings.Contains(err.Error(), "row 1 of the input differs") {
		t.Errorf("err = %v, want a refusal naming row 1", err)
	}
	if got := fc.names(); !reflect.DeepEqual(got, []string{"A", "B"}) {
		t.Errorf("Coupa holds %v", got)
	}
}

func TestSummaryAndProblemsRenderOnOneLine(t *testing.T) {
	s := Summary{Rows: 9, Sent: 7, Created: 5, Failed: 3, Skipped: 1, InDoubt: 1, Elapsed: 1234567 * time.Microsecond}
	if got, want := s.String(), "9 rows: sent 7, created 5, updated 0, failed 3, skipped 1, in doubt 1 in 1.235s"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	d := Summary{Rows: 2, Valid: 1, Failed: 1, DryRun: true}
	if got, want := d.String(), "dry run: 2 rows, 1 valid, 1 invalid, nothing sent"; got != want {
		t.Errorf("dry-run Summary = %q, want %q", got, want)
	}
	p := Problems{"name": {"can't be blank", "is too short"}, "email": {"is invalid"}}
	if got, want := p.String(), "email: is invalid; name: can't be blank, is too short"; got != want {
		t.Errorf("Problems = %q, want %q", got, want)
	}
}

func TestRunUpdateInDoubtIsSentAgainAndEmptyRowsFail(t *testing.T) {
	fc := &fakeCoupa{objects: []map[string]any{{"id": json.Number("1"), "name": "A"}}}
	results := filepath.Join(t.TempDir(), "results.jsonl")
	os.WriteFile(results, []byte(`{"row":1,"status":"attempt"}`+"\n"), 0o644)
	sum, err := Run(context.Background(), fc, rowsOf(t, `{"id":1,"on-hold":true}`+"\n"+`{"id":1}`+"\n"),
		Options{Table: supplierTable, Mode: Update, Results: results})
	if err != nil {
		t.Fatal(err)
	}
	// A PUT of the same body is harmless to repeat, so no look-up is needed.
	if sum.Updated != 1 || fc.lists != 0 || !reflect.DeepEqual(fc.updates[1], map[string]any{"on-hold": true}) {
		t.Errorf("summary %+v, %d lists, updates %v", sum, fc.lists, fc.updates)
	}
	finals, _ := readResults(t, results)
	if len(finals) != 2 || finals[1] != `{"row":2,"status":"failed","errors":{"row":["has no field to update besides the id"]}}` {
		t.Errorf("results = %v", finals)
	}
}

// BenchmarkRunCreateWithResults measures the engine's own cost per row (validation, two synced results
// lines) with an instant fake Coupa: it must stay far below the 50 ms a row may take at 20 requests/s.
func BenchmarkRunCreateWithResults(b *testing.B) {
	var in strings.Builder
	for i := range 500 {
		in.WriteString(`{"name":"S` + strconv.Itoa(i) + `","number":"N` + strconv.Itoa(i) + `","on-hold":false}` + "\n")
	}
	input := in.String()
	b.ReportAllocs()
	for b.Loop() {
		results := filepath.Join(b.TempDir(), "results.jsonl")
		sum, err := Run(context.Background(), &fakeCoupa{}, NewReader(strings.NewReader(input), JSONL, supplierTable).Rows(),
			Options{Table: supplierTable, Mode: Create, Results: results})
		if err != nil || sum.Created != 500 {
			b.Fatalf("%+v, %v", sum, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*500), "µs/row")
}

// stuckCoupa holds every create until the run is interrupted, like a slow Coupa at a Ctrl-C.
type stuckCoupa struct {
	*fakeCoupa
	started chan int
}

func (s *stuckCoupa) Create(ctx context.Context, resource string, body any, _ *coupa.WriteOptions) (coupa.Record, *coupa.Response, error) {
	s.started <- 1
	<-ctx.Done()
	return nil, nil, fmt.Errorf("coupa: POST /api/%s: %w", resource, ctx.Err())
}

// Rows in flight at an interrupt are "not confirmed", not failed; the rows never sent are said; the
// re-run checks the unconfirmed ones and its counts add up to the input.
func TestRunInterruptedRowsAreNotConfirmed(t *testing.T) {
	results := filepath.Join(t.TempDir(), "results.jsonl")
	var in strings.Builder
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&in, `{"name":"S%d","number":"N-%d"}`+"\n", i, i)
	}
	sc := &stuckCoupa{fakeCoupa: &fakeCoupa{}, started: make(chan int, 8)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-sc.started; <-sc.started; cancel() }()
	var seen []Status
	sum, err := Run(ctx, sc, rowsOf(t, in.String()), Options{Table: supplierTable, Mode: Create, Results: results,
		Concurrency: 2, OnResult: func(r Result) { seen = append(seen, r.Status) }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if sum.NotConfirmed != 2 || sum.Failed != 0 || sum.Created != 0 {
		t.Fatalf("summary %+v, want 2 not confirmed and nothing failed", sum)
	}
	if !slices.Equal(seen, []Status{StatusNotConfirmed, StatusNotConfirmed}) {
		t.Errorf("reported %v", seen)
	}
	if s := sum.String(); !strings.Contains(s, "not confirmed 2") || !strings.Contains(s, "failed 0") ||
		(sum.Rows > 2 && !strings.Contains(s, fmt.Sprintf("not started %d", sum.Rows-2))) {
		t.Errorf("summary line %q", s)
	}
	finals, attempts := readResults(t, results)
	if len(finals) != 0 || len(attempts) != 2 {
		t.Fatalf("results: finals %v attempts %v, want the two attempts only", finals, attempts)
	}
	fc := &fakeCoupa{}
	sum, err = Run(context.Background(), fc, rowsOf(t, in.String()), Options{Table: supplierTable, Mode: Create, Results: results})
	if err != nil || sum.Rows != 6 || sum.Created != 6 || sum.Failed+sum.InDoubt+sum.NotConfirmed+sum.Skipped != 0 {
		t.Fatalf("re-run: %+v %v, want all 6 created", sum, err)
	}
	if fc.lists != 2 {
		t.Errorf("%d lookups, want the 2 unconfirmed rows looked up by natural key", fc.lists)
	}
}
