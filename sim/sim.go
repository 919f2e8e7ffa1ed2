// Package sim is a simulator of the Coupa Core API, REST and GraphQL: OAuth2, data, queries, writes,
// throttling and faults, following ../shared/coupa-api.md independently of package coupa.
package sim

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
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

	// LatencyJitter adds a uniformly distributed extra delay in [0, LatencyJitter) to every /api request.
	LatencyJitter time.Duration
	// NoRolesEndpoint answers /api/roles with 404: whether Coupa has a REST roles endpoint is uncertain.
	NoRolesEndpoint bool
	// ScopeEcho adds "scope" to token responses (uncertain whether Coupa echoes it).
	ScopeEcho bool
	// TokenType is the token_type of token responses (default "bearer"; casing is uncertain).
	TokenType string
	// RejectLimitOver50 answers limit>50 with 400 instead of clamping it to 50 (Coupa's behaviour is uncertain).
	RejectLimitOver50 bool
	// UnsortedPages lists the records of a page (still the lowest ids that match) in a shuffled order when
	// no order_by is given: whether Coupa sorts filtered lists is uncertain.
	UnsortedPages bool
	// ValidationStatus is the status of validation errors on writes (default 400; 422 is the alternative).
	ValidationStatus int
	// ScopeStatus is the status when a token lacks an endpoint's scope (default 403).
	ScopeStatus int
	// ExportKeepsUpdatedAt makes mark-exported leave updated-at alone (default: it is a change and bumps it).
	ExportKeepsUpdatedAt bool
	// LatencyPerRecord is added to an answer for every record it returns (a list page, a shown record, a
	// GraphQL query's root records), so that big pages cost more than small ones, as on Coupa.
	LatencyPerRecord time.Duration
	// InstanceBucket throttles every client of the instance through one token bucket (Coupa's limit is
	// per instance); by default each client id has its own.
	InstanceBucket bool
	// RefuseUnknownFilters answers a filter on an attribute the records lack with 400 "unknown attribute"
	// (Coupa's behaviour is uncertain); by default such a filter is ignored, which breaks no client.
	RefuseUnknownFilters bool
	// RefuseUnknownFields answers a fields= name the resource lacks with 400; by default it is dropped.
	RefuseUnknownFields bool
	// EscapedQuery says what a path whose '?' arrived percent-escaped (/api/users/5%3Ffields=...) means:
	// "ignore" (default: id 5, the rest ignored, as Rails reads "5?..." as the integer 5), "apply" (id 5 and
	// the query applied) or "404" (no such record).
	EscapedQuery string
	// NoGraphQL answers POST /api/graphql with 404, as on an instance without GraphQL.
	NoGraphQL bool
	// GraphQLPageSize is how many records a GraphQL collection returns at most (default 50, like REST).
	GraphQLPageSize int
	// GraphQLIgnoresPaging ignores limit, offset, order_by and dir inside a GraphQL query: argument, so
	// that only id[gt] keyset paging works (whether Coupa honours them there is uncertain).
	GraphQLIgnoresPaging bool
	// MaxBody limits request bodies (default 1 MiB).
	MaxBody int64
	// Logger receives one line per request at debug level (default: discard).
	Logger *slog.Logger
}

// Faults are injected at random (seeded) on /api requests.
type Faults struct {
	Error500   float64       `json:"error_500"` // share of requests answered 500
	Error502   float64       `json:"error_502"`
	Error503   float64       `json:"error_503"`
	Reset      float64       `json:"reset"`      // connection closed without a response
	Truncate   float64       `json:"truncate"`   // body cut short
	SlowBody   float64       `json:"slow_body"`  // body trickled slowly
	RateLimit  float64       `json:"rate_limit"` // extra 429s beyond the token bucket
	SlowBodyBy time.Duration `json:"slow_body_by"`
}

// Client is an OAuth2 client-credentials client of the simulated instance.
type Client struct {
	ID     string
	Secret string
	Scopes []string // granted scopes
}

