// Package sim is a simulator of the Coupa Core REST API: OAuth2, data, queries, writes, throttling and
// faults, following ../shared/coupa-api.md independently of package coupa.
package sim

// CONTRACT FILE: the exported surface the CLI, the demo and end-to-end tests code against. The implementer
// of this package moves these declarations where they belong and deletes this file. Signatures may grow.

import (
	"net/http"
	"time"
)

// Options configure a simulator. The zero value plus defaults is a realistic, fault-free Coupa.
type Options struct {
	Seed       int64
	Scale      int           // number of invoices; everything else in realistic proportion (default 200)
	Latency    time.Duration // added to every /api request
	Rate       float64       // per-client token bucket, requests/s (default 25; <0 disables)
	Burst      int           // default 20
	RetryAfter bool          // send Retry-After on 429 (sources disagree, so it is a setting)
	TokenTTL   time.Duration // default 24h
	Faults     Faults
	Churn      float64        // background changes per second (creates, updates, deletes)
	Location   *time.Location // instance time zone used to render datetimes (default a non-UTC zone)
	Now        func() time.Time
	Clients    []Client // OAuth clients; a default one is added when empty
	APIKeys    []string // legacy X-COUPA-API-KEY keys
}

// Faults are injected at random (seeded) on /api requests.
type Faults struct {
	Error500   float64 // share of requests answered 500
	Error502   float64
	Error503   float64
	Reset      float64 // connection closed without a response
	Truncate   float64 // body cut short
	SlowBody   float64 // body trickled slowly
	RateLimit  float64 // extra 429s beyond the token bucket
	SlowBodyBy time.Duration
}

// Client is an OAuth2 client-credentials client of the simulated instance.
type Client struct {
	ID     string
	Secret string
	Scopes []string // granted scopes
}

// Server is a running simulated Coupa instance; it is an http.Handler.
type Server struct{}

// New generates the data set and returns the simulator. It does not listen; serve it with
// httptest.NewServer(s) or http.Server{Handler: s}.
func New(opts Options) (*Server, error) { panic("unimplemented") }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { panic("unimplemented") }

// DefaultClient is the client created when Options.Clients is empty; it is granted every scope.
func (s *Server) DefaultClient() Client { panic("unimplemented") }

// Close stops background churn.
func (s *Server) Close() error { panic("unimplemented") }
