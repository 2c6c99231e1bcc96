package nftables_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"

	"github.com/qfw-dev/qfw/backends/nftables"
	"github.com/qfw-dev/qfw/compiler"
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/policy"
)

// TestLowerGolden compiles each testdata/*.txtar policy and lowers the
// clients of each firewall qube with the nftables backend: out/<name>.nft
// is the nft script, out/blocked the rules to names without an address
// (which make their chain fail closed, or match nothing). Every script
// must pass nft -c. QFW_UPDATE=1 rewrites the outputs.
func TestLowerGolden(t *testing.T) {
	archives, _ := filepath.Glob("testdata/*.txtar")
	if len(archives) == 0 {
		t.Fatal("no archives")
	}
	for _, path := range archives {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := lowerArchive(t, ar)
			update := os.Getenv("QFW_UPDATE") != ""
			var kept []txtar.File
			for _, f := range ar.Files {
				if !strings.HasPrefix(f.Name, "out/") {
					kept = append(kept, f)
					continue
				}
				if _, ok := got[f.Name]; !ok && !update {
					t.Errorf("%s: expected, not produced", f.Name)
				}
			}
			for _, name := range slices.Sorted(maps.Keys(got)) {
				want := fileData(ar, name)
				if !update && !bytes.Equal(got[name], want) {
					t.Errorf("%s differs.\ngot:\n%s\nwant:\n%s", name, got[name], want)
				}
				kept = append(kept, txtar.File{Name: name, Data: got[name]})
				if strings.HasSuffix(name, ".nft") {
					nftCheck(t, got[name])
				}
			}
			if update {
				ar.Files = kept
				if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func lowerArchive(t *testing.T, ar *txtar.Archive) map[string][]byte {
	dir := t.TempDir()
	for _, f := range ar.Files {
		if !strings.HasPrefix(f.Name, "out/") {
			if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	p, errs := policy.Load(policy.Config{Args: []string{dir}})
	if errs != nil {
		t.Fatal(errs)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	res, cerrs := compiler.Compile(p, compiler.Options{Now: now})
	if cerrs != nil {
		t.Fatal(cerrs)
	}
	out := map[string][]byte{}
	var blocked bytes.Buffer
	for _, fw := range res.Program.Firewalls {
		if fw.Backend != ir.Nftables {
			continue
		}
		opts := nftables.DefaultOptions(fw)
		opts.Resolver = eval.Table(res.Program.Resolve)
		table, b := nftables.Lower(nftables.Clients(res.Program, fw.Name, now.Unix()), opts)
		out["out/"+fw.Name+".nft"] = table.Text()
		for _, x := range b {
			what := "the chain rejects everything"
			if x.Skipped {
				what = "the accept matches nothing"
			}
			fmt.Fprintf(&blocked, "%s: %s IPv%d: %s (rule %d): %s\n", fw.Name, x.Client, x.Family, x.Host, x.Rule, what)
		}
	}
	if blocked.Len() > 0 {
		out["out/blocked"] = blocked.Bytes()
	}
	return out
}

// nftCheck runs nft -c on script in a network namespace of its own.
func nftCheck(t *testing.T, script []byte) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("nft -c needs root")
		}
		t.Log("not root: nft -c skipped")
		return
	}
	cmd := exec.Command("unshare", "--net", "nft", "-c", "-f", "-")
	cmd.Stdin = bytes.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("nft -c: %v\n%s", err, out)
	}
}

func fileData(ar *txtar.Archive, name string) []byte {
	for _, f := range ar.Files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}
