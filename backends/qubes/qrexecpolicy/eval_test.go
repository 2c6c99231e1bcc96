package qrexecpolicy

import "testing"

var evalQubes = map[string]Qube{
	"dom0":      {Class: "AdminVM", Tags: []string{"qfw-managed"}},
	"mgmt":      {Class: "AppVM", Tags: []string{"mgmt"}},
	"work":      {Class: "AppVM", Tags: []string{"qfw-managed"}},
	"personal":  {Class: "AppVM"},
	"mirage-fw": {Class: "StandaloneVM"},
}

const evalPolicy = `admin.vm.List          +        mgmt  @adminvm          allow target=dom0
admin.vm.List          +        mgmt  @anyvm            allow target=dom0
admin.vm.firewall.Set  +        mgmt  @tag:qfw-managed  allow target=dom0
admin.vm.tag.Set       +qfw-managed mgmt work           allow target=dom0
admin.vm.property.Get  +kernel  mgmt  @type:StandaloneVM allow target=dom0
admin.vm.feature.Get   *        @tag:mgmt  personal     deny
admin.vm.feature.Get   *        @anyvm  @anyvm          allow target=dom0
`

// Evaluate decides as dom0 does: the first rule that matches decides,
// @anyvm, @tag: and @type: never match dom0, the argument matches
// exactly, and a call no rule matches or that names no qube is refused.
func TestEvaluate(t *testing.T) {
	p, err := Parse("30-qfw.policy", []byte(evalPolicy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		call Call
		line int // the rule that decides; 0 for none
		ok   bool
	}{
		{Call{"admin.vm.List", "", "mgmt", "dom0"}, 1, true},
		{Call{"admin.vm.List", "", "mgmt", "@adminvm"}, 1, true},
		{Call{"admin.vm.List", "", "mgmt", "work"}, 2, true},
		{Call{"admin.vm.List", "x", "mgmt", "work"}, 0, false},
		{Call{"admin.vm.List", "", "work", "dom0"}, 0, false},
		{Call{"admin.vm.List", "", "mgmt", "nosuchqube"}, 0, false},
		{Call{"admin.vm.firewall.Set", "", "mgmt", "work"}, 3, true},
		{Call{"admin.vm.firewall.Set", "", "mgmt", "personal"}, 0, false},
		// dom0's tags do not make it a target of @tag:.
		{Call{"admin.vm.firewall.Set", "", "mgmt", "dom0"}, 0, false},
		{Call{"admin.vm.tag.Set", "qfw-managed", "mgmt", "work"}, 4, true},
		{Call{"admin.vm.tag.Set", "qfw-managed", "mgmt", "personal"}, 0, false},
		{Call{"admin.vm.tag.Set", "other", "mgmt", "work"}, 0, false},
		{Call{"admin.vm.property.Get", "kernel", "mgmt", "mirage-fw"}, 5, true},
		{Call{"admin.vm.property.Get", "kernel", "mgmt", "work"}, 0, false},
		{Call{"admin.vm.feature.Get", "x", "mgmt", "personal"}, 6, false},
		{Call{"admin.vm.feature.Get", "x", "mgmt", "work"}, 7, true},
		{Call{"admin.vm.feature.Get", "x", "work", "personal"}, 7, true},
		{Call{"admin.vm.feature.Get", "x", "work", "dom0"}, 0, false},
	} {
		d := p.Evaluate(tc.call, evalQubes)
		line := 0
		if d.Rule != nil {
			line = d.Rule.Line
		}
		if d.Allowed != tc.ok || line != tc.line {
			t.Errorf("Evaluate(%+v) = %t by line %d; want %t by line %d", tc.call, d.Allowed, line, tc.ok, tc.line)
		}
	}
	var none *Policy
	if d := none.Evaluate(Call{"admin.vm.List", "", "mgmt", "dom0"}, evalQubes); d.Allowed || d.Rule != nil {
		t.Errorf("a nil policy: %+v; want refused", d)
	}
}
