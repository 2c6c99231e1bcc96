package deploy

// CheckInventoryOut checks that --out, if it exists, is an inventory file:
// given the policy, a plan or a state file in its place, inventory would
// replace it.
func CheckInventoryOut(path string) error {
	return checkOutFile(path, "an inventory, which is all inventory replaces", "without -o the inventory goes to the standard output", func(root *jsonValue) bool {
		return len(root.fields) == 1 && root.fields["qubes"] != nil
	})
}
