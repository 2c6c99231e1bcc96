package deploy

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

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/jsonfile"
	"github.com/qfw-dev/qfw/internal/workdir"
	"github.com/qfw-dev/qfw/policy"
)

// planFormatVersion is the version of plan's JSON; it changes when a
// field changes meaning or goes away.
const planFormatVersion = 1

// Plan is what applying a policy would change.
type Plan struct {
	FormatVersion int        `json:"format_version"`
	Qubes         []QubePlan `json:"qubes"`
	// Firewalls are the unikernel firewall qubes qfw provisions.
	Firewalls []FirewallPlan `json:"firewalls,omitempty"`
	// Left names the qubes qfw set a list on (tagged qfw-managed) that
	// the policy no longer names: their lists are kept.
	Left []string `json:"left,omitempty"`
	// Unmanaged names the networked qubes of the inventory (those with a
	// netvm) that the policy does not manage, so that a reviewer sees
	// what the policy leaves out.
	Unmanaged []string    `json:"unmanaged,omitempty"`
	Summary   PlanSummary `json:"summary"`
}

// QubePlan is one qube's part of a plan.
type QubePlan struct {
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
	Edits []PlanEdit `json:"edits"`
	// Rules is the new list, as admin.vm.firewall.Set would send it.
	Rules []string `json:"rules"`
}

// PlanEdit is one line of a qube's plan: added, removed or kept (Op is
// +, - or ~), with the policy rule a new line comes from.
type PlanEdit struct {
	Op       string `json:"op"`
	Line     string `json:"line"`
	Rule     string `json:"rule,omitempty"`
	Position string `json:"position,omitempty"`
	// Note says, of a current line that qfw would never write, where it
	// is and why qfw would not write it.
	Note string `json:"note,omitempty"`
}

