package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi/adminapitest"
)

// importLists are rule lists as admin.vm.firewall.Get returns them, each
// for one qube: mixed accept and drop order, expiry, comments, the DNS
// target, ICMP in both families, IPv6, host names, dead rules, and lists
// that a policy rule of qfw's would have expanded into several lines.
var importLists = map[string][]string{
	"q01-default": {"action=accept"},
	"q02-blocked": {"action=drop"},
	"q03-dns-only": {
		"action=accept specialtarget=dns comment=dns",
	},
	"q04-internet-not-lan": {
		"action=accept specialtarget=dns comment=dns",
		"action=drop dst4=10.0.0.0/8 comment=lan",
		"action=drop dst4=172.16.0.0/12 comment=lan",
		"action=drop dst4=192.168.0.0/16 comment=lan",
		"action=drop dst6=fd00::/8 comment=lan",
		"action=accept comment=internet",
	},
	"q05-web-only": {
		"action=accept proto=tcp dstports=80-80 comment=web",
		"action=accept proto=tcp dstports=443-443 comment=web",
		"action=accept specialtarget=dns",
	},
	"q06-expiry": {
		"action=accept expire=1900000000 dst4=203.0.113.7/32 proto=tcp dstports=22-22 comment=temporary ssh",
		"action=accept expire=1700000000 proto=udp comment=expired long ago",
		"action=drop",
	},
	"q07-icmp": {
		"action=accept proto=icmp icmptype=8",
		"action=accept dst4=0.0.0.0/0 proto=icmp icmptype=0",
		"action=accept dst6=::/0 proto=icmp icmptype=128",
		"action=accept dst4=192.0.2.0/24 proto=icmp",
		"action=accept proto=icmp",
	},
	"q08-ipv6": {
		"action=accept dst6=2001:db8::1/128 proto=tcp dstports=443-443 comment=v6 host",
		"action=drop dst6=2001:db8::/32 comment=v6 net",
		"action=accept dst6=::/0 comment=all of v6",
	},
	"q09-names": {
		"action=accept dsthost=github.com proto=tcp dstports=22-22 comment=git",
		"action=accept dsthost=update.example.org proto=tcp dstports=443-443",
		"action=drop dsthost=ads.example.net",
		"action=accept dsthost=time.example.com proto=udp dstports=123-123 comment=ntp",
	},
	"q10-dead-drop": {
		"action=accept proto=tcp",
		"action=drop proto=tcp dstports=25-25 comment=no mail",
		"action=drop",
	},
	"q11-duplicates": {
		"action=accept dst4=198.51.100.1/32 comment=twice",
		"action=accept dst4=198.51.100.1/32 comment=twice",
		"action=drop",
	},
	"q12-port-ranges": {
		"action=accept proto=tcp dstports=8000-8099 comment=dev",
		"action=accept proto=udp dstports=10000-10100 comment=media",
		"action=accept proto=tcp dstports=0-65535 comment=all tcp ports, written out",
		"action=accept proto=udp dstports=0-0",
	},
	"q13-dns-forms": {
		"action=accept proto=udp specialtarget=dns dstports=53-53",
		"action=accept proto=tcp specialtarget=dns dstports=53-53",
		"action=accept proto=udp specialtarget=dns",
	},
	"q14-exceptions": {
		"action=accept dst4=192.168.1.50/32 proto=tcp dstports=631-631 comment=printer",
		"action=drop dst4=192.168.0.0/16 comment=lan",
		"action=accept dst4=192.168.2.0/24 comment=dead lan exception",
		"action=accept comment=rest",
	},
	"q15-comments": {
		"action=accept dst4=192.0.2.1/32 comment=A comment with spaces, commas; and [brackets]",
		"action=accept dst4=192.0.2.2/32 comment=path/like: a.b_c-d",
		"action=accept dst4=192.0.2.3/32 comment=rule-1",
		"action=accept dst4=192.0.2.4/32 comment=priority",
	},
	"q16-drop-first": {
		"action=drop dst4=203.0.113.0/24",
		"action=drop dst6=2001:db8:bad::/48",
		"action=accept proto=tcp dstports=443-443",
		"action=accept proto=udp dstports=443-443 comment=quic",
	},
	"q17-mixed-order": {
		"action=accept dst4=10.1.0.0/16 proto=tcp dstports=22-22",
		"action=drop dst4=10.0.0.0/8",
		"action=accept dst4=10.2.0.0/16",
		"action=drop dst4=10.2.3.0/24",
		"action=accept",
	},
	"q18-vpn": {
		"action=accept dst4=198.51.100.7/32 proto=udp dstports=1194-1194 comment=openvpn",
		"action=accept dst4=198.51.100.7/32 proto=tcp dstports=443-443 comment=openvpn",
		"action=drop comment=nothing else",
	},
	"q19-icmp-names": {
		"action=accept dsthost=gateway.example.com proto=icmp icmptype=8",
		"action=accept dsthost=gateway.example.com proto=icmp",
	},
	"q20-expiring-drop": {
		"action=drop expire=1900000000 dst4=0.0.0.0/0 comment=maintenance",
		"action=accept",
	},
	"q21-long": longList(150),
	"q22-comment-names": {
		"action=accept comment=web",
		"action=accept dst4=192.0.2.9/32 comment=web",
		"action=accept dst4=192.0.2.10/32 comment=web-2",
	},
}

