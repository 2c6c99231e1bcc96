package deploy

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestCompile renders the test policy for each target and prints it as
// qfw compile does, as text and as JSON.
func TestCompile(t *testing.T) {
	b, dir := buildTest(t, map[string]string{"policy.cue": testPolicy})
	tests := []struct {
		name string
		o    CompileOptions
		text string // WriteText's output, or the error
		json string // MarshalFiles' output; empty for none
	}{{
		name: "qubes",
		o:    CompileOptions{Target: TargetQubes, JSON: true},
		text: "# vault (no netvm)\naction=drop comment=network-false\n\n# work (netvm sys-firewall)\naction=accept specialtarget=dns comment=dns\naction=accept proto=tcp dstports=443-443 comment=web\n",
		json: `{
  "format_version": "1.0",
  "qubes": [
    {
      "name": "vault",
      "netvm": "",
      "rules": [
        {
          "line": "action=drop comment=network-false",
          "position": "policy.cue:8:2"
        }
      ]
    },
    {
      "name": "work",
      "netvm": "sys-firewall",
      "rules": [
        {
          "line": "action=accept specialtarget=dns comment=dns",
          "rule": "allow.dns",
          "position": "policy.cue:5:10"
        },
        {
          "line": "action=accept proto=tcp dstports=443-443 comment=web",
          "rule": "allow.web",
          "position": "policy.cue:6:10"
        }
      ]
    }
  ],
  "target": "qubes"
}
`,
	}, {
		name: "one qube",
		o:    CompileOptions{Target: TargetQubes, Qube: "vault"},
		text: "# vault (no netvm)\naction=drop comment=network-false\n",
	}, {
		name: "no such qube",
		o:    CompileOptions{Target: TargetQubes, Qube: "personal"},
		text: "--qube personal: no such qube in the policy",
	}, {
		name: "qubesdb",
		o:    CompileOptions{Target: TargetQubesDB, Firewall: "sys-firewall"},
		text: `# sys-firewall (qubes)
# work 10.137.0.11
rm /qubes-firewall/10.137.0.11/
write /qubes-firewall/10.137.0.11/policy "drop"
write /qubes-firewall/10.137.0.11/0000 "action=accept specialtarget=dns"
write /qubes-firewall/10.137.0.11/0001 "action=accept proto=tcp dstports=443-443"
write /qubes-firewall/10.137.0.11 ""
`,
	}, {
		name: "no such firewall",
		o:    CompileOptions{Target: TargetMirage, Firewall: "sys-net"},
		text: "--firewall sys-net: no firewall qube of that name serves a managed qube",
	}, {
		name: "no nftables firewall",
		o:    CompileOptions{Target: TargetNftables, DNS: []netip.Addr{netip.MustParseAddr("192.0.2.53")}},
		text: `no firewall qube has the nftables backend: set one with firewalls: NAME: backend: "nftables"`,
	}}
	for _, tt := range tests {
		o := tt.o
		o.Now, o.Warnings = time.Unix(1_800_000_000, 0), new(bytes.Buffer)
		files, err := Compile(b, &o)
		var text bytes.Buffer
		if err != nil {
			text.WriteString(err.Error())
		} else if err := WriteText(&text, files); err != nil {
			t.Fatal(err)
		}
		if got := text.String(); got != tt.text {
			t.Errorf("%s: text\n%s\nwant\n%s", tt.name, got, tt.text)
		}
		if tt.json == "" {
			continue
		}
		j, err := MarshalFiles(o.Target, files)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ReplaceAll(string(j), dir+"/", ""); got != tt.json {
			t.Errorf("%s: JSON\n%s\nwant\n%s", tt.name, got, tt.json)
		}
	}
}

// TestTargetNames checks the names of the targets, which --target takes.
func TestTargetNames(t *testing.T) {
	var got []string
	for _, tg := range Targets {
		got = append(got, tg.String())
	}
	if want := "qubes qubesdb nftables mirage"; strings.Join(got, " ") != want {
		t.Errorf("targets %q; want %s", got, want)
	}
}