// Server is a running simulated Coupa instance; it is an http.Handler.
type Server struct {
	opts Options
	log  *slog.Logger

	mu  sync.RWMutex // guards st
	st  *store
	enc encoder

	authMu  sync.Mutex
	clients map[string]Client
	keys    map[string]bool
	tokens  map[string]token
	buckets map[string]*bucket

	faultMu sync.Mutex
	faults  Faults
	rng     *rand.Rand
	churn   float64

	statsMu sync.Mutex
	stats   Stats

	stop     chan struct{}
	wake     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// Stats count what the simulator served, for tests and the admin API.
type Stats struct {
	Requests     map[string]map[string]int64 `json:"requests"` // endpoint -> status code -> count
	Throttled    int64                       `json:"throttled"`
	Faults       map[string]int64            `json:"faults"`
	TokensMinted int64                       `json:"tokens_minted"`
	Churn        map[string]int64            `json:"churn"` // create/update/delete -> count
}

const defaultClientID, defaultClientSecret = "coupa-sim", "coupa-sim-secret"

// New generates the data set and returns the simulator. It does not listen; serve it with
// httptest.NewServer(s) or http.Server{Handler: s}.
func New(opts Options) (*Server, error) {
	if opts.Scale == 0 {
		opts.Scale = 200
	}
	if opts.Scale < 0 || opts.Scale > 50_000_000 {
		return nil, fmt.Errorf("sim: scale %d is out of range; use 1 to 50000000 invoices", opts.Scale)
	}
	if opts.Rate == 0 {
		opts.Rate = 25
	}
	if opts.Burst <= 0 {
		opts.Burst = 20
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 24 * time.Hour
	}
	if opts.Location == nil {
		opts.Location = time.FixedZone("PDT", -7*3600)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenType == "" {
		opts.TokenType = "bearer"
	}
	if opts.ValidationStatus == 0 {
		opts.ValidationStatus = http.StatusBadRequest
	}
	if opts.ScopeStatus == 0 {
		opts.ScopeStatus = http.StatusForbidden
	}
	switch opts.EscapedQuery {
	case "":
		opts.EscapedQuery = "ignore"
	case "ignore", "apply", "404":
	default:
		return nil, fmt.Errorf("sim: EscapedQuery %q: use ignore, apply or 404", opts.EscapedQuery)
	}
	if opts.GraphQLPageSize <= 0 {
		opts.GraphQLPageSize = 50
	}
	if opts.LatencyPerRecord < 0 || opts.Latency < 0 || opts.LatencyJitter < 0 {
		return nil, fmt.Errorf("sim: latencies must not be negative")
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.Faults.SlowBodyBy <= 0 {
		opts.Faults.SlowBodyBy = 2 * time.Second
	}
	if opts.Churn < 0 {
		return nil, fmt.Errorf("sim: churn %v is negative; use 0 to disable it", opts.Churn)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: opts.Logger, clients: map[string]Client{}, keys: map[string]bool{},
		tokens: map[string]token{}, buckets: map[string]*bucket{}, faults: opts.Faults, churn: opts.Churn,
		rng:  rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed)),
		stop: make(chan struct{}), wake: make(chan struct{}, 1), done: make(chan struct{})}
	if len(opts.Clients) == 0 {
		opts.Clients = []Client{{ID: defaultClientID, Secret: defaultClientSecret, Scopes: AllScopes()}}
		s.opts.Clients = opts.Clients
	}
	for _, c := range opts.Clients {
		if c.ID == "" || c.Secret == "" {
			return nil, fmt.Errorf("sim: client %q needs both an id and a secret", c.ID)
		}
		for _, sc := range c.Scopes {
			if !knownScope(sc) {
				return nil, fmt.Errorf("sim: client %q: unknown scope %q; see sim.AllScopes", c.ID, sc)
			}
		}
		s.clients[c.ID] = c
	}
	for _, k := range opts.APIKeys {
		s.keys[k] = true
	}
	s.enc = encoder{loc: opts.Location}
	s.st = newStore(opts.Seed, opts.Scale, opts.Location, opts.Now)
	s.resetStats()
	go s.churnLoop()
	return s, nil
}

// DefaultClient is the client created when Options.Clients is empty; it is granted every scope.
func (s *Server) DefaultClient() Client { return s.opts.Clients[0] }

// Close stops background churn.
func (s *Server) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *Server) resetStats() {
	s.statsMu.Lock()
	s.stats = Stats{Requests: map[string]map[string]int64{}, Faults: map[string]int64{}, Churn: map[string]int64{}}
	s.statsMu.Unlock()
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	out := Stats{Requests: map[string]map[string]int64{}, Faults: map[string]int64{}, Churn: map[string]int64{},
		Throttled: s.stats.Throttled, TokensMinted: s.stats.TokensMinted}
	for k, m := range s.stats.Requests {
		c := map[string]int64{}
		for st, n := range m {
			c[st] = n
		}
		out.Requests[k] = c
	}
	for k, n := range s.stats.Faults {
		out.Faults[k] = n
	}
	for k, n := range s.stats.Churn {
		out.Churn[k] = n
	}
	return out
}

