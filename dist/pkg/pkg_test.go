package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goreleaser/nfpm/v2/files"
)

// The version and time the test's packages are built with: a prerelease
// with a "-" in it, as a pseudo-version has, which both formats spell with
// a "~" before it and a "." for the "-".
const (
	testVersion    = "v1.3.0-rc.1-2"
	testPkgVersion = "1.3.0~rc.1.2"
)

var testTime = time.Date(2026, 12, 3, 7, 36, 30, 0, time.UTC)

// testBin is the qfw binary every test packages, built once by TestMain
// as the command builds it, with testVersion linked in.
var testBin *binary

func TestMain(m *testing.M) {
	os.Exit(func() int {
		stage, err := os.MkdirTemp("", "qfw-pkg-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(stage)
		ctx := context.Background()
		root, err := moduleRoot(ctx)
		if err == nil {
			var path string
			if path, err = buildBinary(ctx, root, stage, testVersion, os.Stderr); err == nil {
				testBin, err = inspect(ctx, path, stage)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

// need skips the test without the tools it names, except in CI (CI set),
// where it fails: there they are installed (.ci/run).
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing; CI installs it (.ci/run)", tool)
			}
			t.Skipf("%s is missing", tool)
		}
	}
}

// command runs name with args and returns its standard output; it fails
// the test if the command fails.
func command(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// testRoot is a repository with the files the packages take from it: the
// drop-in and script as the repository has them, and a Salt state with
// files the package leaves out beside those it holds.
func testRoot(t *testing.T) string {
	t.Helper()
	real, err := moduleRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	tree := map[string]string{
		"dist/salt/README.md":                   "how to use the state\n",
		"dist/salt/_states/qfw.py":              "def applied(name):\n    pass\n",
		"dist/salt/_states/qfw_test.py":         "a test\n",
		"dist/salt/_states/__pycache__/qfw.pyc": "bytecode\n",
		"dist/salt/qfw/init.sls":                "qfw:\n  qfw.applied: []\n",
		"dist/salt/qfw/files/policy.cue":        "package policy\n",
		"dist/salt/qfw.top":                     "base:\n  dom0:\n    - qfw\n",
		"dist/salt/tests/test_state.py":         "a test\n",
		"dist/salt/test_loader.py":              "a test\n",
		"dist/salt/.hidden":                     "editor state\n",
		"dist/salt/qfw/.swp/x":                  "editor state\n",
	}
	for name, data := range tree {
		write(t, filepath.Join(root, name), data)
	}
	for _, name := range []string{dropIn, reloadScript, saltSyncScript} {
		data, err := os.ReadFile(filepath.Join(real, name))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(root, name), string(data))
	}
	return root
}

func write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The files every package holds, as dpkg-deb -c and rpm list them.
var (
	debBase = []string{
		"drwxr-xr-x root/root ./usr/",
		"drwxr-xr-x root/root ./usr/bin/",
		"-rwxr-xr-x root/root ./usr/bin/qfw",
		"drwxr-xr-x root/root ./usr/share/",
		"drwxr-xr-x root/root ./usr/share/bash-completion/",
		"drwxr-xr-x root/root ./usr/share/bash-completion/completions/",
		"-rw-r--r-- root/root ./usr/share/bash-completion/completions/qfw",
		"drwxr-xr-x root/root ./usr/share/fish/",
		"drwxr-xr-x root/root ./usr/share/fish/vendor_completions.d/",
		"-rw-r--r-- root/root ./usr/share/fish/vendor_completions.d/qfw.fish",
		"drwxr-xr-x root/root ./usr/share/zsh/",
		"drwxr-xr-x root/root ./usr/share/zsh/vendor-completions/",
		"-rw-r--r-- root/root ./usr/share/zsh/vendor-completions/_qfw",
	}
	debDropIn = []string{
		"drwxr-xr-x root/root ./usr/lib/",
		"drwxr-xr-x root/root ./usr/lib/systemd/",
		"drwxr-xr-x root/root ./usr/lib/systemd/system/",
		"drwxr-xr-x root/root ./usr/lib/systemd/system/qubes-firewall.service.d/",
		"-rw-r--r-- root/root ./usr/lib/systemd/system/qubes-firewall.service.d/50-qfw.conf",
	}
	// An RPM owns the directories it lists only: none of the system's.
	// mode, owner, group, flags ("-" for none) and path.
	rpmBase = []string{
		"-rwxr-xr-x root root - /usr/bin/qfw",
		"-rw-r--r-- root root - /usr/share/bash-completion/completions/qfw",
		"-rw-r--r-- root root - /usr/share/fish/vendor_completions.d/qfw.fish",
		"-rw-r--r-- root root - /usr/share/zsh/site-functions/_qfw",
	}
	rpmDropIn = []string{
		"-rw-r--r-- root root - /usr/lib/systemd/system/qubes-firewall.service.d/50-qfw.conf",
	}
	// The Salt state of testRoot, its state and top files configuration
	// that an upgrade keeps when edited (cn: config(noreplace)).
	rpmSalt = []string{
		"-rw-r--r-- root root - /srv/salt/_states/qfw.py",
		"drwxr-xr-x root root - /srv/salt/qfw",
		"-rw-r--r-- root root cn /srv/salt/qfw.top",
		"drwxr-xr-x root root - /srv/salt/qfw/files",
		"-rw-r--r-- root root - /srv/salt/qfw/files/policy.cue",
		"-rw-r--r-- root root cn /srv/salt/qfw/init.sls",
	}
)

// debMan and rpmMan are the man pages of testBin's commands, as dpkg-deb
// and rpm list them.
func debMan() []string {
	l := []string{"drwxr-xr-x root/root ./usr/share/man/", "drwxr-xr-x root/root ./usr/share/man/man1/"}
	for _, p := range testBin.man {
		l = append(l, "-rw-r--r-- root/root ./usr/share/man/man1/"+p.name()+".1.gz")
	}
	return l
}

func rpmMan() []string {
	var l []string
	for _, p := range testBin.man {
		l = append(l, "-rw-r--r-- root root - /usr/share/man/man1/"+p.name()+".1.gz")
	}
	return l
}

// want is what one package must be.
type want struct {
	name, format, pkgName, arch string
	files                       []string
	conflicts                   string
	// script is the repository's file that is its postinstall and
	// postremove script, "" for none.
	script string
}

// TestPackages builds the packages twice, checks that the two builds are
// the same bytes and that SHA256SUMS lists them, then opens each package
// with its own format's tools, as a user's system would: names, versions,
// architectures, files with their modes and owners, times, scripts and
// contents, and that an RPM takes a signature, as a fleet's repository
// signs them.
func TestPackages(t *testing.T) {
	need(t, "dpkg-deb", "dpkg", "rpm", "rpmsign", "gpg", "sha256sum")
	signer := newSigner(t)
	withAgent := *testBin
	withAgent.agent = true
	tests := []struct {
		name string
		root string
		bin  *binary
		want []want
	}{{
		// The repository's own files, the binary as built: the drop-in
		// is in the packages only if this qfw has the agent command it
		// runs.
		name: "as built",
		root: "",
		bin:  testBin,
	}, {
		name: "agent and salt",
		root: testRoot(t),
		bin:  &withAgent,
		want: []want{
			{name: "qfw-" + testPkgVersion + "-1.x86_64.rpm", format: "rpm", pkgName: "qfw", arch: "x86_64", files: sorted(rpmBase, rpmMan(), rpmDropIn), conflicts: "qfw-dom0", script: reloadScript},
			{name: "qfw-dom0-" + testPkgVersion + "-1.x86_64.rpm", format: "rpm", pkgName: "qfw-dom0", arch: "x86_64", files: sorted(rpmBase, rpmMan(), rpmSalt), conflicts: "qfw", script: saltSyncScript},
			{name: "qfw_" + testPkgVersion + "-1_amd64.deb", format: "deb", pkgName: "qfw", arch: "amd64", files: sorted(debBase, debMan(), debDropIn), conflicts: "qfw-dom0", script: reloadScript},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := tt.root
			if root == "" {
				var err error
				if root, err = moduleRoot(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			wants := tt.want
			if wants == nil {
				wants = wantAsBuilt(t, root)
			}
			b := &build{root: root, bin: tt.bin, mtime: testTime, maintainer: "qfw test <test@example.org>"}
			var err error
			if b.version, err = parseVersion(testVersion); err != nil {
				t.Fatal(err)
			}
			first, second := t.TempDir(), t.TempDir()
			names := writeTwice(t, b, first, second)
			var wantNames []string
			for _, w := range wants {
				wantNames = append(wantNames, w.name)
			}
			if want := append(wantNames, sumsFile); !slices.Equal(names, want) {
				t.Fatalf("files %q; want %q", names, want)
			}
			checkSums(t, first, wantNames)
			for _, w := range wants {
				t.Run(w.name, func(t *testing.T) {
					file := filepath.Join(first, w.name)
					if w.format == "deb" {
						checkDeb(t, b, file, w)
					} else {
						checkRPM(t, b, file, w)
						signer.check(t, file)
					}
				})
			}
		})
	}
}

// wantAsBuilt is what the packages from the repository must be: the drop-in
// and its scripts in the template packages if the binary has the agent,
// and in the dom0 package, the repository's Salt state if it has one (the
// case "agent and salt" checks where its files go).
func wantAsBuilt(t *testing.T, root string) []want {
	debFiles, rpmFiles, vmScript := sorted(debBase, debMan()), sorted(rpmBase, rpmMan()), ""
	if testBin.agent {
		debFiles, rpmFiles, vmScript = sorted(debFiles, debDropIn), sorted(rpmFiles, rpmDropIn), reloadScript
	}
	salt, err := (&build{root: root, mtime: testTime}).salt()
	if err != nil {
		t.Fatal(err)
	}
	var saltFiles []string
	dom0Script := ""
	if len(salt) > 0 {
		dom0Script = saltSyncScript
	}
	for _, c := range salt {
		mode, flags := "-rw-r--r--", "-"
		switch c.Type {
		case files.TypeDir:
			mode = "drwxr-xr-x"
		case files.TypeConfigNoReplace:
			flags = "cn"
		}
		saltFiles = append(saltFiles, fmt.Sprintf("%s root root %s %s", mode, flags, c.Destination))
	}
	return []want{
		{name: "qfw-" + testPkgVersion + "-1.x86_64.rpm", format: "rpm", pkgName: "qfw", arch: "x86_64", files: rpmFiles, conflicts: "qfw-dom0", script: vmScript},
		{name: "qfw-dom0-" + testPkgVersion + "-1.x86_64.rpm", format: "rpm", pkgName: "qfw-dom0", arch: "x86_64", files: sorted(rpmBase, rpmMan(), saltFiles), conflicts: "qfw", script: dom0Script},
		{name: "qfw_" + testPkgVersion + "-1_amd64.deb", format: "deb", pkgName: "qfw", arch: "amd64", files: debFiles, conflicts: "qfw-dom0", script: vmScript},
	}
}

// sorted joins lists of files, each line ending in a path, in the order
// of the paths, as both formats list them.
func sorted(lists ...[]string) []string {
	l := slices.Concat(lists...)
	slices.SortFunc(l, func(a, b string) int {
		return strings.Compare(a[strings.LastIndex(a, " ")+1:], b[strings.LastIndex(b, " ")+1:])
	})
	return l
}

// writeTwice writes the packages into first and second and checks that
// both hold the same files with the same bytes.
func writeTwice(t *testing.T, b *build, first, second string) []string {
	t.Helper()
	names, err := writePackages(b, first)
	if err != nil {
		t.Fatal(err)
	}
	again, err := writePackages(b, second)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, again) {
		t.Fatalf("second build wrote %q; first %q", again, names)
	}
	for _, name := range names {
		a, err := os.ReadFile(filepath.Join(first, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(second, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two builds differ", name)
		}
	}
	return names
}

// checkSums checks SHA256SUMS with sha256sum, as a user would.
func checkSums(t *testing.T, dir string, names []string) {
	t.Helper()
	got := command(t, dir, "sha256sum", "--check", "--strict", sumsFile)
	var want strings.Builder
	for _, name := range names {
		fmt.Fprintf(&want, "%s: OK\n", name)
	}
	if got != want.String() {
		t.Errorf("sha256sum --check:\n%s\nwant:\n%s", got, want.String())
	}
}

// sources maps each path a package installs to the file it must hold.
func sources(t *testing.T, b *build) map[string]string {
	m := map[string]string{
		"/usr/bin/qfw": b.bin.path,
		"/usr/share/bash-completion/completions/qfw":                   b.bin.completions["bash"],
		"/usr/share/zsh/vendor-completions/_qfw":                       b.bin.completions["zsh"],
		"/usr/share/zsh/site-functions/_qfw":                           b.bin.completions["zsh"],
		"/usr/share/fish/vendor_completions.d/qfw.fish":                b.bin.completions["fish"],
		"/usr/lib/systemd/system/qubes-firewall.service.d/50-qfw.conf": filepath.Join(b.root, dropIn),
	}
	for _, rel := range []string{"_states/qfw.py", "qfw/init.sls", "qfw/files/policy.cue", "qfw.top"} {
		m["/srv/salt/"+rel] = filepath.Join(b.root, saltDir, rel)
	}
	// The man pages, written again: the same pages, version and date give
	// the same bytes.
	man, err := writeManPages(b.bin.man, t.TempDir(), b.mtime, b.version.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range man {
		m["/usr/share/man/man1/"+filepath.Base(f)] = f
	}
	return m
}

func checkDeb(t *testing.T, b *build, file string, w want) {
	fields := command(t, "", "dpkg-deb", "--field", file, "Package", "Version", "Architecture", "Maintainer", "Conflicts", "Section", "Priority", "Homepage")
	wantFields := fmt.Sprintf("Package: %s\nVersion: %s-1\nArchitecture: %s\nMaintainer: %s\nConflicts: %s\nSection: admin\nPriority: optional\nHomepage: %s\n",
		w.pkgName, testPkgVersion, w.arch, b.maintainer, w.conflicts, homepage)
	if fields != wantFields {
		t.Errorf("dpkg-deb --field:\n%s\nwant:\n%s", fields, wantFields)
	}

	// dpkg-deb -c: mode, owner/group, size, date, time, path.
	var listed []string
	for _, line := range strings.Split(strings.TrimSuffix(command(t, "", "dpkg-deb", "--contents", file), "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) != 6 {
			t.Fatalf("dpkg-deb --contents: %q", line)
		}
		if when := f[3] + " " + f[4]; when != testTime.Format("2006-01-02 15:04") {
			t.Errorf("%s: time %s; want %s", f[5], when, testTime.Format("2006-01-02 15:04"))
		}
		listed = append(listed, f[0]+" "+f[1]+" "+f[5])
	}
	if !slices.Equal(listed, w.files) {
		t.Errorf("dpkg-deb --contents:\n%s\nwant:\n%s", strings.Join(listed, "\n"), strings.Join(w.files, "\n"))
	}

	// The control files: the scripts, executable, are the repository's.
	ctrl := t.TempDir()
	command(t, "", "dpkg-deb", "--control", file, ctrl)
	var got []string
	entries, err := os.ReadDir(ctrl)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s", info.Mode(), e.Name()))
	}
	wantCtrl := []string{"-rw-r--r-- control", "-rw-r--r-- md5sums"}
	if w.script != "" {
		wantCtrl = []string{"-rw-r--r-- control", "-rw-r--r-- md5sums", "-rwxr-xr-x postinst", "-rwxr-xr-x postrm"}
		for _, s := range []string{"postinst", "postrm"} {
			sameFile(t, filepath.Join(ctrl, s), filepath.Join(b.root, w.script))
		}
	}
	if !slices.Equal(got, wantCtrl) {
		t.Errorf("control files %q; want %q", got, wantCtrl)
	}

	// What it installs is what was built, and the binary says the
	// package's version.
	dir := t.TempDir()
	command(t, "", "dpkg-deb", "--extract", file, dir)
	src := sources(t, b)
	for _, line := range w.files {
		if p := strings.TrimPrefix(line[strings.LastIndex(line, " ")+1:], "."); !strings.HasSuffix(p, "/") {
			sameFile(t, filepath.Join(dir, p), src[p])
		}
	}
	version := command(t, "", filepath.Join(dir, "usr/bin/qfw"), "version")
	if first, _, _ := strings.Cut(version, "\n"); first != "version   "+testVersion {
		t.Errorf("qfw version: %q; want version %s first", version, testVersion)
	}
	checkBashCompletion(t, dir)

	// dpkg unpacks it into an empty system and finds every file as the
	// package lists it. (Configuring it would run postinst in the new
	// root, which has no shell.)
	sys := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(sys, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(sys, "var/lib/dpkg/status"), "")
	command(t, "", "dpkg", "--root="+sys, "--unpack", file)
	command(t, "", "dpkg", "--root="+sys, "--verify", w.pkgName)
	var paths []string
	for _, line := range w.files {
		paths = append(paths, strings.TrimSuffix(strings.TrimPrefix(line[strings.LastIndex(line, " ")+1:], "."), "/"))
	}
	if got := command(t, "", "dpkg", "--root="+sys, "--listfiles", w.pkgName); got != strings.Join(paths, "\n")+"\n" {
		t.Errorf("dpkg --listfiles:\n%s\nwant:\n%s", got, strings.Join(paths, "\n"))
	}
}

func checkRPM(t *testing.T, b *build, file string, w want) {
	out := command(t, "", "rpm", "--query", "--package", "--queryformat",
		"%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{OS} %{BUILDTIME} %{BUILDHOST} %{PACKAGER} %{URL} %{FILEDIGESTALGO}\n", file)
	wantOut := fmt.Sprintf("%s %s 1 %s linux %d localhost %s %s 8\n", w.pkgName, testPkgVersion, w.arch, testTime.Unix(), b.maintainer, homepage)
	if out != wantOut {
		t.Errorf("rpm --query: %q; want %q", out, wantOut)
	}
	if out := command(t, "", "rpm", "--query", "--package", "--conflicts", file); out != w.conflicts+"\n" {
		t.Errorf("rpm --conflicts: %q; want %q", out, w.conflicts)
	}
	if out := command(t, "", "rpm", "--checksig", "--nosignature", file); out != file+": digests OK\n" {
		t.Errorf("rpm --checksig: %q", out)
	}

	// Every file with its mode, owner and flags; its time and digest.
	out = command(t, "", "rpm", "--query", "--package", "--queryformat",
		"[%{FILEMODES:perms}|%{FILEUSERNAME}|%{FILEGROUPNAME}|%{FILEFLAGS:fflags}|%{FILENAMES}|%{FILEMTIMES}|%{FILEDIGESTS}\n]", file)
	src := sources(t, b)
	var listed []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 7 {
			t.Fatalf("rpm --query: %q", line)
		}
		if f[3] == "" {
			f[3] = "-"
		}
		name := f[4]
		listed = append(listed, strings.Join(f[:5], " "))
		if f[5] != fmt.Sprint(testTime.Unix()) {
			t.Errorf("%s: time %s; want %d", name, f[5], testTime.Unix())
		}
		if f[0][0] == '-' {
			data, err := os.ReadFile(src[name])
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if want := fmt.Sprintf("%x", sha256.Sum256(data)); f[6] != want {
				t.Errorf("%s: digest %s; want %s, %s's", name, f[6], want, src[name])
			}
		}
	}
	if !slices.Equal(listed, w.files) {
		t.Errorf("rpm files:\n%s\nwant:\n%s", strings.Join(listed, "\n"), strings.Join(w.files, "\n"))
	}

	// rpm installs it into an empty system (scripts left out: the root
	// has no shell), verifies every file, and erases it all again.
	sys := t.TempDir()
	command(t, "", "rpm", "--root", sys, "--install", "--nodeps", "--noscripts", file)
	command(t, "", "rpm", "--root", sys, "--verify", w.pkgName)
	command(t, "", "rpm", "--root", sys, "--erase", "--noscripts", w.pkgName)
	if err := filepath.WalkDir(sys, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, "rpmdb") {
			t.Errorf("%s is left after rpm --erase", p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	scripts := command(t, "", "rpm", "--query", "--package", "--queryformat", "%{POSTIN}\n--\n%{POSTUN}\n", file)
	wantScripts := "(none)\n--\n(none)\n"
	if w.script != "" {
		data, err := os.ReadFile(filepath.Join(b.root, w.script))
		if err != nil {
			t.Fatal(err)
		}
		wantScripts = fmt.Sprintf("%s\n--\n%s\n", data, data)
	}
	if scripts != wantScripts {
		t.Errorf("rpm scripts:\n%s\nwant:\n%s", scripts, wantScripts)
	}
}

// sameFile checks that got holds what want does.
func sameFile(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Error(err)
		return
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Error(err)
		return
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from %s", got, want)
	}
}

// checkBashCompletion runs the packaged bash completion in bash, with
// bash-completion and the packaged qfw, on a few command lines.
func checkBashCompletion(t *testing.T, dir string) {
	const lib = "/usr/share/bash-completion/bash_completion"
	need(t, "bash")
	if _, err := os.Stat(lib); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("bash-completion is missing; CI installs it: %v", err)
		}
		t.Skipf("bash-completion is missing: %v", err)
	}
	script := `source ` + lib + `; source ./usr/share/bash-completion/completions/qfw
for line in "qfw compl" "qfw completion " "qfw ve" "qfw completion bash --"; do
	read -ra COMP_WORDS <<<"$line"
	[[ $line == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$line COMP_POINT=${#line}
	__start_qfw 2>/dev/null
	echo "$line: ${COMPREPLY[*]}"
done`
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(dir, "usr/bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	want := "qfw compl: completion\n" +
		"qfw completion : bash zsh fish\n" +
		"qfw ve: version vet\n" +
		"qfw completion bash --: --help\n"
	if string(out) != want {
		t.Errorf("bash completes:\n%s\nwant:\n%s", out, want)
	}
}

// signer signs RPMs with a key of its own, in a GnuPG home of its own.
type signer struct{ home string }

// newSigner makes a throwaway signing key; its gpg-agent stops with the
// test.
func newSigner(t *testing.T) *signer {
	t.Helper()
	// A socket path must be short: t.TempDir's can be too long for one.
	home, err := os.MkdirTemp("", "qfw-gpg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &signer{home: home}
	t.Cleanup(func() {
		s.gpg(t, "gpgconf", "--kill", "gpg-agent")
		os.RemoveAll(home)
	})
	s.gpg(t, "gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key", "qfw test <test@example.org>", "ed25519", "sign", "never")
	return s
}

func (s *signer) gpg(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+s.home)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// check signs a copy of the RPM with rpmsign and verifies it with rpm in
// a root that trusts the key, as dom0 does a package from a repository.
func (s *signer) check(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(t.TempDir(), filepath.Base(file))
	write(t, signed, string(data))
	s.gpg(t, "rpmsign", "--addsign", "--define", "__gpg "+mustLookPath(t, "gpg"), "--define", "_gpg_name qfw test", "--define", "_gpg_path "+s.home, signed)
	key := filepath.Join(t.TempDir(), "key.asc")
	write(t, key, s.gpg(t, "gpg", "--armor", "--export"))
	sys := t.TempDir()
	command(t, "", "rpm", "--root", sys, "--import", key)
	if out := command(t, "", "rpm", "--root", sys, "--checksig", signed); out != signed+": digests signatures OK\n" {
		t.Errorf("rpm --checksig of the signed package: %q", out)
	}
}

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
