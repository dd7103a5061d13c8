package azureml

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/steps/automl"
)

// azureMetrics maps the workflow's metric names (Azure's run-metric names,
// which the local kinds use too) to the primaryMetric values of the REST API.
var azureMetrics = map[string]string{
	"accuracy":                           "Accuracy",
	"AUC_weighted":                       "AUCWeighted",
	"norm_macro_recall":                  "NormMacroRecall",
	"average_precision_score_weighted":   "AveragePrecisionScoreWeighted",
	"precision_score_weighted":           "PrecisionScoreWeighted",
	"r2_score":                           "R2Score",
	"normalized_root_mean_squared_error": "NormalizedRootMeanSquaredError",
	"spearman_correlation":               "SpearmanCorrelation",
	"normalized_mean_absolute_error":     "NormalizedMeanAbsoluteError",
}

// Azure's defaults when a workflow names no primary metric.
var defaultMetric = map[string]string{"classification": "accuracy", "regression": "normalized_root_mean_squared_error"}

// jobInstanceType is the VM size of serverless jobs when none is set.
const jobInstanceType = "Standard_DS3_v2"

// dataID is the ARM id of a dataset's Azure data version.
func (c *call) dataID(d artifact.Dataset) string {
	return c.id(fmt.Sprintf("data/%s/versions/%d", seg(d.Name), d.Version))
}

// compute says where a job runs: the workspace's cluster, or serverless.
func (c *call) compute(props map[string]any) {
	if c.Compute != "" {
		props["computeId"] = c.id("computes/" + seg(c.Compute))
		return
	}
	it := c.InstanceType
	if it == "" {
		it = jobInstanceType
	}
	props["resources"] = map[string]any{"instanceType": it, "instanceCount": 1}
}

func autoMLBody(c *call, cfg automl.Config) (map[string]any, string, time.Duration, error) {
	target := cfg.Target
	if target == "" {
		target = cfg.Dataset.Target
	}
	if target == "" {
		return nil, "", 0, fmt.Errorf("dataset %s has no target column: set target on the dataset or on this step", cfg.Dataset.Ref())
	}
	metric := cfg.PrimaryMetric
	if metric == "" {
		metric = defaultMetric[cfg.Task]
	}
	task := map[string]any{
		"taskType":         map[string]string{"classification": "Classification", "regression": "Regression"}[cfg.Task],
		"targetColumnName": target,
		"trainingData":     map[string]any{"jobInputType": "mltable", "uri": "azureml:" + c.dataID(cfg.Dataset)},
		"primaryMetric":    azureMetrics[metric],
	}
	limits := map[string]any{}
	var budget time.Duration
	if cfg.Budget != "" {
		d, err := time.ParseDuration(cfg.Budget)
		if err != nil {
			return nil, "", 0, fmt.Errorf("budget: %v", err)
		}
		budget = d
		limits["timeout"] = isoDuration(d)
	}
	if cfg.MaxTrials > 0 {
		limits["maxTrials"] = cfg.MaxTrials
	}
	if len(limits) > 0 {
		task["limitSettings"] = limits
	}
	if v := cfg.Validation; v != nil {
		if *v >= 2 {
			task["nCrossValidations"] = map[string]any{"mode": "Custom", "value": int(*v)}
		} else {
			task["validationDataSize"] = *v
		}
	}
	if cfg.Ensemble != nil {
		task["trainingSettings"] = map[string]any{"enableStackEnsemble": *cfg.Ensemble, "enableVoteEnsemble": *cfg.Ensemble}
	}
	props := map[string]any{
		"jobType":        "AutoML",
		"experimentName": c.Experiment,
		"displayName":    c.step,
		"tags":           c.tags(),
		"taskDetails":    task,
		"outputs":        map[string]any{"best_model": map[string]any{"jobOutputType": "mlflow_model"}},
	}
	c.compute(props)
	return map[string]any{"properties": props}, metric, budget, nil
}

