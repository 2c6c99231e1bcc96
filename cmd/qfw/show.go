package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/reach"
	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/internal/jsonfile"
	"github.com/qfw-dev/qfw/review"
)

const showDoc = `show says everything a qube can reach: the packets its firewall qube
accepts from it, summarised as diff summarises a change (destinations
merged into the fewest prefixes and names, protocols, port ranges, ICMP
types, DNS), each line with the rule that accepts it and where the policy
says it.

It is computed exactly over the whole packet space, with the qube's lists
judged as its firewall qube enforces them (the stock agent, qfw's nftables
backend or the unikernel's release). Host names resolve as the policy's
resolve section says; a name it does not pin is shown as a name. ICMP
types are ICMPv6 types for IPv6 destinations.

--json prints the lines as JSON (format_version 1.0).`

const showExamples = `  # What may work reach?
  qfw show work

  # The same, of the policy in ./policy, as JSON.
  qfw show work ./policy --json`

type showFlags struct {
	policyFlags
	json bool
}

func newShowCmd() *cobra.Command {
	f := &showFlags{}
	cmd := &cobra.Command{
		Use:     "show QUBE [DIR | FILE...]",
		Short:   "Say everything a qube can reach, and which rules allow it",
		Long:    showDoc,
		Example: showExamples,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("show takes the qube to show, then the policy: qfw show QUBE [DIR | FILE...]")
			}
			if args[0] == "" {
				return errors.New("QUBE is empty: name the qube to show")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runShow(cmd, args, f)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print the lines as JSON")
	return cmd
}

func runShow(cmd *cobra.Command, args []string, f *showFlags) error {
	name := args[0]
	res, err := build(cmd, args[1:], &f.policyFlags, false)
	if err != nil {
		return err
	}
	prog := res.Program
	var q *ir.Qube
	for i := range prog.Qubes {
		if prog.Qubes[i].Name == name {
			q = &prog.Qubes[i]
		}
	}
	if q == nil {
		return fmt.Errorf("%s: no such qube in the policy", name)
	}
	at, u, lines := review.Reaches(prog, q, f.now.t.Unix())
	w := cmd.OutOrStdout()
	if f.json {
		return printShowJSON(w, q.Name, at, u, lines)
	}
	if at.Firewall == "" {
		fmt.Fprintf(w, "%s has no netvm: it reaches nothing\n", q.Name)
		return nil
	}
	fmt.Fprintf(w, "%s, behind %s:\n", q.Name, at)
	if len(lines) == 0 {
		fmt.Fprintf(w, "  nothing: its firewall qube accepts none of its packets\n")
	}
	for i := range lines {
		l := &lines[i]
		fmt.Fprintf(w, "  %s\n      %s\n", l, acceptText(l.Head, at))
	}
	if names := u.Names(); len(names) > 0 {
		fmt.Fprintf(w, "note: the resolve section pins no addresses for %s: shown as a name, not as the addresses it resolves to\n", jsonfile.OrList(names))
	}
	return nil
}

// acceptText says what accepts the packets of a line of show.
func acceptText(r reach.Reason, at *review.Place) string {
	switch {
	case r.Kind == reach.ByRule:
		return "by " + describeRule(r.Rule)
	case r.Kind == reach.Self:
		return fmt.Sprintf("by %s itself, which passes DNS to its own address on to its netvm", at.Firewall)
	}
	return "by no rule"
}

func printShowJSON(w io.Writer, name string, at *review.Place, u *reach.Universe, lines []reach.Line) error {
	type lineJSON struct {
		review.LineJSON
		Rule     string `json:"rule,omitempty"`
		Position string `json:"position,omitempty"`
		Why      string `json:"why"`
	}
	doc := struct {
		FormatVersion string            `json:"format_version"`
		Qube          string            `json:"qube"`
		Firewall      *review.PlaceJSON `json:"firewall"`
		Reaches       []lineJSON        `json:"reaches"`
		Unpinned      []string          `json:"unpinned_names,omitempty"`
	}{FormatVersion: "1.0", Qube: name, Reaches: []lineJSON{}, Unpinned: u.Names()}
	if at.Firewall != "" {
		doc.Firewall = &review.PlaceJSON{Firewall: at.Firewall, Backend: at.Backend.String()}
	}
	for i := range lines {
		l := &lines[i]
		lj := lineJSON{LineJSON: review.LineOf(l), Why: acceptText(l.Head, at)}
		if r := l.Head.Rule; r != nil && r.Origin.Name != "" {
			lj.Rule, lj.Position = r.Origin.String(), deploy.RelPos(r.Origin.Pos)
		}
		doc.Reaches = append(doc.Reaches, lj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
