// Package policygen writes synthetic qfw policies of a given size, for
// benchmarks.
//
// A generated policy is one CUE package, policy, in several files, with an
// inventory.json beside it. Its shapes are those of a real policy: named
// networks and services, profiles that qubes use by unification, and per
// qube allow and deny rules with addresses, prefixes of both families, host
// names, port lists and ranges, ICMP types, priorities, an expiry and DNS.
// It does not read inventory, so `cue export` evaluates the same files
// without qfw.
//
// Within one qube no rule covers another, for up to MaxRules rules: the
// per-qube rules have distinct destinations and priorities below the
// profiles' broad rules, so vet reports no errors. Its only warnings are
// those for host names, one per host-name rule.
package policygen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Config is the size of a policy.
type Config struct {
	// Qubes is the number of managed qubes.
	Qubes int
	// Rules is the number of policy rules of each qube, those of its
	// profile included (each profile has ProfileRules). Each policy rule
	// compiles into one or more Qubes rules.
	Rules int
	// QubesPerFile is the number of qubes in each qubes_NNN.cue file; 0
	// means 100.
	QubesPerFile int
}

// ProfileRules is the number of rules each profile gives a qube.
const ProfileRules = 3

// MaxRules is the most rules per qube for which no rule of a qube covers
// another.
const MaxRules = 128 + ProfileRules

// teams is the number of team networks in networks.
const teams = 32

// File is one file of a generated policy.
type File struct {
	Name string
	Data []byte
}

// Files returns the files of the policy cfg describes, sorted by name. The
// output depends on cfg alone.
func Files(cfg Config) ([]File, error) {
	if cfg.Qubes < 1 {
		return nil, fmt.Errorf("qubes is %d; want at least 1", cfg.Qubes)
	}
	if cfg.Rules < ProfileRules {
		return nil, fmt.Errorf("rules is %d; want at least %d, the rules of a profile", cfg.Rules, ProfileRules)
	}
	if cfg.Qubes > 60000 {
		return nil, fmt.Errorf("qubes is %d; at most 60000 have distinct addresses", cfg.Qubes)
	}
	per := cfg.QubesPerFile
	if per <= 0 {
		per = 100
	}
	files := []File{
		{Name: "names.cue", Data: namesCUE()},
		{Name: "profiles.cue", Data: profilesCUE()},
		{Name: "firewalls.cue", Data: firewallsCUE()},
		{Name: "tests.cue", Data: testsCUE(cfg.Qubes, cfg.Rules)},
		{Name: "inventory.json", Data: inventoryJSON(cfg.Qubes)},
	}
	for start, n := 0, 0; start < cfg.Qubes; start, n = start+per, n+1 {
		end := min(start+per, cfg.Qubes)
		files = append(files, File{
			Name: fmt.Sprintf("qubes_%03d.cue", n),
			Data: qubesCUE(start, end, cfg.Rules),
		})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// Write writes the policy cfg describes into dir, creating dir if needed.
func Write(dir string, cfg Config) error {
	files, err := Files(cfg)
	if err != nil {
		return err
	}
	return writeFiles(dir, files)
}

// WriteBigRule writes the policy of BigRule(n) into dir, creating dir if
// needed.
func WriteBigRule(dir string, n int) error {
	files, err := BigRule(n)
	if err != nil {
		return err
	}
	return writeFiles(dir, files)
}

func writeFiles(dir string, files []File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	var errs []error
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("write policy: %w", err))
		}
	}
	return errors.Join(errs...)
}

// QubeName returns the name of managed qube i.
func QubeName(i int) string {
	return fmt.Sprintf("%s-%04d", roles[i%len(roles)], i)
}

var roles = []string{"work", "dev", "personal", "research", "media", "ops", "build"}

// qubeIP returns the IPv4 address of managed qube i: 10.137.x.y, with y in
// 2..251.
func qubeIP(i int) string { return fmt.Sprintf("10.137.%d.%d", i/250, i%250+2) }

// netvm returns the netvm of managed qube i: sys-vpn for one in ten,
// sys-firewall for the others.
func netvm(i int) string {
	if i%10 == 9 {
		return "sys-vpn"
	}
	return "sys-firewall"
}

