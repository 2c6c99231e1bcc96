package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
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
dst6=::/0, so rules kept to one family show as changed.) Each line, from
a file or from dom0, is read with dom0's own grammar: one dom0 would refuse
is an error at its file and line (and column, in JSON); one dom0 takes but
qfw would never write (host bits set, a port written +80) is in force all
the same, so the plan removes it and says where it is and why. With
--state, --qrexec says that a management qube will set the lists: each is
then checked against qubesd's request limit for the longest name such a
qube can have, not for dom0.

apply tags each qube whose list it manages qfw-managed. plan lists the
managed qubes not tagged yet (apply tags them), and each tagged qube that
the policy no longer names: it has left the policy, and keeps the list qfw
last set until qfw apply --release or --reset says what to do with it;
until then it counts as a change for --detailed-exitcode. The summary also
names the networked qubes of the inventory (those with a netvm) that the
policy does not manage. The tags come from the Admin API
(admin.vm.List and admin.vm.tag.List) or, with --state, from the
inventory's tags, which qfw inventory writes.

For a unikernel firewall qube, plan also shows the qube to create, or the
properties and features to fix, and the kernel image to install; it reads
those through the Admin API only, so a plan from --state leaves them out.

--json prints the plan as JSON, with a format_version; --out FILE saves it
so, with each qube's current list hashed (base_hash), to tell later whether
a list changed since the plan was made. qfw apply --plan FILE applies it
exactly as it shows, or refuses it.

A qube whose list is not the one qfw apply last set (as recorded in
--data-dir) is marked as edited outside qfw. A record that does not read
is an error at its line and column, never taken for no record.

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
	// Left names the qubes qfw set a list on (tagged qfw-managed) that
	// the policy no longer names: their lists are kept.
	Left []string `json:"left,omitempty"`
	// Unmanaged names the networked qubes of the inventory (those with a
	// netvm) that the policy does not manage, so that a reviewer sees
	// what the policy leaves out.
	Unmanaged []string    `json:"unmanaged,omitempty"`
	Summary   planSummary `json:"summary"`
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
	// Mark says the qube is not tagged qfw-managed yet: apply tags it.
	Mark  bool       `json:"mark,omitempty"`
	Edits []planEdit `json:"edits"`
	// Rules is the new list, as admin.vm.firewall.Set would send it.
	Rules []string `json:"rules"`
}

type planEdit struct {
	Op       string `json:"op"`
	Line     string `json:"line"`
	Rule     string `json:"rule,omitempty"`
	Position string `json:"position,omitempty"`
	// Note says, of a current line that qfw would never write, where it
	// is and why qfw would not write it.
	Note string `json:"note,omitempty"`
}

// editCounts returns how many lines q's edits add and remove.
func (q qubePlan) editCounts() (add, remove int) {
	for _, e := range q.Edits {
		switch e.Op {
		case qubes.AddRule.Symbol():
			add++
		case qubes.RemoveRule.Symbol():
			remove++
		}
	}
	return add, remove
}

type planSummary struct {
	Change    int `json:"change"`
	Unchanged int `json:"unchanged"`
	Add       int `json:"add"`
	Remove    int `json:"remove"`
	// Provision counts the unikernel firewall qubes to create or fix.
	Provision int `json:"provision,omitempty"`
	// Left counts the qubes that left the policy; Unmanaged the networked
	// qubes it does not manage.
	Left      int `json:"left,omitempty"`
	Unmanaged int `json:"unmanaged,omitempty"`
	// Mark counts the managed qubes apply tags qfw-managed.
	Mark int `json:"mark,omitempty"`
}

// managedTag marks each qube whose list qfw apply set; dom0's qrexec
// policy may use it too (@tag:qfw-managed) to let a management qube set
// only those qubes' lists.
const managedTag = "qfw-managed"

// changes reports whether the plan changes anything, or needs a decision:
// a qube that left the policy keeps a list nobody reviews.
func (s planSummary) changes() bool { return s.work() || s.Left > 0 }

// checkPlanOut checks that --out, if it exists, is a plan qfw saved, of
// any format: given the policy, the inventory or a state file in its
// place, plan would replace it.
func checkPlanOut(path string) error {
	return checkOutFile(path, "a plan qfw saved, which is all plan replaces", "plan --json writes the plan to the standard output", func(root *jsonValue) bool {
		return root.fields["format_version"] != nil && root.fields["qubes"] != nil && root.fields["summary"] != nil
	})
}

// work reports whether applying the plan changes anything.
func (s planSummary) work() bool { return s.Change > 0 || s.Provision > 0 || s.Mark > 0 }

