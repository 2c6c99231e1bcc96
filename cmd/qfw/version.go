package main

import (
	"errors"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/internal/buildinfo"
)

// version, when the build sets it with -ldflags "-X main.version=...", is
// the version qfw reports instead of the module version Go stamps. The
// package builder sets it when it is given a version, so that a binary
// built from a source tree without git history still says which release
// it is, and says the same as its package.
var version string

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print qfw's version, git revision and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, ok := debug.ReadBuildInfo()
			if !ok {
				// Only a binary built without module support lacks it.
				return errors.New("this qfw binary carries no build information")
			}
			_, err := io.WriteString(cmd.OutOrStdout(), buildinfo.Text(version, info, runtime.GOOS+"/"+runtime.GOARCH))
			return err
		},
	}
}
