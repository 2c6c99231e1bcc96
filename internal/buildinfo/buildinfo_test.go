package buildinfo

import (
	"runtime/debug"
	"testing"
)

// TestText checks what qfw version prints for the build
// information a binary can carry: go test's own binary has no version and
// no revision, so the script cannot see these.
func TestText(t *testing.T) {
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "-trimpath", Value: "true"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "11c905619c1090e398f81c57b7348811f7cd1eed"},
			{Key: "vcs.time", Value: "2026-12-03T07:36:30Z"},
			{Key: "vcs.modified", Value: modified},
		}
	}
	tests := []struct {
		name     string
		override string
		main     string
		settings []debug.BuildSetting
		want     string
	}{{
		name:     "release",
		main:     "v1.2.3",
		settings: vcs("false"),
		want: "version   v1.2.3\n" +
			"revision  11c905619c1090e398f81c57b7348811f7cd1eed\n" +
			"time      2026-12-03T07:36:30Z\n" +
			"go        go1.26.8 linux/amd64\n",
	}, {
		name:     "modified tree",
		main:     "v0.0.0-20261203073630-11c905619c10+dirty",
		settings: vcs("true"),
		want: "version   v0.0.0-20261203073630-11c905619c10+dirty\n" +
			"revision  11c905619c1090e398f81c57b7348811f7cd1eed (modified)\n" +
			"time      2026-12-03T07:36:30Z\n" +
			"go        go1.26.8 linux/amd64\n",
	}, {
		name:     "version set at link time",
		override: "v1.3.0",
		main:     "(devel)",
		want: "version   v1.3.0\n" +
			"revision  unknown\n" +
			"go        go1.26.8 linux/amd64\n",
	}, {
		name: "no git",
		main: "(devel)",
		want: "version   (devel)\n" +
			"revision  unknown\n" +
			"go        go1.26.8 linux/amd64\n",
	}, {
		name: "no module version",
		want: "version   (devel)\n" +
			"revision  unknown\n" +
			"go        go1.26.8 linux/amd64\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/qfw-dev/qfw", Version: tt.main}, Settings: tt.settings}
			if got := Text(tt.override, info, "linux/amd64"); got != tt.want {
				t.Errorf("Text:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
