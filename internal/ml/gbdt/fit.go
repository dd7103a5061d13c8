package gbdt

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
)

// RNG stream purposes: each (seed, iteration, purpose) gets its own PCG stream, so what one
// consumer draws never shifts another's numbers.
const (
	streamBagging = iota + 1
	streamFeatures
	streamSplit
)

// reseed points rng (backed by src) at the stream of (seed, iteration, class, purpose); a
// math/rand/v2 Rand keeps no state of its own, so this allocates nothing.
func reseed(src *rand.PCG, seed uint64, iter, class, purpose int) {
	src.Seed(seed, uint64(iter)<<24|uint64(class)<<8|uint64(purpose))
}

// fitter holds one Fit's state.
type fitter struct {
	d      *Dataset
	p      *Params
	y, w   []float64
	k      int         // trees per iteration
	score  [][]float64 // per class, per dataset row (train and valid rows only)
	g, h   [][]float64 // per class, per dataset row
	rows   []int32     // rows whose gradients the job computes
	base   []float64
	forest bool
}

// do computes the gradients of one fixed chunk of rows (chunking is fixed, so the result does
// not depend on the number of workers).
func (ft *fitter) do(_, c int) {
	lo := c * gradChunk
	hi := min(lo+gradChunk, len(ft.rows))
	rows := ft.rows[lo:hi]
	w := 1.0
	switch {
	case ft.forest:
		// A forest fits each class's residual from the prior once: leaves become class frequencies.
		for _, r := range rows {
			if ft.w != nil {
				w = ft.w[r]
			}
			for k := range ft.k {
				t := ft.y[r] // regression, and binary's 0/1 label
				if ft.k > 1 {
					t = 0
					if int(ft.y[r]) == k {
						t = 1
					}
				}
				ft.g[k][r] = (ft.base[k] - t) * w
				ft.h[k][r] = w
			}
		}
	case ft.p.Loss == "binary":
		g, h, s := ft.g[0], ft.h[0], ft.score[0]
		for _, r := range rows {
			if ft.w != nil {
				w = ft.w[r]
			}
			p := sigmoid(s[r])
			g[r] = (p - ft.y[r]) * w
			h[r] = p * (1 - p) * w
		}
	case ft.p.Loss == "squared_error":
		g, h, s := ft.g[0], ft.h[0], ft.score[0]
		for _, r := range rows {
			if ft.w != nil {
				w = ft.w[r]
			}
			g[r] = (s[r] - ft.y[r]) * w
			h[r] = w
		}
	default:
		var buf [64]float64
		var pr []float64
		if ft.k <= len(buf) {
			pr = buf[:ft.k]
		} else {
			pr = make([]float64, ft.k)
		}
		for _, r := range rows {
			if ft.w != nil {
				w = ft.w[r]
			}
			for k := range ft.k {
				pr[k] = ft.score[k][r]
			}
			softmax(pr)
			yk := int(ft.y[r])
			for k, p := range pr {
				t := 0.0
				if k == yk {
					t = 1
				}
				ft.g[k][r] = (p - t) * w
				ft.h[k][r] = p * (1 - p) * w
			}
		}
	}
}

