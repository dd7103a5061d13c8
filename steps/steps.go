// Package steps lists every step kind. Each kind is its own package under
// steps/<kind>; this explicit list is the only registry.
package steps

import (
	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/steps/automl"
	"github.com/mlflow-go/mlflow/steps/benchmark"
	"github.com/mlflow-go/mlflow/steps/consume"
	"github.com/mlflow-go/mlflow/steps/dataset"
	"github.com/mlflow-go/mlflow/steps/deploy"
	"github.com/mlflow-go/mlflow/steps/evaluate"
	"github.com/mlflow-go/mlflow/steps/exec"
	"github.com/mlflow-go/mlflow/steps/logs"
	"github.com/mlflow-go/mlflow/steps/publish"
)

// All returns one instance of every built-in step kind.
func All() []engine.Step {
	return []engine.Step{
		dataset.New(),
		automl.New(),
		evaluate.New(),
		deploy.New(),
		consume.New(),
		logs.New(),
		benchmark.New(),
		exec.New(),
		publish.New(),
	}
}
