package access

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Spec is an access.yaml file: the desired access, declared per user, per group and as a list of users that
// must be disabled. A list given for a user is the complete desired set of that kind; a kind left out is not
// managed. A group's members list is the complete membership of that group.
//
//	users:
//	  - user: alice            # login, email or id
//	    groups: [Finance, AP]
//	    roles: [User]
//	    content-groups: [US]
//	    licenses: [purchasing-user]
//	    active: true
//	groups:
//	  - group: Auditors
//	    members: [bob, carol]
//	disable: [dave]
type Spec struct {
	File    string
	Users   []UserSpec
	Groups  []GroupSpec
	Disable []Item
}

// Item is a name in the file with its position, so that errors can point at it.
type Item struct {
	Name         string
	Line, Column int
}

// UserSpec is the desired access of one user; nil lists are not managed.
type UserSpec struct {
	User          Item
	Groups        []Item
	Roles         []Item
	ContentGroups []Item
	Licenses      []Item
	Active        *bool
	ActivePos     Item
	has           map[Kind]bool
}

// GroupSpec is the complete desired membership of one group.
type GroupSpec struct {
	Group   Item
	Members []Item
}

// SpecError is a problem in the file at a position.
type SpecError struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

func specErr(file string, n *yaml.Node, format string, args ...any) error {
	return &SpecError{File: file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)}
}

// ParseSpec reads an access.yaml strictly: unknown keys, wrong types and duplicates are errors with line and
// column.
func ParseSpec(file string, r io.Reader) (*Spec, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file is empty; see `coupa access plan --help` for its format", file)
		}
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	spec := &Spec{File: file}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, specErr(file, root, "expected a mapping with users, groups and/or disable")
	}
	err = eachKey(file, root, func(key string, k, v *yaml.Node) error {
		switch key {
		case "users":
			return eachSeq(file, v, "users", func(n *yaml.Node) error {
				u, err := parseUserSpec(file, n)
				if err == nil {
					spec.Users = append(spec.Users, *u)
				}
				return err
			})
		case "groups":
			return eachSeq(file, v, "groups", func(n *yaml.Node) error {
				g, err := parseGroupSpec(file, n)
				if err == nil {
					spec.Groups = append(spec.Groups, *g)
				}
				return err
			})
		case "disable":
			items, err := names(file, v, "disable")
			spec.Disable = items
			return err
		}
		return specErr(file, k, "unknown key %q (expected users, groups or disable)", key)
	})
	if err != nil {
		return nil, err
	}
	return spec, nil
}