// Fit trains on the rows in train. y[i] is the label of Dataset row i: the class index
// 0..NumClass-1 as float64, or the target value. valid (may be nil; must not overlap train)
// are rows for early stopping on the loss, as sklearn's _should_stop; the best iteration is
// kept. weights (may be nil) are per-row sample weights. A ctx deadline or cancellation stops
// between iterations and returns the shorter model with a nil error if at least one iteration
// finished. The model depends only on the data, rows, params and Seed, not on Workers or GOMAXPROCS.
func Fit(ctx context.Context, d *Dataset, y []float64, weights []float64, train, valid []int32, p Params) (*Model, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if len(y) != d.rows {
		return nil, fmt.Errorf("gbdt: %d labels for %d rows", len(y), d.rows)
	}
	if weights != nil && len(weights) != d.rows {
		return nil, fmt.Errorf("gbdt: %d weights for %d rows", len(weights), d.rows)
	}
	if len(train) == 0 {
		return nil, fmt.Errorf("gbdt: no training rows")
	}
	if p.Forest {
		valid = nil
	}
	mark := make([]uint8, d.rows)
	for _, set := range [][]int32{train, valid} {
		for _, r := range set {
			if r < 0 || int(r) >= d.rows {
				return nil, fmt.Errorf("gbdt: row %d out of range [0, %d)", r, d.rows)
			}
			if mark[r] != 0 {
				return nil, fmt.Errorf("gbdt: row %d given twice (train and valid rows must be distinct)", r)
			}
			mark[r] = 1
			v := y[r]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("gbdt: row %d: label %v is not a finite number", r, v)
			}
			if p.Loss != "squared_error" && (v != math.Trunc(v) || v < 0 || int(v) >= p.NumClass) {
				return nil, fmt.Errorf("gbdt: row %d: label %v is not a class index in [0, %d)", r, v, p.NumClass)
			}
			if weights != nil && !(weights[r] >= 0) {
				return nil, fmt.Errorf("gbdt: row %d: weight %v is not >= 0", r, weights[r])
			}
		}
	}
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	pl := newPool(workers)
	defer pl.close()

	k := 1
	if p.Loss == "multiclass" {
		k = p.NumClass
	}
	ft := &fitter{d: d, p: &p, y: y, w: weights, k: k, forest: p.Forest,
		score: make([][]float64, k), g: make([][]float64, k), h: make([][]float64, k)}
	for c := range k {
		ft.score[c] = make([]float64, d.rows)
		ft.g[c] = make([]float64, d.rows)
		ft.h[c] = make([]float64, d.rows)
	}
	train = slices.Clone(train)
	slices.Sort(train) // row order fixes every summation order
	ft.base = baseScore(&p, y, weights, train, k)

	m := &Model{
		Loss:         p.Loss,
		NumClass:     p.NumClass,
		Features:     slices.Clone(d.names),
		Categorical:  slices.Clone(d.cat),
		NumCodes:     make([]int32, len(d.names)),
		TreesPerIter: k,
		Params:       p,
		ds:           d,
	}
	m.Params.Workers = 0
	if p.Loss == "squared_error" {
		m.NumClass = 0
		m.Params.NumClass = 0
	}
	for j := range d.names {
		m.NumCodes[j] = int32(d.numCodes[j])
	}
	switch {
	case p.Loss == "squared_error":
		m.Output = OutputIdentity
	case p.Forest:
		m.Output = OutputProba
	case p.Loss == "binary":
		m.Output = OutputSigmoid
	default:
		m.Output = OutputSoftmax
	}
	m.BaseScore = slices.Clone(ft.base)
	for c := range k {
		for _, set := range [][]int32{train, valid} {
			for _, r := range set {
				ft.score[c][r] = ft.base[c]
			}
		}
	}

	gr := newGrower(d, &p, pl, len(train))
	nBag := len(train)
	if p.Forest {
		nBag = len(train)
	} else if p.BaggingFraction < 1 {
		nBag = max(1, int(math.Round(p.BaggingFraction*float64(len(train)))))
	}
	oob := make([]int32, 0, len(train)-nBag)
	shuffled := make([]int32, len(train))
	nFeat := max(1, int(math.Round(p.FeatureFraction*float64(len(d.names)))))
	allFeats := make([]int32, len(d.names))
	for j := range allFeats {
		allFeats[j] = int32(j)
	}
	gr.feats = make([]int32, 0, len(d.names))
	featPerm := make([]int32, len(d.names))
	bagSrc, splitSrc := &rand.PCG{}, &rand.PCG{}
	rng := rand.New(bagSrc)
	gr.rng = rand.New(splitSrc)
	gr.nodeFeat = make([]int32, 0, len(d.names))

	if p.Forest {
		ft.rows = train
		pl.run(ft, jobGrad, (len(train)+gradChunk-1)/gradChunk, false)
	}
	losses := []float64{}
	if len(valid) > 0 {
		losses = append(losses, ft.validLoss(valid))
	}
	bestIter, bestLoss := 0, math.Inf(1)
	iters := 0
	for it := 0; it < p.MaxIter; it++ {
		if err := ctx.Err(); err != nil {
			if iters == 0 {
				return nil, fmt.Errorf("gbdt: stopped before the first iteration: %w", err)
			}
			break
		}
		// Rows of this iteration's trees (shared by the classes of one iteration).
		gr.idx = gr.idx[:0]
		oob = oob[:0]
		switch {
		case p.Forest:
			reseed(bagSrc, p.Seed, it, 0, streamBagging)
			for range len(train) {
				gr.idx = append(gr.idx, train[rng.IntN(len(train))])
			}
			slices.Sort(gr.idx)
		case nBag < len(train):
			reseed(bagSrc, p.Seed, it, 0, streamBagging)
			copy(shuffled, train)
			for i := range nBag {
				j := i + rng.IntN(len(shuffled)-i)
				shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
			}
			gr.idx = append(gr.idx, shuffled[:nBag]...)
			slices.Sort(gr.idx)
			// Out-of-bag rows: train minus the sorted bag.
			b := 0
			for _, r := range train {
				if b < len(gr.idx) && gr.idx[b] == r {
					b++
				} else {
					oob = append(oob, r)
				}
			}
		default:
			gr.idx = append(gr.idx, train...)
		}
		if !p.Forest {
			ft.rows = gr.idx
			pl.run(ft, jobGrad, (len(gr.idx)+gradChunk-1)/gradChunk, len(gr.idx) < gradChunk)
		}
		for c := range k {
			gr.feats = gr.feats[:0]
			if nFeat < len(allFeats) {
				reseed(bagSrc, p.Seed, it, c, streamFeatures)
				copy(featPerm, allFeats)
				for i := range nFeat {
					j := i + rng.IntN(len(featPerm)-i)
					featPerm[i], featPerm[j] = featPerm[j], featPerm[i]
				}
				gr.feats = append(gr.feats, featPerm[:nFeat]...)
				slices.Sort(gr.feats)
			} else {
				gr.feats = append(gr.feats, allFeats...)
			}
			reseed(splitSrc, p.Seed, it, c, streamSplit)
			gr.g, gr.h = ft.g[c], ft.h[c]
			gr.grow()
			for i := range gr.nodes {
				n := &gr.nodes[i]
				if n.left >= 0 {
					continue
				}
				v := 0.0
				if den := n.h + p.L2; den > 0 {
					v = -n.g / den
				}
				if !p.Forest {
					v *= p.LearningRate
				}
				n.value = v
				if !p.Forest {
					s := ft.score[c]
					for _, r := range gr.idx[n.start:n.end] {
						s[r] += v
					}
				}
			}
			m.addTree(gr)
			if !p.Forest {
				root := m.broots[len(m.broots)-1]
				s := ft.score[c]
				for _, set := range [][]int32{oob, valid} {
					for _, r := range set {
						s[r] += m.walkBinned(root, r)
					}
				}
			}
		}
		iters++
		if len(valid) > 0 {
			loss := ft.validLoss(valid)
			losses = append(losses, loss)
			if loss < bestLoss {
				bestIter, bestLoss = iters, loss
			}
			if shouldStop(losses, p.NIterNoChange, p.Tol) {
				break
			}
		}
	}
	if len(valid) > 0 && bestIter > 0 && bestIter < iters {
		iters = bestIter
		nt := iters * k
		m.Trees = m.Trees[:nt]
		m.broots = m.broots[:nt]
		m.bnodes = m.bnodes[:m.broots[nt-1]+int32(treeSize(&m.Trees[nt-1]))]
	}
	m.Iters = iters
	m.Gain = make([]float64, len(d.names))
	for ti := range m.Trees {
		m.addGain(ti)
	}
	if p.Forest {
		// Average instead of sum: fold 1/T into the leaves so Predict stays a plain sum.
		inv := 1 / float64(iters)
		for ti := range m.Trees {
			for l := range m.Trees[ti].Leaf {
				m.Trees[ti].Leaf[l] *= inv
			}
		}
		for i := range m.bnodes {
			m.bnodes[i].value *= inv
		}
	}
	m.CatBits = m.CatBits[:m.catBitsUsed()]
	if err := m.pack(); err != nil {
		return nil, fmt.Errorf("gbdt: internal error: %w", err)
	}
	return m, nil
}

