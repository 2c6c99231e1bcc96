package agentbench

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/internal/netnstest"
)

// illustration is the example of qubes-firewall.md §9.4: the transaction
// the stock agent sends for 10.137.0.5 and four rules.
var illustration = Target{
	Addr: netip.MustParseAddr("10.137.0.5"),
	Entries: map[string]string{
		"policy": "drop",
		"0000":   "action=accept dst4=192.168.1.0/24 proto=tcp dstports=22-22",
		"0001":   "action=accept specialtarget=dns",
		"0002":   "action=accept proto=icmp",
		"0003":   "action=drop",
	},
}

const illustrationText = `flush set ip qubes-firewall dns-addr
add element ip qubes-firewall dns-addr { 10.139.1.1, 10.139.1.2 }
flush chain ip qubes-firewall qbs-10-137-0-5
table ip qubes-firewall {
  chain qbs-10-137-0-5 {
    ip protocol tcp ip daddr 192.168.1.0/24 tcp dport 22 accept
    ip daddr @dns-addr tcp dport 53 accept
    ip daddr @dns-addr udp dport 53 accept
    ip protocol icmp accept
    reject with icmp type admin-prohibited
    reject with icmp type admin-prohibited
  }
}
`

var (
	addr4 = netip.MustParseAddr("10.137.0.5")
	addr6 = netip.MustParseAddr("fd09:24ef:4179::a89:7")
)

// blocked4 and blocked6 are the transactions with which the agent blocks
// addr4 and addr6 when their entries do not parse.
const blocked4 = `flush set ip qubes-firewall dns-addr
add element ip qubes-firewall dns-addr { 10.139.1.1, 10.139.1.2 }
flush chain ip qubes-firewall qbs-10-137-0-5
table ip qubes-firewall {
  chain qbs-10-137-0-5 {
    reject with icmp type admin-prohibited
  }
}
`
const blocked6 = `flush set ip6 qubes-firewall dns-addr
#add element ip6 qubes-firewall dns-addr {  }
flush chain ip6 qubes-firewall qbs-fd09-24ef-4179--a89-7
table ip6 qubes-firewall {
  chain qbs-fd09-24ef-4179--a89-7 {
    reject with icmpv6 type admin-prohibited
  }
}
`