func runAutoML(ctx context.Context, c *call) (engine.Outputs, error) {
	var cfg automl.Config
	if err := c.req.Decode(&cfg); err != nil {
		return nil, err
	}
	body, metric, budget, err := autoMLBody(c, cfg)
	if err != nil {
		return nil, err
	}
	name := c.jobName()
	j, err := c.submitJob(ctx, name, "AutoML", body, budget)
	if err != nil {
		return nil, err
	}
	uri := "azureml://jobs/" + name + "/outputs/best_model"
	if o, ok := j.Properties.Outputs["best_model"]; ok && o.URI != "" {
		uri = o.URI
	}
	modelName := cfg.Name
	if modelName == "" {
		modelName = c.step
	}
	m, err := c.registerModel(ctx, modelName, uri, cfg.Task, name)
	if err != nil {
		return nil, err
	}
	board := map[string]any{"azureml_job": name, "studio": c.studioURL(j, name), "primary_metric": metric, "best_model": uri, "model": m.Ref()}
	lb, err := c.putJSON("leaderboard.json", board)
	if err != nil {
		return nil, err
	}
	return engine.Outputs{
		"model": m,
		// Azure keeps the trials in the job's child runs (MLflow tracking),
		// which ARM does not list: the board names the job to open in Studio.
		"leaderboard": artifact.Leaderboard{Path: lb.path, Digest: lb.digest, PrimaryMetric: metric},
		"metrics":     artifact.Metrics{Scores: map[string]float64{}},
	}, nil
}

type stored struct{ path, digest string }

// putJSON keeps v in the store (so the engine finds the digest an output
// names) and as a file of the step's run folder.
func (c *call) putJSON(file string, v any) (stored, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return stored{}, err
	}
	b = append(b, '\n')
	if c.dry {
		return stored{path: "${{ " + file + " }}", digest: store.Digest(b)}, nil
	}
	d, err := c.req.Store.PutBytes(b)
	if err != nil {
		return stored{}, err
	}
	p, err := c.req.Store.Path("runs", c.req.RunID, c.step, file)
	if err != nil {
		return stored{}, err
	}
	return stored{p, d}, store.WriteFileAtomic(p, b, 0o644)
}

// registerModel registers uri as the next version of model name on Azure.
// The local model output describes it: its file (Path, Digest) is a
// descriptor naming the Azure model, not a model mlflow can load.
func (c *call) registerModel(ctx context.Context, name, uri, task, job string) (artifact.Model, error) {
	var list struct {
		Value []struct {
			Name string `json:"name"`
		} `json:"value"`
	}
	version := 1
	err := c.arm(ctx, "GET", "models/"+seg(name)+"/versions", nil, &list, false)
	switch {
	case err == nil:
		for _, v := range list.Value {
			if n, err := strconv.Atoi(v.Name); err == nil && n >= version {
				version = n + 1
			}
		}
	case !notFound(err):
		return artifact.Model{}, err
	}
	sub := fmt.Sprintf("models/%s/versions/%d", seg(name), version)
	body := map[string]any{"properties": map[string]any{
		"modelType": "mlflow_model",
		"modelUri":  uri,
		"jobName":   job,
		"tags":      c.tags(),
	}}
	if err := c.record("models", fmt.Sprintf("%s:%d", name, version), c.id(sub)); err != nil {
		return artifact.Model{}, err
	}
	if err := c.arm(ctx, "PUT", sub, body, nil, false); err != nil {
		return artifact.Model{}, err
	}
	c.req.Logf("registered model %s:%d on Azure from %s", name, version, uri)
	desc, err := c.putJSON("model.json", map[string]any{"azureml_model": c.id(sub), "uri": uri, "task": task, "job": job})
	if err != nil {
		return artifact.Model{}, err
	}
	return artifact.Model{Name: name, Version: version, Digest: desc.digest, Task: task, Algorithm: "azureml-automl", Path: desc.path}, nil
}
