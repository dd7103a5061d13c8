package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mlflow": func() { os.Exit(Main()) },
	})
}

// scriptCmds are custom testscript commands; test files add theirs in init.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){}

// scriptConds are custom [conditions]; test files add theirs in init.
var scriptConds = map[string]func() (bool, error){}

// TestScripts runs testdata/script/*.txtar: every CLI behaviour and every
// error a user can cause. MLFLOW_UPDATE=1 rewrites golden files.
func TestScripts(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join(repo, "testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       os.Getenv("MLFLOW_UPDATE") != "",
		Cmds:                scriptCmds,
		Condition: func(cond string) (bool, error) {
			if f, ok := scriptConds[cond]; ok {
				return f()
			}
			return false, nil
		},
		Setup: func(e *testscript.Env) error {
			e.Setenv("REPO", repo)
			e.Setenv("HOME", e.WorkDir)
			e.Setenv("MLFLOW_WORKSPACE", "")
			return nil
		},
	})
}
