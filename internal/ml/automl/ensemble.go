package automl

import (
	"cmp"
	"math"
	"slices"
	"strconv"

	"github.com/mlflow-go/mlflow/internal/ml/model"
)

// ensembleSteps is AutoGluon's ensemble_size: "above 25 no measurable improvement".
const ensembleSteps = 25

// scorer is a selection criterion over an n×k prediction matrix; lower is better.
type scorer func(pred []float64) float64

// selectionScorer is what ensembling optimises: log loss for classification whatever the primary
// metric (never jumpy accuracy), RMSE for regression. Log loss rewards calibrated probabilities,
// which is what both the 0.5 threshold (accuracy) and the ranking (AUC) read; selecting on AUC
// when it was primary gave no better hold-out AUC and a lower accuracy on bank marketing
// (3 seeds, internal/ml/automl/study_test.go), and costs a sort per step and candidate.
func selectionScorer(p *problem) (scorer, string) {
	k := p.k()
	if p.task == "regression" {
		return func(pred []float64) float64 { return rmse(p.y, pred) }, "root_mean_squared_error"
	}
	return func(pred []float64) float64 { return logLoss(p.y, pred, k) }, "log_loss"
}

// caruana is greedy ensemble selection with replacement (Caruana et al., ICML 2004): each step
// adds the candidate that makes the running average best, ties to a candidate already picked,
// then to the earlier one; the best prefix of the trajectory is kept. It returns one weight per
// candidate (picks / steps of that prefix) and the prefix's score.
func caruana(cands [][]float64, score scorer, steps int) ([]float64, float64) {
	return caruanaCapped(cands, make([]float64, len(cands)), math.Inf(1), score, steps)
}

