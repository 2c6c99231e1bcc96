package main

import (
	"fmt"

	cueerrors "cuelang.org/go/cue/errors"
	"github.com/spf13/cobra"

	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/policy/diagnostic"
)

const importDoc = `import writes the rule lists qubes have now as a qfw policy: the way to
adopt qfw on a machine whose firewall is already set up with qvm-firewall
or the Qube Manager.

Each line of a qube's list becomes one rule, kept in place by its priority
(10, 20, 30, ...), so the policy compiles back to exactly the same lists:
order, destinations, ports, ICMP types, expiry and comments. import checks
that before it writes anything, by compiling what it wrote, behind the
backend each firewall qube runs: the Linux agent unless --firewall says
otherwise (the section goes into the policy). A qube holding a line the
policy language cannot say, or that its firewall's backend would write
otherwise, is left out and reported at that line, with the reason. A rule
that earlier rules leave without effect is kept, marked shadowed: true.

An empty list (dom0 holds one when every rule has expired, or after an edit
of its firewall.xml) blocks all the qube's traffic: import writes the qube
with no rules, which blocks it too and compiles to action=drop
comment=no-rules, since dom0 takes no empty list; plan shows that line to
add.

qubesd takes at most 65536 bytes for one request, header and list, and the
header holds the caller's name: dom0 through the socket, the management
qube's through qrexec. A list over the limit for the caller that will set
it (dom0, or with --qrexec, also beside --state, a qube whose name has the
longest length, 31 characters) is reported at the first rule that does not
fit.

The lists come from the Admin API (the qubesd socket in dom0, or
qrexec-client-vm with --qrexec from a management qube), which also gives the
inventory, written to --inventory (default DIR/inventory.json); or, with
--state, from files: a directory of QUBE.rules or a JSON file {"qubes":
{"QUBE": [lines]}}, with the inventory read from --inventory (default
DIR/inventory.json). Export the lines as admin.vm.firewall.Get gives them:
qvm-firewall --raw list leaves out dst4=0.0.0.0/0 and dst6=::/0, which keep
a rule to one family, so a list it wrote imports wider than it is.

The policy goes to DIR/qubes.cue, or with --per-qube to one file per qube,
DIR/qube-NAME.cue. import does not overwrite files unless --force.`

const importExamples = `  # In dom0: import every qube's list, and the inventory.
  qfw import -o policy/

  # From exported lists, one file per qube.
  qfw import --state state/ --inventory inventory.json --per-qube -o policy/

  # Only two qubes, from a management qube.
  qfw import --qrexec --qube work --qube banking -o policy/

  # Checked behind the backends the firewall qubes run.
  qfw import --firewall sys-firewall=nftables --firewall mirage-fw=mirage:0.9.5 -o policy/`

type importFlags struct {
	admin adminFlags
	deploy.ImportOptions
}

func newImportCmd() *cobra.Command {
	f := &importFlags{}
	cmd := &cobra.Command{
		Use:     "import -o DIR",
		Short:   "Write the rule lists qubes have now as a policy that compiles back to them",
		Long:    importDoc,
		Example: importExamples,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd, f)
		},
	}
	f.admin.register(cmd)
	cmd.Flags().StringVar(&f.State, "state", "", "read the lists from `PATH`, a directory of QUBE.rules files or a JSON file, instead of the Admin API")
	cmd.Flags().StringVar(&f.Inventory, "inventory", "", "the inventory `FILE`: read with --state, written from the Admin API otherwise (default DIR/inventory.json)")
	cmd.Flags().StringArrayVar(&f.Qubes, "qube", nil, "import the qube `NAME` only (repeatable)")
	cmd.Flags().StringArrayVar(&f.Firewalls, "firewall", nil, "the backend a firewall qube runs, as `NAME=BACKEND`: qubes (the Linux agent, the default), nftables, or mirage:VERSION (repeatable)")
	cmd.Flags().StringVarP(&f.Out, "out", "o", "", "write the policy into `DIR`")
	cmd.Flags().BoolVar(&f.PerQube, "per-qube", false, "write one file per qube, qube-NAME.cue, instead of qubes.cue")
	cmd.Flags().StringVar(&f.Package, "package", "policy", "the CUE `NAME` of the policy's package")
	cmd.Flags().BoolVar(&f.Force, "force", false, "overwrite files that exist")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runImport(cmd *cobra.Command, f *importFlags) error {
	f.Admin = f.admin.Admin
	res, err := deploy.Import(cmd.Context(), &f.ImportOptions)
	if res != nil {
		for _, p := range res.Problems {
			fmt.Fprintf(cmd.ErrOrStderr(), "qfw: not imported: %v\n", p)
		}
	}
	if ce, ok := err.(cueerrors.Error); ok {
		diagnostic.WriteErrors(cmd.ErrOrStderr(), cueerrors.Errors(ce))
		return errPrinted
	} else if err != nil {
		return err
	}
	if len(res.Written) > 0 {
		res.Summary(cmd.OutOrStdout())
	}
	if len(res.Problems) > 0 {
		return errPrinted
	}
	return nil
}
