package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/words"
)

// FirewallPlan is what a plan does to one unikernel firewall qube: the
// kernel image to check and install, and the steps that give the qube the
// properties and features the unikernel needs.
type FirewallPlan struct {
	Name    string `json:"name"`
	Release string `json:"release"`
	// Want is the state the qube is brought to; apply plans the steps
	// again from it, against the qube as it is then.
	Want   mirage.QubeState `json:"want"`
	Kernel *KernelPlan      `json:"kernel,omitempty"`
	Steps  []ProvisionStep  `json:"steps"`
}

// KernelPlan is the kernel image of a firewall plan.
type KernelPlan struct {
	// Path is the image to install, on the machine qfw runs on; empty
	// when the policy gives none.
	Path string `json:"path,omitempty"`
	// SHA256 is the hash the image must have: the policy's pin, or the
	// release's published hash.
	SHA256 string `json:"sha256"`
	// Target is where dom0 keeps the image.
	Target string `json:"target"`
	// Install says the image in Target is missing or another; known only
	// in dom0.
	Install bool `json:"install"`
	// Dom0Step is the command left to run in dom0, when qfw runs in a
	// management qube and cannot see or write dom0's files.
	Dom0Step string `json:"dom0_step,omitempty"`
}

// ProvisionStep is one step of a firewall plan, as JSON says it.
type ProvisionStep struct {
	Op      string `json:"op"`
	Name    string `json:"name,omitempty"`
	From    string `json:"from,omitempty"`
	HasFrom bool   `json:"has_from,omitempty"`
	To      string `json:"to,omitempty"`
	Text    string `json:"text"`
}

// Changes reports whether fp changes anything. The dom0 step left from a
// management qube is not a change qfw makes: it cannot tell whether it is
// done.
func (fp *FirewallPlan) Changes() bool {
	return len(fp.Steps) > 0 || fp.Kernel != nil && fp.Kernel.Install
}

// provisioner plans and provisions unikernel firewall qubes through the
// Admin API.
type provisioner struct {
	client *adminapi.Client
	// inDom0 says qfw runs in dom0, where it can read and write the
	// kernels in kernelsDir; in a management qube it cannot.
	inDom0     bool
	kernelsDir string
	// replaced holds the images this apply installed, by path: every qube
	// that boots one needs a restart, not only the first.
	replaced map[string]bool
}

// plans returns the plan of each unikernel firewall qube of prog that only
// names, or of every one if only is empty. A kernel image that is not the
// one the policy pins is an error here already.
func (pv *provisioner) plans(ctx context.Context, prog *ir.Program, only string) ([]FirewallPlan, error) {
	// Every firewall qube is planned, whatever only says, for the check of
	// their kernel directories.
	var all []FirewallPlan
	for _, fw := range prog.Firewalls {
		if fw.Provision == nil {
			continue
		}
		fp, err := pv.plan(ctx, fw)
		if err != nil {
			return nil, fmt.Errorf("firewall qube %s: %w", fw.Name, err)
		}
		all = append(all, fp)
	}
	// One kernel directory holds one image: two firewall qubes that want
	// different ones there would replace each other's on every apply.
	byTarget := map[string]*FirewallPlan{}
	for i := range all {
		k := all[i].Kernel
		if k == nil {
			continue
		}
		if o := byTarget[k.Target]; o != nil && o.Kernel.SHA256 != k.SHA256 {
			return nil, fmt.Errorf("firewall qubes %s and %s want different kernel images in %s; give one of them another kernel: dir", o.Name, all[i].Name, filepath.Dir(k.Target))
		}
		byTarget[k.Target] = &all[i]
	}
	if only == "" {
		return all, nil
	}
	return slices.DeleteFunc(all, func(fp FirewallPlan) bool { return fp.Name != only }), nil
}

func (pv *provisioner) plan(ctx context.Context, fw ir.Firewall) (FirewallPlan, error) {
	rel, err := mirage.LookupRelease(fw.MirageVersion)
	if err != nil {
		return FirewallPlan{}, err
	}
	p := fw.Provision
	kernel := cmp.Or(p.KernelDir, mirage.DefaultKernel)
	want, err := mirage.Desired(fw.Name, kernel, fw.Netvm, cmp.Or(p.Label, mirage.DefaultLabel), rel)
	if err != nil {
		return FirewallPlan{}, err
	}
	cur, err := pv.current(ctx, want)
	if err != nil {
		return FirewallPlan{}, err
	}
	if n := cur.Properties["netvm"]; !p.NetvmSet && cur.Exists && n != "" {
		// The policy leaves the netvm of a qube that exists alone: the
		// inventory may not know it yet.
		for i := range want.Properties {
			if want.Properties[i].Name == "netvm" {
				want.Properties[i].Value = n
			}
		}
	}
	fp := FirewallPlan{Name: fw.Name, Release: rel.Version, Want: want}
	if fp.Kernel, err = pv.KernelPlan(p, kernel, rel); err != nil {
		return FirewallPlan{}, err
	}
	steps, err := mirage.Plan(want, cur)
	if err != nil {
		return FirewallPlan{}, err
	}
	fp.Steps = stepsJSON(steps)
	return fp, nil
}

