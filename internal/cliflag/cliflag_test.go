package cliflag

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// color is an Enum's value in the tests.
type color uint8

func (c color) String() string { return [...]string{"red", "green", "blue"}[c] }

// clock is a flag value holding a time, as Checks bounds it.
type clock struct{ t time.Time }

func (c *clock) String() string { return "" }
func (c *clock) Set(s string) error {
	t, err := time.Parse(time.RFC3339, s)
	c.t = t
	return err
}
func (c *clock) Type() string    { return "TIME" }
func (c *clock) Time() time.Time { return c.t }

var testChecks = Checks{
	Durations: map[string]DurationRange{"timeout": {time.Second, time.Hour, "from 1s to 1h"}},
	Time:      TimeRange{After: 0, Until: 4102444800, Want: "a time after 1970 and up to 2100"},
	Names: NameCheck{
		Flags: []string{"user", "users"},
		Valid: func(s string) bool { return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz") == "" },
		Kind:  "a user name",
		Rule:  "lower-case letters only",
	},
}

var testRules = []Rule{
	{Flag: "socket", Other: "remote", Why: "--remote does not use the socket"},
	{Flag: "host", Other: "remote", Values: []string{"true"}},
	{Cmds: []string{"paint"}, Flag: "shade", Other: "color", Values: []string{"red", "blue"}},
	{Cmds: []string{"other"}, Flag: "socket", Other: "wait", Why: "never checked on paint"},
}

// newTestCmd returns a program with one command, paint, whose flags
// are checked as a program using cliflag checks them.
func newTestCmd() *cobra.Command {
	root := &cobra.Command{Use: "prog", SilenceErrors: true, SilenceUsage: true}
	paint := &cobra.Command{Use: "paint", RunE: func(*cobra.Command, []string) error { return nil }}
	fs := paint.Flags()
	fs.String("out", "", "write to `FILE`")
	fs.String("dir", "", "work in `DIR`")
	fs.String("socket", "/run/x.sock", "the `SOCKET`")
	fs.String("host", "", "the remote `HOST`")
	fs.String("shade", "", "the `SHADE`")
	fs.Bool("remote", false, "work remotely")
	fs.Bool("verbose", false, "say more")
	fs.Duration("timeout", 0, "wait `DURATION` at most")
	fs.Duration("wait", 0, "wait `DURATION` first")
	fs.String("user", "", "as `USER`")
	fs.StringArray("users", nil, "for `USER`s")
	fs.StringArray("tag", nil, "`TAG`s")
	fs.Var(&Enum[color]{Of: []color{0, 1, 2}, Kind: "color"}, "color", "paint in `COLOR`")
	fs.Var(new(Addrs), "dns", "the DNS servers' `ADDRS`")
	fs.Var(new(clock), "at", "at `TIME`")
	root.AddCommand(paint)
	Guard(root)
	root.SetFlagErrorFunc(ErrorFunc)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := testChecks.Check(cmd); err != nil {
			return err
		}
		return CheckRules(cmd, testRules)
	}
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	return root
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string // the error; empty for none
	}{
		{[]string{"--out", file, "--dir", dir, "--users", "ann", "--users", "bob", "--tag", "a", "--tag", "a"}, ""},
		{[]string{"--out", "a", "--out", "b"}, `--out given twice ("a", then "b"); give it once`},
		{[]string{"--verbose", "--verbose"}, "--verbose given twice; give it once"},
		{[]string{"--verbose=false", "--verbose"}, "--verbose given twice; give it once"},
		{[]string{"--out", ""}, "--out is empty; want FILE"},
		{[]string{"--out="}, "--out is empty; want FILE"},
		{[]string{"--tag", "a", "--tag", ""}, "--tag is empty; want TAG"},
		{[]string{"--verbose=maybe"}, "--verbose maybe: want true or false"},
		{[]string{"--timeout", "5"}, "--timeout 5: want a duration such as 90s, 2m or 1h30m"},
		{[]string{"--color", "pink"}, "--color pink: unknown color; want red, green or blue"},
		{[]string{"--dns", "192.0.2.1,fe80::1%eth0"}, `--dns 192.0.2.1,fe80::1%eth0: "fe80::1%eth0" is not an IPv4 or IPv6 address`},
		{[]string{"--dns", "::ffff:192.0.2.1"}, `--dns ::ffff:192.0.2.1: "::ffff:192.0.2.1" is not an IPv4 or IPv6 address`},
		{[]string{"--dns", "192.0.2.1, 192.0.2.1"}, "--dns 192.0.2.1, 192.0.2.1: 192.0.2.1 is listed twice"},
		{[]string{"--timeout", "1s"}, ""},
		{[]string{"--timeout", "1h"}, ""},
		{[]string{"--timeout", "999ms"}, "--timeout 999ms: want a duration from 1s to 1h"},
		{[]string{"--timeout", "1h0m1s"}, "--timeout 1h0m1s: want a duration from 1s to 1h"},
		{[]string{"--wait", "1ns"}, ""},
		{[]string{"--wait", "0s"}, "--wait 0s: want a positive duration"},
		{[]string{"--wait", "-1m"}, "--wait -1m: want a positive duration"},
		{[]string{"--at", "1970-01-01T00:00:01Z"}, ""},
		{[]string{"--at", "2100-01-01T00:00:00Z"}, ""},
		{[]string{"--at", "1970-01-01T00:00:00Z"}, "--at 1970-01-01T00:00:00Z: want a time after 1970 and up to 2100"},
		{[]string{"--at", "2100-01-01T00:00:01Z"}, "--at 2100-01-01T00:00:01Z: want a time after 1970 and up to 2100"},
		{[]string{"--user", "ann"}, ""},
		{[]string{"--user", "Ann"}, `--user "Ann": not a user name: lower-case letters only`},
		{[]string{"--users", "ann", "--users", "b0b"}, `--users "b0b": not a user name: lower-case letters only`},
		{[]string{"--out", dir}, "--out " + dir + ": is a directory; want a file"},
		{[]string{"--socket", dir}, "--socket " + dir + ": is a directory; want a socket"},
		{[]string{"--dir", file}, "--dir " + file + ": is not a directory"},
		{[]string{"--out", filepath.Join(dir, "new"), "--dir", filepath.Join(dir, "new")}, ""},
		{[]string{"--remote", "--socket", "/s"}, "--socket does not go with --remote: --remote does not use the socket"},
		{[]string{"--remote=false", "--socket", "/s"}, ""},
		{[]string{"--host", "h"}, "--host is for --remote only"},
		{[]string{"--remote=false", "--host", "h"}, "--host is for --remote only"},
		{[]string{"--remote", "--host", "h"}, ""},
		{[]string{"--shade", "dark"}, ""}, // red by default
		{[]string{"--color", "green", "--shade", "dark"}, "--shade is for --color red or blue only, not green"},
		{[]string{"--color", "blue", "--shade", "dark"}, ""},
		{[]string{"--wait", "1s", "--socket", "/s"}, ""},
	}
	for _, tt := range tests {
		cmd := newTestCmd()
		cmd.SetArgs(append([]string{"paint"}, tt.args...))
		got := ""
		if err := cmd.Execute(); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("paint %s: error %q; want %q", strings.Join(tt.args, " "), got, tt.want)
		}
	}
}

