package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The platform the packages are for: Qubes OS runs on x86-64 only.
const (
	goos   = "linux"
	goarch = "amd64"
)

// shells are the shells qfw writes a completion script for.
var shells = []string{"bash", "zsh", "fish"}

// binary is the qfw binary the packages hold, and what it says about
// itself.
type binary struct {
	// path is the binary's file.
	path string
	// version is the version qfw version reports.
	version string
	// commitTime is the time of the git commit it was built from, zero if
	// it does not know it.
	commitTime time.Time
	// agent says that it has the agent command, which the systemd drop-in
	// runs.
	agent bool
	// completions maps each of shells to the file holding its script.
	completions map[string]string
	// man are the pages of qfw and its commands, read from their help.
	man []*manPage
}

// buildBinary builds qfw from the repository at root into dir, for Qubes'
// platform, statically and without the paths of the machine that built it:
// the same source and Go toolchain give the same bytes. version, if not
// empty, is linked in as the version qfw reports.
func buildBinary(ctx context.Context, root, dir, version string, stderr io.Writer) (string, error) {
	out := filepath.Join(dir, "qfw")
	args := []string{"build", "-trimpath", "-buildvcs=auto"}
	if version != "" {
		args = append(args, "-ldflags=-X main.version="+version)
	}
	args = append(args, "-o", out, "./cmd/qfw")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	// Flags on the command line win over GOFLAGS, and these variables over
	// the environment's: nothing of the builder's setup but the toolchain
	// reaches the binary.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOAMD64=v1")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// inspect runs the binary at path to learn what the packages need from
// it: its version, its commit's time, whether it has the agent, its
// completion scripts, which it writes into dir, and its commands' help.
func inspect(ctx context.Context, path, dir string) (*binary, error) {
	if runtime.GOOS != goos || runtime.GOARCH != goarch {
		return nil, fmt.Errorf("packages are built on %s/%s, where the qfw binary they hold runs to say its version and write its completion scripts; this is %s/%s", goos, goarch, runtime.GOOS, runtime.GOARCH)
	}
	b := &binary{path: path, completions: map[string]string{}}
	out, err := runQfw(ctx, path, "version")
	if err != nil {
		return nil, err
	}
	fields, err := versionFields(out)
	if err != nil {
		return nil, err
	}
	b.version = fields["version"]
	if t, ok := fields["time"]; ok {
		if b.commitTime, err = time.Parse(time.RFC3339, t); err != nil {
			return nil, fmt.Errorf("qfw version: commit time %q: %w", t, err)
		}
	}
	for _, sh := range shells {
		out, err := runQfw(ctx, path, "completion", sh)
		if err != nil {
			return nil, err
		}
		file := filepath.Join(dir, "qfw."+sh)
		if err := os.WriteFile(file, out, 0o644); err != nil {
			return nil, err
		}
		b.completions[sh] = file
	}
	if b.agent, err = hasAgent(ctx, path); err != nil {
		return nil, err
	}
	if b.man, err = readManPages(ctx, path); err != nil {
		return nil, err
	}
	return b, nil
}

// versionFields reads qfw version's "key value" lines.
func versionFields(out []byte) (map[string]string, error) {
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			return nil, fmt.Errorf("qfw version printed %q, not a key and a value", sc.Text())
		}
		fields[k] = strings.TrimSpace(v)
	}
	if fields["version"] == "" {
		return nil, fmt.Errorf("qfw version printed no version: %q", out)
	}
	return fields, nil
}

// hasAgent reports whether the binary has the agent command: only then do
// the packages hold the systemd drop-in that runs it, as a drop-in that
// starts a missing command would leave a firewall qube's qubes-firewall
// service failing.
func hasAgent(ctx context.Context, path string) (bool, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "agent", "--help")
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && strings.Contains(stderr.String(), `unknown command "agent"`):
		return false, nil
	default:
		return false, fmt.Errorf("qfw agent --help: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
}

// runQfw runs the binary with args and returns what it prints.
func runQfw(ctx context.Context, path string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("qfw %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}
