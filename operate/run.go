package operate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
)

// Client is the part of *coupa.Client a run uses; tests substitute a fake.
type Client interface {
	Create(ctx context.Context, resource string, body any, opts *coupa.WriteOptions) (coupa.Record, *coupa.Response, error)
	Update(ctx context.Context, resource string, id int64, body any, opts *coupa.WriteOptions) (coupa.Record, *coupa.Response, error)
	List(ctx context.Context, resource string, opts *coupa.ListOptions) iter.Seq2[coupa.Record, error]
}

// Options configure a run.
type Options struct {
	Table       *catalog.Table
	Mode        Mode
	Concurrency int    // rows in flight at once (default 4); the client's rate limiter paces them
	DryRun      bool   // validate and report what would be sent; send nothing, write no results file
	Results     string // results file (JSONL) to append to and resume from; empty: no resume
	ID          int64  // update: the id for rows that carry none (one object given on the command line)
	Logger      *slog.Logger
	// OnResult sees every row's final result, one call at a time, in completion order.
	OnResult func(Result)
}

// Summary counts a run's rows.
type Summary struct {
	Rows    int // rows read
	Sent    int // rows a write request was sent for
	Created int
	Updated int
	Failed  int
	Skipped int // done by an earlier run
	InDoubt int // left alone: an earlier run may have created them and there is no natural key to check
	Valid   int // dry run: rows that would be sent
	// NotConfirmed rows were in flight when the run was interrupted (StatusNotConfirmed).
	NotConfirmed int
	DryRun       bool
	Elapsed      time.Duration
}

