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

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/internal/jsonfile"
	"github.com/qfw-dev/qfw/internal/words"
	"github.com/qfw-dev/qfw/policy"
)

// A saved plan is applied exactly as it shows, or not at all. readPlan
// checks every field of the file on its own: each rule line passes the
// parser and the limits compile's output passes and is written as qfw
// writes it; the lines it sends are the lines its edits keep and add; its
// counts are its edits'. Apply then checks it against dom0 before any
// change: every qube exists, and for each qube still at its base_hash the
// edits are what replacing the live list with the rules does.

// readPlan reads the plan that plan --out saved in path.
func readPlan(path string) (*Plan, error) {
	b, err := jsonfile.ReadFile(path)
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
	d, root, err := jsonfile.Parse(name, data)
	if err != nil {
		return nil, err
	}
	if err := d.Object(root, "", planFields, planOptional); err != nil {
		return nil, err
	}
	p := &Plan{}
	fv := root.Fields["format_version"]
	if err := d.Want(fv, "format_version", jsonfile.Number); err != nil {
		return nil, err
	}
	if fv.Num != fmt.Sprint(planFormatVersion) {
		return nil, d.Errorf(fv, "format_version", "%s; this qfw reads plans of format %d: plan again with it", fv.Num, planFormatVersion)
	}
	p.FormatVersion = planFormatVersion
	qs := root.Fields["qubes"]
	if err := d.Want(qs, "qubes", jsonfile.Array); err != nil {
		return nil, err
	}
	p.Qubes = []QubePlan{}
	seen := map[string]int{}
	for i, qv := range qs.Elems {
		path := jsonfile.Index("qubes", i)
		q, err := readQubePlan(d, qv, path)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[q.Name]; dup {
			return nil, d.Errorf(qv.Fields["name"], path+".name", "qube %q is planned twice, also at qubes[%d]", q.Name, j)
		}
		seen[q.Name] = i
		p.Qubes = append(p.Qubes, q)
	}
	if fw, ok := root.Fields["firewalls"]; ok {
		if p.Firewalls, err = readFirewalls(d, fw); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		key  string
		into *[]string
	}{{"left", &p.Left}, {"unmanaged", &p.Unmanaged}} {
		v, ok := root.Fields[f.key]
		if !ok {
			continue
		}
		names, err := d.StringList(v, f.key)
		if err != nil {
			return nil, err
		}
		for i, n := range names {
			at := v.Elems[i]
			switch _, planned := seen[n]; {
			case !policy.IsQubeName(n):
				return nil, d.Errorf(at, jsonfile.Index(f.key, i), "%q is not a qube name", n)
			case slices.Contains(names[:i], n):
				return nil, d.Errorf(at, jsonfile.Index(f.key, i), "qube %q is named twice", n)
			case planned:
				return nil, d.Errorf(at, jsonfile.Index(f.key, i), "qube %q is planned in qubes too", n)
			case f.key == "unmanaged" && slices.Contains(p.Left, n):
				return nil, d.Errorf(at, jsonfile.Index(f.key, i), "qube %q is in left too", n)
			}
		}
		*f.into = names
	}
	sv := root.Fields["summary"]
	if err := d.Object(sv, "summary", summaryFields, summaryOpt); err != nil {
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
		v, ok := sv.Fields[f.key]
		if !ok {
			if *f.was != 0 {
				return nil, d.Errorf(sv, "summary", "no field %q, but the plan counts %d", f.key, *f.was)
			}
			continue
		}
		n, err := d.Integer(v, "summary."+f.key, 0, 1<<31-1)
		if err != nil {
			return nil, err
		}
		if n != *f.was {
			return nil, d.Errorf(v, "summary."+f.key, "%d, but the plan counts %d", n, *f.was)
		}
		*f.into = n
	}
	return p, nil
}

