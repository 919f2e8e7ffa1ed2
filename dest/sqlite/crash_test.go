package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/desttest"
)

// crashEnv names the database a re-executed test binary writes pages into until it is killed.
const crashEnv = "COUPA_SQLITE_CRASH_DB"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		if err := crashChild(path); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const crashPage = 50

// crashChild resumes from the saved state and writes pages forever: each page has the next 50 invoices,
// re-writes the last invoice of the previous page (so a kill can land inside a child replacement), and
// moves the partition's LastID to the page's highest id. It reports each commit on stdout. It stops by itself after a minute in case the
// parent test died without killing it.
func crashChild(path string) error {
	ctx := context.Background()
	d, err := Open(path, dest.Options{})
	if err != nil {
		return err
	}
	if err := d.Prepare(ctx, []*catalog.Table{desttest.Invoices()}); err != nil {
		return err
	}
	s, err := d.LoadState(ctx, "invoices")
	if err != nil {
		return err
	}
	var last int64
	if s != nil {
		last = s.Window.Partitions[0].LastID
	}
	fmt.Println("ready")
	for stop := time.Now().Add(time.Minute); time.Now().Before(stop); {
		ids := make([]int64, 0, crashPage+1)
		if last > 0 {
			ids = append(ids, last)
		}
		for i := int64(1); i <= crashPage; i++ {
			ids = append(ids, last+i)
		}
		p := desttest.Page(ids...)
		last += crashPage
		p.State = &dest.State{Table: "invoices", Window: &dest.Window{
			To: time.Now(), Partitions: []dest.Partition{{LastID: last}},
		}}
		if _, err := d.WritePage(ctx, p); err != nil {
			return err
		}
		fmt.Println("committed")
	}
	return d.Close()
}

// TestCrashAtomicity SIGKILLs a writer at seeded random moments and checks, after each kill, that the
// warehouse holds exactly the pages whose checkpoint committed: ids 1..LastID, three lines and one tag
// each, nothing beyond.
func TestCrashAtomicity(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("COUPA_CRASH_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (set COUPA_CRASH_SEED to replay)", seed)
	rng := rand.New(rand.NewSource(seed))
	path := filepath.Join(t.TempDir(), "crash.db")
	const kills = 12
	var prev int64
	grew := 0
	for k := 0; k < kills; k++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		out := bufio.NewReader(stdout)
		line, err := out.ReadString('\n')
		if err != nil || line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("kill %d: the writer did not start: %q, %v", k, line, err)
		}
		// Let a random number of pages commit, then kill at a random instant of the next ones.
		acked := rng.Intn(4)
		for i := 0; i < acked; i++ {
			if line, err := out.ReadString('\n'); err != nil || line != "committed\n" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("kill %d: the writer stopped: %q, %v", k, line, err)
			}
		}
		time.Sleep(time.Duration(rng.Intn(8000)) * time.Microsecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err == nil {
			t.Fatalf("kill %d: the writer exited cleanly; it was supposed to be killed mid-write", k)
		}
		last := checkCrashDB(t, path, k)
		if last < prev+int64(acked*crashPage) {
			t.Fatalf("kill %d: LastID %d, but the writer had reported %d commits after %d: an acknowledged commit was lost",
				k, last, acked, prev)
		}
		if last > prev {
			grew++
		}
		prev = last
	}
	if grew < kills/2 {
		t.Errorf("the writer made progress before only %d of %d kills; the test is not exercising writes", grew, kills)
	}
}

func checkCrashDB(t *testing.T, path string, k int) int64 {
	t.Helper()
	ctx := context.Background()
	d := open(t, path, "")
	defer d.Close()
	if err := d.Prepare(ctx, []*catalog.Table{desttest.Invoices()}); err != nil {
		t.Fatalf("kill %d: reopening: %v", k, err)
	}
	var check string
	if err := d.db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("kill %d: integrity_check = %q, %v", k, check, err)
	}
	s, err := d.LoadState(ctx, "invoices")
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	if s != nil {
		last = s.Window.Partitions[0].LastID
	}
	var n, maxID, lines, tags, badParents int64
	q := func(sql string, dst *int64) {
		if err := d.db.QueryRow(sql).Scan(dst); err != nil {
			t.Fatalf("kill %d: %s: %v", k, sql, err)
		}
	}
	q(`SELECT count(*) FROM invoices`, &n)
	q(`SELECT coalesce(max(id), 0) FROM invoices`, &maxID)
	q(`SELECT count(*) FROM invoice_lines`, &lines)
	q(`SELECT count(*) FROM invoice_tags`, &tags)
	q(`SELECT count(*) FROM invoices i WHERE (SELECT count(*) FROM invoice_lines l WHERE l.invoice_id = i.id) != 3`, &badParents)
	if n != last || maxID != last || lines != 3*last || tags != last || badParents != 0 {
		t.Fatalf("kill %d: state LastID %d but %d invoices (max id %d), %d lines, %d tags, %d invoices without exactly 3 lines: a partial page committed",
			k, last, n, maxID, lines, tags, badParents)
	}
	return last
}
