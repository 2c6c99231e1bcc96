// Package deploy is qfw's workflow as a library, above the backends it
// drives:
//
//   - [Build] loads, compiles and checks a policy: the compiler's checks,
//     the unikernel firewalls' and qubesd's, and the policy's tests.
//     [Built.RunTests] runs the tests alone, for qfw test: its
//     [TestReport] writes them as text, annotations or JSON.
//   - [MakePlan] compares each managed qube's compiled list with the one
//     dom0 holds (through the Admin API, or from state files), with the
//     unikernel firewall qubes to provision; [Plan.WriteText] writes it
//     for a reader, and [MarshalPlan] saves it.
//   - [Apply] puts a plan in force through the Admin API, one
//     admin.vm.firewall.Set per qube, refusing a stale plan; with a
//     confirm timeout it puts every qube back unless [Confirm] runs.
//     [Admin.ReadSavedPlan] reads a saved plan back to apply, checked
//     field by field, and [ApplyOptions.WriteLeft] says what apply does to
//     the qubes that left the policy.
//   - [PrepareNftables] lowers a firewall qube's nftables table and
//     [NftablesApply.Apply] puts it in force in one netlink transaction.
//   - [Import] writes the lists qubes have now as a policy that compiles
//     back to them; [Admin.ReadInventory] reads the machine's inventory.
//   - [Compile] renders what a [Target] makes of a built policy, the files
//     of qfw compile: each qube's rule list, each firewall qube's QubesDB
//     entries, nft script or unikernel's reading; [WriteText],
//     [MarshalFiles] and [WriteFiles] print them, as JSON, or into a
//     directory.
//   - [QrexecPolicy] writes dom0's qrexec policy that lets a management
//     qube do what qfw does for a built policy, and nothing more.
//
// deploy never writes to the standard streams: what a workflow reports on
// the way goes to the [io.Writer] its options name, and results and
// errors are returned for the command line to print. Errors name the
// options by the flags of qfw that set them (--state, --plan, --qube), as
// the command line passes them on unchanged.
package deploy
