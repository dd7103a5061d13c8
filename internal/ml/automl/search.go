package automl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mlflow-go/mlflow/internal/ml/gbdt"
	"github.com/mlflow-go/mlflow/internal/ml/linear"
	"github.com/mlflow-go/mlflow/internal/ml/metrics"
	"github.com/mlflow-go/mlflow/internal/ml/model"
)

// Algorithm families, as they appear in allowed_models, blocked_models and the leaderboard.
const (
	AlgoGBDT       = "GBDT"
	AlgoLinear     = "Linear"
	AlgoForest     = "RandomForest"
	AlgoExtraTrees = "ExtraTrees"
)

// Algorithms lists the families in portfolio order.
var Algorithms = []string{AlgoGBDT, AlgoLinear, AlgoForest, AlgoExtraTrees}

// aliases maps accepted spellings (lower case, Azure's names included) to a family.
var aliases = map[string]string{
	"gbdt": AlgoGBDT, "lightgbm": AlgoGBDT, "xgboost": AlgoGBDT, "xgboostclassifier": AlgoGBDT, "xgboostregressor": AlgoGBDT,
	"linear": AlgoLinear, "logisticregression": AlgoLinear, "ridge": AlgoLinear, "elasticnet": AlgoLinear,
	"randomforest": AlgoForest, "rf": AlgoForest,
	"extratrees": AlgoExtraTrees, "extremerandomtrees": AlgoExtraTrees, "xt": AlgoExtraTrees,
}

// Family resolves a model name from allowed_models/blocked_models.
func Family(name string) (string, bool) {
	f, ok := aliases[strings.ToLower(strings.TrimSpace(name))]
	return f, ok
}

// spec is one configuration to try.
type spec struct {
	algo   string
	label  string // "P3", "SH1.4"
	params gbdt.Params
	bins   int
	show   map[string]any // what the leaderboard prints: the settings that differ from defaults
}

// trial is a spec evaluated on some folds.
type trial struct {
	id       int
	spec     spec
	foldDone []bool
	models   []foldModel // per fold, nil when not fitted
	// foldPred is each done fold's predictions on its validation rows (len(valid)*k), kept
	// until the trial covers every fold: a config screened on one fold of five holds a fifth
	// of an n×k matrix, not a whole one. oofCnt counts the folds covering each row (repeats).
	// Both go when the trial is full and oof is built.
	foldPred [][]float64
	oofCnt   []int32
	foldLoss []float64 // per fold: log loss (RMSE for regression) on its validation rows
	iters    []int
	stopped  bool
	seconds  float64
	metrics  map[string]float64
	sel      float64 // selection score on the covered rows (lower is better)
	// oof is the n×k out-of-fold matrix (means over repeats), set once the trial is full (or
	// for the fallback trial, by materialize): the one matrix a candidate keeps.
	oof []float64
}

// drop frees what only a candidate for the final model needs: a trial that can no longer
// enter it keeps its leaderboard row alone.
func (t *trial) drop() {
	t.models, t.oof, t.foldPred, t.oofCnt = nil, nil, nil, nil
}

func (t *trial) folds() int {
	c := 0
	for _, d := range t.foldDone {
		if d {
			c++
		}
	}
	return c
}

type foldModel interface {
	NumOutputs() int
	Predict(x, out []float64)
}

// search holds everything shared by the trials of one Train call.
type search struct {
	cfg      *Config
	p        *problem
	folds    []fold
	val      Validation
	score    scorer
	selName  string
	start    time.Time
	deadline time.Time // search deadline (budget minus the ensembling reserve); zero = none
	trials   []*trial
	best     *trial // best full trial by the primary metric
	noImprov int
	lin      *linear.Data
	linOnce  sync.Once // the fold goroutines share one linear matrix
	dsMu     sync.Mutex
	ds       map[int]*gbdt.Dataset
	// whole is the problem on every row when the search runs on a sample (p), else nil;
	// fullDS are its binnings, built for the refits (sample.go).
	whole  *problem
	fullDS map[int]*gbdt.Dataset
	// refitWhole says the members are to be refit on whole's rows; outer is the search's
	// context without the sample's longer refit reserve, which settleRefit may return to.
	refitWhole bool
	outer      context.Context
	// cancels release the contexts settleRefit derives to end the search earlier.
	cancels []context.CancelFunc
	// refitOnWhole marks, by trial id, the members refitSampled refit on every row.
	refitOnWhole map[int]bool
	log          func(format string, args ...any)
	// keptLogged is the candidate count last logged as cut by Config.Memory.
	keptLogged int
}

