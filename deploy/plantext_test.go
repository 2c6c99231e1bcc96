package deploy

import (
	"strings"
	"testing"
	"time"
)

// TestPlanWriteText checks the text of plans, byte for byte: edits with
// the rule or note of each line aligned, a list edited outside qfw, the
// unikernel firewall qubes, the qubes that left the policy, those to tag,
// the unchanged ones and each form of the summary.
func TestPlanWriteText(t *testing.T) {
	edited := time.Date(2026, 11, 25, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, tt := range []struct {
		name string
		plan Plan
		want string
	}{{
		name: "no changes",
		plan: Plan{Qubes: []QubePlan{{Name: "work"}}, Summary: PlanSummary{Unchanged: 1}},
		want: "Unchanged: work.\n\nNo changes: 1 qube matches the policy.\n",
	}, {
		name: "no changes, several",
		plan: Plan{Qubes: []QubePlan{{Name: "work"}, {Name: "mail"}}, Unmanaged: []string{"untrusted"},
			Summary: PlanSummary{Unchanged: 2, Unmanaged: 1}},
		want: "Unchanged: mail, work.\n\nNo changes: 2 qubes match the policy.\nNot managed by the policy: 1 networked qube (untrusted).\n",
	}, {
		name: "edits",
		plan: Plan{
			Qubes: []QubePlan{
				{Name: "work", Changed: true, EditedAt: &edited, Edits: []PlanEdit{
					{Op: "-", Line: "action=accept"},
					{Op: "-", Line: "action=accept dst4=10.0.0.1/8", Note: "host bits set, at rule 2 of the list"},
					{Op: "+", Line: "action=accept proto=tcp dstports=443-443 comment=web", Rule: "allow.web"},
					{Op: "~", Line: "action=drop"},
				}},
				{Name: "mail", Mark: true},
			},
			Left:      []string{"old", "older"},
			Unmanaged: []string{"sys-usb", "untrusted"},
			Summary:   PlanSummary{Change: 1, Unchanged: 1, Add: 1, Remove: 2, Left: 2, Mark: 1, Unmanaged: 2},
		},
		want: `work: (edited outside qfw since qfw set it at 2026-11-25T09:00:00Z)
  - action=accept
  - action=accept dst4=10.0.0.1/8                         # host bits set, at rule 2 of the list
  + action=accept proto=tcp dstports=443-443 comment=web  # allow.web
  ~ action=drop

old: left the policy; qfw set its list and keeps it as it is. To stop managing it: qfw apply --release old

older: left the policy; qfw set its list and keeps it as it is. To stop managing it: qfw apply --release older

To tag qfw-managed: mail.

Unchanged: mail.

Plan: 1 qube to change, 1 unchanged; 1 rule to add, 2 to remove; 1 qube to tag qfw-managed; 2 qubes left the policy, their lists kept.
Not managed by the policy: 2 networked qubes (sys-usb, untrusted).
`,
	}, {
		name: "left alone",
		plan: Plan{Qubes: []QubePlan{{Name: "work"}}, Left: []string{"old"}, Summary: PlanSummary{Unchanged: 1, Left: 1}},
		want: `old: left the policy; qfw set its list and keeps it as it is. To stop managing it: qfw apply --release old

Unchanged: work.

No changes: 1 qube matches the policy; 1 qube left the policy, its list kept.
`,
	}, {
		name: "tags only",
		plan: Plan{Qubes: []QubePlan{{Name: "work", Mark: true}, {Name: "mail", Mark: true}}, Summary: PlanSummary{Unchanged: 2, Mark: 2}},
		want: "To tag qfw-managed: work, mail.\n\nUnchanged: mail, work.\n\nPlan: 2 qubes to tag qfw-managed; 2 qubes unchanged.\n",
	}, {
		name: "firewalls",
		plan: Plan{
			Qubes: []QubePlan{{Name: "work", Changed: true, Edits: []PlanEdit{{Op: "+", Line: "action=drop"}}}},
			Firewalls: []FirewallPlan{
				{Name: "mirage-fw", Release: "0.9.5",
					Kernel: &KernelPlan{Path: "fw.xen", SHA256: "ab12", Target: "/var/lib/qubes/vm-kernels/mirage-firewall/vmlinuz", Install: true},
					Steps:  []ProvisionStep{{Op: "create", Text: "create mirage-fw, class StandaloneVM"}}},
				{Name: "mirage-mgmt", Release: "0.9.5",
					Kernel: &KernelPlan{Path: "fw.xen", SHA256: "ab12", Dom0Step: "qvm-run --pass-io mgmt 'cat fw.xen' > vmlinuz"},
					Steps:  []ProvisionStep{{Op: "set", Text: "set mirage-mgmt's memory to 64"}}},
				{Name: "mirage-done", Release: "0.9.5",
					Kernel: &KernelPlan{Path: "fw.xen", SHA256: "ab12", Dom0Step: "qvm-run --pass-io mgmt 'cat fw.xen' > vmlinuz"}},
				{Name: "mirage-quiet", Release: "0.9.5", Kernel: &KernelPlan{SHA256: "ab12"}},
			},
			Summary: PlanSummary{Change: 1, Add: 1, Provision: 2},
		},
		want: `work:
  + action=drop

mirage-fw (unikernel firewall 0.9.5):
  + install the kernel image fw.xen into /var/lib/qubes/vm-kernels/mirage-firewall/vmlinuz (SHA-256 ab12, checked)
  + create mirage-fw, class StandaloneVM

mirage-mgmt (unikernel firewall 0.9.5):
  + in dom0, install the kernel image fw.xen (SHA-256 ab12, checked here):
      qvm-run --pass-io mgmt 'cat fw.xen' > vmlinuz
  + set mirage-mgmt's memory to 64

mirage-done (unikernel firewall 0.9.5): nothing to change; the kernel image fw.xen is checked here, but dom0's copy is out of sight. If it is not installed yet, run in dom0:
      qvm-run --pass-io mgmt 'cat fw.xen' > vmlinuz

Plan: 1 qube to change, 0 unchanged; 1 rule to add, 0 to remove; 2 firewall qubes to provision.
`,
	}, {
		name: "provision only",
		plan: Plan{Qubes: []QubePlan{{Name: "work"}},
			Firewalls: []FirewallPlan{{Name: "mirage-fw", Release: "0.9.5", Steps: []ProvisionStep{{Op: "create", Text: "create mirage-fw"}}}},
			Summary:   PlanSummary{Unchanged: 1, Provision: 1}},
		want: `mirage-fw (unikernel firewall 0.9.5):
  + create mirage-fw

Unchanged: work.

Plan: 1 firewall qube to provision; 1 qube unchanged.
`,
	}} {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.plan.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}
