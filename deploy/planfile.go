package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	cueerrors "cuelang.org/go/cue/errors"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
)

// A saved plan is applied exactly as it shows, or not at all. ReadPlan
// checks every field of the file on its own: each rule line passes the
// parser and the limits compile's output passes and is written as qfw
// writes it; the lines it sends are the lines its edits keep and add; its
// counts are its edits'. Apply then checks it against dom0 before any
// change: every qube exists, and for each qube still at its base_hash the
// edits are what replacing the live list with the rules does.

// ReadPlan reads the plan that plan --out saved in path.
func ReadPlan(path string) (*Plan, error) {
	b, err := readInput(path)
	if err != nil {
		return nil, fmt.Errorf("--plan: %w", err)
	}
	return parsePlan(path, b)
}

var (
	planFields    = []string{"format_version", "qubes", "summary"}
	planOptional  = []string{"firewalls", "left", "unmanaged"}
	qubeFields    = []string{"name", "base_hash", "changed", "edits", "rules"}
	qubeOptional  = []string{"netvm", "edited_outside_qfw_since", "mark"}
	editFields    = []string{"op", "line"}
	editOptional  = []string{"rule", "position", "note"}
	summaryFields = []string{"change", "unchanged", "add", "remove"}
	// A firewall plan's fields, as FirewallPlan's JSON names them.
	firewallFields = []string{"name", "release", "want", "steps"}
	wantFields     = []string{"Name", "Class", "Label", "Features", "Properties", "NetvmRestart"}
	kernelFields   = []string{"sha256", "target", "install"}
	kernelOptional = []string{"path", "dom0_step"}
	stepFields     = []string{"op", "text"}
	stepOptional   = []string{"name", "from", "has_from", "to"}
	// A feature's or property's fields, in a firewall plan's want.
	settingFields = []string{"Name", "Value"}
	summaryOpt    = []string{"provision", "left", "unmanaged", "mark"}
)

// parsePlan reads a saved plan from data, the file name.
func parsePlan(name string, data []byte) (*Plan, error) {
	d, root, err := parseJSONDoc(name, data)
	if err != nil {
		return nil, err
	}
	if err := d.object(root, "", planFields, planOptional); err != nil {
		return nil, err
	}
	p := &Plan{}
	fv := root.fields["format_version"]
	if err := d.want(fv, "format_version", jsonNumber); err != nil {
		return nil, err
	}
	if fv.num != fmt.Sprint(planFormatVersion) {
		return nil, d.errorf(fv, "format_version", "%s; this qfw reads plans of format %d: plan again with it", fv.num, planFormatVersion)
	}
	p.FormatVersion = planFormatVersion
	qs := root.fields["qubes"]
	if err := d.want(qs, "qubes", jsonArray); err != nil {
		return nil, err
	}
	p.Qubes = []QubePlan{}
	seen := map[string]int{}
	for i, qv := range qs.elems {
		path := index("qubes", i)
		q, err := d.readQubePlan(qv, path)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[q.Name]; dup {
			return nil, d.errorf(qv.fields["name"], path+".name", "qube %q is planned twice, also at qubes[%d]", q.Name, j)
		}
		seen[q.Name] = i
		p.Qubes = append(p.Qubes, q)
	}
	if fw, ok := root.fields["firewalls"]; ok {
		if p.Firewalls, err = d.readFirewalls(fw); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		key  string
		into *[]string
	}{{"left", &p.Left}, {"unmanaged", &p.Unmanaged}} {
		v, ok := root.fields[f.key]
		if !ok {
			continue
		}
		names, err := d.stringList(v, f.key)
		if err != nil {
			return nil, err
		}
		for i, n := range names {
			at := v.elems[i]
			switch _, planned := seen[n]; {
			case !policy.IsQubeName(n):
				return nil, d.errorf(at, index(f.key, i), "%q is not a qube name", n)
			case slices.Contains(names[:i], n):
				return nil, d.errorf(at, index(f.key, i), "qube %q is named twice", n)
			case planned:
				return nil, d.errorf(at, index(f.key, i), "qube %q is planned in qubes too", n)
			case f.key == "unmanaged" && slices.Contains(p.Left, n):
				return nil, d.errorf(at, index(f.key, i), "qube %q is in left too", n)
			}
		}
		*f.into = names
	}
	sv := root.fields["summary"]
	if err := d.object(sv, "summary", summaryFields, summaryOpt); err != nil {
		return nil, err
	}
	want := p.Summarise()
	for _, f := range []struct {
		key       string
		into, was *int
	}{
		{"change", &p.Summary.Change, &want.Change}, {"unchanged", &p.Summary.Unchanged, &want.Unchanged},
		{"add", &p.Summary.Add, &want.Add}, {"remove", &p.Summary.Remove, &want.Remove},
		{"provision", &p.Summary.Provision, &want.Provision}, {"left", &p.Summary.Left, &want.Left},
		{"unmanaged", &p.Summary.Unmanaged, &want.Unmanaged}, {"mark", &p.Summary.Mark, &want.Mark},
	} {
		v, ok := sv.fields[f.key]
		if !ok {
			if *f.was != 0 {
				return nil, d.errorf(sv, "summary", "no field %q, but the plan counts %d", f.key, *f.was)
			}
			continue
		}
		n, err := d.integer(v, "summary."+f.key, 0, 1<<31-1)
		if err != nil {
			return nil, err
		}
		if n != *f.was {
			return nil, d.errorf(v, "summary."+f.key, "%d, but the plan counts %d", n, *f.was)
		}
		*f.into = n
	}
	return p, nil
}

