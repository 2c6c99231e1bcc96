package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/ir"
)

const planDoc = `plan compiles the policy and compares each managed qube's rule list with
the one dom0 holds now, and prints what applying the policy would change:
for each qube that changes, its rules in their new order, each marked

  + added      - removed      ~ kept

with the policy rule each new line comes from, then the qubes left as they
are and a summary line. Rules compare by meaning: a list read from dom0
whose options are in another order still matches. Order decides verdicts,
so a rule that moves is removed and added again.

The current lists come from the Admin API (the qubesd socket in dom0, or
qrexec-client-vm with --qrexec from a management qube) or, with --state,
from files, so that CI can plan without Qubes: a directory holding
QUBE.rules for each managed qube (the lines admin.vm.firewall.Get returns,
or the output of qfw compile -o), or a JSON file {"qubes": {"QUBE":
[lines]}}. (qvm-firewall --raw list leaves out dst4=0.0.0.0/0 and
dst6=::/0, so rules kept to one family show as changed.)

For a unikernel firewall qube, plan also shows the qube to create, or the
properties and features to fix, and the kernel image to install; it reads
those through the Admin API only, so a plan from --state leaves them out.

--json prints the plan as JSON, with a format_version; --out FILE saves it
so, with each qube's current list hashed (base_hash), to tell later whether
a list changed since the plan was made.

A qube whose list is not the one qfw apply last set (as recorded in
--data-dir) is marked as edited outside qfw.

The exit code is 0 when the plan succeeds and 1 on errors; with
--detailed-exitcode it is 0 when nothing changes, 1 on errors and 2 when
something changes.`

const planExamples = `  # In CI: plan against the lists exported from the machine.
  qfw plan --state state/ --detailed-exitcode

  # In dom0: plan against the lists in force.
  qfw plan policy/

  # In a management qube, as JSON, saving the plan.
  qfw plan --qrexec --json --out plan.json`

type planFlags struct {
	policyFlags
	admin            adminFlags
	state            string
	qube             string
	json             bool
	out              string
	detailedExitcode bool
	dataDir          string
}

func newPlanCmd() *cobra.Command {
	f := &planFlags{}
	cmd := &cobra.Command{
		Use:     "plan [DIR | FILE...]",
		Short:   "Show what applying the policy would change on each qube",
		Long:    planDoc,
		Example: planExamples,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlan(cmd, args, f)
		},
	}
	f.policyFlags.register(cmd)
	f.registerSkipTests(cmd)
	f.admin.register(cmd)
	f.admin.registerKernels(cmd)
	cmd.Flags().StringVar(&f.state, "state", "", "read the current lists from `PATH`, a directory of QUBE.rules files or a JSON file, instead of the Admin API")
	cmd.Flags().StringVar(&f.qube, "qube", "", "plan for the qube `NAME` only")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the plan as JSON")
	cmd.Flags().StringVar(&f.out, "out", "", "save the plan, as JSON, to `FILE`")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "where qfw apply records what it set, in `DIR`, to mark lists edited outside qfw (default $XDG_STATE_HOME/qfw or ~/.local/state/qfw)")
	cmd.Flags().BoolVar(&f.detailedExitcode, "detailed-exitcode", false, "exit 2 when the plan changes something, 0 when it does not")
	return cmd
}

// planFormatVersion is the version of plan's JSON; it changes when a
// field changes meaning or goes away.
const planFormatVersion = 1

// plan is what applying a policy would change.
type plan struct {
	FormatVersion int        `json:"format_version"`
	Qubes         []qubePlan `json:"qubes"`
	// Firewalls are the unikernel firewall qubes qfw provisions.
	Firewalls []firewallPlan `json:"firewalls,omitempty"`
	Summary   planSummary    `json:"summary"`
}

