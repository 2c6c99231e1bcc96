package policy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/token"
	"cuelang.org/go/encoding/yaml"

	"github.com/qfw-dev/qfw/schema"
)

// DefaultInventory is the name of the inventory file looked for beside the
// policy when none is given.
const DefaultInventory = "inventory.json"

// inventoryOverlay is the name of the file, added to the user's package in
// memory only, that makes the inventory visible as `inventory`.
const inventoryOverlay = "qfw_inventory.cue"

// Config says what to load.
type Config struct {
	// Args are a directory holding one CUE package, or CUE, JSON and YAML
	// files. No args means the current directory.
	Args []string
	// Inventory is the inventory file; "" means inventory.json beside the
	// policy.
	Inventory string
}

// loader holds the state of one Load: a fresh CUE context, so that nothing
// is shared between runs.
type loader struct {
	ctx    *cue.Context
	schema cue.Value
	// files are the token files of the user's CUE files, whose positions
	// the policy keeps.
	files []*token.File
}

// Load loads the policy and inventory that cfg names. The result is nil
// only when nothing could be evaluated; otherwise every qube without errors
// is decoded, and the errors of the others are returned alongside, so that
// later checks can report theirs too.
func Load(cfg Config) (*Policy, errors.Error) {
	l := newLoader()

	args := cfg.Args
	if len(args) == 0 {
		args = []string{"."}
	}
	dir, cueFiles, dataFiles, err := splitArgs(args)
	if err != nil {
		return nil, errors.Promote(err, "")
	}
	invPath := cfg.Inventory
	if invPath == "" {
		invPath = filepath.Join(dir, DefaultInventory)
	}
	inv, err := l.loadInventory(invPath)
	if err != nil {
		return nil, errors.Promote(err, "")
	}

	user, err := l.buildUser(dir, cueFiles, dataFiles, inv)
	if err != nil {
		return nil, loadErrors(err)
	}
	p, errs := l.decode(user)
	p.Inventory = inv
	l.release()
	return p, errs
}

// release lets the garbage collector have the syntax of the user's files
// once the policy is decoded. Each position the policy keeps holds its
// token file, and CUE's loader gives every token file the file system it
// was read through, which holds the loader's cache of parsed files: the
// syntax of the whole policy, about as large as the policy decoded, would
// otherwise stay live while the rules are compiled. Nothing after loading
// reads files through a position.
func (l *loader) release() {
	for _, f := range l.files {
		f.SetFSLoc(token.FSLoc{})
	}
}

// newLoader returns a loader with a fresh context and the schema.
func newLoader() *loader {
	l := &loader{ctx: cuecontext.New()}
	l.schema = l.ctx.CompileString(schema.Source(), cue.Filename(schema.Filename))
	if err := l.schema.Err(); err != nil {
		panic("qfw: embedded schema does not compile: " + err.Error())
	}
	return l
}

// LoadInventory reads and checks the inventory file at path, as Load
// does, for commands that need the inventory without a policy.
func LoadInventory(path string) (*Inventory, errors.Error) {
	inv, err := newLoader().loadInventory(path)
	if err != nil {
		return nil, errors.Promote(err, "")
	}
	return inv, nil
}

// ParseInventory checks data, the inventory file read from path, as
// LoadInventory does, for a caller that keeps the bytes it checked.
func ParseInventory(path string, data []byte) (*Inventory, errors.Error) {
	inv, err := newLoader().parseInventory(path, data)
	if err != nil {
		return nil, errors.Promote(err, "")
	}
	return inv, nil
}

// splitArgs sorts the arguments into a directory, CUE files and data files.
// dir is where the default inventory is looked for.
func splitArgs(args []string) (dir string, cueFiles, dataFiles []string, err error) {
	if len(args) == 1 {
		if fi, err := os.Stat(args[0]); err == nil && fi.IsDir() {
			return args[0], nil, nil, nil
		}
	}
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return "", nil, nil, fmt.Errorf("load policy: %s: %w", a, pathErr(err))
		}
		if fi.IsDir() {
			return "", nil, nil, fmt.Errorf("load policy: %s is a directory: give one directory, or files", a)
		}
		switch filepath.Ext(a) {
		case ".cue":
			cueFiles = append(cueFiles, a)
		case ".json", ".yaml", ".yml":
			dataFiles = append(dataFiles, a)
		default:
			return "", nil, nil, fmt.Errorf("load policy: %s: not a .cue, .json, .yaml or .yml file", a)
		}
	}
	return filepath.Dir(args[0]), cueFiles, dataFiles, nil
}

