package query

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/deploy"
)

// The policy the answers are asked of: work behind the stock agent, kid
// behind qfw's nftables backend, guest behind a unikernel firewall, vault
// without a netvm.
const (
	testPolicy = `package policy

qubes: {
	work: {
		allow: dns: {dns: true, priority: 10}
		deny: lan: to: "192.168.0.0/16"
		allow: printer: {to: "192.168.1.50", tcp: [631], priority: 50}
		allow: web: {to: "any", tcp: [443]}
		allow: git: {to: "git.example", tcp: [22]}
	}
	guest: allow: web: {to: "any", tcp: [443]}
	kid: {
		allow: mail: {to: "mail.example", tcp: [993]}
		allow: chat: {to: "chat.example", tcp: [5222]}
	}
	vault: network: false
}
firewalls: {
	"mirage-fw": backend: mirage: version: "0.9.5"
	"sys-nft": backend: "nftables"
}
resolve: {
	"git.example": ["192.0.2.7", "2001:db8::7"]
	"mail.example": ["192.0.2.25"]
}
`
	testInventory = `{"qubes": {
	"work": {"ip": "10.137.0.11", "ip6": "fd09:24ef:4179::a89:b", "netvm": "sys-firewall"},
	"guest": {"ip": "10.137.0.12", "netvm": "mirage-fw"},
	"kid": {"ip": "10.137.0.13", "ip6": "fd09:24ef:4179::a89:d", "netvm": "sys-nft"},
	"vault": {},
	"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
	"sys-nft": {"ip": "10.137.0.7", "netvm": "sys-net", "provides_network": true},
	"mirage-fw": {"ip": "10.137.0.9", "netvm": "sys-net", "provides_network": true},
	"sys-net": {"ip": "10.137.0.5", "provides_network": true}
}}`
)

// testBuild builds testPolicy, and returns it with a function that
// writes the positions in its files as relative to its directory.
func testBuild(t *testing.T) (*deploy.Built, func(string) string) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"policy.cue": testPolicy, "inventory.json": testInventory} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, _, errs := deploy.Build(deploy.BuildOptions{Args: []string{dir}, Now: time.Unix(1e9, 0)})
	if errs != nil {
		t.Fatalf("build: %v", errs)
	}
	return b, func(s string) string { return strings.ReplaceAll(s, dir+string(filepath.Separator), "") }
}

func testPolicyOf(t *testing.T) (*Policy, func(string) string) {
	t.Helper()
	b, rel := testBuild(t)
	return FromBuild(b), rel
}

// ask returns the question of dest, as the user wrote it.
func ask(t *testing.T, dest string) Question {
	t.Helper()
	d, err := ParseDest(dest)
	if err != nil {
		t.Fatalf("ParseDest(%q): %v", dest, err)
	}
	return Question{Text: dest, Dest: d}
}

