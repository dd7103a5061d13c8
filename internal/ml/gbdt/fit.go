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

// fitter holds one Fit's state. Fit checks the input and builds it; boost or forest then
// drives it, the choice made once: the two share growing a tree (growTree) and little else.
type fitter struct {
	d     *Dataset
	p     *Params
	y, w  []float64
	k     int         // trees per iteration
	train []int32     // sorted: row order fixes every summation order
	base  []float64   // the constant model's scores
	g, h  [][]float64 // per class, per dataset row
	score [][]float64 // boosting: per class, per dataset row (train and valid rows only)
	rows  []int32     // rows whose gradients the job computes

	pl                 *pool
	gr                 *grower
	nFeat              int     // features per tree (FeatureFraction)
	allFeats, featPerm []int32 // 0..nf-1, and the scratch of the per-tree draw
	bagSrc, splitSrc   *rand.PCG
	rng                *rand.Rand // draws from bagSrc
}

// do computes the gradients of one fixed chunk of rows (chunking is fixed, so the result does
// not depend on the number of workers).
func (ft *fitter) do(kind, c int) {
	lo := c * gradChunk
	hi := min(lo+gradChunk, len(ft.rows))
	rows := ft.rows[lo:hi]
	w := 1.0
	switch {
	case kind == jobResidual:
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
		valid = nil // a forest does not stop early
	}
	if err := checkRows(d.rows, y, weights, &p, train, valid); err != nil {
		return nil, err
	}
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	pl := newPool(workers)
	defer pl.close()

	ft := newFitter(d, &p, y, weights, train, pl)
	var m *Model
	var err error
	if p.Forest {
		m, err = ft.forest(ctx)
	} else {
		m, err = ft.boost(ctx, valid)
	}
	if err != nil {
		return nil, err
	}
	m.Gain = make([]float64, len(d.names))
	for ti := range m.Trees {
		m.addGain(ti)
	}
	m.CatBits = m.CatBits[:m.catBitsUsed()]
	if err := m.pack(); err != nil {
		return nil, fmt.Errorf("gbdt: internal error: %w", err)
	}
	m.compact()
	return m, nil
}

// compact gives a fitted model's slices their exact lengths. Trees grow one append at a time
// and early stopping cuts the last rounds off, so without this a model kept up to twice its
// nodes' bytes (and the cut trees) alive: an AutoML search keeps dozens of fold models, and on
// a 7-class set their slack was most of its heap. The split gains were only needed for Gain.
func (m *Model) compact() {
	m.splitGain = nil
	m.Trees = exact(m.Trees)
	for i := range m.Trees {
		t := &m.Trees[i]
		t.Feature, t.Threshold, t.Left, t.Right = exact(t.Feature), exact(t.Threshold), exact(t.Left), exact(t.Right)
		t.DefaultLeft, t.CatOffset, t.Leaf = exact(t.DefaultLeft), exact(t.CatOffset), exact(t.Leaf)
	}
	m.CatBits, m.packed, m.roots = exact(m.CatBits), exact(m.packed), exact(m.roots)
	m.bnodes, m.broots, m.bsets = exact(m.bnodes), exact(m.broots), exact(m.bsets)
}

// exact is a copy of s whose capacity is its length (nil stays nil).
func exact[S ~[]E, E any](s S) S {
	if s == nil {
		return nil
	}
	out := make(S, len(s))
	copy(out, s)
	return out
}

// Shelve drops the inference form of the trees (a third of a released model's memory): a
// model kept only in case it is chosen later, whose predictions were already taken, need not
// hold it. Predicting with a shelved model panics; Unshelve rebuilds the form from the trees.
func (m *Model) Shelve() { m.packed, m.roots = nil, nil }

// Unshelve makes a shelved model predict again (it does nothing to one that is not).
func (m *Model) Unshelve() error {
	if !m.shelved() {
		return nil
	}
	if err := m.pack(); err != nil {
		return err
	}
	m.packed, m.roots = exact(m.packed), exact(m.roots)
	return nil
}

