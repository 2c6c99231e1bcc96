package policy

import "strings"

// QubeNameError returns why Qubes would refuse s as the name of a qube, or
// "" if it would take it. It follows validate_name in qubes/vm/__init__.py:
// at most 31 characters, a letter first, then letters, digits, '_', '.'
// and '-'; not "none" or "default", which name no qube where a qube is
// expected; and not ending in "-dm", which names a qube's device-model
// stub domain.
func QubeNameError(s string) string {
	switch {
	case s == "":
		return "a qube name cannot be empty"
	case len(s) > 31:
		return "a qube name has at most 31 characters"
	case !isLetter(s[0]):
		return "a qube name starts with a letter"
	case !IsRuleName(s):
		return "a qube name holds only letters, digits, '_', '.' and '-'"
	case s == "none" || s == "default":
		return "Qubes keeps \"none\" and \"default\" for no qube and the default one"
	case strings.HasSuffix(s, "-dm"):
		return "Qubes keeps names ending in \"-dm\" for device-model stub domains"
	}
	return ""
}

// IsQubeName reports whether Qubes takes s as the name of a qube, as
// #QubeName in the schema says.
func IsQubeName(s string) bool { return QubeNameError(s) == "" }

// qubeNameMsg is the error about a name Qubes refuses.
func qubeNameMsg(s string) (string, []any) {
	return "%q is not a Qubes name: %s", []any{s, QubeNameError(s)}
}

// IsRuleName reports whether s may name a rule (or a network, service or
// profile): #Name in the schema.
func IsRuleName(s string) bool {
	if s == "" || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool  { return isLetter(c) || '0' <= c && c <= '9' }
