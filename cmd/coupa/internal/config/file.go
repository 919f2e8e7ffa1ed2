package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/coupa-connector/coupa-connector/coupa"
)

// File is a parsed config file: several named connections and an optional default.
//
//	default: prod
//	connections:
//	  prod:
//	    host: acme.coupahost.com
//	    client_id: abc
//	    client_secret: ${COUPA_PROD_SECRET}
type File struct {
	Default     string                     `yaml:"default"`
	Connections map[string]*FileConnection `yaml:"connections"`

	holdsSecret bool // a secret is written in the file itself, not referenced as ${VAR}
}

// FileConnection is one named connection as written in the file.
type FileConnection struct {
	Host             string    `yaml:"host"`
	ClientID         string    `yaml:"client_id"`
	ClientSecret     string    `yaml:"client_secret"`
	ClientSecretFile string    `yaml:"client_secret_file"`
	Scopes           scopeList `yaml:"scopes"`
	APIKey           string    `yaml:"api_key"`
	CAFile           string    `yaml:"ca_file"`
	Proxy            string    `yaml:"proxy"`
	Rate             float64   `yaml:"rate"`
	Burst            int       `yaml:"burst"`
	MaxInFlight      int       `yaml:"max_in_flight"`

	// problems are the fields whose ${VAR} could not be expanded, by field key. They matter only if this
	// connection is the one chosen and nothing else sets the field: another connection's unset
	// variable must not break this one.
	problems map[string]error
}

// scopeList accepts a YAML list or one space- or comma-separated string.
type scopeList []string

func (s *scopeList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = SplitScopes(n.Value)
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*s = l
		return nil
	}
	return fmt.Errorf("line %d: scopes must be a list or a space-separated string", n.Line)
}

func (fc *FileConnection) settings() Settings {
	return Settings{Config: coupa.Config{Host: fc.Host, ClientID: fc.ClientID, ClientSecret: fc.ClientSecret,
		Scopes: fc.Scopes, APIKey: fc.APIKey, CAFile: fc.CAFile, Proxy: fc.Proxy, Rate: fc.Rate, Burst: fc.Burst,
		MaxInFlight: fc.MaxInFlight},
		ClientSecretFile: fc.ClientSecretFile}
}

func (fc *FileConnection) problem(field string, err error) {
	if fc.problems == nil {
		fc.problems = map[string]error{}
	}
	if fc.problems[field] == nil {
		fc.problems[field] = err
	}
}

// Names lists the connections in sorted order.
func (f *File) Names() []string {
	var names []string
	for n := range f.Connections {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ParseFile reads and parses a config file. lookupEnv expands ${VAR}; nil means os.LookupEnv.
// A missing file gives an error that wraps fs.ErrNotExist.
func ParseFile(path string, lookupEnv func(string) (string, bool)) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", pathError(err))
	}
	f, err := Parse(b, lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	for _, fc := range f.Connections {
		fc.ClientSecretFile = filePath(fc.ClientSecretFile, filepath.Dir(path), lookupEnv)
		fc.CAFile = filePath(fc.CAFile, filepath.Dir(path), lookupEnv)
	}
	return f, nil
}

// filePath expands a leading ~/ and reads a relative path from the config file's directory, so that a
// file works the same from whatever directory coupa runs in.
func filePath(p, dir string, lookupEnv func(string) (string, bool)) string {
	if p == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		home := ""
		if lookupEnv != nil {
			home, _ = lookupEnv("HOME")
		}
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		if home != "" {
			return filepath.Join(home, rest)
		}
		return p
	}
	if !filepath.IsAbs(p) {
		return filepath.Join(dir, p)
	}
	return p
}

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// Parse parses the YAML of a config file strictly: an unknown key is an error naming the key and its line,
// so that a misspelt setting never silently falls back to a default.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*File, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("more than one YAML document: keep one")
	}
	if f.Default != "" {
		if _, ok := f.Connections[f.Default]; !ok {
			return nil, fmt.Errorf("default: connection %q is not defined; %s", f.Default, knownList(f.Names()))
		}
	}
	for _, name := range f.Names() {
		fc := f.Connections[name]
		if fc == nil {
			return nil, fmt.Errorf("connections.%s: empty; give it at least a host", name)
		}
		if fc.ClientSecret != "" && !strings.Contains(fc.ClientSecret, "${") ||
			fc.APIKey != "" && !strings.Contains(fc.APIKey, "${") {
			f.holdsSecret = true
		}
		for _, field := range []struct {
			key string
			v   *string
		}{{FieldHost, &fc.Host}, {FieldClientID, &fc.ClientID}, {FieldClientSecret, &fc.ClientSecret},
			{FieldClientSecretFile, &fc.ClientSecretFile}, {FieldAPIKey, &fc.APIKey}, {FieldCAFile, &fc.CAFile},
			{FieldProxy, &fc.Proxy}} {
			v, err := Expand(*field.v, lookupEnv)
			if err != nil {
				fc.problem(field.key, fmt.Errorf("connections.%s.%s: %w", name, field.key, err))
			}
			*field.v = strings.TrimSpace(v)
		}
		for i, s := range fc.Scopes {
			v, err := Expand(s, lookupEnv)
			if err != nil {
				fc.problem(FieldScopes, fmt.Errorf("connections.%s.scopes: %w", name, err))
			}
			fc.Scopes[i] = v
		}
		fc.Scopes = SplitScopes(strings.Join(fc.Scopes, " "))
	}
	return &f, nil
}

// yamlError turns the decoder's multi-line messages into one line naming the key and line.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var parts []string
		for _, e := range te.Errors {
			if m := unknownField.FindStringSubmatch(e); m != nil {
				line, _ := strconv.Atoi(m[1])
				parts = append(parts, fmt.Sprintf("line %d: unknown key %q (known keys: default, connections; in a connection: %s)",
					line, m[2], strings.Join(Fields, ", ")))
				continue
			}
			parts = append(parts, e)
		}
		return errors.New(strings.Join(parts, "; "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// Expand replaces ${NAME} with the value of the environment variable NAME; $${ stands for a literal ${.
// A variable that is not set is an error naming it: an empty secret would fail later and less clearly.
func Expand(s string, lookupEnv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", errors.New("unterminated ${: write ${NAME}")
		}
		name := s[i+2 : i+end]
		if !validEnvName(name) {
			return "", fmt.Errorf("${%s}: not a variable name", name)
		}
		v, ok := lookupEnv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set (referenced as ${%s})", name, name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return true
}
