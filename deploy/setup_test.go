package deploy

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestQrexecPolicy writes the qrexec policy for no policy, as --read-only
// does, and for the test policy: the rules that read, then those that set
// the managed qubes' lists and tag them by name, the qubes the inventory
// shows tagged included.
func TestQrexecPolicy(t *testing.T) {
	readOnly, err := os.ReadFile("../backends/qubes/qrexecpolicy/testdata/read-only.policy")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := buildTest(t, map[string]string{"policy.cue": testPolicy})
	tests := []struct {
		name    string
		mgmt    string
		res     *Built
		lines   string // the policy's lines but its comments
		warning string
	}{
		{name: "read-only", mgmt: "mgmt", lines: rules(string(readOnly))},
		{name: "policy", mgmt: "personal", res: b, lines: `
admin.vm.List          +                  personal  @adminvm          allow target=dom0
admin.vm.List          +                  personal  @anyvm            allow target=dom0
admin.vm.property.Get  +ip                personal  @anyvm            allow target=dom0
admin.vm.property.Get  +ip6               personal  @anyvm            allow target=dom0
admin.vm.property.Get  +label             personal  @anyvm            allow target=dom0
admin.vm.property.Get  +netvm             personal  @anyvm            allow target=dom0
admin.vm.property.Get  +provides_network  personal  @anyvm            allow target=dom0
admin.vm.tag.List      +                  personal  @anyvm            allow target=dom0
admin.vm.firewall.Get  +                  personal  @anyvm            allow target=dom0

admin.vm.firewall.Set  +                  personal  @tag:qfw-managed  allow target=dom0
admin.vm.tag.Remove    +qfw-managed       personal  @tag:qfw-managed  allow target=dom0

admin.vm.tag.Set       +qfw-managed       personal  vault             allow target=dom0
admin.vm.tag.Set       +qfw-managed       personal  work              allow target=dom0
`},
		{name: "mgmt not in the inventory", mgmt: "mgmt", res: b, warning: "qfw: warning: --mgmt mgmt: no such qube in the inventory\n"},
	}
	for _, tt := range tests {
		var warnings bytes.Buffer
		got, err := QrexecPolicy(tt.mgmt, tt.res, &warnings)
		if err != nil {
			t.Fatal(err)
		}
		if warnings.String() != tt.warning {
			t.Errorf("%s: warnings %q; want %q", tt.name, warnings.String(), tt.warning)
		}
		if tt.lines != "" && rules(string(got)) != tt.lines {
			t.Errorf("%s: policy\n%s\nwant\n%s", tt.name, rules(string(got)), tt.lines)
		}
	}
}

// rules returns the lines of a policy file that are not comments.
func rules(file string) string {
	var b strings.Builder
	for line := range strings.Lines(file) {
		if !strings.HasPrefix(line, "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}
