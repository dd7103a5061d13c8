package automl

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/mlflow-go/mlflow/internal/ml/gbdt"
	"github.com/mlflow-go/mlflow/internal/ml/linear"
	"github.com/mlflow-go/mlflow/internal/ml/metrics"
	"github.com/mlflow-go/mlflow/internal/ml/model"
)

// member is a trial chosen for the final model, with its weight.
type member struct {
	t *trial
	w float64
}

// assemble turns the search's trials into the result: it chooses the members, scores their
// blend out of fold, refits them, and builds, encodes and checks the artifact.
func (s *search) assemble(ctx context.Context) (*Result, error) {
	mems, refittable, err := s.choose(ctx)
	if err != nil {
		return nil, err
	}
	s.dropAllBut(mems)
	for _, m := range mems {
		if err := unshelve(m.t); err != nil {
			return nil, err
		}
	}
	s.warnShortBudget(mems[0].t)
	met, diag := s.blendMetrics(mems)
	a := s.artifact(mems, met)
	a.Diagnostics = diag
	refits := make([]foldModel, len(mems))
	if s.cfg.Refit && refittable {
		refits = s.refit(ctx, mems)
	}
	if s.whole != nil {
		s.noteSample(&a, mems, refits)
	}
	a.Members, a.Importance = s.members(mems, refits)
	var board []model.LeaderboardEntry
	a.Trials, board = s.trialRecords()
	a.Examples = examples(s.p, 3)
	a.Warnings = s.p.warnings
	return s.result(a, mems, board, met)
}

// dropAllBut frees every trial's models and predictions except the members': from here on
// only they are read, and the refits and the encoded artifact need the room.
func (s *search) dropAllBut(mems []member) {
	for _, t := range s.trials {
		if !slices.ContainsFunc(mems, func(m member) bool { return m.t == t }) {
			t.drop()
		}
	}
}

// unshelve readies t's fold models to predict (search shelves them once their fold is
// predicted).
func unshelve(t *trial) error {
	for fi, fm := range t.models {
		if gm, ok := fm.(*gbdt.Model); ok {
			if err := gm.Unshelve(); err != nil {
				return fmt.Errorf("trial %d fold %d: internal error: %w", t.id, fi+1, err)
			}
		}
	}
	return nil
}

// candidates are the trials that can join the final model: every fold done, models kept.
func (s *search) candidates() []*trial {
	var cands []*trial
	for _, t := range s.trials {
		if t.models != nil && s.full(t) {
			cands = append(cands, t)
		}
	}
	return cands
}

// choose picks the final model's members: a Caruana ensemble, or the best single trial,
// within the inference bound; with no candidate, the fallback trial. refittable is false
// for the fallback, which is returned as it was fit.
func (s *search) choose(ctx context.Context) (mems []member, refittable bool, err error) {
	cands := s.candidates()
	switch {
	case len(cands) == 0:
		t, err := s.fallback(ctx)
		if err != nil {
			return nil, false, err
		}
		return []member{{t, 1}}, false, nil
	case s.cfg.Ensemble && len(cands) > 1:
		mems := s.ensemble(cands)
		if single := s.bestSingle(cands); len(mems) > 1 && s.beatsBlend(single, mems) {
			s.log("ensemble: trial %d alone has the better out-of-fold %s; it is the model", single.id, s.p.metric)
			return []member{{single, 1}}, true, nil
		}
		return mems, true, nil
	default:
		return []member{{s.bestSingle(cands), 1}}, true, nil
	}
}

// ensemble weighs the candidates by Caruana's selection; when the unbounded ensemble costs
// more than the inference bound, it is selected again under the bound, which doubles until
// the bounded ensemble is within costTolerance of the unbounded one.
func (s *search) ensemble(cands []*trial) []member {
	preds := make([][]float64, len(cands))
	costs := make([]float64, len(cands))
	for i, t := range cands {
		preds[i], costs[i] = t.oof, s.inferenceCost(t)
	}
	spent := func(w []float64) float64 {
		c := 0.0
		for i, wi := range w {
			if wi > 0 {
				c += costs[i]
			}
		}
		return c
	}
	w, full := caruana(preds, s.score, ensembleSteps)
	lim, fullCost := s.costLimit(), spent(w)
	if lim > 0 && fullCost > lim {
		top := s.top(cands)
		for ; ; lim *= 2 {
			wc, sc := caruanaCapped(preds, costs, lim, s.score, ensembleSteps)
			if withinTolerance(sc, full) && !s.belowTrial(weighted(cands, wc), sc, top) || lim >= fullCost {
				w = wc
				break
			}
		}
		if lim > s.costLimit() {
			s.log("max_inference_cost %s gave an ensemble more than %.0f%% worse, or worse than trial %d alone; raised to %s",
				formatLimit(s.costLimit()), 100*costTolerance, top.id, formatLimit(lim))
		}
	}
	mems := weighted(cands, w)
	s.log("ensemble: %d members, inference cost %.0f (unbounded %.0f, limit %s)", len(mems), spent(w), fullCost, formatLimit(s.costLimit()))
	return mems
}