// buildUser evaluates the user's files, with the inventory in scope, but
// without the schema: positions found in this value are always the user's.
func (l *loader) buildUser(dir string, cueFiles, dataFiles []string, inv *Inventory) (cue.Value, error) {
	var user cue.Value
	if dataFiles == nil || cueFiles != nil {
		absDir, err := filepath.Abs(dir)
		if err != nil {
			return cue.Value{}, err
		}
		wholeDir := cueFiles == nil
		set, err := selectFiles(absDir, dir, absAll(cueFiles))
		if err != nil {
			return cue.Value{}, err
		}
		overlay := filepath.Join(absDir, inventoryOverlay)
		src := "// The inventory, added by qfw.\n\n"
		if set.pkg != "" {
			src += "package " + set.pkg + "\n\n"
		}
		src += "inventory: " + inv.cue() + "\n"
		cfg := &load.Config{
			Dir:     absDir,
			Overlay: map[string]load.Source{overlay: load.FromString(src)},
		}
		loadArgs := []string{"."}
		if !wholeDir || set.pkg == "" {
			// Files without a package clause make no package that a
			// directory can be loaded as: load them as files.
			loadArgs = append(slices.Clone(set.files), overlay)
		}
		insts := load.Instances(loadArgs, cfg)
		if err := insts[0].Err; err != nil {
			return cue.Value{}, err
		}
		if err := set.checkLoaded(insts[0], wholeDir); err != nil {
			return cue.Value{}, err
		}
		l.files = tokenFiles(insts[0], l.files, map[*build.Instance]bool{})
		user = l.ctx.BuildInstance(insts[0])
		if err := user.Err(); err != nil && !user.Exists() {
			return cue.Value{}, err
		}
	}
	for _, f := range dataFiles {
		v, err := l.buildData(f)
		if err != nil {
			return cue.Value{}, err
		}
		if user.Exists() {
			user = user.Unify(v)
		} else {
			user = v
		}
	}
	return user, nil
}

// buildData evaluates one JSON or YAML file, keeping its positions.
func (l *loader) buildData(path string) (cue.Value, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return cue.Value{}, fmt.Errorf("load policy: %s: %w", path, pathErr(err))
	}
	if filepath.Ext(path) == ".json" {
		expr, err := extractJSON(path, data)
		if err != nil {
			return cue.Value{}, err
		}
		v := l.ctx.BuildExpr(expr)
		if k := v.IncompleteKind(); k != cue.StructKind {
			return cue.Value{}, Errorf(v.Pos(), "", `a JSON policy file holds one object of policy fields, such as {"qubes": {...}}, not %s`, kindWord(k.String()))
		}
		return v, nil
	}
	f, err := yaml.Extract(path, data)
	if err != nil {
		return cue.Value{}, yamlError(path, data, err)
	}
	if err := duplicateKeys(f, "mapping"); err != nil {
		return cue.Value{}, err
	}
	v := l.ctx.BuildFile(f)
	pos := v.Pos()
	if !pos.IsValid() {
		pos = fileStart(path)
	}
	switch k := v.IncompleteKind(); {
	case k == cue.StructKind, k == cue.TopKind:
		// A mapping, or an empty file.
	case k == cue.ListKind && bytes.Contains(data, []byte("\n---")):
		return cue.Value{}, Errorf(pos, "", "a YAML policy file holds one document; this one holds several")
	default:
		return cue.Value{}, Errorf(pos, "", "a YAML policy file holds one mapping of policy fields, such as qubes: ..., not %s", kindWord(k.String()))
	}
	return v, nil
}

// tokenFiles appends the token files of inst's CUE files, and of the
// packages it imports, to out.
func tokenFiles(inst *build.Instance, out []*token.File, seen map[*build.Instance]bool) []*token.File {
	if seen[inst] {
		return out
	}
	seen[inst] = true
	for _, f := range inst.Files {
		if tf := f.Pos().File(); tf != nil {
			out = append(out, tf)
		}
	}
	for _, imp := range inst.Imports {
		out = tokenFiles(imp, out, seen)
	}
	return out
}

func absAll(paths []string) []string {
	if paths == nil {
		return nil
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			a = p
		}
		out[i] = a
	}
	return out
}

// yamlLine matches a YAML syntax error as CUE gives it: file:line: message.
var yamlLine = regexp.MustCompile(`^(.*):(\d+): (.*)$`)

// yamlError gives a YAML syntax error a position. The YAML parser tells
// only the line, so the column is where that line's text begins.
func yamlError(path string, data []byte, err error) error {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil || m[1] != path {
		return err
	}
	line, _ := strconv.Atoi(m[2])
	off := 0
	for n := 1; n < line && off < len(data); n++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			off = len(data)
			break
		}
		off += i + 1
	}
	f := token.NewFile(path, -1, len(data)+1)
	f.SetLinesForContent(data)
	for off < len(data) && (data[off] == ' ' || data[off] == '\t') {
		off++
	}
	return Errorf(f.Pos(off, token.NoRelPos), "", "invalid YAML: %s", m[3])
}

// loadErrors returns the errors of loading the user's files, each at its
// first position, with the message that CUE's loader wraps in its own
// ("import failed") told whole, and positions not repeated in the text.
func loadErrors(err error) errors.Error {
	var out errors.Error
	for _, e := range errors.Errors(err) {
		if _, ok := e.(*posError); ok {
			out = errors.Append(out, e)
			continue
		}
		ps := errors.Positions(e)
		msg := e.Error()
		for _, p := range ps {
			msg = strings.ReplaceAll(msg, p.String()+": ", "")
		}
		pos := token.NoPos
		if len(ps) > 0 {
			pos = ps[0]
		}
		out = errors.Append(out, Errorf(pos, "", "%s", scrub(msg)))
	}
	return out
}
