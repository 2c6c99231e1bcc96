package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/qfw-dev/qfw/internal/cliflag"
)

// sampleValue returns a value that flag name of cmd takes, read from a
// fresh command tree so that cmd's own flags stay unset.
func sampleValue(t *testing.T, cmd *cobra.Command, name string) string {
	t.Helper()
	for _, v := range []string{"true", "qubes", "text", "html", "1s", "1700000000", "192.0.2.1", "8", "live", "x"} {
		fresh, _, err := newRootCmd(io.Discard, io.Discard).Find(cmdPath(cmd))
		if err != nil {
			t.Fatal(err)
		}
		if cliflag.Inner(fresh.Flags().Lookup(name).Value).Set(v) == nil {
			return v
		}
	}
	t.Fatalf("%s --%s: no sample value it takes", cmd.Name(), name)
	return ""
}

// eachFlag calls fn for every flag of every command and subcommand but
// help.
func eachFlag(t *testing.T, fn func(t *testing.T, cmd *cobra.Command, f *pflag.Flag)) {
	var walk func(parent *cobra.Command)
	walk = func(parent *cobra.Command) {
		for _, cmd := range parent.Commands() {
			cmd.Flags().VisitAll(func(f *pflag.Flag) {
				t.Run(strings.Join(cmdPath(cmd), "/")+"/"+f.Name, func(t *testing.T) { fn(t, cmd, f) })
			})
			walk(cmd)
		}
	}
	walk(newRootCmd(io.Discard, io.Discard))
}

// cmdPath returns the arguments that name cmd, after qfw.
func cmdPath(cmd *cobra.Command) []string { return strings.Fields(cmd.CommandPath())[1:] }

func runArgs(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runIn(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestFlagGivenTwice checks every single-value flag of every command:
// given twice, it is an error before anything runs, as pflag would keep
// the last value only.
func TestFlagGivenTwice(t *testing.T) {
	eachFlag(t, func(t *testing.T, cmd *cobra.Command, f *pflag.Flag) {
		if _, ok := f.Value.(pflag.SliceValue); ok {
			return // repeatable
		}
		v := sampleValue(t, cmd, f.Name)
		want := fmt.Sprintf("qfw: --%s given twice (%q, then %q); give it once\n", f.Name, v, v)
		args := append(cmdPath(cmd), "--"+f.Name+"="+v, "--"+f.Name+"="+v)
		if f.NoOptDefVal == "true" {
			want = fmt.Sprintf("qfw: --%s given twice; give it once\n", f.Name)
			args = append(cmdPath(cmd), "--"+f.Name, "--"+f.Name)
		}
		code, stdout, stderr := runArgs(args...)
		if code != exitError || stdout != "" || stderr != want {
			t.Errorf("qfw %s: exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr %q", strings.Join(args, " "), code, stdout, stderr, want)
		}
	})
}

// TestFlagEmpty checks every flag that takes a value: no flag of qfw's
// means anything by an empty one.
func TestFlagEmpty(t *testing.T) {
	eachFlag(t, func(t *testing.T, cmd *cobra.Command, f *pflag.Flag) {
		if f.NoOptDefVal == "true" {
			return
		}
		want := fmt.Sprintf("qfw: --%s is empty; want %s\n", f.Name, cliflag.VarName(f))
		code, stdout, stderr := runArgs(append(cmdPath(cmd), "--"+f.Name, "")...)
		if code != exitError || stdout != "" || stderr != want {
			t.Errorf("qfw %s --%s '': exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr %q", cmd.CommandPath(), f.Name, code, stdout, stderr, want)
		}
	})
}

// TestFlagHelpUnchanged checks that the wrapping of flag values leaves
// help as pflag writes it: no default shown for a zero value.
func TestFlagHelpUnchanged(t *testing.T) {
	eachFlag(t, func(t *testing.T, cmd *cobra.Command, f *pflag.Flag) {
		if f.NoOptDefVal == "true" && f.DefValue != "false" {
			t.Errorf("boolean --%s defaults to %q", f.Name, f.DefValue)
		}
		if u := cmd.Flags().FlagUsages(); strings.Contains(u, "(default 0") || strings.Contains(u, "(default [])") {
			t.Errorf("help of %s shows a zero default:\n%s", cmd.Name(), cmd.Flags().FlagUsages())
		}
	})
}

func TestFlagChecks(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/file"
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"compile", "--target", "nftables", "--qube", "work"}, "--qube is for --target qubes only, not nftables"},
		{[]string{"compile", "--firewall", "sys-firewall"}, "--firewall is for --target qubesdb, nftables or mirage only, not qubes"},
		{[]string{"compile", "--target", "qubesdb", "--dns", "192.0.2.53"}, "--dns is for --target nftables only, not qubesdb"},
		{[]string{"test", "--json", "--format", "github"}, "--format does not go with --json: --json prints every test as JSON, in no other format"},
		{[]string{"test", "--json", "--format=text"}, "--format does not go with --json: --json prints every test as JSON, in no other format"},
		{[]string{"inventory", "--qrexec-client", "/bin/true"}, "--qrexec-client is for --qrexec only"},
		{[]string{"inventory", "--qrexec=false", "--qrexec-client", "/bin/true"}, "--qrexec-client is for --qrexec only"},
		{[]string{"inventory", "--qrexec", "--socket", "/run/qubesd.sock"}, "--socket does not go with --qrexec: --qrexec reaches the Admin API through qrexec-client-vm, not qubesd's socket"},
		{[]string{"plan", "--state", dir, "--socket", "/run/qubesd.sock"}, "--socket does not go with --state: --state reads the lists from files, not through the Admin API"},
		{[]string{"plan", "--state", dir, "--kernels-dir", dir}, "--kernels-dir does not go with --state: a plan from --state leaves out the unikernel firewall qubes, whose kernels it would check"},
		{[]string{"import", "--state", dir, "--socket", "/run/qubesd.sock", "-o", dir}, "--socket does not go with --state: --state reads the lists from files, not through the Admin API"},
		{[]string{"apply", "--plan", file, "--inventory", file}, "--inventory does not go with --plan: a saved plan is applied as it was made, without reading the policy"},
		{[]string{"apply", "--confirm-timeout", "-1s"}, "--confirm-timeout -1s: want a duration above 0s and at most 24h"},
		{[]string{"apply", "--confirm-timeout", "0s"}, "--confirm-timeout 0s: want a duration above 0s and at most 24h"},
		{[]string{"apply", "--confirm-timeout", "24h0m1s"}, "--confirm-timeout 24h0m1s: want a duration above 0s and at most 24h"},
		{[]string{"vet", "--now", "0"}, "--now 0: want a time after 1970 and before 9999-12-31T00:00:00Z, as dom0 reads expiry"},
		{[]string{"vet", "--now", "9999-12-31T00:00:01Z"}, "--now 9999-12-31T00:00:01Z: want a time after 1970 and before 9999-12-31T00:00:00Z, as dom0 reads expiry"},
		{[]string{"vet", "--inventory", dir}, "--inventory " + dir + ": is a directory; want a file"},
		{[]string{"compile", "-o", file}, "--out " + file + ": is not a directory"},
		{[]string{"plan", "--data-dir", file}, "--data-dir " + file + ": is not a directory"},
		{[]string{"inventory", "-o", dir}, "--out " + dir + ": is a directory; want a file"},
		{[]string{"inventory", "--socket", dir}, "--socket " + dir + ": is a directory; want a socket"},
		{[]string{"import", "-o", dir, "--qube", "work", "--qube", ""}, "--qube is empty; want NAME"},
		{[]string{"explain", "--from", "work", "--to", "192.0.2.1", "--icmp-type", "8"}, "--icmp-type is for --to DEST/icmp only, not tcp"},
		{[]string{"explain", "--from", "work", "--to", "192.0.2.1/icmp", "--icmp-type", "256"}, "--icmp-type 256: want an ICMP type from 0 to 255"},
		{[]string{"explain", "--from", "work", "--to", "192.0.2.1/icmp", "--icmp-type", "-1"}, "--icmp-type -1: want an ICMP type from 0 to 255"},
		{[]string{"explain", "--from", "work", "--to", "192.0.2.1:0"}, "--to 192.0.2.1:0: port 0: no connection goes to port 0; want a port from 1 to 65535"},
		{[]string{"compile", "--dns", "192.0.2.53,192.0.2.53"}, "--dns 192.0.2.53,192.0.2.53: 192.0.2.53 is listed twice"},
		{[]string{"compile", "--json=maybe"}, "--json maybe: want true or false"},
		{[]string{"apply", "--confirm-timeout", "5"}, "--confirm-timeout 5: want a duration such as 90s, 2m or 1h30m"},
		{[]string{"compile", "--target", "nft"}, "--target nft: unknown target; want qubes, qubesdb, nftables or mirage"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runArgs(tt.args...)
		if want := "qfw: " + tt.want + "\n"; code != exitError || stdout != "" || stderr != want {
			t.Errorf("qfw %s: exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr %q", strings.Join(tt.args, " "), code, stdout, stderr, want)
		}
	}
}