// hosts resolves the names of the tests.
func hosts(host string, family int) ([]netip.Addr, error) {
	switch {
	case host == "example.com" && family == 4:
		return []netip.Addr{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("93.184.216.3"), netip.MustParseAddr("93.184.216.34")}, nil
	case host == "example.com" && family == 6:
		return []netip.Addr{netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::1")}, nil
	case host == "v4only.example":
		return []netip.Addr{netip.MustParseAddr("198.51.100.7")}, nil
	}
	return nil, errors.New("Name or service not known")
}

// entries returns a policy of drop and lines at 0000, 0001 and so on.
func entries(lines ...string) map[string]string {
	m := map[string]string{"policy": "drop"}
	for i, l := range lines {
		m[fmt.Sprintf("%04d", i)] = l
	}
	return m
}

// rulesTests are the transactions for a target, and whether nft refuses
// them (a RuleApplyError for the agent). Tests against the kernel check
// the same table.
var rulesTests = []struct {
	name       string
	target     Target
	want       string
	err        string
	nftRefuses bool
}{
	{name: "illustration", target: illustration, want: illustrationText},
	{
		name: "IPv6",
		target: Target{Addr: addr6, Entries: map[string]string{
			"policy": "drop",
			// Gaps where the other family's rules were.
			"0000": "action=accept dst6=2001:db8::/32 proto=tcp dstports=443-443",
			"0002": "action=accept proto=icmp icmptype=8",
			"0003": "action=drop dsthost=example.com proto=udp dstports=1000-2000",
			"0010": "action=accept specialtarget=dns",
			"0011": "action=accept proto=tcp dstports=80-80",
		}},
		// icmptype is not translated: 8 is not echo request in ICMPv6.
		// The IPv6 dns-addr set stays empty: no nameserver of the family.
		want: `flush set ip6 qubes-firewall dns-addr
#add element ip6 qubes-firewall dns-addr {  }
flush chain ip6 qubes-firewall qbs-fd09-24ef-4179--a89-7
table ip6 qubes-firewall {
  chain qbs-fd09-24ef-4179--a89-7 {
    ip6 nexthdr tcp ip6 daddr 2001:db8::/32 tcp dport 443 accept
    ip6 nexthdr icmpv6 icmpv6 type 8 accept
    ip6 nexthdr udp ip6 daddr { 2001:db8::1/128, 2001:db8::2/128 } udp dport 1000-2000 reject with icmpv6 type admin-prohibited
    ip6 daddr @dns-addr tcp dport 53 accept
    ip6 daddr @dns-addr udp dport 53 accept
    ip6 nexthdr tcp tcp dport 80 accept
    reject with icmpv6 type admin-prohibited
  }
}
`,
	},
	{
		name: "host names and DNS ports",
		target: Target{Addr: addr4, Entries: entries(
			"action=accept dsthost=example.com",
			"action=accept specialtarget=dns proto=tcp dstports=1-1024",
			"action=accept specialtarget=dns proto=udp dstports=53-53",
			"action=drop proto=tcp dstports=0-65535",
		)},
		// A DNS rule with ports other than 53 is left out.
		want: `flush set ip qubes-firewall dns-addr
add element ip qubes-firewall dns-addr { 10.139.1.1, 10.139.1.2 }
flush chain ip qubes-firewall qbs-10-137-0-5
table ip qubes-firewall {
  chain qbs-10-137-0-5 {
    ip daddr { 93.184.216.3/32, 93.184.216.34/32 } accept
    ip protocol udp ip daddr @dns-addr udp dport 53 accept
    ip protocol tcp tcp dport 0-65535 reject with icmp type admin-prohibited
    reject with icmp type admin-prohibited
  }
}
`,
	},
	{
		name:   "DNS over ICMP",
		target: Target{Addr: addr4, Entries: entries("action=accept proto=icmp specialtarget=dns")},
		want: `flush set ip qubes-firewall dns-addr
add element ip qubes-firewall dns-addr { 10.139.1.1, 10.139.1.2 }
flush chain ip qubes-firewall qbs-10-137-0-5
table ip qubes-firewall {
  chain qbs-10-137-0-5 {
    ip protocol icmp ip daddr @dns-addr icmp dport 53 accept
    reject with icmp type admin-prohibited
  }
}
`,
		nftRefuses: true,
	},
	{name: "no policy", target: Target{Addr: addr4, Entries: map[string]string{"0000": "action=accept"}},
		want: blocked4, err: "rules for 10.137.0.5 blocked: no 'policy' defined"},
	{name: "not a rule", target: Target{Addr: addr4, Entries: map[string]string{"policy": "drop", "10000": "action=accept"}},
		want: blocked4, err: "rules for 10.137.0.5 blocked: unexpected non-rule found: 10000=action=accept"},
	{name: "no action", target: Target{Addr: addr4, Entries: entries("proto=tcp")},
		want: blocked4, err: "rules for 10.137.0.5 blocked: rule 'proto=tcp' lacks action"},
	{name: "unknown option", target: Target{Addr: addr4, Entries: entries("action=accept expire=5 comment=x")},
		want: blocked4, err: "rules for 10.137.0.5 blocked: unsupported rule option(s): comment, expire"},
	{name: "dst6 on IPv4", target: Target{Addr: addr4, Entries: entries("action=accept dst6=::/0")},
		want: blocked4, err: "rules for 10.137.0.5 blocked: dst6 rule found for IPv4 address"},
	{name: "dst4 on IPv6", target: Target{Addr: addr6, Entries: entries("action=accept dst4=0.0.0.0/0")},
		want: blocked6, err: "rules for fd09:24ef:4179::a89:7 blocked: IPv4 rule found for IPv6 address"},
	{name: "bad action", target: Target{Addr: addr4, Entries: entries("action=reject")},
		want: blocked4, err: "rules for 10.137.0.5 blocked: invalid rule action reject"},
	{name: "bad policy", target: Target{Addr: addr4, Entries: map[string]string{"policy": "allow"}},
		want: blocked4, err: "rules for 10.137.0.5 blocked: invalid rule action allow"},
	{name: "unresolved", target: Target{Addr: addr4, Entries: entries("action=accept proto=tcp", "action=accept dsthost=nowhere.example")},
		want: blocked4, err: "rules for 10.137.0.5 blocked: failed to resolve nowhere.example: Name or service not known"},
	{name: "no address of the family", target: Target{Addr: addr6, Entries: entries("action=accept dsthost=v4only.example")},
		want: blocked6, err: "rules for fd09:24ef:4179::a89:7 blocked: failed to resolve v4only.example: no address of family 6"},
	{name: "two spaces", target: Target{Addr: addr4, Entries: entries("action=accept  proto=tcp")},
		err: `the stock agent crashes on rule 0000 "action=accept  proto=tcp": token "" is not key=value`},
	{name: "two equals", target: Target{Addr: addr4, Entries: entries("action=accept dsthost=a=b")},
		err: `the stock agent crashes on rule 0000 "action=accept dsthost=a=b": token "dsthost=a=b" is not key=value`},
	{name: "empty rule", target: Target{Addr: addr4, Entries: entries("")},
		err: `the stock agent crashes on rule 0000 "": token "" is not key=value`},
}

var testConfig = Config{DNS4: eval.QubesDNS(), Resolve: hosts}

func TestRules(t *testing.T) {
	for _, tt := range rulesTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Rules(tt.target, testConfig)
			if got != tt.want {
				t.Errorf("Rules() =\n%s\nwant\n%s", got, tt.want)
			}
			var msg string
			if err != nil {
				msg = err.Error()
			}
			if msg != tt.err {
				t.Errorf("Rules() error = %q, want %q", msg, tt.err)
			}
			if crash := strings.HasPrefix(tt.err, "the stock agent crashes"); errors.Is(err, ErrCrash) != crash {
				t.Errorf("errors.Is(err, ErrCrash) = %v, want %v", !crash, crash)
			}
		})
	}
}

