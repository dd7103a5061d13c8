// Package automl searches model configurations within a time budget and ensembles the best
// (docs/automl.md): validation folds fixed by (seed, row order), a portfolio
// of strong defaults, successive halving over a narrowed space, and Caruana's greedy selection
// over out-of-fold predictions. The result is a model artifact (internal/ml/model).
package automl

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/mlflow-go/mlflow/internal/ml/gbdt"
	"github.com/mlflow-go/mlflow/internal/ml/linear"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// Config is one AutoML job.
type Config struct {
	Name          string // model name recorded in the artifact
	Task          string // "classification" | "regression"; "" infers from the target's type
	Target        string // "" = the frame's declared target
	PrimaryMetric string // Azure's name; "" = Azure's default for the task
	// Budget bounds the whole job, from Start to the returned artifact; 0 means no deadline
	// (MaxTrials must then bound it).
	Budget time.Duration
	// Start is when the budget started counting (the step's start, before the data was
	// loaded); zero means when Train is called.
	Start      time.Time
	MaxTrials  int
	Validation Validation // zero = chosen from the data size
	Allowed    []string   // families (see Algorithms); empty = all
	Blocked    []string
	Ensemble   bool
	// Refit fits each selected member once more on all rows (AutoGluon's refit_full), in the
	// budget, and ships that one model instead of the member's k fold models: k times fewer
	// trees to walk per prediction. Members whose refit does not finish in time keep their
	// fold models.
	Refit bool
	// MaxInferenceCost bounds the final model's estimated per-row cost (inferenceCost: tree
	// nodes one row visits, summed over the members), per class for a multiclass task, whose
	// boosting grows a tree per class and round; 0 means no bound. The ensemble and the
	// single best model are chosen among what fits, unless that is more than costTolerance
	// worse than the best without the bound: then the bound doubles until it is not.
	MaxInferenceCost float64
	// KeepBagged (benchmarks) also returns, in Result.Bagged, the same ensemble with every
	// member's fold models, so refit and bagging can be scored on the same selection.
	KeepBagged bool
	Seed       uint64
	Fast       bool // fast mode: GBDT defaults once on a 10 % stopping split
	Parallel   int  // bounded worker pool size
	Dataset    model.DatasetRef
	Lineage    map[string]any // the step config as given, recorded in the artifact
	Progress   func(elapsed, budget time.Duration, status string)
	Logf       func(format string, args ...any)
}

// DefaultMaxInferenceCost is the step's default MaxInferenceCost: about 200 trees of 31
// leaves, a few µs per row. On bank marketing (60 s, 3-seed 80/20 hold-out, the same trials
// ensembled both ways) capped ensembles of cost 1,000 scored 0.9182 accuracy / 0.9513
// AUC_weighted against 0.9181 / 0.9514 uncapped, whose cost was 3,100 to 5,100; the cap is
// what lets an endpoint answer at close to the speed of parsing the request.
const DefaultMaxInferenceCost = 1000

// FastBudget is the budget below which fast mode is used (docs/automl.md#fast-mode).
const FastBudget = 2 * time.Second

// Result is a trained model and the record of how it was found.
type Result struct {
	Model       *model.Model
	Bytes       []byte // the encoded artifact
	Leaderboard []model.LeaderboardEntry
	Metrics     map[string]float64 // OOF metrics of the returned model
	Bagged      *model.Model       // with Config.KeepBagged: the ensemble with fold models only
	Warnings    []string
}