// weighted are the candidates with a positive weight in w, as members.
func weighted(cands []*trial, w []float64) []member {
	var mems []member
	for i, t := range cands {
		if w[i] > 0 {
			mems = append(mems, member{t, w[i]})
		}
	}
	return mems
}

// belowTrial reports whether the blend of mems, of selection loss sel, is worse out of fold
// than trial t alone: on the primary metric when it reads only the order of the predictions
// (a blend of better log loss can rank worse than its best member), else on the selection
// loss. A bounded ensemble below the best trial makes the inference bound give way, so that
// the bound never leaves the model worse than a trial the search found.
func (s *search) belowTrial(mems []member, sel float64, t *trial) bool {
	if rankingMetric[s.p.metric] {
		return s.ranksBelow(mems, t)
	}
	return sel > t.sel
}

// ranksBelow reports whether the blend of mems scores worse than trial t on the primary
// metric, out of fold.
func (s *search) ranksBelow(mems []member, t *trial) bool {
	blend, rows := s.blend(mems)
	b, okB := s.metricsOn(rows, blend)[s.p.metric]
	v, okT := t.metrics[s.p.metric]
	if !okB || !okT {
		return false
	}
	if metrics.Higher(s.p.metric) {
		return b < v
	}
	return b > v
}

// top is the best of cands by the primary metric (ties by the selection loss).
func (s *search) top(cands []*trial) *trial {
	best := cands[0]
	for _, t := range cands[1:] {
		if s.better(t, best) {
			best = t
		}
	}
	return best
}

// bestSingle is the best candidate by the primary metric or, when that one costs more than
// the inference bound, the best that fits a bound doubled until its pick is within
// costTolerance of the best.
func (s *search) bestSingle(cands []*trial) *trial {
	best := s.top(cands)
	lim, c := s.costLimit(), s.inferenceCost(best)
	if lim <= 0 || c <= lim {
		return best
	}
	for ; lim < c; lim *= 2 {
		var fit *trial
		for _, t := range cands {
			if s.inferenceCost(t) <= lim && (fit == nil || s.better(t, fit)) {
				fit = t
			}
		}
		if fit != nil && withinTolerance(fit.sel, best.sel) {
			return fit
		}
	}
	return best
}

// rankingMetric are the primary metrics that read only the order of the predictions, which
// a blend chosen on log loss (or RMSE) need not improve. The others follow the selection
// loss (r2_score and the normalized RMSE are RMSE itself) or, like accuracy at the 0.5
// threshold, move with a handful of rows out of fold, so a member "beating" the blend there
// is mostly noise while the blend's better log loss carries over to held-out rows.
var rankingMetric = map[string]bool{"AUC_weighted": true, "average_precision_score_weighted": true, "spearman_correlation": true}

// beatsBlend reports whether trial t alone scores better on the primary metric, out of fold,
// than the blend of mems. The blend is chosen on log loss (ensemble.go), which a ranking
// metric need not follow: on bank marketing a blend ranked below its best member by AUC.
func (s *search) beatsBlend(t *trial, mems []member) bool {
	return rankingMetric[s.p.metric] && s.ranksBelow(mems, t)
}

// warnShortBudget warns when the budget did not let even the first trial finish every fold:
// the model returned is then weaker than the user likely expects.
func (s *search) warnShortBudget(chosen *trial) {
	first := s.trials[0]
	if !first.stopped && s.full(first) {
		return
	}
	s.p.warnf("budget %v is too small for one full model (%s on %s): returning the best model reached (%s); give a larger budget",
		s.cfg.Budget, first.spec.algo, s.val, reached(chosen, len(s.folds)))
	s.log("warning: %s", s.p.warnings[len(s.p.warnings)-1])
}

