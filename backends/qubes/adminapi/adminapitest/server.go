// Package adminapitest is an in-process qubesd for tests: it listens on a
// Unix socket, reads requests and writes answers in qubesd's exact
// framing, validates firewall rules with dom0's grammar and keeps each qube's list, as dom0
// does for the calls qfw makes. Calls from a management qube come through
// a stand-in for qrexec-client-vm, and are let through or refused by a
// qrexec policy file as dom0 does (see QrexecClient).
package adminapitest

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/backends/qubes/qrexecpolicy"
)

// Qube is what the server knows of one qube.
type Qube struct {
	Class                 string // AppVM unless set
	Netvm, IP, IP6, Label string
	ProvidesNetwork       bool
	Tags                  []string
	Firewall              []string
	// Properties holds the other properties, as text; a qube has those of
	// defaultProperties unless set here.
	Properties map[string]string
	// Features holds the qube's features.
	Features map[string]string
}

// labels are the labels dom0 has by default.
var labels = map[string]bool{"red": true, "orange": true, "yellow": true, "green": true, "gray": true, "blue": true, "purple": true, "black": true}

// defaultProperties are the values of the properties a qube has that Qube
// has no field for, as dom0 gives a new qube.
var defaultProperties = map[string]string{
	"kernel": "6.12.11-1.fc41", "kernelopts": "swiotlb=2048", "virt_mode": "pvh",
	"memory": "400", "maxmem": "4000", "vcpus": "2", "audiovm": "dom0",
}

// Server is a fake qubesd.
type Server struct {
	// Path is the socket to connect to.
	Path string

	mu    sync.Mutex
	qubes map[string]*Qube
	// Requests records every request, in order, as received.
	requests []adminapi.Request
	// setsLeft counts the Set calls answered before the server stops
	// answering anything; negative for no limit.
	setsLeft int
	// failIn counts the requests left before the one refused; 0 for none.
	failIn int
	// kernelsDir, if set, is dom0's vm-kernels directory: setting a
	// qube's kernel property to a directory not in it is refused.
	kernelsDir string
	// created counts the qubes created through admin.vm.Create.
	created int
	// qrexecPath is the socket the stand-in for qrexec-client-vm
	// connects to; policy decides the calls that come through it, nil
	// refusing them all, as dom0 refuses Admin API calls by default.
	qrexecPath string
	policy     *qrexecpolicy.Policy
	// refused records the calls the policy refused, in order, and
	// evaluations every decision it made.
	refused     []qrexecpolicy.Call
	evaluations []Evaluation
}

// CheckKernels makes the server refuse to set a qube's kernel to a
// directory that dir, standing for dom0's /var/lib/qubes/vm-kernels, does
// not hold, as qubesd does.
func (s *Server) CheckKernels(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kernelsDir = dir
}

// Qube returns what the server holds of qube, and whether it exists.
func (s *Server) Qube(name string) (Qube, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.qubes[name]
	if !ok {
		return Qube{}, false
	}
	out := *q
	out.Properties, out.Features = maps.Clone(q.Properties), maps.Clone(q.Features)
	out.Firewall, out.Tags = slices.Clone(q.Firewall), slices.Clone(q.Tags)
	return out, true
}

// DieAfterSets makes the server answer nothing, to every call, once it has
// handled n more admin.vm.firewall.Set calls: qubesd gone in the middle of
// an apply.
func (s *Server) DieAfterSets(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setsLeft = n
}

// FailCall makes the server refuse the nth request from now (n from 1)
// with qubesd's PermissionDenied, changing nothing, as dom0's qrexec
// policy may refuse any call; the others are answered as usual.
func (s *Server) FailCall(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failIn = n
}

