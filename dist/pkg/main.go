package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv("SOURCE_DATE_EPOCH"), os.Stdout, os.Stderr))
}

const usage = `usage: go run ./dist/pkg -out DIR [-version VERSION] [-maintainer WHO]

Builds qfw for linux/amd64 and packages it into DIR, a new or empty
directory: qfw-dom0 (RPM, for dom0), qfw (deb and RPM, for templates) and
SHA256SUMS. The packages' version is qfw's, as qfw version reports it,
unless -version gives one, which is then linked into qfw as well. Every
file and package bears SOURCE_DATE_EPOCH's time if it is set, else the time
of the git commit qfw is built from.

`

// options are the command line's.
type options struct {
	out, version, maintainer string
	mtime                    time.Time
}

func run(ctx context.Context, args []string, sourceDateEpoch string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args, sourceDateEpoch, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		var names []string
		names, err = buildAll(ctx, opts, stderr)
		for _, name := range names {
			fmt.Fprintln(stdout, filepath.Join(opts.out, name))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "dist/pkg: %v\n", err)
		return 1
	}
	return 0
}

func parseArgs(args []string, sourceDateEpoch string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("dist/pkg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.out, "out", "", "the directory to write the packages to, new or empty")
	fs.StringVar(&o.version, "version", "", "the packages' version, such as v1.2.3, linked into qfw too (default: qfw's own)")
	fs.StringVar(&o.maintainer, "maintainer", "qfw developers <"+homepage+">", "the packages' maintainer")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q; see -help", fs.Arg(0))
	case o.out == "":
		return o, errors.New("-out is missing: give the directory to write the packages to")
	}
	if o.version != "" {
		if _, err := parseVersion(o.version); err != nil {
			return o, fmt.Errorf("-version: %w", err)
		}
	}
	if sourceDateEpoch != "" {
		sec, err := strconv.ParseInt(sourceDateEpoch, 10, 64)
		if err != nil || sec < 0 {
			return o, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a count of seconds since 1970", sourceDateEpoch)
		}
		o.mtime = time.Unix(sec, 0).UTC()
	}
	return o, nil
}

// buildAll builds qfw and its packages as opts say, and returns the names
// of the files written.
func buildAll(ctx context.Context, opts options, stderr io.Writer) ([]string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp("", "qfw-pkg-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	path, err := buildBinary(ctx, root, stage, opts.version, stderr)
	if err != nil {
		return nil, err
	}
	bin, err := inspect(ctx, path, stage)
	if err != nil {
		return nil, err
	}
	b, err := newBuild(root, bin, opts)
	if err != nil {
		return nil, err
	}
	if !bin.agent {
		fmt.Fprintln(stderr, "dist/pkg: qfw has no agent command: the qfw packages leave out the systemd drop-in that runs it")
	}
	if _, err := os.Stat(filepath.Join(root, saltDir)); err != nil {
		fmt.Fprintf(stderr, "dist/pkg: %s does not exist: the qfw-dom0 package holds no Salt state\n", saltDir)
	}
	return writePackages(b, opts.out)
}

// newBuild checks what the packages are to be made of: qfw's version and
// the time, from the command line or the binary.
func newBuild(root string, bin *binary, opts options) (*build, error) {
	v := opts.version
	if v == "" {
		v = bin.version
	}
	if v != bin.version {
		return nil, fmt.Errorf("qfw says it is version %q, not %q", bin.version, v)
	}
	if v == "(devel)" {
		return nil, errors.New("qfw's version is unknown, as it was built outside a git checkout (or in a git worktree, where Go records none): give -version")
	}
	version, err := parseVersion(v)
	if err != nil {
		return nil, fmt.Errorf("qfw's %w; give -version", err)
	}
	mtime := opts.mtime
	if mtime.IsZero() {
		mtime = bin.commitTime
	}
	if mtime.IsZero() {
		return nil, errors.New("the time of qfw's commit is unknown, as it was built outside a git checkout (or in a git worktree): set SOURCE_DATE_EPOCH")
	}
	return &build{root: root, bin: bin, version: version, mtime: mtime, maintainer: opts.maintainer}, nil
}

// moduleRoot is the directory of the main module's go.mod, the
// repository, wherever in it the command runs.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not in a Go module: run from qfw's repository")
	}
	return filepath.Dir(gomod), nil
}
