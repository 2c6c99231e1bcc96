package main

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/internal/jsonfile"
	"github.com/qfw-dev/qfw/review/diff"
)

const diffDoc = `diff says what a change to the policy does to who can reach what: for every
qube, what becomes reachable (widened access, first) and what stops being
reachable, each with the rules on both sides that decide it, and the qubes
added, removed, or moved to another firewall qube or backend.

BASE and HEAD are each a policy directory or a git revision of the
repository that holds the working directory: REV (the working
directory's place in it, as of REV), or REV:PATH (PATH from the top of the
repository). A directory of that name comes first. A revision is read
with git archive into a temporary directory; the working tree and the
index are left alone. The inventory is each side's inventory.json unless
--inventory names one for both.

Reachability is computed exactly, over the whole packet space: every
destination address of both families, every protocol, port and ICMP type,
and IPv6 packets with extension headers, which the stock agent reads
otherwise than those without. Each qube's lists are judged as its firewall
qube enforces them (the stock agent, qfw's nftables backend or the
unikernel's release), as qfw test and qfw explain judge them. Destinations
are merged into the fewest prefixes; ICMP types are ICMPv6 types for
IPv6 destinations. Host names resolve as the policy's resolve section
says; a name it does not pin is compared as a name, and diff says so. A
rewriting or reordering that keeps every packet's fate is no change.

A qube the head policy no longer names keeps the list it has until qfw
apply --release (see qfw plan), so diff lists it without computing what it
loses. A qube the head policy adds gains all it can reach.

Errors in either policy stop diff; warnings are vet's to show.

--json prints the changes as JSON (format_version 1.0); --format markdown
prints them as a comment for a pull request; --format html writes them as
qfw graph's page, which works from a file: each qube whose access changes,
its firewall qube, and an edge to each set of destinations it gains or
loses, with what decides the packets on each side.

Exit codes: 0 no change in reachability nor in the qubes (even if rule lines
changed), 2 changes, 1 errors.`

const diffExamples = `  # What the last commit changes.
  qfw diff HEAD~1 HEAD

  # What the working tree changes against the branch it came from.
  qfw diff main .

  # Two directories, with the policy under policy/ in the repository.
  qfw diff main:policy ./policy

  # A comment for the pull request.
  qfw diff --format markdown origin/main HEAD > comment.md`

// formatChoice is a --format flag: the name of one of the formats a
// command writes.
type formatChoice struct {
	name  string
	names []string
}

func (c *formatChoice) String() string { return c.name }

func (c *formatChoice) Set(s string) error {
	if !slices.Contains(c.names, s) {
		return fmt.Errorf("unknown format; want %s", jsonfile.OrList(c.names))
	}
	c.name = s
	return nil
}

func (c *formatChoice) Type() string { return "FORMAT" }

type diffFlags struct {
	policyFlags
	json   bool
	format formatChoice
}

func newDiffCmd() *cobra.Command {
	f := &diffFlags{format: formatChoice{"text", []string{"text", "markdown", "html"}}}
	cmd := &cobra.Command{
		Use:     "diff BASE HEAD",
		Short:   "Say what a change to the policy does to who can reach what",
		Long:    diffDoc,
		Example: diffExamples,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return fmt.Errorf("diff takes two policies, BASE and HEAD, each a directory or a git revision; got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(cmd, args, f)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print the changes as JSON (not with --format)")
	cmd.Flags().Var(&f.format, "format", "print the changes as `FORMAT`: text, markdown (a pull-request comment) or html (qfw graph's page of the changes); not with --json")
	return cmd
}

func runDiff(cmd *cobra.Command, args []string, f *diffFlags) error {
	if f.json && cmd.Flags().Changed("format") {
		return errors.New("--format does not go with --json: --json prints the changes as JSON, in no other format")
	}
	if f.now.t.IsZero() {
		// Both sides judge expiry at the same time.
		f.now.t = time.Now()
	}
	pols, err := diff.Load(args[0], args[1], deploy.BuildOptions{Inventory: f.inventory, Now: f.now.t})
	if err != nil {
		return err
	}
	defer pols.Close()
	if pols.Failed() {
		return cmp.Or(pols.WriteErrors(cmd.ErrOrStderr()), errPrinted)
	}
	rep := diff.Compare(pols.Sides, pols.Programs, f.now.t.Unix())
	w := cmd.OutOrStdout()
	switch {
	case f.json:
		err = rep.WriteJSON(w)
	case f.format.name == "markdown":
		err = rep.WriteMarkdown(w)
	case f.format.name == "html":
		err = rep.WriteHTML(w)
	default:
		err = rep.WriteText(w)
	}
	if err != nil {
		return err
	}
	if rep.Changed() {
		return errChanges
	}
	return nil
}
