package main

import "testing"

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "v1.2.3", want: "1.2.3"},
		{in: "v1.3.0-rc.1", want: "1.3.0~rc.1"},
		// Pseudo-versions, as go build records them for an untagged
		// commit and a modified tree.
		{in: "v0.0.0-20261203073630-11c905619c10", want: "0.0.0~20261203073630.11c905619c10"},
		{in: "v1.2.4-0.20261203073630-11c905619c10", want: "1.2.4~0.20261203073630.11c905619c10"},
		{in: "v0.0.0-20261203073630-11c905619c10+dirty", want: "0.0.0~20261203073630.11c905619c10+dirty"},
		{in: "v1.2.3+build.7", want: "1.2.3+build.7"},
		{in: "1.2.3", err: `version "1.2.3" is not a module version such as v1.2.3 or v1.3.0-rc.1`},
		{in: "v1.2", err: `version "v1.2" lacks a part: give all three, as in v1.2.0`},
		{in: "v1", err: `version "v1" lacks a part: give all three, as in v1.0.0`},
		{in: "(devel)", err: `version "(devel)" is not a module version such as v1.2.3 or v1.3.0-rc.1`},
		{in: "v1.2.3-rc_1", err: `version "v1.2.3-rc_1" is not a module version such as v1.2.3 or v1.3.0-rc.1`},
		{in: "v1.2.3 ", err: `version "v1.2.3 " is not a module version such as v1.2.3 or v1.3.0-rc.1`},
	}
	for _, tt := range tests {
		v, err := parseVersion(tt.in)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("parseVersion(%q): %v; want error %q", tt.in, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("parseVersion(%q): %v", tt.in, err)
		case tt.err == "" && v.String() != tt.want:
			t.Errorf("parseVersion(%q) = %q; want %q", tt.in, v, tt.want)
		}
	}
}
