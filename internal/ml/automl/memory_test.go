package automl

import (
	"context"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/model"
)

// retained counts the out-of-fold floats and fold models the trials hold.
func retained(s *search) (floats, models int) {
	for _, t := range s.trials {
		floats += len(t.oof)
		for _, p := range t.foldPred {
			floats += len(p)
		}
		for _, m := range t.models {
			if m != nil {
				models++
			}
		}
	}
	return floats, models
}

// TestRetainedStateBounded holds the search to docs/automl.md#memory: whatever the number of
// trials, the trials keep at most keepModels+3 rows×outputs matrices of out-of-fold
// predictions (the candidates, the best by the primary metric, and the screening rung's
// per-fold predictions) and as many trials' fold models. Before, every candidate held two
// n×k matrices and every screened config two more until its bracket ended: the state grew
// with trials and classes, not with the data.
func TestRetainedStateBounded(t *testing.T) {
	f := frame(1200, 3, 5)
	for _, trials := range []int{6, 40} {
		var peakFloats, peakModels int
		var n, k, folds int
		testHookTrial = func(s *search) {
			fl, m := retained(s)
			peakFloats, peakModels = max(peakFloats, fl), max(peakModels, m)
			n, k, folds = len(s.p.y), s.p.k(), len(s.folds)
		}
		cfg := quick(model.Classification)
		cfg.MaxTrials = trials
		_, err := Train(context.Background(), f, cfg)
		testHookTrial = nil
		if err != nil {
			t.Fatal(err)
		}
		if limit := (keepModels + 3) * n * k; peakFloats > limit {
			t.Errorf("%d trials: %d OOF floats retained at the peak (%.1f n×k matrices), want at most %d (%d)",
				trials, peakFloats, float64(peakFloats)/float64(n*k), limit, keepModels+3)
		}
		if limit := (keepModels + 3) * folds; peakModels > limit {
			t.Errorf("%d trials: %d fold models retained at the peak, want at most %d", trials, peakModels, limit)
		}
		t.Logf("%d trials: peak %.1f n×k OOF matrices, %d fold models", trials, float64(peakFloats)/float64(n*k), peakModels)
	}
}
