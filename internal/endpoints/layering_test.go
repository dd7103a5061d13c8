package endpoints_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoServingImport: the registry sits below the servers. The workspace server imports it
// to find what to serve; if it imported the serving code back, a change to the handler would
// rebuild every step that only reads endpoint records (consume, logs), and the glue between
// the two would have two homes.
func TestNoServingImport(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 5 {
		t.Fatalf("go list found %d dependencies: the check saw nothing", len(deps))
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/mlflow-go/mlflow/internal/server") {
			t.Errorf("internal/endpoints depends on %s: the registry must not know the servers", d)
		}
	}
}
