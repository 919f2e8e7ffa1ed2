package access

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// NotFoundError says that a user, group, role, content group or license name matched nothing.
type NotFoundError struct {
	What        string // "user", "group", ...
	Name        string
	Suggestions []string
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("no %s named %q", e.What, e.Name)
	if len(e.Suggestions) > 0 {
		return msg + "; did you mean " + quoteJoin(e.Suggestions) + "?"
	}
	return msg + "; run `coupa access review -o csv` to list what exists"
}

// AmbiguousError says that a name matched more than one object.
type AmbiguousError struct {
	What string
	Name string
	IDs  []int64
}

func (e *AmbiguousError) Error() string {
	ids := make([]string, len(e.IDs))
	for i, id := range e.IDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return fmt.Sprintf("%d %ss are named %q (ids %s); give the id instead", len(e.IDs), e.What, e.Name, strings.Join(ids, ", "))
}

func quoteJoin(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, " or ")
}

// resolveRef finds name (an id or a case-insensitive name) among refs.
func resolveRef(what, name string, refs []Ref) (Ref, error) {
	name = strings.TrimSpace(name)
	if id, err := strconv.ParseInt(name, 10, 64); err == nil && id > 0 {
		for _, r := range refs {
			if r.ID == id {
				return r, nil
			}
		}
		return Ref{}, &NotFoundError{What: what, Name: name}
	}
	var hits []Ref
	for _, r := range refs {
		if strings.EqualFold(r.Name, name) {
			hits = append(hits, r)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		names := make([]string, len(refs))
		for i, r := range refs {
			names[i] = r.Name
		}
		return Ref{}, &NotFoundError{What: what, Name: name, Suggestions: Suggest(name, names)}
	}
	ids := make([]int64, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return Ref{}, &AmbiguousError{What: what, Name: name, IDs: ids}
}

// ResolveGroup finds a group by id or name.
func (m *Model) ResolveGroup(name string) (Ref, error) {
	refs := make([]Ref, len(m.Groups))
	for i, g := range m.Groups {
		refs[i] = Ref{ID: g.ID, Name: g.Name}
	}
	return resolveRef("group", name, refs)
}

// ResolveRole finds a role by id or name.
func (m *Model) ResolveRole(name string) (Ref, error) {
	refs := make([]Ref, len(m.Roles))
	for i, r := range m.Roles {
		refs[i] = Ref{ID: r.ID, Name: r.Name}
	}
	return resolveRef("role", name, refs)
}

// ResolveContentGroup finds a content (business) group by id or name.
func (m *Model) ResolveContentGroup(name string) (Ref, error) {
	return resolveRef("content group", name, m.ContentGroups)
}

// ResolveUser finds a user by id, login or email.
func (m *Model) ResolveUser(name string) (User, error) {
	name = strings.TrimSpace(name)
	if id, err := strconv.ParseInt(name, 10, 64); err == nil && id > 0 {
		for _, u := range m.Users {
			if u.ID == id {
				return u, nil
			}
		}
		return User{}, &NotFoundError{What: "user", Name: name}
	}
	var hits []User
	for _, u := range m.Users {
		if strings.EqualFold(u.Login, name) {
			hits = append(hits, u)
		}
	}
	if len(hits) == 0 {
		for _, u := range m.Users {
			if strings.EqualFold(u.Email, name) {
				hits = append(hits, u)
			}
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		logins := make([]string, len(m.Users))
		for i, u := range m.Users {
			logins[i] = u.Login
		}
		return User{}, &NotFoundError{What: "user", Name: name, Suggestions: Suggest(name, logins)}
	}
	ids := make([]int64, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return User{}, &AmbiguousError{What: "user", Name: name, IDs: ids}
}

// ResolveLicense checks a license name against catalog.Licenses; "purchasing", "purchasing_user" and
// "purchasing-user" all name the same license.
func ResolveLicense(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, l := range catalog.Licenses {
		if licenseKey(l) == licenseKey(n) || licenseKey(l) == licenseKey(n+"-user") {
			return l, nil
		}
	}
	return "", &NotFoundError{What: "license", Name: name, Suggestions: Suggest(n, catalog.Licenses)}
}

func licenseKey(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }

// Suggest returns up to three candidates close to name: those containing it, then those within a small
// edit distance, nearest first.
func Suggest(name string, candidates []string) []string {
	n := strings.ToLower(name)
	type scored struct {
		s string
		d int
	}
	var out []scored
	seen := map[string]bool{}
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if c == "" || seen[lc] {
			continue
		}
		seen[lc] = true
		d := levenshtein(n, lc)
		// A typo in a shortened name ("purchasng" for purchasing-user) is close to the candidate's prefix.
		if r := []rune(lc); len(r) > len([]rune(n)) {
			d = min(d, levenshtein(n, string(r[:len([]rune(n))]))+1)
		}
		limit := max(2, len(n)/3)
		if strings.Contains(lc, n) || strings.Contains(n, lc) {
			d = min(d, 1)
		}
		if d <= limit {
			out = append(out, scored{c, d})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].d != out[j].d {
			return out[i].d < out[j].d
		}
		return out[i].s < out[j].s
	})
	res := []string{}
	for i := 0; i < len(out) && i < 3; i++ {
		res = append(res, out[i].s)
	}
	return res
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = slices.Min([]int{prev[j] + 1, cur[j-1] + 1, prev[j-1] + cost})
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