func namesCUE() []byte {
	var b bytes.Buffer
	b.WriteString(`package policy

// Named destinations, shared by every qube.
networks: {
	// Private address space: the LAN and link-local addresses.
	lan: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8", "fe80::/10"]
	// The company's networks and its VPN concentrator.
	corp: ["203.0.113.0/24", "2001:db8:40::/48"]
	vpnGateway: ["198.51.100.7"]
	ntp: ["192.0.2.10", "192.0.2.11"]
	// One network per team, inside the LAN.
`)
	for k := range teams {
		fmt.Fprintf(&b, "\tteam%02d: [\"10.%d.0.0/16\", \"fd00:%x::/32\"]\n", k, 40+k, k+1)
	}
	b.WriteString(`}

services: {
	https: tcp: [443]
	web: tcp: [80, 443]
	ssh: tcp: [22]
	smtp: tcp: [25, 465, 587]
	imaps: tcp: [993]
	dev: tcp: ["8000-8099", 3000, 5432]
	vnc: tcp: ["5900-5910"]
	syslog: {udp: [514], tcp: [6514]}
	kerberos: {tcp: [88, 464], udp: [88, 464]}
	ntp: udp: [123]
	openvpn: udp: [1194]
	ping: icmp: [0, 3, 8, 11]
}
`)
	return b.Bytes()
}

func profilesCUE() []byte {
	return []byte(`package policy

// Each profile gives a qube three rules: DNS first, then a deny of the LAN
// at the default priority, then what the profile is for. A qube's own
// exceptions to the LAN deny have lower priorities.
profiles: {
	// internetOnly reaches the internet but nothing on the local network.
	internetOnly: {
		allow: dns: {dns: true, priority: 10}
		deny: lan: to: networks.lan
		allow: internet: to: "any"
	}

	// webOnly reaches web servers and nothing else.
	webOnly: {
		allow: dns: {dns: true, priority: 10}
		deny: lan: to: networks.lan
		allow: web: {to: "any", service: services.web}
	}

	// corpClient reaches the company's mail, web and ssh servers.
	corpClient: {
		allow: dns: {dns: true, priority: 10}
		deny: lan: to: networks.lan
		allow: corp: {
			to: networks.corp
			service: [services.https, services.ssh, services.imaps, services.kerberos]
			priority: 90
		}
	}
}
`)
}

func firewallsCUE() []byte {
	return []byte(`package policy

firewalls: {
	"sys-firewall": backend: "qubes"
	"sys-vpn": backend: "qubes"
}
`)
}

var profiles = []string{"internetOnly", "webOnly", "corpClient"}

