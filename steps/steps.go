// Package steps lists every step kind. Each kind is its own package under
// steps/<kind>; this explicit list is the only registry.
package steps

import (
	"github.com/mlflow-go/mlflow/engine"
)

// All returns one instance of every built-in step kind.
func All() []engine.Step {
	return []engine.Step{
		// exec.New(), dataset.New(), automl.New(), ... are added here as they land.
	}
}
