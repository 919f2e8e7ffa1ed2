// Package coupa is a client for the Coupa Core REST API: OAuth2 or API-key auth, a shared rate limiter,
// retries, keyset paging and typed errors. It imports nothing else of this module.
package coupa

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coupa-connector/coupa-connector/coupa/pace"
)

// Version names the product version in the User-Agent; cmd sets it at build time.
var Version = "dev"

// Defaults applied by New to zero Config fields. The rate starts at Coupa's documented limit, 25 requests/s
// with a burst of 20: the scheduler cuts it when Coupa answers 429 (another integration, a second process)
// and climbs back when it stops, so a lower cap is needed only to leave room for others on purpose.
const (
	DefaultRate        = pace.CoupaRate
	DefaultBurst       = pace.CoupaBurst
	DefaultMaxInFlight = pace.DefaultInFlight
	DefaultMaxRetries  = 8
	DefaultTimeout     = 60 * time.Second
	// MaxPageSize is Coupa's cap on records per list call.
	MaxPageSize = 50
)

// Config says how to reach and authenticate to one Coupa instance.
type Config struct {
	Host         string   // "acme.coupahost.com" or "https://acme.coupahost.com"; http only for loopback
	ClientID     string   // OAuth2 client credentials
	ClientSecret string   // never logged, printed or put in an error
	Scopes       []string // requested scopes; empty means "whatever the client was granted"
	AuthStyle    AuthStyle
	APIKey       string // legacy X-COUPA-API-KEY auth (deprecated by Coupa); used when ClientID is empty

	Rate        float64         // the cap of the request rate, requests/s (default 25, Coupa's limit)
	Burst       int             // requests that may go at once after a quiet spell (default 20)
	MaxInFlight int             // requests in flight at most, whatever the latency (default 64)
	Scheduler   *pace.Scheduler // share one among clients of the same instance; Rate, Burst, MaxInFlight are then its
	MaxRetries  int             // retries of one request on 429/5xx/timeouts/resets (default 8); <0 means none
	Timeout     time.Duration   // per request attempt (default 60s)
	CAFile      string          // extra PEM bundle to trust
	Proxy       string          // proxy URL; default http.ProxyFromEnvironment
	UserAgent   string          // default "coupa-connector/<version>"
	Logger      *slog.Logger    // default: discard
	HTTPClient  *http.Client    // optional base client (its Transport is wrapped); tests use it
}

// AuthStyle says how the client id and secret are sent to /oauth2/token.
type AuthStyle int

const (
	AuthStyleAuto     AuthStyle = iota // try form body, remember what works
	AuthStyleInParams                  // client_id and client_secret in the form body (Coupa's documented way)
	AuthStyleInHeader                  // HTTP Basic
)

// Record is one Coupa object as decoded from JSON, losing nothing: keys stay dashed as Coupa sends them,
// numbers are json.Number, decimal amounts stay the strings Coupa sends, datetimes stay strings with offset.
type Record map[string]any

