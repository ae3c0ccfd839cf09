package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time with, for example:
//
//	go build -ldflags "-X github.com/heraldrt/herald/internal/cli.version=v1.2.0 \
//	  -X github.com/heraldrt/herald/internal/cli.commit=$(git rev-parse HEAD)" ./cmd/herald
//
// Left unset, they come from the module version and VCS stamp Go records in
// the binary, where there are any.
var (
	version = "dev"
	commit  = "dev"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit and Go version of this binary",
		Example: "  herald version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, c, modified := buildInfo()
			if modified {
				c += " (modified)"
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "herald %s\ncommit: %s\ngo:     %s %s/%s\n",
				v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

// buildInfo returns the version and commit, falling back on what Go
// recorded in the binary for those not set with -ldflags, and whether the
// recorded commit had uncommitted changes.
func buildInfo() (v, c string, modified bool) {
	v, c = version, commit
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v, c, false
	}
	if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if c == "dev" {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				c = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	return v, c, modified
}

// versionString is the version and short commit, for herald --version.
func versionString() string {
	v, c, modified := buildInfo()
	if c == "dev" {
		return v
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if modified {
		c += ", modified"
	}
	return v + " (" + c + ")"
}
