package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	cueerrors "cuelang.org/go/cue/errors"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/compiler/decompile"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/words"
	"github.com/qfw-dev/qfw/policy"
)

// importHeader opens every file import writes.
const importHeader = `Imported by qfw import. Each rule is one line of the qube's list as it
was; the priorities keep the lines in their order.`

// ImportOptions say what Import reads and where it writes the policy.
type ImportOptions struct {
	// Admin reaches the Admin API, when State is empty.
	Admin Admin
	// State is a directory of QUBE.rules files or a JSON state file to
	// read the lists from instead of the Admin API.
	State string
	// Inventory is the inventory file: read with State, written from the
	// Admin API otherwise; empty means inventory.json in Out.
	Inventory string
	// Qubes limits the import to these qubes.
	Qubes []string
	// Firewalls give the backend of firewall qubes, NAME=BACKEND each.
	Firewalls []string
	// Out is the directory the policy goes to.
	Out string
	// PerQube writes one file per qube rather than qubes.cue.
	PerQube bool
	// Package is the CUE package name of the policy.
	Package string
	// Force overwrites files that exist.
	Force bool
}

// ImportResult is what Import imported, and what it left out.
type ImportResult struct {
	// Problems say, for each qube left out, why.
	Problems []error
	// Written names the qubes imported.
	Written []string
	im      *importer
}

// WriteSummary writes what was imported, and whether the lines came back
// as they were read or in canonical form; nothing if no qube was.
func (r *ImportResult) WriteSummary(w io.Writer) error {
	if len(r.Written) == 0 {
		return nil
	}
	var b strings.Builder
	r.im.summary(&b, r.Written)
	_, err := io.WriteString(w, b.String())
	return err
}

// Import reads the lists qubes have now, from the Admin API or state
// files as f says, and writes them as a policy that compiles back to them
// into f.Out, with the inventory when it is read live. A qube that cannot
// be imported is left out, and the result says why. An error in the
// inventory file is a cue errors.Error, at its place in the file. The
// result is nil on an error, unless the error came as the files were
// written.
func Import(ctx context.Context, f *ImportOptions) (*ImportResult, error) {
	if err := decompile.CheckPackage(f.Package); err != nil {
		return nil, fmt.Errorf("--package: %w", err)
	}
	// The inventory import writes is JSON: as a .cue file beside the
	// policy it would join the policy's package, or take the place of
	// one of its files.
	if inv := inventoryPath(f); f.State == "" && filepath.Ext(inv) == ".cue" && filepath.Clean(filepath.Dir(inv)) == filepath.Clean(f.Out) {
		return nil, fmt.Errorf("--inventory %s: a .cue file beside the policy would join its package; write the inventory to %s", inv, filepath.Join(f.Out, policy.DefaultInventory))
	}
	firewalls, err := parseFirewalls(f.Firewalls)
	if err != nil {
		return nil, err
	}
	lists, invJSON, err := importSource(ctx, f)
	if err != nil {
		return nil, err
	}
	inv := &policy.InventoryFile{}
	if err := json.Unmarshal(invJSON, inv); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	for _, fw := range firewalls {
		e, ok := inv.Qubes[fw.Name]
		switch {
		case fw.Backend == "mirage":
			// qfw provisions a unikernel firewall qube: it may be yet to
			// create.
		case !ok:
			return nil, fmt.Errorf("--firewall %s=%s: qube %s is not in the inventory", fw.Name, fw.Backend, fw.Name)
		case !e.ProvidesNetwork:
			return nil, fmt.Errorf("--firewall %s=%s: qube %s does not provide network, so it enforces no firewall", fw.Name, fw.Backend, fw.Name)
		}
	}
	names := slices.Sorted(maps.Keys(lists))
	if f.Qubes != nil {
		for _, n := range f.Qubes {
			if _, ok := lists[n]; !ok {
				return nil, fmt.Errorf("--qube %s: no rule list for it", n)
			}
		}
		names = slices.Compact(slices.Sorted(slices.Values(f.Qubes)))
	}

	// Lines are read as qfw reads them. A qube whose name, inventory entry
	// or lines qfw refuses is left out, and so is one whose policy does
	// not compile back to its list.
	im := &importer{flags: f, inv: invJSON, lists: lists, firewalls: firewalls, want: map[string][]string{}, names: map[string]map[string]int{}, caller: "dom0"}
	if f.Admin.Qrexec {
		// dom0 writes the management qube's name into the request.
		im.caller = ""
	}
	var qs []decompile.Qube
	for _, name := range names {
		if q, ok := im.read(name, inv); ok {
			qs = append(qs, q)
		}
	}
	files, written, err := im.converge(qs)
	if err != nil {
		return nil, err
	}
	res := &ImportResult{Problems: im.problems, Written: written, im: im}
	if len(written) > 0 {
		if err := writeImport(f, files, invJSON); err != nil {
			return res, err
		}
	}
	return res, nil
}

