package progress

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/coupa/pace"
	"github.com/coupa-connector/coupa-connector/extract"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestPlainLogLinesArePeriodic(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	off := false
	instance := func() pace.Stats { return pace.Stats{Rate: 17.5, InFlight: 23, Throttled: 2} }
	r := New(&buf, logger, Options{TTY: &off, Interval: 5 * time.Second, Now: c.now, Instance: instance})
	r.Event(extract.Event{Kind: extract.TableStarted, Table: "invoices", Done: -1})
	for i := 1; i <= 12; i++ {
		c.add(time.Second)
		r.Event(extract.Event{Kind: extract.PageWritten, Table: "invoices", Rows: 50 * i, Pages: i, Requests: int64(2 * i), Done: float64(i) / 12})
	}
	r.Wait()
	out := buf.String()
	if n := strings.Count(out, "msg=progress"); n != 2 {
		t.Fatalf("%d progress lines in 12s at a 5s interval, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "msg=syncing table=invoices") || !strings.Contains(out, "rows=250") || !strings.Contains(out, "req_per_s=2.0") {
		t.Fatalf("log lines lack the table, rows or request rate:\n%s", out)
	}
	if !strings.Contains(out, "instance_rate=17.5 in_flight=23 throttled=2") {
		t.Fatalf("log lines lack the instance's rate, requests in flight and 429s:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Fatalf("plain output contains terminal escapes: %q", out)
	}
}

func TestBarsDrawTableNameAndCounts(t *testing.T) {
	var buf bytes.Buffer
	on := true
	r := New(&buf, nil, Options{TTY: &on})
	r.Event(extract.Event{Kind: extract.TableStarted, Table: "purchase_orders", Done: -1})
	r.Event(extract.Event{Kind: extract.PageWritten, Table: "purchase_orders", Rows: 150, Pages: 3, Requests: 5, Done: 0.5})
	s := extract.TableSummary{Status: extract.StatusOK}
	r.Event(extract.Event{Kind: extract.TableFinished, Table: "purchase_orders", Rows: 150, Pages: 3, Requests: 5, Done: 1, Summary: &s})
	r.Wait()
	out := buf.String()
	if !strings.Contains(out, "purchase_orders") || !strings.Contains(out, "150 rows") || !strings.Contains(out, "3 pages") {
		t.Fatalf("bar output lacks the table and its counts:\n%q", out)
	}
}
