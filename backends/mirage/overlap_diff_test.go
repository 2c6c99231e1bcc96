package mirage

import "testing"

var overlap = checks{old_nameMayUndo, old_conflictsIPv6, old_clientRangesOf, old_dropsAll}

// TestPacketChecksMatchOverlap compares the checks in the box model with
// those of overlap.go.
func TestPacketChecksMatchOverlap(t *testing.T) { compareChecks(t, current, overlap, 100000) }

// TestReferenceMatchesOverlap checks the reference against overlap.go.
func TestReferenceMatchesOverlap(t *testing.T) { compareChecks(t, reference, overlap, 20000) }
