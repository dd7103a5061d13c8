package automl

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
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

// The inference bound gives way when the ensemble within it ranks the rows worse out of fold
// than the best trial, even where its log loss is within the 1% tolerance: a bound that left
// the model below a trial the search found made the ensemble no better than its best member.
func TestBoundGivesWayToBestTrial(t *testing.T) {
	const n = 2000
	g := rand.New(rand.NewPCG(3, 5))
	y := make([]float64, n)
	latent := make([]float64, n)
	for i := range y {
		latent[i] = g.NormFloat64()
		if latent[i]+1.2*g.NormFloat64() > 0.8 {
			y[i] = 1
		}
	}
	p := &problem{task: model.Classification, classes: []string{"a", "b"}, y: y, metric: "AUC_weighted"}
	s := &search{cfg: &Config{Ensemble: true, Refit: true, MaxInferenceCost: 100}, p: p, folds: make([]fold, 1), log: func(string, ...any) {}}
	s.score, s.selName = selectionScorer(p)
	// Trial 1 is the best and costs 100 rounds (about 495, over the bound); trials 2 and 3 are
	// noisier views that cost 10 rounds each and fit together.
	for i, c := range []struct {
		noise, scale float64
		rounds       int
	}{{0.14, 1.2, 100}, {0.18, 1.2, 10}, {0.18, 1.2, 10}} {
		oof := make([]float64, 2*n)
		for r := range n {
			q := 1 / (1 + math.Exp(-c.scale*(latent[r]-0.8+c.noise*g.NormFloat64())))
			oof[2*r], oof[2*r+1] = 1-q, q
		}
		tr := &trial{id: i + 1, spec: portfolio()[0], foldDone: []bool{true}, models: make([]foldModel, 1), iters: []int{c.rounds}, oof: oof}
		tr.metrics = s.metricsOn(allRows(n), oof)
		tr.sel = s.score(oof)
		s.trials = append(s.trials, tr)
	}
	cands := s.candidates()
	preds := [][]float64{cands[0].oof, cands[1].oof, cands[2].oof}
	costs := []float64{s.inferenceCost(cands[0]), s.inferenceCost(cands[1]), s.inferenceCost(cands[2])}
	_, full := caruana(preds, s.score, ensembleSteps)
	wc, sc := caruanaCapped(preds, costs, s.costLimit(), s.score, ensembleSteps)
	if wc[0] != 0 || !withinTolerance(sc, full) {
		t.Fatalf("the test's premise fails: the bounded ensemble %v (loss %.4f against %.4f) should leave trial 1 out within tolerance", wc, sc, full)
	}
	if !s.belowTrial(weighted(cands, wc), sc, cands[0]) {
		t.Fatalf("the test's premise fails: the bounded ensemble %v should rank below trial 1 (AUC %.4f)", wc, cands[0].metrics["AUC_weighted"])
	}
	mems, _, err := s.choose(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, m := range mems {
		ids = append(ids, m.t.id)
	}
	blend, rows := s.blend(mems)
	auc := s.metricsOn(rows, blend)["AUC_weighted"]
	if len(mems) < 2 || !slices.Contains(ids, 1) || auc < cands[0].metrics["AUC_weighted"] {
		t.Errorf("members %v (AUC %.4f), want an ensemble with trial 1 that ranks at least as well as trial 1 (%.4f): the bound must give way to it",
			ids, auc, cands[0].metrics["AUC_weighted"])
	}
}
