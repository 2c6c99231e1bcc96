package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/words"
)

// ApplyOptions say how Apply puts a plan in force.
type ApplyOptions struct {
	Admin Admin
	// PlanFile is the file the plan was saved in, if it was: the plan is
	// then checked against dom0 whole before anything changes.
	PlanFile string
	// Release and Reset name qubes that left the policy, to stop
	// managing, keeping their lists or blocking all their traffic.
	Release, Reset []string
	// DataDir holds the record of what qfw set, and the mark of an apply
	// that waits for confirmation; empty means $XDG_STATE_HOME/qfw, or
	// ~/.local/state/qfw.
	DataDir string
	// Lock is the file that keeps two applies apart; empty means
	// $XDG_RUNTIME_DIR/qfw-apply.lock.
	Lock string
	// RefuseDrift leaves the qubes edited outside qfw unchanged, rather
	// than warning that apply replaces the edits.
	RefuseDrift bool
	// ConfirmTimeout, if not zero, puts every changed qube back unless
	// Confirm runs within it.
	ConfirmTimeout time.Duration
	// Stdout gets the results; Stderr the warnings, and progress if
	// Progress is set.
	Stdout, Stderr io.Writer
	Progress       bool
}

// CheckImages checks, before a plan is applied, every kernel image that it
// installs into a unikernel firewall qube.
func (a Admin) CheckImages(fps []FirewallPlan) error { return a.provisioner().checkImages(fps) }

// ReadSavedPlan reads the plan saved in path, as readPlan does, and
// checks, before it is shown, that its firewall plans were made where qfw
// runs now, through a (see checkSavedFirewalls).
func (a Admin) ReadSavedPlan(path string) (*Plan, error) {
	p, err := readPlan(path)
	if err != nil {
		return nil, err
	}
	if err := a.provisioner().checkSavedFirewalls(path, p); err != nil {
		return nil, err
	}
	return p, nil
}

// WriteLeft writes, after p is shown, what applying it with o does to
// each qube that left the policy: to o.Stdout, what o's release or reset
// does to it; to o.Stderr, for a qube o names in neither, a warning that
// apply keeps its list.
func (o *ApplyOptions) WriteLeft(p *Plan) {
	for _, name := range p.Left {
		switch {
		case slices.Contains(o.Release, name):
			fmt.Fprintf(o.Stdout, "%s: --release: its tag %s goes, its list stays as it is.\n", name, ManagedTag)
		case slices.Contains(o.Reset, name):
			fmt.Fprintf(o.Stdout, "%s: --reset: its list becomes %q, which blocks all its traffic, and its tag %s goes.\n", name, resetLine, ManagedTag)
		default:
			fmt.Fprintf(o.Stderr, "qfw: warning: %s left the policy; apply keeps its list as it is (--release %s stops managing it, --reset %s blocks its traffic)\n", name, name, name)
		}
	}
}

// Work reports whether applying p with o does anything: a change or a
// tag that p plans, or a qube to release or reset.
func (o *ApplyOptions) Work(p *Plan) bool {
	return p.Summary.Work() || len(o.Release)+len(o.Reset) > 0
}