func runPlan(cmd *cobra.Command, args []string, f *planFlags) error {
	f.dataDir = dataDir(f.dataDir)
	if err := checkPlanOut(f.out); err != nil {
		return err
	}
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
	// A list for a qube the inventory does not know says the state and
	// the inventory are from different times, or machines.
	for _, name := range slices.Sorted(maps.Keys(current)) {
		if _, ok := res.Inventory.Qubes[name]; !ok && f.state != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "qfw: warning: %s: qube %s is not in the inventory; plan leaves its list out\n", current[name].at, name)
		}
	}
	p := makePlan(managed, current)
	if err := markDrift(p, f.dataDir); err != nil {
		return nil, err
	}
	if err := planCoverage(cmd.Context(), f, res.Program, res.Inventory, p); err != nil {
		return nil, err
	}
	if err := planFirewalls(cmd, f, res.Program, p); err != nil {
		return nil, err
	}
	p.Summary = summarise(p)
	return p, nil
}

// planCoverage marks in p the managed qubes not yet tagged qfw-managed,
// which apply tags, and adds the qubes tagged so that the policy no longer
// names, and the networked qubes of the inventory that it does not manage.
// The tags are read through the Admin API, or with --state from the
// inventory (qfw inventory writes them). A plan for one qube says nothing
// of the others.
func planCoverage(ctx context.Context, f *planFlags, prog *ir.Program, inv *policy.Inventory, p *plan) error {
	var tagged []string
	if f.state != "" {
		for _, name := range inv.Names() {
			if slices.Contains(inv.Qubes[name].Tags, managedTag) {
				tagged = append(tagged, name)
			}
		}
	} else {
		var err error
		if tagged, err = taggedQubes(ctx, f.admin.client()); err != nil {
			return err
		}
	}
	for i := range p.Qubes {
		p.Qubes[i].Mark = !slices.Contains(tagged, p.Qubes[i].Name)
	}
	if f.qube != "" {
		return nil
	}
	inPolicy := make(map[string]bool, len(prog.Qubes))
	for _, q := range prog.Qubes {
		inPolicy[q.Name] = true
	}
	for _, name := range tagged {
		if !inPolicy[name] {
			p.Left = append(p.Left, name)
		}
	}
	// A firewall qube the policy names, or that serves a managed qube,
	// is the policy's even though its own list is not.
	for _, fw := range prog.Firewalls {
		inPolicy[fw.Name] = true
	}
	for _, name := range inv.Names() {
		if inv.Qubes[name].Netvm != "" && !inPolicy[name] && !slices.Contains(p.Left, name) {
			p.Unmanaged = append(p.Unmanaged, name)
		}
	}
	return nil
}

// taggedQubes returns the qubes tagged qfw-managed, sorted, of those the
// caller may see.
func taggedQubes(ctx context.Context, client *adminapi.Client) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	vms, err := client.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the qubes: %w", err)
	}
	var tagged []string
	for _, vm := range vms {
		if vm.Class == "AdminVM" || vm.Class == "RemoteVM" {
			continue
		}
		ok, err := isManaged(ctx, client, vm.Name)
		if err != nil {
			return nil, fmt.Errorf("read the tags of %s: %w", vm.Name, err)
		}
		if ok {
			tagged = append(tagged, vm.Name)
		}
	}
	slices.Sort(tagged)
	return tagged, nil
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
	return nil
}

// currentList is one qube's list as dom0 holds it, from the Admin API or
// a state file.
type currentList struct {
	lines []string
	// where says where each line was read, as file:line, for a state
	// file; nil for the Admin API.
	where []string
	// at says where the qube's name was read, for a state file.
	at string
}

