package steps

import (
	"testing"

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
			t.Logf("kind %s is declared in the schema but not built in yet: a run using it fails at planning", k)
		}
	}
}