// importer is one import's progress.
type importer struct {
	flags     *ImportOptions
	inv       []byte
	lists     map[string][]string
	firewalls []decompile.Firewall
	// want holds each qube's lines as qfw writes them, which the policy
	// must compile back to.
	want map[string][]string
	// names holds, for each qube, the index of each rule by the name the
	// policy gives it.
	names map[string]map[string]int
	// caller is who sends the lists to qubesd, for its size limit: dom0,
	// or "" for a management qube, whose name qfw does not know.
	caller   string
	problems []error
	warnings int
}

// read parses one qube's list, or reports why the qube cannot be
// imported.
func (im *importer) read(name string, inv *policy.InventoryFile) (decompile.Qube, bool) {
	if !policy.IsQubeName(name) {
		im.problems = append(im.problems, fmt.Errorf("%q is not a Qubes name", name))
		return decompile.Qube{}, false
	}
	if _, ok := inv.Qubes[name]; !ok {
		im.problems = append(im.problems, fmt.Errorf("qube %s: not in the inventory", name))
		return decompile.Qube{}, false
	}
	q := decompile.Qube{Name: name}
	if netvm, ok := inv.Qubes[inv.Qubes[name].Netvm]; ok && netvm.Netvm != "" {
		// The policy is compiled back with the stock agent: behind a
		// firewall qube with a netvm, the DNS target is Qubes' servers.
		q.DNS = compiler.QubesDNS()
	}
	ok := true
	for i, line := range im.lists[name] {
		r, err := qubes.ParseRule(line)
		if err != nil {
			im.problems = append(im.problems, fmt.Errorf("qube %s: rule %d: %s: %w", name, i+1, line, err))
			ok = false
			continue
		}
		q.Rules = append(q.Rules, r)
		im.want[name] = append(im.want[name], qubes.FormatRule(r))
	}
	im.names[name] = map[string]int{}
	for i, n := range decompile.RuleNames(q.Rules) {
		im.names[name][n] = i
	}
	return q, ok
}

// converge writes the qubes as policy files and checks that the policy
// compiles back to their lists; a qube that does not is left out, with the
// reason, and the rest are checked again. It returns the files and the
// qubes they hold.
func (im *importer) converge(qs []decompile.Qube) (map[string][]byte, []string, error) {
	for {
		files, written, err := im.files(qs)
		if err != nil || len(written) == 0 {
			return files, written, err
		}
		// The qubes files left out are out for good, and said so once.
		qs = slices.DeleteFunc(qs, func(q decompile.Qube) bool { return !slices.Contains(written, q.Name) })
		failed, err := im.verify(files, written)
		if err != nil {
			return nil, nil, err
		}
		if len(failed) == 0 {
			return files, written, nil
		}
		qs = slices.DeleteFunc(qs, func(q decompile.Qube) bool {
			if reason, ok := failed[q.Name]; ok {
				im.problems = append(im.problems, fmt.Errorf("qube %s: %s", q.Name, reason))
				return true
			}
			return false
		})
	}
}

