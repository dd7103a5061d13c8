// Package automl is the "automl" step kind: it trains on a registered dataset within a time
// budget (internal/ml/automl), registers the winner as NAME:VERSION (internal/models) and
// outputs the model, the leaderboard and the OOF metrics.
package automl

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/ml/automl"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/models"
)

// DefaultBudget applies when neither budget nor max_trials is given.
const DefaultBudget = 60 * time.Second

// DefaultRefit applies when refit is not given. Measured on the bank set (60 s budget, 3-seed
// 80/20 hold-out, the same selected ensembles scored both ways): refit 0.9183 accuracy / 0.9508
// AUC_weighted, bagged fold models 0.9181 / 0.9504, at a fifth of the trees per prediction.
const DefaultRefit = true

// Config is the step's config (schema/cue/automl.cue).
type Config struct {
	Dataset       artifact.Dataset `json:"dataset"`
	Task          string           `json:"task"`
	Target        string           `json:"target,omitempty"`
	PrimaryMetric string           `json:"primary_metric,omitempty"`
	Budget        string           `json:"budget,omitempty"`
	MaxTrials     int              `json:"max_trials,omitempty"`
	// Validation is k >= 2 (k-fold CV) or a fraction in (0, 1) (a hold-out).
	Validation    *float64 `json:"validation,omitempty"`
	AllowedModels []string `json:"allowed_models,omitempty"`
	BlockedModels []string `json:"blocked_models,omitempty"`
	Ensemble      *bool    `json:"ensemble,omitempty"`
	// Refit (default true) refits each chosen member on all rows instead of shipping its k
	// fold models (docs/automl.md#refit).
	Refit *bool `json:"refit,omitempty"`
	// MaxInferenceCost bounds the model's estimated per-row cost; 0 lifts the bound.
	MaxInferenceCost *float64 `json:"max_inference_cost,omitempty"`
	Seed             *int64   `json:"seed,omitempty"`
	Name             string   `json:"name,omitempty"`
	// Memory bounds the search ("2GiB"); default DefaultMemoryFraction of the machine's
	// memory (docs/automl.md#memory).
	Memory string `json:"memory,omitempty"`
}

type step struct{}

// New returns the automl step kind.
func New() engine.Step { return step{} }

func (step) Kind() string { return "automl" }

// Version 2: refit is on by default; 3: max_inference_cost bounds the ensemble by default
// (equal configs now give a different model); 4: the model carries its charts
// (Diagnostics), and data too large for the budget are searched on a sample; 5: the
// inference bound gives way to the best trial, and the linear family's new solver (equal
// configs again give a different model).
func (step) Version() string { return "5" }

// Options turns the config into training options; errors name the field.
func (c *Config) Options(stepName string) (automl.Config, error) {
	o := automl.Config{
		Name: c.Name, Task: c.Task, Target: c.Target, PrimaryMetric: c.PrimaryMetric,
		MaxTrials: c.MaxTrials, Allowed: c.AllowedModels, Blocked: c.BlockedModels, Ensemble: true, Refit: DefaultRefit,
		MaxInferenceCost: automl.DefaultMaxInferenceCost,
		Dataset:          model.DatasetRef{Name: c.Dataset.Name, Version: c.Dataset.Version, Digest: c.Dataset.Digest},
	}
	if o.Name == "" {
		o.Name = stepName
	}
	if err := models.ValidName(o.Name); err != nil {
		return o, fmt.Errorf("name: %w", err)
	}
	if o.Target == "" {
		o.Target = c.Dataset.Target
	}
	if c.Dataset.Digest == "" {
		return o, fmt.Errorf("dataset: no dataset digest (want a dataset step's output, ${{ steps.S.outputs.dataset }})")
	}
	switch {
	case c.Budget != "":
		d, err := time.ParseDuration(c.Budget)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("budget: %q is not a positive duration (e.g. \"60s\")", c.Budget)
		}
		o.Budget = d
	case c.MaxTrials == 0:
		o.Budget = DefaultBudget
	}
	if c.MaxTrials < 0 {
		return o, fmt.Errorf("max_trials: %d: want at least 1", c.MaxTrials)
	}
	if v := c.Validation; v != nil {
		switch {
		case *v > 0 && *v < 1:
			o.Validation = automl.Validation{Holdout: *v}
		case *v >= 2 && *v == math.Trunc(*v):
			o.Validation = automl.Validation{Folds: int(*v), Repeats: 1}
		default:
			return o, fmt.Errorf("validation: %v: want k >= 2 folds or a hold-out fraction in (0, 1)", *v)
		}
	}
	if c.Ensemble != nil {
		o.Ensemble = *c.Ensemble
	}
	if c.Refit != nil {
		o.Refit = *c.Refit
	}
	if v := c.MaxInferenceCost; v != nil {
		if *v < 0 {
			return o, fmt.Errorf("max_inference_cost: %v: want 0 (no bound) or more", *v)
		}
		o.MaxInferenceCost = *v
	}
	if c.Memory != "" {
		m, err := automl.ParseMemory(c.Memory)
		if err != nil {
			return o, fmt.Errorf("memory: %w", err)
		}
		o.Memory = m
	} else {
		o.Memory = int64(float64(automl.MachineMemory()) * automl.DefaultMemoryFraction)
	}
	if c.Seed != nil {
		if *c.Seed < 0 {
			return o, fmt.Errorf("seed: %d: want a non-negative integer", *c.Seed)
		}
		o.Seed = uint64(*c.Seed)
	}
	return o, nil
}