// editCounts returns how many lines q's edits add and remove.
func (q QubePlan) editCounts() (add, remove int) {
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

// PlanSummary counts what a plan does.
type PlanSummary struct {
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

// ManagedTag marks each qube whose list qfw apply set; dom0's qrexec
// policy may use it too (@tag:qfw-managed) to let a management qube set
// only those qubes' lists.
const ManagedTag = "qfw-managed"

// Changes reports whether the plan changes anything, or needs a decision:
// a qube that left the policy keeps a list nobody reviews.
func (s PlanSummary) Changes() bool { return s.Work() || s.Left > 0 }

// CheckPlanOut checks that --out, if it exists, is a plan qfw saved, of
// any format: given the policy, the inventory or a state file in its
// place, plan would replace it.
func CheckPlanOut(path string) error {
	return checkOutFile(path, "a plan qfw saved, which is all plan replaces", "plan --json writes the plan to the standard output", func(root *jsonfile.Value) bool {
		return root.Fields["format_version"] != nil && root.Fields["qubes"] != nil && root.Fields["summary"] != nil
	})
}

// Work reports whether applying the plan changes anything.
func (s PlanSummary) Work() bool { return s.Change > 0 || s.Provision > 0 || s.Mark > 0 }

// PlanOptions say where MakePlan reads the current lists and what it
// plans.
type PlanOptions struct {
	// Admin reaches the Admin API, when State is empty.
	Admin Admin
	// State is a directory of QUBE.rules files or a JSON state file to
	// read the current lists from instead of the Admin API.
	State string
	// Qube limits the plan to one qube (or unikernel firewall qube).
	Qube string
	// DataDir holds apply's record, which marks the lists edited outside
	// qfw; empty means apply's default (see [ApplyOptions]).
	DataDir string
	// Warnings gets the warnings and notes made on the way.
	Warnings io.Writer
}

// MakePlan plans the built policy res against the current lists, as o
// says where to read them; plan and apply share it.
func MakePlan(ctx context.Context, res *Built, o *PlanOptions) (*Plan, error) {
	var managed []ir.Qube
	for _, q := range res.Program.Qubes {
		if o.Qube == "" || q.Name == o.Qube {
			managed = append(managed, q)
		}
	}
	if o.Qube != "" && managed == nil && !slices.ContainsFunc(res.Program.Firewalls, func(fw ir.Firewall) bool {
		return fw.Name == o.Qube && fw.Provision != nil
	}) {
		return nil, fmt.Errorf("--qube %s: no such qube in the policy", o.Qube)
	}
	current, err := currentLists(ctx, o, managed)
	if err != nil {
		return nil, err
	}
	// A list for a qube the inventory does not know says the state and
	// the inventory are from different times, or machines.
	for _, name := range slices.Sorted(maps.Keys(current)) {
		if _, ok := res.Inventory.Qubes[name]; !ok && o.State != "" {
			fmt.Fprintf(o.Warnings, "qfw: warning: %s: qube %s is not in the inventory; plan leaves its list out\n", current[name].at, name)
		}
	}
	p := makePlan(managed, current)
	if err := markDrift(p, dataDir(o.DataDir)); err != nil {
		return nil, err
	}
	if err := planCoverage(ctx, o, res.Program, res.Inventory, p); err != nil {
		return nil, err
	}
	if err := planFirewalls(ctx, o, res.Program, p); err != nil {
		return nil, err
	}
	p.Summary = p.Summarise()
	return p, nil
}

// planCoverage marks in p the managed qubes not yet tagged qfw-managed,
// which apply tags, and adds the qubes tagged so that the policy no longer
// names, and the networked qubes of the inventory that it does not manage.
// The tags are read through the Admin API, or with --state from the
// inventory (qfw inventory writes them). A plan for one qube says nothing
// of the others.
func planCoverage(ctx context.Context, o *PlanOptions, prog *ir.Program, inv *policy.Inventory, p *Plan) error {
	var tagged []string
	if o.State != "" {
		for _, name := range inv.Names() {
			if slices.Contains(inv.Qubes[name].Tags, ManagedTag) {
				tagged = append(tagged, name)
			}
		}
	} else {
		var err error
		if tagged, err = taggedQubes(ctx, o.Admin.Client()); err != nil {
			return err
		}
	}
	for i := range p.Qubes {
		p.Qubes[i].Mark = !slices.Contains(tagged, p.Qubes[i].Name)
	}
	if o.Qube != "" {
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
func planFirewalls(ctx context.Context, o *PlanOptions, prog *ir.Program, p *Plan) error {
	var names []string
	for _, fw := range prog.Firewalls {
		if fw.Provision != nil && (o.Qube == "" || o.Qube == fw.Name) {
			names = append(names, fw.Name)
		}
	}
	if names == nil {
		return nil
	}
	if o.State != "" {
		fmt.Fprintf(o.Warnings, "qfw: note: %s provisioned through the Admin API; a plan from --state leaves %s out\n",
			strings.Join(names, ", "), map[bool]string{true: "it", false: "them"}[len(names) == 1])
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	fps, err := o.Admin.provisioner().plans(ctx, prog, o.Qube)
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
func currentLists(ctx context.Context, o *PlanOptions, managed []ir.Qube) (map[string]*currentList, error) {
	if o.State != "" {
		return readState(o.State, managed)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	client := o.Admin.Client()
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
		b, err := jsonfile.ReadFile(path)
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
		b, err := jsonfile.ReadFile(name)
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
	d, root, err := jsonfile.Parse(name, data)
	if err != nil {
		return nil, err
	}
	if err := d.Object(root, "", []string{"qubes"}, nil); err != nil {
		return nil, err
	}
	qv := root.Fields["qubes"]
	if err := d.Want(qv, "qubes", jsonfile.Object); err != nil {
		return nil, err
	}
	lists := make(map[string]*currentList, len(qv.Keys))
	for _, qube := range qv.Keys {
		path := jsonfile.Join("qubes", qube)
		v := qv.Fields[qube]
		lines, err := d.StringList(v, path)
		if err != nil {
			return nil, err
		}
		ln, col := d.Pos(qv.KeyOff[qube])
		l := &currentList{lines: lines, where: make([]string, len(lines)), at: fmt.Sprintf("%s:%d:%d", name, ln, col)}
		for i, line := range lines {
			if err := checkStateLine(line); err != nil {
				return nil, d.Errorf(v.Elems[i], jsonfile.Index(path, i), "%v", err)
			}
			ln, col := d.Pos(v.Elems[i].Off)
			l.where[i] = fmt.Sprintf("%s:%d:%d", name, ln, col)
		}
		lists[qube] = l
	}
	return lists, nil
}

// markDrift marks the qubes whose current list is not the one qfw apply
// last set, as its record in dir says: someone edited them outside qfw.
func markDrift(p *Plan, dir string) error {
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
func makePlan(managed []ir.Qube, current map[string]*currentList) *Plan {
	p := &Plan{FormatVersion: planFormatVersion, Qubes: []QubePlan{}}
	for _, q := range managed {
		cur := current[q.Name]
		want := make([]string, len(q.Rules))
		for i, r := range q.Rules {
			want[i] = qubes.FormatRule(r)
		}
		qp := QubePlan{Name: q.Name, Netvm: q.Netvm, BaseHash: qubes.ListHash(cur.lines), Rules: want}
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
				pe.Position = workdir.Pos(o.Pos)
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
func listEdits(cur, want []string) ([]PlanEdit, []qubes.Edit) {
	canon := make([]string, len(cur))
	for i, l := range cur {
		canon[i] = qubes.Canonical(l)
	}
	diff := qubes.Diff(canon, want)
	edits := make([]PlanEdit, len(diff))
	for i, e := range diff {
		edits[i] = PlanEdit{Op: e.Op.Symbol(), Line: e.Line}
		if e.Op == qubes.RemoveRule {
			edits[i].Line = cur[e.Index]
		}
	}
	return edits, diff
}

// MarshalPlan returns p as plan --json prints it and plan --out saves it,
// which readPlan reads back.
func MarshalPlan(p *Plan) ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
