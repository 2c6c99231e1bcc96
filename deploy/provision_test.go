package deploy

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi/adminapitest"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// provisionSetup is a machine with sys-net and no unikernel firewall qube,
// and a kernel image for one.
type provisionSetup struct {
	srv          *adminapitest.Server
	kernels, img string
	imgSHA       string
}

func newProvisionSetup(t *testing.T) *provisionSetup {
	t.Helper()
	dir := t.TempDir()
	s := &provisionSetup{srv: adminapitest.New(t, map[string]adminapitest.Qube{"sys-net": {IP: "10.137.0.5", ProvidesNetwork: true}}), kernels: t.TempDir()}
	s.srv.CheckKernels(s.kernels)
	s.img = filepath.Join(dir, "qubes-firewall.xen")
	image := []byte("a unikernel image, for the test\n")
	sum := sha256.Sum256(image)
	s.imgSHA = hex.EncodeToString(sum[:])
	if err := os.WriteFile(s.img, image, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// From a management qube, qfw checks the image and leaves its
// installation to dom0, with the command to run there; setting the kernel
// fails until that is done, and says so.
func TestProvisionFromManagementQube(t *testing.T) {
	s := newProvisionSetup(t)
	pv := &provisioner{client: &adminapi.Client{Transport: adminapi.Socket{Path: s.srv.Path}}, kernelsDir: s.kernels}
	fw := ir.Firewall{Name: "mirage-fw", Netvm: "sys-net", MirageVersion: "0.9.5", Backend: ir.Mirage,
		Provision: &ir.Provision{KernelPath: s.img, KernelSHA256: s.imgSHA}}
	fp, err := pv.plan(context.Background(), fw)
	if err != nil {
		t.Fatal(err)
	}
	if fp.Kernel == nil || fp.Kernel.Install || !strings.Contains(fp.Kernel.Dom0Step, "sha256sum -c") || !strings.Contains(fp.Kernel.Dom0Step, s.imgSHA) {
		t.Fatalf("kernel plan: %+v", fp.Kernel)
	}
	var stderr bytes.Buffer
	result, err := pv.provision(context.Background(), fp, &stderr)
	if err == nil || !strings.Contains(err.Error(), "not installed") || !strings.Contains(err.Error(), fp.Kernel.Dom0Step) {
		t.Errorf("provision: %s, %v; want the kernel refused, with the dom0 step", result, err)
	}
	if entries, _ := os.ReadDir(s.kernels); len(entries) != 0 {
		t.Errorf("a management qube wrote dom0's kernels directory: %v", entries)
	}
}

// A saved plan's kernel is installed where it was planned: a plan made in
// a management qube, which leaves a step to run in dom0, is applied there
// and refused in dom0, where qfw would install the image without the plan
// showing it; a plan made in dom0 is refused in a management qube.
func TestProvisionSavedPlanWhere(t *testing.T) {
	s := newProvisionSetup(t)
	client := &adminapi.Client{Transport: adminapi.Socket{Path: s.srv.Path}}
	mgmt := &provisioner{client: client, kernelsDir: s.kernels}
	dom0 := &provisioner{client: client, kernelsDir: s.kernels, inDom0: true}
	fw := ir.Firewall{Name: "mirage-fw", Netvm: "sys-net", MirageVersion: "0.9.5", Backend: ir.Mirage,
		Provision: &ir.Provision{KernelPath: s.img, KernelSHA256: s.imgSHA}}
	for _, tc := range []struct {
		name        string
		made, check *provisioner
		err         string
	}{
		{"management qube, applied there", mgmt, mgmt, ""},
		{"dom0, applied there", dom0, dom0, ""},
		{"management qube, applied in dom0", mgmt, dom0, "--plan p.json: firewalls[0].kernel: the plan was made in a management qube (--qrexec), where dom0 installs the image; plan again here"},
		{"dom0, applied in a management qube", dom0, mgmt, "--plan p.json: firewalls[0].kernel: the plan was made in dom0, where qfw installs the image; plan again here"},
	} {
		fp, err := tc.made.plan(context.Background(), fw)
		if err != nil {
			t.Fatal(err)
		}
		err = tc.check.checkSavedFirewalls("p.json", &Plan{Firewalls: []FirewallPlan{fp}})
		if got := fmt.Sprint(err); tc.err == "" && err != nil || tc.err != "" && got != tc.err {
			t.Errorf("%s: %v; want %s", tc.name, err, cmp.Or(tc.err, "<nil>"))
		}
	}
}