func treeSize(t *Tree) int { return 2*len(t.Feature) + 1 }

// catBitsUsed is the length of CatBits the kept trees refer to (truncation drops the rest).
func (m *Model) catBitsUsed() int {
	n := 0
	for ti := range m.Trees {
		t := &m.Trees[ti]
		for i, off := range t.CatOffset {
			if off >= 0 {
				n = max(n, int(off)+(int(m.NumCodes[t.Feature[i]])+31)/32)
			}
		}
	}
	return n
}

// addGain needs the split gains, which only the grower knew; they are kept per tree while fitting.
func (m *Model) addGain(ti int) {
	t := &m.Trees[ti]
	for i, f := range t.Feature {
		m.Gain[f] += m.splitGain[ti][i]
	}
}

// baseScore is the constant model: log-odds of the base rate, log priors, or the mean (weighted).
func baseScore(p *Params, y, w []float64, train []int32, k int) []float64 {
	const eps = 1e-15
	sumW := 0.0
	sums := make([]float64, max(k, 2))
	for _, r := range train {
		wr := 1.0
		if w != nil {
			wr = w[r]
		}
		sumW += wr
		switch p.Loss {
		case "squared_error":
			sums[0] += wr * y[r]
		default:
			sums[int(y[r])] += wr
		}
	}
	if sumW <= 0 {
		sumW = 1
	}
	base := make([]float64, k)
	switch {
	case p.Loss == "squared_error":
		base[0] = sums[0] / sumW
	case p.Forest && p.Loss == "binary":
		base[0] = sums[1] / sumW
	case p.Forest:
		for c := range k {
			base[c] = sums[c] / sumW
		}
	case p.Loss == "binary":
		q := min(max(sums[1]/sumW, eps), 1-eps)
		base[0] = math.Log(q / (1 - q))
	default:
		for c := range k {
			base[c] = math.Log(max(sums[c]/sumW, eps))
		}
	}
	return base
}