// files returns the files to write, by name, and the qubes they hold, in
// order. A qube with a line the policy cannot say is left out.
func (im *importer) files(qs []decompile.Qube) (map[string][]byte, []string, error) {
	files := map[string][]byte{}
	var written []string
	add := func(name string, group []decompile.Qube) error {
		b, err := decompile.File(im.flags.Package, importHeader, im.firewalls, group)
		skipped := map[string]bool{}
		for _, e := range flatten(err) {
			var re *decompile.RuleError
			if !errors.As(e, &re) {
				return e // a bug, not a line
			}
			skipped[re.Qube] = true
			line := ""
			if re.Index < len(im.lists[re.Qube]) {
				line = im.lists[re.Qube][re.Index] + ": "
			}
			im.problems = append(im.problems, fmt.Errorf("qube %s: rule %d: %s%s", re.Qube, re.Index+1, line, re.Reason))
		}
		kept := false
		for _, q := range group {
			if !skipped[q.Name] {
				written = append(written, q.Name)
				kept = true
			}
		}
		if kept {
			files[name] = b
		}
		return nil
	}
	if im.flags.PerQube {
		// Qube names differ in case alone where file names may not.
		folded := map[string]string{}
		for _, q := range qs {
			if o, ok := folded[strings.ToLower(q.Name)]; ok {
				return nil, nil, fmt.Errorf("--per-qube: qubes %s and %s would go to files whose names differ only in case, which a case-insensitive file system keeps as one; import them into one file, without --per-qube", o, q.Name)
			}
			folded[strings.ToLower(q.Name)] = q.Name
		}
		for _, q := range qs {
			if err := add("qube-"+q.Name+".cue", []decompile.Qube{q}); err != nil {
				return nil, nil, err
			}
		}
	} else if len(qs) > 0 {
		if err := add("qubes.cue", qs); err != nil {
			return nil, nil, err
		}
	}
	return files, written, nil
}

