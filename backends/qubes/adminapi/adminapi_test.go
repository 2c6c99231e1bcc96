package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/backends/qubes/adminapi/adminapitest"
)

// TestMain lets the test binary stand in for qrexec-client-vm: run with
// QFW_FAKE_QREXEC set to a socket, it forwards a call to it as dom0's
// qrexec daemon forwards one to qubesd, with "mgmt" as the calling qube.
func TestMain(m *testing.M) {
	if sock := os.Getenv("QFW_FAKE_QREXEC"); sock != "" {
		os.Exit(fakeQrexec(sock, os.Args[1], os.Args[2]))
	}
	os.Exit(m.Run())
}

func fakeQrexec(sock, dest, service string) int {
	if !strings.Contains(service, "+") {
		service += "+"
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		return 125
	}
	defer c.Close()
	payload, _ := io.ReadAll(os.Stdin)
	c.Write(append([]byte(service+" mgmt name "+dest+"\x00"), payload...))
	c.(*net.UnixConn).CloseWrite()
	io.Copy(os.Stdout, c)
	return 0 // whatever qubesd answered, as qrexec-client-vm does
}

func TestRequestEncode(t *testing.T) {
	r := adminapi.Request{Method: "admin.vm.property.Get", Arg: "netvm", Source: "dom0", Dest: "work"}
	if got, want := r.Encode(), []byte("admin.vm.property.Get+netvm dom0 name work\x00"); !bytes.Equal(got, want) {
		t.Errorf("Encode = %q; want %q", got, want)
	}
	set := adminapi.Request{Method: "admin.vm.firewall.Set", Source: "dom0", Dest: "work", Payload: []byte("action=drop\n")}
	if got, want := set.Encode(), []byte("admin.vm.firewall.Set+ dom0 name work\x00action=drop\n"); !bytes.Equal(got, want) {
		t.Errorf("Encode = %q; want %q", got, want)
	}
}

func TestParseRequest(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want adminapi.Request
		err  string
	}{
		{"admin.vm.List+ mgmt keyword adminvm\x00", adminapi.Request{Method: "admin.vm.List", Source: "mgmt", Dest: "dom0", Payload: []byte{}}, ""},
		{"admin.vm.firewall.Set+ dom0 name work\x00action=drop\n", adminapi.Request{Method: "admin.vm.firewall.Set", Source: "dom0", Dest: "work", Payload: []byte("action=drop\n")}, ""},
		{"admin.vm.List+ dom0 name dom0", adminapi.Request{}, "framing error: no NUL after the header"},
		{"admin.vm.List dom0 name dom0\x00", adminapi.Request{}, `framing error: no + in "admin.vm.List"`},
		{"admin.vm.List+ dom0 uuid x\x00", adminapi.Request{}, `framing error: destination type "uuid"`},
		{"admin.vm.List+ dom0 keyword default\x00", adminapi.Request{}, `framing error: keyword "default"`},
		{"admin.vm.List+  dom0 name dom0\x00", adminapi.Request{}, `framing error: header "admin.vm.List+  dom0 name dom0" has 5 fields, want 4`},
	} {
		got, err := adminapi.ParseRequest([]byte(tt.in))
		switch {
		case tt.err != "":
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseRequest(%q) error = %v; want %q", tt.in, err, tt.err)
			}
		case err != nil:
			t.Errorf("ParseRequest(%q): %v", tt.in, err)
		case got.Method != tt.want.Method || got.Arg != tt.want.Arg || got.Source != tt.want.Source || got.Dest != tt.want.Dest || !bytes.Equal(got.Payload, tt.want.Payload):
			t.Errorf("ParseRequest(%q) = %+v; want %+v", tt.in, *got, tt.want)
		}
	}
}

