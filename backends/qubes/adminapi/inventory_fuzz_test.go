package adminapi_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/policy"
)

// answers is a Transport that answers admin.vm.List with list, every
// property.Get with property (prefixed with "default=False type=str "
// unless it starts with "default="), and tag.List with tags.
type answers struct{ list, property, tags string }

func (a answers) RoundTrip(_ context.Context, r *adminapi.Request) ([]byte, error) {
	switch r.Method {
	case "admin.vm.List":
		return adminapi.OK([]byte(a.list)), nil
	case "admin.vm.property.Get":
		p := a.property
		if !strings.HasPrefix(p, "default=") {
			p = "default=False type=str " + p
		}
		return adminapi.OK([]byte(p)), nil
	case "admin.vm.tag.List":
		return adminapi.OK([]byte(a.tags)), nil
	}
	return adminapi.Raise("QubesException", "unexpected call"), nil
}

// FuzzInventory checks how qfw inventory reads the Admin API's answers:
// every qube that admin.vm.List names is in the inventory, under the name
// as listed, unless it is dom0 or a remote qube, and nothing else is; and
// the file qfw inventory writes from it reads back as written. A list that
// names a qube twice is an error, not one of the two.
// (FuzzLoadInventory in policy checks what qfw makes of such a file.)
func FuzzInventory(f *testing.F) {
	f.Add("dom0 class=AdminVM state=Running\nsys-net class=AppVM state=Running\nwork class=AppVM state=Halted uuid=x\n", "10.137.0.5", "corp\ninternet-only\n")
	f.Add("work class=AppVM\nwork class=DispVM\n", "default=True type=vm sys-firewall", "")
	f.Add("  \nbad/name class=AppVM\n", "", "\n")
	f.Add("work\x00 class=AppVM\n", "default=False", "a b\n")
	f.Fuzz(func(t *testing.T, list, property, tags string) {
		c := &adminapi.Client{Transport: answers{list, property, tags}}
		inv, err := c.Inventory(context.Background())
		want := map[string]bool{}
		for line := range strings.SplitSeq(strings.TrimSuffix(list, "\n"), "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 {
				continue
			}
			if _, twice := want[fields[0]]; twice && err == nil {
				t.Fatalf("Inventory takes the list %q, which names %q twice", list, fields[0])
			}
			class := ""
			for _, f := range fields[1:] {
				if v, ok := strings.CutPrefix(f, "class="); ok {
					class = v
				}
			}
			want[fields[0]] = class != "AdminVM" && class != "RemoteVM"
		}
		if err != nil {
			return
		}
		for name := range inv.Qubes {
			if !want[name] {
				t.Fatalf("inventory of %q has qube %q, which the list does not name", list, name)
			}
		}
		for name, in := range want {
			if _, ok := inv.Qubes[name]; in && !ok {
				t.Fatalf("inventory of %q leaves out qube %q", list, name)
			}
		}

		b, err := json.MarshalIndent(inv, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		var back policy.InventoryFile
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, inv) {
			t.Fatalf("inventory %s does not read back as written: %v", b, err)
		}
	})
}
