package access

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
)

// Kind is what a change touches on a user.
type Kind string

// Kinds of entitlement.
const (
	KindGroup        Kind = "group"
	KindRole         Kind = "role"
	KindContentGroup Kind = "content-group"
	KindLicense      Kind = "license"
	KindActive       Kind = "active"
)

// field is the dashed key of the user record holding the kind's set.
func (k Kind) field() string {
	switch k {
	case KindGroup:
		return "user-groups"
	case KindRole:
		return "roles"
	case KindContentGroup:
		return "content-groups"
	}
	return ""
}

// Ops of a Change.
const (
	OpGrant  = "grant"
	OpRevoke = "revoke"
	OpSet    = "set"
)

// Change is one intended change to one user. Grant and revoke add or remove Target; set makes the whole
// set of Kind equal to Desired. For KindActive, grant enables and revoke disables.
type Change struct {
	Kind    Kind
	Op      string
	Target  Ref   // group, role or content group; license name in Name for KindLicense
	Desired []Ref // for OpSet
	// Expect, when not nil, is the set (sorted keys) the change was planned against; a different current set
	// refuses the change, because the plan the operator approved no longer describes it.
	Expect []string
}

// String describes the change for people: "grant role Admin (2)".
func (c Change) String() string {
	switch {
	case c.Kind == KindActive && c.Op == OpGrant:
		return "enable"
	case c.Kind == KindActive && c.Op == OpRevoke:
		return "disable"
	case c.Op == OpSet:
		return fmt.Sprintf("set %ss to [%s]", c.Kind, strings.Join(labels(c.Desired), ", "))
	}
	return fmt.Sprintf("%s %s %s", c.Op, c.Kind, label(c.Target))
}

func label(r Ref) string {
	switch {
	case r.ID == 0:
		return r.Name
	case r.Name == "":
		return "#" + strconv.FormatInt(r.ID, 10)
	}
	return fmt.Sprintf("%s (%d)", r.Name, r.ID)
}

func labels(refs []Ref) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = label(r)
	}
	return out
}

// Results of a change.
const (
	ResultApplied    = "applied"
	ResultNoop       = "noop"
	ResultDryRun     = "dry-run"
	ResultRefused    = "refused"
	ResultFailed     = "failed"
	ResultUnverified = "unverified"
)

// Diff is one user's set of one kind (or their active state) before and after a change: what a plan's Step
// proposes and an Outcome reports. Its JSON names are those of the audit log, which must stay readable.
type Diff struct {
	UserID int64    `json:"user_id"`
	Login  string   `json:"login"`
	Before []string `json:"before"`
	After  []string `json:"after"`
}