// QubePlan reads and checks one qube of a saved plan.
func (d *jsonDoc) readQubePlan(v *jsonValue, path string) (QubePlan, error) {
	var q QubePlan
	if err := d.object(v, path, qubeFields, qubeOptional); err != nil {
		return q, err
	}
	var err error
	if q.Name, err = d.qubeName(v.fields["name"], path+".name"); err != nil {
		return q, err
	}
	if nv, ok := v.fields["netvm"]; ok {
		if q.Netvm, err = d.qubeName(nv, path+".netvm"); err != nil {
			return q, err
		}
	}
	if q.BaseHash, err = d.sha256(v.fields["base_hash"], path+".base_hash"); err != nil {
		return q, err
	}
	if ev, ok := v.fields["edited_outside_qfw_since"]; ok {
		at, err := d.timestamp(ev, path+".edited_outside_qfw_since")
		if err != nil {
			return q, err
		}
		q.EditedAt = &at
	}
	if mv, ok := v.fields["mark"]; ok {
		if q.Mark, err = d.boolean(mv, path+".mark"); err != nil {
			return q, err
		}
	}
	cv := v.fields["changed"]
	if q.Changed, err = d.boolean(cv, path+".changed"); err != nil {
		return q, err
	}

	rv := v.fields["rules"]
	if q.Rules, err = d.stringList(rv, path+".rules"); err != nil {
		return q, err
	}
	parsed := make([]ir.Rule, len(q.Rules))
	for i, line := range q.Rules {
		at, p := rv.elems[i], index(path+".rules", i)
		if c, ok := controlIn(line); ok {
			return q, d.errorf(at, p, "%q holds the control character %q; a rule is one line", line, c)
		}
		r, err := qubes.ParseRule(line)
		if err != nil {
			return q, d.errorf(at, p, "%v", err)
		}
		if f := qubes.FormatRule(r); f != line {
			return q, d.errorf(at, p, "%q is not written as qfw writes it; want %q", line, f)
		}
		parsed[i] = r
	}
	// The limits that hold without the qube's addresses; apply checks
	// the rest with the addresses dom0 gives.
	if errs := qubes.Check(ir.Qube{Name: q.Name, Rules: parsed}); len(errs) > 0 {
		return q, d.errorf(rv, path+".rules", "%s", diagMessage(errs[0]))
	}

	ev := v.fields["edits"]
	if err := d.want(ev, path+".edits", jsonArray); err != nil {
		return q, err
	}
	q.Edits = []PlanEdit{}
	sent := 0
	for i, e := range ev.elems {
		p := index(path+".edits", i)
		pe, err := d.readPlanEdit(e, p)
		if err != nil {
			return q, err
		}
		q.Edits = append(q.Edits, pe)
		if pe.Op == qubes.RemoveRule.Symbol() {
			continue
		}
		if sent >= len(q.Rules) {
			return q, d.errorf(e, p, "the edits keep and add more lines than the %s the plan sends", count(len(q.Rules), "rule"))
		}
		if pe.Line != q.Rules[sent] {
			return q, d.errorf(e, p+".line", "%q is shown, but rules[%d], which the plan sends in its place, is %q", pe.Line, sent, q.Rules[sent])
		}
		sent++
	}
	if sent < len(q.Rules) {
		return q, d.errorf(rv.elems[sent], index(path+".rules", sent), "the plan sends %q, which no edit shows", q.Rules[sent])
	}
	add, remove := q.EditCounts()
	switch changes := add+remove > 0; {
	case q.Changed != changes:
		return q, d.errorf(cv, path+".changed", "%t, but the edits %s", q.Changed, map[bool]string{true: "add or remove lines", false: "only keep lines"}[changes])
	case q.Changed && len(q.Rules) == 0:
		return q, d.errorf(rv, path+".rules", "no rules; dom0 refuses an empty list")
	}
	return q, nil
}