// TestGuardKeepsHelp checks that the guarded values leave help as pflag
// writes it: no default shown for a zero value, and the values' names.
func TestGuardKeepsHelp(t *testing.T) {
	paint, _, err := newTestCmd().Find([]string{"paint"})
	if err != nil {
		t.Fatal(err)
	}
	const want = `      --at TIME            at TIME
      --color COLOR        paint in COLOR (default red)
      --dir DIR            work in DIR
      --dns ADDRS          the DNS servers' ADDRS
      --host HOST          the remote HOST
      --out FILE           write to FILE
      --remote             work remotely
      --shade SHADE        the SHADE
      --socket SOCKET      the SOCKET (default "/run/x.sock")
      --tag TAG            TAGs
      --timeout DURATION   wait DURATION at most
      --user USER          as USER
      --users USER         for USERs
      --verbose            say more
      --wait DURATION      wait DURATION first
`
	if got := paint.Flags().FlagUsages(); got != want {
		t.Errorf("help:\n%s\nwant:\n%s", got, want)
	}
}

// TestGivenAndInner checks that the values a program registered, and
// what the command line gave them, are read through the wrappers.
func TestGivenAndInner(t *testing.T) {
	root := newTestCmd()
	root.SetArgs([]string{"paint", "--color", "blue", "--dns", "192.0.2.1, 2001:db8::1", "--verbose", "--tag", "a"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	paint, _, _ := root.Find([]string{"paint"})
	tests := []struct{ flag, given, inner, typ string }{
		{"color", "blue", "blue", "COLOR"},
		{"dns", "192.0.2.1, 2001:db8::1", "192.0.2.1,2001:db8::1", "ADDRS"},
		{"verbose", "true", "true", "bool"},
		{"tag", "[a]", "[a]", "stringArray"},
		{"out", "", "", "string"},
	}
	for _, tt := range tests {
		f := paint.Flags().Lookup(tt.flag)
		v := Inner(f.Value)
		if got := given(f); got != tt.given || v.String() != tt.inner || v.Type() != tt.typ {
			t.Errorf("--%s: given %q, value %q of type %s; want %q, %q, %s", tt.flag, got, v.String(), v.Type(), tt.given, tt.inner, tt.typ)
		}
	}
	if c := Inner(paint.Flags().Lookup("color").Value).(*Enum[color]); c.Value != 2 {
		t.Errorf("--color blue holds %d; want 2", c.Value)
	}
	if a := *Inner(paint.Flags().Lookup("dns").Value).(*Addrs); len(a) != 2 || a[1].String() != "2001:db8::1" {
		t.Errorf("--dns holds %v", a)
	}
}

// TestPathError words the errors of flags that name paths.
func TestPathError(t *testing.T) {
	_, statErr := os.Stat("/nonexistent/qfw")
	tests := []struct {
		err  error
		want string
	}{
		{statErr, "--out /x: no such file or directory"},
		{fmt.Errorf("open the namespace: %w", statErr), "--out /x: no such file or directory"},
		{errors.New("not a socket"), "--out /x: not a socket"},
	}
	for _, tt := range tests {
		if got := PathError("out", "/x", tt.err).Error(); got != tt.want {
			t.Errorf("PathError(%v): %q; want %q", tt.err, got, tt.want)
		}
	}
}