// caruanaCapped is caruana with an inference budget: a candidate not yet in the ensemble may
// join only while the members' summed cost stays within limit. When no candidate fits alone,
// the cheapest is the ensemble, so there is always a model.
func caruanaCapped(cands [][]float64, cost []float64, limit float64, score scorer, steps int) ([]float64, float64) {
	var idx []int
	for i, c := range cost {
		if c <= limit {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		w := make([]float64, len(cands))
		cheapest := 0
		for i, c := range cost {
			if c < cost[cheapest] {
				cheapest = i
			}
		}
		w[cheapest] = 1
		return w, score(cands[cheapest])
	}
	n := len(cands[0])
	sum := make([]float64, n)
	avg := make([]float64, n)
	counts := make([]int, len(cands))
	spent := 0.0
	best := math.Inf(1)
	var bestCounts []int
	bestSteps := 0
	for s := 1; s <= steps; s++ {
		pick, pickScore := -1, math.Inf(1)
		for _, c := range idx {
			if counts[c] == 0 && spent+cost[c] > limit {
				continue
			}
			pred := cands[c]
			inv := 1 / float64(s)
			for i := range avg {
				avg[i] = (sum[i] + pred[i]) * inv
			}
			sc := score(avg)
			if sc < pickScore || sc == pickScore && pick >= 0 && counts[c] > 0 && counts[pick] == 0 {
				pick, pickScore = c, sc
			}
		}
		if pick < 0 {
			break
		}
		if counts[pick] == 0 {
			spent += cost[pick]
		}
		counts[pick]++
		for i, v := range cands[pick] {
			sum[i] += v
		}
		if pickScore < best {
			best, bestSteps, bestCounts = pickScore, s, slices.Clone(counts)
		}
	}
	w := make([]float64, len(cands))
	for c, k := range bestCounts {
		w[c] = float64(k) / float64(bestSteps)
	}
	return w, best
}

// inferenceCost is the estimated per-row cost of trial t in the final model: refit to one
// model, or its fold models when refit is off.
func (s *search) inferenceCost(t *trial) float64 {
	c := inferenceCost(t, s.p.k(), s.linearSlots())
	if !s.cfg.Refit {
		c *= float64(max(1, t.folds()))
	}
	return c
}

// costTolerance is how much worse (relative selection loss, out of fold) a model within the
// inference bound may be than the best without it. Past that the bound gives way, doubling:
// a fixed bound on trees left only a linear model on sets that need many boosting rounds
// (friedman1: r2 0.80 against 0.95), while on bank marketing the bounded ensemble is as good.
const costTolerance = 0.01

// withinTolerance reports whether loss (lower is better) is within costTolerance of best.
func withinTolerance(loss, best float64) bool {
	return loss <= best+costTolerance*math.Abs(best)
}

// costLimit is MaxInferenceCost for this task: multiplied by the class count for multiclass
// classification, so that the bound admits as many boosting rounds whatever the classes
// (without it a 10-class default GBDT would cost 5 times the bound and be left out).
func (s *search) costLimit() float64 {
	if k := s.p.k(); s.p.task != model.Regression && k > 2 {
		return s.cfg.MaxInferenceCost * float64(k)
	}
	return s.cfg.MaxInferenceCost
}

func formatLimit(l float64) string {
	if l <= 0 {
		return "none"
	}
	return strconv.FormatFloat(l, 'f', -1, 64)
}

// inferenceCost estimates the tree nodes one row visits in the model a trial would refit to:
// its trees (the folds' mean kept iterations, times the classes for softmax boosting) times
// the depth of a balanced tree with its leaf limit. It ranks candidates by latency; it is not a
// prediction in nanoseconds. A linear model costs one multiply-add per input slot, about a
// node's work per eight.
func inferenceCost(t *trial, k, linearSlots int) float64 {
	if t.spec.algo == AlgoLinear {
		return float64(linearSlots) / 8
	}
	p := t.spec.params
	var trees float64
	var n int
	for fi, done := range t.foldDone {
		if done && fi < len(t.iters) {
			trees += float64(t.iters[fi])
			n++
		}
	}
	if n == 0 {
		trees = float64(p.MaxIter)
	} else {
		trees /= float64(n)
	}
	if !p.Forest && k > 2 {
		trees *= float64(k)
	}
	leaves := p.MaxLeaves
	if leaves <= 0 {
		leaves = 1 << 12
	}
	depth := math.Log2(float64(leaves))
	if p.MaxDepth > 0 {
		depth = min(depth, float64(p.MaxDepth))
	}
	return trees * max(depth, 1)
}

func logLoss(y, pred []float64, k int) float64 {
	s := 0.0
	for i, yi := range y {
		s -= math.Log(min(max(pred[i*k+int(yi)], 1e-15), 1))
	}
	return s / float64(len(y))
}

func rmse(y, pred []float64) float64 {
	s := 0.0
	for i, yi := range y {
		d := pred[i] - yi
		s += d * d
	}
	return math.Sqrt(s / float64(len(y)))
}

// aucWeighted is the one-vs-rest AUC per class weighted by class support (the binary AUC for two
// classes), with tie-averaged ranks.
func aucWeighted(y, pred []float64, k int) float64 {
	n := len(y)
	if k == 2 {
		return auc(y, pred, k, 1, n)
	}
	total, wsum := 0.0, 0.0
	support := make([]int, k)
	for _, v := range y {
		support[int(v)]++
	}
	for c := range k {
		if support[c] == 0 || support[c] == n {
			continue
		}
		total += float64(support[c]) * auc(y, pred, k, c, n)
		wsum += float64(support[c])
	}
	if wsum == 0 {
		return 0.5
	}
	return total / wsum
}

func auc(y, pred []float64, k, c, n int) float64 {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(pred[a*k+c], pred[b*k+c]) })
	pos := 0
	rankSum := 0.0
	for i := 0; i < n; {
		j := i
		for j < n && pred[idx[j]*k+c] == pred[idx[i]*k+c] {
			j++
		}
		avgRank := float64(i+j+1) / 2 // ranks i+1..j averaged
		for t := i; t < j; t++ {
			if int(y[idx[t]]) == c {
				pos++
				rankSum += avgRank
			}
		}
		i = j
	}
	neg := n - pos
	if pos == 0 || neg == 0 {
		return 0.5
	}
	return (rankSum - float64(pos)*float64(pos+1)/2) / (float64(pos) * float64(neg))
}