// validLoss is the weighted mean loss on the validation rows: binary or multinomial log loss,
// or half squared error (sklearn's losses, so its tolerance means the same).
func (ft *fitter) validLoss(valid []int32) float64 {
	var sum, sumW float64
	for _, r := range valid {
		w := 1.0
		if ft.w != nil {
			w = ft.w[r]
		}
		var l float64
		switch ft.p.Loss {
		case "binary":
			s := ft.score[0][r]
			// log(1+e^s) − y·s, computed without overflow
			if s > 0 {
				l = s + math.Log1p(math.Exp(-s))
			} else {
				l = math.Log1p(math.Exp(s))
			}
			l -= ft.y[r] * s
		case "squared_error":
			d := ft.score[0][r] - ft.y[r]
			l = d * d / 2
		default:
			mx := math.Inf(-1)
			for c := range ft.k {
				mx = max(mx, ft.score[c][r])
			}
			var se float64
			for c := range ft.k {
				se += math.Exp(ft.score[c][r] - mx)
			}
			l = mx + math.Log(se) - ft.score[int(ft.y[r])][r]
		}
		sum += w * l
		sumW += w
	}
	if sumW == 0 {
		return 0
	}
	return sum / sumW
}

// shouldStop is sklearn's _should_stop on scores = −loss: stop when none of the last n scores
// beats the one n+1 back by more than tol. losses[0] is the constant model's.
func shouldStop(losses []float64, n int, tol float64) bool {
	ref := n + 1
	if len(losses) < ref {
		return false
	}
	refScore := -losses[len(losses)-ref] + tol
	for _, l := range losses[len(losses)-ref+1:] {
		if -l > refScore {
			return false
		}
	}
	return true
}
