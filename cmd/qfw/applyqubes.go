package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/compiler/ir"
)

// applyQubes puts each managed qube's rule list in force through the Admin
// API: it makes the plan (or reads the saved one), shows it, asks for
// "yes", and sets each changed qube's list with one admin.vm.firewall.Set,
// which dom0 applies whole or not at all. Just before each Set it reads the
// qube's list again and refuses to replace one that changed since the plan
// was made. A failure on one qube does not stop the others; all are
// reported together, and a qube whose Set failed keeps its previous list.
func applyQubes(cmd *cobra.Command, args []string, f *applyFlags) error {
	var p *plan
	if f.plan != "" {
		if len(args) > 0 {
			return fmt.Errorf("--plan %s: give the plan or the policy, not both", f.plan)
		}
		var err error
		if p, err = readPlan(f.plan); err != nil {
			return err
		}
	} else {
		res, err := build(cmd, args, &f.policyFlags, true)
		if err != nil {
			return err
		}
		var managed []ir.Qube
		for _, q := range res.Program.Qubes {
			if f.qube == "" || q.Name == f.qube {
				managed = append(managed, q)
			}
		}
		if f.qube != "" && managed == nil {
			return fmt.Errorf("--qube %s: no such qube in the policy", f.qube)
		}
		current, err := currentLists(cmd.Context(), &planFlags{admin: f.admin}, managed)
		if err != nil {
			return err
		}
		p = makePlan(managed, current)
	}
	stdout := cmd.OutOrStdout()
	if err := printPlan(stdout, p); err != nil {
		return err
	}
	if p.Summary.Change == 0 {
		return nil
	}
	if !f.autoApprove {
		fmt.Fprint(stdout, "\nApply these changes? Only 'yes' is accepted: ")
		answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			return errors.New("apply cancelled; nothing changed")
		}
	}
	unlock, err := lockApply(f.lock)
	if err != nil {
		return err
	}
	defer unlock()

	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
	defer cancel()
	client := f.admin.client()
	var errs *multierror.Error
	type outcome struct{ qube, result string }
	var results []outcome
	for _, q := range p.Qubes {
		if !q.Changed {
			continue
		}
		fmt.Fprintf(stdout, "%s: applying...\n", q.Name)
		result, err := applyQube(ctx, client, q)
		if err != nil {
			errs = multierror.Append(errs, fmt.Errorf("%s: %w", q.Name, err))
		}
		results = append(results, outcome{q.Name, result})
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUBE\tRESULT")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\n", r.qube, r.result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return errs.ErrorOrNil()
}

// applyQube sets one qube's new list if dom0 still holds the list the plan
// was made against, and returns what happened in a few words.
func applyQube(ctx context.Context, client *adminapi.Client, q qubePlan) (string, error) {
	cur, err := client.FirewallGet(ctx, q.Name)
	if err != nil {
		return "failed, unchanged", fmt.Errorf("read its rules before the change: %w", err)
	}
	if qubes.ListHash(cur) != q.BaseHash {
		return "stale plan, unchanged", errors.New("its rules changed since the plan was made; plan again")
	}
	if err := client.FirewallSet(ctx, q.Name, q.Rules); err != nil {
		return "failed, unchanged", err
	}
	return fmt.Sprintf("applied (%s)", editCounts(q)), nil
}

func editCounts(q qubePlan) string {
	add, remove := 0, 0
	for _, e := range q.Edits {
		switch e.Op {
		case qubes.AddRule.Symbol():
			add++
		case qubes.RemoveRule.Symbol():
			remove++
		}
	}
	return fmt.Sprintf("+%d -%d", add, remove)
}

// readPlan reads a plan that plan --out saved.
func readPlan(path string) (*plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--plan: %w", err)
	}
	var p plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("--plan %s: %w", path, err)
	}
	if p.FormatVersion != planFormatVersion {
		return nil, fmt.Errorf("--plan %s: format_version %d; this qfw reads %d", path, p.FormatVersion, planFormatVersion)
	}
	for _, q := range p.Qubes {
		if q.Changed && len(q.Rules) == 0 {
			return nil, fmt.Errorf("--plan %s: qube %s has no rules; dom0 refuses an empty list", path, q.Name)
		}
	}
	return &p, nil
}

// lockApply takes the lock that keeps two applies apart, without waiting:
// two at once could each set a list made against what the other replaced.
func lockApply(path string) (unlock func(), err error) {
	if path == "" {
		dir := os.Getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			dir = os.TempDir()
		}
		path = filepath.Join(dir, "qfw-apply.lock")
	}
	fd, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fd.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another qfw apply holds the lock %s", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { fd.Close() }, nil
}