// Apply puts p in force through the Admin API, once the plan has been
// shown and approved: under the apply lock it checks the kernel images
// again, and sets each changed qube's list with one admin.vm.firewall.Set,
// which dom0 applies whole or not at all. Just before each Set it reads
// the qube's list again and refuses to replace one that changed since the
// plan was made; a saved plan is checked against dom0 whole before
// anything is sent (see checkSavedPlan). Each qube it sets is tagged
// qfw-managed first; the qubes o names are released or reset. Then it
// provisions the unikernel firewall qubes whose clients' lists were all
// set (after confirmation, with a confirm timeout). A failure on one qube
// does not stop the others; all are returned together, and a qube whose
// Set failed keeps its previous list.
func Apply(ctx context.Context, p *Plan, o *ApplyOptions) error {
	resolved := *o
	resolved.DataDir = dataDir(o.DataDir)
	o = &resolved
	unlock, err := LockApply(o.Lock)
	if err != nil {
		return err
	}
	defer unlock()
	// Once more after the question, and under the lock: an image must not
	// change between its check and its use.
	if err := o.Admin.CheckImages(p.Firewalls); err != nil {
		return err
	}

	record, err := readRecord(o.DataDir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute+o.ConfirmTimeout)
	defer cancel()
	a := &qubesApply{client: o.Admin.Client(), record: record, refuseDrift: o.RefuseDrift, stderr: o.Stderr, previous: map[string][]string{}, released: map[string]bool{}}
	if o.PlanFile != "" {
		// Nothing is sent before the whole plan checks out against dom0.
		if err := checkSavedPlan(ctx, a.client, o.PlanFile, p); err != nil {
			return err
		}
	}
	var results []outcome
	for _, name := range o.Release {
		result, err := a.release(ctx, name)
		if err != nil {
			a.errs = multierror.Append(a.errs, fmt.Errorf("%s: %w", name, err))
		}
		results = append(results, outcome{name, result})
	}
	for _, name := range o.Reset {
		result, err := a.reset(ctx, name)
		if err != nil {
			a.errs = multierror.Append(a.errs, fmt.Errorf("%s: %w", name, err))
		}
		results = append(results, outcome{name, result})
	}
	// Client lists first: a firewall qube's new settings, its netvm above
	// all, must not reach clients that are still on their old lists.
	failed := map[string]bool{}
	for _, q := range p.Qubes {
		if !q.Changed {
			continue
		}
		if o.Progress {
			fmt.Fprintf(o.Stderr, "applying %s (%d of %d)...\n", q.Name, len(results)+1, p.Summary.Change)
		}
		result, err := a.apply(ctx, q)
		if err != nil {
			a.errs = multierror.Append(a.errs, fmt.Errorf("%s: %w", q.Name, err))
			failed[q.Name] = true
		}
		results = append(results, outcome{q.Name, result})
	}
	// The qubes whose lists already match: apply only tags them.
	for _, q := range p.Qubes {
		if q.Changed || !q.Mark {
			continue
		}
		result := "tagged " + ManagedTag
		if err := a.mark(ctx, q.Name); err != nil {
			a.errs = multierror.Append(a.errs, fmt.Errorf("%s: tag it %s: %w", q.Name, ManagedTag, err))
			result = "failed, not tagged"
		}
		results = append(results, outcome{q.Name, result})
	}
	if err := writeRecord(o.DataDir, record); err != nil {
		a.errs = multierror.Append(a.errs, fmt.Errorf("record what was applied: %w", err))
	}
	pv := o.Admin.provisioner()
	var progressTo io.Writer
	if o.Progress {
		progressTo = o.Stderr
	}
	provision := func() []outcome {
		return a.provisionFirewalls(ctx, pv, p, failed, progressTo, o.Stderr)
	}
	if o.ConfirmTimeout == 0 || len(a.applied) == 0 {
		results = append(results, provision()...)
		if err := printResults(o.Stdout, results); err != nil {
			return err
		}
	} else {
		// Firewall qubes wait for the lists to be confirmed: a revert
		// puts back lists, not a qube's settings.
		if err := printResults(o.Stdout, results); err != nil {
			return err
		}
		if err := awaitConfirm(ctx, o.Stdout, o, a); err != nil {
			a.errs = multierror.Append(a.errs, err)
		} else if fw := provision(); fw != nil {
			if err := printResults(o.Stdout, fw); err != nil {
				return err
			}
		}
	}
	if a.errs != nil {
		a.errs.ErrorFormat = listErrors
	}
	return a.errs.ErrorOrNil()
}

// provisionFirewalls brings the unikernel firewall qubes of p that change
// to their plans' state, skipping one whose clients' lists were not all
// set (failed), and returns what happened to each. Progress goes to
// progress, if not nil; notes to stderr.
func (a *qubesApply) provisionFirewalls(ctx context.Context, pv *provisioner, p *Plan, failed map[string]bool, progress, stderr io.Writer) []outcome {
	var out []outcome
	for _, fp := range p.Firewalls {
		if !fp.Changes() {
			continue
		}
		if c := failedClient(p, fp.Name, failed); c != "" {
			a.errs = multierror.Append(a.errs, fmt.Errorf("%s: not provisioned, as the list of its client %s was not set", fp.Name, c))
			out = append(out, outcome{fp.Name, "skipped, unchanged"})
			continue
		}
		if progress != nil {
			fmt.Fprintf(progress, "provisioning %s...\n", fp.Name)
		}
		result, err := pv.provision(ctx, fp, stderr)
		if err != nil {
			a.errs = multierror.Append(a.errs, fmt.Errorf("%s: %w", fp.Name, err))
		}
		out = append(out, outcome{fp.Name, result})
	}
	return out
}

