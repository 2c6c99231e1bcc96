package mirage

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func mustDesired(t *testing.T, rel Release) QubeState {
	t.Helper()
	s, err := Desired("mirage-fw", DefaultKernel, "sys-net", DefaultLabel, rel)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDesired(t *testing.T) {
	s := mustDesired(t, latest)
	want := QubeState{
		Name:  "mirage-fw",
		Class: "StandaloneVM",
		Label: "green",
		Features: []Setting{
			{"qubes-firewall", "1"},
			{"no-default-kernelopts", "1"},
			{"skip-update", "1"},
		},
		Properties: []Setting{
			{"label", "green"},
			{"kernel", "mirage-firewall"},
			{"kernelopts", ""},
			{"virt_mode", "pvh"},
			{"memory", "32"},
			{"maxmem", "32"},
			{"vcpus", "1"},
			{"provides_network", "True"},
			{"netvm", "sys-net"},
			{"audiovm", ""},
		},
	}
	if s.Name != want.Name || s.Class != want.Class || s.Label != want.Label || s.NetvmRestart ||
		!slices.Equal(s.Features, want.Features) || !slices.Equal(s.Properties, want.Properties) {
		t.Errorf("Desired = %+v\nwant %+v", s, want)
	}
	// 0.7 boots in PV mode and reads its uplink at boot only.
	old := mustDesired(t, mustRelease("0.7"))
	if i := slices.Index(old.Properties, Setting{"virt_mode", "pv"}); i < 0 || !old.NetvmRestart {
		t.Errorf("Desired for 0.7: properties %v, NetvmRestart %v; want virt_mode pv, true", old.Properties, old.NetvmRestart)
	}
}

func TestDesiredErrors(t *testing.T) {
	tests := []struct {
		name, kernel, netvm, label string
		rel                        Release
		want                       string
	}{
		{"", DefaultKernel, "sys-net", "green", latest, "empty qube name"},
		{"1fw", DefaultKernel, "sys-net", "green", latest, `qube name "1fw" does not start with a letter`},
		{"fw/x", DefaultKernel, "sys-net", "green", latest, `qube name "fw/x" contains "/"; allowed are letters, digits, "_", "." and "-"`},
		{strings.Repeat("f", 32), DefaultKernel, "sys-net", "green", latest, `qube name "` + strings.Repeat("f", 32) + `" is 32 characters long; at most 31 are allowed`},
		{"fw", "../x", "sys-net", "green", latest, `kernel name "../x" starts with "."`},
		{"fw", DefaultKernel, "", "green", latest, `firewall qube "fw" needs a netvm: without one the unikernel waits for its network configuration forever`},
		{"fw", DefaultKernel, "fw", "green", latest, `firewall qube "fw" cannot be its own netvm`},
		{"fw", DefaultKernel, "sys-net", "", latest, "empty label name"},
		{"fw", DefaultKernel, "sys-net", "green", Release{}, `firewall qube "fw": no release given`},
	}
	for _, tt := range tests {
		_, err := Desired(tt.name, tt.kernel, tt.netvm, tt.label, tt.rel)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Desired(%q, %q, %q, %q) error = %v; want %s", tt.name, tt.kernel, tt.netvm, tt.label, err, tt.want)
		}
	}
}

// upToDate returns the current state of a qube that is as s wants it.
func upToDate(s QubeState) Current {
	cur := Current{Exists: true, Class: s.Class, Properties: map[string]string{}, Features: map[string]string{}}
	for _, p := range s.Properties {
		cur.Properties[p.Name] = p.Value
	}
	for _, f := range s.Features {
		cur.Features[f.Name] = f.Value
	}
	return cur
}

