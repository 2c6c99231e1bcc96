package ir

// FamilyRules returns the rules of a client's list that dom0 writes into
// its netvm's QubesDB for family (4 or 6) at time now, in order: the list
// a firewall qube reads and enforces for that family, whatever software it
// runs.
func FamilyRules(rules []Rule, family int, now int64) []Rule {
	var out []Rule
	for _, r := range rules {
		if InFamilyList(r, family, now) {
			out = append(out, r)
		}
	}
	return out
}

// InFamilyList reports whether dom0 writes r into the list for family at
// time now: prefix rules go to their own family, every other rule to both,
// and expired rules to neither.
func InFamilyList(r Rule, family int, now int64) bool {
	f := r.Dst.Family()
	return (f == 0 || f == family) && (r.Expire == 0 || r.Expire > now)
}
