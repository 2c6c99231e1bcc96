package mirage

import (
	"fmt"
	"strconv"
	"strings"
)

// Versions qfw recommends.
const (
	// minimumRecommended is the oldest release qfw recommends: the first
	// whose host-name rules work after the 0.9.0 regression.
	minimumRecommended = "0.9.1"
	// Latest is the newest release qfw knows.
	Latest = "0.9.5"
)

// Resolver is where a release looks up the names of dsthost rules.
type Resolver uint8

const (
	// PublicResolver is 91.239.100.100, a public resolver hard-coded in
	// 0.7: lookups bypass the netvm's DNS and may see other answers than
	// the client does.
	PublicResolver Resolver = iota + 1
	// QubesDBResolver is the first of /qubes-primary-dns and
	// /qubes-secondary-dns (since 0.8.0): the Qubes virtual DNS server,
	// which the netvm forwards to its resolver. The second is never asked.
	QubesDBResolver
)

func (r Resolver) String() string {
	switch r {
	case PublicResolver:
		return "91.239.100.100"
	case QubesDBResolver:
		return "the first DNS server in QubesDB (/qubes-primary-dns)"
	}
	return "invalid"
}

// Release is what qfw knows about one release of qubes-mirage-firewall:
// the capabilities that change how rules are enforced and how the
// firewall qube is set up, and the hash of its kernel image.
type Release struct {
	// Version is the release's version without the tag's "v", as "0.9.5".
	Version string
	// Date is the day the release was tagged, YYYY-MM-DD. (CHANGES.md
	// gives other days for 0.9.2 and 0.9.4.)
	Date string
	// KernelSHA256 is the published SHA-256 of the release's
	// qubes-firewall.xen, in lowercase hexadecimal, or "" where none is on
	// record (releases before 0.8.6): then only a hash the user checked
	// can verify an image.
	KernelSHA256 string
	// VirtMode is the Xen virtualisation mode the image boots in: "pvh"
	// since 0.8.0, "pv" before.
	VirtMode string
	// NamesBroken says why dsthost rules never match in this release, or
	// is empty where they work.
	NamesBroken string
	// Resolver is where dsthost names are looked up.
	Resolver Resolver
	// DNSFromQubesDB says that specialtarget=dns compares destinations
	// with /qubes-primary-dns and /qubes-secondary-dns (since 0.8.1);
	// before, with the hard-coded 10.139.1.1 and 10.139.1.2, which are
	// what dom0 writes there anyway.
	DNSFromQubesDB bool
	// GatewayDNS says that UDP to port 53 of the firewall's own address
	// is forwarded to the netvm whatever the client's rules say, a
	// Qubes 3 leftover removed in 0.8.1 (#142).
	GatewayDNS bool
	// NetvmHotSwap says that the unikernel follows a change of its own
	// netvm without a restart (since 0.9.0, #178).
	NetvmHotSwap bool
}

// releases is every release qfw knows, oldest first. Sources: the tags
// and CHANGES.md of mirage/qubes-mirage-firewall; hashes from
// qubes-firewall-release.sha256 (0.9.2 to 0.9.5) and from the "last
// known" hash printed by the build script at the tag (0.8.6 to 0.9.1).
var releases = []Release{
	{Version: "0.7", Date: "2020-05-19", VirtMode: "pv", Resolver: PublicResolver, GatewayDNS: true},
	{Version: "0.8.0", Date: "2022-08-31", VirtMode: "pvh", Resolver: QubesDBResolver, GatewayDNS: true},
	{Version: "0.8.1", Date: "2022-09-14", VirtMode: "pvh", Resolver: QubesDBResolver, DNSFromQubesDB: true},
	{Version: "0.8.2", Date: "2022-10-12", VirtMode: "pvh", Resolver: QubesDBResolver, DNSFromQubesDB: true,
		NamesBroken: "its lookups fail with \"could not resolve\" while it spins at 100% CPU, #158; fixed in 0.8.3"},
	{Version: "0.8.3", Date: "2022-11-11", VirtMode: "pvh", Resolver: QubesDBResolver, DNSFromQubesDB: true},
	{Version: "0.8.4", Date: "2022-12-07", VirtMode: "pvh", Resolver: QubesDBResolver, DNSFromQubesDB: true},
	{Version: "0.8.5", Date: "2023-07-05", VirtMode: "pvh", Resolver: QubesDBResolver, DNSFromQubesDB: true},
	{Version: "0.8.6", Date: "2023-11-08", VirtMode: "pvh", Resolver: QubesDBResolver, DNSFromQubesDB: true,
		KernelSHA256: "2c3f68f49afdeaeedd2c03f8ef6d30d6bb4d6306bda0a1ff40f95f440a90034c"},
	{Version: "0.9.0", Date: "2024-04-24", VirtMode: "pvh", Resolver: QubesDBResolver, DNSFromQubesDB: true, NetvmHotSwap: true,
		KernelSHA256: "163991ea96842e03d378501a0be99057ad2489440aff8ae81d850624d98fd3f0",
		NamesBroken:  "its DNS client has no uplink, so every lookup fails with \"No uplink interface\"; fixed in 0.9.1 by #193 and #194"},
	{Version: "0.9.1", Date: "2024-05-10", VirtMode: "pvh", Resolver: QubesDBResolver, DNSFromQubesDB: true, NetvmHotSwap: true,
		KernelSHA256: "0cbb202c1b93e10ad115c9e988f9384005656c0855ec9deaf05a5e9ac9972984"},
	{Version: "0.9.2", Date: "2024-10-17", VirtMode: "pvh", Resolver: QubesDBResolver, DNSFromQubesDB: true, NetvmHotSwap: true,
		KernelSHA256: "78a1ee52574b9a4fc5eda265922bcbcface90f7c43ed7a68dc8e201a2ac0a7dc"},
	{Version: "0.9.3", Date: "2025-01-04", VirtMode: "pvh", Resolver: QubesDBResolver, DNSFromQubesDB: true, NetvmHotSwap: true,
		KernelSHA256: "b78d6711b502f8babcc5c4083b0352b78be8e8a6bef044189ce7a00e6e564612"},
	{Version: "0.9.4", Date: "2025-02-08", VirtMode: "pvh", Resolver: QubesDBResolver, DNSFromQubesDB: true, NetvmHotSwap: true,
		KernelSHA256: "0c3c2c0e62a834112c69d7cddc5dd6f70ecb93afa988768fb860ed26e423b1f8"},
	{Version: "0.9.5", Date: "2025-10-29", VirtMode: "pvh", Resolver: QubesDBResolver, DNSFromQubesDB: true, NetvmHotSwap: true,
		KernelSHA256: "2bfb49696e59a8ffbb660399e52bd82ffadbd02437d282eb8daab568b3261999"},
}

