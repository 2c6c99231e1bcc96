package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cueerrors "cuelang.org/go/cue/errors"
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/compiler/decompile"
	"github.com/qfw-dev/qfw/policy"
)

const importDoc = `import writes the rule lists qubes have now as a qfw policy: the way to
adopt qfw on a machine whose firewall is already set up with qvm-firewall
or the Qube Manager.

Each line of a qube's list becomes one rule, kept in place by its priority
(10, 20, 30, ...), so the policy compiles back to exactly the same lists:
order, destinations, ports, ICMP types, expiry and comments. import checks
that before it writes anything, by compiling what it wrote; a qube holding
a line the policy language cannot say is left out and reported, with the
reason. A rule that earlier rules leave without effect is kept, marked
shadowed: true.

The lists come from the Admin API (the qubesd socket in dom0, or
qrexec-client-vm with --qrexec from a management qube), which also gives the
inventory, written to --inventory (default DIR/inventory.json); or, with
--state, from files: a directory of QUBE.rules (the output of qvm-firewall
--raw list QUBE) or a JSON file {"qubes": {"QUBE": [lines]}}, with the
inventory read from --inventory (default DIR/inventory.json).

The policy goes to DIR/qubes.cue, or with --per-qube to one file per qube,
DIR/qube-NAME.cue. import does not overwrite files unless --force.`

const importExamples = `  # In dom0: import every qube's list, and the inventory.
  qfw import -o policy/

  # From exported lists, one file per qube.
  qfw import --state state/ --inventory inventory.json --per-qube -o policy/

  # Only two qubes, from a management qube.
  qfw import --qrexec --qube work --qube banking -o policy/`

type importFlags struct {
	admin     adminFlags
	state     string
	inventory string
	qubes     []string
	out       string
	perQube   bool
	pkg       string
	force     bool
}

func newImportCmd() *cobra.Command {
	f := &importFlags{}
	cmd := &cobra.Command{
		Use:     "import -o DIR",
		Short:   "Write the rule lists qubes have now as a policy that compiles back to them",
		Long:    importDoc,
		Example: importExamples,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd, f)
		},
	}
	f.admin.register(cmd)
	cmd.Flags().StringVar(&f.state, "state", "", "read the lists from `PATH`, a directory of QUBE.rules files or a JSON file, instead of the Admin API")
	cmd.Flags().StringVar(&f.inventory, "inventory", "", "the inventory `FILE`: read with --state, written from the Admin API otherwise (default DIR/inventory.json)")
	cmd.Flags().StringArrayVar(&f.qubes, "qube", nil, "import the qube `NAME` only (repeatable)")
	cmd.Flags().StringVarP(&f.out, "out", "o", "", "write the policy into `DIR`")
	cmd.Flags().BoolVar(&f.perQube, "per-qube", false, "write one file per qube, qube-NAME.cue, instead of qubes.cue")
	cmd.Flags().StringVar(&f.pkg, "package", "policy", "the CUE `NAME` of the policy's package")
	cmd.Flags().BoolVar(&f.force, "force", false, "overwrite files that exist")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// importHeader opens every file import writes.
const importHeader = `Imported by qfw import. Each rule is one line of the qube's list as it
was; the priorities keep the lines in their order.`

func runImport(cmd *cobra.Command, f *importFlags) error {
	if !policy.IsRuleName(f.pkg) || strings.ContainsAny(f.pkg, ".-") {
		return fmt.Errorf("--package %q is not a CUE package name", f.pkg)
	}
	lists, invJSON, err := importSource(cmd.Context(), f)
	if err != nil {
		return err
	}
	inv := &policy.InventoryFile{}
	if err := json.Unmarshal(invJSON, inv); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}

	var names []string
	if f.qubes != nil {
		for _, n := range f.qubes {
			if _, ok := lists[n]; !ok {
				return fmt.Errorf("--qube %s: no rule list for it", n)
			}
		}
		names = slices.Compact(slices.Sorted(slices.Values(f.qubes)))
	} else {
		names = slices.Sorted(maps.Keys(lists))
	}

	// Lines are read as qfw reads them; a qube with a line qfw refuses,
	// or that the inventory lacks, is left out.
	var problems []error
	var qubesIn []decompile.Qube
	want := map[string][]string{}
	for _, name := range names {
		if _, ok := inv.Qubes[name]; !ok {
			problems = append(problems, fmt.Errorf("qube %s: not in the inventory", name))
			continue
		}
		q := decompile.Qube{Name: name}
		bad := false
		for i, line := range lists[name] {
			r, err := qubes.ParseRule(line)
			if err != nil {
				problems = append(problems, fmt.Errorf("qube %s: rule %d: %s: %w", name, i+1, line, err))
				bad = true
				continue
			}
			q.Rules = append(q.Rules, r)
			want[name] = append(want[name], qubes.FormatRule(r))
		}
		if !bad {
			qubesIn = append(qubesIn, q)
		}
	}

	files, written, errs := importFiles(f, qubesIn, lists)
	problems = append(problems, errs...)
	if len(written) > 0 {
		warnings, err := verifyImport(files, invJSON, written, want)
		if err != nil {
			return err
		}
		if err := writeImport(f, files, invJSON); err != nil {
			return err
		}
		rules := 0
		for _, q := range written {
			rules += len(want[q])
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Imported %s (%s) into %s; each compiles back to its exact list.\n",
			count(len(written), "qube"), count(rules, "rule"), f.out)
		if warnings > 0 {
			vet := "qfw vet " + f.out
			if f.inventory != "" {
				vet += " --inventory " + f.inventory
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s shows %s about them.\n", vet, count(warnings, "warning"))
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(cmd.ErrOrStderr(), "qfw: not imported: %v\n", p)
		}
		return errPrinted
	}
	return nil
}

