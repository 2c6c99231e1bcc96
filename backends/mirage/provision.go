package mirage

import (
	"fmt"
	"strconv"
)

// Defaults of the upstream install instructions.
const (
	// DefaultKernel is the name of the vm-kernels directory that holds
	// the unikernel, and so the value of the qube's kernel property.
	DefaultKernel = "mirage-firewall"
	// DefaultLabel is the label the instructions give the qube.
	DefaultLabel = "green"
	// qubeClass is the class of the firewall qube: a standalone qube, as
	// it boots its own kernel and has no template or root volume to share.
	qubeClass = "StandaloneVM"
	// memoryMB is the memory and maxmem of the firewall qube, advised
	// since 0.8.2 (#150); a brief raise to 64 (#181) was reverted (#189).
	memoryMB = 32
)

// Setting is a property or a feature of a qube and its value, as the
// Admin API writes it.
type Setting struct {
	Name, Value string
}

// QubeState is the state a firewall qube running the unikernel needs.
type QubeState struct {
	Name  string
	Class string
	// Label is the label to create the qube with; it is among Properties
	// too, to correct an existing qube.
	Label string
	// Features are the qube's features, set before Properties so that
	// dom0 never sees the qube provide network without qubes-firewall.
	Features []Setting
	// Properties are the qube's properties, in the order to set them.
	Properties []Setting
	// NetvmRestart says that the release reads its uplink at boot only,
	// so a change of netvm needs a restart.
	NetvmRestart bool
}

// bootProperties are the properties that take effect when the qube
// starts.
var bootProperties = map[string]bool{
	"kernel": true, "kernelopts": true, "virt_mode": true,
	"memory": true, "maxmem": true, "vcpus": true,
}

// Desired returns the state of the firewall qube name that boots the
// kernel in vm-kernels directory kernel (see [CheckKernelName]) of release rel,
// with uplink netvm and label label: the properties and features of the
// upstream instructions.
//
//   - kernel, with kernelopts empty and the feature no-default-kernelopts,
//     so that dom0 passes no Linux options to the unikernel;
//   - memory and maxmem memoryMB, vcpus 1, virt_mode rel.VirtMode;
//   - provides_network True, netvm netvm, audiovm empty;
//   - the feature qubes-firewall, which tells dom0 to write rules in the
//     Qubes 4 layout the unikernel reads (without it dom0 falls back to
//     legacy keys, and Qube Manager says the qube cannot enforce rules),
//     and skip-update, as nothing in the qube can be updated.
//
// netvm must name a qube: without one the unikernel waits for its network
// configuration forever, and shutting it down times out (#224).
func Desired(name, kernel, netvm, label string, rel Release) (QubeState, error) {
	if err := checkQubeName("qube", name); err != nil {
		return QubeState{}, err
	}
	if err := CheckKernelName(kernel); err != nil {
		return QubeState{}, err
	}
	if netvm == "" {
		return QubeState{}, fmt.Errorf("firewall qube %q needs a netvm: without one the unikernel waits for its network configuration forever", name)
	}
	if err := checkQubeName("netvm", netvm); err != nil {
		return QubeState{}, err
	}
	if netvm == name {
		return QubeState{}, fmt.Errorf("firewall qube %q cannot be its own netvm", name)
	}
	if err := checkQubeName("label", label); err != nil {
		return QubeState{}, err
	}
	if rel.VirtMode == "" {
		return QubeState{}, fmt.Errorf("firewall qube %q: no release given", name)
	}
	mem := strconv.Itoa(memoryMB)
	return QubeState{
		Name:  name,
		Class: qubeClass,
		Label: label,
		Features: []Setting{
			{"qubes-firewall", "1"},
			{"no-default-kernelopts", "1"},
			{"skip-update", "1"},
		},
		Properties: []Setting{
			{"label", label},
			{"kernel", kernel},
			{"kernelopts", ""},
			{"virt_mode", rel.VirtMode},
			{"memory", mem},
			{"maxmem", mem},
			{"vcpus", "1"},
			{"provides_network", "True"},
			{"netvm", netvm},
			{"audiovm", ""},
		},
		NetvmRestart: !rel.NetvmHotSwap,
	}, nil
}

// checkQubeName reports whether s may name a qube or a label: a letter,
// then letters, digits, "_", "." and "-", at most 31 characters, as
// qubesd requires.
func checkQubeName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s name", what)
	case len(s) > 31:
		return fmt.Errorf("%s name %q is %d characters long; at most 31 are allowed", what, s, len(s))
	case !isLetter(rune(s[0])):
		return fmt.Errorf("%s name %q does not start with a letter", what, s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLDH(c) && c != '_' && c != '.' {
			return fmt.Errorf("%s name %q contains %q; allowed are letters, digits, \"_\", \".\" and \"-\"", what, s, s[i:i+1])
		}
	}
	return nil
}

