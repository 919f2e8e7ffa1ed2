package access

import (
	"encoding/csv"
	"encoding/json"
	"html/template"
	"io"
	"strconv"
	"strings"
)

// WriteJSON writes the whole review as one indented JSON document.
func (rv *Review) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rv)
}

// CSVHeader is the header of the per-user CSV report.
var CSVHeader = []string{"id", "login", "email", "name", "active", "api_user", "authentication_method",
	"manager", "department", "roles", "groups", "content_groups", "licenses", "findings"}

// WriteCSV writes one row per user with their entitlements and the kinds of finding raised on them.
// Lists are joined with "; " so that a cell stays one value for spreadsheet filters.
func (rv *Review) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	byUser := rv.findingsByUser()
	for _, u := range rv.Users {
		mgr := ""
		if u.Manager != nil {
			mgr = u.Manager.Name
			if mgr == "" {
				mgr = strconv.FormatInt(u.Manager.ID, 10)
			}
		}
		row := []string{strconv.FormatInt(u.ID, 10), u.Login, u.Email, u.Name, strconv.FormatBool(u.Active),
			strconv.FormatBool(u.APIUser), u.AuthMethod, mgr, u.Department, refNames(u.Roles), refNames(u.Groups),
			refNames(u.ContentGroups), strings.Join(u.Licenses, "; "), strings.Join(byUser[u.ID], "; ")}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func (rv *Review) findingsByUser() map[int64][]string {
	out := map[int64][]string{}
	for _, f := range rv.Findings {
		out[f.UserID] = append(out[f.UserID], f.Kind)
	}
	return out
}

func refNames(refs []Ref) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.Name
		if parts[i] == "" {
			parts[i] = "#" + strconv.FormatInt(r.ID, 10)
		}
	}
	return strings.Join(parts, "; ")
}

type chartBar struct {
	Label       string
	Active      int
	Inactive    int
	Y, WActive  int
	WInact, XIn int
	TextX       int
}