func (s *search) dataset(bins int) (*gbdt.Dataset, error) {
	s.dsMu.Lock()
	defer s.dsMu.Unlock()
	if d, ok := s.ds[bins]; ok {
		return d, nil
	}
	d, err := gbdt.NewDataset(s.p.frame, s.p.features, bins, s.cfg.Seed)
	if err != nil {
		return nil, err
	}
	s.ds[bins] = d
	return d, nil
}

// gbdtParams completes a trial's GBDT parameters for one fit: the loss
// follows the task and the class count, seed and workers the fit.
func (s *search) gbdtParams(p gbdt.Params, seed uint64, workers int) gbdt.Params {
	p.Seed, p.Workers = seed, workers
	switch k := s.p.k(); {
	case s.p.task == model.Regression:
		p.Loss, p.NumClass = "squared_error", 0
	case k == 2:
		p.Loss, p.NumClass = "binary", 2
	default:
		p.Loss, p.NumClass = "multiclass", k
	}
	return p
}

// linearData builds the raw matrix the linear family reads (codes as float64).
func (s *search) linearData() *linear.Data {
	s.linOnce.Do(s.buildLinearData)
	return s.lin
}

func (s *search) buildLinearData() {
	d := &linear.Data{}
	for _, name := range s.p.features {
		c := s.p.frame.Col(name)
		col := linear.Column{Name: name}
		if c.Num != nil {
			d.X = append(d.X, c.Num)
		} else {
			col.Categorical, col.Levels = true, len(c.Levels)
			x := make([]float64, len(c.Codes))
			for i, code := range c.Codes {
				x[i] = float64(code)
				if code < 0 {
					x[i] = math.NaN()
				}
			}
			d.X = append(d.X, x)
		}
		d.Cols = append(d.Cols, col)
	}
	s.lin = d
}

// linearSlots estimates the linear design width, to skip the family when the dense matrix
// would not fit comfortably in memory.
func (s *search) linearSlots() int {
	w := 0
	for _, in := range s.p.inputs {
		if in.Categorical() {
			w += min(len(in.Levels), linear.MaxOneHot) + 2
		} else {
			w += 2
		}
	}
	return w
}

// linearTask is the linear family's task for the problem.
func (s *search) linearTask() string {
	switch {
	case s.p.task != model.Classification:
		return linear.Regression
	case s.p.k() > 2:
		return linear.Multiclass
	}
	return linear.Binary
}

// errNoModel means a fit produced nothing (the deadline passed before its first iteration).
var errNoModel = errors.New("no model")

// fitFold fits spec on fold fi and returns the model and its predictions on the fold's
// validation rows.
func (s *search) fitFold(ctx context.Context, sp spec, fi int, seed uint64, workers int) (foldModel, []float64, bool, error) {
	f := s.folds[fi]
	k := s.p.k()
	switch sp.algo {
	case AlgoLinear:
		d := s.linearData()
		m, err := linear.Fit(ctx, d, s.p.y, f.train, f.stop, linear.Options{Task: s.linearTask(), Classes: k, Workers: workers})
		if err != nil {
			return nil, nil, false, err
		}
		pred := make([]float64, len(f.valid)*k)
		x := make([]float64, len(d.X))
		for i, r := range f.valid {
			d.Row(int(r), x)
			m.Predict(x, pred[i*k:(i+1)*k])
		}
		return m, pred, ctx.Err() != nil, nil
	}
	d, err := s.dataset(sp.bins)
	if err != nil {
		return nil, nil, false, err
	}
	p := s.gbdtParams(sp.params, seed, workers)
	train, stop := f.train, f.stop
	if p.Forest {
		// Forests do not stop early: the stop rows are training rows for them.
		train, stop = slices.Concat(f.train, f.stop), nil
		slices.Sort(train)
	}
	if len(stop) == 0 {
		stop = nil
	}
	m, err := gbdt.Fit(ctx, d, s.p.y, nil, train, stop, p)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, true, errNoModel
		}
		return nil, nil, false, err
	}
	pred := make([]float64, len(f.valid)*k)
	m.PredictRows(d, f.valid, pred)
	// The fold's predictions were the binned trees' only use, and the inference trees are
	// needed again only if the model joins the final one (assemble unshelves its members): a
	// kept fold model holds the exported trees alone.
	m.ReleaseTraining()
	m.Shelve()
	return m, pred, ctx.Err() != nil, nil
}

