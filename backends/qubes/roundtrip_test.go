package qubes

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/compiler/ir"
)

// TestRoundTrip checks that every valid rule survives FormatRule and
// ParseRule unchanged, and that its line is canonical.
func TestRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	const n = 20000
	for range n {
		r := randomRule(rnd)
		if err := r.Validate(); err != nil {
			t.Fatalf("randomRule made an invalid rule %+v: %v", r, err)
		}
		line := FormatRule(r)
		got, err := ParseRule(line)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", line, err)
			continue
		}
		if got != r {
			t.Errorf("ParseRule(%q) = %+v; want %+v", line, got, r)
		}
		if again := FormatRule(got); again != line {
			t.Errorf("FormatRule(ParseRule(%q)) = %q", line, again)
		}
	}
}

// randomRule returns a valid rule, favouring the edges of every field.
func randomRule(rnd *rand.Rand) ir.Rule {
	r := ir.Rule{Action: ir.Accept}
	if rnd.IntN(2) == 0 {
		r.Action = ir.Drop
	}
	switch rnd.IntN(4) {
	case 1:
		var a [4]byte
		fill(rnd, a[:])
		r.Dst.Prefix = netip.PrefixFrom(netip.AddrFrom4(a), bits(rnd, 32)).Masked()
	case 2:
		for {
			var a [16]byte
			fill(rnd, a[:])
			p := netip.PrefixFrom(netip.AddrFrom16(a), bits(rnd, 128)).Masked()
			if !p.Addr().Is4In6() {
				r.Dst.Prefix = p
				break
			}
		}
	case 3:
		r.Dst.Host = randomHost(rnd)
	}
	r.Proto = ir.Proto(rnd.IntN(4))
	switch r.Proto {
	case ir.TCP, ir.UDP:
		if rnd.IntN(2) == 0 {
			r.HasPorts = true
			a, b := port(rnd), port(rnd)
			r.Ports = ir.PortRange{First: min(a, b), Last: max(a, b)}
		}
	case ir.ICMP:
		if rnd.IntN(2) == 0 {
			r.HasICMPType = true
			r.ICMPType = uint8(rnd.UintN(256))
		}
	}
	if r.Proto != ir.ICMP && rnd.IntN(3) == 0 {
		r.DNS = true
		if r.HasPorts {
			r.Ports = ir.PortRange{First: 53, Last: 53}
		}
	}
	switch rnd.IntN(4) {
	case 1:
		r.Expire = 1 + rnd.Int64N(ir.MaxExpire)
	case 2:
		r.Expire = []int64{1, 2099450306, ir.MaxExpire}[rnd.IntN(3)]
	}
	if rnd.IntN(2) == 0 {
		r.Comment = randomComment(rnd)
	}
	return r
}

func fill(rnd *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rnd.UintN(256))
	}
}

// bits returns a prefix length up to most, often 0 or most.
func bits(rnd *rand.Rand, most int) int {
	switch rnd.IntN(4) {
	case 0:
		return 0
	case 1:
		return most
	}
	return rnd.IntN(most + 1)
}

// port returns a port, often 0, 53 or 65535.
func port(rnd *rand.Rand) uint16 {
	if rnd.IntN(2) == 0 {
		return []uint16{0, 53, 65535}[rnd.IntN(3)]
	}
	return uint16(rnd.UintN(65536))
}

const (
	hostChars    = "abcdefghijklmnopqrstuvwxyz0123456789-_"
	commentChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:;,./_[]- "
)

// randomHost returns a valid host name of up to 253 bytes. Each label starts
// with a letter, so no name looks numeric.
func randomHost(rnd *rand.Rand) string {
	var labels []string
	total := -1
	for n := 1 + rnd.IntN(5); len(labels) < n; {
		size := 1 + rnd.IntN(63)
		if total+1+size > 253 {
			break
		}
		l := []byte{byte('a' + rnd.IntN(26))}
		for len(l) < size {
			l = append(l, hostChars[rnd.IntN(len(hostChars))])
		}
		if l[len(l)-1] == '-' {
			l[len(l)-1] = 'z'
		}
		labels = append(labels, string(l))
		total += 1 + size
	}
	return strings.Join(labels, ".")
}

// randomComment returns a valid, non-empty comment.
func randomComment(rnd *rand.Rand) string {
	b := make([]byte, 1+rnd.IntN(60))
	for i := range b {
		b[i] = commentChars[rnd.IntN(len(commentChars))]
	}
	// No space at either end; spaces inside, even doubled, are fine.
	if b[0] == ' ' {
		b[0] = 'x'
	}
	if b[len(b)-1] == ' ' {
		b[len(b)-1] = 'x'
	}
	return string(b)
}