func (s *Server) count(endpoint string, status string) {
	s.statsMu.Lock()
	m := s.stats.Requests[endpoint]
	if m == nil {
		m = map[string]int64{}
		s.stats.Requests[endpoint] = m
	}
	m[status]++
	s.statsMu.Unlock()
}

func (s *Server) countFault(kind string) {
	s.statsMu.Lock()
	s.stats.Faults[kind]++
	s.statsMu.Unlock()
}

// response is a fully built answer; faults may still mangle how it is written.
type response struct {
	status int
	ctype  string
	body   []byte
	header map[string]string
	pooled *[]byte // body's buffer, returned to bufPool once written
	// records is how many records the answer returns, for LatencyPerRecord.
	records int
}

// bufPool recycles response buffers: a 50-invoice page is ~100 KB, and regrowing it dominated allocation.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

type format int

const (
	formatXML format = iota
	formatJSON
)

func wantFormat(r *http.Request) format {
	if strings.Contains(r.Header.Get("Accept"), "json") || r.URL.Query().Get("format") == "json" {
		return formatJSON
	}
	return formatXML
}

// errorResponse renders Coupa's error shape: {"errors":{"field":["message"]}} or <errors><error>.
func (s *Server) errorResponse(f format, status int, errs map[string][]string) response {
	var b bytes.Buffer
	if f == formatJSON {
		o := obj{}
		for _, k := range sortedKeys(errs) {
			l := make([]any, len(errs[k]))
			for i, m := range errs[k] {
				l[i] = m
			}
			o = append(o, kv{k, l})
		}
		b.Write(s.enc.jsonValue(nil, obj{{"errors", o}}))
		return response{status: status, ctype: "application/json; charset=utf-8", body: b.Bytes()}
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<errors>")
	for _, k := range sortedKeys(errs) {
		for _, m := range errs[k] {
			b.WriteString("<error>")
			if k != "base" {
				xmlText(&b, k+": ")
			}
			xmlText(&b, m)
			b.WriteString("</error>")
		}
	}
	b.WriteString("</errors>\n")
	return response{status: status, ctype: "application/xml; charset=utf-8", body: b.Bytes()}
}

func (s *Server) fail(f format, status int, msg string) response {
	return s.errorResponse(f, status, map[string][]string{"base": {msg}})
}

func (s *Server) render(f format, t *table, v any) response {
	if f == formatJSON {
		return jsonResponse(func(b []byte) []byte { return s.st.enc.jsonValue(b, v) })
	}
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	switch x := v.(type) {
	case []obj:
		s.enc.xmlValue(&b, pluralXML(t.r.xmlName), x)
	default:
		s.enc.xmlValue(&b, t.r.xmlName, x)
	}
	b.WriteByte('\n')
	return response{status: 200, ctype: "application/xml; charset=utf-8", body: b.Bytes()}
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// jsonResponse is a 200 JSON answer whose body encode appends to a pooled buffer.
func jsonResponse(encode func([]byte) []byte) response {
	bp := bufPool.Get().(*[]byte)
	return response{status: 200, ctype: "application/json; charset=utf-8", body: encode((*bp)[:0]), pooled: bp}
}

func pluralXML(name string) string {
	if strings.HasSuffix(name, "y") {
		return name[:len(name)-1] + "ies"
	}
	return name + "s"
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// ServeHTTP routes /oauth2/token, the admin API under /__sim/ and the Coupa API under /api/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	endpoint := "other"
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("sim: internal error", "path", r.URL.Path, "panic", fmt.Sprint(p))
			if sw.status == 0 {
				resp := s.fail(wantFormat(r), 500, "internal simulator error")
				s.write(sw, r, resp, "")
			}
		}
		st := "reset"
		if sw.status != 0 {
			st = strconv.Itoa(sw.status)
		}
		s.count(endpoint, st)
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.Debug("sim request", "method", r.Method, "url", r.URL.String(), "status", st)
		}
	}()
	w.Header().Set("Date", s.opts.Now().UTC().Format(http.TimeFormat))
	switch p := r.URL.Path; {
	case p == "/oauth2/token":
		endpoint = "oauth2/token"
		s.write(sw, r, s.handleToken(r), "")
	case strings.HasPrefix(p, "/__sim/"):
		endpoint = "__sim"
		s.handleAdmin(sw, r)
	case strings.HasPrefix(p, "/api/"):
		endpoint = strings.SplitN(strings.TrimPrefix(p, "/api/"), "/", 2)[0]
		if resourceByName(endpoint) == nil && p != graphqlPath {
			endpoint = "unknown"
		}
		s.serveAPI(sw, r)
	default:
		s.write(sw, r, s.fail(wantFormat(r), 404, "No route matches "+r.Method+" "+p), "")
	}
}