// blendMetrics scores the final blend's out-of-fold predictions on the rows every member
// covers, and draws the model's charts (model.Diagnose) from the same predictions, so a chart's
// area is the metric reported beside it.
func (s *search) blendMetrics(mems []member) (map[string]float64, *model.Diagnostics) {
	blend, rows := s.blend(mems)
	return s.metricsOn(rows, blend), model.Diagnose(s.p.task, s.p.classes, s.p.y, blend, rows)
}

// blend is the members' weighted out-of-fold predictions (n×k) and the rows every member covers.
func (s *search) blend(mems []member) ([]float64, []int) {
	k, n := s.p.k(), len(s.p.y)
	blend := make([]float64, n*k)
	covered := make([]bool, n)
	for i := range covered {
		covered[i] = true
	}
	for _, m := range mems {
		for i := range n {
			if m.t.oofCnt != nil && m.t.oofCnt[i] == 0 {
				covered[i] = false
			}
			for c := range k {
				blend[i*k+c] += m.w * m.t.oof[i*k+c]
			}
		}
	}
	var rows []int
	for i, ok := range covered {
		if ok {
			rows = append(rows, i)
		}
	}
	return blend, rows
}

// artifact is the model file's description of the problem and the search, without members.
func (s *search) artifact(mems []member, met map[string]float64) model.Artifact {
	p := s.p
	a := model.Artifact{
		Format: model.Format, Version: model.FormatVersion,
		Name: s.cfg.Name, Task: p.task, Target: p.target, Classes: p.classes,
		Inputs: p.inputs, MissingTokens: model.MissingTokens,
		PrimaryMetric: p.metric, Validation: s.val.String(),
		Metrics: met,
		Lineage: model.Lineage{Dataset: s.cfg.Dataset, Config: s.cfg.Lineage, Seed: s.cfg.Seed},
	}
	if p.task == model.Regression {
		a.YMin, a.YMax = p.yMin, p.yMax
	}
	switch {
	case len(mems) > 1:
		a.Algorithm = "VotingEnsemble"
	case mems[0].t.spec.algo != AlgoLinear:
		a.Algorithm = mems[0].t.spec.algo
	case p.task == model.Regression:
		a.Algorithm = "Ridge"
	default:
		a.Algorithm = "LogisticRegression"
	}
	return a
}

// members are the artifact's members, each with its refit model where one finished (refits[i]
// non-nil), else its fold models, and the inputs' importance: each tree model's gain shares,
// weighted by its member's weight and averaged over the member's models.
func (s *search) members(mems []member, refits []foldModel) ([]model.Member, []model.Importance) {
	out := make([]model.Member, 0, len(mems))
	imp := make([]float64, len(s.p.features))
	for i, m := range mems {
		mem := model.Member{Algorithm: m.t.spec.algo, Trial: m.t.id, Weight: m.w, Params: m.t.spec.show, OOF: m.t.metrics}
		fitted := m.t.folds()
		fms := m.t.models
		if refits[i] != nil {
			fms, fitted, mem.Refit = []foldModel{refits[i]}, 1, true
		}
		for _, fm := range fms {
			switch fm := fm.(type) {
			case *gbdt.Model:
				mem.Trees = append(mem.Trees, fm)
				g := fm.Importance()
				tot := 0.0
				for _, v := range g {
					tot += v
				}
				if tot > 0 {
					for j, v := range g {
						imp[j] += m.w * v / tot / float64(fitted)
					}
				}
			case *linear.Model:
				mem.Linear = append(mem.Linear, fm)
			}
		}
		out = append(out, mem)
	}
	return out, s.importance(imp)
}

// importance normalizes the summed gain shares to 1 and orders them, largest first; nil when
// no member has trees.
func (s *search) importance(imp []float64) []model.Importance {
	tot := 0.0
	for _, v := range imp {
		tot += v
	}
	if tot <= 0 {
		return nil
	}
	var out []model.Importance
	for j, v := range imp {
		out = append(out, model.Importance{Feature: s.p.features[j], Gain: v / tot})
	}
	slices.SortStableFunc(out, func(x, y model.Importance) int {
		switch {
		case x.Gain > y.Gain:
			return -1
		case x.Gain < y.Gain:
			return 1
		}
		return 0
	})
	return out
}

