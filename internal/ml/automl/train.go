// Package automl searches model configurations within a time budget and ensembles the best
// (docs/automl.md): validation folds fixed by (seed, row order), a portfolio
// of strong defaults, successive halving over a narrowed space, and Caruana's greedy selection
// over out-of-fold predictions. The result is a model artifact (internal/ml/model).
package automl

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mlflow-go/mlflow/internal/ml/gbdt"
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
	// KeepOOF (benchmarks) also returns the final blend's out-of-fold predictions, so a study
	// can blend other models with it on the same rows (bench/automl/families).
	KeepOOF  bool
	Seed     uint64
	Fast     bool // fast mode: GBDT defaults once on a 10 % stopping split
	Parallel int  // bounded worker pool size
	// Memory bounds the search's memory in bytes (docs/automl.md#memory); 0 means no bound.
	// The search keeps fewer candidates and fits fewer folds at once to stay within it, and
	// holds the Go runtime's soft memory limit there while it runs.
	Memory   int64
	Dataset  model.DatasetRef
	Lineage  map[string]any // the step config as given, recorded in the artifact
	Progress func(elapsed, budget time.Duration, status string)
	Logf     func(format string, args ...any)
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
	// With Config.KeepOOF: the final blend's out-of-fold predictions, OOF[j*k+c] for row
	// OOFRows[j] of the frame and class c (k = 1 for regression), on the rows every member covers.
	OOF      []float64
	OOFRows  []int
	Warnings []string
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
	var full *problem
	if m := searchRows(cfg.Budget, len(p.features)); m > 0 && !fast && len(p.y) > m {
		full, p = p, p.subset(stratifiedSample(p.strata, m, cfg.Seed))
		full.strata = nil // the sample's folds have their own; nothing reads all rows' again
		cfg.Logf("%d rows: searching a stratified sample of %d (budget %v, %d features); the chosen members are refit on all rows", len(full.y), len(p.y), cfg.Budget, len(p.features))
	}
	val := cfg.Validation
	switch {
	case fast:
		val = Validation{Holdout: 0.1}
	case val.Holdout > 0:
		if val.Holdout >= 0.9 {
			return nil, fmt.Errorf("validation.holdout: %g leaves too little to train on (want a fraction below 0.9)", val.Holdout)
		}
	case val.Folds == 0:
		val = chooseValidation(len(p.y))
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
	cfg.Logf("%d rows, %d features, task %s, primary metric %s, validation %s, seed %d", len(p.y), len(p.features), p.task, p.metric, val, cfg.Seed)

	s := &search{cfg: &cfg, p: p, whole: full, folds: folds, val: val, start: start, ds: map[int]*gbdt.Dataset{}, fullDS: map[int]*gbdt.Dataset{}, log: cfg.Logf}
	s.score, s.selName = selectionScorer(p)
	if full != nil {
		s.sampleMemory()
	}
	if cfg.Memory > 0 {
		defer limitMemory(cfg.Memory)()
		s.planMemory()
	}

	sctx, cancel := ctx, context.CancelFunc(func() {})
	if cfg.Budget > 0 {
		r := reserve(cfg.Budget)
		if cfg.Refit {
			r += refitReserve(cfg.Budget)
		}
		s.deadline = start.Add(cfg.Budget - r)
		sctx, cancel = context.WithDeadline(ctx, s.deadline)
		if full != nil && cfg.Refit {
			// Refits on all rows need a larger share (sample.go); settleRefit gives it back to
			// the search when they cannot fit in it anyway.
			s.refitWhole, s.outer = true, sctx
			s.deadline = start.Add(cfg.Budget - reserve(cfg.Budget) - time.Duration(sampleRefitShare*float64(cfg.Budget)))
			var cancelInner context.CancelFunc
			sctx, cancelInner = context.WithDeadline(sctx, s.deadline)
			defer cancelInner()
		}
	}
	defer cancel()
	defer func() {
		for _, c := range s.cancels {
			c()
		}
	}()

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
			s.log("skipping %s: %d rows × %d one-hot slots is over 50 million", sp.algo, len(s.p.y), s.linearSlots())
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
		ctx = s.settleRefit(ctx)
	}
	if fast || !fams[AlgoGBDT] {
		return nil
	}
	for b := 0; ; b++ {
		ctx = s.settleRefit(ctx)
		if s.expired(ctx) {
			return nil
		}
		if err := s.halving(ctx, b); err != nil {
			return err
		}
	}
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
