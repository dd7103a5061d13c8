package azureml

import (
	"context"
	"fmt"
	"strings"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/steps/evaluate"
	"github.com/mlflow-go/mlflow/steps/exec"
)

// shellQuote joins argv into the one command line a command job takes.
func shellQuote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// runExec runs the command as an Azure ML command job in the step's
// environment. Azure reports no exit code through ARM: a Completed job is
// exit code 0, a failed one fails the step (allow_failure then gives 1).
func runExec(ctx context.Context, c *call) (engine.Outputs, error) {
	var cfg exec.Config
	if err := c.req.Decode(&cfg); err != nil {
		return nil, err
	}
	if cfg.Environment == "" {
		return nil, fmt.Errorf("environment is required on target azureml")
	}
	props := map[string]any{
		"jobType":        "Command",
		"experimentName": c.Experiment,
		"displayName":    c.step,
		"tags":           c.tags(),
		"command":        shellQuote(cfg.Command),
		"environmentId":  cfg.Environment,
	}
	if len(cfg.Env) > 0 {
		props["environmentVariables"] = cfg.Env
	}
	c.compute(props)
	_, err := c.submitJob(ctx, c.jobName(), "command", map[string]any{"properties": props}, 0)
	if err != nil {
		if cfg.AllowFailure && ctx.Err() == nil {
			c.req.Logf("allow_failure: %v", err)
			return engine.Outputs{"exit_code": 1.0, "files": artifact.Files{}}, nil
		}
		return nil, err
	}
	return engine.Outputs{"exit_code": 0.0, "files": artifact.Files{}}, nil
}

// evaluateScript scores an MLflow model on an MLTable and writes Azure's
// metric names to metrics.json in the output folder. AutoML's models are
// Python (MLflow pyfunc) models, which mlflow cannot load: evaluate runs on
// Azure, as a command job, and mlflow reads the file back.
const evaluateScript = `import json, os, sys
import mlflow.pyfunc, mltable
from sklearn import metrics as m
model = mlflow.pyfunc.load_model(sys.argv[1])
df = mltable.load(sys.argv[2]).to_pandas_dataframe()
y = df.pop(sys.argv[3])
p = model.predict(df)
task = sys.argv[4]
s = {"rows": len(df)}
if task == "classification":
    s["accuracy"] = m.accuracy_score(y, p)
    s["precision_score_weighted"] = m.precision_score(y, p, average="weighted", zero_division=0)
    s["recall_score_weighted"] = m.recall_score(y, p, average="weighted", zero_division=0)
    s["f1_score_weighted"] = m.f1_score(y, p, average="weighted", zero_division=0)
    try:
        proba = model._model_impl.predict_proba(df)
        s["AUC_weighted"] = m.roc_auc_score(y, proba if proba.shape[1] > 2 else proba[:, 1], multi_class="ovr", average="weighted")
    except Exception:
        pass
else:
    s["r2_score"] = m.r2_score(y, p)
    s["mean_absolute_error"] = m.mean_absolute_error(y, p)
    s["root_mean_squared_error"] = m.mean_squared_error(y, p) ** 0.5
json.dump(s, open(os.path.join(sys.argv[5], "metrics.json"), "w"))
`

// evaluateEnvironment is the curated environment the evaluation job runs
// in (MLflow, mltable and scikit-learn).
const evaluateEnvironment = "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"

func runEvaluate(ctx context.Context, c *call) (engine.Outputs, error) {
	var cfg evaluate.Config
	if err := c.req.Decode(&cfg); err != nil {
		return nil, err
	}
	modelID, shown, err := c.modelID(cfg.Model)
	if err != nil {
		return nil, err
	}
	task := "classification"
	if m := cfg.Model.Output; m != nil && m.Task != "" {
		task = m.Task
	}
	target := cfg.Target
	if target == "" {
		target = cfg.Dataset.Target
	}
	if target == "" {
		return nil, fmt.Errorf("dataset %s has no target column: set target on this step", cfg.Dataset.Ref())
	}
	ds, err := azure.DefaultDatastore(ctx, c.doer, c.step, c.Workspace)
	if err != nil {
		return nil, err
	}
	dir := "mlflow/runs/" + c.req.RunID + "/" + c.step
	props := map[string]any{
		"jobType":        "Command",
		"experimentName": c.Experiment,
		"displayName":    c.step,
		"tags":           c.tags(),
		"environmentId":  evaluateEnvironment,
		"command":        evaluateCommand(target, task),
		"inputs": map[string]any{
			"model": map[string]any{"jobInputType": "mlflow_model", "uri": "azureml:" + modelID},
			"data":  map[string]any{"jobInputType": "mltable", "uri": "azureml:" + c.dataID(cfg.Dataset)},
		},
		"outputs": map[string]any{
			"metrics": map[string]any{"jobOutputType": "uri_folder", "uri": ds.URI(dir), "mode": "ReadWriteMount"},
		},
	}
	c.compute(props)
	if _, err := c.submitJob(ctx, c.jobName(), "evaluate", map[string]any{"properties": props}, 0); err != nil {
		return nil, err
	}
	var scores map[string]float64
	if err := c.getBlob(ctx, ds, dir+"/metrics.json", &scores); err != nil {
		return nil, fmt.Errorf("metrics of %s: %w", shown, err)
	}
	out := artifact.Metrics{Scores: map[string]float64{}}
	for k, v := range scores {
		if k == "rows" {
			out.Rows = int(v)
			continue
		}
		out.Scores[k] = v
	}
	c.req.Logf("evaluated %s on %s: %d scores", shown, cfg.Dataset.Ref(), len(out.Scores))
	return engine.Outputs{"metrics": out}, nil
}

// getBlob reads a JSON blob of the datastore, signed with its account key
// (or through its SAS).
func (c *call) getBlob(ctx context.Context, ds azure.Datastore, path string, out any) error {
	var secrets *azure.DatastoreSecrets
	if !c.dry {
		s, err := azure.ListSecrets(ctx, c.doer, c.step, c.Workspace, ds.Name)
		if err != nil {
			return err
		}
		secrets = &s
	}
	r, err := azure.BlobGetRequest(c.step, ds, secrets, path, c.now())
	if err != nil {
		return err
	}
	return c.send(ctx, r, out)
}
