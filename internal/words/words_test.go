package words

import "testing"

func TestCount(t *testing.T) {
	for _, tt := range []struct {
		n    int
		noun string
		want string
	}{
		{0, "qube", "0 qubes"},
		{1, "qube", "1 qube"},
		{2, "firewall qube", "2 firewall qubes"},
		{1000, "rule", "1000 rules"},
	} {
		if got := Count(tt.n, tt.noun); got != tt.want {
			t.Errorf("Count(%d, %q) = %q; want %q", tt.n, tt.noun, got, tt.want)
		}
	}
}

func TestOr(t *testing.T) {
	for _, tt := range []struct {
		words []string
		want  string
	}{
		{nil, ""},
		{[]string{"tcp"}, "tcp"},
		{[]string{"tcp", "udp"}, "tcp or udp"},
		{[]string{"tcp", "udp", "icmp"}, "tcp, udp or icmp"},
	} {
		if got := Or(tt.words); got != tt.want {
			t.Errorf("Or(%q) = %q; want %q", tt.words, got, tt.want)
		}
	}
}
