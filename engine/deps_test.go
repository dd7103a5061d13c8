package engine

import (
	"os/exec"
	"strings"
	"testing"
)

// The engine sees the workflow as plain Go types; CUE (about a hundred
// packages) stays in the loader, schema/load.
func TestNoCUEDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var cue []string
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "cuelang.org/") {
			cue = append(cue, pkg)
		}
	}
	if len(cue) > 0 {
		t.Fatalf("the engine depends on %d CUE packages, e.g. %s", len(cue), cue[0])
	}
}
