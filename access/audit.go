package access

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Entry is one line of the audit log.
type Entry struct {
	Time  time.Time `json:"time"`
	Actor string    `json:"actor"` // OAuth client id, never a secret
	Outcome
}

// AuditLog appends JSON lines to a file; every entry is written and synced before the call returns, so a
// crash cannot lose a change that was reported.
type AuditLog struct {
	mu   sync.Mutex
	path string
	now  func() time.Time
}

// OpenAuditLog checks that the log at path can be written before anything is changed in Coupa. The file
// (mode 0600) appears with the first entry: a run refused before its first change leaves no empty log.
func OpenAuditLog(path string) (*AuditLog, error) {
	_, statErr := os.Stat(path)
	existed := statErr == nil
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the audit log: %w; pass --audit-log with a writable path", err)
	}
	f.Close()
	if !existed {
		os.Remove(path)
	}
	return &AuditLog{path: path, now: func() time.Time { return time.Now().UTC() }}, nil
}

// Append writes one entry.
func (l *AuditLog) Append(e Entry) error {
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
