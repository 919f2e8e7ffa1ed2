// Package config resolves the settings of one Coupa connection from flags, environment variables and a
// strict YAML file of named connections, remembering where each setting came from.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/coupa-connector/coupa-connector/coupa"
)

// Source says where the effective value of a setting came from.
type Source string

// The sources, lowest precedence first.
const (
	SourceDefault Source = "default"
	SourceFile    Source = "file"
	SourceEnv     Source = "env"
	SourceFlag    Source = "flag"
)

// Environment variables read by Resolve.
const (
	EnvHost             = "COUPA_HOST"
	EnvClientID         = "COUPA_CLIENT_ID"
	EnvClientSecret     = "COUPA_CLIENT_SECRET"
	EnvClientSecretFile = "COUPA_CLIENT_SECRET_FILE"
	EnvScopes           = "COUPA_SCOPES"
	EnvAPIKey           = "COUPA_API_KEY"
	EnvConfig           = "COUPA_CONFIG"
	EnvConnection       = "COUPA_CONNECTION"
	EnvCAFile           = "COUPA_CA_FILE"
)

// Field keys, as used in the YAML file, in Sources and in error messages.
const (
	FieldHost             = "host"
	FieldClientID         = "client_id"
	FieldClientSecret     = "client_secret"
	FieldClientSecretFile = "client_secret_file"
	FieldScopes           = "scopes"
	FieldAPIKey           = "api_key"
	FieldCAFile           = "ca_file"
	FieldProxy            = "proxy"
	FieldRate             = "rate"
	FieldBurst            = "burst"
	FieldMaxInFlight      = "max_in_flight"
)

// Fields lists every setting in display order.
var Fields = []string{FieldHost, FieldClientID, FieldClientSecret, FieldClientSecretFile, FieldScopes,
	FieldAPIKey, FieldCAFile, FieldProxy, FieldRate, FieldBurst, FieldMaxInFlight}

// Settings are the connection settings one source provides; a zero field means "not set by this source".
// They are the client's own Config, of which a source sets what a user can (the Fields), and the file that
// may hold the client secret instead.
type Settings struct {
	coupa.Config
	ClientSecretFile string
}

// Connection is the effective configuration of one Coupa connection.
type Connection struct {
	Settings
	Name       string            // the named connection chosen from the file; empty when none
	ConfigPath string            // the config file read; empty when none
	Known      []string          // the connection names the config file defines
	Sources    map[string]Source // field key -> where its value came from; absent = unset
	// FileProblem is what is wrong with the chosen connection of the file and not mended by the
	// environment or a flag (an unset ${VAR}); Validate reports it, `config show` shows it.
	FileProblem error
}

// Default is the configuration before any source is applied.
func Default() *Connection {
	return &Connection{
		Settings: Settings{Config: coupa.Config{Rate: coupa.DefaultRate, Burst: coupa.DefaultBurst, MaxInFlight: coupa.DefaultMaxInFlight}},
		Sources:  map[string]Source{FieldRate: SourceDefault, FieldBurst: SourceDefault, FieldMaxInFlight: SourceDefault},
	}
}

// Options are the inputs of Resolve.
type Options struct {
	Flags      Settings // from command-line flags; zero fields were not given
	ConfigPath string   // --config
	Connection string   // --connection
	// LookupEnv reads the environment; nil means os.LookupEnv. Tests pass a map.
	LookupEnv func(string) (string, bool)
	// Logger receives warnings (loose file permissions, rates above Coupa's limit); nil discards them.
	Logger *slog.Logger
}

