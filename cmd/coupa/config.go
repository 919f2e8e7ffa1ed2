package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/coupa-connector/coupa-connector/cmd/coupa/internal/config"
)

func init() { registerCommand(newConfigCmd) }

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the connection settings",
		Long: `Connection settings come from, highest first: flags, environment variables, the YAML config file
(--config, COUPA_CONFIG, or $XDG_CONFIG_HOME/coupa/config.yaml / ~/.config/coupa/config.yaml), defaults.

A config file may hold several named connections; choose one with --connection or COUPA_CONNECTION:

  default: prod
  connections:
    prod:
      host: acme.coupahost.com
      client_id: 0a1b2c...
      client_secret: ${COUPA_PROD_SECRET}   # ${VAR} reads the environment; keep secrets out of the file
      scopes: [core.invoice.read, core.user.read]
      rate: 20
      burst: 15
    sandbox:
      host: acme-test.coupahost.com
      client_id: 9f8e7d...
      client_secret_file: ~/.config/coupa/sandbox.secret

Unknown keys are errors. Other keys of a connection: api_key, ca_file, proxy.`,
	}
	cmd.AddCommand(newConfigShowCmd(a))
	return cmd
}

// shownSetting is one line of `config show`.
type shownSetting struct {
	Field  string `json:"field" yaml:"field"`
	Value  any    `json:"value" yaml:"value"`
	Source string `json:"source,omitempty" yaml:"source,omitempty"`
}

type shownConfig struct {
	ConfigFile string         `json:"config_file,omitempty" yaml:"config_file,omitempty"`
	Connection string         `json:"connection,omitempty" yaml:"connection,omitempty"`
	Settings   []shownSetting `json:"settings" yaml:"settings"`
	Problem    string         `json:"problem,omitempty" yaml:"problem,omitempty"`
}

func newConfigShowCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the effective connection settings and where each came from (secrets redacted)",
		Example: `  coupa config show
  coupa --connection sandbox config show -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "yaml" && output != "json" {
				return usageError("-o %s: choose table, yaml or json", output)
			}
			c, err := a.resolveConnection()
			if err != nil {
				return err
			}
			shown := describeConnection(c)
			if err := c.Validate(nil); err != nil {
				shown.Problem = err.Error()
			}
			return writeShownConfig(a.stdout, output, shown)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, yaml or json")
	return cmd
}

// describeConnection lists every setting with its value, secrets replaced by their length.
func describeConnection(c *config.Connection) shownConfig {
	out := shownConfig{ConfigFile: c.ConfigPath, Connection: c.Name}
	for _, f := range config.Fields {
		var v any
		src := string(c.Sources[f])
		switch f {
		case config.FieldHost:
			v = c.Host
		case config.FieldClientID:
			v = c.ClientID
		case config.FieldClientSecret:
			v = config.Redact(c.ClientSecret)
			if src == "" && c.ClientSecret != "" {
				src = string(c.Sources[config.FieldClientSecretFile])
			}
		case config.FieldClientSecretFile:
			v = c.ClientSecretFile
		case config.FieldScopes:
			if len(c.Scopes) > 0 {
				v = strings.Join(c.Scopes, " ")
			} else {
				v = ""
				src = "default"
			}
		case config.FieldAPIKey:
			v = config.Redact(c.APIKey)
		case config.FieldCAFile:
			v = c.CAFile
		case config.FieldProxy:
			v = c.Proxy
		case config.FieldRate:
			v = c.Rate
		case config.FieldBurst:
			v = c.Burst
		case config.FieldMaxInFlight:
			v = c.MaxInFlight
		}
		out.Settings = append(out.Settings, shownSetting{Field: f, Value: v, Source: src})
	}
	return out
}

func writeShownConfig(w io.Writer, format string, s shownConfig) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	case "yaml":
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(s); err != nil {
			return err
		}
		return enc.Close()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tVALUE\tSOURCE")
	for _, st := range s.Settings {
		val := fmt.Sprint(st.Value)
		if f, ok := st.Value.(float64); ok {
			val = strconv.FormatFloat(f, 'f', -1, 64)
		}
		if val == "" {
			val = "-"
		}
		src := st.Source
		switch {
		case src == "":
			src = "-"
		case src == string(config.SourceFile) && s.Connection != "":
			src = fmt.Sprintf("file (connection %s)", s.Connection)
		case st.Field == config.FieldScopes && src == "default":
			val = "(the scopes each command needs)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", st.Field, val, src)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	file := s.ConfigFile
	if file == "" {
		file = "none"
	}
	fmt.Fprintf(w, "\nconfig file: %s\n", file)
	if s.Problem != "" {
		fmt.Fprintf(w, "problem: %s\n", s.Problem)
	}
	return nil
}