// QubePlan reads and checks one qube of a saved plan.
func readQubePlan(d *jsonfile.Doc, v *jsonfile.Value, path string) (QubePlan, error) {
	var q QubePlan
	if err := d.Object(v, path, qubeFields, qubeOptional); err != nil {
		return q, err
	}
	var err error
	if q.Name, err = qubeName(d, v.Fields["name"], path+".name"); err != nil {
		return q, err
	}
	if nv, ok := v.Fields["netvm"]; ok {
		if q.Netvm, err = qubeName(d, nv, path+".netvm"); err != nil {
			return q, err
		}
	}
	if q.BaseHash, err = d.SHA256(v.Fields["base_hash"], path+".base_hash"); err != nil {
		return q, err
	}
	if ev, ok := v.Fields["edited_outside_qfw_since"]; ok {
		at, err := d.Timestamp(ev, path+".edited_outside_qfw_since")
		if err != nil {
			return q, err
		}
		q.EditedAt = &at
	}
	if mv, ok := v.Fields["mark"]; ok {
		if q.Mark, err = d.Boolean(mv, path+".mark"); err != nil {
			return q, err
		}
	}
	cv := v.Fields["changed"]
	if q.Changed, err = d.Boolean(cv, path+".changed"); err != nil {
		return q, err
	}

	rv := v.Fields["rules"]
	if q.Rules, err = d.StringList(rv, path+".rules"); err != nil {
		return q, err
	}
	parsed := make([]ir.Rule, len(q.Rules))
	for i, line := range q.Rules {
		at, p := rv.Elems[i], jsonfile.Index(path+".rules", i)
		if c, ok := controlIn(line); ok {
			return q, d.Errorf(at, p, "%q holds the control character %q; a rule is one line", line, c)
		}
		r, err := qubes.ParseRule(line)
		if err != nil {
			return q, d.Errorf(at, p, "%v", err)
		}
		if f := qubes.FormatRule(r); f != line {
			return q, d.Errorf(at, p, "%q is not written as qfw writes it; want %q", line, f)
		}
		parsed[i] = r
	}
	// The limits that hold without the qube's addresses; apply checks
	// the rest with the addresses dom0 gives.
	if errs := qubes.Check(ir.Qube{Name: q.Name, Rules: parsed}); len(errs) > 0 {
		return q, d.Errorf(rv, path+".rules", "%s", diagMessage(errs[0]))
	}

	ev := v.Fields["edits"]
	if err := d.Want(ev, path+".edits", jsonfile.Array); err != nil {
		return q, err
	}
	q.Edits = []PlanEdit{}
	sent := 0
	for i, e := range ev.Elems {
		p := jsonfile.Index(path+".edits", i)
		pe, err := readPlanEdit(d, e, p)
		if err != nil {
			return q, err
		}
		q.Edits = append(q.Edits, pe)
		if pe.Op == qubes.RemoveRule.Symbol() {
			continue
		}
		if sent >= len(q.Rules) {
			return q, d.Errorf(e, p, "the edits keep and add more lines than the %s the plan sends", words.Count(len(q.Rules), "rule"))
		}
		if pe.Line != q.Rules[sent] {
			return q, d.Errorf(e, p+".line", "%q is shown, but rules[%d], which the plan sends in its place, is %q", pe.Line, sent, q.Rules[sent])
		}
		sent++
	}
	if sent < len(q.Rules) {
		return q, d.Errorf(rv.Elems[sent], jsonfile.Index(path+".rules", sent), "the plan sends %q, which no edit shows", q.Rules[sent])
	}
	add, remove := q.editCounts()
	switch changes := add+remove > 0; {
	case q.Changed != changes:
		return q, d.Errorf(cv, path+".changed", "%t, but the edits %s", q.Changed, map[bool]string{true: "add or remove lines", false: "only keep lines"}[changes])
	case q.Changed && len(q.Rules) == 0:
		return q, d.Errorf(rv, path+".rules", "no rules; dom0 refuses an empty list")
	}
	return q, nil
}

