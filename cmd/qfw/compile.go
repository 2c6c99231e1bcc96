package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/backends/qubes"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/compiler/par"
	"github.com/qfw-dev/qfw/deploy"
)

const compileDoc = `compile compiles the policy and prints what each target needs:

  qubes     per qube, the rule list exactly as admin.vm.firewall.Set takes it
            (and as admin.vm.firewall.Get returns it), one rule per line.
  qubesdb   per firewall qube, the QubesDB entries dom0 writes for each of its
            clients and address families, in write order: the subtree
            removed, the policy, the rules by their index in the full list
            (gaps where a rule belongs to the other family or has expired),
            then the signal key.
  nftables  per firewall qube whose backend is nftables, the nft script of
            qfw's table for its clients (see qfw apply). Host names are
            resolved from the policy's resolve section: a name not pinned
            there is an error, as the table would block its family.
  mirage    per firewall qube whose backend is the unikernel, what its
            release makes of each client's list: the QubesDB entries it
            reads (the IPv4 rules up to the first gap in dom0's numbering),
            and for each rule how it is enforced, or why it is not.

With -o DIR each qube (target qubes) or firewall qube gets a file of its own
in DIR instead: <qube>.rules, <firewall>.qubesdb, <firewall>.nft or
<firewall>.mirage.

--qube is for --target qubes, --firewall for the other targets, and --dns
for --target nftables: given with another target, each is an error rather
than ignored.

Errors and warnings are those of vet. Output is byte-identical for the same
policy, inventory and --now.`

const compileExamples = `  # The rule lists of every managed qube.
  qfw compile

  # One qube's list, ready for admin.vm.firewall.Set.
  qfw compile --qube work

  # What dom0 would write into each firewall qube's QubesDB, as JSON.
  qfw compile --target qubesdb --json

  # One file per qube in ./out.
  qfw compile ./policy -o ./out

  # The nftables ruleset of sys-firewall.
  qfw compile --target nftables --firewall sys-firewall

  # How the unikernel firewall mirage-fw reads and enforces its clients' rules.
  qfw compile --target mirage --firewall mirage-fw`

type compileFlags struct {
	policyFlags
	target   targetValue
	qube     string
	firewall string
	dns      addrsValue
	json     bool
	outDir   string
}

func newCompileCmd() *cobra.Command {
	f := &compileFlags{target: targetQubes}
	cmd := &cobra.Command{
		Use:     "compile [DIR | FILE...]",
		Short:   "Compile a policy into Qubes rule lists, QubesDB entries, nftables scripts or the unikernel's reading",
		Long:    compileDoc,
		Example: compileExamples,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCompile(cmd, args, f)
		},
	}
	f.register(cmd)
	f.registerSkipTests(cmd)
	cmd.Flags().Var(&f.target, "target", "compile to `TARGET`: qubes, qubesdb, nftables or mirage")
	cmd.Flags().StringVar(&f.qube, "qube", "", "only this `QUBE` (target qubes)")
	cmd.Flags().StringVar(&f.firewall, "firewall", "", "only this firewall qube `NAME` (targets qubesdb, nftables and mirage)")
	cmd.Flags().Var(&f.dns, "dns", "the DNS servers' `ADDRS`, comma-separated, for the DNS target (target nftables; default: Qubes' virtual servers for a firewall qube with a netvm)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON")
	cmd.Flags().StringVarP(&f.outDir, "out", "o", "", "write one file per qube (or firewall qube) into `DIR`")
	return cmd
}

func runCompile(cmd *cobra.Command, args []string, f *compileFlags) error {
	res, err := build(cmd, args, &f.policyFlags, true)
	if err != nil {
		return err
	}
	prog := res.Program
	now := f.now.t
	var files []outFile
	switch f.target {
	case targetQubes:
		files, err = qubesFiles(prog, f.qube, f.json)
	case targetQubesDB:
		files, err = qubesDBFiles(prog, f.firewall, now.Unix(), f.json)
	case targetNftables:
		files, err = nftablesFiles(cmd, prog, f.firewall, f.dns.addrs, now.Unix())
	case targetMirage:
		files, err = mirageFiles(prog, f.firewall, res.mirage)
	}
	if err != nil {
		return err
	}
	if f.json {
		doc := map[string]any{"format_version": "1.0", "target": f.target.String()}
		items := make([]any, len(files))
		for i, of := range files {
			items[i] = of.json
		}
		doc[string(f.target.jsonKey())] = items
		if f.outDir != "" {
			b, err := json.MarshalIndent(doc, "", "  ")
			if err != nil {
				return err
			}
			return writeFiles(f.outDir, []outFile{{name: "qfw-" + f.target.String() + ".json", text: append(b, '\n')}})
		}
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	if f.outDir != "" {
		return writeFiles(f.outDir, files)
	}
	return printFiles(cmd.OutOrStdout(), files)
}

// outFile is the output for one qube or firewall qube.
type outFile struct {
	name   string // file name with -o
	header string // heading line when printed together
	text   []byte
	json   any
}

func printFiles(w io.Writer, files []outFile) error {
	var b bytes.Buffer
	for i, f := range files {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "# %s\n", f.header)
		b.Write(f.text)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeFiles writes each file into dir, each with writeFile.
func writeFiles(dir string, files []outFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.name), f.text); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes data to path whole or not at all, as deploy does.
func writeFile(path string, data []byte) error { return deploy.WriteFile(path, data) }

type ruleJSON struct {
	Line     string `json:"line"`
	Rule     string `json:"rule,omitempty"`
	Position string `json:"position,omitempty"`
}

// qubesFiles renders each managed qube's rule list, as text and, if
// withJSON, as JSON.
func qubesFiles(prog *ir.Program, only string, withJSON bool) ([]outFile, error) {
	files := make([]outFile, len(prog.Qubes))
	par.Each(len(files), func(i int) {
		if q := prog.Qubes[i]; only == "" || q.Name == only {
			files[i] = qubeFile(q, withJSON)
		}
	})
	var out []outFile
	for _, f := range files {
		if f.name != "" {
			out = append(out, f)
		}
	}
	if only != "" && out == nil {
		return nil, fmt.Errorf("--qube %s: no such qube in the policy", only)
	}
	return out, nil
}

// qubeFile is q's output: its rule list, and with JSON each rule's origin.
func qubeFile(q ir.Qube, withJSON bool) outFile {
	var rules []ruleJSON
	for _, r := range q.Rules {
		if withJSON {
			rj := ruleJSON{Line: qubes.FormatRule(r), Rule: r.Origin.String()}
			if r.Origin.Pos.IsValid() {
				rj.Position = deploy.RelPos(r.Origin.Pos)
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
	return outFile{
		name: q.Name + ".rules", header: header, text: []byte(qubes.Payload(q.Rules)),
		json: map[string]any{"name": q.Name, "netvm": q.Netvm, "rules": rules},
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
func qubesDBFiles(prog *ir.Program, only string, now int64, withJSON bool) ([]outFile, error) {
	byName := make(map[string]*ir.Qube, len(prog.Qubes))
	for i := range prog.Qubes {
		byName[prog.Qubes[i].Name] = &prog.Qubes[i]
	}
	var out []outFile
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
		out = append(out, outFile{
			name: fw.Name + ".qubesdb", header: fw.Name + " (" + fw.Backend.String() + ")", text: b.Bytes(),
			json: map[string]any{"name": fw.Name, "backend": fw.Backend.String(), "clients": clients},
		})
	}
	if only != "" && out == nil {
		return nil, fmt.Errorf("--firewall %s: no firewall qube of that name serves a managed qube", only)
	}
	return out, nil
}
