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

const versionDoc = `version prints which qfw this is: its version, the git revision it was
built from (with "(modified)" when the tree had uncommitted changes), that
commit's time, and the Go version and platform that built it.

The version is the module version Go records at build time: the tag of the
commit for a release, a pseudo-version (v0.0.0-TIME-REVISION) for another
commit, with "+dirty" for a modified tree, and "(devel)" when qfw was built
without git (in which case the revision is unknown).`

const versionExamples = `  # Which qfw is this, and from which commit?
  qfw version`

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print qfw's version, git revision and Go version",
		Long:    versionDoc,
		Example: versionExamples,
		Args:    cobra.NoArgs,
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