// TestFlagRulesNameRealFlags checks that each rule of flagRules is about
// flags that exist, on the commands it names, and values they take: a
// rule about a renamed flag would check nothing.
func TestFlagRulesNameRealFlags(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard)
	for _, r := range flagRules {
		cmds := r.Cmds
		if cmds == nil {
			for _, c := range root.Commands() {
				if c.Flags().Lookup(r.Flag) != nil && c.Flags().Lookup(r.Other) != nil {
					cmds = append(cmds, c.Name())
				}
			}
			if cmds == nil {
				t.Errorf("rule --%s/--%s: no command has both flags", r.Flag, r.Other)
			}
		}
		for _, name := range cmds {
			c, _, err := root.Find([]string{name})
			if err != nil || c.Name() != name {
				t.Errorf("rule --%s/--%s: no command %q", r.Flag, r.Other, name)
				continue
			}
			other := c.Flags().Lookup(r.Other)
			if c.Flags().Lookup(r.Flag) == nil || other == nil {
				t.Errorf("rule --%s/--%s: %s lacks one of them", r.Flag, r.Other, name)
				continue
			}
			for _, v := range r.Values {
				fresh, _, _ := newRootCmd(io.Discard, io.Discard).Find([]string{name})
				if err := cliflag.Inner(fresh.Flags().Lookup(r.Other).Value).Set(v); err != nil {
					t.Errorf("rule --%s/--%s: %s --%s does not take %q: %v", r.Flag, r.Other, name, r.Other, v, err)
				}
			}
			if (r.Values == nil) == (r.Why == "") {
				t.Errorf("rule --%s/--%s: want values or a reason, not both", r.Flag, r.Other)
			}
		}
	}
}
