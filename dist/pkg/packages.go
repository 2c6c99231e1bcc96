package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"
)

const (
	homepage = "https://github.com/qfw-dev/qfw"

	// dropIn is the systemd drop-in with which a firewall qube's
	// qubes-firewall service runs qfw agent, relative to the repository.
	dropIn = "dist/systemd/qubes-firewall.service.d/50-qfw.conf"
	// reloadScript has systemd read the drop-in again when it comes or
	// goes.
	reloadScript = "dist/pkg/scripts/systemd-reload.sh"
	// saltSyncScript has Salt take the state module in when it comes or
	// goes.
	saltSyncScript = "dist/pkg/scripts/salt-sync.sh"
	// saltDir holds the Salt state and its example files, installed under
	// saltRoot in dom0.
	saltDir  = "dist/salt"
	saltRoot = "/srv/salt"
)

// build is everything the packages are made of.
type build struct {
	// root is the repository, which holds the files the packages install
	// beside the binary.
	root string
	bin  *binary
	// version is the packages' version, before the release.
	version pkgVersion
	// mtime is the time of every file in the packages and of the packages
	// themselves.
	mtime      time.Time
	maintainer string
	// man are the files of the man pages, written by writePackages.
	man []string
}

// pkg is one package to write.
type pkg struct {
	format string // "deb" or "rpm"
	info   *nfpm.Info
}

// packagers are the formats the packages come in.
var packagers = map[string]nfpm.Packager{"deb": deb.Default, "rpm": rpm.DefaultRPM}

// packages returns the packages, each with its files: the dom0 RPM, then
// the template deb and RPM.
func (b *build) packages() ([]pkg, error) {
	dom0, err := b.dom0()
	if err != nil {
		return nil, err
	}
	return []pkg{{"rpm", dom0}, {"deb", b.vm("deb")}, {"rpm", b.vm("rpm")}}, nil
}

// about says what qfw is, in every package's description.
const about = `qfw compiles per-qube firewall policy written in CUE into the rules Qubes OS enforces, shows what applying it would change, and applies it across qubes through the Admin API.`

// dom0 is the package for dom0: qfw, its man pages and completions and,
// when the repository has it, the Salt state with which qubesctl applies
// a policy.
func (b *build) dom0() (*nfpm.Info, error) {
	contents := b.common("rpm")
	salt, err := b.salt()
	if err != nil {
		return nil, err
	}
	contents = append(contents, salt...)
	holds := "This package is for dom0: the qfw command, its manual and its shell completions"
	if len(salt) > 0 {
		holds += ", and the Salt state qfw.applied with which qubesctl applies a policy"
	}
	info := b.info("qfw-dom0", "rpm", "Qubes OS firewall policy as code, for dom0", holds+".", contents)
	info.Conflicts = []string{"qfw"}
	if len(salt) > 0 {
		script := filepath.Join(b.root, saltSyncScript)
		info.Scripts.PostInstall = script
		info.Scripts.PostRemove = script
	}
	return info, nil
}

// vm is the package for templates (and standalone qubes): qfw, to run it
// in a management qube, and, when the binary has the agent, the drop-in
// with which a firewall qube's qubes-firewall service runs qfw agent. The
// drop-in acts only where that service is on, so the same package serves
// both.
func (b *build) vm(format string) *nfpm.Info {
	contents := b.common(format)
	holds := "This package is for templates and qubes: the qfw command, to run it in a management qube, its manual and its shell completions"
	agent := b.bin.agent
	if agent {
		contents = append(contents, b.file(filepath.Join(b.root, dropIn), "/usr/lib/systemd/system/qubes-firewall.service.d/50-qfw.conf", 0o644))
		holds += ", and the systemd drop-in with which a firewall qube's qubes-firewall service runs qfw agent"
	}
	info := b.info("qfw", format, "Qubes OS firewall policy as code, for templates and qubes", holds+".", contents)
	info.Conflicts = []string{"qfw-dom0"}
	if agent {
		script := filepath.Join(b.root, reloadScript)
		info.Scripts.PostInstall = script
		info.Scripts.PostRemove = script
	}
	return info
}

// common is what every package holds: the binary, the completion
// scripts, where each shell looks for them on Debian and Fedora, and the
// man pages.
func (b *build) common(format string) files.Contents {
	zsh := "/usr/share/zsh/site-functions/_qfw"
	if format == "deb" {
		zsh = "/usr/share/zsh/vendor-completions/_qfw"
	}
	contents := files.Contents{
		b.file(b.bin.path, "/usr/bin/qfw", 0o755),
		b.file(b.bin.completions["bash"], "/usr/share/bash-completion/completions/qfw", 0o644),
		b.file(b.bin.completions["zsh"], zsh, 0o644),
		b.file(b.bin.completions["fish"], "/usr/share/fish/vendor_completions.d/qfw.fish", 0o644),
	}
	for _, f := range b.man {
		contents = append(contents, b.file(f, "/usr/share/man/man1/"+filepath.Base(f), 0o644))
	}
	return contents
}