// failedClient returns a client of the firewall qube fw whose list apply
// failed to set, or "" if none.
func failedClient(p *Plan, fw string, failed map[string]bool) string {
	for _, q := range p.Qubes {
		if q.Netvm == fw && failed[q.Name] {
			return q.Name
		}
	}
	return ""
}

// listErrors formats an apply's errors one to a line, each naming its
// qube.
func listErrors(es []error) string {
	if len(es) == 1 {
		return es[0].Error()
	}
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = "  " + e.Error()
	}
	return fmt.Sprintf("%d errors:\n%s", len(es), strings.Join(lines, "\n"))
}

type outcome struct{ qube, result string }

func printResults(w io.Writer, results []outcome) error {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUBE\tRESULT")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\n", r.qube, r.result)
	}
	return tw.Flush()
}

// qubesApply is one apply's progress through the qubes.
type qubesApply struct {
	client      *adminapi.Client
	record      *appliedRecord
	refuseDrift bool
	stderr      io.Writer
	errs        *multierror.Error
	// applied lists the qubes set, in order; previous holds each one's
	// list from before, for a revert.
	applied  []string
	previous map[string][]string
	// released holds the qubes --reset untagged: a revert tags them
	// again, as their old lists come back.
	released map[string]bool
}

// apply sets one qube's new list if dom0 still holds the list the plan was
// made against, and returns what happened in a few words.
func (a *qubesApply) apply(ctx context.Context, q QubePlan) (string, error) {
	cur, err := a.client.FirewallGet(ctx, q.Name)
	if err != nil {
		return "failed, unchanged", fmt.Errorf("read its rules before the change: %w", err)
	}
	hash := qubes.ListHash(cur)
	if hash != q.BaseHash {
		return "stale plan, unchanged", errors.New("its rules changed since the plan was made; plan again")
	}
	if last, edited := a.record.editedSince(q.Name, hash); edited {
		at := last.UTC().Format(time.RFC3339)
		if a.refuseDrift {
			return "edited by hand, unchanged", fmt.Errorf("its rules were edited outside qfw since qfw set them at %s; --refuse-drift leaves them", at)
		}
		fmt.Fprintf(a.stderr, "qfw: warning: %s: its rules were edited outside qfw since qfw set them at %s; apply replaces those edits\n", q.Name, at)
	}
	// The mark first: a list qfw set is never left without it, and
	// dom0's qrexec policy may allow a Set only on qubes that carry it.
	if err := a.mark(ctx, q.Name); err != nil {
		return "failed, unchanged", fmt.Errorf("mark it %s: %w", ManagedTag, err)
	}
	if err := a.client.FirewallSet(ctx, q.Name, q.Rules); err != nil {
		return "failed, unchanged", err
	}
	a.applied = append(a.applied, q.Name)
	a.previous[q.Name] = cur
	a.remember(ctx, q.Name)
	add, remove := q.editCounts()
	return fmt.Sprintf("applied (+%d -%d)", add, remove), nil
}

// mark tags qube qfw-managed, unless it is already.
func (a *qubesApply) mark(ctx context.Context, qube string) error {
	if ok, err := isManaged(ctx, a.client, qube); err != nil || ok {
		return err
	}
	return a.client.SetTag(ctx, qube, ManagedTag)
}

// isManaged reports whether qube is tagged qfw-managed.
func isManaged(ctx context.Context, client *adminapi.Client, qube string) (bool, error) {
	tags, err := client.Tags(ctx, qube)
	if err != nil {
		return false, err
	}
	return slices.Contains(tags, ManagedTag), nil
}

// errNotManaged refuses to release or reset a qube qfw does not manage.
var errNotManaged = fmt.Errorf("not tagged %s: qfw does not manage it", ManagedTag)

