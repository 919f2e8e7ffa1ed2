package coupa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// defaultTokenLife is used when the token endpoint gives no expires_in: Coupa tokens live 24 h and
// Coupa recommends renewing every 20 h.
const defaultTokenLife = 20 * time.Hour

// oauth is a hand-written client-credentials token source. x/oauth2 would neither retry without scope
// on invalid_scope nor let us drop a token the API has just refused, and both matter here.
type oauth struct {
	c         *Client
	clientID  string
	secret    string
	scopes    []string
	style     AuthStyle
	mintSlot  chan struct{} // one mint at a time; a channel so that waiting honours ctx
	mu        sync.Mutex    // guards the fields below
	tok       string
	renewAt   time.Time
	gen       uint64 // increases with every new token, so that a stale 401 drops only its own token
	granted   []string
	noScope   bool      // the server refused our scopes once; later mints ask for none
	usedStyle AuthStyle // what worked for AuthStyleAuto
}

func newOAuth(c *Client, id, secret string, scopes []string, style AuthStyle) *oauth {
	var clean []string
	for _, s := range scopes {
		if s = strings.TrimSpace(s); s != "" {
			clean = append(clean, s)
		}
	}
	return &oauth{c: c, clientID: id, secret: secret, scopes: clean, style: style, mintSlot: make(chan struct{}, 1)}
}

// Authenticate mints a token now (a no-op for API-key auth), so that callers can report auth failures early.
func (c *Client) Authenticate(ctx context.Context) error {
	if c.auth == nil {
		return nil
	}
	_, _, err := c.auth.token(ctx)
	return err
}

// GrantedScopes reports the scopes of the current token when Coupa echoes them; nil when unknown.
func (c *Client) GrantedScopes() []string {
	if c.auth == nil {
		return nil
	}
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	if c.auth.granted == nil {
		return nil
	}
	return append([]string(nil), c.auth.granted...)
}

func (a *oauth) cached() (string, uint64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != "" && a.c.now().Before(a.renewAt) {
		return a.tok, a.gen, true
	}
	return "", 0, false
}

// invalidate drops the token of generation gen; a newer token (minted by another goroutine after the
// same 401) is kept, so a burst of 401s costs one mint, not one each.
func (a *oauth) invalidate(gen uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen == gen {
		a.tok = ""
	}
}

func (a *oauth) token(ctx context.Context) (string, uint64, error) {
	if tok, gen, ok := a.cached(); ok {
		return tok, gen, nil
	}
	select {
	case a.mintSlot <- struct{}{}:
	case <-ctx.Done():
		return "", 0, fmt.Errorf("coupa: waiting for an OAuth2 token: %w", ctx.Err())
	}
	defer func() { <-a.mintSlot }()
	// Another goroutine may have minted while we waited for the slot.
	if tok, gen, ok := a.cached(); ok {
		return tok, gen, nil
	}
	return a.mint(ctx)
}

type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
	Scope       string          `json:"scope"`
}

func (a *oauth) mint(ctx context.Context) (string, uint64, error) {
	a.mu.Lock()
	noScope, style := a.noScope, a.usedStyle
	a.mu.Unlock()
	if style == AuthStyleAuto {
		style = a.style
	}
	withScope := len(a.scopes) > 0 && !noScope

	tr, err := a.request(ctx, withScope, style)
	if err != nil && a.style == AuthStyleAuto && style != AuthStyleInHeader && isOAuthCode(err, "invalid_client") {
		// Some servers accept the client only through HTTP Basic; try that once and remember it.
		if tr2, err2 := a.request(ctx, withScope, AuthStyleInHeader); err2 == nil {
			tr, err, style = tr2, nil, AuthStyleInHeader
			a.c.logger.Debug("coupa: token endpoint accepted HTTP Basic client auth; using it from now on")
		}
	}
	if err != nil && withScope && isOAuthCode(err, "invalid_scope") {
		attrs := []any{"requested", strings.Join(a.scopes, " ")}
		var ae *APIError
		if errors.As(err, &ae) && ae.Message != "" {
			attrs = append(attrs, "server_said", ae.Message)
		}
		a.c.logger.Warn("coupa: token endpoint refused the requested scopes (invalid_scope); retrying once without scope, the token will carry whatever the client was granted", attrs...)
		withScope = false
		tr, err = a.request(ctx, false, style)
		if err == nil {
			a.mu.Lock()
			a.noScope = true
			a.mu.Unlock()
		}
	}
	if err != nil {
		return "", 0, a.authErr(err)
	}
	if tr.AccessToken == "" {
		return "", 0, &AuthError{StatusCode: http.StatusOK, Message: "the token endpoint answered without an access_token; check that the host is a Coupa instance"}
	}
	if tt := strings.TrimSpace(tr.TokenType); tt != "" && !strings.EqualFold(tt, "bearer") {
		return "", 0, &AuthError{StatusCode: http.StatusOK, Message: fmt.Sprintf("the token endpoint issued a %q token; only bearer tokens are supported", a.c.redact(tt))}
	}
	life := defaultTokenLife
	if secs, ok := parseExpiresIn(tr.ExpiresIn); ok && secs > 0 {
		// Renew at 80% of the lifetime, so that a long page never starts with a token about to expire.
		life = time.Duration(secs) * time.Second * 8 / 10
	}
	var granted []string
	if tr.Scope != "" {
		granted = strings.Fields(tr.Scope)
	}
	a.c.stats.tokenMints.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tok = tr.AccessToken
	a.gen++
	a.renewAt = a.c.now().Add(life)
	a.granted = granted
	a.usedStyle = style
	a.c.logger.Debug("coupa: minted OAuth2 token", "renew_in", life, "scoped", withScope)
	return a.tok, a.gen, nil
}

