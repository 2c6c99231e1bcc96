package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunRefuses checks what the command refuses before it builds
// anything, each with its message and nothing written.
func TestRunRefuses(t *testing.T) {
	out := t.TempDir()
	tests := []struct {
		args  []string
		epoch string
		want  string
	}{
		{args: nil, want: "dist/pkg: -out is missing: give the directory to write the packages to\n"},
		{args: []string{"-out", out, "extra"}, want: "dist/pkg: unexpected argument \"extra\"; see -help\n"},
		{args: []string{"-out", out, "-version", "1.2"}, want: "dist/pkg: -version: version \"1.2\" is not a module version such as v1.2.3 or v1.3.0-rc.1\n"},
		{args: []string{"-out", out}, epoch: "yesterday", want: "dist/pkg: SOURCE_DATE_EPOCH \"yesterday\" is not a count of seconds since 1970\n"},
		{args: []string{"-out", out}, epoch: "-1", want: "dist/pkg: SOURCE_DATE_EPOCH \"-1\" is not a count of seconds since 1970\n"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, tt.epoch, &stdout, &stderr)
		if code != 1 || stdout.Len() > 0 || stderr.String() != tt.want {
			t.Errorf("dist/pkg %s: exit %d, stdout %q, stderr %q; want exit 1, stderr %q", strings.Join(tt.args, " "), code, stdout.String(), stderr.String(), tt.want)
		}
	}
}

// TestNewBuild checks where the packages' version and time come from: the
// command line first, then the binary, and an error when neither knows.
func TestNewBuild(t *testing.T) {
	commit := time.Date(2026, 12, 3, 7, 36, 30, 0, time.UTC)
	epoch := time.Unix(1700000000, 0).UTC()
	tests := []struct {
		name        string
		bin         binary
		opts        options
		wantVersion string
		wantTime    time.Time
		err         string
	}{
		{name: "from the binary", bin: binary{version: "v1.2.3", commitTime: commit}, wantVersion: "1.2.3", wantTime: commit},
		{name: "SOURCE_DATE_EPOCH first", bin: binary{version: "v1.2.3", commitTime: commit}, opts: options{mtime: epoch}, wantVersion: "1.2.3", wantTime: epoch},
		{name: "-version linked in", bin: binary{version: "v1.3.0"}, opts: options{version: "v1.3.0", mtime: epoch}, wantVersion: "1.3.0", wantTime: epoch},
		{name: "-version not linked in", bin: binary{version: "v1.2.3"}, opts: options{version: "v1.3.0", mtime: epoch},
			err: `qfw says it is version "v1.2.3", not "v1.3.0"`},
		{name: "no version", bin: binary{version: "(devel)", commitTime: commit},
			err: "qfw's version is unknown, as it was built outside a git checkout (or in a git worktree, where Go records none): give -version"},
		{name: "no time", bin: binary{version: "v1.2.3"},
			err: "the time of qfw's commit is unknown, as it was built outside a git checkout (or in a git worktree): set SOURCE_DATE_EPOCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := newBuild("/repo", &tt.bin, tt.opts)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("newBuild: %v; want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.version.String() != tt.wantVersion || !b.mtime.Equal(tt.wantTime) {
				t.Errorf("newBuild: version %s, time %v; want %s, %v", b.version, b.mtime, tt.wantVersion, tt.wantTime)
			}
		})
	}
}

func TestWritePackagesRefusesFullDirectory(t *testing.T) {
	out := t.TempDir()
	write(t, out+"/qfw-old.rpm", "old\n")
	_, err := writePackages(&build{}, out)
	if want := out + " is not empty; give a new or empty directory"; err == nil || err.Error() != want {
		t.Errorf("writePackages: %v; want %q", err, want)
	}
}
