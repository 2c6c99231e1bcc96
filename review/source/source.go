package source

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"cuelang.org/go/cue/token"

	"github.com/qfw-dev/qfw/internal/workdir"
)

// Side is one of the two policies qfw diff compares: a directory, or a
// directory of a git revision, read into a temporary directory.
type Side struct {
	// Arg is the argument as given; Which names it in messages: "BASE"
	// or "HEAD".
	Arg, Which string
	// Dir is the policy directory to load.
	Dir string
	// rev is the revision as given, and tree the directory in it, from
	// the repository's top ("" for the top itself); both empty for a
	// directory.
	rev, tree string
	// root is the temporary directory that holds what was read of the
	// revision: the tree of its CUE module, from which the policy may
	// import packages, or else tree alone. base is root's place in the
	// revision, from the repository's top.
	root, base string
}

// isRev reports whether s was read from a git revision.
func (s *Side) isRev() bool { return s.rev != "" }

// revPrefix is how a file of a revision is named: REV:PATH/, as git
// names it.
func (s *Side) revPrefix() string {
	if s.tree == "" {
		return s.rev + ":"
	}
	return s.rev + ":" + s.tree + "/"
}

// Pos formats p, a position in s's policy: relative to the working
// directory for a directory, as REV:PATH for a revision.
func (s *Side) Pos(p token.Pos) string {
	if !s.isRev() {
		return workdir.Pos(p)
	}
	rel, err := filepath.Rel(s.root, p.Filename())
	if err != nil || !filepath.IsLocal(rel) {
		return workdir.Pos(p)
	}
	return fmt.Sprintf("%s:%s:%d:%d", s.rev, path.Join(s.base, filepath.ToSlash(rel)), p.Line(), p.Column())
}

// Rewrite returns diagnostics text printed for s's policy with the
// temporary directory's file names in REV:PATH form.
func (s *Side) Rewrite(text string) string {
	if !s.isRev() {
		return text
	}
	prefix := s.rev + ":"
	if s.base != "" {
		prefix += s.base + "/"
	}
	for _, dir := range []string{s.root, filepath.ToSlash(workdir.File(s.root))} {
		text = strings.ReplaceAll(text, dir+"/", prefix)
	}
	return text
}

// Cleanup removes what s read from git.
func (s *Side) Cleanup() {
	if s.isRev() {
		os.RemoveAll(s.root)
	}
}

// Open finds the policy that arg names: a directory if there is one
// of that name, else a git revision of the repository of the working
// directory, REV or REV:PATH, whose directory (PATH from the top of the
// repository, or else the working directory's place in it) it copies into
// a temporary directory, without touching the working tree. If the
// directory is in a CUE module (a directory above it, or itself, holds
// cue.mod), the whole module is copied, so that the policy's imports of
// the module's packages resolve as in the working tree.
func Open(arg, which string) (*Side, error) {
	s := &Side{Arg: arg, Which: which}
	if arg == "" {
		return nil, fmt.Errorf("%s is empty: want a policy directory or a git revision", which)
	}
	fi, err := os.Stat(arg)
	switch {
	case err == nil && fi.IsDir():
		s.Dir = arg
		return s, nil
	case err == nil:
		return nil, fmt.Errorf("%s %q is a file: want a policy directory or a git revision", which, arg)
	}
	rev, tree, hasPath := strings.Cut(arg, ":")
	if rev == "" || strings.HasPrefix(rev, "-") {
		return nil, fmt.Errorf("%s %q: no such directory, nor a git revision", which, arg)
	}
	if _, err := exec.LookPath("git"); err != nil {
		return nil, fmt.Errorf("%s %q: no such directory, and no git to read it as a revision with", which, arg)
	}
	top, err := git("rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("%s %q: no such directory, and the working directory is in no git repository to read it as a revision from", which, arg)
	}
	commit, err := git("rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("%s %q: no such directory, nor a revision of the git repository", which, arg)
	}
	if hasPath {
		tree = strings.Trim(path.Clean("/"+filepath.ToSlash(tree)), "/")
	} else {
		prefix, err := git("rev-parse", "--show-prefix")
		if err != nil {
			return nil, fmt.Errorf("%s %q: %v", which, arg, err)
		}
		tree = strings.TrimSuffix(prefix, "/")
	}
	s.rev, s.tree = rev, tree
	object := commit + ":" + tree
	if kind, err := git("cat-file", "-t", object); err != nil || kind != "tree" {
		if err == nil {
			return nil, fmt.Errorf("%s %q: %s is a file in %s, not a directory", which, arg, displayTree(tree), rev)
		}
		return nil, fmt.Errorf("%s %q: %s has no directory %s", which, arg, rev, displayTree(tree))
	}
	s.base = moduleRoot(commit, tree)
	s.root, err = os.MkdirTemp("", "qfw-diff-")
	if err != nil {
		return nil, err
	}
	rel, _ := strings.CutPrefix(strings.TrimPrefix(tree, s.base), "/")
	s.Dir = filepath.Join(s.root, filepath.FromSlash(rel))
	// From a subdirectory, git archive would read the tree's own
	// subdirectory of that name.
	cmd := exec.Command("git", "archive", "--format=tar", commit+":"+s.base)
	cmd.Dir = top
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		s.Cleanup()
		return nil, fmt.Errorf("%s %q: git archive: %v", which, arg, err)
	}
	xerr := extractTar(out, s.root)
	io.Copy(io.Discard, out)
	werr := cmd.Wait()
	switch {
	case xerr != nil:
		s.Cleanup()
		return nil, fmt.Errorf("%s %q: %s%v", which, arg, s.revPrefix(), xerr)
	case werr != nil:
		s.Cleanup()
		return nil, fmt.Errorf("%s %q: git archive: %s", which, arg, strings.TrimSpace(stderr.String()))
	}
	return s, nil
}

// moduleRoot returns the directory of commit, from the repository's top,
// that holds the CUE module tree is in: the nearest of tree and the
// directories above it with a cue.mod directory, or tree itself if none.
func moduleRoot(commit, tree string) string {
	for dir := tree; ; dir = path.Dir(dir) {
		if dir == "." {
			dir = ""
		}
		mod := path.Join(dir, "cue.mod")
		if kind, err := git("cat-file", "-t", commit+":"+mod); err == nil && kind == "tree" {
			return dir
		}
		if dir == "" {
			return tree
		}
	}
}

func displayTree(tree string) string {
	if tree == "" {
		return "the top directory"
	}
	return tree
}

// git runs git with args in the working directory and returns its output,
// trimmed, or its error output as the error.
func git(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", errors.New(msg)
		}
		return "", err
	}
	return strings.TrimSpace(stdout.String()), nil
}

// extractTar writes the files of the tar stream r, as git archive writes
// it, into dir. It refuses what a policy directory has no use for and
// could lead outside dir: links, devices, names that climb out.
func extractTar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading git archive: %v", err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			// git archive's comment: the commit's id.
			continue
		}
		name := strings.TrimSuffix(h.Name, "/")
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return fmt.Errorf("%s: a name outside the directory", name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			return fmt.Errorf("%s is a symbolic link, which qfw does not follow in a revision", name)
		default:
			return fmt.Errorf("%s is neither a file nor a directory", name)
		}
	}
}