// KernelPlan checks the kernel image against its pinned hash, and says
// whether dom0's copy is to be replaced.
func (pv *provisioner) KernelPlan(p *ir.Provision, kernel string, rel mirage.Release) (*KernelPlan, error) {
	var err error
	kp := &KernelPlan{Path: p.KernelPath, SHA256: cmp.Or(p.KernelSHA256, rel.KernelSHA256), Target: filepath.Join(pv.kernelsDir, kernel, mirage.KernelFile)}
	if kp.SHA256 == "" {
		if kp.Path == "" && !pv.inDom0 {
			return nil, nil // nothing to check
		}
		return nil, fmt.Errorf("no SHA-256 is published for release %s: pin the image with kernel: sha256", rel.Version)
	}
	if kp.Install, err = pv.checkImage(kp); err != nil {
		return nil, err
	}
	if !pv.inDom0 && kp.Path != "" {
		kp.Dom0Step = dom0Step(kp)
	}
	return kp, nil
}

// checkImage checks k's image to install against its pinned hash and, in
// dom0, the image installed: install says that one is missing or another,
// and it is an error when there is nothing to install in its place.
func (pv *provisioner) checkImage(k *KernelPlan) (install bool, err error) {
	if k.Path != "" {
		if err := verifyFile(k.Path, k.SHA256); err != nil {
			return false, err
		}
	}
	if !pv.inDom0 {
		return false, nil // dom0's copy is out of sight
	}
	installed, ok, err := installedSHA256(k.Target, k.SHA256)
	switch {
	case ok:
		return false, nil
	case k.Path == "" && err != nil:
		return false, fmt.Errorf("no kernel image in %s, and the policy gives none to install (kernel: path)", k.Target)
	case k.Path == "":
		return false, fmt.Errorf("the kernel image in %s has SHA-256 %s, not the pinned %s, and the policy gives none to install (kernel: path)", k.Target, installed, k.SHA256)
	}
	return true, nil
}

// steps reads the qube's state and returns the steps that bring it to
// want.
func (pv *provisioner) steps(ctx context.Context, want mirage.QubeState) ([]mirage.Step, error) {
	cur, err := pv.current(ctx, want)
	if err != nil {
		return nil, err
	}
	return mirage.Plan(want, cur)
}

// stepsJSON returns steps as plans show them.
func stepsJSON(steps []mirage.Step) []ProvisionStep {
	out := make([]ProvisionStep, len(steps))
	for i, s := range steps {
		out[i] = ProvisionStep{Op: s.Op.String(), Name: s.Name, From: s.From, HasFrom: s.HasFrom, To: s.To, Text: s.String()}
	}
	return out
}

// current reads, through the Admin API, the state of the qube want names:
// its class, and the properties and features want sets.
func (pv *provisioner) current(ctx context.Context, want mirage.QubeState) (mirage.Current, error) {
	vms, err := pv.client.List(ctx)
	if err != nil {
		return mirage.Current{}, err
	}
	i := slices.IndexFunc(vms, func(vm adminapi.VM) bool { return vm.Name == want.Name })
	if i < 0 {
		return mirage.Current{}, nil
	}
	cur := mirage.Current{Exists: true, Class: vms[i].Class, Properties: map[string]string{}, Features: map[string]string{}}
	for _, p := range want.Properties {
		v, err := pv.client.Property(ctx, want.Name, p.Name)
		if err != nil {
			return mirage.Current{}, fmt.Errorf("read property %s: %w", p.Name, err)
		}
		cur.Properties[p.Name] = v
	}
	for _, f := range want.Features {
		v, ok, err := pv.client.Feature(ctx, want.Name, f.Name)
		if err != nil {
			return mirage.Current{}, fmt.Errorf("read feature %s: %w", f.Name, err)
		}
		if ok {
			cur.Features[f.Name] = v
		}
	}
	return cur, nil
}