// qubePlan is one qube's part of a plan.
type qubePlan struct {
	Name  string `json:"name"`
	Netvm string `json:"netvm,omitempty"`
	// BaseHash is qubes.ListHash of the list the plan was made against.
	BaseHash string `json:"base_hash"`
	// EditedAt is when qfw last set the list, if it was edited outside
	// qfw since; nil if not, or if qfw has no record of it.
	EditedAt *time.Time `json:"edited_outside_qfw_since,omitempty"`
	Changed  bool       `json:"changed"`
	Edits    []planEdit `json:"edits"`
	// Rules is the new list, as admin.vm.firewall.Set would send it.
	Rules []string `json:"rules"`
}

type planEdit struct {
	Op       string `json:"op"`
	Line     string `json:"line"`
	Rule     string `json:"rule,omitempty"`
	Position string `json:"position,omitempty"`
}

type planSummary struct {
	Change    int `json:"change"`
	Unchanged int `json:"unchanged"`
	Add       int `json:"add"`
	Remove    int `json:"remove"`
	// Provision counts the unikernel firewall qubes to create or fix.
	Provision int `json:"provision,omitempty"`
}

// changes reports whether the plan changes anything.
func (s planSummary) changes() bool { return s.Change > 0 || s.Provision > 0 }

func runPlan(cmd *cobra.Command, args []string, f *planFlags) error {
	f.dataDir = dataDir(f.dataDir)
	p, err := policyPlan(cmd, args, f)
	if err != nil {
		return err
	}
	if f.out != "" {
		b, err := marshalPlan(p)
		if err != nil {
			return err
		}
		if err := writeFile(f.out, b); err != nil {
			return err
		}
	}
	if f.json {
		b, err := marshalPlan(p)
		if err != nil {
			return err
		}
		if _, err := cmd.OutOrStdout().Write(b); err != nil {
			return err
		}
	} else if err := printPlan(cmd.OutOrStdout(), p); err != nil {
		return err
	}
	if f.detailedExitcode && p.Summary.changes() {
		return errChanges
	}
	return nil
}

// policyPlan compiles the policy that args name and plans it against the
// current lists, as f says where to read them; plan and apply share it.
func policyPlan(cmd *cobra.Command, args []string, f *planFlags) (*plan, error) {
	f.policyFlags.qrexec = f.admin.qrexec
	res, err := build(cmd, args, &f.policyFlags, true)
	if err != nil {
		return nil, err
	}
	var managed []ir.Qube
	for _, q := range res.Program.Qubes {
		if f.qube == "" || q.Name == f.qube {
			managed = append(managed, q)
		}
	}
	if f.qube != "" && managed == nil && !slices.ContainsFunc(res.Program.Firewalls, func(fw ir.Firewall) bool {
		return fw.Name == f.qube && fw.Provision != nil
	}) {
		return nil, fmt.Errorf("--qube %s: no such qube in the policy", f.qube)
	}
	current, err := currentLists(cmd.Context(), f, managed)
	if err != nil {
		return nil, err
	}
	p := makePlan(managed, current)
	if err := markDrift(p, f.dataDir); err != nil {
		return nil, err
	}
	if err := planFirewalls(cmd, f, res.Program, p); err != nil {
		return nil, err
	}
	return p, nil
}

// planFirewalls adds to p the provisioning of the unikernel firewall
// qubes, read through the Admin API; with --state it says that it leaves
// them out.
func planFirewalls(cmd *cobra.Command, f *planFlags, prog *ir.Program, p *plan) error {
	var names []string
	for _, fw := range prog.Firewalls {
		if fw.Provision != nil && (f.qube == "" || f.qube == fw.Name) {
			names = append(names, fw.Name)
		}
	}
	if names == nil {
		return nil
	}
	if f.state != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "qfw: note: %s provisioned through the Admin API; a plan from --state leaves %s out\n",
			strings.Join(names, ", "), map[bool]string{true: "it", false: "them"}[len(names) == 1])
		return nil
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
	defer cancel()
	fps, err := f.admin.provisioner().plans(ctx, prog, f.qube)
	if err != nil {
		return err
	}
	p.Firewalls = fps
	for i := range fps {
		if fps[i].changes() {
			p.Summary.Provision++
		}
	}
	return nil
}