// release stops qfw managing qube, which left the policy: it removes the
// tag qfw-managed and leaves the list as it is.
func (a *qubesApply) release(ctx context.Context, qube string) (string, error) {
	switch ok, err := isManaged(ctx, a.client, qube); {
	case err != nil:
		return "failed, still managed", err
	case !ok:
		return "not managed, unchanged", errNotManaged
	}
	if err := a.client.RemoveTag(ctx, qube, ManagedTag); err != nil {
		return "failed, still managed", err
	}
	delete(a.record.Qubes, qube)
	return "released, list kept", nil
}

// resetLine is the one line of the list --reset sets: it blocks
// everything, as a qube the policy no longer names has no rule anyone
// reviews.
const resetLine = "action=drop"

// resetList is the list --reset sets.
var resetList = []string{resetLine}

// reset sets the list of qube, which left the policy, to resetList, and
// then stops managing it. Its previous list is kept for a revert.
func (a *qubesApply) reset(ctx context.Context, qube string) (string, error) {
	switch ok, err := isManaged(ctx, a.client, qube); {
	case err != nil:
		return "failed, unchanged", err
	case !ok:
		return "not managed, unchanged", errNotManaged
	}
	cur, err := a.client.FirewallGet(ctx, qube)
	if err != nil {
		return "failed, unchanged", fmt.Errorf("read its rules before the change: %w", err)
	}
	if err := a.client.FirewallSet(ctx, qube, resetList); err != nil {
		return "failed, unchanged", err
	}
	a.applied = append(a.applied, qube)
	a.previous[qube] = cur
	a.remember(ctx, qube)
	if err := a.client.RemoveTag(ctx, qube, ManagedTag); err != nil {
		return "reset, still tagged", err
	}
	a.released[qube] = true
	return "reset, released", nil
}

// CheckRelease checks that each qube to release or reset is one that left
// the policy, as the plan says, and is named once.
func CheckRelease(p *Plan, release, reset []string) error {
	all := append(slices.Clip(release), reset...)
	for i, name := range all {
		flag := "--release"
		if i >= len(release) {
			flag = "--reset"
		}
		switch {
		case slices.Contains(all[:i], name):
			return fmt.Errorf("%s %s: %s is given twice to --release and --reset", flag, name, name)
		case slices.ContainsFunc(p.Qubes, func(q QubePlan) bool { return q.Name == name }):
			return fmt.Errorf("%s %s: the policy manages %s; take it out of the policy first", flag, name, name)
		case !slices.Contains(p.Left, name):
			return fmt.Errorf("%s %s: not a qube that left the policy; qfw plan lists those", flag, name)
		}
	}
	return nil
}

