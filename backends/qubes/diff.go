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

// maxDiffCells bounds the table Diff fills: lists a qube can hold are far
// smaller, but a state file is outside input, and two lists of 100,000 and
// 10,000 lines would want 4 GB.
const maxDiffCells = 1 << 25

// Diff returns the shortest edit from current to desired: a longest
// common subsequence of lines kept, the rest removed or added. Order
// matters in a rule list, so a moved rule is removed and added again.
// Where several edits are as short, removals come before additions, so a
// reader sees what goes before what replaces it. Lines the two lists start
// with are kept as they are; past them, lists too long to compare in
// bounded memory (more than maxDiffCells pairs of lines) are shown as the
// whole of one removed and the whole of the other added, which is an edit
// too, only not the shortest.
func Diff(current, desired []string) []Edit {
	// A common first line is kept by the walk below whatever follows, so
	// the prefix needs no table.
	p := 0
	for p < len(current) && p < len(desired) && current[p] == desired[p] {
		p++
	}
	edits := make([]Edit, 0, max(len(current), len(desired)))
	for k := range p {
		edits = append(edits, Edit{KeepRule, desired[k], k})
	}
	n, m := len(current)-p, len(desired)-p
	if (n+1)*(m+1) > maxDiffCells {
		for i := p; i < len(current); i++ {
			edits = append(edits, Edit{RemoveRule, current[i], i})
		}
		for j := p; j < len(desired); j++ {
			edits = append(edits, Edit{AddRule, desired[j], j})
		}
		return edits
	}
	cur, des := current[p:], desired[p:]
	// lcs[i*w+j] is the length of a longest common subsequence of cur[i:]
	// and des[j:].
	w := m + 1
	lcs := make([]int32, (n+1)*w)
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if cur[i] == des[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && cur[i] == des[j]:
			edits = append(edits, Edit{KeepRule, des[j], p + j})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
			edits = append(edits, Edit{RemoveRule, cur[i], p + i})
			i++
		default:
			edits = append(edits, Edit{AddRule, des[j], p + j})
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