// salt is what the dom0 package installs from saltDir, if the repository
// has it: each file at the same path under saltRoot, so that
// dist/salt/_states/qfw.py is /srv/salt/_states/qfw.py and
// dist/salt/qfw/init.sls is /srv/salt/qfw/init.sls, leaving out READMEs
// and tests. State and top files (.sls, .top) are configuration a user
// may edit: an upgrade keeps the edited file. The package owns the
// directories it brings, but not Salt's shared _states and _modules.
func (b *build) salt() (files.Contents, error) {
	dir := filepath.Join(b.root, saltDir)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var contents files.Contents
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		name := d.Name()
		if d.IsDir() {
			if strings.HasPrefix(name, ".") || name == "__pycache__" || name == "tests" || name == "testdata" {
				return filepath.SkipDir
			}
			if top, _, _ := strings.Cut(rel, "/"); !strings.HasPrefix(top, "_") {
				contents = append(contents, &files.Content{
					Destination: path.Join(saltRoot, rel),
					Type:        files.TypeDir,
					FileInfo:    b.fileInfo(0o755),
				})
			}
			return nil
		}
		if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "README") || strings.HasPrefix(name, "test_") ||
			strings.HasSuffix(name, "_test.py") || name == "conftest.py" || strings.HasSuffix(name, ".pyc") {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file; a package holds files", p)
		}
		c := b.file(p, path.Join(saltRoot, rel), 0o644)
		if ext := path.Ext(name); ext == ".sls" || ext == ".top" {
			c.Type = files.TypeConfigNoReplace
		}
		contents = append(contents, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("salt state: %w", err)
	}
	return contents, nil
}

// file is a regular file of a package, with its mode, root's, at the
// packages' time.
func (b *build) file(src, dst string, mode fs.FileMode) *files.Content {
	return &files.Content{Source: src, Destination: dst, Type: files.TypeFile, FileInfo: b.fileInfo(mode)}
}

func (b *build) fileInfo(mode fs.FileMode) *files.ContentFileInfo {
	return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: b.mtime}
}

// info is a package's metadata around its contents: summary is its one
// line, holds the paragraph that says what is in it.
func (b *build) info(name, format, summary, holds string, contents files.Contents) *nfpm.Info {
	desc := wrap(about) + "\n\n" + wrap(holds)
	if format == "deb" {
		// A deb's description starts with its summary; an RPM has a
		// field for it.
		desc = summary + "\n" + desc
	}
	return &nfpm.Info{
		Name:            name,
		Arch:            goarch,
		Platform:        goos,
		Version:         b.version.upstream,
		Prerelease:      b.version.pre,
		VersionMetadata: b.version.build,
		// The version is split already, with a "-" in a prerelease
		// made into a ".".
		VersionSchema: "none",
		Release:       "1",
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    b.maintainer,
		Description:   desc,
		Homepage:      homepage,
		MTime:         b.mtime,
		Overridables: nfpm.Overridables{
			Contents: contents,
			// An RPM names the host that built it; this one would
			// differ from one builder to the next. Zstandard packs qfw
			// as small as gzip, four times faster; rpm reads it since
			// 4.14 (Fedora 28), dpkg since 1.21.18 (Debian 12).
			RPM: nfpm.RPM{Summary: summary, BuildHost: "localhost", Compression: "zstd"},
			Deb: nfpm.Deb{Compression: "zstd"},
		},
	}
}

// wrap breaks text into lines of at most 72 characters, at spaces.
func wrap(text string) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(text) {
		switch {
		case i == 0:
		case n+1+len(word) > 72:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// sumsFile lists the SHA-256 of each package, as sha256sum -c reads it.
const sumsFile = "SHA256SUMS"

// writePackages writes the packages into out, a directory that must be
// empty or absent, then SHA256SUMS, and returns the files' names.
func writePackages(b *build, out string) ([]string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(out); err != nil {
		return nil, err
	} else if len(entries) > 0 {
		// Old packages beside the new would be listed in no SHA256SUMS,
		// or in a stale one.
		return nil, fmt.Errorf("%s is not empty; give a new or empty directory", out)
	}
	// The man pages bear the packages' version and date.
	stage, err := os.MkdirTemp("", "qfw-man-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	if b.man, err = writeManPages(b.bin.man, stage, b.mtime, b.version.String()); err != nil {
		return nil, err
	}
	pkgs, err := b.packages()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range pkgs {
		packager := packagers[p.format]
		info := nfpm.WithDefaults(p.info)
		name := packager.ConventionalFileName(info)
		if err := writeFile(filepath.Join(out, name), func(w io.Writer) error { return packager.Package(info, w) }); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	var sums strings.Builder
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(data), name)
	}
	if err := writeFile(filepath.Join(out, sumsFile), func(w io.Writer) error {
		_, err := io.WriteString(w, sums.String())
		return err
	}); err != nil {
		return nil, err
	}
	return append(names, sumsFile), nil
}

// writeFile creates the file name, which must not exist, with what write
// writes.
func writeFile(name string, write func(io.Writer) error) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
