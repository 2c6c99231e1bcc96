package mirage

import "testing"

// TestStrings checks the names of the enumerations and the formats of
// Entry and Step.
func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Entry{"/qubes-firewall/10.137.0.3/0000", "action=accept"}.String(), `/qubes-firewall/10.137.0.3/0000 = "action=accept"`},
		{Entry{"/qubes-firewall/10.137.0.3", ""}.String(), `/qubes-firewall/10.137.0.3 = ""`},
		{Enforced.String() + " " + IPv6Only.String() + " " + Expired.String() + " " + Unread.String() + " " + Voided.String() + " " + Status(0).String(),
			"enforced ipv6-only expired unread voided invalid"},
		{Warning.String() + " " + Error.String() + " " + Severity(0).String(), "warning error invalid"},
		{PublicResolver.String() + "; " + QubesDBResolver.String() + "; " + Resolver(0).String(),
			"91.239.100.100; the first DNS server in QubesDB (/qubes-primary-dns); invalid"},
		{CreateQube.String() + " " + SetFeature.String() + " " + SetProperty.String() + " " + RestartQube.String() + " " + Op(0).String(),
			"create set-feature set-property restart invalid"},
		{Step{}.String(), "invalid step"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q; want %q", tt.got, tt.want)
		}
	}
}
