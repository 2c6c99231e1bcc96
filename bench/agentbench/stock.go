package agentbench

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The text in this file is what the stock agent's NftablesWorker writes to
// nft -f /dev/stdin (reference: qubes-firewall.md §9.2 to §9.5), kept to
// its spacing, so that timing nft -f of it times what the agent asks of
// nft. Where the agent iterates a Python set (the addresses of a host
// name), the order here is sorted instead, which nft does not care about.

// tableName is the stock agent's table, in the ip and ip6 families.
const tableName = "qubes-firewall"

// Target is one source address the stock agent handles, with what dom0
// wrote for it under /qubes-firewall/<addr>/: the keys are the last
// element of each path, "policy" and the "NNNN" rules.
type Target struct {
	Addr    netip.Addr
	Entries map[string]string
}

// Config is what the stock agent reads besides QubesDB.
type Config struct {
	// DNS4 and DNS6 are the nameservers of the firewall qube's
	// /etc/resolv.conf of each family, in its order: the dns-addr sets.
	DNS4, DNS6 []netip.Addr
	// Resolve looks a dsthost up in one family (4 or 6), as getaddrinfo
	// does for the agent. Nil resolves nothing: every dsthost fails.
	Resolve func(host string, family int) ([]netip.Addr, error)
}

// ErrCrash says that the stock agent raises an exception it does not
// catch on these entries: the service dies and applies nothing.
var ErrCrash = errors.New("the stock agent crashes")

// family returns the agent's name of addr's family in nft, and 4 or 6.
func family(addr netip.Addr) (string, int) {
	if addr.Is6() {
		return "ip6", 6
	}
	return "ip", 4
}

// ChainName returns the name of the chain the stock agent gives source
// addr (chain_for_addr): qbs- and the address with . and : turned into -.
func ChainName(addr netip.Addr) string {
	return "qbs-" + strings.NewReplacer(".", "-", ":", "-").Replace(addr.String())
}

// Skeleton returns what the stock agent loads at start (init), for both
// families: its table, the dns-addr set, the qubes-forward chain the
// clients' jumps go to, the forward base chain that drops what no client
// chain accepts, and the anti-spoofing base chains. The declaration does
// not flush: loaded twice, it would add its rules twice, as the agent's.
func Skeleton() string {
	var b strings.Builder
	for _, fam := range [...]struct{ name, addrType string }{{"ip", "ipv4_addr"}, {"ip6", "ipv6_addr"}} {
		fmt.Fprintf(&b, `table %s %s {
  set dns-addr {
    type %s
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
`, fam.name, tableName, fam.addrType)
	}
	return b.String()
}

// CreateChain returns the transaction with which the stock agent starts
// handling source addr (create_chain): an empty chain of its own, and the
// jump to it from qubes-forward. Until its rules load, the source's packets
// fall through to the forward chain's policy drop.
func CreateChain(addr netip.Addr) string {
	fam, _ := family(addr)
	return fmt.Sprintf(`table %s %s {
  chain %s {
  }
  chain qubes-forward {
    %s saddr %s jump %s
  }
}
`, fam, tableName, ChainName(addr), fam, addr, ChainName(addr))
}

// Rules returns the transaction with which the stock agent replaces the
// rules of t (handle_addr: read_rules, then prepare_rules): the dns-addr
// set refilled, the source's chain flushed and filled, its last rule the
// policy. If the entries do not parse, the agent blocks the source: Rules
// returns the transaction it sends then, whose chain rejects everything,
// and the reason. On entries that crash the agent it returns "" and an
// error that wraps ErrCrash.
func Rules(t Target, cfg Config) (string, error) {
	chain, err := chainText(t, cfg)
	if chain == "" {
		return "", err
	}
	return dnsText(t.Addr, cfg) + chain, err
}

// chainText returns the part of Rules that flushes and fills t's chain.
func chainText(t Target, cfg Config) (string, error) {
	rules, err := readRules(t.Entries)
	if err == nil {
		var text string
		if text, err = prepareRules(t.Addr, rules, cfg); err == nil {
			return text, nil
		}
	}
	if errors.Is(err, ErrCrash) {
		return "", err
	}
	text, ferr := prepareRules(t.Addr, []map[string]string{{"action": "drop"}}, cfg)
	if ferr != nil {
		panic("unreachable: the fallback list does not parse: " + ferr.Error())
	}
	return text, fmt.Errorf("rules for %s blocked: %w", t.Addr, err)
}