// New starts a server with the given qubes, and dom0; it stops when the
// test ends.
func New(t testing.TB, qubes map[string]Qube) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{Path: filepath.Join(dir, "qubesd.sock"), qrexecPath: filepath.Join(dir, "qrexec.sock"), qubes: map[string]*Qube{"dom0": {Class: "AdminVM"}}, setsLeft: -1}
	for name, q := range qubes {
		q.Firewall = slices.Clone(q.Firewall)
		q.Tags = slices.Clone(q.Tags)
		q.Properties, q.Features = maps.Clone(q.Properties), maps.Clone(q.Features)
		if q.Class == "" {
			q.Class = "AppVM"
		}
		s.qubes[name] = &q
	}
	s.listen(t, s.Path, s.serve)
	s.listen(t, s.qrexecPath, s.serveQrexec)
	return s
}

// listen serves the connections to a socket at path with serve until the
// test ends.
func (s *Server) listen(t testing.TB, path string, serve func(net.Conn)) {
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
}

// Qubes returns what the server holds of every qube but dom0, to start
// another server from.
func (s *Server) Qubes() map[string]Qube {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Qube, len(s.qubes))
	for name, q := range s.qubes {
		if name == "dom0" {
			continue
		}
		c := *q
		c.Properties, c.Features = maps.Clone(q.Properties), maps.Clone(q.Features)
		c.Firewall, c.Tags = slices.Clone(q.Firewall), slices.Clone(q.Tags)
		out[name] = c
	}
	return out
}

// Update changes what the server holds of the qube name, as a change made
// in dom0 behind qfw's back would.
func (s *Server) Update(name string, change func(*Qube)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(s.qubes[name])
}

// Firewall returns qube's list as the server holds it.
func (s *Server) Firewall(qube string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.qubes[qube].Firewall)
}

// Requests returns the requests received so far.
func (s *Server) Requests() []adminapi.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	// qubesd reads to end of input, at most MaxRequest bytes, and aborts a
	// longer request without an answer.
	b, err := io.ReadAll(io.LimitReader(c, adminapi.MaxRequest+1))
	if err != nil {
		return
	}
	c.Write(s.respond(b))
}