// serveAPI is the /api pipeline: latency, authentication, throttle, faults, then the handler.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	f := wantFormat(r)
	if r.URL.Path == graphqlPath {
		f = formatJSON // "All responses are in JSON only"
	}
	if !sleep(r, s.latency()) {
		return
	}
	p, resp, ok := s.authenticate(r, f)
	if !ok {
		s.write(w, r, resp, "")
		return
	}
	if resp, ok := s.throttle(p, f); !ok {
		s.write(w, r, resp, "")
		return
	}
	kind, faultResp := s.pickFault(f)
	if faultResp != nil {
		s.write(w, r, *faultResp, "")
		return
	}
	if kind == "reset" {
		s.resetConn(w)
		return
	}
	resp = s.handleAPI(r, f, p)
	if !sleep(r, s.opts.LatencyPerRecord*time.Duration(resp.records)) {
		return
	}
	s.write(w, r, resp, kind)
	if resp.pooled != nil && cap(resp.body) <= 1<<20 {
		*resp.pooled = resp.body[:0]
		bufPool.Put(resp.pooled)
	}
}

// sleep waits d unless the request is cancelled first; it says whether to go on.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) latency() time.Duration {
	d := s.opts.Latency
	if j := s.opts.LatencyJitter; j > 0 {
		s.faultMu.Lock()
		d += time.Duration(s.rng.Int64N(int64(j)))
		s.faultMu.Unlock()
	}
	return d
}