// dnsText returns the part of Rules that refills the dns-addr set of
// addr's family.
func dnsText(addr netip.Addr, cfg Config) string {
	fam, fnum := family(addr)
	dns := cfg.DNS4
	if fnum == 6 {
		dns = cfg.DNS6
	}
	elems := make([]string, len(dns))
	for i, a := range dns {
		elems[i] = a.String()
	}
	comment := ""
	if len(dns) == 0 {
		// An empty element list is a syntax error; the agent comments
		// the line out.
		comment = "#"
	}
	return fmt.Sprintf("flush set %s %s dns-addr\n%sadd element %s %s dns-addr { %s }\n",
		fam, tableName, comment, fam, tableName, strings.Join(elems, ", "))
}

// Start returns what the stock agent sends to nft from its start to the
// end of its first handling of every target, in one text: Skeleton, then
// for each target its CreateChain and Rules, except that the dns-addr set
// of each family is refilled once, before the family's first chain (see
// Reload). The agent sends these as separate transactions; nft -f of this
// text leaves the same ruleset. The error joins the targets' errors; a
// target that crashes the agent is left out.
func Start(targets []Target, cfg Config) (string, error) {
	var b strings.Builder
	b.WriteString(Skeleton())
	return join(&b, targets, cfg, true)
}

// Reload returns what the stock agent sends to nft when it handles every
// target again (on SIGHUP, or dom0 rewriting every list), in one text:
// each target's Rules, except that the dns-addr set of each family is
// refilled once, before the family's first chain. The agent refills it in
// each target's transaction; in one transaction the kernel refuses
// (EBUSY) the 65th flush and re-add of the same element, and once is the
// same set. The chains must exist (see Start).
func Reload(targets []Target, cfg Config) (string, error) {
	var b strings.Builder
	return join(&b, targets, cfg, false)
}

// join writes the chain of each target to b, after its CreateChain if
// create, and the dns-addr set of each family before its first chain.
func join(b *strings.Builder, targets []Target, cfg Config, create bool) (string, error) {
	var errs []error
	dnsDone := map[int]bool{}
	for _, t := range targets {
		chain, err := chainText(t, cfg)
		errs = append(errs, err)
		if chain == "" {
			continue
		}
		if create {
			b.WriteString(CreateChain(t.Addr))
		}
		if _, fnum := family(t.Addr); !dnsDone[fnum] {
			b.WriteString(dnsText(t.Addr, cfg))
			dnsDone[fnum] = true
		}
		b.WriteString(chain)
	}
	return b.String(), errors.Join(errs...)
}