// provision brings one firewall qube to its plan's state, planning the
// steps again against the qube as it is now. The image is checked before
// anything is changed: an image that is not the pinned one changes
// nothing. It returns what happened in a few words.
func (pv *provisioner) provision(ctx context.Context, fp FirewallPlan, stderr io.Writer) (string, error) {
	steps, err := pv.steps(ctx, fp.Want)
	if err != nil {
		return "failed, unchanged", err
	}
	// Only the steps shown are taken.
	if !slices.Equal(stepsJSON(steps), fp.Steps) {
		return "stale plan, unchanged", errors.New("the qube changed since the plan was made; plan again")
	}
	restart := false
	if k := fp.Kernel; k != nil && k.Path != "" && pv.inDom0 {
		installed, err := pv.install(k)
		if err != nil {
			// The image may be in place: its directory's sync may fail
			// after the rename.
			return "failed", err
		}
		if installed {
			if pv.replaced == nil {
				pv.replaced = map[string]bool{}
			}
			pv.replaced[k.Target] = true
		}
		// A running qube keeps the image it booted.
		exists := len(steps) == 0 || steps[0].Op != mirage.CreateQube
		restart = pv.replaced[k.Target] && exists
	}
	for i, s := range steps {
		switch s.Op {
		case mirage.CreateQube:
			// Name is the class and To the label of the qube to create.
			err = pv.client.Create(ctx, s.Name, fp.Want.Name, s.To)
		case mirage.SetFeature:
			err = pv.client.SetFeature(ctx, fp.Want.Name, s.Name, s.To)
		case mirage.SetProperty:
			err = pv.client.SetProperty(ctx, fp.Want.Name, s.Name, s.To)
		case mirage.RestartQube:
			// Restarting a firewall qube cuts its clients off for a moment;
			// that is the user's to choose.
			restart = true
		default:
			err = fmt.Errorf("qfw cannot take a step of kind %s", s.Op)
		}
		if err != nil {
			if k := fp.Kernel; s.Name == "kernel" && k != nil && k.Dom0Step != "" {
				err = fmt.Errorf("%w; install the kernel image in dom0 first: %s", err, k.Dom0Step)
			}
			result := fmt.Sprintf("failed at step %d of %d", i+1, len(steps))
			if restart {
				result += "; its new kernel image is installed, for its next start"
			}
			return result, fmt.Errorf("%s: %w", s, err)
		}
	}
	if k := fp.Kernel; k != nil && k.Dom0Step != "" {
		fmt.Fprintf(stderr, "qfw: %s: the image is checked; the one step left is in dom0: %s\n", fp.Name, k.Dom0Step)
	}
	result := fmt.Sprintf("provisioned (%s)", words.Count(len(steps), "step"))
	if restart {
		result += "; restart it for its new settings to take effect"
	}
	return result, nil
}

// install writes the image into dom0's kernels directory, checking it on
// the way in, unless the image there is already the one wanted; installed
// says it wrote it.
func (pv *provisioner) install(k *KernelPlan) (installed bool, err error) {
	if _, ok, _ := installedSHA256(k.Target, k.SHA256); ok {
		return false, nil
	}
	src, err := os.Open(k.Path)
	if err != nil {
		return false, fmt.Errorf("kernel image: %w", err)
	}
	defer src.Close()
	if _, err := mirage.InstallKernel(src, filepath.Dir(k.Target), k.SHA256); err != nil {
		return false, err
	}
	return true, nil
}

// checkImages checks the kernel image of every firewall plan against its
// pinned hash: the image to install, or in dom0 the one installed when
// there is none to install. apply runs it before it changes anything, so
// that one image that is not the one pinned stops the whole apply.
func (pv *provisioner) checkImages(fps []FirewallPlan) error {
	for _, fp := range fps {
		if fp.Kernel == nil {
			continue
		}
		if _, err := pv.checkImage(fp.Kernel); err != nil {
			return fmt.Errorf("%s: %w; nothing changed", fp.Name, err)
		}
	}
	return nil
}

// verifyFile checks that the file at path has SHA-256 want, reading it as
// a stream. It must be a regular file of at most mirage.MaxKernelSize
// bytes: a pipe or a device could be read forever.
func verifyFile(path, want string) error {
	// Stat first: opening a FIFO blocks.
	switch fi, err := os.Stat(path); {
	case err != nil:
		return fmt.Errorf("kernel image: %w", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("kernel image %s is not a regular file", path)
	case fi.Size() > mirage.MaxKernelSize:
		return fmt.Errorf("kernel image %s is %d bytes; a unikernel image is a few megabytes, at most %d", path, fi.Size(), mirage.MaxKernelSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("kernel image: %w", err)
	}
	defer f.Close()
	if _, err := mirage.VerifyKernel(f, want); err != nil {
		return fmt.Errorf("kernel image %s: %w", path, err)
	}
	return nil
}

// installedSHA256 returns the SHA-256 of the image at path, and whether it
// is want.
func installedSHA256(path, want string) (got string, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	got, err = mirage.VerifyKernel(f, want)
	if errors.Is(err, mirage.ErrKernelMismatch) {
		return got, false, nil
	}
	return got, err == nil, err
}

// dom0Step is the command that installs the checked image in dom0, run
// there, copying it out of this qube. The image's path goes through two
// shells, dom0's and this qube's, so it is jsonfile.Quoted for both.
func dom0Step(k *KernelPlan) string {
	self, err := os.Hostname()
	if err != nil || self == "" {
		self = "THIS-QUBE"
	}
	path, err := filepath.Abs(k.Path)
	if err != nil {
		path = k.Path
	}
	tmp := shellQuote(k.Target + ".new")
	return fmt.Sprintf("mkdir -p %s && qvm-run --pass-io --no-gui %s %s > %s && echo %s | sha256sum -c && mv %s %s",
		shellQuote(filepath.Dir(k.Target)), shellQuote(self), shellQuote("cat -- "+shellQuote(path)), tmp,
		shellQuote(k.SHA256+"  "+k.Target+".new"), tmp, shellQuote(k.Target))
}

// shellQuote quotes s as one word for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