// PlanEdit reads one edit of a saved plan.
func (d *jsonDoc) readPlanEdit(v *jsonValue, path string) (PlanEdit, error) {
	var pe PlanEdit
	if err := d.object(v, path, editFields, editOptional); err != nil {
		return pe, err
	}
	for _, f := range []struct {
		key  string
		into *string
	}{{"op", &pe.Op}, {"line", &pe.Line}, {"rule", &pe.Rule}, {"position", &pe.Position}, {"note", &pe.Note}} {
		fv, ok := v.fields[f.key]
		if !ok {
			continue
		}
		s, err := d.str(fv, path+"."+f.key)
		if err != nil {
			return pe, err
		}
		// What the plan shows must not move the terminal's cursor or
		// hide a line.
		if c, ok := controlIn(s); ok {
			return pe, d.errorf(fv, path+"."+f.key, "%q holds the control character %q", s, c)
		}
		*f.into = s
	}
	switch pe.Op {
	case qubes.KeepRule.Symbol(), qubes.AddRule.Symbol(), qubes.RemoveRule.Symbol():
	default:
		return pe, d.errorf(v.fields["op"], path+".op", "%q; want \"~\" (keep), \"+\" (add) or \"-\" (remove)", pe.Op)
	}
	if pe.Op == qubes.RemoveRule.Symbol() {
		if _, err := qubes.ParseDom0Rule(pe.Line); err != nil {
			return pe, d.errorf(v.fields["line"], path+".line", "dom0 refuses this line, so no list holds it: %v", err)
		}
	}
	return pe, nil
}

// isControl reports whether r, shown, could move the terminal's cursor,
// reorder or hide text: a C0 or C1 control, or a format character such as
// a bidirectional override or a zero-width space.
func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0 || unicode.Is(unicode.Cf, r)
}