func TestParseResponse(t *testing.T) {
	for _, tt := range []struct {
		in, content, err string
	}{
		{"0\x00action=accept\n", "action=accept\n", ""},
		{"0\x00", "", ""},
		{"2\x00QubesVMNotFoundError\x00\x00No such domain: 'x'\x00", "", "QubesVMNotFoundError: No such domain: 'x'"},
		{"2\x00ProtocolError\x00Traceback...\x00expected payload\x00", "", "ProtocolError: expected payload"},
		{"", "", adminapi.ErrEmptyResponse.Error()},
		{"0", "", `malformed answer from qubesd: "0"`},
		{"1\x00event", "", `unexpected answer type '1' from qubesd`},
		{"2\x00QubesException\x00\x00cut short", "", `malformed exception from qubesd: "2\x00QubesException\x00\x00cut short"`},
		{"2\x00\x00\x00no type\x00", "", `malformed exception from qubesd: "2\x00\x00\x00no type\x00"`},
	} {
		got, err := adminapi.ParseResponse([]byte(tt.in))
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseResponse(%q) error = %v; want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || string(got) != tt.content {
			t.Errorf("ParseResponse(%q) = %q, %v; want %q", tt.in, got, err, tt.content)
		}
	}
}

// TestFirewallCalls drives the firewall calls through both transports
// against the in-process qubesd.
func TestFirewallCalls(t *testing.T) {
	for _, transport := range []string{"socket", "qrexec"} {
		t.Run(transport, func(t *testing.T) {
			srv := adminapitest.New(t, map[string]adminapitest.Qube{"work": {Firewall: []string{"action=accept"}}})
			client := &adminapi.Client{Transport: adminapi.Socket{Path: srv.Path}}
			if transport == "qrexec" {
				t.Setenv("QFW_FAKE_QREXEC", srv.Path)
				client = &adminapi.Client{Transport: adminapi.Qrexec{Path: os.Args[0]}}
			}
			ctx := context.Background()

			got, err := client.FirewallGet(ctx, "work")
			if err != nil || !slices.Equal(got, []string{"action=accept"}) {
				t.Fatalf("FirewallGet = %q, %v; want [action=accept]", got, err)
			}
			rules := []string{"action=accept dst4=192.0.2.0/24 proto=tcp dstports=443-443 comment=web", "action=drop"}
			if err := client.FirewallSet(ctx, "work", rules); err != nil {
				t.Fatal(err)
			}
			if got := srv.Firewall("work"); !slices.Equal(got, rules) {
				t.Errorf("after FirewallSet the server holds %q; want %q", got, rules)
			}
			if err := client.FirewallReload(ctx, "work"); err != nil {
				t.Fatal(err)
			}
			if reqs := srv.Requests(); reqs[len(reqs)-1].Method != "admin.vm.firewall.Reload" || reqs[len(reqs)-1].Dest != "work" {
				t.Errorf("FirewallReload sent %+v; want admin.vm.firewall.Reload for work", reqs[len(reqs)-1])
			}

			// A rule dom0 refuses: no answer at all, and nothing changed.
			err = client.FirewallSet(ctx, "work", []string{"action=accept dstports=80"})
			if !errors.Is(err, adminapi.ErrEmptyResponse) {
				t.Errorf("FirewallSet of a refused rule: %v; want ErrEmptyResponse", err)
			}
			if got := srv.Firewall("work"); !slices.Equal(got, rules) {
				t.Errorf("after a refused Set the server holds %q; want %q", got, rules)
			}

			var exc *adminapi.Exception
			if _, err := client.FirewallGet(ctx, "nosuch"); !errors.As(err, &exc) || exc.Type != "QubesVMNotFoundError" {
				t.Errorf("FirewallGet of an unknown qube: %v; want QubesVMNotFoundError", err)
			}
			if err := client.FirewallSet(ctx, "work", nil); err == nil {
				t.Error("FirewallSet of an empty list succeeded; dom0 refuses it")
			}
			huge := []string{"action=accept comment=" + strings.Repeat("x", adminapi.MaxRequest)}
			tooLong := "admin.vm.firewall.Set for work: the request takes 65597 bytes, over qubesd's limit of 65536"
			if transport == "qrexec" {
				tooLong = "admin.vm.firewall.Set for work: the request takes up to 65624 bytes, over qubesd's limit of 65536"
			}
			if err := client.FirewallSet(ctx, "work", huge); err == nil || err.Error() != tooLong {
				t.Errorf("FirewallSet of an oversized list: %v; want %q, before sending", err, tooLong)
			}
			// A list that fits from dom0 exactly but not from a management
			// qube with the longest name: sent through the socket, whose
			// requests come from dom0; refused over qrexec, where dom0
			// fills in the caller, whose name the client does not know.
			header := len("admin.vm.firewall.Set+ dom0 name work\x00")
			edge := []string{"action=accept comment=" + strings.Repeat("x", adminapi.MaxRequest-header-len("action=accept comment=\n"))}
			err = client.FirewallSet(ctx, "work", edge)
			switch {
			case transport == "socket" && err != nil:
				t.Errorf("FirewallSet through the socket of a list that fits from dom0: %v", err)
			case transport == "socket" && !slices.Equal(srv.Firewall("work"), edge):
				t.Errorf("after a Set of a list that fits from dom0 the server holds %d lines; want the list", len(srv.Firewall("work")))
			case transport == "qrexec" && (err == nil || !strings.Contains(err.Error(), "over qubesd's limit")):
				t.Errorf("FirewallSet over qrexec of a list that fits from dom0 only: %v; want it refused before sending", err)
			}

			wantSource := "dom0"
			if transport == "qrexec" {
				wantSource = "mgmt"
			}
			for _, r := range srv.Requests() {
				if r.Source != wantSource {
					t.Errorf("request %s came from %q; want %q", r.Method, r.Source, wantSource)
				}
			}
		})
	}
}