// verify loads and compiles the files, with the inventory, in a directory
// of their own, as qfw compile would, under the firewalls' backends, and
// returns, for each of the qubes that does not compile back to exactly its
// lines, why: at the first rule that does not, where there is one. An
// error that belongs to no qube is returned as an error.
func (im *importer) verify(files map[string][]byte, qubeNames []string) (map[string]string, error) {
	dir, err := os.MkdirTemp("", "qfw-import-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	files = maps.Clone(files)
	files[policy.DefaultInventory] = im.inv
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	failed := map[string]string{}
	fail := func(errs []cueerrors.Error) error {
		for _, e := range errs {
			p := e.Path()
			if len(p) >= 2 && p[0] == "firewalls" {
				return fmt.Errorf("--firewall: %s", diagMessage(e))
			}
			if len(p) < 2 || p[0] != "qubes" {
				return fmt.Errorf("internal error: the imported policy does not compile: %v", cueerrors.Details(e, nil))
			}
			name := unquote(p[1])
			if _, ok := failed[name]; ok {
				continue
			}
			if len(p) >= 4 {
				if i, ok := im.names[name][unquote(p[3])]; ok {
					failed[name] = im.ruleReason(name, i, diagMessage(e))
					continue
				}
			}
			failed[name] = "its policy would not compile: " + diagMessage(e)
		}
		return nil
	}
	p, errs := policy.Load(policy.Config{Args: []string{dir}})
	if p == nil {
		return nil, fmt.Errorf("internal error: the imported policy does not load: %v", cueerrors.Details(errs, nil))
	}
	if err := fail(cueerrors.Errors(errs)); err != nil {
		return nil, err
	}
	// Expired rules compile as they are, with a warning, whatever the time.
	now := time.Now()
	res, cerrs := compiler.Compile(p, compiler.Options{Now: now})
	if err := fail(cueerrors.Errors(cerrs)); err != nil {
		return nil, err
	}
	// What a unikernel firewall refuses of its clients' lists, or would
	// reorder, as compile does.
	_, merrs, mwarnings := prepareMirage(res.Program, now.Unix())
	if err := fail(merrs); err != nil {
		return nil, err
	}
	got := map[string][]string{}
	netvm := map[string]string{}
	for _, q := range res.Program.Qubes {
		// What compile refuses, such as a request over qubesd's size
		// limit from the caller import reads the lists as, import must
		// not write either.
		if err := fail(qubes.CheckFrom(q, im.caller)); err != nil {
			return nil, err
		}
		netvm[q.Name] = q.Netvm
		got[q.Name] = []string{}
		for _, r := range q.Rules {
			got[q.Name] = append(got[q.Name], qubes.FormatRule(r))
		}
	}
	for _, name := range qubeNames {
		if _, ok := failed[name]; ok || slices.Equal(got[name], im.want[name]) || isEmptyList(im.want[name], got[name]) {
			continue
		}
		failed[name] = im.mismatch(name, got[name], netvm[name], res.Program)
	}
	im.warnings = len(res.Warnings) + len(mwarnings)
	return failed, nil
}

// isEmptyList says whether want, a list, is empty and got is what a qube
// without rules compiles to: one line that drops everything, as dom0 sets
// no empty list, and enforces an empty one as dropping everything.
func isEmptyList(want, got []string) bool {
	return len(want) == 0 && slices.Equal(got, []string{emptyListLine})
}

// emptyListLine is the list compile writes for a qube without rules.
const emptyListLine = "action=drop comment=no-rules"

// mismatch says why qube name's policy compiles to got rather than its
// list: at the first line that differs, where a backend writes lists in a
// form of its own.
func (im *importer) mismatch(name string, got []string, netvm string, prog *ir.Program) string {
	want := im.want[name]
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	if i == len(want) {
		return "its policy would compile to another list; this is a bug in qfw"
	}
	instead := "nothing"
	if i < len(got) {
		instead = fmt.Sprintf("%q", got[i])
	}
	backend := ir.QubesAgent
	for _, fw := range prog.Firewalls {
		if fw.Name == netvm {
			backend = fw.Backend
		}
	}
	why := "this is a bug in qfw"
	switch {
	case backend == ir.Mirage:
		why = fmt.Sprintf("behind the unikernel firewall %s qfw writes lists in the unikernel's form: the rules it must read before any IPv6 rule, whose gap in dom0's numbering stops it reading, and an ICMP type as one rule per family", netvm)
	case backend == ir.Nftables && isFamilyLessICMPType(want[i]):
		why = fmt.Sprintf("behind %s, whose nftables backend reads an ICMP type in a rule for both families as its ICMPv6 counterpart in IPv6 (not the number the Linux agent compares), qfw writes an ICMP type as one rule per family", netvm)
	}
	return im.ruleReason(name, i, fmt.Sprintf("its policy would compile to another list from this rule on, with %s in its place: %s", instead, why))
}

// isFamilyLessICMPType says whether line, as qfw writes it, is an ICMP
// type for both families: without a destination of one family or a host
// name.
func isFamilyLessICMPType(line string) bool {
	r, err := qubes.ParseRule(line)
	return err == nil && r.HasICMPType && r.Dst.Host == "" && r.Dst.Family() == 0
}

// ruleReason says why rule i of qube name's list cannot be imported.
func (im *importer) ruleReason(name string, i int, reason string) string {
	line := ""
	if i < len(im.lists[name]) {
		line = im.lists[name][i] + ": "
	}
	return fmt.Sprintf("rule %d: %s%s", i+1, line, reason)
}

// unquote returns a path element as the name it stands for.
func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// parseFirewalls parses the --firewall flags, NAME=BACKEND each.
func parseFirewalls(flags []string) ([]decompile.Firewall, error) {
	var out []decompile.Firewall
	seen := map[string]bool{}
	for _, fl := range flags {
		name, backend, ok := strings.Cut(fl, "=")
		if !ok || !policy.IsQubeName(name) {
			return nil, fmt.Errorf("--firewall %q: want NAME=BACKEND, such as sys-firewall=nftables", fl)
		}
		if seen[name] {
			return nil, fmt.Errorf("--firewall %q: %s is given twice", fl, name)
		}
		seen[name] = true
		fw := decompile.Firewall{Name: name, Backend: backend}
		switch {
		case backend == "qubes" || backend == "nftables":
		case backend == "mirage" || strings.HasPrefix(backend, "mirage:"):
			fw.Backend, fw.MirageVersion = "mirage", strings.TrimPrefix(strings.TrimPrefix(backend, "mirage"), ":")
			if fw.MirageVersion == "" {
				fw.MirageVersion = mirage.Latest
			}
			if _, err := mirage.LookupRelease(fw.MirageVersion); err != nil {
				return nil, fmt.Errorf("--firewall %q: %w", fl, err)
			}
		default:
			return nil, fmt.Errorf("--firewall %q: the backend is qubes, nftables or mirage:VERSION", fl)
		}
		out = append(out, fw)
	}
	slices.SortFunc(out, func(a, b decompile.Firewall) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// summary says what was imported, and whether the lines came back as they
// were read or in canonical form.
func (im *importer) summary(w io.Writer, written []string) {
	rules, reformed := 0, 0
	for _, q := range written {
		rules += len(im.want[q])
		for i, l := range im.lists[q] {
			if l != im.want[q][i] {
				reformed++
			}
		}
	}
	how := "each compiles back to its exact list."
	if rules == 0 {
		how = "each blocks all traffic, as its empty list does."
	}
	if reformed > 0 {
		// As dom0 writes ports (LO-HI) and addresses (with their prefix
		// length), and IPv6 in lower case, which dom0 keeps as typed;
		// plan compares lines as they parse.
		how = fmt.Sprintf("each compiles back to its list, %s in canonical form rather than as read, which plan counts as unchanged.", words.Count(reformed, "line"))
	}
	fmt.Fprintf(w, "Imported %s (%s) into %s; %s\n", words.Count(len(written), "qube"), words.Count(rules, "rule"), im.flags.Out, how)
	for _, q := range written {
		if len(im.want[q]) == 0 {
			fmt.Fprintf(w, "Qube %s holds an empty list, which blocks all its traffic; its policy has no rules, which blocks it too, and compiles to %q, as dom0 takes no empty list: qfw plan shows that line to add.\n", q, emptyListLine)
		}
	}
	if im.warnings > 0 {
		vet := "qfw vet " + im.flags.Out
		if im.flags.Inventory != "" {
			vet += " --inventory " + im.flags.Inventory
		}
		fmt.Fprintf(w, "%s shows %s about them.\n", vet, words.Count(im.warnings, "warning"))
	}
}

// importSource returns the lists to import and the inventory, as JSON.
func importSource(ctx context.Context, f *ImportOptions) (map[string][]string, []byte, error) {
	if f.State != "" {
		lists, err := readStateLists(f.State)
		if err != nil {
			return nil, nil, err
		}
		if len(lists) == 0 {
			return nil, nil, fmt.Errorf("--state %s holds no rule list: a directory of QUBE.rules files, or a JSON file {\"qubes\": {\"QUBE\": [lines]}}", f.State)
		}
		// Read once: the bytes checked are the bytes imported. The
		// inventory's mistakes are the user's, at its own lines.
		path := inventoryPath(f)
		inv, err := policy.ReadInventoryFile(path)
		if err != nil {
			return nil, nil, err
		}
		if _, errs := policy.ParseInventory(path, inv); errs != nil {
			return nil, nil, errs
		}
		return lists, inv, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	client := f.Admin.Client()
	// What qubesd says is checked as an inventory file is, before import
	// writes it as one.
	inv, b, err := readInventory(ctx, client)
	if err != nil {
		return nil, nil, err
	}
	lists := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(inv.Qubes)) {
		if f.Qubes != nil && !slices.Contains(f.Qubes, name) {
			continue
		}
		lines, err := client.FirewallGet(ctx, name)
		if err != nil {
			return nil, nil, fmt.Errorf("read the rules of %s: %w", name, err)
		}
		lists[name] = lines
	}
	return lists, b, nil
}

// writeImport writes the files into the output directory, and the
// inventory when it was read live, refusing to overwrite any file unless
// --force; it checks them all before it writes one.
func writeImport(f *ImportOptions, files map[string][]byte, inv []byte) error {
	paths := map[string][]byte{}
	for name, b := range files {
		paths[filepath.Join(f.Out, name)] = b
	}
	if f.State == "" {
		paths[inventoryPath(f)] = inv
	}
	names := slices.Sorted(maps.Keys(paths))
	// Other CUE files would join the imported policy's package.
	others, _ := filepath.Glob(filepath.Join(f.Out, "*.cue"))
	others = slices.DeleteFunc(others, func(p string) bool {
		_, ours := paths[p]
		// CUE loads no file whose name starts with "_" or ".".
		return ours || strings.HasPrefix(filepath.Base(p), "_") || strings.HasPrefix(filepath.Base(p), ".")
	})
	if len(others) > 0 {
		return fmt.Errorf("%s already holds %s, which would join the imported policy; import into a directory of its own", f.Out, strings.Join(others, ", "))
	}
	if !f.Force {
		var exist []string
		for _, n := range names {
			if _, err := os.Stat(n); err == nil {
				exist = append(exist, n)
			}
		}
		if exist != nil {
			return fmt.Errorf("%s already exist%s; use --force to overwrite", strings.Join(exist, ", "), map[bool]string{true: "s"}[len(exist) == 1])
		}
	}
	for _, n := range names {
		if err := os.MkdirAll(filepath.Dir(n), 0o755); err != nil {
			return fmt.Errorf("write the policy: %w", err)
		}
		if err := WriteFile(n, paths[n]); err != nil {
			return err
		}
	}
	return nil
}

// inventoryPath is where the inventory is read from, or written to when it
// is read live.
func inventoryPath(f *ImportOptions) string {
	if f.Inventory != "" {
		return f.Inventory
	}
	return filepath.Join(f.Out, policy.DefaultInventory)
}