// Current is the state of a qube as the Admin API reports it.
type Current struct {
	// Exists says whether a qube of that name exists.
	Exists bool
	// Class is the qube's class; "" if not known.
	Class string
	// Properties and Features map names to values; a name that is missing
	// has no value known.
	Properties, Features map[string]string
}

// Op is what one step of a provisioning plan does.
type Op uint8

const (
	// CreateQube creates the qube with its class and label.
	CreateQube Op = iota + 1
	// SetFeature sets a feature.
	SetFeature
	// SetProperty sets a property.
	SetProperty
	// RestartQube restarts the qube if it is running, for the steps
	// before it to take effect.
	RestartQube
)

func (o Op) String() string {
	switch o {
	case CreateQube:
		return "create"
	case SetFeature:
		return "set-feature"
	case SetProperty:
		return "set-property"
	case RestartQube:
		return "restart"
	}
	return "invalid"
}

// Step is one step of a provisioning plan.
type Step struct {
	Op Op
	// Name is the feature or property to set; for CreateQube, the class.
	Name string
	// From is the current value, if HasFrom.
	From    string
	HasFrom bool
	// To is the value to set; for CreateQube, the label.
	To string
}

// String describes s for a plan's output.
func (s Step) String() string {
	switch s.Op {
	case CreateQube:
		return fmt.Sprintf("create %s with label %s", s.Name, s.To)
	case SetFeature, SetProperty:
		what := "feature"
		if s.Op == SetProperty {
			what = "property"
		}
		if s.HasFrom {
			return fmt.Sprintf("set %s %s from %q to %q", what, s.Name, s.From, s.To)
		}
		return fmt.Sprintf("set %s %s to %q", what, s.Name, s.To)
	case RestartQube:
		return "restart the qube if it is running"
	}
	return "invalid step"
}

// Plan returns the steps that bring a qube from state cur to want, in the
// order to take them: create the qube if it does not exist, set every
// feature and then every property whose value differs (all of them for a
// new qube), and, for an existing qube, restart it if a property read at
// boot changed, or the netvm did and the release cannot follow that
// without a restart. An empty plan means the qube is as wanted. It is an
// error for an existing qube to be of another class, which cannot change.
//
// memory and maxmem are set in whichever order keeps memory at most
// maxmem between the two steps.
func Plan(want QubeState, cur Current) ([]Step, error) {
	if cur.Exists && cur.Class != "" && cur.Class != want.Class {
		return nil, fmt.Errorf("qube %q is of class %s; the unikernel needs a %s, and a qube's class cannot change: remove the qube or choose another name", want.Name, cur.Class, want.Class)
	}
	var steps []Step
	if !cur.Exists {
		steps = append(steps, Step{Op: CreateQube, Name: want.Class, To: want.Label})
	}
	diff := func(op Op, s Setting, current map[string]string) (Step, bool) {
		if !cur.Exists {
			return Step{Op: op, Name: s.Name, To: s.Value}, true
		}
		v, ok := current[s.Name]
		if ok && v == s.Value {
			return Step{}, false
		}
		return Step{Op: op, Name: s.Name, From: v, HasFrom: ok, To: s.Value}, true
	}
	for _, f := range want.Features {
		if st, ok := diff(SetFeature, f, cur.Features); ok {
			steps = append(steps, st)
		}
	}
	restart := false
	for _, p := range orderMemory(want.Properties, cur) {
		if p.Name == "label" && !cur.Exists {
			continue // given to CreateQube
		}
		if st, ok := diff(SetProperty, p, cur.Properties); ok {
			steps = append(steps, st)
			restart = restart || bootProperties[p.Name] || p.Name == "netvm" && want.NetvmRestart
		}
	}
	if cur.Exists && restart {
		steps = append(steps, Step{Op: RestartQube})
	}
	return steps, nil
}

// orderMemory returns props with maxmem moved before memory where the new
// memory is above the current maxmem, so that setting memory first would
// leave memory above maxmem in between.
func orderMemory(props []Setting, cur Current) []Setting {
	mi, xi := -1, -1
	for i, p := range props {
		switch p.Name {
		case "memory":
			mi = i
		case "maxmem":
			xi = i
		}
	}
	if mi < 0 || xi < 0 || !cur.Exists {
		return props
	}
	newMem, err1 := strconv.Atoi(props[mi].Value)
	curMax, err2 := strconv.Atoi(cur.Properties["maxmem"])
	if err1 != nil || err2 != nil || newMem <= curMax || xi < mi {
		return props
	}
	out := append([]Setting(nil), props...)
	out[mi], out[xi] = out[xi], out[mi]
	return out
}