// TestInventory reads the inventory of a machine through the Admin API,
// leaving dom0 out.
func TestInventory(t *testing.T) {
	srv := adminapitest.New(t, map[string]adminapitest.Qube{
		"sys-net":      {IP: "10.137.0.5", Label: "red", ProvidesNetwork: true},
		"sys-firewall": {IP: "10.137.0.6", IP6: "fd09:24ef:4179::a89:6", Netvm: "sys-net", Label: "green", ProvidesNetwork: true},
		"work":         {IP: "10.137.0.11", Netvm: "sys-firewall", Label: "blue", Tags: []string{"corp", "audited"}},
		"vault":        {Label: "black"},
		"debian-13":    {Class: "TemplateVM", Label: "black"},
	})
	client := &adminapi.Client{Transport: adminapi.Socket{Path: srv.Path}}
	inv, err := client.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	const want = `{
  "qubes": {
    "debian-13": {
      "class": "TemplateVM",
      "ip": "",
      "ip6": "",
      "netvm": "",
      "label": "black",
      "tags": [],
      "provides_network": false
    },
    "sys-firewall": {
      "class": "AppVM",
      "ip": "10.137.0.6",
      "ip6": "fd09:24ef:4179::a89:6",
      "netvm": "sys-net",
      "label": "green",
      "tags": [],
      "provides_network": true
    },
    "sys-net": {
      "class": "AppVM",
      "ip": "10.137.0.5",
      "ip6": "",
      "netvm": "",
      "label": "red",
      "tags": [],
      "provides_network": true
    },
    "vault": {
      "class": "AppVM",
      "ip": "",
      "ip6": "",
      "netvm": "",
      "label": "black",
      "tags": [],
      "provides_network": false
    },
    "work": {
      "class": "AppVM",
      "ip": "10.137.0.11",
      "ip6": "",
      "netvm": "sys-firewall",
      "label": "blue",
      "tags": [
        "audited",
        "corp"
      ],
      "provides_network": false
    }
  }
}`
	if string(got) != want {
		t.Errorf("Inventory:\n%s\nwant:\n%s", got, want)
	}
}

// FuzzParseRequest reads requests as the test server does: one that
// parses re-encodes to the same bytes, or, when dom0 is named by keyword,
// to a request that parses the same.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"admin.vm.List+ dom0 name dom0\x00",
		"admin.vm.firewall.Set+ mgmt name work\x00action=accept\n",
		"admin.vm.property.Get+netvm dom0 keyword adminvm\x00",
		"admin.vm.tag.Set+qfw-managed dom0 name work\x00",
		"a+b+c d name e\x00\x00payload",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := adminapi.ParseRequest(b)
		if err != nil {
			return
		}
		enc := r.Encode()
		if !bytes.Contains(b[:bytes.IndexByte(b, 0)], []byte(" keyword ")) && !bytes.Equal(enc, b) {
			t.Fatalf("ParseRequest(%q) re-encodes as %q", b, enc)
		}
		again, err := adminapi.ParseRequest(enc)
		if err != nil {
			t.Fatalf("the encoding %q of %q does not parse: %v", enc, b, err)
		}
		if again.Method != r.Method || again.Arg != r.Arg || again.Source != r.Source || again.Dest != r.Dest || !bytes.Equal(again.Payload, r.Payload) {
			t.Fatalf("%q parses as %+v, its encoding as %+v", b, r, again)
		}
		if strings.Contains(r.Method, "+") {
			t.Fatalf("method %q of %q holds the argument's +", r.Method, b)
		}
	})
}