// currentLists returns the list each managed qube holds now, from the
// state files or the Admin API. Every line must be one dom0 takes.
func currentLists(ctx context.Context, f *planFlags, managed []ir.Qube) (map[string]*currentList, error) {
	if f.state != "" {
		return readState(f.state, managed)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	client := f.admin.client()
	lists := make(map[string]*currentList, len(managed))
	for _, q := range managed {
		lines, err := client.FirewallGet(ctx, q.Name)
		if err != nil {
			return nil, fmt.Errorf("read the rules of %s: %w", q.Name, err)
		}
		for i, l := range lines {
			if _, err := qubes.ParseDom0Rule(l); err != nil {
				return nil, fmt.Errorf("the rules of %s, line %d, as dom0 gives them: %q: %v", q.Name, i+1, l, err)
			}
		}
		lists[q.Name] = &currentList{lines: lines}
	}
	return lists, nil
}

// readState reads the current lists from path: a directory holding
// QUBE.rules for each managed qube, or a JSON file. A managed qube
// missing from it is an error: a plan against a guess is worse than none.
func readState(path string, managed []ir.Qube) (map[string]*currentList, error) {
	lists, err := readStateFiles(path)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(lists)) {
		if !policy.IsQubeName(name) {
			return nil, fmt.Errorf("%s: %q is not a qube name", lists[name].at, name)
		}
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

// readStateLists reads every list in path, as readStateFiles does; the
// caller checks the qubes' names.
func readStateLists(path string) (map[string][]string, error) {
	lists, err := readStateFiles(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(lists))
	for name, l := range lists {
		out[name] = l.lines
	}
	return out, nil
}

// readStateFiles reads every list in path: the QUBE.rules files of a
// directory, or the qubes of a JSON file {"qubes": {"QUBE": [lines]}}.
// The lines stand for what dom0 holds, so each is read with dom0's own
// grammar, and one dom0 would refuse is an error at its line.
func readStateFiles(path string) (map[string]*currentList, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--state: %w", err)
	}
	if !fi.IsDir() {
		b, err := readInput(path)
		if err != nil {
			return nil, fmt.Errorf("--state: %w", err)
		}
		return parseStateJSON(path, b)
	}
	files, err := filepath.Glob(filepath.Join(path, "*.rules"))
	if err != nil {
		return nil, fmt.Errorf("--state: %w", err)
	}
	lists := map[string]*currentList{}
	for _, name := range files {
		qube := strings.TrimSuffix(filepath.Base(name), ".rules")
		b, err := readInput(name)
		if err != nil {
			return nil, fmt.Errorf("--state: %w", err)
		}
		if lists[qube], err = parseStateRules(name, b); err != nil {
			return nil, err
		}
		lists[qube].at = name
	}
	return lists, nil
}

// parseStateRules reads a rule list file, from name: one line per rule,
// each ended by a newline (or CRLF), as admin.vm.firewall.Get gives them.
func parseStateRules(name string, data []byte) (*currentList, error) {
	l := &currentList{lines: []string{}, where: []string{}}
	// An empty file, or one holding only a newline, is an empty list.
	text := strings.TrimSuffix(string(data), "\n")
	if text == "" {
		return l, nil
	}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		where := fmt.Sprintf("%s:%d", name, i+1)
		if err := checkStateLine(line); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		l.lines = append(l.lines, line)
		l.where = append(l.where, where)
	}
	return l, nil
}

// checkStateLine checks a line of a state file with dom0's grammar. dom0
// strips the whitespace around a line's options, tabs and carriage returns
// too, but admin.vm.firewall.Get gives none, and plan shows each line as
// it is: a control character there could hide what the plan removes.
func checkStateLine(line string) error {
	if _, err := qubes.ParseDom0Rule(line); err != nil {
		return fmt.Errorf("dom0 refuses this line: %v", err)
	}
	if c, ok := controlIn(line); ok {
		return fmt.Errorf("the control character %q, which admin.vm.firewall.Get never gives", c)
	}
	return nil
}

