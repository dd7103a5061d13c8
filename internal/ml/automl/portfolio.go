package automl

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/mlflow-go/mlflow/internal/ml/gbdt"
)

// portfolio is P1..P9 of docs/automl.md#portfolio: strong defaults first, in order, except that P9 runs
// before the forests: on bank marketing it earned ensemble weight in every seed where the forests
// earned little, and the forests cost several GBDT trials' time.
func portfolio() []spec {
	d := gbdt.DefaultParams()
	g := func(label string, show map[string]any, edit func(p *gbdt.Params)) spec {
		p := d
		edit(&p)
		return spec{algo: AlgoGBDT, label: label, params: p, bins: 255, show: show}
	}
	// Forests are kept small: an ensemble member is 5 fold models, and 5 × 200 trees of 1,024
	// leaves made a 55 MB artifact (bank marketing, 26k rows), 0.9 GB of RSS, a 35 s evaluate
	// step and 4 s of encoding after the deadline, for a member Caruana gave 12 % weight with
	// no measurable hold-out gain. 100 trees of 256 leaves cost ~1/8 of that and keep the
	// diversity; min_samples_leaf 5 is within the design's 1-5.
	const forestTrees, forestLeaves, forestMinLeaf = 100, 256, 5
	forest := gbdt.ForestParams()
	forest.MaxIter, forest.MaxLeaves, forest.MinSamplesLeaf = forestTrees, forestLeaves, forestMinLeaf
	xt := forest
	xt.ExtraTrees = true
	return []spec{
		g("P1", nil, func(p *gbdt.Params) {}),
		{algo: AlgoLinear, label: "P2", show: map[string]any{"C": "by OOF log loss"}},
		g("P3", map[string]any{"learning_rate": 0.05, "l2": 1, "max_iter": 1000}, func(p *gbdt.Params) {
			p.LearningRate, p.L2, p.MaxIter, p.NIterNoChange = 0.05, 1, 1000, 20
		}),
		g("P4", map[string]any{"learning_rate": 0.03, "max_leaves": 128, "feature_fraction": 0.9, "min_samples_leaf": 5, "max_iter": 1000}, func(p *gbdt.Params) {
			p.LearningRate, p.MaxLeaves, p.FeatureFraction, p.MinSamplesLeaf, p.MaxIter, p.NIterNoChange = 0.03, 128, 0.9, 5, 1000, 20
		}),
		g("P5", map[string]any{"extra_trees": true, "learning_rate": 0.05, "max_iter": 1000}, func(p *gbdt.Params) {
			p.ExtraTrees, p.LearningRate, p.MaxIter, p.NIterNoChange = true, 0.05, 1000, 20
		}),
		g("P6", map[string]any{"depth_wise": true, "max_depth": 6, "l2": 1, "min_hessian": 1, "learning_rate": 0.05, "bagging_fraction": 0.8, "feature_fraction": 0.8, "max_iter": 1000}, func(p *gbdt.Params) {
			p.DepthWise, p.MaxDepth, p.MaxLeaves, p.MinSamplesLeaf = true, 6, 0, 1
			p.L2, p.MinHessian, p.LearningRate, p.BaggingFraction, p.FeatureFraction = 1, 1, 0.05, 0.8, 0.8
			p.MaxIter, p.NIterNoChange = 1000, 20
		}),
		g("P7", map[string]any{"learning_rate": 0.05, "max_leaves": 15, "min_samples_leaf": 40, "l2": 1, "max_iter": 1000}, func(p *gbdt.Params) {
			p.LearningRate, p.MaxLeaves, p.MinSamplesLeaf, p.L2, p.MaxIter, p.NIterNoChange = 0.05, 15, 40, 1, 1000, 20
		}),
		g("P9", map[string]any{"learning_rate": 0.02, "max_leaves": 63, "min_samples_leaf": 10, "feature_fraction": 0.7, "bagging_fraction": 0.8, "max_iter": 2000}, func(p *gbdt.Params) {
			p.LearningRate, p.MaxLeaves, p.MinSamplesLeaf, p.FeatureFraction, p.BaggingFraction = 0.02, 63, 10, 0.7, 0.8
			p.MaxIter, p.NIterNoChange = 2000, 20
		}),
		{algo: AlgoForest, label: "P8", params: forest, bins: 255, show: map[string]any{"trees": forestTrees, "max_leaves": forestLeaves, "min_samples_leaf": forestMinLeaf}},
		{algo: AlgoExtraTrees, label: "P8", params: xt, bins: 255, show: map[string]any{"trees": forestTrees, "max_leaves": forestLeaves, "min_samples_leaf": forestMinLeaf}},
	}
}