// WriteHTML writes a single self-contained HTML page: summary, an inline SVG chart of licenses by type and
// sortable tables. No external resource is referenced, so the file can be mailed to an auditor.
func (rv *Review) WriteHTML(w io.Writer) error {
	const labelW, barW, rowH = 170, 420, 22
	maxN := 1
	for _, l := range rv.Licenses {
		maxN = max(maxN, l.Users)
	}
	bars := make([]chartBar, len(rv.Licenses))
	for i, l := range rv.Licenses {
		wa := l.Active * barW / maxN
		wi := l.Inactive * barW / maxN
		bars[i] = chartBar{Label: l.License, Active: l.Active, Inactive: l.Inactive, Y: i*rowH + 4,
			WActive: wa, WInact: wi, XIn: labelW + wa, TextX: labelW + wa + wi + 6}
	}
	titles := map[string]string{}
	for _, k := range FindingKinds {
		titles[k.Kind] = k.Title
	}
	byUser := rv.findingsByUser()
	type userRow struct {
		User
		Manager, Roles, Groups, ContentGroups, Licenses, Findings string
	}
	users := make([]userRow, len(rv.Users))
	for i, u := range rv.Users {
		mgr := ""
		if u.Manager != nil {
			mgr = u.Manager.Name
		}
		users[i] = userRow{User: u, Manager: mgr, Roles: refNames(u.Roles), Groups: refNames(u.Groups),
			ContentGroups: refNames(u.ContentGroups), Licenses: strings.Join(u.Licenses, ", "),
			Findings: strings.Join(byUser[u.ID], ", ")}
	}
	data := map[string]any{
		"R": rv, "Bars": bars, "ChartH": len(bars)*rowH + 8, "LabelW": labelW, "Users": users,
		"Titles": titles, "Kinds": FindingKinds, "Generated": rv.GeneratedAt.Format("2006-01-02 15:04:05 MST"),
	}
	return reportTmpl.Execute(w, data)
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"title": func(m map[string]string, k string) string { return m[k] },
	"yes": func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	},
	"plus": func(a, b int) int { return a + b },
	"join": func(s []int64) string {
		parts := make([]string, len(s))
		for i, x := range s {
			parts[i] = strconv.FormatInt(x, 10)
		}
		return strings.Join(parts, ", ")
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>Coupa access review</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222}
h1{margin-bottom:0}.meta{color:#666;margin-top:.2em}
.cards{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.6em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3;cursor:pointer;user-select:none}
th.asc::after{content:" \25B2"}th.desc::after{content:" \25BC"}
tr:nth-child(even) td{background:#fafafa}
.legend span{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .3em 0 1em}
</style>
</head>
<body>
<h1>Coupa access review</h1>
<p class="meta">Generated {{.Generated}}{{if .R.Instance}} from {{.R.Instance}}{{end}}</p>
<h2>Summary</h2>
<div class="cards" id="summary">
<div class="card" data-metric="users"><b>{{.R.Summary.Users}}</b>users</div>
<div class="card" data-metric="active_users"><b>{{.R.Summary.ActiveUsers}}</b>active</div>
<div class="card" data-metric="inactive_users"><b>{{.R.Summary.InactiveUsers}}</b>inactive</div>
<div class="card" data-metric="groups"><b>{{.R.Summary.Groups}}</b>user groups</div>
<div class="card" data-metric="roles"><b>{{.R.Summary.Roles}}</b>roles</div>
<div class="card" data-metric="content_groups"><b>{{.R.Summary.ContentGroups}}</b>content groups</div>
</div>
<table id="finding-summary" class="sortable">
<thead><tr><th>Finding</th><th>Users</th></tr></thead>
<tbody>
{{range .Kinds}}<tr data-kind="{{.Kind}}"><td>{{.Title}}</td><td>{{index $.R.Summary.Findings .Kind}}</td></tr>
{{end}}</tbody>
</table>
<h2>Licenses by type</h2>
<div class="legend"><span style="background:#3b7dd8"></span>active users<span style="background:#d86b3b"></span>inactive users</div>
<svg xmlns="http://www.w3.org/2000/svg" width="700" height="{{.ChartH}}" role="img" aria-label="Licenses by type">
{{range .Bars}}<g class="bar" data-license="{{.Label}}">
<text x="{{$.LabelW}}" dx="-6" y="{{plus .Y 13}}" text-anchor="end" font-size="12">{{.Label}}</text>
<rect x="{{$.LabelW}}" y="{{.Y}}" width="{{.WActive}}" height="16" fill="#3b7dd8"><title>{{.Label}}: {{.Active}} active</title></rect>
<rect x="{{.XIn}}" y="{{.Y}}" width="{{.WInact}}" height="16" fill="#d86b3b"><title>{{.Label}}: {{.Inactive}} inactive</title></rect>
<text x="{{.TextX}}" y="{{plus .Y 13}}" font-size="12">{{plus .Active .Inactive}}</text>
</g>
{{end}}</svg>
<table id="licenses" class="sortable">
<thead><tr><th>License</th><th>Users</th><th>Active</th><th>Inactive</th></tr></thead>
<tbody>
{{range .R.Licenses}}<tr><td>{{.License}}</td><td>{{.Users}}</td><td>{{.Active}}</td><td>{{.Inactive}}</td></tr>
{{end}}</tbody>
</table>
<h2>Findings</h2>
<table id="findings" class="sortable">
<thead><tr><th>Finding</th><th>User id</th><th>Login</th><th>Detail</th></tr></thead>
<tbody>
{{range .R.Findings}}<tr data-kind="{{.Kind}}"><td>{{title $.Titles .Kind}}</td><td>{{.UserID}}</td><td>{{.Login}}</td><td>{{.Detail}}</td></tr>
{{end}}</tbody>
</table>
<h2>Users and entitlements</h2>
<table id="users" class="sortable">
<thead><tr><th>Id</th><th>Login</th><th>Email</th><th>Name</th><th>Active</th><th>API</th><th>Manager</th><th>Roles</th><th>Groups</th><th>Content groups</th><th>Licenses</th><th>Findings</th></tr></thead>
<tbody>
{{range .Users}}<tr><td>{{.ID}}</td><td>{{.Login}}</td><td>{{.Email}}</td><td>{{.Name}}</td><td>{{yes .Active}}</td><td>{{yes .APIUser}}</td><td>{{.Manager}}</td><td>{{.Roles}}</td><td>{{.Groups}}</td><td>{{.ContentGroups}}</td><td>{{.Licenses}}</td><td>{{.Findings}}</td></tr>
{{end}}</tbody>
</table>
<h2>User groups</h2>
<table id="groups" class="sortable">
<thead><tr><th>Id</th><th>Name</th><th>Active</th><th>Members</th><th>Member ids</th></tr></thead>
<tbody>
{{range .R.Groups}}<tr><td>{{.ID}}</td><td>{{.Name}}</td><td>{{yes .Active}}</td><td>{{len .Members}}</td><td>{{join .Members}}</td></tr>
{{end}}</tbody>
</table>
<script>
// No ampersand or less-than sign in this script: the report stays well-formed XML as well as HTML.
document.querySelectorAll("table.sortable th").forEach(function (th, _) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var asc = !th.classList.contains("asc");
    table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
    th.classList.add(asc ? "asc" : "desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent, y = b.cells[col].textContent, nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>
</body>
</html>
`))