// Outcome is what happened to one change.
type Outcome struct {
	Diff
	Change string `json:"change"`
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// ConcurrentChangeError is returned when a user's set changed between the read and the write.
type ConcurrentChangeError struct {
	Login string
	Kind  Kind
	Read  []string
	Now   []string
	// SincePlan: the set differs from the one the plan was made against.
	SincePlan bool
}

func (e *ConcurrentChangeError) Error() string {
	if e.SincePlan {
		return fmt.Sprintf("refused: the %ss of user %s changed since the plan was made; nothing was written for it, run plan again",
			e.Kind, e.Login)
	}
	return fmt.Sprintf("refused: the %ss of user %s changed while this change was prepared (read [%s], now [%s]); nothing was written, run the command again",
		e.Kind, e.Login, strings.Join(e.Read, ", "), strings.Join(e.Now, ", "))
}

// ScopeError says the OAuth client lacks a scope the operation needs.
type ScopeError struct {
	Scope string
	Cause string
}

func (e *ScopeError) Error() string {
	msg := "the OAuth client is missing scope " + e.Scope + "; grant it in Coupa (Setup > Integrations > OAuth2/OpenID Connect Clients)"
	if e.Cause != "" {
		msg += " (" + e.Cause + ")"
	}
	return msg
}

// WriteScope is the scope every change made here needs.
const WriteScope = "core.user.write"

// CheckWriteScope fails when the token's granted scopes are known and lack the write scope.
func CheckWriteScope(granted []string) error {
	if granted == nil || slices.Contains(granted, WriteScope) {
		return nil
	}
	return &ScopeError{Scope: WriteScope}
}

func scopeHint(err error, scope string) error {
	if coupa.IsForbidden(err) {
		return &ScopeError{Scope: scope, Cause: oneLine(err)}
	}
	return err
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// Provisioner changes users safely: it reads the current set, computes the complete new set, re-reads to make
// sure nobody changed it meanwhile, writes it in one PUT, reads it back to verify, and logs to the audit log.
type Provisioner struct {
	API    API
	Audit  *AuditLog // nil: no audit log
	Actor  string    // who acts: the OAuth client id (never the secret)
	DryRun bool
	Logger *slog.Logger
	// BeforeWrite runs between the first read and the re-read that guards the write. Tests use it to make
	// a concurrent edit; nil in production.
	BeforeWrite func(ctx context.Context, userID int64)
}

// state is a user's set of one kind, as sorted keys, with labels for people.
type state struct {
	keys   []string
	labels map[string]string
}

func (s state) display() []string {
	out := make([]string, len(s.keys))
	for i, k := range s.keys {
		out[i] = s.labels[k]
		if out[i] == "" {
			out[i] = k
		}
	}
	return out
}

func refKey(r Ref) string { return strconv.FormatInt(r.ID, 10) }

// stateOf extracts the set of kind from a user record.
func stateOf(rec coupa.Record, kind Kind) state {
	s := state{labels: map[string]string{}}
	switch kind {
	case KindLicense:
		for _, l := range catalog.Licenses {
			if boolean(rec[l]) {
				s.keys = append(s.keys, l)
				s.labels[l] = l
			}
		}
	case KindActive:
		if boolean(rec["active"]) {
			s.keys = []string{"active"}
		} else {
			s.keys = []string{"inactive"}
		}
	default:
		for _, r := range refsOf(rec[kind.field()]) {
			k := refKey(r)
			if !slices.Contains(s.keys, k) {
				s.keys = append(s.keys, k)
			}
			s.labels[k] = label(r)
		}
	}
	slices.Sort(s.keys)
	return s
}

// next computes the complete new set from the current one.
func next(cur state, c Change) (state, error) {
	n := state{keys: slices.Clone(cur.keys), labels: map[string]string{}}
	for k, v := range cur.labels {
		n.labels[k] = v
	}
	key := func(r Ref) string {
		if c.Kind == KindLicense {
			return r.Name
		}
		return refKey(r)
	}
	switch {
	case c.Kind == KindActive:
		switch c.Op {
		case OpGrant:
			n.keys = []string{"active"}
		case OpRevoke:
			n.keys = []string{"inactive"}
		default:
			return n, fmt.Errorf("unknown operation %q on active", c.Op)
		}
		return n, nil
	case c.Op == OpGrant:
		k := key(c.Target)
		if !slices.Contains(n.keys, k) {
			n.keys = append(n.keys, k)
		}
		n.labels[k] = label(c.Target)
	case c.Op == OpRevoke:
		n.keys = slices.DeleteFunc(n.keys, func(x string) bool { return x == key(c.Target) })
	case c.Op == OpSet:
		n.keys = nil
		for _, r := range c.Desired {
			k := key(r)
			if !slices.Contains(n.keys, k) {
				n.keys = append(n.keys, k)
			}
			n.labels[k] = label(r)
		}
	default:
		return n, fmt.Errorf("unknown operation %q", c.Op)
	}
	slices.Sort(n.keys)
	return n, nil
}

// body is the one PUT that moves the user from cur to n: the complete new set for list kinds, every changed
// flag for licenses.
func body(kind Kind, cur, n state) map[string]any {
	switch kind {
	case KindActive:
		return map[string]any{"active": n.keys[0] == "active"}
	case KindLicense:
		b := map[string]any{}
		for _, l := range catalog.Licenses {
			was, now := slices.Contains(cur.keys, l), slices.Contains(n.keys, l)
			if was != now {
				b[l] = now
			}
		}
		return b
	}
	ids := make([]map[string]int64, 0, len(n.keys))
	for _, k := range n.keys {
		id, _ := strconv.ParseInt(k, 10, 64)
		ids = append(ids, map[string]int64{"id": id})
	}
	return map[string]any{kind.field(): ids}
}

// Apply makes one change to the user with id userID and reports what happened. The error is non-nil when
// the change was refused or failed; the Outcome is always returned and, unless DryRun, logged.
func (p *Provisioner) Apply(ctx context.Context, userID int64, c Change) (*Outcome, error) {
	out := &Outcome{Diff: Diff{UserID: userID}, Change: c.String()}
	fail := func(result string, err error) (*Outcome, error) {
		out.Result = result
		out.Error = oneLine(err)
		p.log(out)
		return out, err
	}
	rec, err := p.readUser(ctx, userID)
	if err != nil {
		out.Result = ResultFailed
		out.Error = oneLine(err)
		return out, err // nothing happened: not an audit event
	}
	out.Login = str(rec["login"])
	cur := stateOf(rec, c.Kind)
	out.Before = cur.display()
	if c.Expect != nil && !slices.Equal(c.Expect, cur.keys) {
		return fail(ResultRefused, &ConcurrentChangeError{Login: out.Login, Kind: c.Kind, Read: c.Expect, Now: out.Before, SincePlan: true})
	}
	n, err := next(cur, c)
	if err != nil {
		return out, err
	}
	if slices.Equal(cur.keys, n.keys) {
		out.After = out.Before
		out.Result = ResultNoop
		if !p.DryRun {
			p.log(out)
		}
		return out, nil
	}
	out.After = n.display()
	if p.DryRun {
		out.Result = ResultDryRun
		return out, nil
	}
	if p.BeforeWrite != nil {
		p.BeforeWrite(ctx, userID)
	}
	rec2, err := p.readUser(ctx, userID)
	if err != nil {
		return fail(ResultFailed, fmt.Errorf("re-reading user %s before the write: %w", out.Login, err))
	}
	if now := stateOf(rec2, c.Kind); !slices.Equal(now.keys, cur.keys) {
		out.After = now.display()
		return fail(ResultRefused, &ConcurrentChangeError{Login: out.Login, Kind: c.Kind, Read: out.Before, Now: now.display()})
	}
	_, _, werr := p.API.Update(ctx, "users", userID, body(c.Kind, cur, n), nil)
	back, rerr := p.readUser(ctx, userID)
	if werr != nil {
		if coupa.IsForbidden(werr) {
			werr = &ScopeError{Scope: WriteScope, Cause: oneLine(werr)}
		}
		if rerr == nil {
			out.After = stateOf(back, c.Kind).display()
		} else {
			out.After = nil
		}
		return fail(ResultFailed, fmt.Errorf("writing user %s: %w", out.Login, werr))
	}
	if rerr != nil {
		return fail(ResultUnverified, fmt.Errorf("the write to user %s was accepted but reading it back failed: %w", out.Login, rerr))
	}
	got := stateOf(back, c.Kind)
	out.After = got.display()
	if !slices.Equal(got.keys, n.keys) {
		return fail(ResultUnverified, fmt.Errorf("the write to user %s was accepted but its %ss read back as [%s], expected [%s]",
			out.Login, c.Kind, strings.Join(got.display(), ", "), strings.Join(n.display(), ", ")))
	}
	out.Result = ResultApplied
	p.log(out)
	return out, nil
}

func (p *Provisioner) readUser(ctx context.Context, id int64) (coupa.Record, error) {
	rec, _, err := p.API.Get(ctx, "users", id, nil)
	if err != nil {
		if coupa.IsNotFound(err) {
			return nil, &NotFoundError{What: "user", Name: strconv.FormatInt(id, 10)}
		}
		return nil, scopeHint(err, "core.user.read")
	}
	if rec == nil {
		return nil, fmt.Errorf("user %d: Coupa returned an empty body", id)
	}
	return rec, nil
}

func (p *Provisioner) log(o *Outcome) {
	if p.Audit == nil {
		return
	}
	if err := p.Audit.Append(Entry{Actor: p.Actor, Outcome: *o}); err != nil && p.Logger != nil {
		p.Logger.Error("access: writing the audit log failed", "err", err)
	}
}

// CreateUser creates a user from body (dashed keys). It refuses a body lacking the fields Coupa requires and a
// login that already exists.
func (p *Provisioner) CreateUser(ctx context.Context, body map[string]any) (*Outcome, error) {
	login := str(body["login"])
	out := &Outcome{Diff: Diff{Login: login, Before: []string{}}, Change: "create user"}
	var missing []string
	for _, f := range requiredUserFields() {
		if v, ok := body[f]; !ok || v == nil || v == "" {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("the user file lacks %s (Coupa requires them to create a user)", strings.Join(missing, ", "))
	}
	for rec, err := range p.API.List(ctx, "users", &coupa.ListOptions{
		Filters: []coupa.Filter{{Field: "login", Value: login}}, Fields: []any{"id", "login"}, Limit: 5}) {
		if err != nil {
			return out, fmt.Errorf("checking whether login %s exists: %w", login, scopeHint(err, "core.user.read"))
		}
		if strings.EqualFold(str(rec["login"]), login) {
			id, _ := rec.ID()
			return out, fmt.Errorf("a user with login %q already exists (id %d); use grant/enable to change it", login, id)
		}
	}
	out.After = []string{login}
	if p.DryRun {
		out.Result = ResultDryRun
		return out, nil
	}
	rec, _, err := p.API.Create(ctx, "users", body, nil)
	if err != nil {
		if coupa.IsForbidden(err) {
			err = &ScopeError{Scope: WriteScope, Cause: oneLine(err)}
		}
		out.Result = ResultFailed
		out.Error = oneLine(err)
		p.log(out)
		return out, fmt.Errorf("creating user %s: %w", login, err)
	}
	out.UserID, _ = rec.ID()
	out.Result = ResultApplied
	p.log(out)
	return out, nil
}

func requiredUserFields() []string {
	if t, ok := catalog.Lookup("users"); ok && len(t.Required) > 0 {
		return t.Required
	}
	return []string{"login", "email", "active"}
}