// controlIn returns the first control character in s, if any.
func controlIn(s string) (rune, bool) {
	i := strings.IndexFunc(s, isControl)
	if i < 0 {
		return 0, false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return r, true
}

// qubeName reads a qube's name.
func (d *jsonDoc) qubeName(v *jsonValue, path string) (string, error) {
	s, err := d.str(v, path)
	if err != nil {
		return "", err
	}
	if !policy.IsQubeName(s) {
		return "", d.errorf(v, path, "%q is not a qube name: %s", s, QubeNameRule)
	}
	return s, nil
}

// firewalls reads the unikernel firewall plans of a saved plan, refusing
// fields qfw does not write; apply plans their steps again from their
// wanted state.
func (d *jsonDoc) readFirewalls(v *jsonValue) ([]FirewallPlan, error) {
	if err := d.want(v, "firewalls", jsonArray); err != nil {
		return nil, err
	}
	// The fields first, by their exact names: Go's decoder would also
	// take "Name" or "NAME" for "name".
	for i, e := range v.elems {
		path := index("firewalls", i)
		if err := d.object(e, path, firewallFields, []string{"kernel"}); err != nil {
			return nil, err
		}
		if err := d.object(e.fields["want"], path+".want", wantFields, nil); err != nil {
			return nil, err
		}
		if k, ok := e.fields["kernel"]; ok {
			if err := d.object(k, path+".kernel", kernelFields, kernelOptional); err != nil {
				return nil, err
			}
		}
		want := e.fields["want"]
		for _, list := range []struct {
			v                  *jsonValue
			path               string
			required, optional []string
		}{
			{e.fields["steps"], path + ".steps", stepFields, stepOptional},
			{want.fields["Features"], path + ".want.Features", settingFields, nil},
			{want.fields["Properties"], path + ".want.Properties", settingFields, nil},
		} {
			if err := d.want(list.v, list.path, jsonArray); err != nil {
				return nil, err
			}
			for j, sv := range list.v.elems {
				if err := d.object(sv, index(list.path, j), list.required, list.optional); err != nil {
					return nil, err
				}
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(d.data[v.off:v.end]))
	dec.DisallowUnknownFields()
	var fps []FirewallPlan
	if err := dec.Decode(&fps); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			off := v.off + int(typ.Offset) - 1
			path := "firewalls"
			for i, e := range v.elems {
				if e.off <= off && off < e.end {
					path = index(path, i)
				}
			}
			if typ.Field != "" {
				path = join(path, typ.Field)
			}
			return nil, d.at(off, path, "want %s", kindWords(typ.Type.Kind()))
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, d.errorf(v, "firewalls", "unknown field %s", field)
		}
		return nil, d.errorf(v, "firewalls", "not a firewall plan qfw writes")
	}
	// What the plan shows must not move the terminal's cursor or hide a
	// line: the kernel's paths and the dom0 step are shown as they are.
	if at, path, s, ok := d.controlString(v, "firewalls"); ok {
		c, _ := controlIn(s)
		return nil, d.errorf(at, path, "%q holds the control character %q", s, c)
	}
	for i := range fps {
		path := index("firewalls", i)
		if err := d.readFirewallPlan(v.elems[i], path, &fps[i]); err != nil {
			return nil, err
		}
		for j := range fps[:i] {
			switch ki, kj := fps[i].Kernel, fps[j].Kernel; {
			case fps[j].Name == fps[i].Name:
				return nil, d.errorf(v.elems[i].fields["name"], path+".name", "firewall qube %q is planned twice, also at firewalls[%d]", fps[i].Name, j)
			case ki != nil && kj != nil && ki.Target == kj.Target && ki.SHA256 != kj.SHA256:
				// Each would replace the other's image.
				return nil, d.errorf(v.elems[i].fields["kernel"], path+".kernel", "another image in %s than firewalls[%d] wants there", ki.Target, j)
			}
		}
	}
	return fps, nil
}

// kindWords names the JSON values that decode into a Go value of kind k.
func kindWords(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return jsonBool.String()
	case reflect.String:
		return jsonString.String()
	case reflect.Slice, reflect.Array:
		return jsonArray.String()
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return jsonObject.String()
	}
	return jsonNumber.String()
}

