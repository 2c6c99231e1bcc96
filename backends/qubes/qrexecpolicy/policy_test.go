package qrexecpolicy

import (
	"testing"
)

// Parse takes the lines dom0 takes that it understands, and refuses the
// others at their line, rather than read them otherwise than dom0.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line, want, err string
	}{
		{line: "admin.vm.List + mgmt @adminvm allow target=dom0", want: "admin.vm.List + mgmt @adminvm allow target=dom0"},
		{line: "admin.vm.List * mgmt dom0 allow", want: "admin.vm.List * mgmt @adminvm allow"},
		{line: "  admin.vm.firewall.Set\t*  mgmt  @tag:qfw-managed  allow  target=@adminvm ", want: "admin.vm.firewall.Set * mgmt @tag:qfw-managed allow target=dom0"},
		{line: "admin.vm.property.Get +netvm @anyvm @type:AppVM allow target=dom0", want: "admin.vm.property.Get +netvm @anyvm @type:AppVM allow target=dom0"},
		{line: "* * mgmt @anyvm deny notify=no", want: "* * mgmt @anyvm deny notify=no"},
		{line: "admin.vm.Kill + @tag:mgmt work deny", want: "admin.vm.Kill + @tag:mgmt work deny"},

		{line: "!include include/admin-local-rwx", err: `x.policy:2: directive "!include": only rules are read here, not includes`},
		{line: "admin.vm.List + mgmt @adminvm", err: "x.policy:2: 4 fields; a rule has service, argument, source, target and action"},
		{line: "admin.vm.List+ + mgmt @adminvm allow", err: `x.policy:2: service "admin.vm.List+": want letters, digits, "-", "." and "_", or *`},
		{line: "admin.vm.List netvm mgmt @adminvm allow", err: `x.policy:2: argument "netvm": want + and the argument, or *`},
		{line: "admin.vm.List +a/b mgmt @adminvm allow", err: `x.policy:2: argument "+a/b": want + and the argument, or *`},
		{line: "* +netvm mgmt @adminvm allow", err: `x.policy:2: argument "+netvm": only * goes with service *`},
		{line: "admin.vm.List + @adminvm @adminvm allow", err: `x.policy:2: source "@adminvm": dom0's calls are not evaluated against the policy`},
		{line: "admin.vm.List + dom0 @adminvm allow", err: `x.policy:2: source "dom0": dom0's calls are not evaluated against the policy`},
		{line: "admin.vm.List + * @adminvm allow", err: `x.policy:2: source "*" is not read here: want a qube, @anyvm, @adminvm, @tag:TAG or @type:CLASS`},
		{line: "admin.vm.List + mgmt @dispvm allow target=dom0", err: `x.policy:2: target "@dispvm" is not read here: want a qube, @anyvm, @adminvm, @tag:TAG or @type:CLASS`},
		{line: "admin.vm.List + mgmt @tag: allow target=dom0", err: `x.policy:2: target "@tag:": want @tag: and a name`},
		{line: "admin.vm.List + 1mgmt @adminvm allow", err: `x.policy:2: source "1mgmt" is not a qube name`},
		{line: "admin.vm.List + mgmt @adminvm ask", err: "x.policy:2: action ask: it waits for a person in dom0, and is not read here"},
		{line: "admin.vm.List + mgmt @adminvm permit", err: `x.policy:2: action "permit": want allow or deny`},
		{line: "admin.vm.List + mgmt @adminvm allow target", err: `x.policy:2: parameter "target": want NAME=VALUE`},
		{line: "admin.vm.List + mgmt @adminvm allow target=dom0 target=dom0", err: "x.policy:2: parameter target given twice"},
		{line: "admin.vm.List + mgmt @adminvm allow target=work", err: "x.policy:2: target=work: only target=dom0 is read here, which Admin API calls need"},
		{line: "admin.vm.List + mgmt @adminvm allow user=root", err: `x.policy:2: parameter "user=root" of allow is not read here`},
		{line: "admin.vm.List + mgmt @adminvm deny target=dom0", err: `x.policy:2: parameter "target=dom0" of deny is not read here`},
		{line: "admin.vm.List + mgmt @adminvm deny notify=maybe", err: "x.policy:2: notify=maybe: want yes or no"},
		{line: "admin.vm.firewall.Get + mgmt work allow", err: "x.policy:2: allow without target=dom0 sends the call to qube work, not to dom0's Admin API"},
		{line: "admin.vm.List + mgmt @adminvm allow target=dom0 # comment", err: `x.policy:2: parameter "#": want NAME=VALUE`},
	} {
		p, err := Parse("x.policy", []byte("# a comment\n"+tc.line+"\n\n"))
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("Parse(%q) = %v; want %s", tc.line, err, tc.err)
			}
		case err != nil:
			t.Errorf("Parse(%q): %v", tc.line, err)
		case len(p.Rules) != 1 || p.Rules[0].String() != tc.want || p.Rules[0].Line != 2:
			t.Errorf("Parse(%q) = %+v; want %s at line 2", tc.line, p.Rules, tc.want)
		}
	}
}
