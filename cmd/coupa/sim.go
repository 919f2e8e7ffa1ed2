package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/coupa-connector/coupa-connector/internal/gcpolicy"
	"github.com/coupa-connector/coupa-connector/sim"
)

func init() { registerCommand(newSimCmd) }

type simFlags struct {
	addr, latency, faults, churn, certFile, clientsFile, tz string
	seed                                                    int64
	scale, burst, validationStatus                          int
	rate                                                    float64
	retryAfter, tls, noRoles, scopeEcho, rejectOver50       bool
	unsortedPages                                           bool
	noGraphQL, refuseUnknownFilters, refuseUnknownFields    bool
	instanceBucket, graphqlIgnoresPaging                    bool
	escapedQuery                                            string
	graphqlPageSize                                         int
	tokenTTL                                                time.Duration
	clients, apiKeys                                        []string
}

func newSimCmd(a *app) *cobra.Command {
	var f simFlags
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a local Coupa API simulator to point the other commands at",
		Long: `sim serves a simulated Coupa instance: OAuth2 client credentials, every catalog endpoint with
Coupa's paging, filters, fields and XML/JSON formats, writes and actions, throttling (25 req/s, burst 20),
faults and background churn. The admin API lives under /__sim/ (health, stats, reset, faults, churn,
mutate, snapshot/<resource>). See sim/README.md for the conformance list.

Examples:
  coupa sim
  coupa sim --scale 100000 --latency 20ms-80ms --faults 503=0.02,reset=0.001 --churn 5/s
  coupa sim --tls --cert-file ./sim.pem --client ap:secret:core.invoice.read`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSim(cmd.Context(), a, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:4010", "address to listen on (port 0 picks a free port)")
	fl.Int64Var(&f.seed, "seed", 1, "seed of the generated data and of injected faults")
	fl.IntVar(&f.scale, "scale", 200, "number of invoices; everything else in proportion")
	fl.StringVar(&f.latency, "latency", "", "added to every /api request: a duration (50ms) or a range (20ms-200ms), optionally plus a cost per record returned (300ms+10ms/record)")
	fl.Float64Var(&f.rate, "rate", 25, "per-client token bucket, requests per second (negative disables throttling)")
	fl.IntVar(&f.burst, "burst", 20, "per-client token bucket burst")
	fl.BoolVar(&f.instanceBucket, "instance-rate-limit", false, "one token bucket for every client of the instance (Coupa's limit is per instance) instead of one per client id")
	fl.BoolVar(&f.retryAfter, "retry-after", false, "send Retry-After with 429 answers")
	fl.DurationVar(&f.tokenTTL, "token-ttl", 24*time.Hour, "lifetime of access tokens")
	fl.StringVar(&f.faults, "faults", "", "fault rates, e.g. 500=0.01,502=0.01,503=0.02,429=0.01,reset=0.001,truncate=0.001,slow=0.01,slow-by=2s")
	fl.StringVar(&f.churn, "churn", "0", "background creates/updates/deletes per second, e.g. 5 or 5/s")
	fl.BoolVar(&f.tls, "tls", false, "serve https with a generated self-signed certificate")
	fl.StringVar(&f.certFile, "cert-file", "coupa-sim-cert.pem", "where --tls writes the certificate clients should trust (--ca-file)")
	fl.StringArrayVar(&f.clients, "client", nil, "extra OAuth client id:secret:scope1,scope2 (repeatable)")
	fl.StringVar(&f.clientsFile, "clients-file", "", "YAML file of OAuth clients: clients: [{id: x, secret: y, scopes: [core.invoice.read]}]")
	fl.StringArrayVar(&f.apiKeys, "accept-api-key", nil, "legacy X-COUPA-API-KEY value to accept (repeatable)")
	fl.StringVar(&f.tz, "tz", "", "instance time zone, e.g. America/Los_Angeles (default a fixed -07:00)")
	fl.BoolVar(&f.noRoles, "no-roles-endpoint", false, "answer /api/roles with 404 (whether it exists on real Coupa is uncertain)")
	fl.BoolVar(&f.scopeEcho, "scope-echo", false, "include scope in token responses")
	fl.BoolVar(&f.rejectOver50, "reject-limit-over-50", false, "answer limit>50 with 400 instead of clamping")
	fl.BoolVar(&f.unsortedPages, "unsorted-pages", false, "list each page's records in a shuffled order (whether Coupa sorts filtered lists is uncertain)")
	fl.IntVar(&f.validationStatus, "validation-status", 400, "status of validation errors (400 or 422)")
	fl.BoolVar(&f.noGraphQL, "no-graphql", false, "answer POST /api/graphql with 404, as an instance without GraphQL")
	fl.IntVar(&f.graphqlPageSize, "graphql-page-size", 50, "most records a GraphQL collection returns (Coupa's page size is uncertain)")
	fl.BoolVar(&f.graphqlIgnoresPaging, "graphql-ignores-paging", false, "ignore limit/offset/order_by/dir inside GraphQL query: strings (uncertain whether Coupa honours them)")
	fl.BoolVar(&f.refuseUnknownFilters, "refuse-unknown-filters", false, "answer a filter on an unknown attribute with 400 instead of ignoring it (uncertain)")
	fl.BoolVar(&f.refuseUnknownFields, "refuse-unknown-fields", false, "answer a fields= name the resource lacks with 400 instead of dropping it (uncertain)")
	fl.StringVar(&f.escapedQuery, "escaped-query", "ignore", "what /api/users/5%3Ffields=... means: ignore (id 5, rest ignored), apply (id 5, query applied) or 404 (uncertain)")
	return cmd
}

// simOptions turns the flags into simulator options; every mistake is a usage error naming the flag.
func simOptions(f simFlags) (sim.Options, error) {
	o := sim.Options{Seed: f.seed, Scale: f.scale, Rate: f.rate, Burst: f.burst, RetryAfter: f.retryAfter,
		TokenTTL: f.tokenTTL, APIKeys: f.apiKeys, NoRolesEndpoint: f.noRoles, ScopeEcho: f.scopeEcho,
		RejectLimitOver50: f.rejectOver50, UnsortedPages: f.unsortedPages, ValidationStatus: f.validationStatus,
		NoGraphQL: f.noGraphQL, GraphQLPageSize: f.graphqlPageSize, GraphQLIgnoresPaging: f.graphqlIgnoresPaging,
		RefuseUnknownFilters: f.refuseUnknownFilters, RefuseUnknownFields: f.refuseUnknownFields,
		EscapedQuery: f.escapedQuery, InstanceBucket: f.instanceBucket}
	if f.scale < 1 {
		return o, usageError("--scale must be at least 1, got %d", f.scale)
	}
	if f.rate == 0 {
		return o, usageError("--rate must not be 0; use a negative value to disable throttling")
	}
	if f.validationStatus != 400 && f.validationStatus != 422 {
		return o, usageError("--validation-status must be 400 or 422, got %d", f.validationStatus)
	}
	switch f.escapedQuery {
	case "", "ignore", "apply", "404":
	default:
		return o, usageError("--escaped-query %q: use ignore, apply or 404", f.escapedQuery)
	}
	if f.graphqlPageSize < 0 {
		return o, usageError("--graphql-page-size must be positive, got %d", f.graphqlPageSize)
	}
	if f.latency != "" {
		base, jitter, perRecord, err := sim.ParseLatency(f.latency)
		if err != nil {
			return o, usageError("--latency %q: %v", f.latency, err)
		}
		o.Latency, o.LatencyJitter, o.LatencyPerRecord = base, jitter, perRecord
	}
	faults, err := parseFaults(f.faults)
	if err != nil {
		return o, err
	}
	o.Faults = faults
	churn := strings.TrimSuffix(strings.TrimSpace(f.churn), "/s")
	if o.Churn, err = strconv.ParseFloat(churn, 64); err != nil || o.Churn < 0 {
		return o, usageError("--churn %q: use changes per second such as 5 or 5/s", f.churn)
	}
	if f.tz != "" {
		loc, err := time.LoadLocation(f.tz)
		if err != nil {
			return o, usageError("--tz %q: unknown time zone; use a name such as America/Los_Angeles", f.tz)
		}
		o.Location = loc
	}
	def := sim.Client{ID: "coupa-sim", Secret: "coupa-sim-secret", Scopes: sim.AllScopes()}
	o.Clients = []sim.Client{def}
	for _, c := range f.clients {
		parts := strings.SplitN(c, ":", 3)
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return o, usageError("--client %q: use id:secret:scope1,scope2", redactClient(c))
		}
		o.Clients = append(o.Clients, sim.Client{ID: parts[0], Secret: parts[1], Scopes: strings.Split(parts[2], ",")})
	}
	if f.clientsFile != "" {
		more, err := readClientsFile(f.clientsFile)
		if err != nil {
			return o, err
		}
		o.Clients = append(o.Clients, more...)
	}
	known := map[string]bool{}
	for _, sc := range sim.AllScopes() {
		known[sc] = true
	}
	for _, c := range o.Clients[1:] {
		for _, sc := range c.Scopes {
			if !known[sc] {
				return o, usageError("client %s: unknown scope %q; scopes look like core.invoice.read", c.ID, sc)
			}
		}
	}
	return o, nil
}

