package operate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
)

// Status is the outcome of one row.
type Status string

// Row outcomes as written to the results file.
const (
	StatusAttempt Status = "attempt" // written (and synced) just before the request; never final
	StatusCreated Status = "created"
	StatusUpdated Status = "updated"
	StatusFailed  Status = "failed"
	StatusSkipped Status = "skipped" // not sent: done by an earlier run, or left alone because it is in doubt
	StatusValid   Status = "valid"   // dry run: the row would be sent
	// StatusNotConfirmed is a row in flight when the run was interrupted: Coupa may or may not have
	// taken it. It is reported, never written: the results file keeps its attempt line, so the next run
	// checks the row (a create is looked up by its natural key, an update sent again).
	StatusNotConfirmed Status = "not_confirmed"
)

// Result is one line of the results file, and what a run reports per row.
type Result struct {
	Row    int      `json:"row"`
	Status Status   `json:"status"`
	ID     int64    `json:"id,omitempty"`
	Errors Problems `json:"errors,omitempty"`
	// InDoubt marks a create whose request may have reached Coupa without its answer reaching us
	// (a timeout, a reset connection, a kill). A later run looks the row up before sending it again.
	InDoubt bool `json:"in_doubt,omitempty"`
	// Recovered marks a row an earlier run had sent, found in Coupa by its natural key instead of
	// being created twice.
	Recovered bool `json:"recovered,omitempty"`
	// Input fingerprints the input row, so that a results file is not resumed against another file.
	Input string `json:"input,omitempty"`
	// Body is what was (or, in a dry run, would be) sent; not part of the results file.
	Body map[string]any `json:"-"`
}

// resultsFile appends results and syncs each line, so that a line that was written survives a kill.
type resultsFile struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

// prior is what earlier runs recorded for one row: its last line.
type prior struct {
	last Result
}

// openResults reads what earlier runs recorded in path, then opens it for appending.
func openResults(path string) (*resultsFile, map[int]prior, error) {
	priors := map[int]prior{}
	partialOK := false
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("reading results file: %w", err)
	}
	// A kill while a line was being written leaves it cut short at the end of the file: drop it, so
	// that the row counts as not recorded and the next line starts clean.
	if i := bytes.LastIndexByte(data, '\n'); i < len(data)-1 {
		var r Result
		if json.Unmarshal(bytes.TrimSpace(data[i+1:]), &r) != nil {
			if err := os.Truncate(path, int64(i+1)); err != nil {
				return nil, nil, fmt.Errorf("repairing results file: %w", err)
			}
			data = data[:i+1]
		} else {
			data = append(data, '\n')
			partialOK = true
		}
	}
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var r Result
		if err := json.Unmarshal(line, &r); err != nil || r.Row <= 0 || r.Status == "" {
			return nil, nil, fmt.Errorf("results file %s line %d is not a result line: is it the results file of another tool?", path, i+1)
		}
		priors[r.Row] = prior{last: r}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("opening results file: %w", err)
	}
	rf := &resultsFile{f: f, w: bufio.NewWriter(f)}
	if partialOK {
		if _, err := f.WriteString("\n"); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("writing results file: %w", err)
		}
	}
	return rf, priors, nil
}

func (rf *resultsFile) write(r Result) error {
	if rf == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if _, err := rf.w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing results file: %w", err)
	}
	if err := rf.w.Flush(); err != nil {
		return fmt.Errorf("writing results file: %w", err)
	}
	if err := rf.f.Sync(); err != nil {
		return fmt.Errorf("syncing results file: %w", err)
	}
	return nil
}

func (rf *resultsFile) Close() error {
	if rf == nil {
		return nil
	}
	return rf.f.Close()
}

var _ io.Closer = (*resultsFile)(nil)