// FirewallPlan checks one unikernel firewall plan: apply brings the qube
// it names to its wanted state, so that state must be the one qfw plans
// for that qube, release, kernel, netvm and label, and its steps must be
// written as qfw writes them. Apply plans the steps again, against the
// qube as it is then, and refuses any that the plan does not show.
func (d *jsonDoc) readFirewallPlan(v *jsonValue, path string, fp *FirewallPlan) error {
	if !policy.IsQubeName(fp.Name) {
		return d.errorf(v.fields["name"], path+".name", "%q is not a qube name", fp.Name)
	}
	rel, err := mirage.LookupRelease(fp.Release)
	if err != nil || rel.Version != fp.Release {
		return d.errorf(v.fields["release"], path+".release", "%q is not a release qfw knows", fp.Release)
	}
	prop := func(name string) string {
		for _, s := range fp.Want.Properties {
			if s.Name == name {
				return s.Value
			}
		}
		return ""
	}
	want, err := mirage.Desired(fp.Name, prop("kernel"), prop("netvm"), fp.Want.Label, rel)
	if err != nil || !reflect.DeepEqual(want, fp.Want) {
		return d.errorf(v.fields["want"], path+".want", "not the state qfw plans for the firewall qube %s of release %s", fp.Name, fp.Release)
	}
	for i, st := range fp.Steps {
		ms := mirage.Step{Name: st.Name, From: st.From, HasFrom: st.HasFrom, To: st.To}
		for _, op := range []mirage.Op{mirage.CreateQube, mirage.SetFeature, mirage.SetProperty, mirage.RestartQube} {
			if op.String() == st.Op {
				ms.Op = op
			}
		}
		if ms.Op == 0 || stepsJSON([]mirage.Step{ms})[0] != st {
			return d.errorf(v.fields["steps"].elems[i], index(path+".steps", i), "not a step written as qfw writes it")
		}
	}
	if k := fp.Kernel; k != nil {
		kv := v.fields["kernel"]
		switch {
		case !sha256Hex(k.SHA256):
			return d.errorf(kv, path+".kernel.sha256", "%q is not a SHA-256 hash in 64 lowercase hex digits", k.SHA256)
		case k.Target != filepath.Clean(k.Target) || !filepath.IsAbs(k.Target) ||
			filepath.Base(k.Target) != mirage.KernelFile || filepath.Base(filepath.Dir(k.Target)) != prop("kernel"):
			return d.errorf(kv, path+".kernel.target", "%q is not where dom0 keeps the kernel %s", k.Target, prop("kernel"))
		case k.Path == "" && (k.Install || k.Dom0Step != ""):
			return d.errorf(kv, path+".kernel", "installs no image, but says to install one")
		}
	}
	return nil
}

// controlString returns a string under v, and its path, that holds a
// control character, if any.
func (d *jsonDoc) controlString(v *jsonValue, path string) (*jsonValue, string, string, bool) {
	switch v.kind {
	case jsonString:
		if strings.IndexFunc(v.str, isControl) >= 0 {
			return v, path, v.str, true
		}
	case jsonArray:
		for i, e := range v.elems {
			if at, p, s, ok := d.controlString(e, index(path, i)); ok {
				return at, p, s, ok
			}
		}
	case jsonObject:
		for _, k := range v.keys {
			if at, p, s, ok := d.controlString(v.fields[k], join(path, k)); ok {
				return at, p, s, ok
			}
		}
	}
	return nil, "", "", false
}

// diagMessage returns a diagnostic's message alone.
func diagMessage(e cueerrors.Error) string {
	format, args := e.Msg()
	return fmt.Sprintf(format, args...)
}

// Summarise counts what p does.
func (p *Plan) Summarise() PlanSummary {
	var s PlanSummary
	for _, q := range p.Qubes {
		if q.Changed {
			s.Change++
		} else {
			s.Unchanged++
		}
		if q.Mark {
			s.Mark++
		}
		add, remove := q.EditCounts()
		s.Add += add
		s.Remove += remove
	}
	for i := range p.Firewalls {
		if p.Firewalls[i].Changes() {
			s.Provision++
		}
	}
	s.Left, s.Unmanaged = len(p.Left), len(p.Unmanaged)
	return s
}
