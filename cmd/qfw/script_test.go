package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"qfw": func() { os.Exit(Main()) },
	})
}

// TestScript runs the scripts in testdata/script: each is a qfw command
// line, its input files, and its exact output and exit status. Set
// QFW_UPDATE=1 to rewrite the expected output from what qfw prints.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
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
