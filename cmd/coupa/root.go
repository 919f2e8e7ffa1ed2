package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/cmd/coupa/internal/config"
	"github.com/coupa-connector/coupa-connector/coupa"
)

// Exit codes scripts can rely on.
const (
	exitOK      = 0
	exitError   = 1 // the command failed: bad input, auth, host, I/O
	exitPartial = 2 // the command ran but not everything succeeded (some tables or rows failed)
	exitUsage   = 64
	// exitInterrupted is the conventional code of a process stopped by SIGINT (128 + 2); the work
	// committed so far is kept and the same command resumes it.
	exitInterrupted = 130
)

// exitErr carries an exit code other than exitError up to run.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

// withExit wraps err so that the process exits with code.
func withExit(code int, err error) error { return &exitErr{code: code, err: err} }

// usageError marks a mistake in how the command was called.
func usageError(format string, args ...any) error {
	return withExit(exitUsage, fmt.Errorf(format, args...))
}

// app is what every command shares: standard streams, global flags and the logger.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	global         globalFlags
	logger         *slog.Logger
}

// globalFlags are the flags of every command. The connection flags bind straight into what config.Resolve
// reads; each has an environment variable and a config-file key (flags win over env, env over the file).
type globalFlags struct {
	conn    config.Options
	verbose bool
	quiet   bool
}

// scopesFlag reads --scopes as a space- or comma-separated list, as COUPA_SCOPES and the file's scopes are.
type scopesFlag struct{ scopes *[]string }

func (f scopesFlag) String() string {
	if f.scopes == nil {
		return ""
	}
	return strings.Join(*f.scopes, " ")
}

func (f scopesFlag) Set(s string) error {
	*f.scopes = config.SplitScopes(s)
	return nil
}

func (scopesFlag) Type() string { return "string" }

// commandBuilders are the subcommands; each command file registers its own in init.
var commandBuilders []func(*app) *cobra.Command

func registerCommand(build func(*app) *cobra.Command) {
	commandBuilders = append(commandBuilders, build)
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "coupa",
		Short: "The open-source connector for Coupa",
		Long: `coupa connects to the Coupa Core API to:
  extract   sync invoices, purchase orders, requisitions, users... into SQLite, PostgreSQL or Parquet
  operate   query, get, create, update objects and run actions, one at a time or in bulk
  govern    review user access and change it safely: groups, roles, content groups, licenses
  simulate  run a local Coupa API simulator for development and tests

Connection settings come from flags, then environment variables, then a YAML config file:
  --host / COUPA_HOST                      acme.coupahost.com (https only; http for loopback)
  --client-id / COUPA_CLIENT_ID            OAuth2 client credentials
  --client-secret / COUPA_CLIENT_SECRET    (or COUPA_CLIENT_SECRET_FILE)
  --config / COUPA_CONFIG                  YAML file with named connections (--connection NAME)

Exit codes: 0 done, 1 failed (bad input, auth, host, I/O), 2 partly done (some tables or rows
failed; the output says which), 64 wrong usage, 130 interrupted (the same command resumes).

Try it without a Coupa instance:
  coupa demo            simulated Coupa synced into ./coupa-demo.db
  coupa sim             a local Coupa API to point the other commands at`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			level := slog.LevelInfo
			if a.global.verbose {
				level = slog.LevelDebug
			}
			if a.global.quiet {
				level = slog.LevelWarn
			}
			a.logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
			return nil
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	f := root.PersistentFlags()
	bindConnectionFlags(root, &a.global.conn)
	f.BoolVarP(&a.global.verbose, "verbose", "v", false, "log every request")
	f.BoolVarP(&a.global.quiet, "quiet", "q", false, "log warnings and errors only")
	for _, build := range commandBuilders {
		root.AddCommand(build(a))
	}
	root.Version = versionLine()
	root.SetVersionTemplate("coupa {{.Version}}\n")
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every group below root (access, state, config...) answer an unknown
// subcommand with a usage error and the closest names, as root does, instead of printing its help and
// exiting 0: a typo in a script must not pass for success.
func refuseUnknownSubcommands(root *cobra.Command) {
	for _, cmd := range root.Commands() {
		refuseUnknownSubcommands(cmd)
		if !cmd.HasSubCommands() || cmd.Run != nil || cmd.RunE != nil {
			continue
		}
		cmd.Args = cobra.ArbitraryArgs
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // what cobra uses for root's suggestions
		}
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return usageError("%s (run '%s --help' for its commands)", msg, cmd.CommandPath())
		}
	}
}

// bindConnectionFlags binds the connection flags into opts: zero values mean "not given", so that the
// environment and the config file still apply.
func bindConnectionFlags(root *cobra.Command, opts *config.Options) {
	f, s := root.PersistentFlags(), &opts.Flags
	f.StringVar(&opts.ConfigPath, "config", "", "YAML config file (env COUPA_CONFIG)")
	f.StringVar(&opts.Connection, "connection", "", "named connection in the config file (env COUPA_CONNECTION)")
	f.StringVar(&s.Host, "host", "", "Coupa instance, e.g. acme.coupahost.com (env COUPA_HOST)")
	f.StringVar(&s.ClientID, "client-id", "", "OAuth2 client id (env COUPA_CLIENT_ID)")
	f.StringVar(&s.ClientSecret, "client-secret", "", "OAuth2 client secret (env COUPA_CLIENT_SECRET; prefer the env or a file)")
	f.StringVar(&s.ClientSecretFile, "client-secret-file", "", "file holding the client secret (env COUPA_CLIENT_SECRET_FILE)")
	f.Var(scopesFlag{&s.Scopes}, "scopes", "space- or comma-separated scopes to request (env COUPA_SCOPES; default: what the command needs)")
	f.StringVar(&s.APIKey, "api-key", "", "legacy X-COUPA-API-KEY (env COUPA_API_KEY; deprecated by Coupa)")
	f.StringVar(&s.CAFile, "ca-file", "", "PEM bundle of extra CAs to trust (env COUPA_CA_FILE)")
	f.StringVar(&s.Proxy, "proxy", "", "proxy URL (default: HTTPS_PROXY and friends)")
	f.Float64Var(&s.Rate, "rate", 0, fmt.Sprintf("cap on requests per second (default %v, Coupa's limit); coupa slows down by itself on 429s, set lower only to leave room for other integrations", coupa.DefaultRate))
	f.IntVar(&s.Burst, "burst", 0, fmt.Sprintf("requests sent at once after a quiet spell (default %d, Coupa's burst)", coupa.DefaultBurst))
	f.IntVar(&s.MaxInFlight, "max-in-flight", 0, fmt.Sprintf("requests in flight at most (default %d); the number follows latency x rate below it", coupa.DefaultMaxInFlight))
}

// run executes the CLI and maps errors to exit codes; it never prints a stack trace.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr,
		logger: slog.New(slog.NewTextHandler(stderr, nil))}
	root := newRootCmd(a)
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "coupa: %s\n", oneLine(err.Error()))
	var ee *exitErr
	if errors.As(err, &ee) {
		return ee.code
	}
	if isCobraUsage(err) {
		return exitUsage
	}
	return exitError
}

// isCobraUsage recognises cobra's own argument and flag errors, which it returns as plain errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// oneLine keeps error output to one line, whatever a wrapped error carried.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