// Run sends every row and returns the counts. Row failures are counted, reported and recorded, never
// returned: the error is for what stops the whole run (results file unusable, input unreadable, ctx).
//
// Resuming without duplicates. A create is the one write that is not safe to repeat, and a kill can land
// between Coupa creating the object and the results line saying so. So before each request an "attempt"
// line is appended and synced to the results file; the final line follows the answer. On a re-run with
// the same results file and input:
//   - rows whose last line is final (created, updated, skipped) are skipped;
//   - rows whose last line is only an attempt (or a failure that may have reached Coupa, such as a
//     timeout or a 5xx) are in doubt: a create is first looked up in Coupa by the row's natural key
//     (NaturalKey: suppliers by number or name, users by login, an external reference field...), and
//     only created when absent; when the row has no natural key it is left alone and reported, because
//     sending it could make a duplicate that nothing would reveal. An update is simply sent again:
//     a PUT of the same body is harmless to repeat;
//   - every other row (never tried, or refused by Coupa with a 4xx) is sent.
func Run(ctx context.Context, c Client, rows iter.Seq2[Row, error], opts Options) (Summary, error) {
	start := time.Now()
	if opts.Table == nil {
		return Summary{}, errors.New("operate: Options.Table is required")
	}
	if opts.Mode != Create && opts.Mode != Update {
		return Summary{}, errors.New("operate: Options.Mode must be Create or Update")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &runner{c: c, opts: opts, schema: NewSchema(opts.Table), priors: map[int]prior{}}
	r.sum.DryRun = opts.DryRun
	if opts.Results != "" && !opts.DryRun {
		rf, priors, err := openResults(opts.Results)
		if err != nil {
			return Summary{}, err
		}
		defer rf.Close()
		r.results, r.priors = rf, priors
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan Row)
	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Go(func() {
			for row := range jobs {
				if err := r.do(ctx, row); err != nil {
					cancel(err)
				}
			}
		})
	}
	var readErr error
	for row, err := range rows {
		if err != nil {
			readErr = err
			break
		}
		r.count(func(s *Summary) { s.Rows++ })
		select {
		case jobs <- row:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(jobs)
	wg.Wait()
	r.sum.Elapsed = time.Since(start)
	if cause := context.Cause(ctx); cause != nil {
		return r.sum, cause
	}
	return r.sum, readErr
}

type runner struct {
	c       Client
	opts    Options
	schema  *Schema
	results *resultsFile
	priors  map[int]prior // read before workers start; read-only afterwards

	mu  sync.Mutex // guards sum and serialises OnResult
	sum Summary
}

func (r *runner) count(f func(*Summary)) {
	r.mu.Lock()
	f(&r.sum)
	r.mu.Unlock()
}

// finish records a row's final result: results file, counters, callback.
func (r *runner) finish(res Result, write bool) error {
	if write {
		if err := r.results.write(res); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch res.Status {
	case StatusCreated:
		r.sum.Created++
	case StatusUpdated:
		r.sum.Updated++
	case StatusFailed:
		r.sum.Failed++
	case StatusValid:
		r.sum.Valid++
	case StatusNotConfirmed:
		r.sum.NotConfirmed++
	case StatusSkipped:
		if res.InDoubt {
			r.sum.InDoubt++
		} else {
			r.sum.Skipped++
		}
	}
	if r.opts.OnResult != nil {
		r.opts.OnResult(res)
	}
	return nil
}

func inDoubt(p prior, ok bool) bool {
	return ok && (p.last.Status == StatusAttempt || p.last.InDoubt)
}

func (r *runner) do(ctx context.Context, row Row) error {
	if ctx.Err() != nil {
		return nil
	}
	p, seen := r.priors[row.N]
	fp := fingerprint(row.Data)
	if seen && p.last.Status != StatusFailed && p.last.Input != "" && fp != p.last.Input {
		// A row that was sent must still be the same row, or skipping it (or looking it up) would be
		// wrong. Failed rows may change: fixing them and re-running is the point of resuming.
		return fmt.Errorf("row %d of the input differs from the row the results file %s recorded as %s: "+
			"resume with the same input, or start a new results file", row.N, r.opts.Results, p.last.Status)
	}
	if seen && !p.last.InDoubt && (p.last.Status == StatusCreated || p.last.Status == StatusUpdated || p.last.Status == StatusSkipped) {
		return r.finish(Result{Row: row.N, Status: StatusSkipped, ID: p.last.ID}, false)
	}
	write := !r.opts.DryRun
	if row.Err != nil {
		return r.finish(Result{Row: row.N, Status: StatusFailed, Errors: Problems{"row": {row.Err.Error()}}}, write)
	}
	body, problems := r.schema.Check(row.Data, r.opts.Mode)
	id := r.opts.ID
	if r.opts.Mode == Update {
		if v, ok := row.Data["id"]; ok {
			n, err := strconv.ParseInt(strings.TrimSpace(valueAt(map[string]any{"id": v}, "id")), 10, 64)
			if (err != nil || n <= 0) && problems["id"] == nil {
				problems = addProblem(problems, "id", "must be a positive integer id of the object to update")
			}
			id = n
		} else if id == 0 {
			problems = addProblem(problems, "id", "is required to update: add an id field or column")
		}
		if len(body) == 0 {
			problems = addProblem(problems, "row", "has no field to update besides the id")
		}
	}
	if problems != nil {
		return r.finish(Result{Row: row.N, Status: StatusFailed, Errors: problems, Body: body, Input: fp}, write)
	}
	if r.opts.DryRun {
		return r.finish(Result{Row: row.N, Status: StatusValid, ID: id, Body: body}, false)
	}
	resource := r.opts.Table.Resource
	if r.opts.Mode == Create && inDoubt(p, seen) {
		filters := NaturalKey(r.opts.Table, body)
		if filters == nil {
			if p.last.Status == StatusSkipped {
				return r.finish(p.last, false) // already reported as in doubt; do not repeat the line
			}
			return r.finish(Result{Row: row.N, Status: StatusSkipped, InDoubt: true, Input: fp, Errors: Problems{"row": {
				"an earlier run sent this row but stopped before Coupa's answer was recorded, and the row has no natural key to look it up by: " +
					"check whether it exists in Coupa, then remove this row's lines from the results file to send it again"}}}, true)
		}
		found, err := r.lookup(ctx, resource, filters)
		if err != nil {
			return r.finish(Result{Row: row.N, Status: StatusFailed, InDoubt: true, Input: fp, Errors: Problems{"row": {
				"checking whether an earlier run created this row: " + err.Error()}}}, true)
		}
		if found > 0 {
			r.opts.Logger.Info("row already created by an earlier run", "row", row.N, "id", found)
			return r.finish(Result{Row: row.N, Status: StatusCreated, ID: found, Recovered: true, Body: body, Input: fp}, true)
		}
	}
	if err := r.results.write(Result{Row: row.N, Status: StatusAttempt, Input: fp}); err != nil {
		return err
	}
	r.count(func(s *Summary) { s.Sent++ })
	var rec coupa.Record
	var err error
	if r.opts.Mode == Create {
		rec, _, err = r.c.Create(ctx, resource, body, nil)
	} else {
		rec, _, err = r.c.Update(ctx, resource, id, body, nil)
	}
	if err != nil && ctx.Err() != nil {
		// Interrupted in flight: not a failure, and not final. The attempt line stays the last word.
		return r.finish(Result{Row: row.N, Status: StatusNotConfirmed, Body: body, Input: fp,
			Errors: Problems{"row": {"interrupted before Coupa answered; the next run with the same results file checks it"}}}, false)
	}
	if err != nil {
		res := Result{Row: row.N, Status: StatusFailed, Errors: coupaProblems(err), Body: body, Input: fp}
		if r.opts.Mode == Update && coupa.IsNotFound(err) {
			res.Errors = Problems{"id": {fmt.Sprintf("%s %d does not exist", r.opts.Table.Name, id)}}
		}
		var ae *coupa.APIError
		if r.opts.Mode == Create && (!errors.As(err, &ae) || ae.StatusCode >= 500) {
			res.InDoubt = true
		}
		return r.finish(res, true)
	}
	res := Result{Row: row.N, Status: StatusCreated, Body: body, ID: recordID(rec), Input: fp}
	if r.opts.Mode == Update {
		res.Status = StatusUpdated
		if res.ID == 0 {
			res.ID = id
		}
	}
	return r.finish(res, true)
}

// fingerprint is a short hash of a row as read (encoding/json sorts map keys, so it is stable).
func fingerprint(data map[string]any) string {
	if data == nil {
		return ""
	}
	b, err := json.Marshal(data)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

func addProblem(p Problems, field, msg string) Problems {
	if p == nil {
		p = Problems{}
	}
	p.add(field, "%s", msg)
	return p
}

// coupaProblems turns a failed request into per-field messages: Coupa's own errors body when it sent
// one, else the error on one line under "row".
func coupaProblems(err error) Problems {
	var ae *coupa.APIError
	if errors.As(err, &ae) && len(ae.Errors) > 0 {
		return Problems(ae.Errors)
	}
	return Problems{"row": {err.Error()}}
}

func recordID(rec coupa.Record) int64 {
	n, _ := strconv.ParseInt(valueAt(rec, "id"), 10, 64)
	return n
}

func (r *runner) lookup(ctx context.Context, resource string, filters []coupa.Filter) (int64, error) {
	opts := &coupa.ListOptions{Filters: filters, Fields: []any{"id"}, Limit: 1}
	for rec, err := range r.c.List(ctx, resource, opts) {
		if err != nil {
			return 0, err
		}
		if id := recordID(rec); id > 0 {
			return id, nil
		}
	}
	return 0, nil
}

// externalRefs are the fields integrations fill with their own system's key; any object carrying one
// can be found again by it.
var externalRefs = []string{"external-ref-num", "external-ref-id", "external-ref-code", "external-src-ref", "erp-document-id"}

// NaturalKey returns the filters that find the object body would create, or nil when body carries no
// natural key for t.
func NaturalKey(t *catalog.Table, body map[string]any) []coupa.Filter {
	for _, set := range t.NaturalKeys {
		if fs := keyFilters(body, set); fs != nil {
			return fs
		}
	}
	for _, f := range externalRefs {
		if fs := keyFilters(body, []string{f}); fs != nil {
			return fs
		}
	}
	return nil
}

func keyFilters(body map[string]any, fields []string) []coupa.Filter {
	var fs []coupa.Filter
	for _, f := range fields {
		v := valueAt(body, f)
		if v == "" {
			return nil
		}
		fs = append(fs, coupa.Filter{Field: f, Op: coupa.OpEq, Value: v})
	}
	return fs
}

// String renders the summary on one line for the end of a run.
func (s Summary) String() string {
	if s.DryRun {
		return fmt.Sprintf("dry run: %d rows, %d valid, %d invalid, nothing sent", s.Rows, s.Valid, s.Failed)
	}
	out := fmt.Sprintf("%d rows: sent %d, created %d, updated %d, failed %d, skipped %d", s.Rows, s.Sent, s.Created, s.Updated, s.Failed, s.Skipped)
	if s.InDoubt > 0 {
		out += fmt.Sprintf(", in doubt %d", s.InDoubt)
	}
	if s.NotConfirmed > 0 {
		out += fmt.Sprintf(", not confirmed %d (interrupted in flight)", s.NotConfirmed)
	}
	// Rows read but never sent (an interrupt came first): said, so that the counts add up to Rows.
	if rest := s.Rows - s.Created - s.Updated - s.Failed - s.Skipped - s.InDoubt - s.NotConfirmed; rest > 0 {
		out += fmt.Sprintf(", not started %d", rest)
	}
	return out + fmt.Sprintf(" in %s", s.Elapsed.Round(time.Millisecond))
}
