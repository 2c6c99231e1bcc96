package main

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// pkgVersion is a Go module version in the parts deb and RPM versions are
// made of.
type pkgVersion struct {
	// upstream is MAJOR.MINOR.PATCH.
	upstream string
	// pre is the prerelease, after a "~" in both formats so that it sorts
	// before the release: v1.3.0-rc.1 is 1.3.0~rc.1, older than 1.3.0. A
	// pseudo-version's v0.0.0-TIME-REV is 0.0.0~TIME.REV: "-" is RPM's
	// version-release separator and may not appear in its version, and in
	// a deb it would split off a Debian revision.
	pre string
	// build is the build metadata, "+dirty" for a modified tree.
	build string
}

// parseVersion splits a Go module version, vMAJOR.MINOR.PATCH with an
// optional -PRERELEASE and +BUILD, as tags and pseudo-versions are.
func parseVersion(v string) (pkgVersion, error) {
	if !semver.IsValid(v) {
		return pkgVersion{}, fmt.Errorf("version %q is not a module version such as v1.2.3 or v1.3.0-rc.1", v)
	}
	core := strings.TrimPrefix(v, "v")
	core, build, _ := strings.Cut(core, "+")
	core, pre, _ := strings.Cut(core, "-")
	if strings.Count(core, ".") != 2 {
		// semver takes v1 and v1.2 as short for v1.0.0 and v1.2.0; a
		// package version is better spelled out.
		return pkgVersion{}, fmt.Errorf("version %q lacks a part: give all three, as in %s", v, semver.Canonical(v))
	}
	return pkgVersion{upstream: core, pre: strings.ReplaceAll(pre, "-", "."), build: build}, nil
}

// String is the version as both formats spell it, before the release.
func (v pkgVersion) String() string {
	s := v.upstream
	if v.pre != "" {
		s += "~" + v.pre
	}
	if v.build != "" {
		s += "+" + v.build
	}
	return s
}
