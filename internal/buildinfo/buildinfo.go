package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Text renders what qfw version prints from info, the build information
// of the binary, one "key value" line each: version, revision (with
// "(modified)" for a tree with uncommitted changes, "unknown" without
// git), time (the commit's, when known), and go, the Go version and
// platform. override, when not empty, is the version set at link time,
// which wins over the module version; "(devel)" stands for none.
func Text(override string, info *debug.BuildInfo, platform string) string {
	v := info.Main.Version
	if override != "" {
		v = override
	}
	if v == "" {
		v = "(devel)"
	}
	var revision, modified, commitTime string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			commitTime = s.Value
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "version   %s\n", v)
	switch {
	case revision == "":
		b.WriteString("revision  unknown\n")
	case modified == "true":
		fmt.Fprintf(&b, "revision  %s (modified)\n", revision)
	default:
		fmt.Fprintf(&b, "revision  %s\n", revision)
	}
	if commitTime != "" {
		fmt.Fprintf(&b, "time      %s\n", commitTime)
	}
	fmt.Fprintf(&b, "go        %s %s\n", info.GoVersion, platform)
	return b.String()
}
