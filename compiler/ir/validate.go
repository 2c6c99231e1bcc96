package ir

import (
	"errors"
	"fmt"
	"net/netip"
)

// MaxExpire is the latest expiry qfw accepts: 9999-12-31T00:00:00Z. dom0
// reads expire with Python's datetime.fromtimestamp in its local time zone,
// which fails after year 9999; a day of margin covers every time zone.
const MaxExpire = 253402214400

// dnsPorts is the only port range that a DNS rule may name.
var dnsPorts = PortRange{First: 53, Last: 53}

// Validate reports the first way r breaks the rule model: an invalid action,
// match, expiry or comment. A valid rule formats to an API line that dom0
// accepts and every firewall agent enforces as written.
func (r Rule) Validate() error {
	if r.Action != Accept && r.Action != Drop {
		return fmt.Errorf("invalid action %d; want accept or drop", r.Action)
	}
	if err := r.Match.Validate(); err != nil {
		return err
	}
	if r.Expire < 0 || r.Expire > MaxExpire {
		return fmt.Errorf("expire %d is out of range; want 0 (never) or 1 to %d", r.Expire, MaxExpire)
	}
	return CheckComment(r.Comment)
}

// Validate reports the first way m breaks the rule model, checking the
// destination and then the fields that depend on each other:
//
//   - ports only with TCP or UDP, and an ICMP type only with ICMP, as dom0
//     requires (with dom0's messages);
//   - DNS not with ICMP: the Linux agent emits "icmp dport 53", which nft
//     rejects, so the agent blocks the whole qube;
//   - DNS with ports only if they are exactly 53-53: the Linux agent
//     silently skips any other DNS rule.
//
// DNS together with a destination is valid: dom0 and both agents AND the two,
// so the rule matches the DNS servers only if they are in the destination.
func (m Match) Validate() error {
	if err := m.Dst.Validate(); err != nil {
		return err
	}
	if m.Proto > ICMP {
		return fmt.Errorf("invalid protocol %d; want any, tcp, udp or icmp", m.Proto)
	}
	switch {
	case m.HasPorts && m.Proto != TCP && m.Proto != UDP:
		return errors.New("dstports valid only for 'tcp' and 'udp' protocols")
	case m.HasPorts && m.Ports.First > m.Ports.Last:
		return fmt.Errorf("port range %d-%d is reversed; want the lower port first", m.Ports.First, m.Ports.Last)
	case !m.HasPorts && m.Ports != PortRange{}:
		return errors.New("ports are set but HasPorts is false")
	case m.HasICMPType && m.Proto != ICMP:
		return errors.New("icmptype valid only for 'icmp' protocol")
	case !m.HasICMPType && m.ICMPType != 0:
		return errors.New("ICMP type is set but HasICMPType is false")
	case m.DNS && m.Proto == ICMP:
		return errors.New("specialtarget=dns cannot be combined with proto=icmp: the Linux agent emits invalid nft for it and blocks the qube; use proto tcp, udp or none")
	case m.DNS && m.HasPorts && m.Ports != dnsPorts:
		return fmt.Errorf("specialtarget=dns with dstports %d-%d: the Linux agent silently skips a DNS rule whose ports are not exactly 53; use dstports 53-53 or none", m.Ports.First, m.Ports.Last)
	}
	return nil
}

// Validate reports whether d is a destination ParseDst could return: at most
// one of a prefix and a host, the prefix masked and not IPv4-mapped, the host
// a valid lowercase name.
func (d Dst) Validate() error {
	switch {
	case d.Prefix.IsValid() && d.Host != "":
		return fmt.Errorf("destination has both prefix %s and host name %q", d.Prefix, d.Host)
	case d.Host != "":
		parsed, err := ParseDst(d.Host)
		if err != nil {
			return err
		}
		if parsed.Host != d.Host {
			return fmt.Errorf("host name %q is an IP address; use a prefix", d.Host)
		}
	case d.Prefix.IsValid():
		return checkPrefix(d.Prefix.String(), d.Prefix)
	case d.Prefix != netip.Prefix{}:
		return fmt.Errorf("invalid prefix %s", d.Prefix)
	}
	return nil
}