// Train runs the search on f and returns the winning model. Errors caused by the data or the
// config name the field at fault (target, task, primary_metric, allowed_models, ...).
func Train(ctx context.Context, f *tabular.Frame, cfg Config) (*Result, error) {
	start := cfg.Start
	if start.IsZero() {
		start = time.Now()
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 1
	}
	if cfg.Budget <= 0 && cfg.MaxTrials <= 0 {
		return nil, fmt.Errorf("budget: give a budget or max_trials, else the search never ends")
	}
	fams, err := families(cfg.Allowed, cfg.Blocked)
	if err != nil {
		return nil, err
	}
	p, err := prepare(f, &cfg)
	if err != nil {
		return nil, err
	}
	for _, w := range p.warnings {
		cfg.Logf("warning: %s", w)
	}
	fast := cfg.Fast || cfg.Budget > 0 && cfg.Budget < FastBudget
	val := cfg.Validation
	switch {
	case fast:
		val = Validation{Holdout: 0.1}
	case val.Holdout > 0:
		if val.Holdout >= 0.9 {
			return nil, fmt.Errorf("validation.holdout: %g leaves too little to train on (want a fraction below 0.9)", val.Holdout)
		}
	case val.Folds == 0:
		val = chooseValidation(f.Rows)
	case val.Folds < 2:
		return nil, fmt.Errorf("validation.folds: %d folds: want at least 2", val.Folds)
	}
	folds, val := makeFolds(p.strata, val, cfg.Seed)
	if fast {
		// Fast mode stops on the held-out 10 % itself: one fit, no nested split.
		folds[0].train = slices.Concat(folds[0].train, folds[0].stop)
		slices.Sort(folds[0].train)
		folds[0].stop = folds[0].valid
	}
	if cv := cfg.Validation; cv.Folds > 0 && val.Folds < cv.Folds {
		p.warnf("validation: %d folds requested, %d used: the smallest class has too few rows for more", cv.Folds, val.Folds)
		cfg.Logf("warning: %s", p.warnings[len(p.warnings)-1])
	}
	cfg.Logf("%d rows, %d features, task %s, primary metric %s, validation %s, seed %d", f.Rows, len(p.features), p.task, p.metric, val, cfg.Seed)

	s := &search{cfg: &cfg, p: p, folds: folds, val: val, start: start, ds: map[int]*gbdt.Dataset{}, log: cfg.Logf}
	s.score, s.selName = selectionScorer(p)

	sctx, cancel := ctx, context.CancelFunc(func() {})
	if cfg.Budget > 0 {
		r := reserve(cfg.Budget)
		if cfg.Refit {
			r += refitReserve(cfg.Budget)
		}
		s.deadline = start.Add(cfg.Budget - r)
		sctx, cancel = context.WithDeadline(ctx, s.deadline)
	}
	defer cancel()

	if err := s.run(sctx, fams, fast); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.log("search ended after %.1fs: %d trials", time.Since(start).Seconds(), len(s.trials))
	if testHookSearched != nil {
		testHookSearched(s)
	}
	res, err := s.assemble(ctx)
	if err == nil {
		s.log("final model built after %.1fs", time.Since(start).Seconds())
	}
	return res, err
}

// testHookSearched lets a study compare ensembling choices on one search's trials.
var testHookSearched func(*search)

// reserve is the part of the budget kept for what follows the search: the ensemble, the
// artifact, its registration, and the lag of a fit noticing the deadline on a loaded machine.
// These costs hardly grow with the budget, so the reserve is mostly fixed.
func reserve(budget time.Duration) time.Duration {
	return min(budget/4, 2*time.Second+budget/20)
}

func families(allowed, blocked []string) (map[string]bool, error) {
	fams := map[string]bool{}
	for _, a := range Algorithms {
		fams[a] = len(allowed) == 0
	}
	for i, a := range allowed {
		f, ok := Family(a)
		if !ok {
			return nil, fmt.Errorf("allowed_models[%d]: unknown model %q (known: %v and Azure's LightGBM, LogisticRegression, ...)", i, a, Algorithms)
		}
		fams[f] = true
	}
	for i, b := range blocked {
		f, ok := Family(b)
		if !ok {
			return nil, fmt.Errorf("blocked_models[%d]: unknown model %q (known: %v)", i, b, Algorithms)
		}
		fams[f] = false
	}
	for _, on := range fams {
		if on {
			return fams, nil
		}
	}
	return nil, fmt.Errorf("allowed_models/blocked_models: every model family is excluded")
}