// runFolds fits t on the folds in idx (those not done yet) on a bounded pool that blocks, then
// merges the results in fold order, so the outcome does not depend on scheduling.
func (s *search) runFolds(ctx context.Context, t *trial, idx []int) error {
	var todo []int
	for _, fi := range idx {
		if !t.foldDone[fi] {
			todo = append(todo, fi)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	par := max(1, s.cfg.Parallel)
	workers := max(1, par/min(par, len(todo)))
	type res struct {
		m       foldModel
		pred    []float64
		stopped bool
		err     error
	}
	out := make([]res, len(todo))
	g := new(errgroup.Group)
	g.SetLimit(par)
	begin := time.Now()
	for j, fi := range todo {
		g.Go(func() error {
			seed := rng(s.cfg.Seed, streamTrial, t.id, fi).Uint64()
			m, pred, stopped, err := s.fitFold(ctx, t.spec, fi, seed, workers)
			out[j] = res{m, pred, stopped, err}
			return nil
		})
	}
	g.Wait()
	t.seconds += time.Since(begin).Seconds()
	for j, fi := range todo {
		r := out[j]
		if r.stopped {
			t.stopped = true
		}
		if errors.Is(r.err, errNoModel) {
			continue
		}
		if r.err != nil {
			return fmt.Errorf("trial %d (%s) fold %d: %w", t.id, t.spec.algo, fi+1, r.err)
		}
		t.foldDone[fi] = true
		t.models[fi] = r.m
		if gm, ok := r.m.(*gbdt.Model); ok {
			t.iters[fi] = gm.Iterations()
		}
		f := s.folds[fi]
		t.foldPred[fi] = r.pred
		for _, row := range f.valid {
			t.oofCnt[row]++
		}
		t.foldLoss[fi] = s.foldLoss(f.valid, r.pred)
	}
	s.score_(t)
	return nil
}

// foldLoss is the log loss (RMSE for regression) of one fold's predictions: the halving rank.
func (s *search) foldLoss(rows []int32, pred []float64) float64 {
	y := make([]float64, len(rows))
	for i, r := range rows {
		y[i] = s.p.y[r]
	}
	if s.p.task == model.Regression {
		return rmse(y, pred)
	}
	return logLoss(y, pred, s.p.k())
}

// score_ recomputes t's metrics over the rows its folds cover. A full trial keeps its OOF
// matrix (it is a candidate for the ensemble) and drops its per-fold predictions; a partial
// one keeps only those.
func (s *search) score_(t *trial) {
	oof, rows := s.means(t)
	if len(rows) == 0 {
		t.metrics, t.sel = nil, math.Inf(1)
		return
	}
	t.metrics = s.metricsOn(rows, oof)
	if s.full(t) {
		t.oof, t.foldPred, t.oofCnt = oof, nil, nil
		t.sel = s.score(oof)
	} else {
		t.sel = math.Inf(1)
	}
}

// means is t's n×k out-of-fold matrix (zero on rows no done fold covers) and the covered rows.
// Fold predictions are summed in fold order then divided by the repeats, as the matrix has
// always been built, so its bits do not depend on when each fold was fitted.
func (s *search) means(t *trial) ([]float64, []int) {
	k, n := s.p.k(), len(s.p.y)
	if t.oof != nil && t.oofCnt == nil {
		return t.oof, allRows(n)
	}
	oof := make([]float64, n*k)
	for fi, pred := range t.foldPred {
		if pred == nil {
			continue
		}
		for i, row := range s.folds[fi].valid {
			for c := range k {
				oof[int(row)*k+c] += pred[i*k+c]
			}
		}
	}
	var rows []int
	for i, c := range t.oofCnt {
		if c > 0 {
			for j := range k {
				oof[i*k+j] /= float64(c)
			}
			rows = append(rows, i)
		}
	}
	return oof, rows
}

// materialize gives a partial trial (the fallback) the OOF matrix a candidate has.
func (s *search) materialize(t *trial) {
	if t.oof == nil {
		t.oof, _ = s.means(t)
	}
}

func allRows(n int) []int {
	r := make([]int, n)
	for i := range r {
		r[i] = i
	}
	return r
}

// metricsOn computes every metric of the task on rows of an n×k prediction matrix.
func (s *search) metricsOn(rows []int, pred []float64) map[string]float64 {
	k := s.p.k()
	if s.p.task == model.Regression {
		y := make([]float64, len(rows))
		pr := make([]float64, len(rows))
		for i, r := range rows {
			y[i], pr[i] = s.p.y[r], pred[r]
		}
		return metrics.Regression(y, pr, s.p.yMin, s.p.yMax)
	}
	y := make([]int, len(rows))
	pr := make([]float64, len(rows)*k)
	for i, r := range rows {
		y[i] = int(s.p.y[r])
		copy(pr[i*k:(i+1)*k], pred[r*k:(r+1)*k])
	}
	return metrics.Classification(y, pr, k, nil)
}

func (s *search) newTrial(sp spec) *trial {
	n, f := len(s.p.y), len(s.folds)
	t := &trial{
		id: len(s.trials) + 1, spec: sp,
		foldDone: make([]bool, f), models: make([]foldModel, f), foldLoss: make([]float64, f), iters: make([]int, f),
		foldPred: make([][]float64, f), oofCnt: make([]int32, n), sel: math.Inf(1),
	}
	s.trials = append(s.trials, t)
	return t
}

// full reports whether t covers every fold (it can then join the ensemble).
func (s *search) full(t *trial) bool { return t.folds() == len(s.folds) }

// better reports whether a beats b on the primary metric (ties: selection score).
func (s *search) better(a, b *trial) bool {
	if b == nil {
		return true
	}
	ma, okA := a.metrics[s.p.metric]
	mb, okB := b.metrics[s.p.metric]
	if okA != okB {
		return okA
	}
	if ma != mb {
		if metrics.Higher(s.p.metric) {
			return ma > mb
		}
		return ma < mb
	}
	return a.sel < b.sel
}

// finish records a trial's outcome for the stopping rule and reports it.
func (s *search) finish(t *trial) {
	// The no-improvement rule counts trials that reached every fold: a halving config screened
	// on one fold cannot improve on a full trial, and counting it ended 60 s bank searches after
	// two brackets, half-way through the budget. Halving counts its promotions instead.
	switch {
	case !s.full(t):
	case s.better(t, s.best):
		s.best = t
		s.noImprov = 0
	default:
		s.noImprov++
	}
	v, ok := t.metrics[s.p.metric]
	status := fmt.Sprintf("trial %d: %s %s", t.id, t.spec.algo, showParams(t.spec.show))
	if ok {
		status += fmt.Sprintf(" %s %.4f", s.p.metric, v)
	}
	if n := t.folds(); n < len(s.folds) {
		status += fmt.Sprintf(" (%d/%d folds)", n, len(s.folds))
	}
	if t.stopped {
		status += " (stopped by the deadline)"
	}
	s.log("%s [%.1fs]", status, t.seconds)
	if s.cfg.Progress != nil {
		s.cfg.Progress(time.Since(s.start), s.cfg.Budget, status)
	}
	s.prune()
	if testHookTrial != nil {
		testHookTrial(s)
	}
}

// testHookTrial lets a test see the search's retained state after every trial.
var testHookTrial func(*search)

// keepModels bounds memory: only the best full trials keep their fold models and OOF matrices
// (the ensemble draws from them); the rest keep their leaderboard row.
const keepModels = 12

func (s *search) prune() {
	var full []*trial
	for _, t := range s.trials {
		if t.models != nil && s.full(t) {
			full = append(full, t)
		}
	}
	keep := s.keepFor(full)
	if len(full) <= keep {
		return
	}
	slices.SortStableFunc(full, func(a, b *trial) int {
		switch {
		case a.sel < b.sel:
			return -1
		case a.sel > b.sel:
			return 1
		}
		return a.id - b.id
	})
	for _, t := range full[keep:] {
		if t == s.best {
			continue
		}
		t.drop()
	}
}

// expired reports whether the search must stop starting work.
func (s *search) expired(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	if s.cfg.MaxTrials > 0 && len(s.trials) >= s.cfg.MaxTrials {
		return true
	}
	return s.noImprov >= noImprovementLimit
}

// noImprovementLimit is Azure's early termination: 20 trials without a better score.
const noImprovementLimit = 20

func showParams(m map[string]any) string {
	if len(m) == 0 {
		return "defaults"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", k, m[k])
	}
	return b.String()
}
