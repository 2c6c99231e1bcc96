package policygen

import (
	"bytes"
	"fmt"
)

// BigRule returns the files of a policy whose qubes each have one rule of
// n destinations (n at least 1), sorted by name: the case of a long list
// of partners' hosts and networks written as one rule. The output depends
// on n alone.
//
// The destinations cycle through sixteen shapes: IPv4 addresses, /24 and
// /16 prefixes, IPv6 addresses, /64 and /48 prefixes, a host name in
// every 256th destination (pinned in resolve, for the nftables target),
// and destinations the compiler drops because the rule already holds them
// or a prefix around them: addresses and prefixes inside an earlier or a
// later prefix of the rule, and repeats: 603 of the first 1,000 are kept.
//
// There are three qubes, one behind a firewall qube of each backend: the
// Linux agent (sys-firewall), nftables (sys-nft) and the unikernel
// (mirage-fw). Each allows the n destinations on tcp port 443 at priority
// 50, then denies every destination, so the coverage analysis weighs the
// broad rule against every destination. Above about 1,300 destinations a
// qube's list is longer than Qubes accepts, and vet refuses it with one
// error for its request size and, above about 16,000, one for its rule
// count; the compiler, the nftables and the unikernel backends still
// take it (BenchmarkBigRule).
func BigRule(n int) ([]File, error) {
	if n < 1 {
		return nil, fmt.Errorf("destinations is %d; want at least 1", n)
	}
	var b bytes.Buffer
	b.WriteString("package policy\n\n// The partners' hosts and networks, one rule.\nnetworks: partners: [\n")
	var resolve bytes.Buffer
	resolve.WriteString("package policy\n\n// The partners' host names, pinned for the nftables target.\nresolve: {\n")
	for k := range n {
		d := bigDst(k)
		fmt.Fprintf(&b, "\t%q,\n", d)
		if k%16 == 12 && k/16%16 == 0 {
			fmt.Fprintf(&resolve, "\t%q: [\"203.0.113.%d\", \"2001:db8:ffff::%x\"]\n", d, k/256%256, k/256)
		}
	}
	resolve.WriteString("}\n")
	b.WriteString(`]

qubes: {
	"big-agent": _big
	"big-nft": _big
	"big-mirage": _big
}

_big: {
	allow: partners: {to: networks.partners, tcp: [443], priority: 50}
	deny: others: to: "any"
}
`)
	return []File{
		{Name: "firewalls.cue", Data: []byte(`package policy

firewalls: {
	"sys-firewall": backend: "qubes"
	"sys-nft": backend: "nftables"
	"mirage-fw": backend: mirage: version: "0.9.5"
}
`)},
		{Name: "inventory.json", Data: []byte(`{
  "qubes": {
    "big-agent": {"class": "AppVM", "ip": "10.137.0.20", "ip6": "fd09:24ef:4179::a89:14", "netvm": "sys-firewall", "label": "red"},
    "big-mirage": {"class": "AppVM", "ip": "10.137.0.22", "netvm": "mirage-fw", "label": "red"},
    "big-nft": {"class": "AppVM", "ip": "10.137.0.21", "ip6": "fd09:24ef:4179::a89:15", "netvm": "sys-nft", "label": "red"},
    "mirage-fw": {"class": "StandaloneVM", "ip": "10.137.0.9", "netvm": "sys-net", "label": "green", "provides_network": true},
    "sys-firewall": {"class": "AppVM", "ip": "10.137.0.6", "ip6": "fd09:24ef:4179::a89:6", "netvm": "sys-net", "label": "green", "provides_network": true},
    "sys-net": {"class": "AppVM", "ip": "10.137.0.5", "label": "red", "provides_network": true},
    "sys-nft": {"class": "AppVM", "ip": "10.137.0.7", "ip6": "fd09:24ef:4179::a89:7", "netvm": "sys-net", "label": "green", "provides_network": true}
  }
}
`)},
		{Name: "qubes.cue", Data: b.Bytes()},
		{Name: "resolve.cue", Data: resolve.Bytes()},
	}, nil
}

// bigDst returns destination k of a big rule. Destinations of different
// k are distinct strings apart from the duplicates (shape 15), and kept
// destinations never overlap, apart from those dropped on purpose.
func bigDst(k int) string {
	// g numbers the group of sixteen; up to 2^24 groups get distinct
	// addresses.
	g := k / 16
	a, b, c := g>>16&0xff, g>>8&0xff, g&0xff
	switch k % 16 {
	case 0, 4, 8:
		// IPv4 addresses in 11/8, 12/8 and 13/8.
		return fmt.Sprintf("%d.%d.%d.%d", 11+k%16/4, a, b, c)
	case 1:
		return fmt.Sprintf("14.%d.%d.0/24", a, b*8+c%8)
	case 2:
		// Inside the /24 of shape 1 in the same group: dropped.
		return fmt.Sprintf("14.%d.%d.%d", a, b*8+c%8, c)
	case 3:
		// A /16 of 15/8 per 256 groups, repeated: the repeats are
		// dropped.
		return fmt.Sprintf("15.%d.0.0/16", g>>8*2)
	case 5:
		// Inside the /16 of shape 3 for even g, dropped; beside it for
		// odd g.
		return fmt.Sprintf("15.%d.%d.%d", g>>8*2+g&1, b, c)
	case 6, 10:
		// IPv6 addresses.
		return fmt.Sprintf("2001:db8:%x:%x::%x", k%16, a, g&0xffff)
	case 7:
		return fmt.Sprintf("2001:db9:%x:%x::/64", a, g&0xffff)
	case 9:
		// Inside the /64 of shape 7: dropped.
		return fmt.Sprintf("2001:db9:%x:%x:1::/80", a, g&0xffff)
	case 11:
		return fmt.Sprintf("2001:dba:%x::/48", g&0xffffff)
	case 12:
		// A host name in every sixteenth group: each gets a warning.
		if g%16 == 0 {
			return fmt.Sprintf("partner-%d.example.net", g/16)
		}
		return fmt.Sprintf("17.%d.%d.%d", a, b, c)
	case 13:
		// A prefix of both families' documentation blocks, nested /28s
		// inside a /24 of group 0: dropped after it.
		if g == 0 {
			return "198.51.100.0/24"
		}
		return fmt.Sprintf("198.51.100.%d/28", g%16*16)
	case 14:
		return fmt.Sprintf("16.%d.%d.%d", a, b, c)
	default:
		// A duplicate of the IPv4 address of shape 0.
		return fmt.Sprintf("11.%d.%d.%d", a, b, c)
	}
}
