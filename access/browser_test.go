package access

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/sim"
)

// chromiumPath finds Debian's chromium. Without it the test fails in CI (which installs it) and is skipped on
// a developer's machine.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; .ci/run installs it: apt-get install chromium")
	}
	t.Skip("install chromium: apt-get install chromium")
	return ""
}

// runChromium runs headless chromium with args and returns its stdout. Chromium forks helpers: they run in
// their own process group, killed as a whole if the browser hangs.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v: %s", strings.Join(args, " "), err, tail(stderr.String(), 5))
	}
	return stdout.Bytes()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// TestHTMLReportInHeadlessChromium renders the review of the simulator's users, opens it in a real browser
// and checks what an auditor would see: a screenshot with the summary and the licence chart drawn, and
// tables the sorting script reorders without losing a row.
func TestHTMLReportInHeadlessChromium(t *testing.T) {
	bin := chromiumPath(t)
	s, cl := startSim(t, sim.Options{Seed: 23, Scale: 300})
	// An inactive user keeping licences, so that the chart has both its colours.
	if _, err := s.Mutate(sim.Mutation{Resource: "users", ID: 3, Set: map[string]any{"active": false, "purchasing-user": true}}); err != nil {
		t.Fatal(err)
	}
	m, err := Fetch(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	rv := NewReview(m, time.Now())
	if len(rv.Users) < 10 || len(rv.Licenses) < 2 {
		t.Fatalf("review of %d users and %d licence types: too little to draw", len(rv.Users), len(rv.Licenses))
	}
	var page bytes.Buffer
	if err := rv.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	report := filepath.Join(dir, "review.html")
	if err := os.WriteFile(report, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(dir, "review.png")
		runChromium(t, bin, "--window-size=1280,1000", "--screenshot="+shot, "file://"+report)
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("chromium wrote no screenshot: %v", err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("the screenshot is not a PNG: %v", err)
		}
		b := img.Bounds()
		if b.Dx() != 1280 || b.Dy() != 1000 {
			t.Fatalf("screenshot is %dx%d, want the 1280x1000 window", b.Dx(), b.Dy())
		}
		colours, inked, blue, orange := scanPixels(img)
		t.Logf("screenshot: %d distinct colours, %d non-white pixels, %d blue and %d orange chart pixels", colours, inked, blue, orange)
		if colours <= 10 {
			t.Fatalf("screenshot has %d distinct colours: the page is blank or flat", colours)
		}
		if inked*100 < b.Dx()*b.Dy() {
			t.Fatalf("only %d of %d pixels are not white: next to nothing was drawn", inked, b.Dx()*b.Dy())
		}
		// The chart's bars (and legend) in their two colours: the inline SVG rendered.
		if blue < 500 || orange < 50 {
			t.Fatalf("chart colours: %d blue (active) and %d orange (inactive) pixels; the licence chart did not render", blue, orange)
		}
	})

	t.Run("sortable tables", func(t *testing.T) {
		// The same report, plus a probe: JavaScript errors are recorded on <html>, and after the report's
		// script has run, the users table is sorted by id descending (two clicks) and the licences table by
		// user count (one click).
		probeHead := `<script>window.addEventListener("error", function (e) { document.documentElement.setAttribute("data-js-error", e.message); });</script>`
		probeEnd := `<script>
var idTh = document.querySelector("#users th"); idTh.click(); idTh.click();
document.querySelectorAll("#licenses th")[1].click();
document.documentElement.setAttribute("data-probe", "ran");
</script>`
		html := strings.Replace(page.String(), "<head>", "<head>"+probeHead, 1)
		html = strings.Replace(html, "</body>", probeEnd+"</body>", 1)
		probed := filepath.Join(dir, "probed.html")
		if err := os.WriteFile(probed, []byte(html), 0o644); err != nil {
			t.Fatal(err)
		}
		dom := string(runChromium(t, bin, "--dump-dom", "file://"+probed))
		if !strings.Contains(dom, `data-probe="ran"`) {
			t.Fatalf("the probe script did not run; DOM starts %q", dom[:min(len(dom), 300)])
		}
		if i := strings.Index(dom, "data-js-error="); i >= 0 {
			t.Fatalf("JavaScript error in the report: %s", dom[i:min(len(dom), i+200)])
		}

		ids := columnOf(t, dom, "users", 0)
		want := make([]int64, len(rv.Users))
		for i, u := range rv.Users {
			want[i] = u.ID
		}
		slices.Sort(want)
		slices.Reverse(want)
		got := make([]int64, len(ids))
		for i, s := range ids {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("users table id cell %q", s)
			}
			got[i] = n
		}
		if !slices.Equal(got, want) {
			t.Fatalf("users table after sorting by id descending: %d rows %v..., want %d rows %v...",
				len(got), got[:min(len(got), 8)], len(want), want[:min(len(want), 8)])
		}
		if !regexp.MustCompile(`(?s)<table id="users".*?<th class="desc">Id</th>`).MatchString(dom) {
			t.Fatal("the users table's Id header is not marked descending")
		}

		counts := columnOf(t, dom, "licenses", 1)
		if len(counts) != len(rv.Licenses) {
			t.Fatalf("licences table has %d rows after sorting, want %d", len(counts), len(rv.Licenses))
		}
		var prev int
		for i, s := range counts {
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("licences table count cell %q", s)
			}
			// Numeric, not text order: 9 before 10.
			if i > 0 && n < prev {
				t.Fatalf("licences table not sorted by users ascending: %v", counts)
			}
			prev = n
		}
	})
}

// columnOf returns the text of cell col of every body row of the table with the given id in a DOM dump.
func columnOf(t *testing.T, dom, id string, col int) []string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<table id="` + id + `"[^>]*>.*?<tbody>(.*?)</tbody>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no table %s with a body in the DOM", id)
	}
	var out []string
	for _, row := range regexp.MustCompile(`(?s)<tr[^>]*>(.*?)</tr>`).FindAllStringSubmatch(m[1], -1) {
		cells := regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(row[1], -1)
		if len(cells) <= col {
			t.Fatalf("table %s row %q has no cell %d", id, row[1], col)
		}
		out = append(out, cells[col][1])
	}
	return out
}

// scanPixels counts distinct colours, pixels that are not white, and pixels near the chart's active (#3b7dd8)
// and inactive (#d86b3b) colours.
func scanPixels(img image.Image) (colours, inked, blue, orange int) {
	seen := map[uint32]bool{}
	near := func(r, g, b uint32, hex uint32) bool {
		d := func(a, c uint32) bool { return a+12 >= c && c+12 >= a }
		return d(r, hex>>16) && d(g, hex>>8&0xff) && d(b, hex&0xff)
	}
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			r, g, b = r>>8, g>>8, b>>8
			seen[r<<16|g<<8|b] = true
			if r < 250 || g < 250 || b < 250 {
				inked++
			}
			if near(r, g, b, 0x3b7dd8) {
				blue++
			}
			if near(r, g, b, 0xd86b3b) {
				orange++
			}
		}
	}
	return len(seen), inked, blue, orange
}