// estimate guesses a spec's wall time from the first GBDT trial's: per round·leaf cost times
// the rounds it will likely run (early stopping scales them with 1/learning rate) and its leaves.
func (s *search) estimate(sp spec, ref *trial) time.Duration {
	if ref == nil || ref.seconds == 0 {
		return 0
	}
	rounds := 0.0
	for fi, done := range ref.foldDone {
		if done {
			rounds += float64(ref.iters[fi])
		}
	}
	rounds = max(1, rounds/float64(max(1, ref.folds())))
	perRoundLeaf := ref.seconds / (rounds * float64(ref.spec.params.MaxLeaves))
	p := sp.params
	leaves := float64(p.MaxLeaves)
	if p.DepthWise || leaves <= 0 {
		leaves = math.Pow(2, float64(max(p.MaxDepth, 6)))
	}
	var cost float64
	switch sp.algo {
	case AlgoLinear:
		cost = ref.seconds // L-BFGS over a few C values costs about one default GBDT
	case AlgoForest, AlgoExtraTrees:
		// Deep unshrunk trees on bootstrap rows; leaves are capped, rows shrink fast.
		cost = perRoundLeaf * float64(p.MaxIter) * min(leaves, 512)
	default:
		r := min(float64(p.MaxIter), rounds*ref.spec.params.LearningRate/p.LearningRate)
		cost = perRoundLeaf * r * leaves
		if p.BaggingFraction > 0 {
			cost *= max(p.BaggingFraction, 0.5)
		}
	}
	if s.p.task != "regression" && s.p.k() > 2 && sp.algo == AlgoLinear {
		cost *= float64(s.p.k())
	}
	return time.Duration(cost * float64(time.Second))
}

// sample draws one configuration from FLAML's LightGBM space, narrowed (docs/automl.md#successive-halving).
func sample(s *search, bracket, i int) spec {
	g := rng(s.cfg.Seed, streamSearch, bracket, i)
	logU := func(lo, hi float64) float64 { return math.Exp(math.Log(lo) + g.Float64()*(math.Log(hi)-math.Log(lo))) }
	round4 := func(x float64) float64 {
		if x == 0 {
			return 0
		}
		e := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(x))))
		return math.Round(x*e) / e
	}
	p := gbdt.DefaultParams()
	p.LearningRate = round4(logU(0.01, 0.3))
	p.MaxLeaves = int(math.Round(logU(4, 256)))
	p.MinSamplesLeaf = int(math.Round(logU(2, 128)))
	p.L2 = round4(logU(1e-3, 10))
	p.FeatureFraction = round4(0.5 + 0.5*g.Float64())
	bins := []int{63, 127, 255}[g.IntN(3)]
	p.MaxIter = int(min(2000, max(100, 30/p.LearningRate)))
	p.NIterNoChange = 20
	return spec{
		algo: AlgoGBDT, label: "SH", params: p, bins: bins,
		show: map[string]any{
			"learning_rate": p.LearningRate, "max_leaves": p.MaxLeaves, "min_samples_leaf": p.MinSamplesLeaf,
			"l2": p.L2, "feature_fraction": p.FeatureFraction, "max_bins": bins, "max_iter": p.MaxIter,
		},
	}
}

// halving runs one bracket of synchronous successive halving with the folds as the resource:
// every config on fold 1, the best third (by fold log loss) on 2 folds, the best ninth on all
// (η = 3). Only configs that reach all folds can join the ensemble.
func (s *search) halving(ctx context.Context, bracket int) error {
	const n, eta = 9, 3
	var rung, all []*trial
	defer func() {
		// Configs that did not reach every fold cannot join the ensemble: free their models.
		for _, t := range all {
			if !s.full(t) {
				t.drop()
			}
		}
	}()
	for i := range n {
		if s.expired(ctx) {
			break
		}
		sp := sample(s, bracket, i)
		sp.label = "SH"
		t := s.newTrial(sp)
		first := []int{0}
		if len(s.folds) < 3 {
			first = allFolds(len(s.folds))
		}
		if err := s.runFolds(ctx, t, first); err != nil {
			return err
		}
		s.finish(t)
		rung = append(rung, t)
		all = append(all, t)
	}
	for _, folds := range [][]int{{0, 1}, allFolds(len(s.folds))} {
		if len(s.folds) < 3 || ctx.Err() != nil || len(rung) == 0 || len(rung) == 1 && s.full(rung[0]) {
			return nil
		}
		slices.SortStableFunc(rung, func(a, b *trial) int {
			la, lb := meanLoss(a), meanLoss(b)
			switch {
			case la < lb:
				return -1
			case la > lb:
				return 1
			}
			return a.id - b.id
		})
		keep := max(1, (len(rung)+eta-1)/eta)
		for _, t := range rung[keep:] {
			// Not promoted, so never full: it cannot join the ensemble, and its fold models
			// would otherwise live until the bracket ends.
			if !s.full(t) {
				t.drop()
			}
		}
		rung = rung[:keep]
		for _, t := range rung {
			if ctx.Err() != nil {
				return nil
			}
			if err := s.runFolds(ctx, t, folds); err != nil {
				return err
			}
			if s.full(t) {
				// A promoted config that reaches all folds is judged again for the stopping rule.
				if s.better(t, s.best) {
					s.best, s.noImprov = t, 0
				} else {
					s.noImprov++
				}
				s.log("trial %d: promoted to all %d folds: %s %.4f", t.id, len(s.folds), s.p.metric, t.metrics[s.p.metric])
				s.prune()
			}
		}
	}
	return nil
}

func meanLoss(t *trial) float64 {
	s, c := 0.0, 0
	for fi, done := range t.foldDone {
		if done {
			s += t.foldLoss[fi]
			c++
		}
	}
	if c == 0 {
		return math.Inf(1)
	}
	return s / float64(c)
}

func allFolds(n int) []int {
	f := make([]int, n)
	for i := range f {
		f[i] = i
	}
	return f
}