// with returns cur with the properties and features changed: "p:name"
// and "f:name" keys, a value of "-" deleting.
func with(cur Current, changes map[string]string) Current {
	cur.Properties, cur.Features = maps.Clone(cur.Properties), maps.Clone(cur.Features)
	for k, v := range changes {
		m := cur.Properties
		if strings.HasPrefix(k, "f:") {
			m = cur.Features
		}
		name := k[2:]
		if v == "-" {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return cur
}

func TestPlan(t *testing.T) {
	want := mustDesired(t, latest)
	want086 := mustDesired(t, mustRelease("0.8.6"))
	same := upToDate(want)
	tests := []struct {
		name  string
		want  QubeState
		cur   Current
		steps []string
	}{
		{"create", want, Current{}, []string{
			"create StandaloneVM with label green",
			`set feature qubes-firewall to "1"`,
			`set feature no-default-kernelopts to "1"`,
			`set feature skip-update to "1"`,
			`set property kernel to "mirage-firewall"`,
			`set property kernelopts to ""`,
			`set property virt_mode to "pvh"`,
			`set property memory to "32"`,
			`set property maxmem to "32"`,
			`set property vcpus to "1"`,
			`set property provides_network to "True"`,
			`set property netvm to "sys-net"`,
			`set property audiovm to ""`,
		}},
		{"up to date", want, same, nil},
		// Properties unknown or different; no restart for these.
		{"label and netvm", want, with(same, map[string]string{"p:label": "red", "p:netvm": "sys-vpn", "p:audiovm": "-"}), []string{
			`set property label from "red" to "green"`,
			`set property netvm from "sys-vpn" to "sys-net"`,
			`set property audiovm to ""`,
		}},
		// 0.8.6 cannot follow a new netvm without a restart.
		{"netvm 0.8.6", want086, with(upToDate(want086), map[string]string{"p:netvm": "sys-vpn"}), []string{
			`set property netvm from "sys-vpn" to "sys-net"`,
			"restart the qube if it is running",
		}},
		{"features", want, with(same, map[string]string{"f:qubes-firewall": "-", "f:skip-update": "0"}), []string{
			`set feature qubes-firewall to "1"`,
			`set feature skip-update from "0" to "1"`,
		}},
		// Boot properties take a restart.
		{"kernel", want, with(same, map[string]string{"p:kernel": "6.6.48-1.fc37", "p:kernelopts": "nopat", "p:virt_mode": "hvm"}), []string{
			`set property kernel from "6.6.48-1.fc37" to "mirage-firewall"`,
			`set property kernelopts from "nopat" to ""`,
			`set property virt_mode from "hvm" to "pvh"`,
			"restart the qube if it is running",
		}},
		// From a StandaloneVM's defaults: memory first, it stays under maxmem.
		{"memory down", want, with(same, map[string]string{"p:memory": "400", "p:maxmem": "4000", "p:vcpus": "2"}), []string{
			`set property memory from "400" to "32"`,
			`set property maxmem from "4000" to "32"`,
			`set property vcpus from "2" to "1"`,
			"restart the qube if it is running",
		}},
		// Up from below: maxmem first, or memory would exceed it.
		{"memory up", want, with(same, map[string]string{"p:memory": "16", "p:maxmem": "16"}), []string{
			`set property maxmem from "16" to "32"`,
			`set property memory from "16" to "32"`,
			"restart the qube if it is running",
		}},
		{"maxmem only", want, with(same, map[string]string{"p:maxmem": "64"}), []string{
			`set property maxmem from "64" to "32"`,
			"restart the qube if it is running",
		}},
		// A class not known is not a conflict.
		{"class unknown", want, func() Current { c := same; c.Class = ""; return c }(), nil},
	}
	for _, tt := range tests {
		steps, err := Plan(tt.want, tt.cur)
		if err != nil {
			t.Errorf("%s: Plan: %v", tt.name, err)
			continue
		}
		var got []string
		for _, s := range steps {
			got = append(got, s.String())
		}
		if !slices.Equal(got, tt.steps) {
			t.Errorf("%s: Plan:\n%s\nwant:\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.steps, "\n"))
		}
	}
}

func TestPlanSteps(t *testing.T) {
	steps, err := Plan(mustDesired(t, latest), with(upToDate(mustDesired(t, latest)), map[string]string{"p:vcpus": "2", "f:skip-update": "-"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{
		{Op: SetFeature, Name: "skip-update", To: "1"},
		{Op: SetProperty, Name: "vcpus", From: "2", HasFrom: true, To: "1"},
		{Op: RestartQube},
	}
	if !slices.Equal(steps, want) {
		t.Errorf("Plan = %+v; want %+v", steps, want)
	}
	for _, s := range want {
		if s.Op.String() == "invalid" {
			t.Errorf("Op %d has no name", s.Op)
		}
	}
}

func TestPlanClass(t *testing.T) {
	cur := upToDate(mustDesired(t, latest))
	cur.Class = "AppVM"
	steps, err := Plan(mustDesired(t, latest), cur)
	want := `qube "mirage-fw" is of class AppVM; the unikernel needs a StandaloneVM, and a qube's class cannot change: remove the qube or choose another name`
	if steps != nil || err == nil || err.Error() != want {
		t.Errorf("Plan over an AppVM = %v, %v; want error %s", steps, err, want)
	}
}

// TestPlanDeterministic plans from maps filled in different orders.
func TestPlanDeterministic(t *testing.T) {
	want := mustDesired(t, latest)
	var first []Step
	for range 20 {
		cur := Current{Exists: true, Properties: map[string]string{}, Features: map[string]string{}}
		for _, p := range slices.Backward(want.Properties) {
			cur.Properties[p.Name] = "x"
		}
		steps, err := Plan(want, cur)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = steps
		} else if !slices.Equal(steps, first) {
			t.Fatalf("Plan differs between runs:\n%v\n%v", steps, first)
		}
	}
}