// PlanEdit reads one edit of a saved plan.
func readPlanEdit(d *jsonfile.Doc, v *jsonfile.Value, path string) (PlanEdit, error) {
	var pe PlanEdit
	if err := d.Object(v, path, editFields, editOptional); err != nil {
		return pe, err
	}
	for _, f := range []struct {
		key  string
		into *string
	}{{"op", &pe.Op}, {"line", &pe.Line}, {"rule", &pe.Rule}, {"position", &pe.Position}, {"note", &pe.Note}} {
		fv, ok := v.Fields[f.key]
		if !ok {
			continue
		}
		s, err := d.Str(fv, path+"."+f.key)
		if err != nil {
			return pe, err
		}
		// What the plan shows must not move the terminal's cursor or
		// hide a line.
		if c, ok := controlIn(s); ok {
			return pe, d.Errorf(fv, path+"."+f.key, "%q holds the control character %q", s, c)
		}
		*f.into = s
	}
	switch pe.Op {
	case qubes.KeepRule.Symbol(), qubes.AddRule.Symbol(), qubes.RemoveRule.Symbol():
	default:
		return pe, d.Errorf(v.Fields["op"], path+".op", "%q; want \"~\" (keep), \"+\" (add) or \"-\" (remove)", pe.Op)
	}
	if pe.Op == qubes.RemoveRule.Symbol() {
		if _, err := qubes.ParseDom0Rule(pe.Line); err != nil {
			return pe, d.Errorf(v.Fields["line"], path+".line", "dom0 refuses this line, so no list holds it: %v", err)
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
func qubeName(d *jsonfile.Doc, v *jsonfile.Value, path string) (string, error) {
	s, err := d.Str(v, path)
	if err != nil {
		return "", err
	}
	if !policy.IsQubeName(s) {
		return "", d.Errorf(v, path, "%q is not a qube name: %s", s, QubeNameRule)
	}
	return s, nil
}

// firewalls reads the unikernel firewall plans of a saved plan, refusing
// fields qfw does not write; apply plans their steps again from their
// wanted state.
func readFirewalls(d *jsonfile.Doc, v *jsonfile.Value) ([]FirewallPlan, error) {
	if err := d.Want(v, "firewalls", jsonfile.Array); err != nil {
		return nil, err
	}
	// The fields first, by their exact names: Go's decoder would also
	// take "Name" or "NAME" for "name".
	for i, e := range v.Elems {
		path := jsonfile.Index("firewalls", i)
		if err := d.Object(e, path, firewallFields, []string{"kernel"}); err != nil {
			return nil, err
		}
		if err := d.Object(e.Fields["want"], path+".want", wantFields, nil); err != nil {
			return nil, err
		}
		if k, ok := e.Fields["kernel"]; ok {
			if err := d.Object(k, path+".kernel", kernelFields, kernelOptional); err != nil {
				return nil, err
			}
		}
		want := e.Fields["want"]
		for _, list := range []struct {
			v                  *jsonfile.Value
			path               string
			required, optional []string
		}{
			{e.Fields["steps"], path + ".steps", stepFields, stepOptional},
			{want.Fields["Features"], path + ".want.Features", settingFields, nil},
			{want.Fields["Properties"], path + ".want.Properties", settingFields, nil},
		} {
			if err := d.Want(list.v, list.path, jsonfile.Array); err != nil {
				return nil, err
			}
			for j, sv := range list.v.Elems {
				if err := d.Object(sv, jsonfile.Index(list.path, j), list.required, list.optional); err != nil {
					return nil, err
				}
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(d.Raw(v)))
	dec.DisallowUnknownFields()
	var fps []FirewallPlan
	if err := dec.Decode(&fps); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			off := v.Off + int(typ.Offset) - 1
			path := "firewalls"
			for i, e := range v.Elems {
				if e.Off <= off && off < e.End {
					path = jsonfile.Index(path, i)
				}
			}
			if typ.Field != "" {
				path = jsonfile.Join(path, typ.Field)
			}
			return nil, d.At(off, path, "want %s", kindWords(typ.Type.Kind()))
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, d.Errorf(v, "firewalls", "unknown field %s", field)
		}
		return nil, d.Errorf(v, "firewalls", "not a firewall plan qfw writes")
	}
	// What the plan shows must not move the terminal's cursor or hide a
	// line: the kernel's paths and the dom0 step are shown as they are.
	if at, path, s, ok := controlString(d, v, "firewalls"); ok {
		c, _ := controlIn(s)
		return nil, d.Errorf(at, path, "%q holds the control character %q", s, c)
	}
	for i := range fps {
		path := jsonfile.Index("firewalls", i)
		if err := readFirewallPlan(d, v.Elems[i], path, &fps[i]); err != nil {
			return nil, err
		}
		for j := range fps[:i] {
			switch ki, kj := fps[i].Kernel, fps[j].Kernel; {
			case fps[j].Name == fps[i].Name:
				return nil, d.Errorf(v.Elems[i].Fields["name"], path+".name", "firewall qube %q is planned twice, also at firewalls[%d]", fps[i].Name, j)
			case ki != nil && kj != nil && ki.Target == kj.Target && ki.SHA256 != kj.SHA256:
				// Each would replace the other's image.
				return nil, d.Errorf(v.Elems[i].Fields["kernel"], path+".kernel", "another image in %s than firewalls[%d] wants there", ki.Target, j)
			}
		}
	}
	return fps, nil
}

// kindWords names the JSON values that decode into a Go value of kind k.
func kindWords(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return jsonfile.Bool.String()
	case reflect.String:
		return jsonfile.String.String()
	case reflect.Slice, reflect.Array:
		return jsonfile.Array.String()
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return jsonfile.Object.String()
	}
	return jsonfile.Number.String()
}

// FirewallPlan checks one unikernel firewall plan: apply brings the qube
// it names to its wanted state, so that state must be the one qfw plans
// for that qube, release, kernel, netvm and label, and its steps must be
// written as qfw writes them. Apply plans the steps again, against the
// qube as it is then, and refuses any that the plan does not show.
func readFirewallPlan(d *jsonfile.Doc, v *jsonfile.Value, path string, fp *FirewallPlan) error {
	if !policy.IsQubeName(fp.Name) {
		return d.Errorf(v.Fields["name"], path+".name", "%q is not a qube name", fp.Name)
	}
	rel, err := mirage.LookupRelease(fp.Release)
	if err != nil || rel.Version != fp.Release {
		return d.Errorf(v.Fields["release"], path+".release", "%q is not a release qfw knows", fp.Release)
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
		return d.Errorf(v.Fields["want"], path+".want", "not the state qfw plans for the firewall qube %s of release %s", fp.Name, fp.Release)
	}
	for i, st := range fp.Steps {
		ms := mirage.Step{Name: st.Name, From: st.From, HasFrom: st.HasFrom, To: st.To}
		for _, op := range []mirage.Op{mirage.CreateQube, mirage.SetFeature, mirage.SetProperty, mirage.RestartQube} {
			if op.String() == st.Op {
				ms.Op = op
			}
		}
		if ms.Op == 0 || stepsJSON([]mirage.Step{ms})[0] != st {
			return d.Errorf(v.Fields["steps"].Elems[i], jsonfile.Index(path+".steps", i), "not a step written as qfw writes it")
		}
	}
	if k := fp.Kernel; k != nil {
		kv := v.Fields["kernel"]
		switch {
		case !jsonfile.IsSHA256(k.SHA256):
			return d.Errorf(kv, path+".kernel.sha256", "%q is not a SHA-256 hash in 64 lowercase hex digits", k.SHA256)
		case k.Target != filepath.Clean(k.Target) || !filepath.IsAbs(k.Target) ||
			filepath.Base(k.Target) != mirage.KernelFile || filepath.Base(filepath.Dir(k.Target)) != prop("kernel"):
			return d.Errorf(kv, path+".kernel.target", "%q is not where dom0 keeps the kernel %s", k.Target, prop("kernel"))
		case k.Path == "" && (k.Install || k.Dom0Step != ""):
			return d.Errorf(kv, path+".kernel", "installs no image, but says to install one")
		}
	}
	return nil
}

// controlString returns a string under v, and its path, that holds a
// control character, if any.
func controlString(d *jsonfile.Doc, v *jsonfile.Value, path string) (*jsonfile.Value, string, string, bool) {
	switch v.Kind {
	case jsonfile.String:
		if strings.IndexFunc(v.Str, isControl) >= 0 {
			return v, path, v.Str, true
		}
	case jsonfile.Array:
		for i, e := range v.Elems {
			if at, p, s, ok := controlString(d, e, jsonfile.Index(path, i)); ok {
				return at, p, s, ok
			}
		}
	case jsonfile.Object:
		for _, k := range v.Keys {
			if at, p, s, ok := controlString(d, v.Fields[k], jsonfile.Join(path, k)); ok {
				return at, p, s, ok
			}
		}
	}
	return nil, "", "", false
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
		add, remove := q.editCounts()
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