func (a *oauth) request(ctx context.Context, withScope bool, style AuthStyle) (*tokenResponse, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if withScope {
		form.Set("scope", strings.Join(a.scopes, " "))
	}
	cl := &call{
		method:      http.MethodPost,
		path:        "/oauth2/token",
		contentType: "application/x-www-form-urlencoded",
		retryable:   true, // minting twice is harmless
		noAuth:      true,
	}
	if style == AuthStyleInHeader {
		cl.basicUser, cl.basicPass = a.clientID, a.secret
	} else {
		form.Set("client_id", a.clientID)
		form.Set("client_secret", a.secret)
	}
	cl.body = []byte(form.Encode())
	var tr tokenResponse
	cl.decode = func(b []byte) error { return json.Unmarshal(b, &tr) }
	if _, err := a.c.do(ctx, cl); err != nil {
		return nil, err
	}
	return &tr, nil
}

func isOAuthCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.OAuthCode == code
}

// authErr turns a token endpoint failure into an *AuthError that says what to do.
func (a *oauth) authErr(err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("coupa: requesting an OAuth2 token: %w", err)
	}
	if ae.StatusCode < 400 || ae.StatusCode >= 500 || ae.StatusCode == http.StatusTooManyRequests {
		// A non-token 2xx (HTML portal), a server error or throttling: not an auth refusal.
		return fmt.Errorf("coupa: requesting an OAuth2 token: %w", err)
	}
	out := &AuthError{StatusCode: ae.StatusCode, Code: ae.OAuthCode}
	switch {
	case ae.OAuthCode == "invalid_client" || (ae.OAuthCode == "" && ae.StatusCode == http.StatusUnauthorized):
		out.Message = "Coupa refused the OAuth2 client (invalid_client): the client id or secret is wrong; check COUPA_CLIENT_ID/COUPA_CLIENT_SECRET"
	case ae.OAuthCode == "invalid_scope":
		out.Message = "Coupa refused the requested scopes (invalid_scope) even without scope; check the scopes of the OAuth2 client in Setup > Integrations > OAuth2/OpenID Connect Clients"
	case ae.OAuthCode == "unauthorized_client" || ae.OAuthCode == "unsupported_grant_type":
		out.Message = fmt.Sprintf("Coupa does not allow this OAuth2 client the client_credentials grant (%s); enable it in Setup > Integrations > OAuth2/OpenID Connect Clients", ae.OAuthCode)
	case ae.StatusCode == http.StatusNotFound:
		out.Message = "the host has no /oauth2/token endpoint (404); check that the host is your Coupa instance"
	default:
		out.Message = fmt.Sprintf("the token endpoint answered %d: %s", ae.StatusCode, ae.Message)
	}
	out.Message = a.c.redact(out.Message)
	return out
}

// parseExpiresIn accepts a number or a numeric string, as servers differ.
func parseExpiresIn(raw json.RawMessage) (int64, bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" || s == "null" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return int64(f), true
	}
	return 0, false
}