// checkSavedPlan checks the plan saved in path against dom0 before
// anything changes: every qube it plans exists, each qube it changes has
// the netvm the plan says, and for each qube that still holds the list
// the plan was made against, its edits are exactly
// what replacing that list with its rules does, and the rules keep within
// the limits its addresses set. A qube whose list changed since is left to
// apply, which refuses it alone as a stale plan.
func checkSavedPlan(ctx context.Context, client *adminapi.Client, path string, p *Plan) error {
	vms, err := client.List(ctx)
	if err != nil {
		return fmt.Errorf("--plan %s: list the qubes: %w", path, err)
	}
	exists := map[string]bool{}
	for _, vm := range vms {
		if vm.Class != "AdminVM" && vm.Class != "RemoteVM" {
			exists[vm.Name] = true
		}
	}
	for i, q := range p.Qubes {
		if !exists[q.Name] {
			return fmt.Errorf("--plan %s: qubes[%d].name: dom0 has no qube %q", path, i, q.Name)
		}
	}
	for i, q := range p.Qubes {
		if !q.Changed {
			continue
		}
		// A firewall qube waits for its clients' lists: the plan's
		// netvm says which qubes are its clients.
		netvm, err := client.Property(ctx, q.Name, "netvm")
		if err != nil {
			return fmt.Errorf("--plan %s: read the netvm of %s: %w", path, q.Name, err)
		}
		if netvm != q.Netvm {
			return fmt.Errorf("--plan %s: qubes[%d].netvm: %q, but the netvm of %s is %q; plan again", path, i, q.Netvm, q.Name, netvm)
		}
		cur, err := client.FirewallGet(ctx, q.Name)
		if err != nil {
			return fmt.Errorf("--plan %s: read the rules of %s: %w", path, q.Name, err)
		}
		if qubes.ListHash(cur) != q.BaseHash {
			continue
		}
		edits, _ := listEdits(cur, q.Rules)
		if !sameEdits(edits, q.Edits) {
			return fmt.Errorf("--plan %s: qubes[%d].edits: not the edits from %s's list, which still hashes to base_hash, to the plan's rules; the plan would make other changes than it shows", path, i, q.Name)
		}
		iq := ir.Qube{Name: q.Name, Rules: make([]ir.Rule, len(q.Rules))}
		for j, line := range q.Rules {
			// readPlan checked every line.
			iq.Rules[j], _ = qubes.ParseRule(line)
		}
		for _, f := range []struct {
			name string
			into *netip.Addr
		}{{"ip", &iq.IP}, {"ip6", &iq.IP6}} {
			v, err := client.Property(ctx, q.Name, f.name)
			if err != nil {
				return fmt.Errorf("--plan %s: read the %s of %s: %w", path, f.name, q.Name, err)
			}
			if v == "" {
				continue
			}
			if *f.into, err = netip.ParseAddr(v); err != nil {
				return fmt.Errorf("--plan %s: %s of %s is %q, not an address", path, f.name, q.Name, v)
			}
		}
		if errs := qubes.Check(iq); len(errs) > 0 {
			return fmt.Errorf("--plan %s: qubes[%d].rules: %s", path, i, diagMessage(errs[0]))
		}
	}
	return nil
}

// checkSavedFirewalls checks, before the plan saved in path is shown, that
// the kernel image of each of its firewall plans goes where this qfw keeps
// kernels, and is installed as it shows: by qfw in dom0, where the plan
// says whether it installs the image, or by the one step it gives from a
// management qube. A plan made in one place is not applied in the other.
func (pv *provisioner) checkSavedFirewalls(path string, p *Plan) error {
	for i := range p.Firewalls {
		fp := &p.Firewalls[i]
		k := fp.Kernel
		if k == nil {
			continue
		}
		at := fmt.Sprintf("--plan %s: firewalls[%d].kernel", path, i)
		if dir := filepath.Dir(filepath.Dir(k.Target)); dir != filepath.Clean(pv.kernelsDir) {
			return fmt.Errorf("%s.target: %s is not in %s, where this qfw keeps kernels (--kernels-dir)", at, k.Target, pv.kernelsDir)
		}
		var step string
		if !pv.inDom0 && k.Path != "" {
			step = dom0Step(k)
		}
		switch {
		case pv.inDom0 && k.Dom0Step != "":
			return fmt.Errorf("%s: the plan was made in a management qube (--qrexec), where dom0 installs the image; plan again here", at)
		case !pv.inDom0 && k.Install:
			return fmt.Errorf("%s: the plan was made in dom0, where qfw installs the image; plan again here", at)
		case k.Dom0Step != step:
			return fmt.Errorf("%s.dom0_step: not the step that installs the image %s from this qube; plan again here", at, k.Path)
		}
		if !pv.inDom0 || k.Path == "" {
			continue
		}
		if install, err := pv.checkImage(k); err == nil && install != k.Install {
			return fmt.Errorf("%s.install: %t, but the image in %s is %s; plan again", at, k.Install, k.Target, map[bool]string{true: "missing or another", false: "the one pinned"}[install])
		}
	}
	return nil
}

// sameEdits reports whether a and b make the same edits, line for line.
func sameEdits(a, b []PlanEdit) bool {
	return slices.EqualFunc(a, b, func(x, y PlanEdit) bool { return x.Op == y.Op && x.Line == y.Line })
}

