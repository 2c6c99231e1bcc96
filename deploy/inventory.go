package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi"
	"github.com/qfw-dev/qfw/internal/jsonfile"
	"github.com/qfw-dev/qfw/policy"
)

// CheckInventoryOut checks that --out, if it exists, is an inventory file:
// given the policy, a plan or a state file in its place, inventory would
// replace it.
func CheckInventoryOut(path string) error {
	return checkOutFile(path, "an inventory, which is all inventory replaces", "without -o the inventory goes to the standard output", func(root *jsonfile.Value) bool {
		return len(root.Fields) == 1 && root.Fields["qubes"] != nil
	})
}

// ReadInventory reads, through the Admin API, what qfw needs to know of
// every qube the caller may see, and returns it as an inventory file,
// JSON. What qubesd says is checked as an inventory file is, so that a
// file written from it loads: the errors of that check come as a cue
// errors.Error.
func (a Admin) ReadInventory(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	_, b, err := readInventory(ctx, a.Client())
	return b, err
}

// readInventory reads the inventory through client and checks it; it
// returns it, and as the JSON of an inventory file.
func readInventory(ctx context.Context, client *adminapi.Client) (*policy.InventoryFile, []byte, error) {
	inv, err := client.Inventory(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the inventory: %w", err)
	}
	if errs := policy.CheckInventory(inv); errs != nil {
		return nil, nil, errs
	}
	b, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return inv, append(b, '\n'), nil
}
