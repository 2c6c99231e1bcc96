package adminapitest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/backends/qubes/qrexecpolicy"
)

// QrexecClientCommand is the name under which a test binary runs
// QrexecClientMain, the stand-in for qrexec-client-vm: its TestMain
// registers it so with testscript.Main, which puts it in $PATH.
const QrexecClientCommand = "fake-qrexec-client-vm"

// The environment of the stand-in: the server's qrexec socket, and the
// qube it calls from.
const (
	envSocket = "QFW_FAKE_QREXEC_SOCKET"
	envSource = "QFW_FAKE_QREXEC_SOURCE"
)

// SetPolicy makes the server decide each call that comes through qrexec
// by p, as dom0 decides it by its policy files; nil refuses them all.
func (s *Server) SetPolicy(p *qrexecpolicy.Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policy = p
}

// Evaluation is one decision of the policy: on a call that came through
// qrexec, or on a qube admin.vm.List lists to a qube.
type Evaluation struct {
	Call qrexecpolicy.Call
	// Line is the line of the rule that decided; 0 if none matched.
	Line    int
	Allowed bool
}

// Evaluations returns the policy's decisions so far, in order.
func (s *Server) Evaluations() []Evaluation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.evaluations)
}

// Refused returns the calls the policy refused so far, in order.
func (s *Server) Refused() []qrexecpolicy.Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refused)
}

// evaluate decides c by the policy, and records the decision. The caller
// holds s.mu.
func (s *Server) evaluate(c qrexecpolicy.Call) bool {
	d := s.policy.Evaluate(c, s.system())
	e := Evaluation{Call: c, Allowed: d.Allowed}
	if d.Rule != nil {
		e.Line = d.Rule.Line
	}
	s.evaluations = append(s.evaluations, e)
	return d.Allowed
}

// QrexecClient returns a program that takes qrexec-client-vm's place in
// the qube source: a script that runs the test binary's
// QrexecClientCommand with the server's address. Give it to qfw as
// --qrexec-client.
func (s *Server) QrexecClient(t testing.TB, source string) string {
	t.Helper()
	bin, err := exec.LookPath(QrexecClientCommand)
	if err != nil {
		t.Fatalf("register adminapitest.QrexecClientMain as %q with testscript.Main in TestMain: %v", QrexecClientCommand, err)
	}
	path := filepath.Join(t.TempDir(), "qrexec-client-vm")
	script := fmt.Sprintf("#!/bin/sh\n%s=%s %s=%s exec %s \"$@\"\n", envSocket, shellQuote(s.qrexecPath), envSource, shellQuote(source), shellQuote(bin))
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// QrexecClientMain is qrexec-client-vm TARGET SERVICE[+ARGUMENT] in a
// qube, as far as qfw uses it: the call goes to dom0, whose policy lets it
// through or not; if it does, the payload goes from the standard input to
// qubesd and qubesd's answer, whatever it is, to the standard output, and
// the exit code is 0. A refused call prints "Request refused" and exits
// 126, as qrexec-client-vm does.
func QrexecClientMain() int {
	if len(os.Args) != 3 {
		fmt.Fprintf(os.Stderr, "usage: %s target_vmname program_ident\n", os.Args[0])
		return 2
	}
	payload, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	c, err := net.Dial("unix", os.Getenv(envSocket))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	defer c.Close()
	req := append([]byte(os.Getenv(envSource)+"\x00"+os.Args[1]+"\x00"+os.Args[2]+"\x00"), payload...)
	if _, err := c.Write(req); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	c.(*net.UnixConn).CloseWrite()
	answer, err := io.ReadAll(c)
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 125
	case len(answer) == 0:
		// dom0 closes the connection without a word.
		fmt.Fprintln(os.Stderr, "Request refused")
		return 126
	}
	// The first byte says the call went through; qubesd's answer, maybe
	// empty, follows.
	os.Stdout.Write(answer[1:])
	return 0
}

// serveQrexec does what dom0 does with a call from a qube: it evaluates
// the policy and, if it allows the call, hands qubesd the request qrexec
// writes for it, with the calling qube as the source and the target as
// the caller named it: "keyword adminvm" for dom0.
func (s *Server) serveQrexec(c net.Conn) {
	defer c.Close()
	b, err := io.ReadAll(io.LimitReader(c, 2*adminapi.MaxRequest))
	if err != nil {
		return
	}
	f := bytes.SplitN(b, []byte{0}, 4)
	if len(f) != 4 {
		return
	}
	source, target, rpc, payload := string(f[0]), string(f[1]), string(f[2]), f[3]
	service, arg, _ := strings.Cut(rpc, "+")
	call := qrexecpolicy.Call{Service: service, Arg: arg, Source: source, Target: target}
	s.mu.Lock()
	allowed := s.evaluate(call)
	if !allowed {
		s.refused = append(s.refused, call)
	}
	s.mu.Unlock()
	if !allowed {
		return
	}
	dest := "name " + target
	if target == "dom0" || target == qrexecpolicy.AdminVM {
		dest = "keyword adminvm"
	}
	answer := s.respond(append([]byte(service+"+"+arg+" "+source+" "+dest+"\x00"), payload...))
	c.Write(append([]byte{'1'}, answer...))
}

// system returns what policy evaluation knows of the qubes now. The
// caller holds s.mu.
func (s *Server) system() map[string]qrexecpolicy.Qube {
	out := make(map[string]qrexecpolicy.Qube, len(s.qubes))
	for name, q := range s.qubes {
		out[name] = qrexecpolicy.Qube{Class: q.Class, Tags: slices.Clone(q.Tags)}
	}
	return out
}
