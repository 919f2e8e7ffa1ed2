package access

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
)

// Finding kinds.
const (
	FindingInactiveLicensed = "inactive_with_license"
	FindingAdminRole        = "admin_role"
	FindingNoGroup          = "no_group"
	FindingNoManager        = "no_manager"
	FindingDuplicateEmail   = "duplicate_email"
	FindingAPIUser          = "api_user"
)

// FindingKinds in report order, with what each means for an auditor.
var FindingKinds = []struct{ Kind, Title string }{
	{FindingInactiveLicensed, "Inactive users still holding licenses"},
	{FindingAdminRole, "Users with admin-like roles"},
	{FindingNoGroup, "Users in no user group"},
	{FindingNoManager, "Accounts without a manager"},
	{FindingDuplicateEmail, "Accounts sharing an email address"},
	{FindingAPIUser, "API users"},
}

// Finding is one observation about one user.
type Finding struct {
	Kind   string `json:"kind"`
	UserID int64  `json:"user_id"`
	Login  string `json:"login"`
	Detail string `json:"detail"`
}

// LicenseCount is how many users hold one license.
type LicenseCount struct {
	License  string `json:"license"`
	Users    int    `json:"users"`
	Active   int    `json:"active"`
	Inactive int    `json:"inactive"`
}

// Summary holds the headline numbers of a review.
type Summary struct {
	Users         int            `json:"users"`
	ActiveUsers   int            `json:"active_users"`
	InactiveUsers int            `json:"inactive_users"`
	Groups        int            `json:"groups"`
	Roles         int            `json:"roles"`
	ContentGroups int            `json:"content_groups"`
	Findings      map[string]int `json:"findings"`
}

// Review is the auditor's view of a Model.
type Review struct {
	GeneratedAt time.Time      `json:"generated_at"`
	Instance    string         `json:"instance,omitempty"`
	Summary     Summary        `json:"summary"`
	Licenses    []LicenseCount `json:"licenses"`
	Findings    []Finding      `json:"findings"`
	Users       []User         `json:"users"`
	Groups      []Group        `json:"groups"`
	Roles       []Role         `json:"roles"`
}

// IsAdminRole says whether a role grants administrative power: Coupa's omnipotent flag, or a name that says so.
func IsAdminRole(r Role) bool {
	return r.Omnipotent || strings.Contains(strings.ToLower(r.Name), "admin")
}

// NewReview computes the findings and counts of m.
func NewReview(m *Model, now time.Time) *Review {
	rv := &Review{GeneratedAt: now.UTC(), Users: m.Users, Groups: m.Groups, Roles: m.Roles,
		Findings: []Finding{}}
	roles := map[int64]Role{}
	for _, r := range m.Roles {
		roles[r.ID] = r
	}
	counts := map[string]*LicenseCount{}
	for _, l := range catalog.Licenses {
		counts[l] = &LicenseCount{License: l}
	}
	emails := map[string][]User{}
	add := func(kind string, u User, detail string) {
		rv.Findings = append(rv.Findings, Finding{Kind: kind, UserID: u.ID, Login: u.Login, Detail: detail})
	}
	for _, u := range m.Users {
		rv.Summary.Users++
		if u.Active {
			rv.Summary.ActiveUsers++
		} else {
			rv.Summary.InactiveUsers++
		}
		for _, l := range u.Licenses {
			c := counts[l]
			c.Users++
			if u.Active {
				c.Active++
			} else {
				c.Inactive++
			}
		}
		if !u.Active && len(u.Licenses) > 0 {
			add(FindingInactiveLicensed, u, strings.Join(u.Licenses, ", "))
		}
		var admin []string
		for _, r := range u.Roles {
			role, ok := roles[r.ID]
			if !ok {
				role = Role{ID: r.ID, Name: r.Name}
			}
			if IsAdminRole(role) {
				admin = append(admin, role.Name)
			}
		}
		if len(admin) > 0 {
			add(FindingAdminRole, u, strings.Join(admin, ", "))
		}
		if len(u.Groups) == 0 {
			add(FindingNoGroup, u, "")
		}
		if u.Manager == nil {
			add(FindingNoManager, u, "")
		}
		if e := strings.ToLower(strings.TrimSpace(u.Email)); e != "" {
			emails[e] = append(emails[e], u)
		}
		if u.APIUser {
			add(FindingAPIUser, u, "")
		}
	}
	for e, us := range emails {
		if len(us) < 2 {
			continue
		}
		for _, u := range us {
			var others []string
			for _, o := range us {
				if o.ID != u.ID {
					others = append(others, o.Login)
				}
			}
			add(FindingDuplicateEmail, u, e+" (also "+strings.Join(others, ", ")+")")
		}
	}
	order := map[string]int{}
	for i, k := range FindingKinds {
		order[k.Kind] = i
	}
	sort.SliceStable(rv.Findings, func(i, j int) bool {
		a, b := rv.Findings[i], rv.Findings[j]
		if a.Kind != b.Kind {
			return order[a.Kind] < order[b.Kind]
		}
		return a.UserID < b.UserID
	})
	rv.Summary.Findings = map[string]int{}
	for _, k := range FindingKinds {
		rv.Summary.Findings[k.Kind] = 0
	}
	for _, f := range rv.Findings {
		rv.Summary.Findings[f.Kind]++
	}
	for _, l := range catalog.Licenses {
		rv.Licenses = append(rv.Licenses, *counts[l])
	}
	rv.Summary.Groups, rv.Summary.Roles, rv.Summary.ContentGroups = len(m.Groups), len(m.Roles), len(m.ContentGroups)
	return rv
}

// FindingsOf returns the findings of one kind.
func (rv *Review) FindingsOf(kind string) []Finding {
	return slices.DeleteFunc(slices.Clone(rv.Findings), func(f Finding) bool { return f.Kind != kind })
}