func (o *Options) env(name string) string {
	look := o.LookupEnv
	if look == nil {
		look = os.LookupEnv
	}
	v, _ := look(name)
	return strings.TrimSpace(v)
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Resolve merges defaults, the config file, the environment and flags (in rising precedence) and reads a
// client secret file if one is named. It does not check that the result is complete: call Validate.
func Resolve(opts Options) (*Connection, error) {
	c := Default()
	path, explicit, err := configPath(&opts)
	if err != nil {
		return nil, err
	}
	name := opts.Connection
	if name == "" {
		name = opts.env(EnvConnection)
	}
	var chosen *FileConnection
	if path != "" {
		f, err := ParseFile(path, opts.LookupEnv)
		if err != nil {
			if !explicit && errors.Is(err, fs.ErrNotExist) {
				path = ""
			} else {
				return nil, err
			}
		} else {
			c.ConfigPath = path
			c.Known = f.Names()
			warnLoosePermissions(opts.logger(), path, f.holdsSecret)
			if name == "" {
				name = f.Default
			}
			if name == "" && len(f.Connections) == 1 {
				for n := range f.Connections {
					name = n
				}
			}
			if name != "" {
				fc, ok := f.Connections[name]
				if !ok {
					return nil, fmt.Errorf("unknown connection %q: %s defines %s", name, path, knownList(f.Names()))
				}
				c.Name = name
				c.apply(fc.settings(), SourceFile)
				chosen = fc
			}
		}
	}
	if path == "" && name != "" {
		return nil, fmt.Errorf("connection %q asked for but there is no config file: pass --config or set %s (default %s)",
			name, EnvConfig, defaultPathHint())
	}
	c.apply(envSettings(&opts), SourceEnv)
	c.apply(opts.Flags, SourceFlag)
	if chosen != nil {
		c.noteFileProblem(chosen) // after env and flags, which may mend it
	}
	if err := c.readSecretFile(opts.logger()); err != nil {
		return nil, err
	}
	return c, nil
}

// noteFileProblem keeps the first problem of fc (in Fields order) with a field no other source set.
func (c *Connection) noteFileProblem(fc *FileConnection) {
	for _, f := range Fields {
		if err := fc.problems[f]; err != nil && c.Sources[f] == "" {
			c.FileProblem = err
			return
		}
	}
}

// Load is Resolve followed by Validate.
func Load(opts Options) (*Connection, error) {
	c, err := Resolve(opts)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(opts.logger()); err != nil {
		return nil, err
	}
	return c, nil
}

// configPath picks the file: --config, then COUPA_CONFIG, then the XDG default if it exists.
// explicit reports whether the user named it, in which case a missing file is an error.
func configPath(opts *Options) (path string, explicit bool, err error) {
	if opts.ConfigPath != "" {
		return opts.ConfigPath, true, nil
	}
	if p := opts.env(EnvConfig); p != "" {
		return p, true, nil
	}
	dir := opts.env("XDG_CONFIG_HOME")
	if dir == "" {
		home := opts.env("HOME")
		if home == "" {
			if h, herr := os.UserHomeDir(); herr == nil {
				home = h
			}
		}
		if home == "" {
			return "", false, nil
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "coupa", "config.yaml"), false, nil
}

func defaultPathHint() string {
	return "$XDG_CONFIG_HOME/coupa/config.yaml or ~/.config/coupa/config.yaml"
}

func envSettings(opts *Options) Settings {
	return Settings{
		Config: coupa.Config{
			Host:         opts.env(EnvHost),
			ClientID:     opts.env(EnvClientID),
			ClientSecret: opts.env(EnvClientSecret),
			Scopes:       SplitScopes(opts.env(EnvScopes)),
			APIKey:       opts.env(EnvAPIKey),
			CAFile:       opts.env(EnvCAFile),
		},
		ClientSecretFile: opts.env(EnvClientSecretFile),
	}
}

// apply lays s over c. The client secret and its file are one setting in two forms: whichever source
// gives either form wins both, so that a secret file in the environment beats a secret in the config file.
func (c *Connection) apply(s Settings, src Source) {
	set := func(field string, ok bool, assign func()) {
		if ok {
			assign()
			c.Sources[field] = src
		}
	}
	set(FieldHost, s.Host != "", func() { c.Host = s.Host })
	set(FieldClientID, s.ClientID != "", func() { c.ClientID = s.ClientID })
	if s.ClientSecret != "" || s.ClientSecretFile != "" {
		c.ClientSecret, c.ClientSecretFile = s.ClientSecret, s.ClientSecretFile
		delete(c.Sources, FieldClientSecret)
		delete(c.Sources, FieldClientSecretFile)
		if s.ClientSecret != "" {
			c.Sources[FieldClientSecret] = src
		}
		if s.ClientSecretFile != "" {
			c.Sources[FieldClientSecretFile] = src
		}
	}
	set(FieldScopes, len(s.Scopes) > 0, func() { c.Scopes = slices.Clone(s.Scopes) })
	set(FieldAPIKey, s.APIKey != "", func() { c.APIKey = s.APIKey })
	set(FieldCAFile, s.CAFile != "", func() { c.CAFile = s.CAFile })
	set(FieldProxy, s.Proxy != "", func() { c.Proxy = s.Proxy })
	set(FieldRate, s.Rate != 0, func() { c.Rate = s.Rate })
	set(FieldBurst, s.Burst != 0, func() { c.Burst = s.Burst })
	set(FieldMaxInFlight, s.MaxInFlight != 0, func() { c.MaxInFlight = s.MaxInFlight })
}

// readSecretFile loads ClientSecret from ClientSecretFile when the file form won.
func (c *Connection) readSecretFile(log *slog.Logger) error {
	if c.ClientSecretFile == "" {
		return nil
	}
	if c.ClientSecret != "" {
		return fmt.Errorf("client_secret and client_secret_file are both set by the %s: keep one", describe(c.Sources[FieldClientSecret]))
	}
	path := c.ClientSecretFile
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("client_secret_file: %w (check the path in %s)", pathError(err), sourceHint(c.Sources[FieldClientSecretFile], EnvClientSecretFile, "--client-secret-file"))
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return fmt.Errorf("client_secret_file %s is empty: put the OAuth client secret in it", path)
	}
	c.ClientSecret = secret
	warnLoosePermissions(log, path, true)
	return nil
}

// pathError keeps the operation and path of a file error but never its content.
func pathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %w", pe.Op, pe.Path, pe.Err)
	}
	return err
}

