package exec_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/steps/exec"
	"github.com/mlflow-go/mlflow/steps/steptest"
)

func TestConformance(t *testing.T) {
	steptest.Run(t, steptest.Case{
		Kind:   exec.New(),
		Config: exec.Config{},
		Setup: func(t *testing.T, dir string, s *store.Store) map[string]any {
			if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte("hello\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return map[string]any{
				"command": []any{"sh", "-c", "tr a-z A-Z < in.txt > out.txt"},
				"inputs":  []any{"in.txt"},
				"outputs": []any{"out.txt"},
			}
		},
		// The input file's content is part of the key.
		Vary: func(t *testing.T, dir string, cfg map[string]any) {
			if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte("changed\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		Writes: []string{"out.txt"},
	})
}
