package main

import (
	"context"
	"database/sql"

	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/extract"
	"github.com/coupa-connector/coupa-connector/sim"
)

func init() { registerCommand(newDemoCmd) }

// demoQuery is one SQL query the demo runs and suggests.
type demoQuery struct {
	title string
	sql   string
}

// demoQueries are the three questions a spend analyst asks first. Amounts are summed as REAL by SQLite,
// which is fine for a ranking; the stored values themselves are the exact strings Coupa sent.
var demoQueries = []demoQuery{
	{"Spend by supplier (top 5)", `SELECT supplier_name, currency_code, COUNT(*) AS invoices,
       printf('%.2f', SUM(total_with_taxes)) AS spend
FROM invoices
WHERE _deleted_at IS NULL
GROUP BY supplier_name, currency_code
ORDER BY SUM(total_with_taxes) DESC
LIMIT 5;`},
	{"Invoice cycle time: days from invoice date to last update, by status", `SELECT status, COUNT(*) AS invoices,
       ROUND(AVG(julianday(updated_at) - julianday(invoice_date)), 1) AS avg_days
FROM invoices
WHERE _deleted_at IS NULL AND invoice_date IS NOT NULL
GROUP BY status
ORDER BY invoices DESC;`},
	{"Open purchase orders with their line totals (top 5)", `SELECT po.po_number, po.supplier_name, po.status, COUNT(l.id) AS lines,
       printf('%.2f', SUM(l.total)) AS total
FROM purchase_orders po
JOIN purchase_order_lines l ON l.purchase_order_id = po.id
WHERE po._deleted_at IS NULL AND po.status NOT IN ('closed', 'cancelled', 'expensed')
GROUP BY po.id
ORDER BY SUM(l.total) DESC
LIMIT 5;`},
}

func newDemoCmd(a *app) *cobra.Command {
	var db string
	var scale int
	var seed int64
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Sync a simulated Coupa into ./coupa-demo.db and show what landed",
		Long: `Start a Coupa API simulator inside this process, sync every table into a SQLite file with the real
client over HTTP, print the summary, then three SQL queries to try with their results.
Nothing leaves this machine; no Coupa account is needed.`,
		Example: `  coupa demo
  coupa demo --db /tmp/demo.db --scale 5000
  sqlite3 coupa-demo.db 'SELECT COUNT(*) FROM invoice_lines'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if scale < 1 || scale > 1_000_000 {
				return usageError("--scale %d: choose 1 to 1000000 invoices", scale)
			}
			return a.runDemo(cmd.Context(), db, scale, seed)
		},
	}
	cmd.Flags().StringVar(&db, "db", "coupa-demo.db", "SQLite file to create or refresh")
	cmd.Flags().IntVar(&scale, "scale", 1000, "number of invoices to simulate (everything else in proportion)")
	cmd.Flags().Int64Var(&seed, "seed", 1, "random seed of the simulated data")
	return cmd
}

func (a *app) runDemo(ctx context.Context, db string, scale int, seed int64) error {
	s, err := sim.New(sim.Options{Seed: seed, Scale: scale, Rate: -1})
	if err != nil {
		return fmt.Errorf("starting the simulator: %w", err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("starting the simulator: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	host := "http://" + ln.Addr().String()
	fmt.Fprintf(a.stderr, "simulated Coupa (%d invoices) at %s\n", scale, host)

	tables := catalog.All()
	c := s.DefaultClient()
	// The simulator has no rate limit here, so neither has the client: the demo shows local speed.
	client, err := coupa.New(coupa.Config{Host: host, ClientID: c.ID, ClientSecret: c.Secret,
		Scopes: catalog.Scopes(tables), Rate: 1e6, Burst: 1000, Logger: a.logger, UserAgent: userAgent()})
	if err != nil {
		return libError(err)
	}
	d, err := openDest(ctx, warehouseSpec{destSpec: destSpec{kind: "sqlite", target: db}}, "", false)
	if err != nil {
		return err
	}
	defer d.Close()
	// A full refresh with delete reconciliation: the simulator regenerates its data at every start, so an
	// earlier demo's cursor says nothing about this one, and its extra rows (another --scale) must go.
	cfg := extract.Config{Client: client, Dest: d, Tables: tables, FullRefresh: true, ReconcileDeletes: true,
		Logger: discardUnlessVerbose(a)}
	if err := a.runEngine(ctx, cfg, "table"); err != nil {
		return err
	}
	if err := d.Close(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\nYour warehouse is %s. Three queries to try (sqlite3 %s):\n", db, db)
	return runDemoQueries(ctx, a.stdout, db)
}

func discardUnlessVerbose(a *app) *slog.Logger {
	if a.global.verbose {
		return a.logger
	}
	return slog.New(&minLevel{Handler: a.logger.Handler(), min: slog.LevelWarn})
}

// runDemoQueries runs demoQueries on the SQLite file through database/sql and prints query and result.
func runDemoQueries(ctx context.Context, w io.Writer, path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer db.Close()
	for i, q := range demoQueries {
		fmt.Fprintf(w, "\n%d. %s\n\n%s\n\n", i+1, q.title, indent(q.sql))
		if err := printQuery(ctx, w, db, q.sql); err != nil {
			return fmt.Errorf("demo query %d: %w", i+1, err)
		}
	}
	return nil
}

func indent(s string) string { return "   " + strings.ReplaceAll(s, "\n", "\n   ") }

func printQuery(ctx context.Context, w io.Writer, db *sql.DB, query string) error {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   "+strings.ToUpper(strings.Join(cols, "\t")))
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		cells := make([]string, len(cols))
		for i, v := range vals {
			cells[i] = sqlCell(v)
		}
		fmt.Fprintln(tw, "   "+strings.Join(cells, "\t"))
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(tw, "   (no rows)")
	}
	return tw.Flush()
}

func sqlCell(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}