// redactClient keeps a client's id but never echoes its secret in an error.
func redactClient(c string) string {
	id, _, _ := strings.Cut(c, ":")
	return id + ":***"
}

func readClientsFile(path string) ([]sim.Client, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError("--clients-file: %v", err)
	}
	var doc struct {
		Clients []struct {
			ID     string   `yaml:"id"`
			Secret string   `yaml:"secret"`
			Scopes []string `yaml:"scopes"`
		} `yaml:"clients"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, usageError("--clients-file %s: %v", path, err)
	}
	var out []sim.Client
	for i, c := range doc.Clients {
		if c.ID == "" || c.Secret == "" || len(c.Scopes) == 0 {
			return nil, usageError("--clients-file %s: client %d needs id, secret and scopes", path, i+1)
		}
		out = append(out, sim.Client{ID: c.ID, Secret: c.Secret, Scopes: c.Scopes})
	}
	return out, nil
}

func parseFaults(spec string) (sim.Faults, error) {
	var f sim.Faults
	if strings.TrimSpace(spec) == "" {
		return f, nil
	}
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return f, usageError("--faults %q: use kind=rate pairs such as 503=0.02,reset=0.001", spec)
		}
		if k == "slow-by" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return f, usageError("--faults slow-by=%q: use a duration such as 2s", v)
			}
			f.SlowBodyBy = d
			continue
		}
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || p < 0 || p > 1 {
			return f, usageError("--faults %s=%q: a rate is a share between 0 and 1", k, v)
		}
		switch k {
		case "500":
			f.Error500 = p
		case "502":
			f.Error502 = p
		case "503":
			f.Error503 = p
		case "429":
			f.RateLimit = p
		case "reset":
			f.Reset = p
		case "truncate":
			f.Truncate = p
		case "slow":
			f.SlowBody = p
		default:
			return f, usageError("--faults: unknown kind %q; use 500, 502, 503, 429, reset, truncate, slow or slow-by", k)
		}
	}
	return f, nil
}

func runSim(ctx context.Context, a *app, f simFlags) error {
	opts, err := simOptions(f)
	if err != nil {
		return err
	}
	opts.Logger = a.logger
	gcpolicy.Simulator()
	s, err := sim.New(opts)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %v; pick another --addr", f.addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, ErrorLog: nil}
	scheme := "http"
	if f.tls {
		cert, err := selfSignedCert(f.certFile)
		if err != nil {
			ln.Close()
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	url := dialURL(scheme, ln.Addr())
	c := s.DefaultClient()
	fmt.Fprintf(a.stdout, "coupa sim listening on %s (scale %d, seed %d)\n", url, f.scale, f.seed)
	fmt.Fprintf(a.stdout, "default client: id %s secret %s (every scope)\n", c.ID, c.Secret)
	if f.tls {
		fmt.Fprintf(a.stdout, "certificate: %s (trust it with --ca-file %s)\n", f.certFile, f.certFile)
	}
	hint := fmt.Sprintf("export COUPA_HOST=%s COUPA_CLIENT_ID=%s COUPA_CLIENT_SECRET=%s", url, c.ID, c.Secret)
	if f.tls {
		hint += " COUPA_CA_FILE=" + f.certFile
	}
	fmt.Fprintf(a.stdout, "try: %s; coupa check\n", hint)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serving: %v", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		srv.Close()
	}
	fmt.Fprintln(a.stdout, "coupa sim stopped")
	return nil
}

// selfSignedCert makes a certificate for loopback names and writes it (not the key) to path.
func selfSignedCert(path string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating a TLS key: %v", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "coupa sim", Organization: []string{"coupa-connector"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("creating the TLS certificate: %v", err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(path, pemBytes, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("writing the certificate to %s: %v; choose another --cert-file", path, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// dialURL is the URL a client on this machine reaches a listener at: an address listening on every
// interface (--addr :4012 gives [::]:4012) is reached through loopback, which the client accepts over http.
func dialURL(scheme string, addr net.Addr) string {
	hostPort := addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && (tcp.IP == nil || tcp.IP.IsUnspecified()) {
		hostPort = net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	return scheme + "://" + hostPort
}
