package automl

import (
	"context"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/internal/cputime"
	"github.com/mlflow-go/mlflow/internal/ml/model"
)

// BenchmarkTrainSmall is a whole search without a budget: eight trials on 3,000 rows, then
// the capped ensemble, refit and the artifact, so the search and its assembly are timed
// together.
func BenchmarkTrainSmall(b *testing.B) {
	f := frame(3000, 2, 5)
	cfg := quick(model.Classification)
	cfg.MaxTrials, cfg.Refit, cfg.MaxInferenceCost = 8, true, DefaultMaxInferenceCost
	b.ReportAllocs()
	defer cputime.Report(b)()
	for b.Loop() {
		if _, err := Train(context.Background(), f, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