func qubesCUE(start, end, rules int) []byte {
	var b bytes.Buffer
	b.WriteString("package policy\n\nqubes: {\n")
	for i := start; i < end; i++ {
		if i > start {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "\t%q: profiles.%s & {\n", QubeName(i), profiles[i%len(profiles)])
		for j := range rules - ProfileRules {
			b.WriteString("\t\t")
			writeRule(&b, i, j)
			b.WriteByte('\n')
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// writeRule writes rule j of qube i, one of eight shapes (j%8). Each shape
// keeps its destinations apart from the other shapes' and, through j/8, from
// its own other rules in the qube, for j below 128.
func writeRule(b *bytes.Buffer, i, j int) {
	// Below the profiles' rules at 100 and corpClient's at 90, above their
	// DNS at 10.
	prio := 20 + j%70
	switch j % 8 {
	case 0: // An exception to the LAN deny: one host, two services.
		fmt.Fprintf(b, "allow: \"lanhost%02d\": {to: \"192.168.%d.%d\", service: [services.ssh, services.https], priority: %d}",
			j, j%256, i%250+1, prio)
	case 1: // A team network of both families, a port list with a range.
		fmt.Fprintf(b, "allow: \"team%02d\": {to: networks.team%02d, service: services.dev, priority: %d}",
			j, (i*7+j/8)%teams, prio)
	case 2: // A deny of outgoing mail to a public prefix.
		fmt.Fprintf(b, "deny: \"smtp%02d\": {to: \"198.18.%d.0/24\", service: services.smtp, priority: %d}",
			j, j%256, prio)
	case 3: // A host name, with the rule's own tcp field and a comment.
		fmt.Fprintf(b, "allow: \"api%02d\": {to: \"api%d.svc%d.example.net\", tcp: [443, 8443], priority: %d, comment: \"api access\"}",
			j, j, i%50, prio)
	case 4: // ICMP types to a LAN prefix of each family.
		fmt.Fprintf(b, "allow: \"ping%02d\": {to: [\"10.%d.%d.0/24\", \"fd10:%x:%x::/48\"], service: services.ping, priority: %d}",
			j, 100+(j/8)%100, i%250, j, i%250, prio)
	case 5: // An IPv6 deny of every protocol.
		fmt.Fprintf(b, "deny: \"v6block%02d\": {to: \"2001:db8:dead:%x::/64\", priority: %d}",
			j, j, prio)
	case 6: // UDP ports, a list of a port and a range, to public prefixes.
		fmt.Fprintf(b, "allow: \"media%02d\": {to: [\"100.%d.%d.0/24\", \"100.%d.%d.0/24\"], udp: [3478, \"10000-10100\"], priority: %d}",
			j, 64+(j/8)%64, i%250, 64+(j/8)%64, 250+i%6, prio)
	case 7: // A LAN prefix until an expiry, with a comment.
		fmt.Fprintf(b, "allow: \"temp%02d\": {to: \"172.%d.%d.0/24\", service: services.vnc, expire: 4102444800, priority: %d, comment: \"temporary access\"}",
			j, 16+(j/8)%16, i%250, prio)
	}
}

// testsCUE writes two tests for one qube in ten: the LAN deny of its
// profile, and its first own rule if it has one. A verdict holds only if
// no host name the lists hold can block them, so it pins every name the
// rules use (case 3 of ownRule) in resolve, in both families.
func testsCUE(qubes, rules int) []byte {
	var b bytes.Buffer
	b.WriteString("package policy\n\nresolve: {\n")
	for j := 3; j < rules-ProfileRules; j += 8 {
		for k := range min(qubes, 50) {
			fmt.Fprintf(&b, "\t\"api%d.svc%d.example.net\": [\"203.0.%d.%d\", \"2001:db8:a%x::%x\"]\n", j, k, j, k+1, j, k+1)
		}
	}
	b.WriteString("}\n\ntests: [\n")
	for i := 0; i < qubes; i += 10 {
		fmt.Fprintf(&b, "\t{from: %q, to: \"10.0.0.1\", port: 80, proto: \"tcp\", expect: \"drop\"},\n", QubeName(i))
		if rules == ProfileRules {
			continue
		}
		fmt.Fprintf(&b, "\t{from: %q, to: \"192.168.0.%d\", port: 22, proto: \"tcp\", expect: \"accept\"},\n", QubeName(i), i%250+1)
	}
	b.WriteString("]\n")
	return b.Bytes()
}

func inventoryJSON(qubes int) []byte {
	type entry struct {
		name string
		json string
	}
	entries := []entry{
		{"debian-13", `{"class": "TemplateVM", "label": "black"}`},
		{"sys-firewall", `{"class": "AppVM", "ip": "10.138.0.6", "ip6": "fd09:24ef:4179::a8a:6", "netvm": "sys-net", "label": "green", "provides_network": true}`},
		{"sys-net", `{"class": "AppVM", "ip": "10.138.0.5", "label": "red", "provides_network": true}`},
		{"sys-vpn", `{"class": "AppVM", "ip": "10.138.0.8", "netvm": "sys-firewall", "label": "blue", "provides_network": true}`},
		{"vault", `{"class": "AppVM", "label": "black"}`},
	}
	labels := []string{"red", "orange", "yellow", "green", "gray", "blue", "purple", "black"}
	for i := range qubes {
		ip6 := ""
		if i%2 == 0 {
			ip6 = fmt.Sprintf(`, "ip6": "fd09:24ef:4179::a89:%x"`, i+2)
		}
		tags := ""
		if i%5 == 0 {
			tags = `, "tags": ["generated"]`
		}
		entries = append(entries, entry{QubeName(i), fmt.Sprintf(
			`{"class": "AppVM", "ip": %q%s, "netvm": %q, "label": %q%s}`,
			qubeIP(i), ip6, netvm(i), labels[i%len(labels)], tags)})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var b bytes.Buffer
	b.WriteString("{\n  \"qubes\": {\n")
	for k, e := range entries {
		sep := ","
		if k == len(entries)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %q: %s%s\n", e.name, e.json, sep)
	}
	b.WriteString("  }\n}\n")
	return b.Bytes()
}
