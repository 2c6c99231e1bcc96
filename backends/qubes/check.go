package qubes

import (
	"fmt"
	"net/netip"

	"cuelang.org/go/cue/errors"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
)

// Limits of Qubes that bound one qube's rule list.
const (
	// MaxRules is the most rules qfw compiles for one qube. QubesDB rule
	// keys are the rule's index in four digits, and the Linux agent reads a
	// five-digit key as a parse error that blocks the qube. This is one
	// below the 10,000 keys available; MaxRequestLen binds long before
	// either, as the shortest line takes 12 bytes.
	MaxRules = 9999
	// MaxRequestLen is the most bytes qubesd reads for one Admin API call,
	// header and payload together. It aborts a longer request without a
	// reply, so the rules are not changed and nothing says why.
	MaxRequestLen = adminapi.MaxRequest
	// QubesDBPathLimit bounds QubesDB paths: QDB_MAX_PATH counts the
	// terminating NUL, so a path must be shorter.
	QubesDBPathLimit = 64
	// QubesDBValueLimit bounds QubesDB values: a value must be shorter.
	QubesDBValueLimit = 3072
	// AgentDNSPathCrashLen is the length of the key /dns/<ip>/<host> that
	// crashes the Linux agent. After applying a client's rules the agent
	// exports what each host name resolved to under that key, and catches
	// the error for keys longer than 64 bytes only; QubesDB rejects one of
	// exactly 64 too, and that error stops the qubes-firewall service.
	AgentDNSPathCrashLen = 64
)

// limits holds the limits Check applies, so that tests can lower the ones
// no valid rule reaches.
type limits struct {
	rules, request, qdbPath, qdbValue, dnsCrash int
}

var qubesLimits = limits{
	rules:    MaxRules,
	request:  MaxRequestLen,
	qdbPath:  QubesDBPathLimit,
	qdbValue: QubesDBValueLimit,
	dnsCrash: AgentDNSPathCrashLen,
}

// Check reports where q's rules exceed a limit of Qubes, for a request sent
// by a caller whose name is not known: see CheckFrom.
func Check(q ir.Qube) []errors.Error { return check(q, "", qubesLimits) }

// CheckFrom reports where q's rules exceed a limit of Qubes: more than
// MaxRules rules; an admin.vm.firewall.Set request over MaxRequestLen
// bytes, sent by caller; a
// QubesDB key or rule string too long for QubesDB; a host name that makes
// the Linux agent's /dns/<ip>/<host> key exactly AgentDNSPathCrashLen bytes
// long for q.IP or q.IP6.
//
// Each error is positioned at the offending rule, with path
// qubes.<name>.<allow|deny>.<rule>, or at the qube for rules without an
// origin and for errors about the whole list. Rules count whether or not
// they have expired: Set sends them all.
//
// qubesd's limit counts the request's header, which holds the caller's
// name: dom0 through the qubesd socket, the management qube's through
// qrexec. caller is that name, or "" when it is not known, which counts
// the longest name a qube can have, so that the list fits from any caller.
func CheckFrom(q ir.Qube, caller string) []errors.Error { return check(q, caller, qubesLimits) }

func check(q ir.Qube, caller string, l limits) []errors.Error {
	var errs []errors.Error
	errorf := func(r *ir.Rule, format string, args ...any) {
		pos, path := q.Pos, policy.Path("qubes", q.Name)
		if r != nil {
			if r.Origin.Pos.IsValid() {
				pos = r.Origin.Pos
			}
			if r.Origin.Name != "" {
				path = policy.Path("qubes", q.Name, r.Origin.Kind.String(), r.Origin.Name)
			}
		}
		errs = append(errs, policy.Errorf(pos, path, format, args...))
	}

	if n := len(q.Rules); n > l.rules {
		errorf(nil, "qube %q has %d rules; at most %d are allowed, as QubesDB rule keys have four digits", q.Name, n, l.rules)
	}

	// The request as the caller sends it, or with the longest header any
	// caller's can be; the rules follow it.
	// Only the lengths count: the payload is measured, not built.
	set := &adminapi.Request{Method: "admin.vm.firewall.Set", Source: caller, Dest: q.Name}
	header := set.WorstCaseLen()
	if caller != "" {
		header = set.Len()
	}
	if size := header + PayloadLen(q.Rules); size > l.request {
		from := fmt.Sprintf("sent from a qube with a %d-character name", adminapi.MaxNameLen)
		if caller != "" {
			from = "sent from " + caller
		}
		// Point at the first rule that does not fit.
		n := header
		for i := range q.Rules {
			if n += RuleLen(q.Rules[i]) + 1; n > l.request {
				errorf(&q.Rules[i], "the admin.vm.firewall.Set request for qube %q is %d bytes %s, over qubesd's limit of %d; this is the first rule that does not fit (rule %d of the list)", q.Name, size, from, l.request, i+1)
				break
			}
		}
	}

	addrs := make([]netip.Addr, 0, 2)
	for _, ip := range []netip.Addr{q.IP, q.IP6} {
		if ip.IsValid() {
			addrs = append(addrs, ip.WithZone(""))
		}
	}

	for _, ip := range addrs {
		fam := family(ip)
		// A key is the directory, a slash and the index in at least four
		// digits: measured, not built, until one is too long.
		dir := len(ir.QubesDBDir(ip)) + len("/")
		for i := range q.Rules {
			// Whenever the rule expires, its key is written until then.
			if !ir.InFamilyList(q.Rules[i], fam, 0) {
				continue
			}
			// Keys only grow with the index: report the first that is too long.
			if dir+max(4, ir.DigitsLen(int64(i))) < l.qdbPath {
				continue
			}
			if p := ir.QubesDBKey(ip, i); len(p) >= l.qdbPath {
				errorf(&q.Rules[i], "QubesDB key %q is %d bytes; QubesDB allows at most %d", p, len(p), l.qdbPath-1)
				break
			}
		}
	}

	for i := range q.Rules {
		r := &q.Rules[i]
		if ir.QubesDBLineLen(*r) >= l.qdbValue {
			v := ir.QubesDBLine(*r)
			errorf(r, "QubesDB rule %q is %d bytes; QubesDB allows at most %d", v, len(v), l.qdbValue-1)
		}
		if r.Dst.Host == "" {
			continue
		}
		for _, ip := range addrs {
			if p := dnsPath(ip, r.Dst.Host); len(p) == l.dnsCrash {
				errorf(r, "host name %q makes the Linux agent's QubesDB key %q exactly %d bytes long, which crashes the agent's qubes-firewall service; use the host's IP addresses instead", r.Dst.Host, p, l.dnsCrash)
			}
		}
	}
	return errs
}