// ID returns the record's "id" and whether it is present and an integer.
func (r Record) ID() (int64, bool) {
	switch v := r["id"].(type) {
	case interface{ Int64() (int64, error) }:
		n, err := v.Int64()
		return n, err == nil
	case float64:
		return int64(v), v == float64(int64(v))
	case int64:
		return v, true
	case int:
		return int64(v), true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// Response wraps the HTTP response of the last attempt. Its Body has already been read and closed.
type Response struct {
	*http.Response
	Date        time.Time // the server's clock (HTTP Date header); zero when absent
	Attempts    int       // 1 + retries
	RateLimited int       // of the attempts, those Coupa answered 429
}

// Stats are cumulative counters a caller may read at any time (progress bars, metrics, summaries).
type Stats struct {
	Requests    int64
	Retries     int64
	RateLimited int64 // 429 responses
	Bytes       int64 // response bytes read
	Latency     time.Duration
	TokenMints  int64
	Pace        pace.Stats // the instance's scheduler: current rate, in flight, 429s seen
}

// Client talks to one Coupa instance. It is safe for concurrent use; all goroutines share one token
// and one rate limiter.
type Client struct {
	base      *url.URL
	hc        *http.Client
	gate      gate // every attempt waits here: the rate limit, in flight bound, and the pause after a 429
	sched     *pace.Scheduler
	logger    *slog.Logger
	userAgent string

	maxRetries int
	timeout    time.Duration
	// backoffBase and backoffCap shape the exponential backoff; tests shrink them.
	backoffBase time.Duration
	backoffCap  time.Duration
	// maxBody bounds what is read of one response so that a hostile server cannot exhaust memory.
	maxBody int64
	now     func() time.Time

	apiKey string
	auth   *oauth // nil for API-key auth

	secrets []string // strings that must never leave the client in an error

	stats struct {
		requests, retries, rateLimited, bytes, latency, tokenMints atomic.Int64
	}
}

// New validates cfg (host, credentials) and returns a client. It makes no request.
func New(cfg Config) (*Client, error) {
	base, err := normalizeHost(cfg.Host)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:        base,
		logger:      cfg.Logger,
		userAgent:   cfg.UserAgent,
		maxRetries:  cfg.MaxRetries,
		timeout:     cfg.Timeout,
		backoffBase: 250 * time.Millisecond,
		backoffCap:  30 * time.Second,
		maxBody:     64 << 20,
		now:         time.Now,
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.userAgent == "" {
		c.userAgent = "coupa-connector/" + Version
	}
	switch {
	case cfg.MaxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		c.maxRetries = 0
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	c.sched = cfg.Scheduler
	if c.sched == nil {
		c.sched = pace.New(pace.Config{Rate: cfg.Rate, Burst: cfg.Burst, MaxInFlight: cfg.MaxInFlight})
	}
	c.gate = paced{c.sched}

	clientID := strings.TrimSpace(cfg.ClientID)
	switch {
	case clientID != "" && cfg.ClientSecret == "":
		return nil, errors.New("coupa: client secret is missing; set COUPA_CLIENT_SECRET or COUPA_CLIENT_SECRET_FILE (or --client-secret)")
	case clientID == "" && cfg.ClientSecret != "":
		return nil, errors.New("coupa: client id is missing; set COUPA_CLIENT_ID (or --client-id)")
	case clientID != "":
		c.auth = newOAuth(c, clientID, cfg.ClientSecret, cfg.Scopes, cfg.AuthStyle)
		c.secrets = append(c.secrets, cfg.ClientSecret)
	case cfg.APIKey != "":
		c.apiKey = cfg.APIKey
		c.secrets = append(c.secrets, cfg.APIKey)
		c.logger.Warn("coupa: API key auth (X-COUPA-API-KEY) is deprecated by Coupa (no new keys from R34, unsupported from R35); switch to OAuth2 client credentials")
	default:
		return nil, errors.New("coupa: no credentials; set COUPA_CLIENT_ID and COUPA_CLIENT_SECRET (OAuth2 client credentials)")
	}

	hc, err := buildHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	c.hc = hc
	return c, nil
}

// BaseURL is the normalised instance URL, e.g. "https://acme.coupahost.com".
func (c *Client) BaseURL() string { return c.base.String() }

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:    c.stats.requests.Load(),
		Retries:     c.stats.retries.Load(),
		RateLimited: c.stats.rateLimited.Load(),
		Bytes:       c.stats.bytes.Load(),
		Latency:     time.Duration(c.stats.latency.Load()),
		TokenMints:  c.stats.tokenMints.Load(),
		Pace:        c.sched.Stats(),
	}
}

// redact removes every credential from s. Servers sometimes echo request parameters in error
// bodies, and those bodies end up in error strings and logs. Also the encoded forms, as a server may
// echo the form body or query it received; whole tokens only, once (see redactTokens).
func (c *Client) redact(s string) string {
	return redactTokens(s, c.secrets)
}