func describe(s Source) string {
	switch s {
	case SourceFlag:
		return "flags"
	case SourceEnv:
		return "environment"
	case SourceFile:
		return "config file"
	}
	return string(s)
}

func sourceHint(s Source, env, flag string) string {
	switch s {
	case SourceFlag:
		return flag
	case SourceEnv:
		return env
	}
	return "the config file"
}

// warnLoosePermissions says chmod 600 when a file holding a secret can be read by other users.
func warnLoosePermissions(log *slog.Logger, path string, holdsSecret bool) {
	if !holdsSecret || runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		log.Warn(fmt.Sprintf("%s holds a secret and is accessible by other users (mode %#o): run chmod 600 %s", path, mode, path))
	}
}

// Validate checks that the connection is usable and names the field and the fix when it is not.
// It logs (never returns) advice that does not stop a run, such as a rate above Coupa's limit.
func (c *Connection) Validate(log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c.FileProblem != nil {
		return fmt.Errorf("config file %s: %w", c.ConfigPath, c.FileProblem)
	}
	if c.Host == "" {
		hint := ""
		if c.ConfigPath != "" && c.Name == "" && len(c.Known) > 1 {
			hint = fmt.Sprintf(", or choose a connection of %s with --connection (%s)", c.ConfigPath, strings.Join(c.Known, ", "))
		}
		return errors.New("no Coupa host: set --host or COUPA_HOST (e.g. acme.coupahost.com)" + hint)
	}
	if err := checkHost(c.Host); err != nil {
		return err
	}
	switch {
	case c.ClientID != "" && c.ClientSecret == "":
		return errors.New("no client secret: set COUPA_CLIENT_SECRET or COUPA_CLIENT_SECRET_FILE (or --client-secret-file)")
	case c.ClientID == "" && c.ClientSecret != "":
		return errors.New("a client secret but no client id: set COUPA_CLIENT_ID (or --client-id)")
	case c.ClientID == "" && c.APIKey == "":
		return errors.New("no credentials: set COUPA_CLIENT_ID and COUPA_CLIENT_SECRET (or COUPA_CLIENT_SECRET_FILE) " +
			"for an OAuth2 client from Coupa: Setup > Integrations > OAuth2/OpenID Connect Clients")
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			return fmt.Errorf("ca_file: %w", pathError(err))
		}
	}
	if c.Proxy != "" {
		u, err := url.Parse(c.Proxy)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("proxy %q: not a URL; use the form http://proxy.example.com:3128", redactURL(c.Proxy))
		}
	}
	if c.Rate <= 0 {
		return fmt.Errorf("rate %v: must be a positive number of requests per second (default %v)", c.Rate, coupa.DefaultRate)
	}
	if c.Burst < 1 {
		return fmt.Errorf("burst %d: must be at least 1 (default %d)", c.Burst, coupa.DefaultBurst)
	}
	if c.MaxInFlight < 1 {
		return fmt.Errorf("max in flight %d: must be at least 1 (default %d)", c.MaxInFlight, coupa.DefaultMaxInFlight)
	}
	if c.Rate > 25 || c.Burst > 20 {
		log.Warn(fmt.Sprintf("rate %v/s burst %d is above Coupa's documented limit (25/s, burst 20): expect throttling", c.Rate, c.Burst))
	}
	return nil
}

// checkHost catches what is plainly not a host; the client library applies the finer rules (https only,
// http on loopback).
func checkHost(h string) error {
	bad := func(why string) error {
		return fmt.Errorf("host %q: %s; use the instance name, e.g. acme.coupahost.com", h, why)
	}
	if strings.ContainsAny(h, " \t\r\n") {
		return bad("contains spaces")
	}
	raw := h
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("not a host name")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return bad("scheme " + u.Scheme + " is not https")
	}
	if u.Hostname() == "" {
		return bad("no host name")
	}
	if u.User != nil {
		return fmt.Errorf("host: credentials in the URL are not allowed; use COUPA_CLIENT_ID and COUPA_CLIENT_SECRET")
	}
	return nil
}

// redactURL drops any password from a URL before it goes into a message.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// SplitScopes splits a space- or comma-separated scope list.
func SplitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
}

func knownList(names []string) string {
	if len(names) == 0 {
		return "no connections"
	}
	return "only " + strings.Join(names, ", ")
}

// Redact describes a secret without revealing any of it.
func Redact(secret string) string {
	if secret == "" {
		return ""
	}
	return fmt.Sprintf("(set, %d chars)", len(secret))
}