// currentLists returns the list each managed qube holds now, from the
// state files or the Admin API.
func currentLists(ctx context.Context, f *planFlags, managed []ir.Qube) (map[string][]string, error) {
	if f.state != "" {
		return readState(f.state, managed)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	client := f.admin.client()
	lists := make(map[string][]string, len(managed))
	for _, q := range managed {
		lines, err := client.FirewallGet(ctx, q.Name)
		if err != nil {
			return nil, fmt.Errorf("read the rules of %s: %w", q.Name, err)
		}
		lists[q.Name] = lines
	}
	return lists, nil
}

// readState reads the current lists from path: a directory holding
// QUBE.rules for each managed qube, or a JSON file. A managed qube
// missing from it is an error: a plan against a guess is worse than none.
func readState(path string, managed []ir.Qube) (map[string][]string, error) {
	lists, err := readStateLists(path)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, q := range managed {
		if _, ok := lists[q.Name]; !ok {
			missing = append(missing, q.Name)
		}
	}
	if missing != nil {
		return nil, fmt.Errorf("--state %s: no rule list for %s", path, strings.Join(missing, ", "))
	}
	return lists, nil
}

// readStateLists reads every list in path: the QUBE.rules files of a
// directory, or the qubes of a JSON file {"qubes": {"QUBE": [lines]}}.
func readStateLists(path string) (map[string][]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--state: %w", err)
	}
	lists := map[string][]string{}
	if !fi.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--state: %w", err)
		}
		var state struct {
			Qubes map[string][]string `json:"qubes"`
		}
		if err := json.Unmarshal(b, &state); err != nil {
			return nil, fmt.Errorf("--state %s: %w", path, err)
		}
		return state.Qubes, nil
	}
	files, err := filepath.Glob(filepath.Join(path, "*.rules"))
	if err != nil {
		return nil, fmt.Errorf("--state: %w", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("--state: %w", err)
		}
		lists[strings.TrimSuffix(filepath.Base(name), ".rules")] = stateLines(string(b))
	}
	return lists, nil
}