// run is the search: the portfolio, then halving brackets until a stopping rule fires.
func (s *search) run(ctx context.Context, fams map[string]bool, fast bool) error {
	all := allFolds(len(s.folds))
	var ref *trial
	for _, sp := range portfolio() {
		if !fams[sp.algo] {
			continue
		}
		if sp.algo == AlgoLinear && len(s.p.y)*s.linearSlots() > 50_000_000 {
			s.log("skipping %s: the dense design matrix would be too large (%d rows × %d columns)", sp.algo, len(s.p.y), s.linearSlots())
			continue
		}
		if s.expired(ctx) || fast && len(s.trials) > 0 {
			break
		}
		if !s.deadline.IsZero() && ref != nil {
			est := s.estimate(sp, ref)
			if left := time.Until(s.deadline); est > left {
				s.log("skipping portfolio %s %s: estimated %.1fs, %.1fs left", sp.label, sp.algo, est.Seconds(), left.Seconds())
				continue
			}
		}
		t := s.newTrial(sp)
		if err := s.runFolds(ctx, t, all); err != nil {
			return err
		}
		s.finish(t)
		if ref == nil && sp.algo == AlgoGBDT {
			ref = t
		}
	}
	if fast || !fams[AlgoGBDT] {
		return nil
	}
	for b := 0; !s.expired(ctx); b++ {
		if err := s.halving(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// member is a trial chosen for the final model, with its weight.
type member struct {
	t *trial
	w float64
}

// assemble picks the final model (Caruana ensemble or best single trial), encodes the artifact
// and computes its OOF metrics.
func (s *search) assemble(ctx context.Context) (*Result, error) {
	p := s.p
	var cands []*trial
	for _, t := range s.trials {
		if t.models != nil && s.full(t) {
			cands = append(cands, t)
		}
	}
	var mems []member
	refitOK := len(cands) > 0
	switch {
	case len(cands) == 0:
		t, err := s.fallback(ctx)
		if err != nil {
			return nil, err
		}
		mems = []member{{t, 1}}
	case s.cfg.Ensemble && len(cands) > 1:
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
			for ; ; lim *= 2 {
				wc, sc := caruanaCapped(preds, costs, lim, s.score, ensembleSteps)
				if withinTolerance(sc, full) || lim >= fullCost {
					w = wc
					break
				}
			}
			if lim > s.costLimit() {
				s.log("max_inference_cost %s gave an ensemble more than %.0f%% worse; raised to %s", formatLimit(s.costLimit()), 100*costTolerance, formatLimit(lim))
			}
		}
		for i, t := range cands {
			if w[i] > 0 {
				mems = append(mems, member{t, w[i]})
			}
		}
		s.log("ensemble: %d members, inference cost %.0f (unbounded %.0f, limit %s)", len(mems), spent(w), fullCost, formatLimit(s.costLimit()))
	default:
		best := cands[0]
		for _, t := range cands[1:] {
			if s.better(t, best) {
				best = t
			}
		}
		if lim, c := s.costLimit(), s.inferenceCost(best); lim > 0 && c > lim {
			for ; lim < c; lim *= 2 {
				var fit *trial
				for _, t := range cands {
					if s.inferenceCost(t) <= lim && (fit == nil || s.better(t, fit)) {
						fit = t
					}
				}
				if fit != nil && withinTolerance(fit.sel, best.sel) {
					best = fit
					break
				}
			}
		}
		mems = []member{{best, 1}}
	}
	if first := s.trials[0]; first.stopped || !s.full(first) {
		p.warnf("budget %v is too small for one full model (%s on %s): returning the best model reached (%s); give a larger budget",
			s.cfg.Budget, first.spec.algo, s.val, reached(mems[0].t, len(s.folds)))
		s.log("warning: %s", p.warnings[len(p.warnings)-1])
	}

	// OOF predictions of the final blend, on the rows every member covers.
	k := p.k()
	n := len(p.y)
	blend := make([]float64, n*k)
	covered := make([]bool, n)
	for i := range covered {
		covered[i] = true
	}
	for _, m := range mems {
		for i := range n {
			if m.t.oofCnt[i] == 0 {
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
	met := s.metricsOn(rows, blend)

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
	if len(mems) == 1 {
		a.Algorithm = mems[0].t.spec.algo
		if a.Algorithm == AlgoLinear {
			a.Algorithm = "LogisticRegression"
			if p.task == model.Regression {
				a.Algorithm = "Ridge"
			}
		}
	} else {
		a.Algorithm = "VotingEnsemble"
	}
	refits := make([]foldModel, len(mems))
	if s.cfg.Refit && refitOK {
		refits = s.refit(ctx, mems)
	}
	imp := make([]float64, len(p.features))
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
		a.Members = append(a.Members, mem)
	}
	tot := 0.0
	for _, v := range imp {
		tot += v
	}
	if tot > 0 {
		for j, v := range imp {
			a.Importance = append(a.Importance, model.Importance{Feature: p.features[j], Gain: v / tot})
		}
		slices.SortStableFunc(a.Importance, func(x, y model.Importance) int {
			switch {
			case x.Gain > y.Gain:
				return -1
			case x.Gain < y.Gain:
				return 1
			}
			return 0
		})
	}
	var board []model.LeaderboardEntry
	for _, t := range s.leaderboard() {
		tr := model.Trial{ID: t.id, Algorithm: t.spec.algo, Params: t.spec.show, Folds: t.folds(), Metrics: t.metrics, Stopped: t.stopped}
		if tr.Params == nil {
			tr.Params = map[string]any{}
		}
		a.Trials = append(a.Trials, tr)
		board = append(board, model.LeaderboardEntry{Trial: tr, Seconds: math.Round(t.seconds*1000) / 1000})
	}
	a.Examples = examples(p, 3)
	a.Warnings = p.warnings
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
	res := &Result{Model: mdl, Bytes: b, Leaderboard: board, Metrics: met, Warnings: p.warnings}
	if s.cfg.KeepBagged {
		ba := a
		ba.Members = slices.Clone(a.Members)
		for i, m := range mems {
			mem := &ba.Members[i]
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
		if res.Bagged, err = model.New(ba); err != nil {
			return nil, fmt.Errorf("assemble bagged model: %w", err)
		}
	}
	return res, nil
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

// examples are the first rows' inputs, for API docs.
func examples(p *problem, n int) []map[string]any {
	var out []map[string]any
	for i := 0; i < min(n, p.frame.Rows); i++ {
		row := map[string]any{}
		for _, name := range p.features {
			row[name] = cell(p.frame.Col(name), i)
		}
		out = append(out, row)
	}
	return out
}
