package policy

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// CUE's loader leaves some files of a directory out of its package without
// a word: files whose names start with '.' or '_', *_test.cue and
// *_tool.cue files, files without a package clause among files with one,
// files of another package, files an @if or @ignore attribute excludes,
// and files in subdirectories. A deny rule in such a file would be gone.
// So qfw looks at every file itself, and each file of the policy is either
// loaded or refused, with its name and the reason.

// fileSet is the CUE files of a policy, as selectFiles found them.
type fileSet struct {
	// dir is the policy's directory, absolute.
	dir string
	// files are the CUE files to load, absolute, sorted.
	files []string
	// pkg is their package name; "" if none has a package clause.
	pkg string
	// sub are the CUE files below dir, which only an import may load.
	sub []string
}

// selectFiles finds and checks the CUE files of the policy in dir (shown
// in messages as the user gave it), or, if files is not nil, those files.
func selectFiles(dir, shown string, files []string) (*fileSet, error) {
	set := &fileSet{dir: dir}
	var errs errors.Error
	refuse := func(name string, pos token.Pos, format string, args ...any) {
		if !pos.IsValid() {
			pos = fileStart(name)
		}
		errs = errors.Append(errs, Errorf(pos, "", format, args...))
	}
	if files == nil {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("load policy: %s: %w", shown, pathErr(err))
		}
		for _, e := range entries {
			name, path := e.Name(), filepath.Join(dir, e.Name())
			fi, err := os.Stat(path) // through a symbolic link
			if err != nil {
				refuse(path, token.NoPos, "cannot read: %v", pathErr(err))
				continue
			}
			if fi.IsDir() {
				if name == "cue.mod" || name == ".git" {
					// The module's own files, and git's.
					continue
				}
				set.sub = append(set.sub, cueFilesBelow(path)...)
				continue
			}
			switch filepath.Ext(name) {
			case ".cue":
				if name == inventoryOverlay {
					refuse(path, token.NoPos, "qfw keeps the name %s for the inventory it adds; rename the file", inventoryOverlay)
					continue
				}
				if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
					refuse(path, token.NoPos, "CUE leaves out files whose names start with %q; rename the file or move it out of the policy directory", name[:1])
					continue
				}
				files = append(files, path)
			case ".yaml", ".yml":
				refuse(path, token.NoPos, "a policy directory is read as CUE only; give YAML files as arguments, or move the file out")
			}
		}
		if files == nil && errs == nil {
			return nil, fmt.Errorf("load policy: no .cue files in %s", shown)
		}
	}
	// The package is the one most files have, or of those that most
	// have, the first file's by name: every file must share it.
	type parsed struct {
		path string
		file *ast.File
	}
	var all []parsed
	pkgFile := ""
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasSuffix(base, "_test.cue") || strings.HasSuffix(base, "_tool.cue") {
			refuse(f, token.NoPos, "CUE leaves out *%s files; rename the file", base[strings.LastIndex(base, "_"):])
			continue
		}
		file, err := parser.ParseFile(f, nil, parser.ImportsOnly)
		if err != nil {
			errs = errors.Append(errs, errors.Promote(err, ""))
			continue
		}
		all = append(all, parsed{f, file})
	}
	count := map[string]int{}
	for _, p := range all {
		if name := p.file.PackageName(); name != "" {
			count[name]++
			if count[name] > count[set.pkg] {
				set.pkg = name
			}
		}
	}
	for _, p := range all {
		if p.file.PackageName() == set.pkg && set.pkg != "" {
			pkgFile = p.path
			break
		}
	}
	for _, p := range all {
		ok := true
		for _, d := range p.file.Decls {
			a, isAttr := d.(*ast.Attribute)
			if !isAttr {
				continue
			}
			switch key, _ := a.Split(); key {
			case "if", "ignore":
				refuse(p.path, a.Pos(), "a file attribute @%s would leave this file out of the policy; every file of a policy is loaded", key)
				ok = false
			case "extern", "embed":
				refuse(p.path, a.Pos(), "file attribute @%s is not supported in a policy", key)
				ok = false
			}
		}
		switch name := p.file.PackageName(); {
		case name == "" && set.pkg != "":
			refuse(p.path, p.file.Pos(), "file has no package clause, so it would be left out of package %s (of %s); add \"package %s\"", set.pkg, filepath.Base(pkgFile), set.pkg)
			ok = false
		case name != set.pkg:
			refuse(p.path, p.file.Pos(), "package %s here, but package %s in %s: a policy is one package", name, set.pkg, filepath.Base(pkgFile))
			ok = false
		}
		if ok {
			set.files = append(set.files, p.path)
		}
	}
	if errs != nil {
		return nil, errs
	}
	slices.Sort(set.files)
	return set, nil
}

// cueFilesBelow returns the CUE files below dir, at any depth, through
// symbolic links too.
func cueFilesBelow(dir string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(dir string)
	walk = func(dir string) {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil || seen[real] {
			return
		}
		seen[real] = true
		entries, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range entries {
			path := filepath.Join(dir, e.Name())
			if fi, err := os.Stat(path); err == nil && fi.IsDir() {
				walk(path)
			} else if strings.HasSuffix(path, ".cue") {
				out = append(out, path)
			}
		}
	}
	walk(dir)
	return out
}

// checkLoaded refuses what CUE's loader left out of inst, the policy's
// instance: a file it excluded, or one in a subdirectory that no import
// loads. wholeDir is whether the policy is a directory.
func (set *fileSet) checkLoaded(inst *build.Instance, wholeDir bool) error {
	var errs errors.Error
	for _, files := range [][]*build.File{inst.IgnoredFiles, inst.InvalidFiles, inst.OrphanedFiles} {
		for _, f := range files {
			if filepath.Ext(f.Filename) != ".cue" {
				continue
			}
			why := "CUE left it out"
			if f.ExcludeReason != nil {
				why = "CUE left it out: " + f.ExcludeReason.Error()
			}
			errs = errors.Append(errs, Errorf(fileStart(f.Filename), "", "%s", why))
		}
	}
	if wholeDir {
		// In a module, CUE loads the files of the same package in the
		// directories above too: their rules would join the policy
		// unseen.
		for _, f := range inst.BuildFiles {
			if filepath.Dir(f.Filename) != set.dir {
				errs = errors.Append(errs, Errorf(fileStart(f.Filename), "", "a file of package %s in a directory above the policy would be loaded with it; qfw loads the policy's directory alone: move the file, or change its package", set.pkg))
			}
		}
		// A subdirectory's files are loaded only as a package that the
		// policy imports.
		imported := map[string]bool{}
		var walk func(*build.Instance)
		walk = func(i *build.Instance) {
			for _, imp := range i.Imports {
				if !imported[imp.Dir] {
					imported[imp.Dir] = true
					walk(imp)
				}
			}
		}
		walk(inst)
		for _, f := range set.sub {
			if !imported[filepath.Dir(f)] {
				errs = errors.Append(errs, Errorf(fileStart(f), "", "a file in a subdirectory is not part of the policy; move it into the policy directory, or out of it"))
			}
		}
	}
	return errs
}

// pathErr returns the cause of a file system error, without the path that
// the message already names.
func pathErr(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// fileStart returns the position of the start of the file name, for an
// error about the whole file.
func fileStart(name string) token.Pos {
	return token.NewFile(name, -1, 1).Pos(0, token.NoRelPos)
}
