package steps

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/models"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/schema/load"
)

// Every built-in kind is declared in the schema (so workflows using it
// validate, and its outputs are typed), has a version for the cache key,
// and is registered once.
func TestKindsMatchSchema(t *testing.T) {
	declared := map[string]load.KindInfo{}
	for _, k := range load.Kinds() {
		declared[k.Kind] = k
	}
	seen := map[string]bool{}
	for _, s := range All() {
		k := s.Kind()
		if seen[k] {
			t.Errorf("kind %s registered twice", k)
		}
		seen[k] = true
		if s.Version() == "" {
			t.Errorf("kind %s has an empty Version: its cache keys could not be invalidated", k)
		}
		info, ok := declared[k]
		if !ok {
			t.Errorf("kind %s is built in but the schema does not declare it", k)
			continue
		}
		if len(info.Outputs) == 0 {
			t.Errorf("kind %s declares no outputs", k)
		}
		_, reconciles := s.(engine.Reconciler)
		if nc, ok := s.(engine.NoCacher); ok && nc.NoCache() && reconciles {
			t.Errorf("kind %s both never caches and reconciles", k)
		}
	}
	for k := range declared {
		if !seen[k] {
			t.Errorf("kind %s is declared in the schema but not built in: validate would accept what run refuses", k)
		}
	}
}

// The schema and the registries agree on which dataset and model names are valid, so
// `mlflow validate` accepts exactly what a run accepts.
func TestNameRulesMatchSchema(t *testing.T) {
	names := []string{"bank", "Bank_2.v-1", "9lives", "_x", "-x", "a b", "../x",
		strings.Repeat("a", 128), strings.Repeat("a", 129), strings.Repeat("a", 255), strings.Repeat("a", 256)}
	for _, c := range []struct {
		kind, extra string
		check       func(string) error
	}{
		{"dataset", "source: d.csv", datasets.CheckName},
		{"automl", "dataset: ${{ steps.d.outputs.dataset }}\n    task: classification", models.ValidName},
	} {
		for _, name := range names {
			src := fmt.Sprintf("name: w\nsteps:\n  d:\n    kind: dataset\n    source: d.csv\n  s:\n    kind: %s\n    %s\n    name: %q\n", c.kind, c.extra, name)
			_, loadErr := load.Bytes("w.yaml", []byte(src), load.Options{})
			goErr := c.check(name)
			if (loadErr == nil) != (goErr == nil) {
				t.Errorf("%s name %q: schema says %v, the registry says %v", c.kind, name, loadErr, goErr)
			}
		}
	}
}
