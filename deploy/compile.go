package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qfw-dev/qfw/backends/mirage"
	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/par"
	"github.com/qfw-dev/qfw/internal/workdir"
)

// Target is what [Compile] renders a built policy for.
type Target uint8

const (
	// TargetQubes renders each managed qube's rule list, as dom0 stores
	// it.
	TargetQubes Target = iota
	// TargetQubesDB renders the QubesDB entries dom0 writes into each
	// firewall qube.
	TargetQubesDB
	// TargetNftables renders the nft script of each nftables firewall
	// qube.
	TargetNftables
	// TargetMirage renders what each unikernel firewall qube's release
	// makes of its clients' lists.
	TargetMirage
)

// Targets are the targets, in the order qfw lists them.
var Targets = []Target{TargetQubes, TargetQubesDB, TargetNftables, TargetMirage}

var targetNames = [...]string{TargetQubes: "qubes", TargetQubesDB: "qubesdb", TargetNftables: "nftables", TargetMirage: "mirage"}

// String is the target's name, as --target takes it.
func (t Target) String() string { return targetNames[t] }

// CompileOptions say what [Compile] renders.
type CompileOptions struct {
	Target Target
	// Qube, for TargetQubes, and Firewall, for the other targets, name
	// the one qube or firewall qube to render; empty for all.
	Qube, Firewall string
	// DNS, if not nil, are the DNS servers of TargetNftables' firewall
	// qubes, in place of Qubes' virtual ones.
	DNS []netip.Addr
	// JSON renders each file's JSON too, for [MarshalFiles].
	JSON bool
	// Now judges rule expiry.
	Now time.Time
	// Warnings gets what TargetNftables warns of.
	Warnings io.Writer
}

// Compile renders what o.Target makes of the built policy res: a file
// for each qube or firewall qube, the output of qfw compile.
func Compile(res *Built, o *CompileOptions) ([]OutFile, error) {
	switch o.Target {
	case TargetQubes:
		return qubesFiles(res.Program, o.Qube, o.JSON)
	case TargetQubesDB:
		return qubesDBFiles(res.Program, o.Firewall, o.Now.Unix(), o.JSON)
	case TargetNftables:
		return nftablesFiles(res.Program, o.Firewall, o.DNS, o.Now.Unix(), o.Warnings)
	case TargetMirage:
		return mirageFiles(res.Program, o.Firewall, res.Mirage)
	}
	return nil, fmt.Errorf("no target %d", o.Target)
}