// respond answers one request as qubesd reads it; nil is no answer at all.
func (s *Server) respond(b []byte) []byte {
	if len(b) > adminapi.MaxRequest {
		return nil
	}
	r, err := adminapi.ParseRequest(b)
	if err != nil {
		return nil // a framing error: no answer
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setsLeft == 0 {
		return nil
	}
	s.requests = append(s.requests, *r)
	var answer []byte
	if s.failIn == 1 {
		answer = adminapi.Raise("PermissionDenied", "")
	} else {
		answer = s.handle(r)
	}
	s.failIn = max(s.failIn-1, 0)
	if r.Method == "admin.vm.firewall.Set" && s.setsLeft > 0 {
		s.setsLeft--
	}
	return answer
}

// handle answers r; nil means no answer at all, as qubesd gives for an
// unhandled exception.
func (s *Server) handle(r *adminapi.Request) []byte {
	q := s.qubes[r.Dest]
	if q == nil {
		return adminapi.Raise("QubesVMNotFoundError", "No such domain: '"+r.Dest+"'")
	}
	if class, ok := strings.CutPrefix(r.Method, "admin.vm.Create."); ok {
		return s.create(r, class)
	}
	switch r.Method {
	case "admin.vm.List":
		var b bytes.Buffer
		names := []string{r.Dest}
		if r.Dest == "dom0" {
			names = slices.Sorted(maps.Keys(s.qubes))
		}
		if r.Source != "dom0" {
			// qubesd lists to a qube only the qubes the policy allows
			// it to list, each as the target of admin.vm.List; ask does
			// not count.
			names = slices.DeleteFunc(names, func(n string) bool {
				return !s.evaluate(qrexecpolicy.Call{Service: r.Method, Arg: r.Arg, Source: r.Source, Target: n})
			})
		}
		for _, n := range names {
			state := "Halted"
			if s.qubes[n].Class == "AdminVM" {
				state = "Running"
			}
			fmt.Fprintf(&b, "%s class=%s state=%s uuid=00000000-0000-0000-0000-%012x\n", n, s.qubes[n].Class, state, len(n))
		}
		return adminapi.OK(b.Bytes())
	case "admin.vm.property.Get":
		return s.property(q, r.Arg)
	case "admin.vm.tag.List":
		var b bytes.Buffer
		for _, tag := range slices.Sorted(slices.Values(q.Tags)) {
			b.WriteString(tag + "\n")
		}
		return adminapi.OK(b.Bytes())
	case "admin.vm.tag.Get", "admin.vm.tag.Set", "admin.vm.tag.Remove":
		return s.tag(q, r)
	case "admin.vm.firewall.Get":
		var b bytes.Buffer
		for _, line := range q.Firewall {
			b.WriteString(line + "\n")
		}
		return adminapi.OK(b.Bytes())
	case "admin.vm.firewall.Set":
		if len(r.Payload) == 0 {
			return adminapi.Raise("ProtocolError", "expected payload")
		}
		var list []string
		// dom0's own grammar, wider than what qfw writes: the server
		// takes what dom0 takes, so that only qfw's checks keep a line
		// out.
		for _, line := range strings.Split(strings.TrimSuffix(string(r.Payload), "\n"), "\n") {
			parsed, err := qubes.ParseDom0Rule(line)
			if err != nil {
				// dom0 raises a plain ValueError, which qubesd does not
				// answer at all.
				return nil
			}
			list = append(list, parsed.String())
		}
		q.Firewall = list
		return adminapi.OK(nil)
	case "admin.vm.firewall.Reload":
		return adminapi.OK(nil)
	case "admin.vm.property.Set":
		return s.setProperty(q, r.Arg, string(r.Payload))
	case "admin.vm.feature.Get":
		v, ok := q.Features[r.Arg]
		if !ok {
			return adminapi.Raise("QubesFeatureNotFoundError", "Feature not set: "+r.Arg)
		}
		return adminapi.OK([]byte(v))
	case "admin.vm.feature.Set":
		if q.Features == nil {
			q.Features = map[string]string{}
		}
		q.Features[r.Arg] = string(r.Payload)
		return adminapi.OK(nil)
	}
	return adminapi.Raise("ProtocolError", "no such method: "+r.Method)
}

// tag answers the tag calls as qubesd does: they take no payload, and a
// tag with characters other than ASCII letters, digits, "-" and "_" is a
// ValueError, which qubesd does not answer at all.
func (s *Server) tag(q *Qube, r *adminapi.Request) []byte {
	if len(r.Payload) > 0 {
		return adminapi.Raise("ProtocolError", "unexpected payload")
	}
	// The characters are ValidTag's; the empty tag, which it refuses,
	// passes this check.
	if r.Arg != "" && !adminapi.ValidTag(r.Arg) {
		return nil
	}
	i := slices.Index(q.Tags, r.Arg)
	switch r.Method {
	case "admin.vm.tag.Get":
		if i >= 0 {
			return adminapi.OK([]byte("1"))
		}
		return adminapi.OK([]byte("0"))
	case "admin.vm.tag.Set":
		if strings.HasPrefix(r.Arg, "created-by-") {
			return adminapi.Raise("PermissionDenied", "")
		}
		if i < 0 {
			q.Tags = append(q.Tags, r.Arg)
		}
		return adminapi.OK(nil)
	}
	if i < 0 {
		return adminapi.Raise("QubesTagNotFoundError", "Tag not set for domain "+r.Dest+": "+r.Arg)
	}
	q.Tags = slices.Delete(q.Tags, i, i+1)
	return adminapi.OK(nil)
}

// property answers admin.vm.property.Get as qubesd serialises it.
func (s *Server) property(q *Qube, name string) []byte {
	if q.Class == "AdminVM" && name != "label" {
		return adminapi.Raise("QubesNoSuchPropertyError", "Invalid property '"+name+"' of dom0")
	}
	var typ, value string
	switch name {
	case "netvm":
		typ, value = "vm", q.Netvm
	case "ip", "ip6":
		typ, value = "str", q.IP
		if name == "ip6" {
			value = q.IP6
		}
	case "label":
		typ, value = "label", q.Label
	case "provides_network":
		typ, value = "bool", "False"
		if q.ProvidesNetwork {
			value = "True"
		}
	default:
		v, ok := q.Properties[name]
		if !ok {
			if v, ok = defaultProperties[name]; !ok {
				return adminapi.Raise("QubesNoSuchPropertyError", "Invalid property '"+name+"' of vm")
			}
		}
		typ, value = "str", v
	}
	return adminapi.OK([]byte("default=False type=" + typ + " " + value))
}

// setProperty answers admin.vm.property.Set, checking what qubesd checks
// of the values qfw sets.
func (s *Server) setProperty(q *Qube, name, value string) []byte {
	switch name {
	case "netvm":
		if value != "" {
			if n, ok := s.qubes[value]; !ok {
				return adminapi.Raise("QubesPropertyValueError", "Can't set netvm to non-existing qube "+value)
			} else if !n.ProvidesNetwork {
				return adminapi.Raise("QubesValueError", "The "+value+" qube does not provide network")
			}
		}
		q.Netvm = value
	case "label":
		if !labels[value] {
			return adminapi.Raise("QubesLabelNotFoundError", "Label does not exist: "+value)
		}
		q.Label = value
	case "provides_network":
		if value != "True" && value != "False" {
			return adminapi.Raise("QubesPropertyValueError", "Invalid value for provides_network: "+value)
		}
		q.ProvidesNetwork = value == "True"
	case "ip", "ip6":
		return adminapi.Raise("QubesPropertyValueError", "property "+name+" is read-only")
	default:
		if _, ok := defaultProperties[name]; !ok {
			return adminapi.Raise("QubesNoSuchPropertyError", "Invalid property '"+name+"' of vm")
		}
		if name == "kernel" && s.kernelsDir != "" && value != "" {
			// An empty kernel is none, which qubesd takes.
			if _, err := os.Stat(filepath.Join(s.kernelsDir, value, "vmlinuz")); err != nil {
				return adminapi.Raise("QubesPropertyValueError", "Kernel '"+value+"' not installed")
			}
		}
		if q.Properties == nil {
			q.Properties = map[string]string{}
		}
		q.Properties[name] = value
	}
	return adminapi.OK(nil)
}

// create answers admin.vm.Create.CLASS: a qube with no template, whose
// name and label the payload gives as "name=NAME label=LABEL".
func (s *Server) create(r *adminapi.Request, class string) []byte {
	switch {
	case r.Dest != "dom0":
		return adminapi.Raise("PermissionDenied", "")
	case r.Arg != "":
		// qfw creates only classes without a template.
		return adminapi.Raise("QubesValueError", class+" cannot be based on template")
	}
	args := map[string]string{}
	for _, kv := range strings.Split(string(r.Payload), " ") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || args[k] != "" || k != "name" && k != "label" {
			return adminapi.Raise("ProtocolError", "Invalid param name")
		}
		args[k] = v
	}
	if args["name"] == "" || args["label"] == "" {
		return adminapi.Raise("ProtocolError", "Missing name or label")
	}
	if !labels[args["label"]] {
		return adminapi.Raise("QubesValueError", "")
	}
	if _, ok := s.qubes[args["name"]]; ok {
		return adminapi.Raise("QubesValueError", "VM "+args["name"]+" already exists")
	}
	// dom0 gives each qube an address of its own in 10.137.0.0/24; the
	// server counts from the top, away from the tests' addresses.
	s.created++
	// qubesd tags each qube with its creator, which the qube cannot undo.
	s.qubes[args["name"]] = &Qube{Class: class, Label: args["label"], IP: fmt.Sprintf("10.137.0.%d", 255-s.created), Tags: []string{"created-by-" + r.Source}}
	return adminapi.OK(nil)
}
