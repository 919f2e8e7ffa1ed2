package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/access"
	"github.com/coupa-connector/coupa-connector/coupa"
)

func init() { registerCommand(newAccessCmd) }

// defaultAuditLog is where provisioning commands append their audit trail unless told otherwise.
const defaultAuditLog = "coupa-access-audit.jsonl"

func newAccessCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Identity governance: review, grant, revoke, enable, disable, plan and apply user access",
		Long: `Govern who can do what in Coupa: users, user groups, roles, content groups and licenses.

  review        per-user entitlements and findings for an auditor (csv, json or a self-contained html page)
  grant/revoke  add or remove one group, role, content group or license, safely
  enable/disable/create-user
  plan/apply    declare access in access.yaml, see the diff, apply it
  sync          copy users, groups, roles and their links into a warehouse

Every change reads the user's current set, re-reads it just before writing and refuses if someone else
changed it, writes the complete new set in one request, reads it back to verify, and appends a line to the
audit log (--audit-log, default ` + defaultAuditLog + `).`,
	}
	cmd.AddCommand(newAccessReviewCmd(a), newAccessGrantCmd(a, access.OpGrant), newAccessGrantCmd(a, access.OpRevoke),
		newAccessActiveCmd(a, true), newAccessActiveCmd(a, false), newAccessCreateUserCmd(a),
		newAccessPlanCmd(a, false), newAccessPlanCmd(a, true), newAccessSyncCmd(a))
	return cmd
}