// parseStateJSON reads a JSON state file, from name: {"qubes": {"QUBE":
// [lines]}}.
func parseStateJSON(name string, data []byte) (map[string]*currentList, error) {
	d, root, err := parseJSONDoc(name, data)
	if err != nil {
		return nil, err
	}
	if err := d.object(root, "", []string{"qubes"}, nil); err != nil {
		return nil, err
	}
	qv := root.fields["qubes"]
	if err := d.want(qv, "qubes", jsonObject); err != nil {
		return nil, err
	}
	lists := make(map[string]*currentList, len(qv.keys))
	for _, qube := range qv.keys {
		path := join("qubes", qube)
		v := qv.fields[qube]
		lines, err := d.stringList(v, path)
		if err != nil {
			return nil, err
		}
		ln, col := d.pos(qv.keyOff[qube])
		l := &currentList{lines: lines, where: make([]string, len(lines)), at: fmt.Sprintf("%s:%d:%d", name, ln, col)}
		for i, line := range lines {
			if err := checkStateLine(line); err != nil {
				return nil, d.errorf(v.elems[i], index(path, i), "%v", err)
			}
			ln, col := d.pos(v.elems[i].off)
			l.where[i] = fmt.Sprintf("%s:%d:%d", name, ln, col)
		}
		lists[qube] = l
	}
	return lists, nil
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
func makePlan(managed []ir.Qube, current map[string]*currentList) *plan {
	p := &plan{FormatVersion: planFormatVersion, Qubes: []qubePlan{}}
	for _, q := range managed {
		cur := current[q.Name]
		want := make([]string, len(q.Rules))
		for i, r := range q.Rules {
			want[i] = qubes.FormatRule(r)
		}
		qp := qubePlan{Name: q.Name, Netvm: q.Netvm, BaseHash: qubes.ListHash(cur.lines), Rules: want}
		edits, diff := listEdits(cur.lines, want)
		for i, e := range diff {
			pe := &edits[i]
			if e.Op == qubes.RemoveRule {
				// A line qfw would not write is said so, with where
				// it was read.
				if _, err := qubes.ParseRule(strings.TrimSpace(pe.Line)); err != nil {
					pe.Note = fmt.Sprintf("qfw would not write this line: %v", err)
					if cur.where != nil {
						pe.Note = cur.where[e.Index] + ": " + pe.Note
					}
				}
				continue
			}
			o := q.Rules[e.Index].Origin
			pe.Rule = o.String()
			if o.Pos.IsValid() {
				pe.Position = relPos(o.Pos)
			}
		}
		qp.Edits = edits
		add, remove := qp.editCounts()
		qp.Changed = add+remove > 0
		p.Qubes = append(p.Qubes, qp)
	}
	return p
}

// listEdits returns the edits from cur, a list as dom0 holds it, to want,
// the lines to send: kept and added lines as sent, removed ones as dom0
// holds them. Lines compare by meaning (see qubes.Canonical).
func listEdits(cur, want []string) ([]planEdit, []qubes.Edit) {
	canon := make([]string, len(cur))
	for i, l := range cur {
		canon[i] = qubes.Canonical(l)
	}
	diff := qubes.Diff(canon, want)
	edits := make([]planEdit, len(diff))
	for i, e := range diff {
		edits[i] = planEdit{Op: e.Op.Symbol(), Line: e.Line}
		if e.Op == qubes.RemoveRule {
			edits[i].Line = cur[e.Index]
		}
	}
	return edits, diff
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
			if e.Rule != "" || e.Note != "" {
				width = max(width, len(e.Line))
			}
		}
		for _, e := range q.Edits {
			switch {
			case e.Rule != "":
				fmt.Fprintf(&b, "  %s %-*s  # %s\n", e.Op, width, e.Line, e.Rule)
			case e.Note != "":
				fmt.Fprintf(&b, "  %s %-*s  # %s\n", e.Op, width, e.Line, e.Note)
			default:
				fmt.Fprintf(&b, "  %s %s\n", e.Op, e.Line)
			}
		}
		b.WriteByte('\n')
	}
	for _, fp := range p.Firewalls {
		printFirewallPlan(&b, &fp)
	}
	for _, name := range p.Left {
		fmt.Fprintf(&b, "%s: left the policy; qfw set its list and keeps it as it is. To stop managing it: qfw apply --release %s\n\n", name, name)
	}
	var mark []string
	for _, q := range p.Qubes {
		if q.Mark {
			mark = append(mark, q.Name)
		}
	}
	if mark != nil {
		fmt.Fprintf(&b, "To tag %s: %s.\n\n", managedTag, strings.Join(mark, ", "))
	}
	if unchanged != nil {
		slices.Sort(unchanged)
		fmt.Fprintf(&b, "Unchanged: %s.\n\n", strings.Join(unchanged, ", "))
	}
	s := p.Summary
	var tagging string
	if s.Mark > 0 {
		tagging = fmt.Sprintf("%s to tag %s", count(s.Mark, "qube"), managedTag)
	}
	switch {
	case !s.work():
		verb := "match"
		if s.Unchanged == 1 {
			verb = "matches"
		}
		fmt.Fprintf(&b, "No changes: %s %s the policy", count(s.Unchanged, "qube"), verb)
	case s.Change == 0:
		var parts []string
		if s.Provision > 0 {
			parts = append(parts, count(s.Provision, "firewall qube")+" to provision")
		}
		if tagging != "" {
			parts = append(parts, tagging)
		}
		fmt.Fprintf(&b, "Plan: %s; %s unchanged", strings.Join(parts, "; "), count(s.Unchanged, "qube"))
	default:
		fmt.Fprintf(&b, "Plan: %s to change, %d unchanged; %s to add, %d to remove", count(s.Change, "qube"), s.Unchanged, count(s.Add, "rule"), s.Remove)
		if s.Provision > 0 {
			fmt.Fprintf(&b, "; %s to provision", count(s.Provision, "firewall qube"))
		}
		if tagging != "" {
			b.WriteString("; " + tagging)
		}
	}
	if s.Left > 0 {
		fmt.Fprintf(&b, "; %s left the policy, %s kept", count(s.Left, "qube"), map[bool]string{true: "its list", false: "their lists"}[s.Left == 1])
	}
	b.WriteString(".\n")
	if len(p.Unmanaged) > 0 {
		fmt.Fprintf(&b, "Not managed by the policy: %s (%s).\n", count(len(p.Unmanaged), "networked qube"), strings.Join(p.Unmanaged, ", "))
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