func TestSkeletonAndChain(t *testing.T) {
	if got, want := CreateChain(addr6), `table ip6 qubes-firewall {
  chain qbs-fd09-24ef-4179--a89-7 {
  }
  chain qubes-forward {
    ip6 saddr fd09:24ef:4179::a89:7 jump qbs-fd09-24ef-4179--a89-7
  }
}
`; got != want {
		t.Errorf("CreateChain(%s) =\n%s\nwant\n%s", addr6, got, want)
	}
	want := `table ip qubes-firewall {
  set dns-addr {
    type ipv4_addr
  }
  chain qubes-forward {
  }
  chain forward {
    type filter hook forward priority 0;
    policy drop;
    ct state established,related accept
    meta iifname != "vif*" accept
    jump qubes-forward
  }
  chain prerouting {
    type filter hook prerouting priority -300;
    policy accept;
  }
  chain postrouting {
    type filter hook postrouting priority -300;
    policy accept;
  }
}
`
	if got := Skeleton(); got != want+strings.NewReplacer("table ip ", "table ip6 ", "ipv4_addr", "ipv6_addr").Replace(want) {
		t.Errorf("Skeleton() =\n%s\nwant the IPv4 table\n%s\nand the same for ip6", got, want)
	}
}

// TestKernel loads what the agent sends, in the agent's order, into a
// network namespace: the skeleton, then for each target its chain and its
// rules, each transaction checked with nft -c first. nft must refuse
// exactly the transactions the agent's nft refuses.
func TestKernel(t *testing.T) {
	ns := netnstest.New(t)
	ns.Exec(t, []byte(Skeleton()), "nft", "-f", "-")
	made := map[netip.Addr]bool{}
	for _, tt := range rulesTests {
		text, _ := Rules(tt.target, testConfig)
		if text == "" {
			continue
		}
		if a := tt.target.Addr; !made[a] {
			ns.Exec(t, []byte(CreateChain(a)), "nft", "-c", "-f", "-")
			ns.Exec(t, []byte(CreateChain(a)), "nft", "-f", "-")
			made[a] = true
		}
		cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-c", "-f", "-")
		cmd.Stdin = strings.NewReader(text)
		out, err := cmd.CombinedOutput()
		if refused := err != nil; refused != tt.nftRefuses {
			t.Errorf("%s: nft -c refused = %v, want %v\n%s\n%s", tt.name, refused, tt.nftRefuses, out, text)
			continue
		}
		if !tt.nftRefuses {
			ns.Exec(t, []byte(text), "nft", "-f", "-")
		}
	}
	// The last transactions nft took for both addresses block them (nft
	// lists the rejects without "type").
	for _, c := range []struct{ fam, chain, want string }{
		{"ip", ChainName(addr4), "reject with icmp admin-prohibited"},
		{"ip6", ChainName(addr6), "reject with icmpv6 admin-prohibited"},
	} {
		out := ns.Exec(t, nil, "nft", "list", "chain", c.fam, "qubes-firewall", c.chain)
		if got := ruleLines(out); len(got) != 1 || got[0] != c.want {
			t.Errorf("chain %s %s holds %q, want [%q]", c.fam, c.chain, got, c.want)
		}
	}
}