func newAccessReviewCmd(a *app) *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "review",
		Short: "Report per-user entitlements and findings (inactive users with licenses, admins, no group...)",
		Example: `  coupa access review -o html --out review.html
  coupa access review -o csv > users.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := reviewFormat(format, cmd.Flags().Changed("output"), out)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			client, err := a.newClient(ctx, access.Scopes(false))
			if err != nil {
				return err
			}
			m, err := access.Fetch(ctx, client)
			if err != nil {
				return libError(err)
			}
			rv := access.NewReview(m, time.Now())
			rv.Instance = client.BaseURL()
			w := a.stdout
			var f *os.File
			if out != "" && out != "-" {
				f, err = os.Create(out)
				if err != nil {
					return fmt.Errorf("cannot write the report: %w", err)
				}
				defer f.Close()
				w = f
			}
			switch format {
			case "csv":
				err = rv.WriteCSV(w)
			case "json":
				err = rv.WriteJSON(w)
			default:
				err = rv.WriteHTML(w)
			}
			if err == nil && f != nil {
				err = f.Close()
			}
			if err != nil {
				return fmt.Errorf("writing the report: %w", err)
			}
			if f != nil {
				s := rv.Summary
				fmt.Fprintf(a.stderr, "wrote %s: %d users (%d inactive), %d findings\n", out, s.Users, s.InactiveUsers, len(rv.Findings))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", "csv", "report format: csv, json or html (default: from --out's extension, else csv)")
	cmd.Flags().StringVar(&out, "out", "", "write the report to this file instead of standard output")
	return cmd
}

// reviewFormat is the report's format: -o when given, else the one --out's extension names, else csv. A
// file named for one format and asked in another is refused: r.html holding CSV helps nobody.
func reviewFormat(format string, given bool, out string) (string, error) {
	byExt := map[string]string{".csv": "csv", ".json": "json", ".html": "html", ".htm": "html"}[strings.ToLower(filepath.Ext(out))]
	switch {
	case !given && byExt != "":
		format = byExt
	case given && byExt != "" && byExt != format:
		return "", usageError("--out %s names a %s file but -o is %s: drop -o, or give a file ending in .%s", out, byExt, format, format)
	}
	switch format {
	case "csv", "json", "html":
		return format, nil
	}
	return "", usageError("-o %s: choose csv, json or html", format)
}

// provFlags are shared by every command that changes something.
type provFlags struct {
	dryRun   bool
	auditLog string
}

func (f *provFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "show what would change and write nothing")
	cmd.Flags().StringVar(&f.auditLog, "audit-log", defaultAuditLog, "JSONL file every change is appended to (env COUPA_AUDIT_LOG)")
}

// provisioner connects and returns a Provisioner; unless dry-run it checks the write scope first, so that a
// missing scope is reported before anything is attempted.
func (a *app) provisioner(ctx context.Context, f provFlags) (*access.Provisioner, *coupa.Client, error) {
	conn, err := a.connection()
	if err != nil {
		return nil, nil, err
	}
	client, err := newClientFor(conn, access.Scopes(true), a)
	if err != nil {
		return nil, nil, err
	}
	if err := client.Authenticate(ctx); err != nil {
		return nil, nil, libError(err)
	}
	actor := conn.ClientID
	if actor == "" {
		actor = "api-key" // the key itself is a secret
	}
	p := &access.Provisioner{API: client, Actor: actor, DryRun: f.dryRun, Logger: a.logger}
	if f.dryRun {
		return p, client, nil
	}
	if err := access.CheckWriteScope(client.GrantedScopes()); err != nil {
		return nil, nil, err
	}
	path := f.auditLog
	if env := os.Getenv("COUPA_AUDIT_LOG"); env != "" && path == defaultAuditLog {
		path = env
	}
	if p.Audit, err = access.OpenAuditLog(path); err != nil {
		return nil, nil, err
	}
	return p, client, nil
}

func newAccessGrantCmd(a *app, op string) *cobra.Command {
	var pf provFlags
	var user, group, role, license, content, format string
	verb := "Give"
	if op == access.OpRevoke {
		verb = "Take away"
	}
	cmd := &cobra.Command{
		Use:   op,
		Short: verb + " one group, role, content group or license",
		Example: fmt.Sprintf(`  coupa access %[1]s --user jdoe --group "AP Team"
  coupa access %[1]s --user 42 --role Buyer --dry-run
  coupa access %[1]s --user jdoe --license purchasing`, op),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := humanOrJSON(format)
			if err != nil {
				return err
			}
			if user == "" {
				return usageError("--user is required (login, email or id)")
			}
			var kind access.Kind
			var name string
			n := 0
			for _, c := range []struct {
				k access.Kind
				v string
			}{{access.KindGroup, group}, {access.KindRole, role}, {access.KindLicense, license}, {access.KindContentGroup, content}} {
				if c.v != "" {
					kind, name = c.k, c.v
					n++
				}
			}
			if n != 1 {
				return usageError("give exactly one of --group, --role, --license or --content-group")
			}
			ctx := cmd.Context()
			p, client, err := a.provisioner(ctx, pf)
			if err != nil {
				return err
			}
			m, u, err := access.Lookup(ctx, client, user, kind)
			if err != nil {
				return libError(err)
			}
			var target access.Ref
			switch kind {
			case access.KindGroup:
				target, err = m.ResolveGroup(name)
			case access.KindRole:
				target, err = m.ResolveRole(name)
			case access.KindContentGroup:
				target, err = m.ResolveContentGroup(name)
			case access.KindLicense:
				target.Name, err = access.ResolveLicense(name)
			}
			if err != nil {
				return err
			}
			out, err := p.Apply(ctx, u.ID, access.Change{Kind: kind, Op: op, Target: target})
			return a.report(format, out, err)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&format, "output", "o", "table", "output format: table or json")
	f.StringVar(&user, "user", "", "the user: login, email or id")
	f.StringVar(&group, "group", "", "user group name or id")
	f.StringVar(&role, "role", "", "role name or id")
	f.StringVar(&license, "license", "", "license: purchasing-user, expense-user, ... (the -user suffix may be left out)")
	f.StringVar(&content, "content-group", "", "content (business) group name or id")
	pf.add(cmd)
	return cmd
}

func newAccessActiveCmd(a *app, enable bool) *cobra.Command {
	var pf provFlags
	var user, format string
	use, op, short := "disable", access.OpRevoke, "Deactivate a user (active=false); Coupa has no delete"
	if enable {
		use, op, short = "enable", access.OpGrant, "Reactivate a user (active=true)"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := humanOrJSON(format)
			if err != nil {
				return err
			}
			if user == "" {
				return usageError("--user is required (login, email or id)")
			}
			ctx := cmd.Context()
			p, client, err := a.provisioner(ctx, pf)
			if err != nil {
				return err
			}
			_, u, err := access.Lookup(ctx, client, user, access.KindActive)
			if err != nil {
				return libError(err)
			}
			out, err := p.Apply(ctx, u.ID, access.Change{Kind: access.KindActive, Op: op})
			return a.report(format, out, err)
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "the user: login, email or id")
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table or json")
	pf.add(cmd)
	return cmd
}

// humanOrJSON checks an -o of the commands that print a result either for people (table, the name every
// command uses; text is the older name some had) or as JSON.
func humanOrJSON(format string) (string, error) {
	switch format {
	case "table", "text":
		return "table", nil
	case "json":
		return "json", nil
	}
	return "", usageError("-o %s: choose table or json", format)
}

// report prints one outcome (as JSON with -o json) and maps it to an error for the exit code.
func (a *app) report(format string, out *access.Outcome, err error) error {
	if format == "json" && out != nil && out.Result != "" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if eerr := enc.Encode(out); eerr != nil && err == nil {
			err = eerr
		}
	} else if out != nil && out.Result != "" && out.Login != "" {
		who := out.Login
		switch out.Result {
		case access.ResultNoop:
			fmt.Fprintf(a.stdout, "no change: %s for %s is already in place [%s]\n", out.Change, who, strings.Join(out.After, ", "))
		case access.ResultDryRun:
			fmt.Fprintf(a.stdout, "dry run: would %s for %s: [%s] -> [%s]\n", out.Change, who, strings.Join(out.Before, ", "), strings.Join(out.After, ", "))
		default:
			fmt.Fprintf(a.stdout, "%s: %s for %s: [%s] -> [%s]\n", out.Result, out.Change, who, strings.Join(out.Before, ", "), strings.Join(out.After, ", "))
		}
	}
	if err != nil {
		return libError(err)
	}
	return nil
}

func newAccessCreateUserCmd(a *app) *cobra.Command {
	var pf provFlags
	var file, format string
	cmd := &cobra.Command{
		Use:     "create-user",
		Short:   "Create a user from a JSON file (login, email and active are required)",
		Example: `  coupa access create-user -f jdoe.json --dry-run`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := humanOrJSON(format)
			if err != nil {
				return err
			}
			if file == "" {
				return usageError("-f FILE is required: a JSON object with dashed Coupa keys (login, email, active, firstname, ...)")
			}
			body, err := readUserFile(file, a.stdin)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			p, _, err := a.provisioner(ctx, pf)
			if err != nil {
				return err
			}
			out, err := p.CreateUser(ctx, body)
			if err != nil {
				return libError(err)
			}
			if format == "json" {
				return printIndentedJSON(a.stdout, out)
			}
			if out.Result == access.ResultDryRun {
				fmt.Fprintf(a.stdout, "dry run: would create user %s\n", out.Login)
				return nil
			}
			fmt.Fprintf(a.stdout, "created user %s (id %d)\n", out.Login, out.UserID)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "JSON file describing the user (- for standard input)")
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table or json")
	pf.add(cmd)
	return cmd
}

func readUserFile(file string, stdin io.Reader) (map[string]any, error) {
	var r io.Reader = stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("cannot read the user file: %w", err)
		}
		defer f.Close()
		r = f
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %v", file, err)
	}
	// Coupa's documentation writes keys dashed; accept underscores too.
	out := make(map[string]any, len(body))
	for k, v := range body {
		if k != "category_planner_user" {
			k = strings.ReplaceAll(k, "_", "-")
		}
		out[k] = v
	}
	return out, nil
}

func newAccessPlanCmd(a *app, apply bool) *cobra.Command {
	var pf provFlags
	var file, format string
	var yes bool
	use, short := "plan", "Show the changes that would make Coupa match access.yaml"
	if apply {
		use, short = "apply", "Make Coupa match access.yaml (asks for confirmation unless --yes)"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

access.yaml declares desired access. A list given for a user is that user's complete set of that kind;
kinds left out are not touched. A group's members list is its complete membership.

  users:
    - user: jdoe                 # login, email or id
      groups: [AP Team]
      roles: [User, Buyer]
      content-groups: [North America]
      licenses: [purchasing-user, expense-user]
      active: true
  groups:
    - group: Auditors
      members: [asmith, bjones]
  disable: [former.employee]

apply runs the plan in a safe order (disables, then removals, then additions, then enables), each change
guarded and verified like grant/revoke, and stops at the first failure with a report. Applying the same
file twice changes nothing the second time.`,
		Example: `  coupa access plan -f access.yaml
  coupa access apply -f access.yaml --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usageError("-f access.yaml is required")
			}
			format, err := humanOrJSON(format)
			if err != nil {
				return err
			}
			fh, err := os.Open(file)
			if err != nil {
				return fmt.Errorf("cannot read %s: %w", file, err)
			}
			spec, err := access.ParseSpec(file, fh)
			fh.Close()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var client *coupa.Client
			var p *access.Provisioner
			if apply {
				p, client, err = a.provisioner(ctx, pf)
			} else {
				client, err = a.newClient(ctx, access.Scopes(false))
			}
			if err != nil {
				return err
			}
			m, err := access.Fetch(ctx, client)
			if err != nil {
				return libError(err)
			}
			plan, err := access.MakePlan(m, spec)
			if err != nil {
				return err
			}
			if !apply || pf.dryRun {
				return printPlan(a.stdout, format, plan)
			}
			if len(plan.Steps) == 0 {
				fmt.Fprint(a.stdout, plan.Describe())
				return nil
			}
			if !yes {
				fmt.Fprint(a.stderr, plan.Describe())
				fmt.Fprintf(a.stderr, "Apply these %d change(s) to %s? Type yes: ", len(plan.Steps), client.BaseURL())
				line, _ := bufio.NewReader(a.stdin).ReadString('\n')
				if strings.TrimSpace(strings.ToLower(line)) != "yes" {
					return withExit(exitError, errors.New("not confirmed: nothing was changed (pass --yes to apply without asking)"))
				}
			}
			res, aerr := access.Apply(ctx, p, plan)
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				for _, o := range res.Done {
					fmt.Fprintf(a.stdout, "%s: %s %s: [%s] -> [%s]\n", o.Result, o.Login, o.Change, strings.Join(o.Before, ", "), strings.Join(o.After, ", "))
				}
				if res.Failed != nil {
					fmt.Fprintf(a.stdout, "FAILED: %s %s: %s\n", res.Failed.Login, res.Failed.Change, res.Failed.Error)
				}
				for _, s := range res.NotApplied {
					fmt.Fprintf(a.stdout, "not applied: %s\n", strings.TrimPrefix(s.String(), "~ "))
				}
			}
			if aerr != nil {
				code := exitError
				if len(res.Done) > 0 {
					code = exitPartial
				}
				return withExit(code, libError(aerr))
			}
			fmt.Fprintf(a.stdout, "Applied %d change(s).\n", len(res.Done))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the access file (YAML)")
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table or json")
	if apply {
		cmd.Flags().BoolVarP(&yes, "yes", "y", false, "apply without asking")
		pf.add(cmd)
	}
	return cmd
}

func printPlan(w io.Writer, format string, plan *access.Plan) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(plan)
	}
	_, err := fmt.Fprint(w, plan.Describe())
	return err
}

func newAccessSyncCmd(a *app) *cobra.Command {
	var f syncFlags
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Copy users, groups, roles, content groups and their links into a warehouse",
		Long: `Copy identity data into a warehouse with the sync engine of ` + "`coupa sync`" + `: tables users, user_groups,
roles, content_groups and the links user_roles, user_group_members, user_licenses, user_content_groups.

The users table shares its cursor with ` + "`coupa sync`" + `; if plain syncs of users already ran into the same
warehouse, run this once with --full-refresh so that every user's links are taken.`,
		Example: `  coupa access sync --dest sqlite:identity.db`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runAccessSync(cmd.Context(), f)
		},
	}
	f.register(cmd)
	return cmd
}

// runAccessSync hands the identity tables to the sync engine: a sync with a fixed table list that includes
// tables the catalog does not carry.
func (a *app) runAccessSync(ctx context.Context, f syncFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	return a.syncTables(ctx, f, access.SyncTables())
}
