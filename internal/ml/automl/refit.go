package automl

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mlflow-go/mlflow/internal/ml/gbdt"
	"github.com/mlflow-go/mlflow/internal/ml/linear"
)

// streamRefit keys the refit fits' seeds apart from every fold fit's.
const streamRefit = streamSearch + 1

// refitMargin is what refitting leaves of the budget for encoding, decoding and registering the
// artifact; a refit still running then is abandoned and its member keeps its fold models.
const refitMargin = time.Second

// refitReserve is the extra part of the budget the search leaves for refitting when Refit is
// on. A refit member costs about one fold fit on k/(k-1) times the rows, all members share the
// pool: on the bank set (8 members, 21k rows, 2 cores) the refit took 1.7 s of a 60 s budget,
// and the ordinary reserve adds its own slack for a loaded machine.
func refitReserve(budget time.Duration) time.Duration { return budget / 20 }

// refit fits each selected member once on every training row (docs/automl.md#refit, AutoGluon's
// refit_full): a boosted model for the mean of its folds' kept iterations without early
// stopping, a forest with its tree count, a linear model at the C its folds chose most often.
// It returns one model per member, nil where the member keeps its fold models (a fit that
// failed or would overrun the budget; each is logged). A search run on a sample refits its
// tree members on every row of the data, one at a time (refitSampled).
func (s *search) refit(ctx context.Context, mems []member) []foldModel {
	out := make([]foldModel, len(mems))
	rctx, cancel := ctx, context.CancelFunc(func() {})
	var end time.Time
	if s.cfg.Budget > 0 {
		end = s.start.Add(s.cfg.Budget - refitMargin)
		if time.Until(end) <= 0 {
			s.log("refit skipped: no budget left (%.1fs used); the members keep their fold models", time.Since(s.start).Seconds())
			return out
		}
		rctx, cancel = context.WithDeadline(ctx, end)
	}
	defer cancel()
	if s.refitWhole {
		return s.refitSampled(rctx, mems, end)
	}
	all := allRows32(len(s.p.y))
	par := max(1, s.cfg.Parallel)
	workers := max(1, par/min(par, len(mems)))
	errs := make([]error, len(mems))
	g := new(errgroup.Group)
	g.SetLimit(par)
	begin := time.Now()
	for i, m := range mems {
		g.Go(func() error {
			out[i], errs[i] = s.refitOne(rctx, m.t, all, workers, false)
			return nil
		})
	}
	g.Wait()
	kept := 0
	for i, err := range errs {
		if err != nil {
			out[i] = nil
			kept++
			s.log("refit of trial %d (%s) not used: %v; it keeps its fold models", mems[i].t.id, mems[i].t.spec.algo, err)
		}
	}
	s.log("refit %d of %d members on all %d rows in %.1fs", len(mems)-kept, len(mems), len(all), time.Since(begin).Seconds())
	return out
}

var errRefitDeadline = errors.New("the budget ran out")

// refitOne fits t once on rows: of the search's problem, or with whole of every row of a
// sampled search (a tree member; a linear one always reads the sample).
func (s *search) refitOne(ctx context.Context, t *trial, all []int32, workers int, whole bool) (foldModel, error) {
	k := s.p.k()
	seed := rng(s.cfg.Seed, streamRefit, t.id, 0).Uint64()
	if t.spec.algo == AlgoLinear {
		var cs []float64
		for _, m := range t.models {
			if lm, ok := m.(*linear.Model); ok {
				cs = append(cs, lm.C)
			}
		}
		m, err := linear.Fit(ctx, s.linearData(), s.p.y, all, nil, linear.Options{Task: s.linearTask(), Classes: k, Cs: []float64{modeC(cs)}, Workers: workers})
		if ctx.Err() != nil {
			return nil, errRefitDeadline
		}
		if err != nil {
			return nil, err
		}
		return m, nil
	}
	d, y := (*gbdt.Dataset)(nil), s.p.y
	var err error
	if whole {
		d, err = s.fullDataset(t.spec.bins)
		y = s.whole.y
	} else {
		d, err = s.dataset(t.spec.bins)
	}
	if err != nil {
		return nil, err
	}
	p := s.gbdtParams(t.spec.params, seed, workers)
	if !p.Forest {
		sum, n := 0, 0
		for fi, done := range t.foldDone {
			if done {
				sum += t.iters[fi]
				n++
			}
		}
		p.MaxIter = max(1, int(math.Round(float64(sum)/float64(n))))
	}
	m, err := gbdt.Fit(ctx, d, y, nil, all, nil, p)
	if ctx.Err() != nil {
		// A fit cut short by the deadline is a weaker model than the folds: never use it.
		return nil, errRefitDeadline
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// modeC is the C most folds chose (the smallest on ties, the stronger regularisation).
func modeC(cs []float64) float64 {
	if len(cs) == 0 {
		return linear.DefaultCs[len(linear.DefaultCs)/2]
	}
	cs = slices.Clone(cs)
	slices.Sort(cs)
	best, bestN := cs[0], 0
	for i := 0; i < len(cs); {
		j := i
		for j < len(cs) && cs[j] == cs[i] {
			j++
		}
		if j-i > bestN {
			best, bestN = cs[i], j-i
		}
		i = j
	}
	return best
}
