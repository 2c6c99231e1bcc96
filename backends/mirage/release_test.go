package mirage

import (
	"slices"
	"strings"
	"testing"
)

func TestLookupRelease(t *testing.T) {
	for _, v := range []string{"0.9.5", "v0.9.5"} {
		r, err := LookupRelease(v)
		if err != nil || r.Version != "0.9.5" {
			t.Errorf("LookupRelease(%q) = %q, %v; want 0.9.5", v, r.Version, err)
		}
	}
	const known = "known releases are 0.7, 0.8.0, 0.8.1, 0.8.2, 0.8.3, 0.8.4, 0.8.5, 0.8.6, 0.9.0, 0.9.1, 0.9.2, 0.9.3, 0.9.4, 0.9.5"
	for _, v := range []string{"0.9.6", "", "v", "0.9", "vv0.9.5", " 0.9.5", "0.9.5-rc1"} {
		_, err := LookupRelease(v)
		want := `unknown mirage firewall release "` + v + `"; ` + known
		if err == nil || err.Error() != want {
			t.Errorf("LookupRelease(%q) error = %v; want %s", v, err, want)
		}
	}
}

// TestCapabilities has one row per release: what changes how rules are
// enforced and how the qube is set up.
func TestCapabilities(t *testing.T) {
	type caps struct {
		names       bool
		resolver    Resolver
		dnsQubesDB  bool
		gatewayDNS  bool
		virtMode    string
		hotSwap     bool
		recommended bool
	}
	tests := []struct {
		version string
		want    caps
	}{
		// 0.7: first Qubes 4 rules; names via a hard-coded public resolver.
		{"0.7", caps{true, PublicResolver, false, true, "pv", false, false}},
		// 0.8.0: PVH, resolver from QubesDB; the gateway DNS redirect stays.
		{"0.8.0", caps{true, QubesDBResolver, false, true, "pvh", false, false}},
		// 0.8.1: DNS servers from QubesDB, the redirect removed.
		{"0.8.1", caps{true, QubesDBResolver, true, false, "pvh", false, false}},
		// 0.8.2: names broken (#158).
		{"0.8.2", caps{false, QubesDBResolver, true, false, "pvh", false, false}},
		{"0.8.3", caps{true, QubesDBResolver, true, false, "pvh", false, false}},
		{"0.8.4", caps{true, QubesDBResolver, true, false, "pvh", false, false}},
		{"0.8.5", caps{true, QubesDBResolver, true, false, "pvh", false, false}},
		{"0.8.6", caps{true, QubesDBResolver, true, false, "pvh", false, false}},
		// 0.9.0: netvm hot swap, names broken (no uplink for DNS).
		{"0.9.0", caps{false, QubesDBResolver, true, false, "pvh", true, false}},
		// 0.9.1: names fixed; the oldest recommended.
		{"0.9.1", caps{true, QubesDBResolver, true, false, "pvh", true, true}},
		{"0.9.2", caps{true, QubesDBResolver, true, false, "pvh", true, true}},
		{"0.9.3", caps{true, QubesDBResolver, true, false, "pvh", true, true}},
		{"0.9.4", caps{true, QubesDBResolver, true, false, "pvh", true, true}},
		{"0.9.5", caps{true, QubesDBResolver, true, false, "pvh", true, true}},
	}
	if len(tests) != len(Releases()) {
		t.Fatalf("%d rows for %d releases", len(tests), len(Releases()))
	}
	for i, tt := range tests {
		r := mustRelease(tt.version)
		if Releases()[i].Version != tt.version {
			t.Errorf("Releases()[%d] = %s; want %s (oldest first)", i, Releases()[i].Version, tt.version)
		}
		got := caps{r.NamesWork(), r.Resolver, r.DNSFromQubesDB, r.GatewayDNS, r.VirtMode, r.NetvmHotSwap, r.recommended()}
		if got != tt.want {
			t.Errorf("%s: capabilities %+v; want %+v", tt.version, got, tt.want)
		}
		if !r.NamesWork() && !strings.Contains(r.NamesBroken, "fixed in") {
			t.Errorf("%s: NamesBroken %q does not say where it is fixed", tt.version, r.NamesBroken)
		}
	}
}