func (m *Model) shelved() bool { return len(m.roots) != len(m.Trees) }

// mustBeReady panics on a shelved model: without its inference trees it would predict the
// base score alone, silently.
func (m *Model) mustBeReady() {
	if m.shelved() {
		panic("gbdt: Predict on a shelved model (call Unshelve first)")
	}
}

// ReleaseTraining drops what the model keeps only to predict its own training Dataset fast
// (the binned twins of its trees, and the Dataset itself): about 40 % of a fitted model's
// memory. PredictRows then reads raw values from the Dataset, with the same results.
func (m *Model) ReleaseTraining() {
	m.ds, m.bnodes, m.broots, m.bsets = nil, nil, nil, nil
}

// checkRows refuses rows out of range or given twice, and labels or weights the loss cannot take.
func checkRows(n int, y, weights []float64, p *Params, train, valid []int32) error {
	mark := make([]bool, n)
	for _, set := range [][]int32{train, valid} {
		for _, r := range set {
			if r < 0 || int(r) >= n {
				return fmt.Errorf("gbdt: row %d out of range [0, %d)", r, n)
			}
			if mark[r] {
				return fmt.Errorf("gbdt: row %d given twice (train and valid rows must be distinct)", r)
			}
			mark[r] = true
			v := y[r]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("gbdt: row %d: label %v is not a finite number", r, v)
			}
			if p.Loss != "squared_error" && (v != math.Trunc(v) || v < 0 || int(v) >= p.NumClass) {
				return fmt.Errorf("gbdt: row %d: label %v is not a class index in [0, %d)", r, v, p.NumClass)
			}
			if weights != nil && !(weights[r] >= 0) {
				return fmt.Errorf("gbdt: row %d: weight %v is not >= 0", r, weights[r])
			}
		}
	}
	return nil
}

func newFitter(d *Dataset, p *Params, y, w []float64, train []int32, pl *pool) *fitter {
	k := 1
	if p.Loss == "multiclass" {
		k = p.NumClass
	}
	train = slices.Clone(train)
	slices.Sort(train)
	nf := len(d.names)
	ft := &fitter{d: d, p: p, y: y, w: w, k: k, train: train,
		g: perClass(k, d.rows), h: perClass(k, d.rows),
		pl: pl, gr: newGrower(d, p, pl, len(train)),
		nFeat:    max(1, int(math.Round(p.FeatureFraction*float64(nf)))),
		allFeats: make([]int32, nf), featPerm: make([]int32, nf),
		bagSrc: &rand.PCG{}, splitSrc: &rand.PCG{},
	}
	for j := range ft.allFeats {
		ft.allFeats[j] = int32(j)
	}
	ft.rng = rand.New(ft.bagSrc)
	ft.gr.rng = rand.New(ft.splitSrc)
	ft.gr.feats = make([]int32, 0, nf)
	ft.gr.nodeFeat = make([]int32, 0, nf)
	return ft
}

func perClass(k, n int) [][]float64 {
	v := make([][]float64, k)
	for c := range v {
		v[c] = make([]float64, n)
	}
	return v
}