// MarshalFiles returns the JSON document of qfw compile --json for the
// files of target t, rendered with their JSON: the format version, the
// target, and each file's JSON under "qubes" for TargetQubes, under
// "firewalls" for the others. It ends in a newline.
func MarshalFiles(t Target, files []OutFile) ([]byte, error) {
	items := make([]any, len(files))
	for i, f := range files {
		items[i] = f.JSON
	}
	key := "firewalls"
	if t == TargetQubes {
		key = "qubes"
	}
	b, err := json.MarshalIndent(map[string]any{"format_version": "1.0", "target": t.String(), key: items}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteText writes files as qfw compile prints them: each file's text
// under a "# header" line, with a blank line between files.
func WriteText(w io.Writer, files []OutFile) error {
	var b bytes.Buffer
	for i, f := range files {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "# %s\n", f.Header)
		b.Write(f.Text)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// OutFile is what qfw compile writes for one qube or firewall qube:
// a file of -o DIR, a section of its output, an element of its JSON.
type OutFile struct {
	Name   string // file name with -o
	Header string // heading line when printed together
	Text   []byte
	JSON   any
}

// WriteFiles writes each file into dir, each with [WriteFile].
func WriteFiles(dir string, files []OutFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	for _, f := range files {
		if err := WriteFile(filepath.Join(dir, f.Name), f.Text); err != nil {
			return err
		}
	}
	return nil
}

type ruleJSON struct {
	Line     string `json:"line"`
	Rule     string `json:"rule,omitempty"`
	Position string `json:"position,omitempty"`
}

// qubesFiles renders each managed qube's rule list, as text and, if
// withJSON, as JSON.
func qubesFiles(prog *ir.Program, only string, withJSON bool) ([]OutFile, error) {
	files := make([]OutFile, len(prog.Qubes))
	par.Each(len(files), func(i int) {
		if q := prog.Qubes[i]; only == "" || q.Name == only {
			files[i] = qubeFile(q, withJSON)
		}
	})
	var out []OutFile
	for _, f := range files {
		if f.Name != "" {
			out = append(out, f)
		}
	}
	if only != "" && out == nil {
		return nil, fmt.Errorf("--qube %s: no such qube in the policy", only)
	}
	return out, nil
}

// qubeFile is q's output: its rule list, and with JSON each rule's origin.
func qubeFile(q ir.Qube, withJSON bool) OutFile {
	var rules []ruleJSON
	for _, r := range q.Rules {
		if withJSON {
			rj := ruleJSON{Line: qubes.FormatRule(r), Rule: r.Origin.String()}
			if r.Origin.Pos.IsValid() {
				rj.Position = workdir.Pos(r.Origin.Pos)
			}
			rules = append(rules, rj)
		}
	}
	header := q.Name
	if q.Netvm != "" {
		header += " (netvm " + q.Netvm + ")"
	} else {
		header += " (no netvm)"
	}
	return OutFile{
		Name: q.Name + ".rules", Header: header, Text: []byte(qubes.Payload(q.Rules)),
		JSON: map[string]any{"name": q.Name, "netvm": q.Netvm, "rules": rules},
	}
}

type entryJSON struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

type clientJSON struct {
	Qube    string      `json:"qube"`
	Address string      `json:"address"`
	Entries []entryJSON `json:"entries"`
}

// qubesDBFiles renders, for each firewall qube, the QubesDB entries dom0
// writes for its managed clients: per client, IPv4 then IPv6.
func qubesDBFiles(prog *ir.Program, only string, now int64, withJSON bool) ([]OutFile, error) {
	byName := make(map[string]*ir.Qube, len(prog.Qubes))
	for i := range prog.Qubes {
		byName[prog.Qubes[i].Name] = &prog.Qubes[i]
	}
	var out []OutFile
	for _, fw := range prog.Firewalls {
		if only != "" && fw.Name != only {
			continue
		}
		var b bytes.Buffer
		clients := []clientJSON{}
		for _, name := range fw.Clients {
			q := byName[name]
			for _, ip := range []netip.Addr{q.IP, q.IP6} {
				entries := qubes.Entries(ip, q.Rules, now)
				if entries == nil {
					continue
				}
				fmt.Fprintf(&b, "# %s %s\n", q.Name, ip)
				cj := clientJSON{Qube: q.Name, Address: ip.String()}
				for _, e := range entries {
					b.WriteString(e.String())
					b.WriteByte('\n')
					if withJSON {
						cj.Entries = append(cj.Entries, entryJSON{Op: e.Op.String(), Path: e.Path, Value: e.Value})
					}
				}
				clients = append(clients, cj)
			}
		}
		out = append(out, OutFile{
			Name: fw.Name + ".qubesdb", Header: fw.Name + " (" + fw.Backend.String() + ")", Text: b.Bytes(),
			JSON: map[string]any{"name": fw.Name, "backend": fw.Backend.String(), "clients": clients},
		})
	}
	if only != "" && out == nil {
		return nil, fmt.Errorf("--firewall %s: no firewall qube of that name serves a managed qube", only)
	}
	return out, nil
}

// mirageFiles returns, for each unikernel firewall qube (or the one only
// names), what its release makes of each client's list, as lowered holds
// it by qube Name: the release's notes, the QubesDB entries it reads, and
// how it enforces each rule.
func mirageFiles(prog *ir.Program, only string, lowered map[string]*mirage.Lowering) ([]OutFile, error) {
	fws, err := backendFirewalls(prog, only, ir.Mirage, fmt.Sprintf("{mirage: {version: %q}}", mirage.Latest))
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*ir.Qube, len(prog.Qubes))
	for i := range prog.Qubes {
		byName[prog.Qubes[i].Name] = &prog.Qubes[i]
	}
	var out []OutFile
	for _, fw := range fws {
		// The release was checked by prepareMirage.
		rel, err := mirage.LookupRelease(fw.MirageVersion)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "# qubes-mirage-firewall %s:\n", rel.Version)
		for _, n := range rel.Notes() {
			fmt.Fprintf(&b, "#   %s\n", n)
		}
		clients := []any{}
		for _, name := range fw.Clients {
			q := byName[name]
			if !q.IP.Is4() {
				fmt.Fprintf(&b, "\n# %s has no IPv4 address: the unikernel reads no rules for it and passes none of its traffic\n", q.Name)
				continue
			}
			l := lowered[q.Name]
			if l == nil {
				return nil, fmt.Errorf("internal error: the list of %s was not lowered for %s", q.Name, fw.Name)
			}
			fmt.Fprintf(&b, "\n# %s %s\n", q.Name, q.IP)
			entries := make([]any, len(l.Entries))
			for i, e := range l.Entries {
				b.WriteString(e.String() + "\n")
				entries[i] = map[string]string{"path": e.Key, "value": e.Value}
			}
			rules := make([]any, len(l.Rules))
			for i, rep := range l.Rules {
				r := q.Rules[rep.Index]
				fmt.Fprintf(&b, "#   %d. %s: %s\n", rep.Index+1, ruleLabel(r), rep.How)
				rules[i] = map[string]any{
					"index": rep.Index, "rule": r.Origin.String(), "line": mirage.FormatRule(r),
					"key": rep.Key, "status": rep.Status.String(), "how": rep.How,
				}
			}
			clients = append(clients, map[string]any{"qube": q.Name, "address": q.IP.String(), "entries": entries, "rules": rules})
		}
		out = append(out, OutFile{
			Name: fw.Name + ".mirage", Header: fw.Name + " (mirage " + rel.Version + ")", Text: b.Bytes(),
			JSON: map[string]any{"name": fw.Name, "backend": "mirage", "release": rel.Version, "notes": rel.Notes(), "clients": clients},
		})
	}
	return out, nil
}

// ruleLabel names a compiled rule: its policy rule and its line in the
// unikernel's dialect.
func ruleLabel(r ir.Rule) string {
	line := mirage.FormatRule(r)
	if r.Origin.Name == "" {
		return line
	}
	return r.Origin.String() + " (" + strings.TrimPrefix(line, "action=") + ")"
}