// remember records the hash of the list dom0 now holds for qube, as dom0
// returns it, so that the next apply can tell a hand edit from this one.
func (a *qubesApply) remember(ctx context.Context, qube string) {
	now, err := a.client.FirewallGet(ctx, qube)
	if err != nil {
		// Without a hash the next apply cannot tell drift; forget the
		// old one rather than report drift that is not there.
		delete(a.record.Qubes, qube)
		fmt.Fprintf(a.stderr, "qfw: warning: %s: read its rules after the change: %v; the next apply cannot tell whether they are edited outside qfw\n", qube, err)
		return
	}
	a.record.Qubes[qube] = appliedSet{Hash: qubes.ListHash(now), At: time.Now().UTC()}
}

// awaitConfirm waits for qfw confirm, which removes the pending mark; when
// the time is up it puts every qube it applied back to its previous list,
// unless the list changed again meanwhile.
func awaitConfirm(ctx context.Context, w io.Writer, o *ApplyOptions, a *qubesApply) error {
	mark := filepath.Join(o.DataDir, pendingFile)
	if err := WriteFile(mark, []byte(strings.Join(a.applied, "\n")+"\n")); err != nil {
		return fmt.Errorf("wait for confirmation: %w; the changes stay", err)
	}
	what := fmt.Sprintf("the %s changed go back to their previous lists", words.Count(len(a.applied), "qube"))
	if len(a.applied) == 1 {
		what = "the qube changed goes back to its previous list"
	}
	fmt.Fprintf(w, "\nRun qfw confirm within %s, or %s.\n", o.ConfirmTimeout, what)
	deadline := time.Now().Add(o.ConfirmTimeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(mark); errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintln(w, "Confirmed: the changes stay.")
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := os.Remove(mark); errors.Is(err, fs.ErrNotExist) {
		// qfw confirm ran at the last moment.
		fmt.Fprintln(w, "Confirmed: the changes stay.")
		return nil
	}
	var errs *multierror.Error
	var results []outcome
	reverted := 0
	for _, name := range a.applied {
		result, err := a.revert(ctx, name)
		if err != nil {
			errs = multierror.Append(errs, fmt.Errorf("%s: %w", name, err))
		} else {
			reverted++
		}
		results = append(results, outcome{name, result})
	}
	fmt.Fprintf(w, "\nNot confirmed within %s: reverting.\n", o.ConfirmTimeout)
	if err := printResults(w, results); err != nil {
		return err
	}
	if err := writeRecord(o.DataDir, a.record); err != nil {
		errs = multierror.Append(errs, fmt.Errorf("record what was reverted: %w", err))
	}
	return multierror.Append(errs, fmt.Errorf("not confirmed within %s; %s reverted", o.ConfirmTimeout, words.Count(reverted, "qube")))
}

// revert sets qube's previous list again, if dom0 still holds what apply
// set: a list someone changed since is theirs to keep.
func (a *qubesApply) revert(ctx context.Context, qube string) (string, error) {
	cur, err := a.client.FirewallGet(ctx, qube)
	if err != nil {
		return "not reverted", err
	}
	if last, ok := a.record.Qubes[qube]; !ok || qubes.ListHash(cur) != last.Hash {
		return "changed since, not reverted", errors.New("its rules changed after the apply; not reverted")
	}
	// A qube --reset released gets its tag back before its list: a list
	// qfw set is never left without it, and plan shows the qube again as
	// one that left the policy.
	if a.released[qube] {
		if err := a.mark(ctx, qube); err != nil {
			return "not reverted", fmt.Errorf("tag it %s again: %w", ManagedTag, err)
		}
		delete(a.released, qube)
	}
	if err := a.client.FirewallSet(ctx, qube, a.previous[qube]); err != nil {
		return "not reverted", err
	}
	a.remember(ctx, qube)
	return "reverted", nil
}

// LockApply takes the lock that keeps two applies apart, without waiting:
// two at once could each set a list made against what the other replaced.
func LockApply(path string) (unlock func(), err error) {
	if path == "" {
		// A relative $XDG_RUNTIME_DIR is ignored, as for DataDir: two
		// applies run from two directories would not exclude each other.
		dir := os.Getenv("XDG_RUNTIME_DIR")
		if !filepath.IsAbs(dir) {
			dir = os.TempDir()
		}
		path = filepath.Join(dir, "qfw-apply.lock")
	}
	fd, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fd.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another qfw apply holds the lock %s", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { fd.Close() }, nil
}
