package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is what one scenario prints and records.
type report struct {
	scenario string
	title    string
	header   []string
	rows     [][]string
	notes    []string // what the figures mean, targets met or missed and why

	command  string
	runs     int    // figures are medians of this many runs
	runsNote string // replaces "median of N runs" when runs differ per row
}

func (r *report) add(cells ...string) { r.rows = append(r.rows, cells) }

func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *report) runsText() string {
	if r.runsNote != "" {
		return r.runsNote
	}
	if r.runs == 1 {
		return "one run"
	}
	return fmt.Sprintf("medians of %d runs", r.runs)
}

func printReport(w io.Writer, r *report) {
	fmt.Fprintf(w, "\n== %s: %s (%s)\n\n", r.scenario, r.title, r.runsText())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(r.header, "\t")+"\t")
	for _, row := range r.rows {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	if len(r.notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
}

// machine describes where the figures were taken.
type machine struct {
	CPUs    int
	Model   string
	Go      string
	OS      string
	Load    string
	MemTot  string
	Started time.Time
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Started: time.Now().UTC(), Model: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				var kb int64
				fmt.Sscan(strings.TrimSpace(strings.TrimPrefix(line, "MemTotal:")), &kb)
				m.MemTot = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return m
}

const recordHeader = `# Benchmarks

Figures from ` + "`go run ./bench`" + ` (see bench/main.go). Each section below was appended by ` + "`--record`" + `;
earlier runs are kept for comparison. Read the notes under each table: they say what the figures mean and
why a target is missed.
`

// appendRecord appends r as a dated section to path (created with a header when missing).
func appendRecord(path string, r *report, m machine) error {
	var b strings.Builder
	if _, err := os.Stat(path); os.IsNotExist(err) {
		b.WriteString(recordHeader)
	}
	fmt.Fprintf(&b, "\n## %s — %s (%s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), r.scenario, r.title)
	fmt.Fprintf(&b, "- Machine: %d × %s, %s RAM, %s, %s; load average when the command started: %s\n",
		m.CPUs, m.Model, m.MemTot, m.OS, m.Go, m.Load)
	fmt.Fprintf(&b, "- Command: `%s`\n", r.command)
	fmt.Fprintf(&b, "- Figures: %s\n\n", r.runsText())
	b.WriteString("| " + strings.Join(r.header, " | ") + " |\n")
	seps := make([]string, len(r.header))
	for i := range seps {
		seps[i] = "---:"
	}
	seps[0] = "---"
	b.WriteString("| " + strings.Join(seps, " | ") + " |\n")
	for _, row := range r.rows {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	if len(r.notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.notes {
			b.WriteString("- " + n + "\n")
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot append to %s: %v", path, err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return fmt.Errorf("cannot append to %s: %v", path, err)
	}
	return f.Close()
}

// median of xs (NaN for none); the mean of the middle two for an even count.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// samples collects one figure per run for several named metrics.
type samples map[string][]float64

func (s samples) add(name string, v float64) { s[name] = append(s[name], v) }
func (s samples) med(name string) float64    { return median(s[name]) }

// num formats v with thousands separators and the given decimals.
func num(v float64, decimals int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	s := fmt.Sprintf("%.*f", decimals, math.Abs(v))
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

func pct(v float64) string { return num(v, 1) + "%" }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
