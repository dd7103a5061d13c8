// Package ml_test holds the layering rule of the machine-learning packages: they train and
// score models from in-memory data and know nothing of where models are kept or served.
package ml_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/mlflow-go/mlflow/"

// upper are the layers above internal/ml: the registries and store (SQLite), the servers, the
// engine, the step kinds, the CUE schema and the CLI. They may import internal/ml, never the
// reverse: a cycle would follow, and a model library would drag a database into every binary
// that only scores.
var upper = []string{
	"internal/models", "internal/datasets", "internal/store", "internal/server", "internal/endpoints",
	"engine", "steps", "schema", "cmd",
}

func isUpper(path string) bool {
	rest, ok := strings.CutPrefix(path, module)
	if !ok {
		return false
	}
	for _, u := range upper {
		if rest == u || strings.HasPrefix(rest, u+"/") {
			return true
		}
	}
	return false
}

// TestLayering lists every package internal/ml/... builds with (transitively) and fails on
// any edge into an upper layer, naming the importer.
func TestLayering(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	pkgs := 0
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		pkgs++
		for _, imp := range f[1:] {
			if isUpper(imp) {
				t.Errorf("%s imports %s: internal/ml must not depend on a layer above it", f[0], imp)
			}
		}
	}
	if pkgs < 5 {
		t.Fatalf("go list found %d packages under internal/ml: the check saw nothing", pkgs)
	}
}