// Releases returns every release qfw knows, oldest first.
func Releases() []Release { return append([]Release(nil), releases...) }

// LookupRelease returns the release with version v, written with or
// without the tag's "v" ("0.9.5" or "v0.9.5").
func LookupRelease(v string) (Release, error) {
	want := strings.TrimPrefix(v, "v")
	for _, r := range releases {
		if r.Version == want {
			return r, nil
		}
	}
	known := make([]string, len(releases))
	for i, r := range releases {
		known[i] = r.Version
	}
	return Release{}, fmt.Errorf("unknown mirage firewall release %q; known releases are %s", v, strings.Join(known, ", "))
}

// NamesWork reports whether the release's dsthost rules match at all.
func (r Release) NamesWork() bool { return r.NamesBroken == "" }

// recommended reports whether r is minimumRecommended or later.
func (r Release) recommended() bool { return !versionLess(r.Version, minimumRecommended) }

// Notes returns what a user of the release should know beyond the rules
// of one client, in a fixed order: first how it differs from the releases
// qfw recommends, then how every release differs from a Linux firewall
// qube.
func (r Release) Notes() []string {
	var notes []string
	if !r.recommended() {
		notes = append(notes, fmt.Sprintf("release %s is older than %s, the oldest qfw recommends; the latest is %s", r.Version, minimumRecommended, Latest))
	}
	if !r.NamesWork() {
		notes = append(notes, fmt.Sprintf("dsthost rules never match in %s: %s", r.Version, r.NamesBroken))
	}
	if r.Resolver == PublicResolver {
		notes = append(notes, fmt.Sprintf("%s looks up dsthost names at %s, a public resolver, not through the netvm's DNS", r.Version, PublicResolver))
	}
	if r.GatewayDNS {
		notes = append(notes, fmt.Sprintf("%s forwards UDP port 53 sent to the firewall's own address to the netvm whatever a client's rules say (removed in 0.8.1)", r.Version))
	}
	if !r.NetvmHotSwap {
		notes = append(notes, fmt.Sprintf("%s reads its uplink at boot only: restart it after changing its netvm", r.Version))
	}
	if r.KernelSHA256 == "" {
		notes = append(notes, fmt.Sprintf("no published SHA-256 of the %s kernel image is on record: verify the image yourself and give its hash", r.Version))
	}
	return append(notes,
		"IPv6 is not supported: all IPv6 traffic from clients is dropped",
		"drops are silent: a refused connection times out instead of failing with an ICMP error",
		"traffic to the firewall's own address is dropped, pings included",
		"traffic between two clients of this firewall is forwarded when the source's rules accept it, without state; a Linux firewall qube blocks it whatever the rules",
		"every change to a client's rules closes all of that client's open connections",
	)
}

// versionLess reports whether version a is older than b; both are known
// versions, dot-separated decimal numbers.
func versionLess(a, b string) bool {
	pa, pb := versionParts(a), versionParts(b)
	for i := range pa {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

// versionParts returns the major, minor and patch numbers of v; a missing
// part is 0, so "0.7" is 0.7.0.
func versionParts(v string) [3]int {
	var p [3]int
	for i, s := range strings.SplitN(v, ".", 3) {
		p[i], _ = strconv.Atoi(s)
	}
	return p
}