// importSource returns the lists to import and the inventory, as JSON.
func importSource(ctx context.Context, f *importFlags) (map[string][]string, []byte, error) {
	if f.state != "" {
		lists, err := readStateLists(f.state)
		if err != nil {
			return nil, nil, err
		}
		inv, err := os.ReadFile(inventoryPath(f))
		if err != nil {
			return nil, nil, fmt.Errorf("inventory: %w", err)
		}
		return lists, inv, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	client := f.admin.client()
	inv, err := client.Inventory(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the inventory: %w", err)
	}
	lists := map[string][]string{}
	for name := range inv.Qubes {
		if f.qubes != nil && !slices.Contains(f.qubes, name) {
			continue
		}
		lines, err := client.FirewallGet(ctx, name)
		if err != nil {
			return nil, nil, fmt.Errorf("read the rules of %s: %w", name, err)
		}
		lists[name] = lines
	}
	b, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return lists, append(b, '\n'), nil
}

// importFiles returns the files to write, by name, and the qubes they
// hold, in order. A qube with a line the policy cannot say is left out.
func importFiles(f *importFlags, qs []decompile.Qube, lists map[string][]string) (files map[string][]byte, written []string, problems []error) {
	files = map[string][]byte{}
	add := func(name string, group []decompile.Qube) {
		b, err := decompile.File(f.pkg, importHeader, group)
		for _, e := range unjoin(err) {
			var re *decompile.RuleError
			if errors.As(e, &re) && re.Index < len(lists[re.Qube]) {
				e = fmt.Errorf("qube %s: rule %d: %s: %s", re.Qube, re.Index+1, lists[re.Qube][re.Index], re.Reason)
			}
			problems = append(problems, e)
		}
		skipped := map[string]bool{}
		for _, e := range unjoin(err) {
			var re *decompile.RuleError
			if errors.As(e, &re) {
				skipped[re.Qube] = true
			}
		}
		kept := 0
		for _, q := range group {
			if !skipped[q.Name] {
				written = append(written, q.Name)
				kept++
			}
		}
		if kept > 0 {
			files[name] = b
		}
	}
	if f.perQube {
		for _, q := range qs {
			add("qube-"+q.Name+".cue", []decompile.Qube{q})
		}
	} else if len(qs) > 0 {
		add("qubes.cue", qs)
	}
	return files, written, problems
}

// unjoin returns the errors err joins, or err alone.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// verifyImport compiles the files in a directory of their own and checks
// that each qube in qubes compiles to exactly the lines want holds. It
// returns the number of warnings the compiler had.
func verifyImport(files map[string][]byte, inv []byte, qubeNames []string, want map[string][]string) (warnings int, err error) {
	dir, err := os.MkdirTemp("", "qfw-import-*")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	files = maps.Clone(files)
	files[policy.DefaultInventory] = inv
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return 0, err
		}
	}
	p, errs := policy.Load(policy.Config{Args: []string{dir}})
	if errs != nil {
		return 0, fmt.Errorf("internal error: the imported policy does not load: %v", cueerrors.Details(errs, nil))
	}
	// Expired rules compile as they are, with a warning, whatever the time.
	res, cerrs := compiler.Compile(p, compiler.Options{Now: time.Now()})
	if cerrs != nil {
		return 0, fmt.Errorf("internal error: the imported policy does not compile: %v", cueerrors.Details(cerrs, nil))
	}
	got := map[string][]string{}
	for _, q := range res.Program.Qubes {
		for _, r := range q.Rules {
			got[q.Name] = append(got[q.Name], qubes.FormatRule(r))
		}
	}
	for _, name := range qubeNames {
		if !slices.Equal(got[name], want[name]) {
			return 0, fmt.Errorf("internal error: the imported policy compiles qube %s to\n  %s\nnot to\n  %s",
				name, strings.Join(got[name], "\n  "), strings.Join(want[name], "\n  "))
		}
	}
	return len(res.Warnings), nil
}

// writeImport writes the files into the output directory, and the
// inventory when it was read live, refusing to overwrite any file unless
// --force; it checks them all before it writes one.
func writeImport(f *importFlags, files map[string][]byte, inv []byte) error {
	paths := map[string][]byte{}
	for name, b := range files {
		paths[filepath.Join(f.out, name)] = b
	}
	if f.state == "" {
		paths[inventoryPath(f)] = inv
	}
	names := slices.Sorted(maps.Keys(paths))
	if !f.force {
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
		if err := writeFile(n, paths[n]); err != nil {
			return err
		}
	}
	return nil
}

// inventoryPath is where the inventory is read from, or written to when it
// is read live.
func inventoryPath(f *importFlags) string {
	if f.inventory != "" {
		return f.inventory
	}
	return filepath.Join(f.out, policy.DefaultInventory)
}