// newModel is the empty model both modes add trees to, starting from ft.base.
func (ft *fitter) newModel(output string) *Model {
	d, p := ft.d, ft.p
	m := &Model{
		Loss:         p.Loss,
		NumClass:     p.NumClass,
		Features:     slices.Clone(d.names),
		Categorical:  slices.Clone(d.cat),
		NumCodes:     make([]int32, len(d.names)),
		TreesPerIter: ft.k,
		Params:       *p,
		Output:       output,
		BaseScore:    slices.Clone(ft.base),
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
	return m
}

// boost is gradient boosting: each round fits the loss's gradients on a bag of the training
// rows, shrinks the leaves by the learning rate and adds them to every row's score; with
// valid rows it stops once the loss on them stops improving and keeps the best round.
func (ft *fitter) boost(ctx context.Context, valid []int32) (*Model, error) {
	p, gr, train := ft.p, ft.gr, ft.train
	ft.base = rawScores(p.Loss, ft.priors())
	output := OutputSoftmax
	switch p.Loss {
	case "squared_error":
		output = OutputIdentity
	case "binary":
		output = OutputSigmoid
	}
	m := ft.newModel(output)
	ft.score = perClass(ft.k, ft.d.rows)
	for c := range ft.k {
		for _, set := range [][]int32{train, valid} {
			for _, r := range set {
				ft.score[c][r] = ft.base[c]
			}
		}
	}
	nBag := len(train)
	if p.BaggingFraction < 1 {
		nBag = max(1, int(math.Round(p.BaggingFraction*float64(len(train)))))
	}
	var shuffled []int32
	if nBag < len(train) {
		shuffled = make([]int32, len(train))
	}
	oob := make([]int32, 0, len(train)-nBag)

	losses := []float64{}
	if len(valid) > 0 {
		losses = append(losses, ft.validLoss(valid))
	}
	bestIter, bestLoss := 0, math.Inf(1)
	iters := 0
	for it := 0; it < p.MaxIter; it++ {
		if stop, err := interrupted(ctx, iters); stop {
			if err != nil {
				return nil, err
			}
			break
		}
		oob = ft.bag(it, nBag, shuffled, oob[:0])
		ft.rows = gr.idx
		ft.pl.run(ft, jobGrad, (len(gr.idx)+gradChunk-1)/gradChunk, len(gr.idx) < gradChunk)
		for c := range ft.k {
			ft.growTree(it, c)
			s := ft.score[c]
			for i := range gr.nodes {
				n := &gr.nodes[i]
				if n.left >= 0 {
					continue
				}
				n.value = ft.newton(n) * p.LearningRate
				for _, r := range gr.idx[n.start:n.end] {
					s[r] += n.value
				}
			}
			m.addTree(gr)
			// The tree's rows got their leaf above; the rest walk it.
			root := m.broots[len(m.broots)-1]
			for _, set := range [][]int32{oob, valid} {
				for _, r := range set {
					s[r] += m.walkBinned(root, r)
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
		nt := iters * ft.k
		m.Trees = m.Trees[:nt]
		m.broots = m.broots[:nt]
		m.bnodes = m.bnodes[:m.broots[nt-1]+int32(treeSize(&m.Trees[nt-1]))]
	}
	m.Iters = iters
	return m, nil
}

// bag puts round it's rows in gr.idx, sorted: all training rows, or BaggingFraction of them
// drawn without replacement, in which case it appends the rest (out of bag) to oob.
func (ft *fitter) bag(it, nBag int, shuffled, oob []int32) []int32 {
	gr, train := ft.gr, ft.train
	gr.idx = gr.idx[:0]
	if nBag == len(train) {
		gr.idx = append(gr.idx, train...)
		return oob
	}
	reseed(ft.bagSrc, ft.p.Seed, it, 0, streamBagging)
	copy(shuffled, train)
	for i := range nBag {
		j := i + ft.rng.IntN(len(shuffled)-i)
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	gr.idx = append(gr.idx, shuffled[:nBag]...)
	slices.Sort(gr.idx)
	b := 0
	for _, r := range train {
		if b < len(gr.idx) && gr.idx[b] == r {
			b++
		} else {
			oob = append(oob, r)
		}
	}
	return oob
}

// forest is a random forest: every tree fits the same residuals from the prior on a bootstrap
// sample (rows drawn with replacement, sqrt(features) per node: see grower.evaluate), with no
// shrinkage, and the trees are averaged.
func (ft *fitter) forest(ctx context.Context) (*Model, error) {
	p, gr, train := ft.p, ft.gr, ft.train
	ft.base = ft.priors()
	output := OutputProba
	if p.Loss == "squared_error" {
		output = OutputIdentity
	}
	m := ft.newModel(output)
	ft.rows = train
	ft.pl.run(ft, jobResidual, (len(train)+gradChunk-1)/gradChunk, false)
	iters := 0
	for it := 0; it < p.MaxIter; it++ {
		if stop, err := interrupted(ctx, iters); stop {
			if err != nil {
				return nil, err
			}
			break
		}
		reseed(ft.bagSrc, p.Seed, it, 0, streamBagging)
		gr.idx = gr.idx[:0]
		for range len(train) {
			gr.idx = append(gr.idx, train[ft.rng.IntN(len(train))])
		}
		slices.Sort(gr.idx)
		for c := range ft.k {
			ft.growTree(it, c)
			for i := range gr.nodes {
				if n := &gr.nodes[i]; n.left < 0 {
					n.value = ft.newton(n)
				}
			}
			m.addTree(gr)
		}
		iters++
	}
	m.Iters = iters
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
	return m, nil
}

// interrupted reports whether ctx ends the fit before the next round: with an error when no
// round finished, since there is then no model to return.
func interrupted(ctx context.Context, iters int) (bool, error) {
	err := ctx.Err()
	if err == nil {
		return false, nil
	}
	if iters == 0 {
		return true, fmt.Errorf("gbdt: stopped before the first iteration: %w", err)
	}
	return true, nil
}

// growTree grows class c's tree of round it on the rows in gr.idx, on a fresh draw of the
// tree's features; the caller sets the leaf values.
func (ft *fitter) growTree(it, c int) {
	gr, p := ft.gr, ft.p
	gr.feats = gr.feats[:0]
	if ft.nFeat < len(ft.allFeats) {
		reseed(ft.bagSrc, p.Seed, it, c, streamFeatures)
		copy(ft.featPerm, ft.allFeats)
		for i := range ft.nFeat {
			j := i + ft.rng.IntN(len(ft.featPerm)-i)
			ft.featPerm[i], ft.featPerm[j] = ft.featPerm[j], ft.featPerm[i]
		}
		gr.feats = append(gr.feats, ft.featPerm[:ft.nFeat]...)
		slices.Sort(gr.feats)
	} else {
		gr.feats = append(gr.feats, ft.allFeats...)
	}
	reseed(ft.splitSrc, p.Seed, it, c, streamSplit)
	gr.g, gr.h = ft.g[c], ft.h[c]
	gr.grow()
}

// newton is a leaf's Newton step, −G/(H+λ), before any shrinkage.
func (ft *fitter) newton(n *tnode) float64 {
	if den := n.h + ft.p.L2; den > 0 {
		return -n.g / den
	}
	return 0
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

// priors are the weighted class frequencies of the training rows (binary: of class 1), or the
// weighted mean target: a forest's constant model, and what boosting's starts from.
func (ft *fitter) priors() []float64 {
	sumW := 0.0
	sums := make([]float64, max(ft.k, 2))
	for _, r := range ft.train {
		wr := 1.0
		if ft.w != nil {
			wr = ft.w[r]
		}
		sumW += wr
		if ft.p.Loss == "squared_error" {
			sums[0] += wr * ft.y[r]
		} else {
			sums[int(ft.y[r])] += wr
		}
	}
	if sumW <= 0 {
		sumW = 1
	}
	pr := make([]float64, ft.k)
	if ft.p.Loss == "binary" {
		pr[0] = sums[1] / sumW
		return pr
	}
	for c := range ft.k {
		pr[c] = sums[c] / sumW
	}
	return pr
}

// rawScores turns priors into boosting's constant model, in the loss's raw scale: the
// log-odds of the base rate, the log priors, or the mean itself.
func rawScores(loss string, pr []float64) []float64 {
	const eps = 1e-15
	switch loss {
	case "binary":
		q := min(max(pr[0], eps), 1-eps)
		pr[0] = math.Log(q / (1 - q))
	case "multiclass":
		for c := range pr {
			pr[c] = math.Log(max(pr[c], eps))
		}
	}
	return pr
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
