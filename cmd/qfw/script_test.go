package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/qfw-dev/qfw/backends/qubes/adminapi/adminapitest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"qfw": func() { os.Exit(Main()) },
		// The stand-in for qrexec-client-vm, for qfw --qrexec.
		adminapitest.QrexecClientCommand: func() { os.Exit(adminapitest.QrexecClientMain()) },
	})
}

// TestScript runs the scripts in testdata/script: each is a qfw command
// line, its input files, and its exact output and exit status. Set
// QFW_UPDATE=1 to rewrite the expected output from what qfw prints.
func TestScript(t *testing.T) {
	runScripts(t, "testdata/script")
}

// TestMalformed runs the corpus of malformed and hostile input in
// testdata/malformed: one case a file, each a refused input with qfw's
// exact message and exit status.
func TestMalformed(t *testing.T) {
	runScripts(t, "testdata/malformed")
}

func runScripts(t *testing.T, dir string) {
	testscript.Run(t, testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       os.Getenv("QFW_UPDATE") != "",
		Setup: func(env *testscript.Env) error {
			// Scripts about the bundled examples read them in place.
			examples, err := filepath.Abs("../../examples")
			env.Setenv("EXAMPLES", examples)
			return err
		},
	})
}
