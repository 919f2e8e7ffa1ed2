package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
)

func init() { registerCommand(newCheckCmd) }

// Probe statuses, as printed.
const (
	statusOK           = "ok"
	statusMissingScope = "missing scope"
	statusNotAvailable = "not available"
	statusError        = "error"
)

// grantHint is where a Coupa admin grants scopes to an OAuth2 client.
const grantHint = "Coupa: Setup > Integrations > OAuth2/OpenID Connect Clients"

// probeConcurrency bounds probes in flight; the client's rate limiter still paces them, this only keeps
// a slow instance from holding many connections open at once.
const probeConcurrency = 4

type probeResult struct {
	Table     string  `json:"table"`
	Scope     string  `json:"scope"`
	Status    string  `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	Detail    string  `json:"detail,omitempty"`
	// counts is true when the table makes check exit 2.
	counts bool
}

type checkReport struct {
	Host          string        `json:"host"`
	Auth          string        `json:"auth"`                   // "ok" or the reason it failed
	AuthFailure   string        `json:"auth_failure,omitempty"` // wrong_secret, unknown_host, connection_refused, tls, other
	AuthLatencyMS float64       `json:"auth_latency_ms"`
	GrantedScopes []string      `json:"granted_scopes,omitempty"` // when Coupa echoes them
	Tables        []probeResult `json:"tables"`
	Readable      int           `json:"readable"` // tables whose probe succeeded
	Failing       int           `json:"failing"`  // tables that make check exit 2
}

func newCheckCmd(a *app) *cobra.Command {
	var tablesFlag []string
	var output string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the connection: authenticate, then read one record of every table to find missing scopes",
		Long: `check validates the connection settings, mints an OAuth2 token with the scopes of the tables
checked, then asks each table for one record and prints what it found:

  ok             the table is readable
  missing scope  Coupa answered 403: grant the scope shown to the OAuth2 client in
                 ` + grantHint + `
  not available  the instance has no such endpoint (optional tables only)
  error          anything else, with the reason

Exit status: 0 when authentication works and every table checked is readable, 2 when some tables are not,
1 when authentication or the host fails (wrong secret, unknown host, TLS, connection refused).`,
		Example: `  coupa check
  coupa check --tables invoices,users -o json
  coupa --connection sandbox check`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return usageError("-o %s: choose table or json", output)
			}
			tables, err := catalog.Select(splitList(tablesFlag))
			if err != nil {
				return usageError("--tables: %v", err)
			}
			explicit := len(splitList(tablesFlag)) > 0
			conn, err := a.connection()
			if err != nil {
				return err
			}
			client, err := newClientFor(conn, catalog.Scopes(tables), a)
			if err != nil {
				return err
			}
			rep := runCheck(cmd.Context(), client, tables, explicit)
			if output == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else if rep.Auth == statusOK {
				printCheck(a.stdout, rep)
			}
			return checkExit(rep, tables)
		},
	}
	cmd.Flags().StringSliceVar(&tablesFlag, "tables", nil, "tables to check, comma-separated (default: every table; see coupa tables)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// splitList accepts repeated flags, commas and spaces alike.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			out = append(out, s)
		}
	}
	return out
}

// runCheck authenticates, then probes the tables if that worked.
func runCheck(ctx context.Context, client *coupa.Client, tables []*catalog.Table, explicit bool) *checkReport {
	rep := &checkReport{Host: client.BaseURL(), Tables: []probeResult{}}
	start := time.Now()
	err := client.Authenticate(ctx)
	rep.AuthLatencyMS = millis(time.Since(start))
	if err != nil {
		rep.AuthFailure, rep.Auth = describeAuthFailure(err, rep.Host)
		return rep
	}
	rep.Auth = statusOK
	rep.GrantedScopes = client.GrantedScopes()

	rep.Tables = make([]probeResult, len(tables))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(probeConcurrency, len(tables)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				rep.Tables[i] = probe(ctx, client, tables[i], rep.GrantedScopes, explicit)
			}
		}()
	}
	for i := range tables {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, r := range rep.Tables {
		if r.Status == statusOK {
			rep.Readable++
		}
		if r.counts {
			rep.Failing++
		}
	}
	return rep
}

// probe asks for one record with only its id: the cheapest request that still proves the scope.
func probe(ctx context.Context, client *coupa.Client, t *catalog.Table, granted []string, explicit bool) probeResult {
	r := probeResult{Table: t.Name, Scope: t.Scope}
	start := time.Now()
	_, _, err := client.ListPage(ctx, t.Resource, &coupa.ListOptions{Limit: 1, Fields: []any{"id"}})
	r.LatencyMS = millis(time.Since(start))
	switch {
	case err == nil:
		r.Status = statusOK
	case coupa.IsForbidden(err) && (granted == nil || !slices.Contains(granted, t.Scope)):
		r.Status, r.counts = statusMissingScope, true
		r.Detail = fmt.Sprintf("grant %s to the OAuth2 client", t.Scope)
	case coupa.IsForbidden(err):
		r.Status, r.counts = statusError, true
		r.Detail = fmt.Sprintf("403 although %s is granted: the client's user lacks the permission in Coupa", t.Scope)
	case coupa.IsNotFound(err) && t.Optional:
		// Not every instance has every endpoint; only a table the user asked for by name fails the check.
		r.Status, r.counts = statusNotAvailable, explicit
		r.Detail = fmt.Sprintf("this instance has no /api/%s (an optional table; sync skips it)", t.Resource)
	default:
		r.Status, r.counts = statusError, true
		r.Detail = oneLine(libError(err).Error())
	}
	return r
}

// describeAuthFailure classifies why no token could be had and returns a one-line reason with the fix.
// The client library's messages already name the fix; this adds the host and a stable kind for -o json.
func describeAuthFailure(err error, host string) (kind, msg string) {
	var ae *coupa.AuthError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	reason := strings.TrimPrefix(oneLine(libError(err).Error()), "authentication failed: ")
	switch {
	case errors.As(err, &ae) && (ae.Code == "invalid_client" || ae.Code == "" && ae.StatusCode == 401):
		kind = "wrong_secret"
		if !strings.Contains(reason, "COUPA_CLIENT_SECRET") {
			reason += "; check COUPA_CLIENT_ID and COUPA_CLIENT_SECRET, or issue a new secret in " + grantHint
		}
	case errors.As(err, &ae):
		kind = "auth"
	case errors.As(err, &dnsErr):
		kind = "unknown_host"
		if !strings.Contains(reason, "host") {
			reason += "; check --host / COUPA_HOST (e.g. acme.coupahost.com)"
		}
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid):
		kind = "tls"
		if !strings.Contains(reason, "--ca-file") {
			reason += "; if a private CA or TLS-inspecting proxy is in the way, pass its bundle with --ca-file"
		}
	case errors.As(err, &recErr):
		kind = "tls"
		reason += "; the server does not speak TLS on that port: check the host and port"
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = "connection_refused"
		if !strings.Contains(reason, "check") {
			reason += "; check the host, port and any proxy"
		}
	default:
		kind = "other"
	}
	return kind, fmt.Sprintf("authentication against %s failed: %s", host, reason)
}

func printCheck(w io.Writer, rep *checkReport) {
	fmt.Fprintf(w, "%s: authenticated (%s)\n\n", rep.Host, fmtMillis(rep.AuthLatencyMS))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSCOPE\tSTATUS\tLATENCY\tDETAIL")
	for _, r := range rep.Tables {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Table, r.Scope, r.Status, fmtMillis(r.LatencyMS), dash(r.Detail))
	}
	tw.Flush()
	na := 0
	for _, r := range rep.Tables {
		if r.Status == statusNotAvailable {
			na++
		}
	}
	fmt.Fprintf(w, "\n%d of %d tables readable", rep.Readable, len(rep.Tables))
	if na > 0 {
		fmt.Fprintf(w, " (%d not available on this instance)", na)
	}
	fmt.Fprintln(w)
}

// checkExit maps the report to the exit code and a one-line summary with the fix.
func checkExit(rep *checkReport, tables []*catalog.Table) error {
	if rep.Auth != statusOK {
		return withExit(exitError, errors.New(rep.Auth))
	}
	if rep.Failing == 0 {
		return nil
	}
	var missing []string
	for _, r := range rep.Tables {
		if r.Status == statusMissingScope && !slices.Contains(missing, r.Scope) {
			missing = append(missing, r.Scope)
		}
	}
	msg := fmt.Sprintf("%d of %d tables not readable", rep.Failing, len(tables))
	if len(missing) > 0 {
		slices.Sort(missing)
		msg += fmt.Sprintf("; grant %s to the OAuth2 client in %s", strings.Join(missing, " "), grantHint)
	}
	return withExit(exitPartial, errors.New(msg))
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fmtMillis(ms float64) string {
	if ms < 10 {
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}