// trialRecords are every trial in leaderboard order, as the artifact records them and, with
// their wall time, as the registry's leaderboard shows them.
func (s *search) trialRecords() ([]model.Trial, []model.LeaderboardEntry) {
	var trials []model.Trial
	var board []model.LeaderboardEntry
	for _, t := range s.leaderboard() {
		tr := model.Trial{ID: t.id, Algorithm: t.spec.algo, Params: t.spec.show, Folds: t.folds(), Metrics: t.metrics, Stopped: t.stopped}
		if tr.Params == nil {
			tr.Params = map[string]any{}
		}
		trials = append(trials, tr)
		board = append(board, model.LeaderboardEntry{Trial: tr, Seconds: math.Round(t.seconds*1000) / 1000})
	}
	return trials, board
}

// result encodes the artifact and decodes it again, so what is returned is exactly what a
// reader of the bytes gets; with KeepBagged it adds the same ensemble on fold models only.
func (s *search) result(a model.Artifact, mems []member, board []model.LeaderboardEntry, met map[string]float64) (*Result, error) {
	mdl, err := model.New(a)
	if err != nil {
		return nil, fmt.Errorf("assemble model: %w", err)
	}
	b, err := mdl.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode model: %w", err)
	}
	if mdl, err = model.Decode(b); err != nil {
		return nil, fmt.Errorf("model does not decode: %w", err)
	}
	res := &Result{Model: mdl, Bytes: b, Leaderboard: board, Metrics: met, Warnings: s.p.warnings}
	if s.cfg.KeepOOF {
		res.OOF, res.OOFRows = s.oofRows(mems)
	}
	if s.cfg.KeepBagged {
		if res.Bagged, err = bagged(a, mems); err != nil {
			return nil, fmt.Errorf("assemble bagged model: %w", err)
		}
	}
	return res, nil
}

// oofRows is the blend's out-of-fold predictions on the rows every member covers, numbered as
// in the frame Train was given.
func (s *search) oofRows(mems []member) ([]float64, []int) {
	blend, rows := s.blend(mems)
	k := s.p.k()
	out := make([]float64, 0, len(rows)*k)
	for j, i := range rows {
		out = append(out, blend[i*k:(i+1)*k]...)
		if s.p.kept != nil {
			rows[j] = s.p.kept[i]
		}
	}
	return out, rows
}

// bagged is a's ensemble with every member's fold models in place of its refit model.
func bagged(a model.Artifact, mems []member) (*model.Model, error) {
	a.Members = slices.Clone(a.Members)
	for i, m := range mems {
		mem := &a.Members[i]
		mem.Refit, mem.Trees, mem.Linear = false, nil, nil
		for _, fm := range m.t.models {
			switch fm := fm.(type) {
			case *gbdt.Model:
				mem.Trees = append(mem.Trees, fm)
			case *linear.Model:
				mem.Linear = append(mem.Linear, fm)
			}
		}
	}
	return model.New(a)
}

// leaderboard orders trials by the primary metric, full trials first.
func (s *search) leaderboard() []*trial {
	ts := slices.Clone(s.trials)
	slices.SortStableFunc(ts, func(a, b *trial) int {
		fa, fb := s.full(a), s.full(b)
		switch {
		case fa != fb && fa:
			return -1
		case fa != fb:
			return 1
		case s.better(a, b):
			return -1
		case s.better(b, a):
			return 1
		}
		return a.id - b.id
	})
	return ts
}

// fallback is used when no trial covers every fold: the trial with the most folds done is
// returned as it is; with none at all, GBDT defaults are fit for a few rounds on fold 1 without
// the budget's deadline (still cancellable), so a model always comes back.
func (s *search) fallback(ctx context.Context) (*trial, error) {
	var best *trial
	for _, t := range s.trials {
		if t.models != nil && t.folds() > 0 && (best == nil || t.folds() > best.folds()) {
			best = t
		}
	}
	if best != nil {
		s.materialize(best)
		return best, nil
	}
	sp := portfolio()[0]
	sp.params.MaxIter = 10
	sp.show = map[string]any{"max_iter": 10}
	t := s.newTrial(sp)
	if err := s.runFolds(context.WithoutCancel(ctx), t, []int{0}); err != nil {
		return nil, err
	}
	if t.folds() == 0 {
		return nil, fmt.Errorf("budget %v: no model could be fit", s.cfg.Budget)
	}
	t.stopped = true
	s.materialize(t)
	return t, nil
}

func reached(t *trial, folds int) string {
	it := 0
	for _, v := range t.iters {
		it = max(it, v)
	}
	s := fmt.Sprintf("trial %d, %d of %d folds", t.id, t.folds(), folds)
	if it > 0 {
		s += fmt.Sprintf(", %d of at most %d rounds", it, t.spec.params.MaxIter)
	}
	return s
}