// text returns what write writes, positions relative to the policy's
// directory.
func text(t *testing.T, rel func(string) string, write func(io.Writer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	return rel(b.String())
}

func TestExplainPackets(t *testing.T) {
	p, rel := testPolicyOf(t)
	for _, tt := range []struct {
		from, to string
		icmp     int // the ICMP type asked about, or -1 for every type
		ext      bool
		want     string
	}{
		{from: "work", to: "192.168.1.50:631", icmp: -1, want: `work → 192.168.1.50:631
sys-firewall (qubes):
  tcp 631 to 192.168.1.50: accept by allow.printer (policy.cue:7:10)
      action=accept dst4=192.168.1.50/32 proto=tcp dstports=631-631 comment=printer
`},
		{from: "work", to: "192.168.1.50", icmp: -1, want: `work → 192.168.1.50
sys-firewall (qubes):
  tcp 0-630 to 192.168.1.50: drop by deny.lan (policy.cue:6:9)
      action=drop dst4=192.168.0.0/16 comment=lan
  tcp 631 to 192.168.1.50: accept by allow.printer (policy.cue:7:10)
      action=accept dst4=192.168.1.50/32 proto=tcp dstports=631-631 comment=printer
  tcp 632-65535 to 192.168.1.50: drop by deny.lan (policy.cue:6:9)
      action=drop dst4=192.168.0.0/16 comment=lan
`},
		{from: "work", to: "git.example:22", icmp: -1, want: `work → git.example:22
sys-firewall (qubes):
  tcp 22 to 192.0.2.7 (git.example): accept by allow.git (policy.cue:9:10)
      action=accept dsthost=git.example proto=tcp dstports=22-22 comment=git
  tcp 22 to 2001:db8::7 (git.example): accept by allow.git (policy.cue:9:10)
      action=accept dsthost=git.example proto=tcp dstports=22-22 comment=git
`},
		{from: "work", to: "192.0.2.1/icmp", icmp: 8, want: `work → 192.0.2.1/icmp
sys-firewall (qubes):
  icmp type 8 to 192.0.2.1: drop: no rule matches, so the list's final drop applies
`},
		{from: "work", to: "[2001:db8::1]:443", icmp: -1, ext: true, want: `work → [2001:db8::1]:443, IPv6 packets with extension headers
sys-firewall (qubes):
  tcp 443 to 2001:db8::1: drop: no rule matches, so the list's final drop applies
      without extension headers: accept by allow.web (policy.cue:8:10)
  the stock agent in sys-firewall matches a rule's protocol in the IPv6 header's next-header field only, which names the first extension header: these packets miss every rule with a protocol (qfw's nftables backend matches it after the extension headers)
`},
		{from: "kid", to: "[2001:db8::1]:993", icmp: -1, want: `kid → [2001:db8::1]:993
sys-nft (nftables):
  tcp 993 to 2001:db8::1: drop: no rule matches, so the list's final drop applies
  note: allow.mail (policy.cue:13:10) names mail.example, which has no IPv6 address, so it matches nothing in IPv6; the rest of the list stands
`},
		{from: "guest", to: "192.0.2.1:443", icmp: -1, want: `guest → 192.0.2.1:443
mirage-fw (mirage):
  tcp 443 to 192.0.2.1: accept by allow.web (policy.cue:11:16)
      action=accept proto=tcp dstports=443-443
`},
		{from: "guest", to: "[2001:db8::1]:443", icmp: -1, want: `guest → [2001:db8::1]:443
mirage-fw (mirage):
  no packet: guest has no address in the destination's family
`},
		{from: "vault", to: "192.0.2.1", icmp: -1, want: `vault → 192.0.2.1
  drop: vault has no netvm, so its packets go nowhere
`},
	} {
		q := ask(t, tt.to)
		q.ExtHeaders = tt.ext
		if tt.icmp >= 0 {
			q.HasICMPType, q.ICMPType = true, uint8(tt.icmp)
		}
		if q.PerPart() {
			t.Fatalf("%s: answered per part, not per packet", tt.to)
		}
		got := text(t, rel, ExplainPackets(p, p.Qube(tt.from), q).WriteText)
		if got != tt.want {
			t.Errorf("ExplainPackets(%s, %s) =\n%s\nwant\n%s", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestExplain(t *testing.T) {
	p, rel := testPolicyOf(t)
	for _, tt := range []struct {
		from, to string
		json     bool
		want     string
	}{
		{from: "work", to: "192.168.1.48/29:631", want: `work → 192.168.1.48/29:631
sys-firewall (qubes):
  tcp 631 to 192.168.1.50: accept by allow.printer (policy.cue:7:10)
      action=accept dst4=192.168.1.50/32 proto=tcp dstports=631-631 comment=printer
  tcp 631 to 192.168.1.48/29 (except 192.168.1.50): drop by deny.lan (policy.cue:6:9)
      action=drop dst4=192.168.0.0/16 comment=lan
`},
		{from: "work", to: "192.0.2.7/any", want: `work → 192.0.2.7/any
sys-firewall (qubes):
  tcp 22 to 192.0.2.7: accept by allow.git (policy.cue:9:10)
      action=accept dsthost=git.example proto=tcp dstports=22-22 comment=git
  tcp 443 to 192.0.2.7: accept by allow.web (policy.cue:8:10)
      action=accept proto=tcp dstports=443-443 comment=web
  tcp 0-21, 23-442, 444-65535; udp; icmp; other protocols to 192.0.2.7: drop: no rule matches, so the list's final drop applies
`},
		{from: "work", to: "git.example:22", json: true, want: `{
  "format_version": "1.0",
  "from": "work",
  "to": "git.example:22",
  "firewalls": [
    {
      "firewall": "sys-firewall",
      "backend": "qubes",
      "parts": [
        {
          "verdict": "accept",
          "text": "tcp 22 to 192.0.2.7, 2001:db8::7",
          "services": [
            {
              "protocol": "tcp",
              "ports": [
                "22"
              ]
            }
          ],
          "destinations": [
            "192.0.2.7/32",
            "2001:db8::7/128"
          ],
          "rule": "allow.git",
          "position": "policy.cue:9:10",
          "enforced": [
            "action=accept dsthost=git.example proto=tcp dstports=22-22 comment=git"
          ],
          "why": "accept by allow.git (policy.cue:9:10)"
        }
      ]
    }
  ]
}
`},
		{from: "kid", to: "192.0.2.0/24:993", want: `kid → 192.0.2.0/24:993
sys-nft (nftables):
  tcp 993 to 192.0.2.25: accept by allow.mail (policy.cue:13:10)
      action=accept dsthost=mail.example proto=tcp dstports=993-993 comment=mail
  tcp 993 to 192.0.2.0/24 (except 192.0.2.25): drop: no rule matches, so the list's final drop applies
  note: the resolve section pins no addresses for chat.example: its rules count for no address here, and would decide where it resolves to
`},
		{from: "guest", to: "10.137.0.8/30:443", want: `guest → 10.137.0.8/30:443
mirage-fw (mirage):
  tcp 443 to 10.137.0.8, 10.137.0.10/31: accept by allow.web (policy.cue:11:16)
      action=accept proto=tcp dstports=443-443
  tcp 443 to 10.137.0.9: drop: the unikernel drops all traffic to its own address, whatever the rules
`},
		{from: "vault", to: "10.0.0.0/8", want: `vault → 10.0.0.0/8
  drop: vault has no netvm, so its packets go nowhere
`},
		{from: "vault", to: "10.0.0.0/8", json: true, want: `{
  "format_version": "1.0",
  "from": "vault",
  "to": "10.0.0.0/8",
  "no_netvm": true,
  "firewalls": []
}
`},
	} {
		x, err := Explain(p, p.Qube(tt.from), ask(t, tt.to))
		if err != nil {
			t.Fatalf("Explain(%s, %s): %v", tt.from, tt.to, err)
		}
		write := x.WriteText
		if tt.json {
			write = x.WriteJSON
		}
		if got := text(t, rel, write); got != tt.want {
			t.Errorf("Explain(%s, %s), json %v =\n%s\nwant\n%s", tt.from, tt.to, tt.json, got, tt.want)
		}
	}
}

// A host name is answered per part for the addresses that the resolve
// section pins for it, and refused without them.
func TestExplainUnpinned(t *testing.T) {
	p, _ := testPolicyOf(t)
	for _, tt := range []struct{ to, err string }{
		{"other.example:22", `the resolve section pins no addresses for "other.example": ask about an address, a prefix or a range`},
	} {
		if _, err := Explain(p, p.Qube("work"), ask(t, tt.to)); err == nil || err.Error() != tt.err {
			t.Errorf("Explain(%s): error %v; want %q", tt.to, err, tt.err)
		}
		if _, err := WhoCanReach(p, ask(t, tt.to)); err == nil || err.Error() != tt.err {
			t.Errorf("WhoCanReach(%s): error %v; want %q", tt.to, err, tt.err)
		}
	}
}

func TestWhoCanReach(t *testing.T) {
	p, rel := testPolicyOf(t)
	for _, tt := range []struct {
		to   string
		json bool
		want string
	}{
		{to: "192.168.1.50:631", want: `who can reach 192.168.1.50:631:
  guest, behind mirage-fw (mirage): none of it
      tcp 631 to 192.168.1.50: drop: no rule matches, so the list's final drop applies
  kid, behind sys-nft (nftables): none of it
      tcp 631 to 192.168.1.50: drop: no rule matches, so the list's final drop applies
      note: the resolve section pins no addresses for chat.example: its rules count for no address here, and would decide where it resolves to
  vault: none of it: it has no netvm, so its packets go nowhere
  work, behind sys-firewall (qubes): all of it
      tcp 631 to 192.168.1.50: accept by allow.printer (policy.cue:7:10)
          action=accept dst4=192.168.1.50/32 proto=tcp dstports=631-631 comment=printer
`},
		{to: "192.0.2.0/24:443", want: `who can reach 192.0.2.0/24:443:
  guest, behind mirage-fw (mirage): all of it
      tcp 443 to 192.0.2.0/24: accept by allow.web (policy.cue:11:16)
          action=accept proto=tcp dstports=443-443
  kid, behind sys-nft (nftables): none of it
      tcp 443 to 192.0.2.0/24: drop: no rule matches, so the list's final drop applies
      note: the resolve section pins no addresses for chat.example: its rules count for no address here, and would decide where it resolves to
  vault: none of it: it has no netvm, so its packets go nowhere
  work, behind sys-firewall (qubes): all of it
      tcp 443 to 192.0.2.0/24: accept by allow.web (policy.cue:8:10)
          action=accept proto=tcp dstports=443-443 comment=web
`},
		{to: "192.168.1.48/29:631", want: `who can reach 192.168.1.48/29:631:
  guest, behind mirage-fw (mirage): none of it
      tcp 631 to 192.168.1.48/29: drop: no rule matches, so the list's final drop applies
  kid, behind sys-nft (nftables): none of it
      tcp 631 to 192.168.1.48/29: drop: no rule matches, so the list's final drop applies
      note: the resolve section pins no addresses for chat.example: its rules count for no address here, and would decide where it resolves to
  vault: none of it: it has no netvm, so its packets go nowhere
  work, behind sys-firewall (qubes): part of it
      tcp 631 to 192.168.1.50: accept by allow.printer (policy.cue:7:10)
          action=accept dst4=192.168.1.50/32 proto=tcp dstports=631-631 comment=printer
      tcp 631 to 192.168.1.48/29 (except 192.168.1.50): drop by deny.lan (policy.cue:6:9)
          action=drop dst4=192.168.0.0/16 comment=lan
`},
		{to: "192.168.1.50:631", json: true, want: `{
  "format_version": "1.0",
  "destination": "192.168.1.50:631",
  "qubes": [
    {
      "qube": "guest",
      "reach": "none",
      "firewalls": [
        {
          "firewall": "mirage-fw",
          "backend": "mirage",
          "parts": [
            {
              "verdict": "drop",
              "text": "tcp 631 to 192.168.1.50",
              "services": [
                {
                  "protocol": "tcp",
                  "ports": [
                    "631"
                  ]
                }
              ],
              "destinations": [
                "192.168.1.50/32"
              ],
              "why": "drop: no rule matches, so the list's final drop applies"
            }
          ]
        }
      ]
    },
    {
      "qube": "kid",
      "reach": "none",
      "firewalls": [
        {
          "firewall": "sys-nft",
          "backend": "nftables",
          "parts": [
            {
              "verdict": "drop",
              "text": "tcp 631 to 192.168.1.50",
              "services": [
                {
                  "protocol": "tcp",
                  "ports": [
                    "631"
                  ]
                }
              ],
              "destinations": [
                "192.168.1.50/32"
              ],
              "why": "drop: no rule matches, so the list's final drop applies"
            }
          ],
          "unpinned_names": [
            "chat.example"
          ]
        }
      ]
    },
    {
      "qube": "vault",
      "reach": "none",
      "no_netvm": true,
      "firewalls": []
    },
    {
      "qube": "work",
      "reach": "all",
      "firewalls": [
        {
          "firewall": "sys-firewall",
          "backend": "qubes",
          "parts": [
            {
              "verdict": "accept",
              "text": "tcp 631 to 192.168.1.50",
              "services": [
                {
                  "protocol": "tcp",
                  "ports": [
                    "631"
                  ]
                }
              ],
              "destinations": [
                "192.168.1.50/32"
              ],
              "rule": "allow.printer",
              "position": "policy.cue:7:10",
              "enforced": [
                "action=accept dst4=192.168.1.50/32 proto=tcp dstports=631-631 comment=printer"
              ],
              "why": "accept by allow.printer (policy.cue:7:10)"
            }
          ]
        }
      ]
    }
  ]
}
`},
	} {
		r, err := WhoCanReach(p, ask(t, tt.to))
		if err != nil {
			t.Fatalf("WhoCanReach(%s): %v", tt.to, err)
		}
		write := r.WriteText
		if tt.json {
			write = r.WriteJSON
		}
		if got := text(t, rel, write); got != tt.want {
			t.Errorf("WhoCanReach(%s), json %v =\n%s\nwant\n%s", tt.to, tt.json, got, tt.want)
		}
	}
}

func TestShow(t *testing.T) {
	p, rel := testPolicyOf(t)
	for _, tt := range []struct {
		qube string
		json bool
		want string
	}{
		{qube: "work", want: `work, behind sys-firewall (qubes):
  tcp 443 to 0.0.0.0/0 (except 192.168.0.0/16)
      by allow.web (policy.cue:8:10)
  dns to 10.139.1.1, 10.139.1.2
      by allow.dns (policy.cue:5:10)
  tcp 22 to 192.0.2.7
      by allow.git (policy.cue:9:10)
  tcp 631 to 192.168.1.50
      by allow.printer (policy.cue:7:10)
  tcp 443 without IPv6 extension headers to ::/0
      by allow.web (policy.cue:8:10)
  tcp 22 without IPv6 extension headers to 2001:db8::7
      by allow.git (policy.cue:9:10)
`},
		{qube: "kid", want: `kid, behind sys-nft (nftables):
  tcp 993 to 192.0.2.25
      by allow.mail (policy.cue:13:10)
  tcp 5222 to chat.example
      by allow.chat (policy.cue:14:10)
note: the resolve section pins no addresses for chat.example: shown as a name, not as the addresses it resolves to
`},
		{qube: "guest", want: `guest, behind mirage-fw (mirage):
  tcp 443 to 0.0.0.0/0 (except 10.137.0.9)
      by allow.web (policy.cue:11:16)
`},
		{qube: "vault", want: `vault has no netvm: it reaches nothing
`},
		{qube: "guest", json: true, want: `{
  "format_version": "1.0",
  "qube": "guest",
  "firewall": {
    "firewall": "mirage-fw",
    "backend": "mirage"
  },
  "reaches": [
    {
      "text": "tcp 443 to 0.0.0.0/0 (except 10.137.0.9)",
      "services": [
        {
          "protocol": "tcp",
          "ports": [
            "443"
          ]
        }
      ],
      "destinations": [
        "0.0.0.0/0"
      ],
      "except": [
        "10.137.0.9/32"
      ],
      "rule": "allow.web",
      "position": "policy.cue:11:16",
      "why": "by allow.web (policy.cue:11:16)"
    }
  ]
}
`},
	} {
		r := Show(p, p.Qube(tt.qube))
		write := r.WriteText
		if tt.json {
			write = r.WriteJSON
		}
		if got := text(t, rel, write); got != tt.want {
			t.Errorf("Show(%s), json %v =\n%s\nwant\n%s", tt.qube, tt.json, got, tt.want)
		}
	}
}

// The answers read the unikernel's lowering of a list that the build
// made, rather than lowering the list again: given one that the
// unikernel cannot parse, they say it drops all.
func TestLoweredRead(t *testing.T) {
	p, rel := testPolicyOf(t)
	if p.Lowered["guest"] == nil {
		t.Fatal("the build lowered no list for guest")
	}
	rel095, err := mirage.LookupRelease("0.9.5")
	if err != nil {
		t.Fatal(err)
	}
	guest := p.Qube("guest")
	badName := ir.Rule{Action: ir.Accept, Match: ir.Match{Dst: ir.Dst{Host: "under_score.example"}}}
	voided, err := mirage.Lower(guest.IP, []ir.Rule{badName}, rel095, p.Now)
	if err != nil {
		t.Fatal(err)
	}
	p.Lowered = map[string]*mirage.Lowering{"guest": voided}
	if got, want := text(t, rel, Show(p, guest).WriteText), "guest, behind mirage-fw (mirage):\n  nothing: its firewall qube accepts none of its packets\n"; got != want {
		t.Errorf("Show(guest) =\n%s\nwant\n%s", got, want)
	}
	want := "guest → 192.0.2.1:443\nmirage-fw (mirage):\n  tcp 443 to 192.0.2.1: drop: no rule matches, so the list's final drop applies\n"
	if got := text(t, rel, ExplainPackets(p, guest, ask(t, "192.0.2.1:443")).WriteText); got != want {
		t.Errorf("ExplainPackets(guest) =\n%s\nwant\n%s", got, want)
	}
}

func TestParseICMPType(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint8
		err  string
	}{
		{in: "0", want: 0},
		{in: "8", want: 8},
		{in: "255", want: 255},
		{in: "256", err: "want an ICMP type from 0 to 255"},
		{in: "08", err: "want an ICMP type from 0 to 255"},
		{in: "-1", err: "want an ICMP type from 0 to 255"},
		{in: "echo", err: "want an ICMP type from 0 to 255"},
		{in: "", err: "want an ICMP type from 0 to 255"},
	} {
		got, err := ParseICMPType(tt.in)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("ParseICMPType(%q): error %v; want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseICMPType(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// The facts of a destination the command line checks its flags against.
func TestDestFacts(t *testing.T) {
	for _, tt := range []struct {
		in      string
		family  int
		host    string
		proto   ir.Proto
		perPart bool
	}{
		{"192.0.2.1:443", 4, "192.0.2.1", ir.TCP, false},
		{"192.0.2.0/24/udp", 4, "192.0.2.0/24", ir.UDP, true},
		{"10.0.0.1-10.0.0.20", 4, "10.0.0.1-10.0.0.20", ir.AnyProto, true},
		{"[2001:db8::/32]:443", 6, "2001:db8::/32", ir.TCP, true},
		{"2001:db8::1/icmp", 6, "2001:db8::1", ir.ICMP, false},
		{"2001:db8::1/any", 6, "2001:db8::1", ir.AnyProto, true},
		{"github.com:22", 0, "github.com", ir.TCP, false},
		{"any/udp", 0, "any", ir.UDP, false},
	} {
		q := ask(t, tt.in)
		d := q.Dest
		if d.Family() != tt.family || d.Host() != tt.host || d.Proto() != tt.proto || q.PerPart() != tt.perPart {
			t.Errorf("%q: family %d, host %q, proto %s, per part %v; want %d, %q, %s, %v",
				tt.in, d.Family(), d.Host(), d.Proto(), q.PerPart(), tt.family, tt.host, tt.proto, tt.perPart)
		}
	}
}