// stateLines splits a rule list file into its lines, leaving out blank
// ones.
func stateLines(s string) []string {
	var lines []string
	for l := range strings.Lines(s) {
		if l = strings.TrimRight(l, "\r\n"); strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// markDrift marks the qubes whose current list is not the one qfw apply
// last set, as its record in dir says: someone edited them outside qfw.
func markDrift(p *plan, dir string) error {
	record, err := readRecord(dir)
	if err != nil {
		return err
	}
	for i := range p.Qubes {
		q := &p.Qubes[i]
		if at, edited := record.editedSince(q.Name, q.BaseHash); edited {
			q.EditedAt = &at
		}
	}
	return nil
}

// makePlan compares each managed qube's compiled list with current.
func makePlan(managed []ir.Qube, current map[string][]string) *plan {
	p := &plan{FormatVersion: planFormatVersion, Qubes: []qubePlan{}}
	for _, q := range managed {
		cur := current[q.Name]
		canon := make([]string, len(cur))
		for i, l := range cur {
			canon[i] = qubes.Canonical(l)
		}
		want := make([]string, len(q.Rules))
		for i, r := range q.Rules {
			want[i] = qubes.FormatRule(r)
		}
		qp := qubePlan{Name: q.Name, Netvm: q.Netvm, BaseHash: qubes.ListHash(cur), Rules: want, Edits: []planEdit{}}
		for _, e := range qubes.Diff(canon, want) {
			pe := planEdit{Op: e.Op.Symbol(), Line: e.Line}
			switch e.Op {
			case qubes.AddRule:
				p.Summary.Add++
				qp.Changed = true
			case qubes.RemoveRule:
				p.Summary.Remove++
				qp.Changed = true
				pe.Line = cur[e.Index]
			}
			if e.Op != qubes.RemoveRule {
				o := q.Rules[e.Index].Origin
				pe.Rule = o.String()
				if o.Pos.IsValid() {
					pe.Position = relPos(o.Pos)
				}
			}
			qp.Edits = append(qp.Edits, pe)
		}
		if qp.Changed {
			p.Summary.Change++
		} else {
			p.Summary.Unchanged++
		}
		p.Qubes = append(p.Qubes, qp)
	}
	return p
}

func marshalPlan(p *plan) ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// printPlan writes p for a reader: each changed qube's edits, with the
// policy rule of every new line, then the unchanged qubes and the summary.
func printPlan(w io.Writer, p *plan) error {
	var b strings.Builder
	var unchanged []string
	for _, q := range p.Qubes {
		if !q.Changed {
			unchanged = append(unchanged, q.Name)
			continue
		}
		fmt.Fprintf(&b, "%s:", q.Name)
		if q.EditedAt != nil {
			fmt.Fprintf(&b, " (edited outside qfw since qfw set it at %s)", q.EditedAt.UTC().Format(time.RFC3339))
		}
		b.WriteByte('\n')
		width := 0
		for _, e := range q.Edits {
			if e.Rule != "" {
				width = max(width, len(e.Line))
			}
		}
		for _, e := range q.Edits {
			if e.Rule == "" {
				fmt.Fprintf(&b, "  %s %s\n", e.Op, e.Line)
				continue
			}
			fmt.Fprintf(&b, "  %s %-*s  # %s\n", e.Op, width, e.Line, e.Rule)
		}
		b.WriteByte('\n')
	}
	for _, fp := range p.Firewalls {
		printFirewallPlan(&b, &fp)
	}
	if unchanged != nil {
		slices.Sort(unchanged)
		fmt.Fprintf(&b, "Unchanged: %s.\n\n", strings.Join(unchanged, ", "))
	}
	s := p.Summary
	switch {
	case !s.changes():
		verb := "match"
		if s.Unchanged == 1 {
			verb = "matches"
		}
		fmt.Fprintf(&b, "No changes: %s %s the policy.\n", count(s.Unchanged, "qube"), verb)
	case s.Change == 0:
		fmt.Fprintf(&b, "Plan: %s to provision; %s unchanged.\n", count(s.Provision, "firewall qube"), count(s.Unchanged, "qube"))
	default:
		fmt.Fprintf(&b, "Plan: %s to change, %d unchanged; %s to add, %d to remove", count(s.Change, "qube"), s.Unchanged, count(s.Add, "rule"), s.Remove)
		if s.Provision > 0 {
			fmt.Fprintf(&b, "; %s to provision", count(s.Provision, "firewall qube"))
		}
		b.WriteString(".\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// count returns n and noun, made plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// printFirewallPlan writes what a plan does to a unikernel firewall qube,
// if anything.
func printFirewallPlan(b *strings.Builder, fp *firewallPlan) {
	if !fp.changes() {
		if k := fp.Kernel; k != nil && k.Dom0Step != "" {
			fmt.Fprintf(b, "%s (unikernel firewall %s): nothing to change; the kernel image %s is checked here, but dom0's copy is out of sight. If it is not installed yet, run in dom0:\n      %s\n\n", fp.Name, fp.Release, k.Path, k.Dom0Step)
		}
		return
	}
	fmt.Fprintf(b, "%s (unikernel firewall %s):\n", fp.Name, fp.Release)
	if k := fp.Kernel; k != nil {
		switch {
		case k.Install:
			fmt.Fprintf(b, "  + install the kernel image %s into %s (SHA-256 %s, checked)\n", k.Path, k.Target, k.SHA256)
		case k.Dom0Step != "":
			fmt.Fprintf(b, "  + in dom0, install the kernel image %s (SHA-256 %s, checked here):\n      %s\n", k.Path, k.SHA256, k.Dom0Step)
		}
	}
	for _, s := range fp.Steps {
		fmt.Fprintf(b, "  + %s\n", s.Text)
	}
	b.WriteByte('\n')
}
