package automl

import (
	"context"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/model"
)

// The blend is chosen on log loss; when a member alone ranks the rows better on the primary
// metric out of fold, that member is the model.
func TestBestSingleBeatsBlendOnPrimaryMetric(t *testing.T) {
	// Trial 1 ranks every row right but hedges near 0.5 (poor log loss); trial 2 is confident
	// and calibrated but swaps two rows: log loss prefers a blend leaning on trial 2, whose
	// AUC is below trial 1's perfect one.
	y := []float64{0, 0, 0, 0, 1, 1, 1, 1}
	ranker := []float64{0.60, 0.58, 0.56, 0.54, 0.46, 0.44, 0.42, 0.40}
	sharp := []float64{0.95, 0.95, 0.95, 0.2, 0.8, 0.05, 0.05, 0.05}
	p := &problem{task: model.Classification, classes: []string{"a", "b"}, y: y, metric: "AUC_weighted"}
	s := &search{cfg: &Config{Ensemble: true}, p: p, folds: make([]fold, 1), log: func(string, ...any) {}}
	s.score, s.selName = selectionScorer(p)
	for i, pos := range [][]float64{ranker, sharp} {
		oof := make([]float64, 2*len(y))
		for r, q := range pos {
			oof[2*r], oof[2*r+1] = q, 1-q
		}
		tr := &trial{id: i + 1, spec: portfolio()[0], foldDone: []bool{true}, models: make([]foldModel, 1), iters: []int{10}, oof: oof}
		tr.metrics = s.metricsOn(allRows(len(y)), oof)
		tr.sel = s.score(oof)
		s.trials = append(s.trials, tr)
	}
	if w, _ := caruana([][]float64{s.trials[0].oof, s.trials[1].oof}, s.score, ensembleSteps); w[1] == 0 {
		t.Fatalf("the test's premise fails: log loss gives trial 2 no weight (%v)", w)
	}
	mems, _, err := s.choose(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(mems) != 1 || mems[0].t.id != 1 {
		var ids []int
		for _, m := range mems {
			ids = append(ids, m.t.id)
		}
		t.Errorf("members %v, want trial 1 alone (AUC 1 against the blend's lower AUC)", ids)
	}
}
