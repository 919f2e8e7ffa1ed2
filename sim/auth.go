package sim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// extraScopes are real Coupa scopes that no simulated endpoint needs but clients may still ask for.
var extraScopes = []string{"core.invoice.create", "core.invoice.delete", "core.invoice.approval.write",
	"core.invoice.approval.bypass", "core.purchase_order_change.read", "core.purchase_order_change.write",
	"core.supplier_sites.read", "core.supplier_sites.write", "core.expense.secure.read", "core.expense.secure.write",
	"core.approval.configuration.read", "core.approval.configuration.write", "core.business_entity.read",
	"core.business_entity.write", "core.common.write", "openid", "email", "profile", "login", "offline_access"}

// AllScopes lists every scope the simulated instance knows, sorted.
func AllScopes() []string {
	set := map[string]bool{}
	for _, r := range resources {
		set[r.scope] = true
		set[r.writeScope()] = true
	}
	for _, sc := range extraScopes {
		set[sc] = true
	}
	out := make([]string, 0, len(set))
	for sc := range set {
		out = append(out, sc)
	}
	sort.Strings(out)
	return out
}

func knownScope(sc string) bool {
	for _, k := range AllScopes() {
		if k == sc {
			return true
		}
	}
	return false
}

type token struct {
	client  string
	scopes  map[string]bool
	expires time.Time
}

// principal is who a request acts as: a client (with its token's scopes) or an API key (everything).
type principal struct {
	key    string // throttle bucket key
	scopes map[string]bool
	all    bool
}

func (p principal) has(scope string) bool { return p.all || p.scopes[scope] }

func tokenError(status int, code, desc string) response {
	b := encoder{}.jsonValue(nil, obj{{"error", code}, {"error_description", desc}})
	return response{status: status, ctype: "application/json; charset=utf-8", body: b}
}

// handleToken is POST /oauth2/token, client credentials in the form body or in HTTP Basic.
func (s *Server) handleToken(r *http.Request) response {
	if r.Method != http.MethodPost {
		return tokenError(http.StatusMethodNotAllowed, "invalid_request", "use POST")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return tokenError(400, "invalid_request", "the request body is not a valid form")
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		return tokenError(400, "unsupported_grant_type", "grant_type must be client_credentials")
	}
	s.authMu.Lock()
	c, ok := s.clients[id]
	s.authMu.Unlock()
	if !ok || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return tokenError(401, "invalid_client", "client authentication failed")
	}
	granted := map[string]bool{}
	for _, sc := range c.Scopes {
		granted[sc] = true
	}
	scopes := map[string]bool{}
	if req := strings.Fields(strings.ReplaceAll(r.PostForm.Get("scope"), ",", " ")); len(req) > 0 {
		for _, sc := range req {
			if !knownScope(sc) {
				return tokenError(400, "invalid_scope", "The requested scope is invalid, unknown, or malformed: "+sc)
			}
			if !granted[sc] {
				return tokenError(400, "invalid_scope", "The requested scope is not granted to this client: "+sc)
			}
			scopes[sc] = true
		}
	} else {
		scopes = granted
	}
	var raw [24]byte
	rand.Read(raw[:])
	tok := hex.EncodeToString(raw[:])
	s.authMu.Lock()
	s.tokens[tok] = token{client: c.ID, scopes: scopes, expires: s.opts.Now().Add(s.opts.TokenTTL)}
	s.authMu.Unlock()
	s.statsMu.Lock()
	s.stats.TokensMinted++
	s.statsMu.Unlock()
	o := obj{{"access_token", tok}, {"token_type", s.opts.TokenType}, {"expires_in", int64(s.opts.TokenTTL / time.Second)}}
	if s.opts.ScopeEcho {
		list := make([]string, 0, len(scopes))
		for sc := range scopes {
			list = append(list, sc)
		}
		sort.Strings(list)
		o = append(o, kv{"scope", strings.Join(list, " ")})
	}
	return response{status: 200, ctype: "application/json; charset=utf-8", body: encoder{}.jsonValue(nil, o),
		header: map[string]string{"Cache-Control": "no-store"}}
}

func (s *Server) authenticate(r *http.Request, f format) (principal, response, bool) {
	if key := r.Header.Get("X-COUPA-API-KEY"); key != "" {
		s.authMu.Lock()
		ok := s.keys[key]
		s.authMu.Unlock()
		if !ok {
			return principal{}, s.fail(f, 401, "Unauthorized: invalid API key"), false
		}
		return principal{key: "key:" + key[:min(6, len(key))], all: true}, response{}, true
	}
	h := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "bearer") || tok == "" {
		return principal{}, s.fail(f, 401, "Unauthorized: send Authorization: Bearer <token> from POST /oauth2/token"), false
	}
	s.authMu.Lock()
	t, ok := s.tokens[strings.TrimSpace(tok)]
	s.authMu.Unlock()
	if !ok {
		return principal{}, s.fail(f, 401, "Unauthorized: unknown access token"), false
	}
	if !s.opts.Now().Before(t.expires) {
		return principal{}, s.fail(f, 401, "Unauthorized: the access token has expired; request a new one"), false
	}
	return principal{key: "client:" + t.client, scopes: t.scopes}, response{}, true
}

// bucket is a token bucket: Rate tokens per second up to Burst.
type bucket struct {
	tokens float64
	last   time.Time
}

func (s *Server) throttle(p principal, f format) (response, bool) {
	if s.opts.Rate < 0 {
		return response{}, true
	}
	key := p.key // every connection of a client id shares its bucket
	if s.opts.InstanceBucket {
		key = "instance"
	}
	now := time.Now()
	s.authMu.Lock()
	b := s.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(s.opts.Burst), last: now}
		s.buckets[key] = b
	}
	b.tokens = min(float64(s.opts.Burst), b.tokens+now.Sub(b.last).Seconds()*s.opts.Rate)
	b.last = now
	ok := b.tokens >= 1
	var wait float64
	if ok {
		b.tokens--
	} else {
		wait = (1 - b.tokens) / s.opts.Rate
	}
	s.authMu.Unlock()
	if ok {
		return response{}, true
	}
	s.statsMu.Lock()
	s.stats.Throttled++
	s.statsMu.Unlock()
	return s.tooMany(f, wait), false
}

func (s *Server) tooMany(f format, wait float64) response {
	resp := s.fail(f, http.StatusTooManyRequests, "Rate limit exceeded: 25 requests per second, burst 20")
	if s.opts.RetryAfter {
		resp.header = map[string]string{"Retry-After": strconv.Itoa(max(1, int(wait+0.999)))}
	}
	return resp
}