// FuzzParseResponse reads qubesd's answers: an OK answer re-encodes to the
// same bytes, and an exception keeps its type and message through Raise.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		"0\x00", "0\x00action=accept\n", "2\x00QubesVMNotFoundError\x00\x00No such domain: 'x'\x00",
		"2\x00ProtocolError\x00Traceback...\x00expected payload\x00field\x00", "1\x00x\x00", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		content, err := adminapi.ParseResponse(b)
		var exc *adminapi.Exception
		switch {
		case err == nil:
			if !bytes.Equal(adminapi.OK(content), b) {
				t.Fatalf("ParseResponse(%q) = %q, which encodes as %q", b, content, adminapi.OK(content))
			}
		case errors.As(err, &exc):
			if b[0] != '2' || exc.Type == "" || strings.Contains(exc.Type+exc.Message, "\x00") {
				t.Fatalf("ParseResponse(%q) = exception %+v", b, exc)
			}
			_, again := adminapi.ParseResponse(adminapi.Raise(exc.Type, exc.Message))
			var exc2 *adminapi.Exception
			if !errors.As(again, &exc2) || *exc2 != *exc {
				t.Fatalf("exception %+v of %q does not survive Raise: %v", exc, b, again)
			}
		case len(b) > 0 && b[0] == '0' && len(b) > 1 && b[1] == 0:
			t.Fatalf("ParseResponse(%q) refuses an OK frame: %v", b, err)
		}
	})
}

// TestTags sets and removes a tag through the in-process qubesd, with
// qubesd's answers to a tag it does not have and to one it refuses.
func TestTags(t *testing.T) {
	srv := adminapitest.New(t, map[string]adminapitest.Qube{"work": {Tags: []string{"audited"}}})
	c := &adminapi.Client{Transport: adminapi.Socket{Path: srv.Path}}
	ctx := context.Background()
	if err := c.SetTag(ctx, "work", "qfw-managed"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTag(ctx, "work", "qfw-managed"); err != nil {
		t.Errorf("setting a tag the qube has: %v", err)
	}
	if tags, err := c.Tags(ctx, "work"); err != nil || !slices.Equal(tags, []string{"audited", "qfw-managed"}) {
		t.Errorf("tags %q, %v; want audited, qfw-managed", tags, err)
	}
	if err := c.RemoveTag(ctx, "work", "qfw-managed"); err != nil {
		t.Fatal(err)
	}
	var exc *adminapi.Exception
	if err := c.RemoveTag(ctx, "work", "qfw-managed"); !errors.As(err, &exc) || exc.Type != "QubesTagNotFoundError" || exc.Message != "Tag not set for domain work: qfw-managed" {
		t.Errorf("removing a tag the qube has not: %v", err)
	}
	if err := c.SetTag(ctx, "work", "bad tag"); err == nil || err.Error() != `tag "bad tag": a tag is ASCII letters, digits, "-" and "_"` {
		t.Errorf("a tag qubesd refuses: %v", err)
	}
	// Sent anyway, qubesd answers nothing.
	if _, err := c.Call(ctx, "admin.vm.tag.Set", "bad.tag", "work", nil); !errors.Is(err, adminapi.ErrEmptyResponse) {
		t.Errorf("a tag qubesd refuses, sent: %v; want no answer", err)
	}
	if _, err := c.Call(ctx, "admin.vm.tag.Set", "x", "work", []byte("payload")); !errors.As(err, &exc) || exc.Type != "ProtocolError" {
		t.Errorf("a tag call with a payload: %v; want ProtocolError", err)
	}
}