// TestKernelHashes checks the hashes of §5.1 of the reference: known from
// 0.8.6 on, unknown (empty) before.
func TestKernelHashes(t *testing.T) {
	want := map[string]string{
		"0.8.6": "2c3f68f49afdeaeedd2c03f8ef6d30d6bb4d6306bda0a1ff40f95f440a90034c",
		"0.9.0": "163991ea96842e03d378501a0be99057ad2489440aff8ae81d850624d98fd3f0",
		"0.9.1": "0cbb202c1b93e10ad115c9e988f9384005656c0855ec9deaf05a5e9ac9972984",
		"0.9.2": "78a1ee52574b9a4fc5eda265922bcbcface90f7c43ed7a68dc8e201a2ac0a7dc",
		"0.9.3": "b78d6711b502f8babcc5c4083b0352b78be8e8a6bef044189ce7a00e6e564612",
		"0.9.4": "0c3c2c0e62a834112c69d7cddc5dd6f70ecb93afa988768fb860ed26e423b1f8",
		"0.9.5": "2bfb49696e59a8ffbb660399e52bd82ffadbd02437d282eb8daab568b3261999",
	}
	for _, r := range Releases() {
		if r.KernelSHA256 != want[r.Version] {
			t.Errorf("%s: KernelSHA256 = %q; want %q", r.Version, r.KernelSHA256, want[r.Version])
		}
		if r.KernelSHA256 != "" {
			if _, err := parseSHA256(r.KernelSHA256); err != nil {
				t.Errorf("%s: %v", r.Version, err)
			}
		}
	}
}

func TestReleasesOrdered(t *testing.T) {
	rs := Releases()
	for i := 1; i < len(rs); i++ {
		if !versionLess(rs[i-1].Version, rs[i].Version) || rs[i-1].Date >= rs[i].Date {
			t.Errorf("%s (%s) is not before %s (%s)", rs[i-1].Version, rs[i-1].Date, rs[i].Version, rs[i].Date)
		}
	}
	if rs[len(rs)-1].Version != Latest {
		t.Errorf("newest release %s; want Latest %s", rs[len(rs)-1].Version, Latest)
	}
	// Releases returns a copy.
	rs[0].Version = "changed"
	if Releases()[0].Version != "0.7" {
		t.Errorf("Releases shares its table with the caller")
	}
}

func TestVersionLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"0.7", "0.8.0", true},
		{"0.8.0", "0.7", false},
		{"0.9.0", "0.9.1", true},
		{"0.9.1", "0.9.1", false},
		{"0.8.6", "0.9.0", true},
		{"0.9.10", "0.9.5", false},
	}
	for _, tt := range tests {
		if got := versionLess(tt.a, tt.b); got != tt.want {
			t.Errorf("versionLess(%s, %s) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// common is what Notes says about every release.
var common = []string{
	"IPv6 is not supported: all IPv6 traffic from clients is dropped",
	"drops are silent: a refused connection times out instead of failing with an ICMP error",
	"traffic to the firewall's own address is dropped, pings included",
	"traffic between two clients of this firewall is forwarded when the source's rules accept it, without state; a Linux firewall qube blocks it whatever the rules",
	"every change to a client's rules closes all of that client's open connections",
}

func TestNotes(t *testing.T) {
	tests := []struct {
		version string
		want    []string
	}{
		{"0.9.5", nil},
		{"0.9.1", nil},
		{"0.9.0", []string{
			"release 0.9.0 is older than 0.9.1, the oldest qfw recommends; the latest is 0.9.5",
			`dsthost rules never match in 0.9.0: its DNS client has no uplink, so every lookup fails with "No uplink interface"; fixed in 0.9.1 by #193 and #194`,
		}},
		{"0.8.6", []string{
			"release 0.8.6 is older than 0.9.1, the oldest qfw recommends; the latest is 0.9.5",
			"0.8.6 reads its uplink at boot only: restart it after changing its netvm",
		}},
		{"0.8.2", []string{
			"release 0.8.2 is older than 0.9.1, the oldest qfw recommends; the latest is 0.9.5",
			`dsthost rules never match in 0.8.2: its lookups fail with "could not resolve" while it spins at 100% CPU, #158; fixed in 0.8.3`,
			"0.8.2 reads its uplink at boot only: restart it after changing its netvm",
			"no published SHA-256 of the 0.8.2 kernel image is on record: verify the image yourself and give its hash",
		}},
		{"0.7", []string{
			"release 0.7 is older than 0.9.1, the oldest qfw recommends; the latest is 0.9.5",
			"0.7 looks up dsthost names at 91.239.100.100, a public resolver, not through the netvm's DNS",
			"0.7 forwards UDP port 53 sent to the firewall's own address to the netvm whatever a client's rules say (removed in 0.8.1)",
			"0.7 reads its uplink at boot only: restart it after changing its netvm",
			"no published SHA-256 of the 0.7 kernel image is on record: verify the image yourself and give its hash",
		}},
	}
	for _, tt := range tests {
		got := mustRelease(tt.version).Notes()
		want := append(tt.want, common...)
		if !slices.Equal(got, want) {
			t.Errorf("%s: Notes:\n%s\nwant:\n%s", tt.version, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
