package qubes

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// EditOp says what a plan does with one rule line.
type EditOp uint8

const (
	// KeepRule leaves a line in place.
	KeepRule EditOp = iota
	// AddRule inserts a line of the new list.
	AddRule
	// RemoveRule drops a line of the current list.
	RemoveRule
)

// Symbol returns the plan symbol of op: "~" keep, "+" add, "-" remove.
func (op EditOp) Symbol() string { return [...]string{"~", "+", "-"}[op] }

// Edit is one step from a qube's current rule list to its new one.
type Edit struct {
	Op   EditOp
	Line string
	// Index is the line's index in the new list for KeepRule and AddRule, in the
	// current list for RemoveRule.
	Index int
}

// Diff returns the shortest edit from current to desired: a longest
// common subsequence of lines kept, the rest removed or added. Order
// matters in a rule list, so a moved rule is removed and added again.
// Where several edits are as short, removals come before additions, so a
// reader sees what goes before what replaces it.
func Diff(current, desired []string) []Edit {
	// lcs[i][j] is the length of a longest common subsequence of
	// current[i:] and desired[j:].
	n, m := len(current), len(desired)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if current[i] == desired[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	edits := make([]Edit, 0, max(n, m))
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && current[i] == desired[j]:
			edits = append(edits, Edit{KeepRule, desired[j], j})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			edits = append(edits, Edit{RemoveRule, current[i], i})
			i++
		default:
			edits = append(edits, Edit{AddRule, desired[j], j})
			j++
		}
	}
	return edits
}

// ListHash returns a digest of a rule list as dom0 holds it, to tell later
// whether the list changed: the SHA-256 of its lines, each ended by "\n",
// in hex.
func ListHash(lines []string) string {
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Canonical returns line as FormatRule writes it, so that a list read from
// dom0 compares equal to a compiled one whatever the order of its options;
// a line that does not parse is returned as it is, and differs from every
// compiled line.
func Canonical(line string) string {
	r, err := ParseRule(strings.TrimSpace(line))
	if err != nil {
		return line
	}
	return FormatRule(r)
}