// longList is a list of n rules, more than the examples above, to check
// priorities past the hundreds.
func longList(n int) []string {
	var out []string
	for i := range n {
		action := "accept"
		if i%3 == 0 {
			action = "drop"
		}
		out = append(out, fmt.Sprintf("action=%s dst4=10.%d.%d.0/24 proto=tcp dstports=%d-%d comment=r%d", action, i/200, i%200, 1000+i, 1000+2*i, i))
	}
	return out
}

// importInventory gives every qube of importLists an address and a netvm.
func importInventory() string {
	var b strings.Builder
	b.WriteString(`{"qubes": {` + "\n")
	for i, name := range slicesSortedKeys(importLists) {
		fmt.Fprintf(&b, "\t%q: {\"ip\": \"10.137.0.%d\", \"ip6\": \"fd09:24ef:4179::a89:%x\", \"netvm\": \"sys-firewall\"},\n", name, 10+i, 10+i)
	}
	b.WriteString(`	"sys-firewall": {"ip": "10.137.0.6", "provides_network": true}` + "\n}}\n")
	return b.String()
}

// slicesSortedKeys returns the keys of m, sorted.
func slicesSortedKeys(m map[string][]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// importNow is when the imported policies are compiled back.
var importNow = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// runImport imports as o says, into o.Out, in the package policy, and
// fails t on an error.
func runImport(t *testing.T, o ImportOptions) *ImportResult {
	t.Helper()
	o.Package = "policy"
	res, err := Import(context.Background(), &o)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return res
}

// problems returns what res says of each qube left out, one a line.
func problems(res *ImportResult) string {
	var b strings.Builder
	for _, p := range res.Problems {
		fmt.Fprintf(&b, "%v\n", p)
	}
	return b.String()
}

// buildImport builds the policy in dir, with the inventory inv (empty:
// the one in dir), as qfw compile does, and fails t on an error.
func buildImport(t *testing.T, dir, inv string) *Built {
	t.Helper()
	b, _, errs := Build(BuildOptions{Args: []string{dir}, Inventory: inv, Now: importNow, Tests: true})
	if len(errs) > 0 {
		t.Fatalf("build of the import: %v", errs)
	}
	return b
}

// compileBack builds the policy in dir, as buildImport does, and returns
// each qube's list as qfw compile writes it.
func compileBack(t *testing.T, dir, inv string) map[string]string {
	t.Helper()
	files, err := qubesFiles(buildImport(t, dir, inv).Program, "", false)
	if err != nil {
		t.Fatal(err)
	}
	lists := map[string]string{}
	for _, f := range files {
		lists[strings.TrimSuffix(f.Name, ".rules")] = string(f.Text)
	}
	return lists
}

// TestImportRoundTrip imports each list from state files and compiles the
// policy import wrote: every list comes back byte for byte, in one file or
// one file per qube.
func TestImportRoundTrip(t *testing.T) {
	for _, perQube := range []bool{false, true} {
		t.Run(fmt.Sprintf("per-qube=%v", perQube), func(t *testing.T) {
			state := t.TempDir()
			for name, lines := range importLists {
				writeTestFiles(t, state, map[string]string{name + ".rules": strings.Join(lines, "\n") + "\n"})
			}
			inv := filepath.Join(t.TempDir(), "inventory.json")
			writeTestFiles(t, filepath.Dir(inv), map[string]string{"inventory.json": importInventory()})
			out := t.TempDir()
			if res := runImport(t, ImportOptions{State: state, Inventory: inv, Out: out, PerQube: perQube}); len(res.Problems) > 0 {
				t.Fatalf("import left qubes out:\n%s", problems(res))
			}
			got := compileBack(t, out, inv)
			for name, lines := range importLists {
				if want := strings.Join(lines, "\n") + "\n"; got[name] != want {
					t.Errorf("%s: compiles back to\n%s\nwant\n%s", name, got[name], want)
				}
			}
		})
	}
}

// TestImportLive imports through the Admin API: the lists and the
// inventory come from qubesd, and only Get calls are made.
func TestImportLive(t *testing.T) {
	srv := adminapitest.New(t, map[string]adminapitest.Qube{
		"sys-firewall": {IP: "10.137.0.6", Netvm: "sys-net", ProvidesNetwork: true},
		"sys-net":      {IP: "10.137.0.5", ProvidesNetwork: true},
		"work":         {IP: "10.137.0.11", Netvm: "sys-firewall", Firewall: importLists["q04-internet-not-lan"]},
		"mail":         {IP: "10.137.0.12", Netvm: "sys-firewall", Firewall: importLists["q10-dead-drop"]},
	})
	out := t.TempDir()
	admin := Admin{Socket: srv.Path}
	if res := runImport(t, ImportOptions{Admin: admin, Qubes: []string{"work", "mail"}, Out: out}); len(res.Problems) > 0 {
		t.Fatalf("import left qubes out:\n%s", problems(res))
	}
	for _, r := range srv.Requests() {
		if !strings.HasPrefix(r.Method, "admin.vm.firewall.Get") && !strings.HasPrefix(r.Method, "admin.vm.List") &&
			!strings.HasPrefix(r.Method, "admin.vm.property.Get") && !strings.HasPrefix(r.Method, "admin.vm.tag.List") {
			t.Errorf("import made the call %s; it must only read", r.Method)
		}
	}
	// With the inventory import wrote.
	got := compileBack(t, out, "")
	for qube, list := range map[string]string{"work": "q04-internet-not-lan", "mail": "q10-dead-drop"} {
		if want := strings.Join(importLists[list], "\n") + "\n"; got[qube] != want {
			t.Errorf("%s: compiles back to\n%s\nwant\n%s", qube, got[qube], want)
		}
	}
	// A second import does not overwrite what the first wrote.
	o := ImportOptions{Admin: admin, Out: out, Package: "policy"}
	if _, err := Import(context.Background(), &o); err == nil || !strings.Contains(err.Error(), "use --force") {
		t.Errorf("a second import: %v; want a refusal to overwrite", err)
	}
}

// What import cannot write, or what would not compile back, leaves its
// qube out with the reason; the other qubes are imported all the same.
func TestImportRefusals(t *testing.T) {
	long := make([]string, 1201)
	for i := range long {
		long[i] = fmt.Sprintf("action=accept dst4=10.%d.%d.0/24 comment=one of many rules, which together are too long for qubesd", i/200, i%200)
	}
	lists := map[string][]string{
		"good":             {"action=accept dst6=2001:DB8::1/128 proto=tcp dstports=80", "action=drop"},
		"any-host":         {"action=accept dsthost=any proto=tcp dstports=443-443", "action=drop"},
		"two-bad":          {"action=accept dsthost=any", "action=accept dst4=10.139.1.1/32 specialtarget=dns", "action=drop"},
		"key-64":           {"action=accept dsthost=aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbb.com", "action=drop"},
		"too-long":         long,
		"../../etc/passwd": {"action=accept"},
		"not-in-inventory": {"action=accept"},
	}
	b, err := json.Marshal(map[string]any{"qubes": lists})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTestFiles(t, dir, map[string]string{
		"state.json": string(b),
		"inventory.json": `{"qubes": {
	"good": {"ip": "10.137.0.11", "ip6": "fd09:24ef:4179::a89:b", "netvm": "sys-firewall"},
	"any-host": {"ip": "10.137.0.12", "netvm": "sys-firewall"},
	"two-bad": {"ip": "10.137.0.13", "netvm": "sys-firewall"},
	"key-64": {"ip": "10.137.0.10", "netvm": "sys-firewall"},
	"too-long": {"ip": "10.137.0.14", "netvm": "sys-firewall"},
	"sys-firewall": {"ip": "10.137.0.6", "provides_network": true}
}}`,
	})
	out := filepath.Join(dir, "out")
	res := runImport(t, ImportOptions{State: filepath.Join(dir, "state.json"), Inventory: filepath.Join(dir, "inventory.json"), Out: out, PerQube: true})
	got := problems(res)
	for _, want := range []string{
		`"../../etc/passwd" is not a Qubes name`,
		`qube any-host: rule 1: action=accept dsthost=any proto=tcp dstports=443-443: dsthost=any names a host called "any"`,
		`qube two-bad: rule 1: action=accept dsthost=any`,
		`qube two-bad: rule 2: action=accept dst4=10.139.1.1/32 specialtarget=dns: specialtarget=dns with a destination`,
		`qube key-64: rule 1: action=accept dsthost=aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbb.com: host name "aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbb.com" makes the Linux agent's QubesDB key`,
		`qube too-long: rule 666: action=accept dst4=10.3.65.0/24 comment=one of many rules, which together are too long for qubesd: the admin.vm.firewall.Set request for qube "too-long" is 118279 bytes sent from dom0, over qubesd's limit of 65536; this is the first rule that does not fit (rule 666 of the list)`,
		`qube not-in-inventory: not in the inventory`,
	} {
		if !strings.HasPrefix(got, want) && !strings.Contains(got, "\n"+want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	var summary strings.Builder
	if err := res.WriteSummary(&summary); err != nil {
		t.Fatal(err)
	}
	if want := "Imported 1 qube (2 rules) into " + out + "; each compiles back to its list, 1 line in canonical form rather than as read, which plan counts as unchanged.\n"; summary.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", summary.String(), want)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 || entries[0].Name() != "qube-good.cue" {
		t.Errorf("import wrote %v; want qube-good.cue alone", entries)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc")); err == nil {
		t.Error("a qube name wrote outside the output directory")
	}
}

// importBackends are the backends a qube's netvm may run, as --firewall
// gives them.
var importBackends = []string{"qubes", "nftables", "mirage"}

// TestImportGenerated imports lists of lines that dom0 accepts, made up
// from the grammar (qubes-firewall.md §2–§3), behind a firewall qube of
// each backend: each list either comes back byte for byte in dom0's own
// form when the policy import wrote is compiled, or is refused at one of
// its rules, naming the line and a reason. An empty list comes back as
// the one line that blocks everything.
func TestImportGenerated(t *testing.T) {
	rnd := rand.New(rand.NewPCG(6, 9))
	lists := map[string][]string{}
	for i := range 120 {
		n := rnd.IntN(7)
		if i%20 == 0 {
			n = 0
		}
		list := []string{} // an empty list, not JSON's null
		for range n {
			list = append(list, randomLine(rnd))
		}
		lists[fmt.Sprintf("g%03d", i)] = list
	}
	for _, backend := range importBackends {
		t.Run(backend, func(t *testing.T) { checkImport(t, lists, backend) })
	}
}

// TestImportEveryBackend imports the varied lists of importLists behind
// a firewall qube of each backend: each comes back byte for byte, or is
// refused at a rule with the reason.
func TestImportEveryBackend(t *testing.T) {
	for _, backend := range importBackends {
		t.Run(backend, func(t *testing.T) { checkImport(t, importLists, backend) })
	}
}

// checkImport imports lists from a state file behind sys-firewall running
// backend, and checks that every qube was imported and compiles back to
// its list in dom0's form, or was refused at one of its rules.
func checkImport(t *testing.T, lists map[string][]string, backend string) {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(map[string]any{"qubes": lists})
	if err != nil {
		t.Fatal(err)
	}
	var inv strings.Builder
	inv.WriteString(`{"qubes": {` + "\n")
	for i, name := range slicesSortedKeys(lists) {
		ip6 := ""
		if i%3 != 0 {
			ip6 = fmt.Sprintf(`, "ip6": "fd09:24ef:4179::a89:%x"`, 10+i)
		}
		fmt.Fprintf(&inv, "\t%q: {\"ip\": \"10.137.%d.%d\"%s, \"netvm\": \"sys-firewall\"},\n", name, 1+i/200, 10+i%200, ip6)
	}
	inv.WriteString(`	"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},` + "\n")
	inv.WriteString(`	"sys-net": {"ip": "10.137.0.5", "provides_network": true}` + "\n}}\n")
	writeTestFiles(t, dir, map[string]string{"state.json": string(b), "inventory.json": inv.String()})
	out := filepath.Join(dir, "out")
	state, invPath := filepath.Join(dir, "state.json"), filepath.Join(dir, "inventory.json")
	res := runImport(t, ImportOptions{State: state, Inventory: invPath, Out: out, Firewalls: []string{"sys-firewall=" + backend}})
	refused := map[string]bool{}
	for _, p := range res.Problems {
		line := p.Error()
		rest, ok := strings.CutPrefix(line, "qube ")
		if !ok {
			t.Errorf("import said %q; want only qubes not imported", line)
			continue
		}
		qube, rest, _ := strings.Cut(rest, ": ")
		var n int
		if _, err := fmt.Sscanf(rest, "rule %d: ", &n); err != nil || n < 1 || n > len(lists[qube]) {
			t.Errorf("qube %s refused without naming one of its rules: %s", qube, line)
			continue
		}
		prefix := fmt.Sprintf("rule %d: %s: ", n, lists[qube][n-1])
		switch {
		case !strings.HasPrefix(rest, prefix) || len(rest) == len(prefix):
			t.Errorf("qube %s refused at rule %d without its line and a reason: %s", qube, n, line)
		case strings.Contains(rest, "bug in qfw") || strings.Contains(rest, "internal error"):
			t.Errorf("qube %s refused for a bug: %s", qube, line)
		}
		t.Log(line)
		refused[qube] = true
	}
	if t.Failed() {
		return
	}
	built := buildImport(t, out, invPath)
	compiled := compileBack(t, out, invPath)
	imported := 0
	for _, qube := range slicesSortedKeys(lists) {
		if refused[qube] {
			continue
		}
		imported++
		want := ""
		for _, line := range lists[qube] {
			r, err := qubes.ParseRule(line)
			if err != nil {
				t.Fatalf("qube %s imported with line %q, which qfw refuses: %v", qube, line, err)
			}
			want += qubes.FormatRule(r) + "\n"
		}
		if want == "" {
			want = "action=drop comment=no-rules\n"
		}
		got, ok := compiled[qube]
		if !ok {
			t.Errorf("qube %s neither refused nor compiled", qube)
			continue
		}
		if got != want {
			t.Errorf("qube %s: compiles back to\n%s\nwant\n%s", qube, got, want)
		}
	}
	t.Logf("%s: %d of %d lists imported", backend, imported, len(lists))

	// The plan finds the lists in force unchanged, but for an empty one,
	// to which it adds the line that drops everything.
	var warnings strings.Builder
	plan, err := MakePlan(context.Background(), built, &PlanOptions{State: state, DataDir: t.TempDir(), Warnings: &warnings})
	if err != nil {
		t.Fatalf("plan of the import: %v", err)
	}
	if len(plan.Qubes) != imported {
		t.Errorf("plan shows %d qubes; want the %d imported", len(plan.Qubes), imported)
	}
	for _, q := range plan.Qubes {
		if want := len(lists[q.Name]) == 0; q.Changed != want {
			t.Errorf("plan: qube %s changed %v; want %v", q.Name, q.Changed, want)
		}
	}
}

// randomLine returns a line that dom0 accepts (qubes-firewall.md §2–§3),
// in dom0's order or not, favouring the forms qfw reads with care:
// expiry past and future, /0 prefixes, host names and IP literals as
// dsthost, IPv6 in several spellings, host bits, the DNS target with and
// without ports, ICMP with and without a type, and odd comments.
func randomLine(rnd *rand.Rand) string {
	pick := func(s ...string) string { return s[rnd.IntN(len(s))] }
	f := []string{"action=" + pick("accept", "drop")}
	if rnd.IntN(6) == 0 {
		f = append(f, "expire="+pick("1000000000", "1900000000", "4102444800"))
	}
	switch rnd.IntN(9) {
	case 1:
		f = append(f, "dst4="+pick("10.0.0.0/8", "192.0.2.1/32", "0.0.0.0/0", "198.51.100.0/24", "10.1.2.3/8"))
	case 2:
		f = append(f, "dst6="+pick("2001:db8::/32", "::/0", "2001:DB8::1/128", "fd00::/8", "2001:0db8:0:0::/64"))
	case 3, 4:
		f = append(f, "dsthost="+pick("example.com", "gw.example.net", "a-b.example.org", "time.example.com"))
	case 5:
		f = append(f, pick("dsthost=192.0.2.7", "dsthost=2001:db8::7", "dst4=192.0.2.8", "dstname=example.com"))
	}
	proto := pick("", "", "tcp", "udp", "icmp")
	if proto != "" {
		f = append(f, "proto="+proto)
	}
	dns := proto != "icmp" && rnd.IntN(5) == 0 || proto == "icmp" && rnd.IntN(40) == 0
	if dns {
		f = append(f, "specialtarget=dns")
	}
	switch {
	case (proto == "tcp" || proto == "udp") && dns && rnd.IntN(2) == 0:
		f = append(f, "dstports="+pick("53-53", "53", "1-1024"))
	case (proto == "tcp" || proto == "udp") && rnd.IntN(2) == 0:
		f = append(f, "dstports="+pick("443-443", "80", "0-65535", "1000-2000", "0-0", "65535"))
	case proto == "icmp" && rnd.IntN(3) != 0:
		f = append(f, "icmptype="+pick("0", "3", "8", "11", "128", "5", "255"))
	}
	if rnd.IntN(3) == 0 {
		rnd.Shuffle(len(f)-1, func(i, j int) { f[i+1], f[j+1] = f[j+1], f[i+1] })
	}
	if rnd.IntN(3) == 0 {
		f = append(f, "comment="+pick("web", "rule-1", "two  spaces", "a:b;c,d./_[x]-y", "priority", "dns", strings.Repeat("x", 2000), "ends ", "UPPER case 9"))
	}
	return strings.Join(f, " ")
}

// sizedList returns a list whose admin.vm.firewall.Set request for qube
// work, sent from dom0, is exactly size bytes: the rules dom0 takes at the
// edge of qubesd's limit.
func sizedList(size int) []string {
	header := len("admin.vm.firewall.Set+ dom0 name work\x00")
	var list []string
	n := header
	for i := 0; n < size-200; i++ {
		line := fmt.Sprintf("action=accept dst4=10.%d.%d.0/24 proto=tcp dstports=443-443 comment=r%d", i/250, i%250, i)
		list = append(list, line)
		n += len(line) + 1
	}
	last := "action=drop comment="
	return append(list, last+strings.Repeat("y", size-n-len(last)-1))
}

// TestImportSizeLimit imports lists at the edge of qubesd's limit on one
// request: one that fits when sent from dom0 (through the qubesd socket)
// imports and compiles back, and the plan finds nothing to change; the
// same list read from a management qube, whose name dom0 writes into the
// request, is refused at the first rule that does not fit, and so is one
// byte more from dom0.
func TestImportSizeLimit(t *testing.T) {
	fits := sizedList(adminapi.MaxRequest)
	if n := len("admin.vm.firewall.Set+ dom0 name work\x00") + len(strings.Join(fits, "\n")) + 1; n != adminapi.MaxRequest {
		t.Fatalf("sizedList made a request of %d bytes", n)
	}
	srv := adminapitest.New(t, map[string]adminapitest.Qube{
		"sys-firewall": {IP: "10.137.0.6", Netvm: "sys-net", ProvidesNetwork: true},
		"sys-net":      {IP: "10.137.0.5", ProvidesNetwork: true},
		"work":         {IP: "10.137.0.11", Netvm: "sys-firewall", Firewall: fits},
		"blocked":      {IP: "10.137.0.12", Netvm: "sys-firewall", Firewall: []string{}},
	})
	out := t.TempDir()
	admin := Admin{Socket: srv.Path}
	if res := runImport(t, ImportOptions{Admin: admin, Qubes: []string{"work", "blocked"}, Out: out}); len(res.Problems) > 0 {
		t.Fatalf("import of %d rules that fit from dom0 left qubes out:\n%s", len(fits), problems(res))
	}
	compiled := compileBack(t, out, "")
	if want := strings.Join(fits, "\n") + "\n"; compiled["work"] != want {
		t.Errorf("the list of %d rules compiles back otherwise", len(fits))
	}
	// The empty list dom0 holds for blocked blocks everything; so does its
	// policy, in the one line dom0 can be given.
	if got := compiled["blocked"]; got != "action=drop comment=no-rules\n" {
		t.Errorf("blocked, whose list was empty, compiles to %q; want the line that drops everything", got)
	}
	var warnings, text strings.Builder
	plan, err := MakePlan(context.Background(), buildImport(t, out, ""), &PlanOptions{Admin: admin, Qube: "work", DataDir: t.TempDir(), Warnings: &warnings})
	if err != nil {
		t.Fatalf("plan of the import: %v", err)
	}
	if err := plan.WriteText(&text); err != nil || !strings.Contains(text.String(), "Plan: 1 qube to tag qfw-managed; 1 qube unchanged.") {
		t.Errorf("plan of the import: %v\n%s\nwant the list unchanged, to be tagged", err, text.String())
	}

	dir := t.TempDir()
	over := slices.Clone(fits)
	over[len(over)-1] += "y"
	for name, list := range map[string][]string{"fits": fits, "over": over} {
		b, err := json.Marshal(map[string]any{"qubes": map[string][]string{"work": list}})
		if err != nil {
			t.Fatal(err)
		}
		writeTestFiles(t, dir, map[string]string{name + ".json": string(b)})
	}
	inv := filepath.Join(out, "inventory.json")
	last := fmt.Sprintf("qube work: rule %d: %s: the admin.vm.firewall.Set request for qube \"work\" is ", len(fits), over[len(over)-1])
	for _, tt := range []struct {
		state  string
		qrexec bool
		want   string
	}{
		{"over", false, last + "65537 bytes sent from dom0, over qubesd's limit of 65536; this is the first rule that does not fit (rule " + fmt.Sprint(len(fits)) + " of the list)\n"},
		{"fits", true, strings.Replace(last, over[len(over)-1], fits[len(fits)-1], 1) + "65563 bytes sent from a qube with a 31-character name, over qubesd's limit of 65536; this is the first rule that does not fit (rule " + fmt.Sprint(len(fits)) + " of the list)\n"},
	} {
		o := ImportOptions{Admin: Admin{Qrexec: tt.qrexec}, State: filepath.Join(dir, tt.state+".json"), Inventory: inv, Out: t.TempDir()}
		if res := runImport(t, o); problems(res) != tt.want || len(res.Written) != 0 {
			t.Errorf("import of %s, qrexec %v: wrote %v\n%s\nwant nothing written and\n%s", tt.state, tt.qrexec, res.Written, problems(res), tt.want)
		}
	}

	// A build for a management qube refuses the list imported in dom0 at
	// the same rule: it could not set it.
	_, _, errs := Build(BuildOptions{Args: []string{out}, Now: importNow, Qrexec: true})
	if want := "65563 bytes sent from a qube with a 31-character name, over qubesd's limit of 65536; this is the first rule that does not fit (rule " + fmt.Sprint(len(fits)) + " of the list)"; len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
		t.Errorf("build for a management qube of the import: %v\nwant the list refused at its last rule", errs)
	}
}