// TestStartReload loads the whole of the agent's start for the
// benchmark's lists, then a reload twice: each chain ends with one rule
// for each rule of its list and the policy, whatever it held before.
// There are more clients than the 64 refills of the dns-addr set that one
// transaction can hold.
func TestStartReload(t *testing.T) {
	clients := Clients(70, 20)
	clients[1].Addr6 = addr6
	targets := Targets(clients)
	if len(targets) != 71 {
		t.Fatalf("Targets() returned %d targets, want 71", len(targets))
	}
	start, err := Start(targets, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	reload, err := Reload(targets, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	ns := netnstest.New(t)
	ns.Exec(t, []byte(start), "nft", "-f", "-")
	ns.Exec(t, []byte(reload), "nft", "-f", "-")
	ns.Exec(t, []byte(reload), "nft", "-f", "-")
	listing := ns.Exec(t, nil, "nft", "list", "ruleset")
	var jumps []string
	for _, tg := range targets {
		fam, fnum := family(tg.Addr)
		want := 21 // the rules and the policy
		if fnum == 4 {
			jumps = append(jumps, fmt.Sprintf("ip saddr %s jump %s", tg.Addr, ChainName(tg.Addr)))
		} else {
			want = 1 // no IPv6 rules
		}
		if got := len(tg.Entries); got != want {
			t.Errorf("target %s has %d entries, want %d", tg.Addr, got, want)
		}
		out := ns.Exec(t, nil, "nft", "list", "chain", fam, "qubes-firewall", ChainName(tg.Addr))
		if got := len(ruleLines(out)); got != want {
			t.Errorf("chain %s holds %d rules, want %d", ChainName(tg.Addr), got, want)
		}
	}
	out := ns.Exec(t, nil, "nft", "list", "chain", "ip", "qubes-firewall", "qubes-forward")
	if got := ruleLines(out); strings.Join(got, "\n") != strings.Join(jumps, "\n") {
		t.Errorf("qubes-forward holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(jumps, "\n"))
	}
	for _, want := range []string{"elements = { 10.139.1.1, 10.139.1.2 }", "type ipv6_addr"} {
		if !strings.Contains(listing, want) {
			t.Errorf("the ruleset lacks %q:\n%s", want, listing)
		}
	}
}

// ruleLines returns the rules of nft's listing of one chain.
func ruleLines(listing string) []string {
	var out []string
	for _, l := range strings.Split(listing, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "table ") || strings.HasPrefix(l, "chain ") || l == "}" {
			continue
		}
		out = append(out, l)
	}
	return out
}
