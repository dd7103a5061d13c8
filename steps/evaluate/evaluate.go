// Package evaluate is the "evaluate" step kind: it scores a model on a registered dataset and
// outputs every metric of the task under Azure's names, plus the confusion matrix for
// classification.
package evaluate

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/ml/metrics"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/models"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// Config is the step's config (schema/cue/evaluate.cue).
type Config struct {
	// Model is a model output object or a registered "NAME[:VERSION]" (or a model file).
	Model   any `json:"model"`
	Dataset struct {
		Name    string `json:"name"`
		Version int    `json:"version"`
		Digest  string `json:"digest"`
		Target  string `json:"target"`
	} `json:"dataset"`
	Target string `json:"target"`
}

type step struct{}

// New returns the evaluate step kind.
func New() engine.Step { return step{} }

func (step) Kind() string    { return "evaluate" }
func (step) Version() string { return "1" }

// modelRef turns the model field into something models.Resolve takes.
func modelRef(v any) (string, error) {
	switch v := v.(type) {
	case string:
		if v == "" {
			return "", fmt.Errorf("model: empty (want a model output or NAME[:VERSION])")
		}
		return v, nil
	case map[string]any:
		name, _ := v["name"].(string)
		ver, _ := v["version"].(float64)
		if name != "" && ver >= 1 {
			return name + ":" + strconv.Itoa(int(ver)), nil
		}
		if p, _ := v["path"].(string); p != "" {
			return p, nil
		}
	}
	return "", fmt.Errorf("model: %v is not a model output or NAME[:VERSION]", v)
}

func (step) Run(ctx context.Context, req *engine.Request) (engine.Outputs, error) {
	var c Config
	if err := req.Decode(&c); err != nil {
		return nil, err
	}
	ref, err := modelRef(c.Model)
	if err != nil {
		return nil, fmt.Errorf("step %s: %w", req.Step, err)
	}
	m, rec, err := models.Resolve(ctx, req.Store, ref)
	if err != nil {
		return nil, fmt.Errorf("step %s: model: %w", req.Step, err)
	}
	if c.Dataset.Digest == "" {
		return nil, fmt.Errorf("step %s: dataset: no dataset digest (want a dataset step's output)", req.Step)
	}
	f, err := datasets.LoadFrame(req.Store, c.Dataset.Digest)
	if err != nil {
		return nil, fmt.Errorf("step %s: dataset %s:%d: %w", req.Step, c.Dataset.Name, c.Dataset.Version, err)
	}
	target := c.Target
	if target == "" {
		target = m.A.Target
	}
	out, err := Evaluate(m, f, target, req.Logf)
	if err != nil {
		return nil, fmt.Errorf("step %s: %w", req.Step, err)
	}
	req.Logf("model %s:%d on dataset %s:%d (%d rows)", rec.Name, rec.Version, c.Dataset.Name, c.Dataset.Version, f.Rows)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range out {
			if !yield(k) {
				return
			}
		}
	}) {
		if v, ok := out[k].(float64); ok {
			req.Logf("  %-36s %.4f", k, v)
		}
	}
	return engine.Outputs{"metrics": out}, nil
}

// Evaluate scores m on f's rows whose target is known. Rows of a class the model never saw
// are left out with a log line (no probability can be right for them).
func Evaluate(m *model.Model, f *tabular.Frame, target string, logf func(string, ...any)) (map[string]any, error) {
	tc := f.Col(target)
	if tc == nil {
		return nil, fmt.Errorf("target: column %q is not in the dataset", target)
	}
	x, err := m.Matrix(f)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	out := map[string]any{}
	if m.Task() == model.Regression {
		if tc.Type != tabular.Numeric {
			return nil, fmt.Errorf("target: column %q is %s; the model is a regression model", target, tc.Type)
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
			return nil, fmt.Errorf("target: column %q has no values", target)
		}
		for k, v := range metrics.Regression(y, pred, m.A.YMin, m.A.YMax) {
			out[k] = v
		}
		out["rows"] = len(y)
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
		return nil, fmt.Errorf("target: column %q has no rows of the model's classes %v", target, classes)
	}
	for name, v := range metrics.Classification(y, prob, k, nil) {
		out[name] = v
	}
	out["rows"] = len(y)
	out["confusion_matrix"] = map[string]any{
		"labels": classes,
		"matrix": metrics.ConfusionMatrix(y, metrics.Argmax(prob, k), k),
	}
	return out, nil
}
