package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/coupa-connector/coupa-connector/coupa"
)

// version and commit are set at release time:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse --short HEAD)" ./cmd/coupa
var (
	version = "dev"
	commit  = ""
)

func init() {
	coupa.Version = version
	registerCommand(newVersionCmd)
}

// buildCommit falls back to the VCS stamp Go records in every build from a checkout.
func buildCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && dirty {
			rev += "-dirty"
		}
		if rev != "" {
			return rev
		}
	}
	return "unknown"
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(a.stdout, "coupa %s\n", versionLine())
			return err
		},
	}
}

// versionLine is what `coupa version` and `coupa --version` print after the name.
func versionLine() string {
	return fmt.Sprintf("%s (commit %s, %s, %s/%s)", version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// userAgent names this binary to Coupa; the client library uses the same form by default.
func userAgent() string { return "coupa-connector/" + version }
