// Package evaluate is the "evaluate" step kind: it scores a model on a registered dataset and
// outputs every metric of the task under Azure's names, plus the confusion matrix for
// classification.
package evaluate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/ml/metrics"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/models"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// Config is the step's config (schema/load/cue/evaluate.cue).
type Config struct {
	Model   artifact.ModelRef `json:"model"`
	Dataset artifact.Dataset  `json:"dataset"`
	Target  string            `json:"target,omitempty"`
}

type step struct{}

// New returns the evaluate step kind.
func New() engine.Step { return step{} }

func (step) Kind() string    { return "evaluate" }
func (step) Version() string { return "1" }

func (step) Run(ctx context.Context, req *engine.Request) (engine.Outputs, error) {
	var c Config
	if err := req.Decode(&c); err != nil {
		return nil, err
	}
	if c.Model.IsZero() {
		return nil, errors.New("model: required (a model output or NAME[:VERSION])")
	}
	m, rec, err := models.Resolve(ctx, req.Store, c.Model.String())
	if err != nil {
		return nil, err // names the model already
	}
	f, err := datasets.LoadFrame(req.Store, c.Dataset.Digest)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", c.Dataset.Ref(), err)
	}
	target := c.Target
	if target == "" {
		target = m.A.Target
	}
	out, err := Evaluate(m, f, target, req.Logf)
	if err != nil {
		return nil, err
	}
	req.Logf("model %s:%d on dataset %s (%d rows)", rec.Name, rec.Version, c.Dataset.Ref(), f.Rows)
	for _, k := range slices.Sorted(maps.Keys(out.Scores)) {
		req.Logf("  %-36s %.4f", k, out.Scores[k])
	}
	return engine.Outputs{"metrics": out}, nil
}

// Evaluate scores m on f's rows whose target is known. Rows of a class the model never saw
// are left out with a log line (no probability can be right for them).
func Evaluate(m *model.Model, f *tabular.Frame, target string, logf func(string, ...any)) (artifact.Metrics, error) {
	tc := f.Col(target)
	if tc == nil {
		return artifact.Metrics{}, fmt.Errorf("target: column %q is not in the dataset", target)
	}
	x, err := m.Matrix(f)
	if err != nil {
		return artifact.Metrics{}, fmt.Errorf("dataset: %w", err)
	}
	out := artifact.Metrics{Scores: map[string]float64{}}
	if m.Task() == model.Regression {
		if tc.Type != tabular.Numeric {
			return artifact.Metrics{}, fmt.Errorf("target: column %q is %s; the model is a regression model", target, tc.Type)
		}
		all := make([]float64, f.Rows)
		m.PredictBatch(x, f.Rows, all)
		var y, pred []float64
		for i, v := range tc.Num {
			if math.IsNaN(v) {
				continue
			}
			y, pred = append(y, v), append(pred, all[i])
		}
		if len(y) == 0 {
			return artifact.Metrics{}, fmt.Errorf("target: column %q has no values", target)
		}
		maps.Copy(out.Scores, metrics.Regression(y, pred, m.A.YMin, m.A.YMax))
		out.Rows = len(y)
		return out, nil
	}
	classes := m.Classes()
	k := len(classes)
	idx := map[string]int{}
	for i, c := range classes {
		idx[c] = i
	}
	// Scoring every row in one batch (rows without a usable label included) keeps the trees in
	// cache; the per-row filter below only picks rows out.
	all := make([]float64, f.Rows*k)
	m.PredictBatch(x, f.Rows, all)
	var y []int
	var prob []float64
	unknown := map[string]int{}
	for i := 0; i < f.Rows; i++ {
		if tc.Missing(i) {
			continue
		}
		var l string
		if tc.Type == tabular.Numeric {
			l = strconv.FormatFloat(tc.Num[i], 'g', -1, 64)
		} else {
			l = tc.Levels[tc.Codes[i]]
		}
		c, ok := idx[l]
		if !ok {
			unknown[l]++
			continue
		}
		y = append(y, c)
		prob = append(prob, all[i*k:(i+1)*k]...)
	}
	for l, n := range unknown {
		logf("warning: %d rows of class %q, which the model never saw, are left out", n, l)
	}
	if len(y) == 0 {
		return artifact.Metrics{}, fmt.Errorf("target: column %q has no rows of the model's classes %v", target, classes)
	}
	maps.Copy(out.Scores, metrics.Classification(y, prob, k, nil))
	out.Rows = len(y)
	out.ConfusionMatrix = &artifact.ConfusionMatrix{
		Labels: classes,
		Matrix: metrics.ConfusionMatrix(y, metrics.Argmax(prob, k), k),
	}
	return out, nil
}