func (step) Run(ctx context.Context, req *engine.Request) (engine.Outputs, error) {
	// The budget covers the whole step: loading the data and registering count too.
	start := time.Now()
	var c Config
	if err := req.Decode(&c); err != nil {
		return nil, err
	}
	o, err := c.Options(req.Step)
	if err != nil {
		return nil, err
	}
	f, err := datasets.LoadFrame(req.Store, c.Dataset.Digest)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", c.Dataset.Ref(), err)
	}
	o.Start = start
	o.Parallel = max(1, req.Parallel)
	o.Lineage = req.Config
	o.Logf = req.Logf
	if req.Progress != nil {
		o.Progress = func(elapsed, budget time.Duration, status string) {
			req.Progress.Update(elapsed.Seconds(), budget.Seconds(), status)
		}
	}
	res, err := automl.Train(ctx, f, o)
	if err != nil {
		return nil, err
	}
	a := &res.Model.A
	meta := models.Meta{
		Task: a.Task, Algorithm: a.Algorithm, PrimaryMetric: a.PrimaryMetric, Metrics: res.Metrics,
		Leaderboard: res.Leaderboard, Importance: a.Importance, Lineage: a.Lineage, Warnings: res.Warnings, Run: req.RunID,
	}
	rec, err := models.Register(ctx, req.Store, o.Name, res.Bytes, meta)
	if err != nil {
		return nil, err
	}
	req.Logf("registered model %s:%d (%s, %s %.4f) after %.1fs", rec.Name, rec.Version, a.Algorithm, a.PrimaryMetric, res.Metrics[a.PrimaryMetric], time.Since(start).Seconds())

	board, err := json.MarshalIndent(map[string]any{
		"model": fmt.Sprintf("%s:%d", rec.Name, rec.Version), "primary_metric": a.PrimaryMetric,
		"validation": a.Validation, "trials": res.Leaderboard,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	bd, err := req.Store.PutBytes(append(board, '\n'))
	if err != nil {
		return nil, fmt.Errorf("write leaderboard: %w", err)
	}
	bp, _ := req.Store.BlobPath(bd)
	lb := artifact.Leaderboard{Path: bp, Digest: bd, Trials: len(res.Leaderboard), PrimaryMetric: a.PrimaryMetric}
	if len(res.Leaderboard) > 0 {
		best := res.Leaderboard[0]
		lb.BestTrial, lb.BestAlgorithm, lb.BestScore = best.ID, best.Algorithm, best.Metrics[a.PrimaryMetric]
	}
	return engine.Outputs{
		"model": artifact.Model{
			Name: rec.Name, Version: rec.Version, Digest: rec.Digest,
			Task: a.Task, Algorithm: a.Algorithm, Path: rec.Path,
		},
		"leaderboard": lb,
		"metrics":     artifact.Metrics{Scores: maps.Clone(res.Metrics)},
	}, nil
}
