// Package progress shows how a sync is going: one mpb bar per table when stderr is a terminal, plain
// periodic log lines otherwise (CI logs and files must not fill with redraw escapes).
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/coupa-connector/coupa-connector/coupa/pace"
	"github.com/coupa-connector/coupa-connector/extract"
)

// barScale is the bar total: the engine reports a fraction, the bar wants integers.
const barScale = 1000

// Reporter receives the engine's events. It is safe for concurrent use.
type Reporter struct {
	mu       sync.Mutex
	bars     *mpb.Progress // nil when not a terminal
	log      *slog.Logger
	every    time.Duration
	now      func() time.Time
	instance func() pace.Stats
	tables   map[string]*tableState
}

type tableState struct {
	bar     *mpb.Bar
	started time.Time
	logged  time.Time
	// ev is read by mpb's drawing goroutine without r.mu: taking r.mu there could deadlock against an
	// Event call that waits for that same goroutine inside a bar method.
	ev atomic.Pointer[extract.Event]
}

// Options tune a Reporter; the zero value decides from the writer.
type Options struct {
	TTY      *bool         // force bars on or off; nil = bars when w is a terminal
	Interval time.Duration // between log lines of one table (default 5s)
	Now      func() time.Time
	// Instance, when set, reads the Coupa instance's scheduler: its live rate, requests in flight and
	// 429s go with every line, so a person sees whether Coupa or the connector is the bound.
	Instance func() pace.Stats
}

// New returns a reporter drawing on w (bars) or logging to logger (lines).
func New(w io.Writer, logger *slog.Logger, opts Options) *Reporter {
	tty := IsTerminal(w)
	if opts.TTY != nil {
		tty = *opts.TTY
	}
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reporter{log: logger, every: opts.Interval, now: opts.Now, instance: opts.Instance, tables: map[string]*tableState{}}
	if tty {
		r.bars = mpb.New(mpb.WithOutput(w), mpb.WithWidth(120), mpb.WithAutoRefresh())
	}
	return r
}

// IsTerminal reports whether w is a character device such as a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Event records one engine event; pass it as extract.Config.Progress.
func (r *Reporter) Event(ev extract.Event) {
	now := r.now()
	r.mu.Lock()
	ts := r.tables[ev.Table]
	fresh := ts == nil
	if fresh {
		ts = &tableState{started: now, logged: now}
		r.tables[ev.Table] = ts
	}
	ts.ev.Store(&ev)
	logNow := ts.bar == nil && r.bars == nil && ev.Kind == extract.PageWritten && now.Sub(ts.logged) >= r.every
	if logNow {
		ts.logged = now
	}
	r.mu.Unlock()
	if fresh {
		if r.bars != nil {
			bar := r.bars.AddBar(barScale, mpb.BarWidth(30),
				mpb.PrependDecorators(decor.Name(ev.Table, decor.WC{W: 24, C: decor.DindentRight})),
				mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return r.line(ts) })),
			)
			r.mu.Lock()
			ts.bar = bar
			r.mu.Unlock()
		} else {
			r.log.Info("syncing", "table", ev.Table)
		}
	}
	r.mu.Lock()
	bar := ts.bar
	r.mu.Unlock()
	switch ev.Kind {
	case extract.PageWritten:
		if bar != nil && ev.Done >= 0 {
			bar.SetCurrent(int64(ev.Done * barScale))
		}
		if logNow {
			args := []any{"table", ev.Table, "rows", ev.Rows, "pages", ev.Pages, "requests", ev.Requests,
				"req_per_s", fmt.Sprintf("%.1f", rate(ev.Requests, now.Sub(ts.started))), "done", percent(ev.Done)}
			if r.instance != nil {
				st := r.instance()
				args = append(args, "instance_rate", fmt.Sprintf("%.1f", st.Rate), "in_flight", st.InFlight, "throttled", st.Throttled)
			}
			r.log.Info("progress", args...)
		}
	case extract.TableFinished:
		if bar != nil {
			bar.SetTotal(-1, true)
		}
	}
}

// line is a bar's right-hand text; called by mpb's goroutine.
func (r *Reporter) line(ts *tableState) string {
	ev := ts.ev.Load()
	if ev == nil {
		return ""
	}
	s := fmt.Sprintf("%d rows  %d pages  %.1f req/s", ev.Rows, ev.Pages, rate(ev.Requests, r.now().Sub(ts.started)))
	if r.instance != nil {
		st := r.instance()
		s += fmt.Sprintf("  (instance %.0f/s, %d in flight, %d×429)", st.Rate, st.InFlight, st.Throttled)
	}
	if ev.Kind == extract.TableFinished && ev.Summary != nil {
		s += "  " + ev.Summary.Status
	} else if ev.Done > 0 && ev.Done < 1 {
		el := r.now().Sub(ts.started)
		s += "  ETA " + (time.Duration(float64(el)/ev.Done) - el).Round(time.Second).String()
	}
	return s
}

// Wait finishes drawing; call it before printing anything else to the same terminal.
func (r *Reporter) Wait() {
	if r.bars == nil {
		return
	}
	r.mu.Lock()
	var open []*mpb.Bar
	for _, ts := range r.tables {
		if ts.bar != nil {
			open = append(open, ts.bar)
		}
	}
	r.mu.Unlock()
	for _, b := range open {
		if !b.Completed() {
			b.Abort(false)
		}
	}
	r.bars.Wait()
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func percent(f float64) string {
	if f < 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f%%", f*100)
}
