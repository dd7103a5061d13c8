package automl_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/steps/automl"
	"github.com/mlflow-go/mlflow/steps/dataset"
	"github.com/mlflow-go/mlflow/steps/evaluate"
	"github.com/mlflow-go/mlflow/steps/steptest"
)

// registered writes a small classification file into dir and registers it, as a workflow's
// dataset step would; it returns the dataset output.
func registered(t *testing.T, dir string, s *store.Store) artifact.Dataset {
	t.Helper()
	var b strings.Builder
	b.WriteString("x,color,y\n")
	for i := range 600 {
		x := float64(i%97) / 10
		y := "no"
		if (x > 4.5) != (i%7 == 0) {
			y = "yes"
		}
		fmt.Fprintf(&b, "%.1f,%s,%s\n", x, []string{"red", "green", "blue"}[i%3], y)
	}
	if err := os.WriteFile(filepath.Join(dir, "d.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	outs, err := dataset.New().Run(context.Background(), &engine.Request{
		RunID: "setup", Step: "data", Kind: "dataset", Workflow: &schema.Workflow{Name: "w", Dir: dir},
		Config: map[string]any{"source": "d.csv", "target": "y"}, Store: s, Progress: engine.NopProgress{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return outs["dataset"].(artifact.Dataset)
}

func automlConfig(ds artifact.Dataset) map[string]any {
	return map[string]any{"dataset": ds, "task": "classification", "max_trials": 2, "name": "m"}
}

func TestConformance(t *testing.T) {
	steptest.Run(t, steptest.Case{
		Kind:   automl.New(),
		Config: automl.Config{},
		Setup: func(t *testing.T, dir string, s *store.Store) map[string]any {
			return automlConfig(registered(t, dir, s))
		},
		Vary: func(t *testing.T, dir string, cfg map[string]any) { cfg["seed"] = 1 },
	})
}

// evaluate is tested here, where a model can be trained for it.
func TestEvaluateConformance(t *testing.T) {
	steptest.Run(t, steptest.Case{
		Kind:   evaluate.New(),
		Config: evaluate.Config{},
		Setup: func(t *testing.T, dir string, s *store.Store) map[string]any {
			ds := registered(t, dir, s)
			outs, err := automl.New().Run(context.Background(), &engine.Request{
				RunID: "setup", Step: "train", Kind: "automl", Workflow: &schema.Workflow{Name: "w", Dir: dir},
				Config: automlConfig(ds), Store: s, Progress: engine.NopProgress{}, Parallel: 2,
			})
			if err != nil {
				t.Fatal(err)
			}
			return map[string]any{"model": outs["model"], "dataset": ds}
		},
		Vary: func(t *testing.T, dir string, cfg map[string]any) {
			ds := cfg["dataset"].(artifact.Dataset)
			ds.Digest = "sha256:" + strings.Repeat("0", 64)
			cfg["dataset"] = ds
		},
	})
}