func eachKey(file string, m *yaml.Node, f func(key string, k, v *yaml.Node) error) error {
	if m.Kind != yaml.MappingNode {
		return specErr(file, m, "expected a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return specErr(file, k, "expected a key name")
		}
		if seen[k.Value] {
			return specErr(file, k, "key %q appears twice", k.Value)
		}
		seen[k.Value] = true
		if err := f(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func eachSeq(file string, n *yaml.Node, what string, f func(*yaml.Node) error) error {
	if n.Kind != yaml.SequenceNode {
		return specErr(file, n, "%s must be a list", what)
	}
	for _, c := range n.Content {
		if err := f(c); err != nil {
			return err
		}
	}
	return nil
}

func scalar(file string, n *yaml.Node, what string) (Item, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
		return Item{}, specErr(file, n, "%s must be a name or an id", what)
	}
	return Item{Name: strings.TrimSpace(n.Value), Line: n.Line, Column: n.Column}, nil
}

func names(file string, n *yaml.Node, what string) ([]Item, error) {
	out := []Item{}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return out, nil // "roles:" with nothing means the empty set
	}
	err := eachSeq(file, n, what, func(c *yaml.Node) error {
		it, err := scalar(file, c, "each entry of "+what)
		if err != nil {
			return err
		}
		for _, o := range out {
			if strings.EqualFold(o.Name, it.Name) {
				return specErr(file, c, "%q is listed twice in %s", it.Name, what)
			}
		}
		out = append(out, it)
		return nil
	})
	return out, err
}

func parseUserSpec(file string, n *yaml.Node) (*UserSpec, error) {
	u := &UserSpec{has: map[Kind]bool{}}
	err := eachKey(file, n, func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "user":
			u.User, err = scalar(file, v, "user")
		case "groups":
			u.Groups, err = names(file, v, "groups")
			u.has[KindGroup] = true
		case "roles":
			u.Roles, err = names(file, v, "roles")
			u.has[KindRole] = true
		case "content-groups":
			u.ContentGroups, err = names(file, v, "content-groups")
			u.has[KindContentGroup] = true
		case "licenses":
			u.Licenses, err = names(file, v, "licenses")
			u.has[KindLicense] = true
		case "active":
			var b bool
			if v.Kind != yaml.ScalarNode || v.Decode(&b) != nil || v.Tag != "!!bool" {
				return specErr(file, v, "active must be true or false")
			}
			u.Active = &b
			u.ActivePos = Item{Line: v.Line, Column: v.Column}
		default:
			return specErr(file, k, "unknown key %q in a user (expected user, groups, roles, content-groups, licenses, active)", key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if u.User.Name == "" {
		return nil, specErr(file, n, "a user entry needs `user: LOGIN`")
	}
	return u, nil
}

func parseGroupSpec(file string, n *yaml.Node) (*GroupSpec, error) {
	g := &GroupSpec{}
	hasMembers := false
	err := eachKey(file, n, func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "group":
			g.Group, err = scalar(file, v, "group")
		case "members":
			g.Members, err = names(file, v, "members")
			hasMembers = true
		default:
			return specErr(file, k, "unknown key %q in a group (expected group, members)", key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if g.Group.Name == "" {
		return nil, specErr(file, n, "a group entry needs `group: NAME`")
	}
	if !hasMembers {
		return nil, specErr(file, n, "group %q needs a members list (use `members: []` for none)", g.Group.Name)
	}
	return g, nil
}

// Step is one planned change: the Diff it is expected to make and the Change that makes it.
type Step struct {
	Diff
	Kind   Kind   `json:"kind"`
	Change Change `json:"-"`
}

// String shows the step as a diff line.
func (s Step) String() string {
	if s.Kind == KindActive {
		if s.After[0] == "active" {
			return fmt.Sprintf("~ %s: enable", s.Login)
		}
		return fmt.Sprintf("~ %s: disable", s.Login)
	}
	var add, del []string
	for _, a := range s.After {
		if !slices.Contains(s.Before, a) {
			add = append(add, "+"+a)
		}
	}
	for _, b := range s.Before {
		if !slices.Contains(s.After, b) {
			del = append(del, "-"+b)
		}
	}
	return fmt.Sprintf("~ %s: %ss %s", s.Login, s.Kind, strings.Join(append(add, del...), " "))
}

// Plan is the ordered list of changes that moves Coupa to the Spec.
type Plan struct {
	Steps []Step `json:"steps"`
}

// userKeys is the set of kind a user holds, as the keys stateOf would compute from the record.
func userKeys(u User, kind Kind) state {
	s := state{labels: map[string]string{}}
	var refs []Ref
	switch kind {
	case KindGroup:
		refs = u.Groups
	case KindRole:
		refs = u.Roles
	case KindContentGroup:
		refs = u.ContentGroups
	case KindLicense:
		for _, l := range u.Licenses {
			s.keys = append(s.keys, l)
			s.labels[l] = l
		}
	case KindActive:
		if u.Active {
			s.keys = []string{"active"}
		} else {
			s.keys = []string{"inactive"}
		}
	}
	for _, r := range refs {
		k := refKey(r)
		s.keys = append(s.keys, k)
		s.labels[k] = label(r)
	}
	slices.Sort(s.keys)
	s.keys = slices.Compact(s.keys)
	return s
}

func (sp *Spec) at(it Item, err error) error {
	return &SpecError{File: sp.File, Line: it.Line, Column: it.Column, Msg: err.Error()}
}

// desired is what the spec asks of one user.
type desired struct {
	user   User
	sets   map[Kind][]Ref
	active *bool
	origin map[Kind]string // which entry set the kind, for conflict messages
}

// MakePlan resolves every name of the spec against m and returns the changes needed, in a safe order:
// disables first, then set changes that only remove, then those that add, then enables. Stopped at any
// point, Coupa is never left granting more than it did before or than the file asks.
func MakePlan(m *Model, sp *Spec) (*Plan, error) {
	want := map[int64]*desired{}
	var order []int64
	get := func(u User) *desired {
		d := want[u.ID]
		if d == nil {
			d = &desired{user: u, sets: map[Kind][]Ref{}, origin: map[Kind]string{}}
			want[u.ID] = d
			order = append(order, u.ID)
		}
		return d
	}
	for _, us := range sp.Users {
		u, err := m.ResolveUser(us.User.Name)
		if err != nil {
			return nil, sp.at(us.User, err)
		}
		d := get(u)
		if d.origin["user"] != "" {
			return nil, sp.at(us.User, fmt.Errorf("user %s has two entries", u.Login))
		}
		d.origin["user"] = "users"
		resolveAll := func(kind Kind, items []Item, f func(string) (Ref, error)) error {
			if !us.has[kind] {
				return nil
			}
			refs := []Ref{}
			for _, it := range items {
				r, err := f(it.Name)
				if err != nil {
					return sp.at(it, err)
				}
				refs = append(refs, r)
			}
			d.sets[kind] = refs
			d.origin[kind] = "user " + u.Login
			return nil
		}
		if err := resolveAll(KindGroup, us.Groups, m.ResolveGroup); err != nil {
			return nil, err
		}
		if err := resolveAll(KindRole, us.Roles, m.ResolveRole); err != nil {
			return nil, err
		}
		if err := resolveAll(KindContentGroup, us.ContentGroups, m.ResolveContentGroup); err != nil {
			return nil, err
		}
		if err := resolveAll(KindLicense, us.Licenses, func(s string) (Ref, error) {
			l, err := ResolveLicense(s)
			return Ref{Name: l}, err
		}); err != nil {
			return nil, err
		}
		d.active = us.Active
	}
	for _, it := range sp.Disable {
		u, err := m.ResolveUser(it.Name)
		if err != nil {
			return nil, sp.at(it, err)
		}
		d := get(u)
		if d.active != nil && *d.active {
			return nil, sp.at(it, fmt.Errorf("user %s is listed under disable but its entry says active: true", u.Login))
		}
		f := false
		d.active = &f
	}
	for _, gs := range sp.Groups {
		g, err := m.ResolveGroup(gs.Group.Name)
		if err != nil {
			return nil, sp.at(gs.Group, err)
		}
		members := map[int64]Item{}
		for _, it := range gs.Members {
			u, err := m.ResolveUser(it.Name)
			if err != nil {
				return nil, sp.at(it, err)
			}
			members[u.ID] = it
		}
		for _, u := range m.Users {
			_, in := members[u.ID]
			had := hasRef(u.Groups, g.ID)
			d := want[u.ID]
			if d != nil && d.sets[KindGroup] != nil && d.origin[KindGroup] != "" && !strings.HasPrefix(d.origin[KindGroup], "group") {
				if hasRef(d.sets[KindGroup], g.ID) != in {
					return nil, sp.at(gs.Group, fmt.Errorf("group %s and the entry of user %s disagree about whether %s is a member", g.Name, u.Login, u.Login))
				}
				continue
			}
			if in == had && (d == nil || d.sets[KindGroup] == nil) {
				continue
			}
			d = get(u)
			if d.sets[KindGroup] == nil {
				d.sets[KindGroup] = slices.Clone(u.Groups)
				d.origin[KindGroup] = "group " + g.Name
			}
			if in && !hasRef(d.sets[KindGroup], g.ID) {
				d.sets[KindGroup] = append(d.sets[KindGroup], g)
			}
			if !in {
				d.sets[KindGroup] = slices.DeleteFunc(d.sets[KindGroup], func(r Ref) bool { return r.ID == g.ID })
			}
		}
	}
	var disables, removes, adds, enables []Step
	for _, id := range order {
		d := want[id]
		for _, kind := range []Kind{KindGroup, KindRole, KindContentGroup, KindLicense} {
			refs, ok := d.sets[kind]
			if !ok {
				continue
			}
			cur := userKeys(d.user, kind)
			n, _ := next(cur, Change{Kind: kind, Op: OpSet, Desired: refs})
			if slices.Equal(cur.keys, n.keys) {
				continue
			}
			st := Step{Diff: Diff{UserID: id, Login: d.user.Login, Before: cur.display(), After: n.display()}, Kind: kind,
				Change: Change{Kind: kind, Op: OpSet, Desired: refs, Expect: cur.keys}}
			onlyRemoves := true
			for _, k := range n.keys {
				if !slices.Contains(cur.keys, k) {
					onlyRemoves = false
				}
			}
			if onlyRemoves {
				removes = append(removes, st)
			} else {
				adds = append(adds, st)
			}
		}
		if d.active != nil && *d.active != d.user.Active {
			cur := userKeys(d.user, KindActive)
			op, after := OpRevoke, "inactive"
			if *d.active {
				op, after = OpGrant, "active"
			}
			st := Step{Diff: Diff{UserID: id, Login: d.user.Login, Before: cur.keys, After: []string{after}}, Kind: KindActive,
				Change: Change{Kind: KindActive, Op: op, Expect: cur.keys}}
			if *d.active {
				enables = append(enables, st)
			} else {
				disables = append(disables, st)
			}
		}
	}
	p := &Plan{Steps: slices.Concat(disables, removes, adds, enables)}
	if p.Steps == nil {
		p.Steps = []Step{}
	}
	return p, nil
}

// ApplyResult reports an apply: what was done, what failed, what was not attempted.
type ApplyResult struct {
	Done       []Outcome `json:"done"`
	Failed     *Outcome  `json:"failed,omitempty"`
	NotApplied []Step    `json:"not_applied"`
}

// Apply executes the plan step by step through p, stopping at the first failure.
func Apply(ctx context.Context, p *Provisioner, plan *Plan) (*ApplyResult, error) {
	res := &ApplyResult{Done: []Outcome{}, NotApplied: []Step{}}
	for i, st := range plan.Steps {
		if err := ctx.Err(); err != nil {
			res.NotApplied = plan.Steps[i:]
			return res, err
		}
		out, err := p.Apply(ctx, st.UserID, st.Change)
		if err != nil {
			res.Failed = out
			res.NotApplied = plan.Steps[i+1:]
			return res, fmt.Errorf("step %d of %d (%s) failed: %w", i+1, len(plan.Steps), st.String(), err)
		}
		res.Done = append(res.Done, *out)
	}
	return res, nil
}

// Describe renders the plan for people, one line per step.
func (pl *Plan) Describe() string {
	if len(pl.Steps) == 0 {
		return "No changes: Coupa matches the file.\n"
	}
	var sb strings.Builder
	for _, s := range pl.Steps {
		sb.WriteString(s.String())
		sb.WriteByte('\n')
	}
	sb.WriteString("Plan: " + strconv.Itoa(len(pl.Steps)) + " change(s).\n")
	return sb.String()
}