// write sends a response, cut short or trickled when a fault says so.
func (s *Server) write(w http.ResponseWriter, r *http.Request, resp response, fault string) {
	h := w.Header()
	if resp.ctype != "" {
		h.Set("Content-Type", resp.ctype)
	}
	for k, v := range resp.header {
		h.Set(k, v)
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	if r.Method == http.MethodHead {
		return
	}
	switch fault {
	case "truncate":
		// Declaring the full length and sending half makes the client see an unexpected EOF.
		w.Write(resp.body[:len(resp.body)/2])
		return
	case "slow_body":
		const parts = 4
		step := (len(resp.body) + parts - 1) / parts
		for i := 0; i < len(resp.body); i += max(step, 1) {
			w.Write(resp.body[i:min(i+step, len(resp.body))])
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			select {
			case <-time.After(s.currentFaults().SlowBodyBy / parts):
			case <-r.Context().Done():
				return
			}
		}
		return
	}
	w.Write(resp.body)
}

func (s *Server) resetConn(w http.ResponseWriter) {
	if sw, ok := w.(*statusWriter); ok {
		w = sw.ResponseWriter
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// handleAPI answers an authenticated, unthrottled /api request.
func (s *Server) handleAPI(r *http.Request, f format, p principal) response {
	if r.URL.Path == graphqlPath && !s.opts.NoGraphQL {
		return s.handleGraphQL(r, p)
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(s.apiPath(r), "/api/"), "/"), "/")
	s.mu.RLock()
	t := s.st.tables[parts[0]]
	s.mu.RUnlock()
	if t == nil || (parts[0] == "roles" && s.opts.NoRolesEndpoint) {
		return s.fail(f, 404, "No route matches "+r.Method+" /api/"+parts[0])
	}
	need := t.r.scope
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		need = t.r.writeScope()
	}
	if !p.has(need) {
		return s.fail(f, s.opts.ScopeStatus, "Access denied: the access token lacks scope "+need+" needed for /api/"+t.r.name)
	}
	if len(parts) > 3 {
		return s.fail(f, 404, "No route matches "+r.Method+" "+r.URL.Path)
	}
	var id int64
	if len(parts) >= 2 {
		n, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || n < 1 {
			return s.fail(f, 404, fmt.Sprintf("Couldn't find %s with id %q", t.r.xmlName, parts[1]))
		}
		id = n
	}
	switch {
	case len(parts) == 1 && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		return s.handleList(r, f, t)
	case len(parts) == 2 && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		return s.handleShow(r, f, t, id)
	case len(parts) == 1 && r.Method == http.MethodPost:
		return s.handleCreate(r, f, t, p)
	case len(parts) == 2 && (r.Method == http.MethodPut || r.Method == http.MethodPatch):
		return s.handleUpdate(r, f, t, id, p)
	case len(parts) == 3 && r.Method == http.MethodPut:
		return s.handleAction(r, f, t, id, parts[2], p)
	case len(parts) == 2 && r.Method == http.MethodDelete && t.r.write.deletable:
		return s.handleDelete(r, f, t, id)
	}
	return s.fail(f, http.StatusMethodNotAllowed, r.Method+" is not supported on "+r.URL.Path)
}

// apiPath is the request's path with a percent-escaped '?' (decoded into the path) read as
// Options.EscapedQuery says; "apply" moves what follows it into the query.
func (s *Server) apiPath(r *http.Request) string {
	p := r.URL.Path
	i := strings.IndexByte(p, '?')
	if i < 0 || s.opts.EscapedQuery == "404" {
		return p
	}
	if s.opts.EscapedQuery == "apply" {
		esc := r.URL.EscapedPath()
		if j := strings.Index(strings.ToUpper(esc), "%3F"); j >= 0 {
			q := esc[j+3:]
			if r.URL.RawQuery != "" {
				q += "&" + r.URL.RawQuery
			}
			r.URL.RawQuery = q
		}
	}
	return p[:i]
}

func (s *Server) queryOf(r *http.Request) (*query, error) {
	return s.parseQuery(r.URL.RawQuery, 50, s.opts.RejectLimitOver50)
}

// parseQuery reads a REST query string with the instance's settings; GraphQL's query: argument is read
// by the same engine.
func (s *Server) parseQuery(raw string, maxLimit int, rejectOver bool) (*query, error) {
	q, err := parseQuery(raw, maxLimit, rejectOver)
	if err != nil {
		return nil, err
	}
	q.refuseUnknown = s.opts.RefuseUnknownFilters
	return q, nil
}

// readQuery is queryOf for a read of t, with the fields names checked when RefuseUnknownFields says so;
// the caller holds s.mu.
func (s *Server) readQuery(r *http.Request, t *table) (*query, error) {
	q, err := s.queryOf(r)
	if err != nil {
		return nil, err
	}
	if s.opts.RefuseUnknownFields && q.proj != nil {
		if name := s.st.unknownField(t, q.proj); name != "" {
			return nil, bad("fields: unknown attribute %q for %s", name, t.r.name)
		}
	}
	return q, nil
}

// renderFor renders record id of t for q: associations are expanded where q's projection asks them
// for more than their stubs carry.
func (s *Server) renderFor(sc *scratch, t *table, id int64, q *query) obj {
	o := s.st.renderIn(sc, t, id, true)
	if q.proj != nil && q.returnOb == "" {
		o = s.st.expand(o, q.proj)
	}
	return o
}

func (s *Server) handleList(r *http.Request, f format, t *table) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	q, err := s.readQuery(r, t)
	if err != nil {
		return s.fail(f, 400, err.Error())
	}
	ids, err := s.st.list(t, q)
	if err != nil {
		return s.fail(f, 400, err.Error())
	}
	if len(ids) == 0 && f == formatXML {
		return s.fail(f, 404, "No results match your search criteria.")
	}
	if s.opts.UnsortedPages && q.orderBy == "" && len(ids) > 1 {
		// Seeded by the page itself, so that the same request gets the same answer.
		rng := rand.New(rand.NewPCG(uint64(s.opts.Seed), uint64(ids[0])))
		rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	}
	// Each record is encoded as soon as it is rendered, into slices lent by a scratch that the next record
	// reuses: rendering the whole page first and encoding it after made every record garbage.
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	if f == formatJSON {
		resp := jsonResponse(func(b []byte) []byte {
			b = append(b, '[')
			for i, id := range ids {
				if i > 0 {
					b = append(b, ',')
				}
				o := s.renderFor(sc, t, id, q)
				if q.returnOb == "" && q.proj != nil {
					// The projection is applied as the record is encoded: copying every record into its
					// projected shape first was a fifth of the simulator's CPU in a sync.
					b = s.st.enc.jsonProjected(b, o, q.proj)
				} else {
					b = s.st.enc.jsonValue(b, q.shape(o))
				}
				sc.reset()
			}
			return append(b, ']')
		})
		resp.records = len(ids)
		return resp
	}
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	name := pluralXML(t.r.xmlName)
	xmlOpen(&b, name, ` type="array"`)
	for _, id := range ids {
		s.enc.xmlValue(&b, singular(name), q.shape(s.renderFor(sc, t, id, q)))
		sc.reset()
	}
	xmlClose(&b, name)
	b.WriteByte('\n')
	return response{status: 200, ctype: "application/xml; charset=utf-8", body: b.Bytes(), records: len(ids)}
}

func (s *Server) handleShow(r *http.Request, f format, t *table, id int64) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	q, err := s.readQuery(r, t)
	if err != nil {
		return s.fail(f, 400, err.Error())
	}
	if _, ok := t.get(id); !ok {
		return s.notFound(f, t, id)
	}
	resp := s.render(f, t, q.shape(s.renderFor(nil, t, id, q)))
	resp.records = 1
	return resp
}

func (s *Server) notFound(f format, t *table, id int64) response {
	return s.fail(f, 404, fmt.Sprintf("Couldn't find %s with id %d", t.r.xmlName, id))
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