// readRules reads a target's entries as the agent's read_rules does: the
// rules in the order of their keys, each a map of its options, then the
// policy as a last rule.
func readRules(entries map[string]string) ([]map[string]string, error) {
	policy, ok := entries["policy"]
	if !ok {
		return nil, errors.New("no 'policy' defined")
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		if k != "policy" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	rules := make([]map[string]string, 0, len(keys)+1)
	for _, k := range keys {
		line := entries[k]
		if len(k) != 4 || strings.Trim(k, "0123456789") != "" {
			return nil, fmt.Errorf("unexpected non-rule found: %s=%s", k, line)
		}
		// dict(elem.split('=') for elem in rule.split(' ')): a token that
		// is not one key and one value is a ValueError nothing catches.
		rule := map[string]string{}
		for _, tok := range strings.Split(line, " ") {
			kv := strings.Split(tok, "=")
			if len(kv) != 2 {
				return nil, fmt.Errorf("%w on rule %s %q: token %q is not key=value", ErrCrash, k, line, tok)
			}
			rule[kv[0]] = kv[1]
		}
		if _, ok := rule["action"]; !ok {
			return nil, fmt.Errorf("rule '%s' lacks action", line)
		}
		rules = append(rules, rule)
	}
	return append(rules, map[string]string{"action": policy}), nil
}

// supported are the options the agent knows.
var supported = []string{"action", "proto", "dst4", "dst6", "dsthost", "dstports", "specialtarget", "icmptype"}

// prepareRules lowers rules for source addr as the agent's prepare_rules
// does, and returns the part of its transaction that flushes and fills
// addr's chain.
func prepareRules(addr netip.Addr, rules []map[string]string, cfg Config) (string, error) {
	fam, fnum := family(addr)
	mask := "/32"
	if fnum == 6 {
		mask = "/128"
	}
	var out []string
	for _, rule := range rules {
		var unsupported []string
		for k := range rule {
			if !slices.Contains(supported, k) {
				unsupported = append(unsupported, k)
			}
		}
		if len(unsupported) > 0 {
			slices.Sort(unsupported)
			return "", fmt.Errorf("unsupported rule option(s): %s", strings.Join(unsupported, ", "))
		}
		if _, ok := rule["dst4"]; ok && fnum == 6 {
			return "", errors.New("IPv4 rule found for IPv6 address")
		}
		if _, ok := rule["dst6"]; ok && fnum == 4 {
			return "", errors.New("dst6 rule found for IPv4 address")
		}
		var action string
		switch rule["action"] {
		case "accept":
			action = "accept"
		case "drop":
			action = "reject with icmp type admin-prohibited"
			if fnum == 6 {
				action = "reject with icmpv6 type admin-prohibited"
			}
		default:
			return "", fmt.Errorf("invalid rule action %s", rule["action"])
		}

		// The fragments, each after a space, in the agent's order:
		// protocol, destination, DNS servers, ICMP type; then the ports
		// and the verdict.
		var b strings.Builder
		proto, hasProto := rule["proto"]
		if hasProto {
			if fnum == 4 {
				fmt.Fprintf(&b, " ip protocol %s", proto)
			} else if proto == "icmp" {
				b.WriteString(" ip6 nexthdr icmpv6")
			} else {
				fmt.Fprintf(&b, " ip6 nexthdr %s", proto)
			}
		}
		if v, ok := rule["dst4"]; ok {
			fmt.Fprintf(&b, " ip daddr %s", v)
		} else if v, ok := rule["dst6"]; ok {
			fmt.Fprintf(&b, " ip6 daddr %s", v)
		} else if host, ok := rule["dsthost"]; ok {
			addrs, err := resolve(cfg, host, fnum)
			if err != nil {
				return "", fmt.Errorf("failed to resolve %s: %w", host, err)
			}
			elems := make([]string, len(addrs))
			for i, a := range addrs {
				elems[i] = a.String() + mask
			}
			fmt.Fprintf(&b, " %s daddr { %s }", fam, strings.Join(elems, ", "))
		}
		ports, hasPorts := rule["dstports"]
		if hasPorts {
			// LO-HI with LO = HI is written LO.
			if parts := strings.Split(ports, "-"); len(slices.Compact(slices.Sorted(slices.Values(parts)))) == 1 {
				ports = parts[0]
			}
		}
		if rule["specialtarget"] == "dns" {
			// Any ports but 53 drop the rule altogether.
			if hasPorts && ports != "53" {
				continue
			}
			ports, hasPorts = "53", true
			fmt.Fprintf(&b, " %s daddr @dns-addr", fam)
		}
		if v, ok := rule["icmptype"]; ok {
			if fnum == 4 {
				fmt.Fprintf(&b, " icmp type %s", v)
			} else {
				fmt.Fprintf(&b, " icmpv6 type %s", v)
			}
		}
		// Ports without a protocol match TCP and UDP: two rules. With one,
		// its name as written, even icmp (which nft refuses).
		switch {
		case hasPorts && !hasProto:
			out = append(out, fmt.Sprintf("%s tcp dport %s %s", b.String(), ports, action),
				fmt.Sprintf("%s udp dport %s %s", b.String(), ports, action))
		case hasPorts:
			out = append(out, fmt.Sprintf("%s %s dport %s %s", b.String(), proto, ports, action))
		default:
			out = append(out, b.String()+" "+action)
		}
	}

	chain := ChainName(addr)
	return fmt.Sprintf("flush chain %s %s %s\ntable %s %s {\n  chain %s {\n   %s\n  }\n}\n",
		fam, tableName, chain, fam, tableName, chain, strings.Join(out, "\n   ")), nil
}

// resolve returns host's addresses in family fnum, sorted and without
// repeats, or an error if there are none.
func resolve(cfg Config, host string, fnum int) ([]netip.Addr, error) {
	if cfg.Resolve == nil {
		return nil, errors.New("no resolver")
	}
	addrs, err := cfg.Resolve(host, fnum)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if a.Is6() == (fnum == 6) && !a.Is4In6() {
			out = append(out, a.Unmap())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no address of family %d", fnum)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}
