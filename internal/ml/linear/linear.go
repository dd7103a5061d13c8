// Package linear is AutoML's linear family: L2-regularised logistic (binary and multinomial)
// regression and ridge regression on one-hot categories and standardised, median-imputed
// numerics with missing flags (docs/automl.md#linear-models). Weak alone, it is decorrelated from
// the trees, which is what the ensemble wants from it.
//
// A row is the same []float64 the tree models read: raw numbers, category codes as float64,
// NaN for missing. The encoding is applied on the fly, so prediction allocates nothing.
package linear

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// MaxOneHot is how many levels of a categorical column get their own one-hot slot; the rarer
// ones share an "other" slot (design: one-hot up to 64 levels).
const MaxOneHot = 64

// Task of a linear model.
const (
	Binary     = "binary"
	Multiclass = "multiclass"
	Regression = "regression"
)

// Column describes one input column to the encoder.
type Column struct {
	Name        string
	Categorical bool // Categorical or Boolean in the frame: values are codes
	Levels      int  // dictionary size (categorical only)
}

// Numeric is the encoding of a numeric column: (x - Mean)/Std, missing (NaN, or ±Inf) -> Median's
// standardised value plus a missing flag slot when training saw a missing value.
type Numeric struct {
	Mean    float64 `json:"mean"`
	Std     float64 `json:"std"`
	Median  float64 `json:"median"`
	Missing int     `json:"missing_slot"` // slot of the missing flag, -1 when none
}

// Categorical is the encoding of a categorical column: Slot[code] is the code's one-hot slot;
// unseen codes use Other and missing values use Missing.
type Categorical struct {
	Slot    []int32 `json:"slot"`
	Other   int32   `json:"other_slot"`
	Missing int32   `json:"missing_slot"`
}

// Feature is one input column's encoding: exactly one of Num or Cat is set. Base is the slot of
// the standardised numeric value.
type Feature struct {
	Name string       `json:"name"`
	Base int          `json:"base"`
	Num  *Numeric     `json:"num,omitempty"`
	Cat  *Categorical `json:"cat,omitempty"`
}

// Model is a fitted linear model. W[k] holds output k's slot weights; B[k] its intercept.
type Model struct {
	Task     string      `json:"task"`
	Classes  int         `json:"classes,omitempty"`
	Features []Feature   `json:"features"`
	Slots    int         `json:"slots"`
	W        [][]float64 `json:"w"`
	B        []float64   `json:"b"`
	C        float64     `json:"c"` // the regularisation chosen (logistic C or 1/ridge alpha)
}

// NumOutputs is the length of Predict's out: class probabilities, or 1 for regression.
func (m *Model) NumOutputs() int {
	if m.Task == Regression {
		return 1
	}
	return m.Classes
}

// Predict writes the class probabilities (or the regression value) of raw row x to out.
func (m *Model) Predict(x, out []float64) {
	for k := range m.W {
		out[k] = m.B[k] + m.score(m.W[k], x)
	}
	switch m.Task {
	case Binary:
		p := sigmoid(out[0])
		out[0], out[1] = 1-p, p
	case Multiclass:
		softmax(out[:m.Classes])
	}
}

// score is w · encode(x) without building the encoded row.
func (m *Model) score(w []float64, x []float64) float64 {
	s := 0.0
	for j := range m.Features {
		f := &m.Features[j]
		v := x[j]
		if f.Num != nil {
			if !finite(v) {
				s += w[f.Base] * (f.Num.Median - f.Num.Mean) / f.Num.Std
				if f.Num.Missing >= 0 {
					s += w[f.Num.Missing]
				}
				continue
			}
			s += w[f.Base] * (v - f.Num.Mean) / f.Num.Std
			continue
		}
		c := f.Cat
		switch {
		case v != v || v < 0:
			s += w[c.Missing]
		case v < float64(len(c.Slot)) && c.Slot[int(v)] >= 0:
			s += w[c.Slot[int(v)]]
		default:
			s += w[c.Other]
		}
	}
	return s
}

// finite reports whether v is neither NaN nor ±Inf. A number the CSV reader took for ±Inf (an
// overflow such as 1e999) is encoded as missing: standardising it would make every weight NaN.
func finite(v float64) bool { return v-v == 0 }

// Data is the training matrix in the same raw form Predict reads: X[j][i] is column j of row i.
type Data struct {
	Cols []Column
	X    [][]float64
}

// Row copies row i into x.
func (d *Data) Row(i int, x []float64) {
	for j := range d.X {
		x[j] = d.X[j][i]
	}
}

// Options configure Fit.
type Options struct {
	Task    string // Binary, Multiclass or Regression
	Classes int    // number of classes (classification)
	// Cs are the candidate inverse regularisation strengths; the one with the best log loss
	// (RMSE for regression) on valid is refit on train+valid. Empty means {0.01, 0.1, 1, 10}.
	Cs       []float64
	MaxIters int // L-BFGS iterations per fit, 0 = 200
	// Workers is how many goroutines share a fit's passes over the rows (0 or 1: the calling
	// goroutine alone). It cannot change the model.
	Workers int
}

// DefaultCs is the C grid of the design.
var DefaultCs = []float64{0.01, 0.1, 1, 10}

// minGain is the least relative drop of the stop-set loss that makes the path go on to the next,
// larger C. Smaller gains are below what a stop set of a few thousand rows can tell apart, and
// the larger Cs, weakly regularised, are the slow fits.
const minGain = 1e-3

// Fit fits a model on rows train, choosing C by the loss on rows valid (a split of the caller's
// training part, so the choice is made inside the fold), then refits on train ∪ valid with the
// chosen C. With no valid rows it fits the middle C. ctx cancels between fits and stops L-BFGS
// (the best point so far is kept).
func Fit(ctx context.Context, d *Data, y []float64, train, valid []int32, o Options) (*Model, error) {
	if len(train) == 0 {
		return nil, errors.New("linear: no training rows")
	}
	switch {
	case o.Task != Binary && o.Task != Multiclass && o.Task != Regression:
		return nil, fmt.Errorf("linear: unknown task %q", o.Task)
	case o.Task != Regression && o.Classes < 2:
		return nil, fmt.Errorf("linear: %d classes: need at least 2", o.Classes)
	case o.Task == Binary && o.Classes != 2:
		return nil, fmt.Errorf("linear: binary task with %d classes", o.Classes)
	case len(d.X) != len(d.Cols):
		return nil, fmt.Errorf("linear: %d columns described, %d given", len(d.Cols), len(d.X))
	}
	cs := o.Cs
	if len(cs) == 0 {
		cs = DefaultCs
	}
	for _, c := range cs {
		if !(c > 0) || math.IsInf(c, 0) {
			return nil, fmt.Errorf("linear: C %v: must be a positive number", c)
		}
	}
	all := slices.Concat(train, valid)
	for _, r := range all {
		if r < 0 || int(r) >= len(y) {
			return nil, fmt.Errorf("linear: row %d: out of range (%d labels)", r, len(y))
		}
		for j, x := range d.X {
			if int(r) >= len(x) {
				return nil, fmt.Errorf("linear: row %d: column %q has %d rows", r, d.Cols[j].Name, len(x))
			}
		}
		v := y[r]
		if o.Task == Regression {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("linear: row %d: target %v is not a finite number", r, v)
			}
		} else if v != math.Trunc(v) || v < 0 || v >= float64(o.Classes) {
			return nil, fmt.Errorf("linear: row %d: label %v is not a class in [0, %d)", r, v, o.Classes)
		}
	}
	enc := newEncoder(d, all)
	capRows := len(all) // the refit appends valid's rows to train's
	if o.Task == Regression {
		capRows = len(train)
	}
	z := enc.matrixCap(d, train, capRows)
	var zv *sparse
	if len(valid) > 0 {
		zv = enc.matrix(d, valid)
	}
	// Ridge's sums over train are shared by every C, and those over valid are added for the
	// refit: one pass over each row set in all.
	var g *gram
	if o.Task == Regression {
		g = newGram(z, y, train, enc.slots)
	}
	best := cs[len(cs)/2]
	var bestParams []float64
	if zv != nil && len(cs) > 1 {
		bestLoss := math.Inf(1)
		var warm []float64
		for _, c := range cs {
			if ctx.Err() != nil {
				break
			}
			var m *Model
			if g != nil {
				m = enc.model(o, c)
				g.solve(m, c)
			} else {
				m, warm = enc.fit(ctx, z, y, train, c, o, warm)
			}
			l := m.loss(zv, y, valid)
			gain := l < bestLoss*(1-minGain)
			if l < bestLoss {
				bestLoss, best, bestParams = l, c, warm
			}
			// The stop-set loss is unimodal in C in practice: once it stops falling, larger
			// Cs only overfit more.
			if !gain {
				break
			}
		}
	}
	if g != nil {
		if zv != nil {
			g.add(newGram(zv, y, valid, enc.slots))
		}
		m := enc.model(o, best)
		g.solve(m, best)
		return m, nil
	}
	// The refit on all rows starts from the chosen C's solution: a few iterations finish it.
	if zv != nil {
		z.appendRows(zv)
	}
	m, _ := enc.fit(ctx, z, y, all, best, o, bestParams)
	return m, nil
}

// gtol is the convergence threshold of L-BFGS on the largest gradient coordinate of the
// objective (mean loss + penalty): sklearn's default tol for lbfgs. Stricter values move the
// weights by amounts the stop-set loss cannot see, at up to twice the iterations.
const gtol = 1e-4

// converge stops L-BFGS when ctx is done (the search deadline), keeping the best point so far;
// when the objective's gradient in w is below gtol in every coordinate; or when the
// objective stops moving (FunctionConverge, for problems whose gradient stays large at the
// precision the loss can be summed to).
type converge struct {
	ctx context.Context
	pc  *precond // w = P·u: the optimiser's gradient is Pᵀ times the objective's
	fc  optimize.FunctionConverge
}

func (c *converge) Init(dim int) { c.fc.Init(dim) }

func (c *converge) Converged(l *optimize.Location) optimize.Status {
	if c.ctx.Err() != nil {
		return optimize.RuntimeLimit
	}
	if c.pc.gradWInf(l.Gradient) <= gtol {
		return optimize.GradientThreshold
	}
	return c.fc.Converged(l)
}

// encoder is the label-free part of a model: the slot layout, fit on the training rows.
type encoder struct {
	features []Feature
	slots    int
}

func newEncoder(d *Data, rows []int32) *encoder {
	e := &encoder{}
	for j, col := range d.Cols {
		x := d.X[j]
		f := Feature{Name: col.Name, Base: e.slots}
		if !col.Categorical {
			vals := make([]float64, 0, len(rows))
			missing := false
			for _, r := range rows {
				if v := x[r]; finite(v) {
					vals = append(vals, v)
				} else {
					missing = true
				}
			}
			n := Numeric{Missing: -1, Std: 1}
			if len(vals) > 0 {
				n.Median = median(vals)
				// Imputed values count in the moments, so the imputed value standardises like any other.
				sum, sq := 0.0, 0.0
				for _, r := range rows {
					v := x[r]
					if !finite(v) {
						v = n.Median
					}
					sum += v
				}
				n.Mean = sum / float64(len(rows))
				for _, r := range rows {
					v := x[r]
					if !finite(v) {
						v = n.Median
					}
					sq += (v - n.Mean) * (v - n.Mean)
				}
				if sd := math.Sqrt(sq / float64(len(rows))); sd > 1e-12 && !math.IsInf(sd, 0) {
					n.Std = sd
				}
			}
			e.slots++
			if missing {
				n.Missing = e.slots
				e.slots++
			}
			f.Num = &n
		} else {
			counts := make([]int, col.Levels)
			for _, r := range rows {
				if v := x[r]; v >= 0 && v < float64(len(counts)) {
					counts[int(v)]++
				}
			}
			order := make([]int, 0, len(counts))
			for code, c := range counts {
				if c > 0 {
					order = append(order, code)
				}
			}
			// Most frequent first, ties by code: stable, so the layout depends on the data only.
			slices.SortStableFunc(order, func(a, b int) int { return counts[b] - counts[a] })
			if len(order) > MaxOneHot {
				order = order[:MaxOneHot]
			}
			c := Categorical{Slot: make([]int32, col.Levels)}
			for i := range c.Slot {
				c.Slot[i] = -1
			}
			for _, code := range order {
				c.Slot[code] = int32(e.slots)
				e.slots++
			}
			c.Other = int32(e.slots)
			c.Missing = int32(e.slots + 1)
			e.slots += 2
			f.Cat = &c
		}
		e.features = append(e.features, f)
	}
	return e
}

// median returns the median of v (the mean of the middle two for an even count), reordering v.
// A selection, not a sort: linear in len(v), which matters with a column per numeric feature
// on every fit.
func median(v []float64) float64 {
	h := len(v) / 2
	m := nth(v, h)
	if len(v)%2 == 0 {
		// nth leaves the h smallest before v[h]: the lower middle is their largest.
		m = (slices.Max(v[:h]) + m) / 2
	}
	return m
}

// nth returns the k-th smallest of v (from 0), reordering v so that v[:k] holds values ≤ it. It
// partitions three ways around a median-of-three pivot, so a column of few distinct values
// (flags, codes, a default like 999) settles in a pass or two.
func nth(v []float64, k int) float64 {
	lo, hi := 0, len(v)
	for {
		if hi-lo <= 16 {
			slices.Sort(v[lo:hi])
			return v[k]
		}
		a, b, c := v[lo], v[lo+(hi-lo)/2], v[hi-1]
		pivot := max(min(a, b), min(max(a, b), c))
		lt, i, gt := lo, lo, hi
		for i < gt {
			switch x := v[i]; {
			case x < pivot:
				v[lt], v[i] = x, v[lt]
				lt++
				i++
			case x > pivot:
				gt--
				v[i], v[gt] = v[gt], x
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt
		case k >= gt:
			lo = gt
		default:
			return pivot
		}
	}
}

// sparse is an encoded row set. A row has one standardised value per numeric column, at that
// column's fixed slot, and a few slots whose value is 1 (a categorical column's level, a missing
// flag). The values are kept dense and row-major, num[i·len(numSlot)+j] at slot numSlot[j], and
// the unit slots in CSR form, ones[ptr[i]:ptr[i+1]]: neither the ones nor the numeric slots are
// stored per row, which halves the bytes each pass over the rows reads.
type sparse struct {
	numSlot []int32
	num     []float64
	ptr     []int32
	ones    []int32
}

// row returns row i's slots and values in idx and val (reused when large enough): for the
// one-pass uses; the objective reads the split form directly.
func (z *sparse) row(i int, idx []int32, val []float64) ([]int32, []float64) {
	nn := len(z.numSlot)
	idx = append(idx[:0], z.numSlot...)
	val = append(val[:0], z.num[i*nn:(i+1)*nn]...)
	for _, c := range z.ones[z.ptr[i]:z.ptr[i+1]] {
		idx = append(idx, c)
		val = append(val, 1)
	}
	return idx, val
}

// appendRows appends b's rows to z (b encoded by the same encoder).
func (z *sparse) appendRows(b *sparse) {
	off := z.ptr[len(z.ptr)-1]
	z.num = append(z.num, b.num...)
	z.ones = append(z.ones, b.ones...)
	for _, q := range b.ptr[1:] {
		z.ptr = append(z.ptr, off+q)
	}
}

// matrix encodes rows (row i of the result is rows[i]).
func (e *encoder) matrix(d *Data, rows []int32) *sparse {
	return e.matrixCap(d, rows, len(rows))
}

// matrixCap is matrix with room for capRows rows, so that appending the rest does not copy.
func (e *encoder) matrixCap(d *Data, rows []int32, capRows int) *sparse {
	z := &sparse{ptr: make([]int32, 1, capRows+1)}
	for _, f := range e.features {
		if f.Num != nil {
			z.numSlot = append(z.numSlot, int32(f.Base))
		}
	}
	z.num = make([]float64, 0, capRows*len(z.numSlot))
	z.ones = make([]int32, 0, capRows*(len(e.features)-len(z.numSlot)))
	for _, r := range rows {
		for j := range e.features {
			f := &e.features[j]
			v := d.X[j][r]
			if f.Num != nil {
				if !finite(v) {
					z.num = append(z.num, (f.Num.Median-f.Num.Mean)/f.Num.Std)
					if f.Num.Missing >= 0 {
						z.ones = append(z.ones, int32(f.Num.Missing))
					}
				} else {
					z.num = append(z.num, (v-f.Num.Mean)/f.Num.Std)
				}
				continue
			}
			c := f.Cat
			switch {
			case v != v || v < 0:
				z.ones = append(z.ones, c.Missing)
			case v < float64(len(c.Slot)) && c.Slot[int(v)] >= 0:
				z.ones = append(z.ones, c.Slot[int(v)])
			default:
				z.ones = append(z.ones, c.Other)
			}
		}
		z.ptr = append(z.ptr, int32(len(z.ones)))
	}
	return z
}

func (e *encoder) model(o Options, c float64) *Model {
	m := &Model{Task: o.Task, Features: slices.Clone(e.features), Slots: e.slots, C: c}
	k := 1
	if o.Task == Multiclass {
		k = o.Classes
		m.Classes = o.Classes
	} else if o.Task == Binary {
		m.Classes = 2
	}
	m.W = make([][]float64, k)
	for i := range m.W {
		m.W[i] = make([]float64, e.slots)
	}
	m.B = make([]float64, k)
	return m
}

// fit fits one C on the encoded rows z (row i of z is rows[i]); warm is a previous parameter
// vector to start from. It returns the model and its parameter vector.
func (e *encoder) fit(ctx context.Context, z *sparse, y []float64, rows []int32, c float64, o Options, warm []float64) (*Model, []float64) {
	m := e.model(o, c)
	k, p := len(m.W), e.slots
	n := len(rows)
	params := make([]float64, k*(p+1))
	if len(warm) == len(params) {
		copy(params, warm)
	} else {
		// Start at the class log-priors so the first steps fit the features, not the base rate.
		prior := make([]float64, max(k, 2))
		for _, r := range rows {
			prior[int(y[r])]++
		}
		if k == 1 {
			params[p] = math.Log((prior[1] + 0.5) / (prior[0] + 0.5))
		} else {
			for j := 0; j < k; j++ {
				params[j*(p+1)+p] = math.Log((prior[j] + 0.5) / float64(n))
			}
		}
	}
	// sklearn's objective C·Σloss + ½‖w‖², divided by C·n so the scale does not depend on n.
	obj := newObjective(z, y, rows, k, p, 1/(c*float64(n)), o.Workers)
	// L-BFGS runs in coordinates where the Hessian at the start is near the identity (precond.go).
	pc := newPrecond(obj, params)
	u := make([]float64, len(params))
	pc.toU(params, u)
	x := make([]float64, len(params))
	gw := make([]float64, len(params))
	lastU := make([]float64, len(params))
	lastG := make([]float64, len(params))
	lastF, have := 0.0, false
	eval := func(u []float64) {
		if have && slices.Equal(lastU, u) {
			return
		}
		pc.toW(u, x)
		lastF = obj.eval(x, gw)
		pc.gradU(gw, lastG)
		copy(lastU, u)
		have = true
	}
	iters := o.MaxIters
	if iters <= 0 {
		iters = 200
	}
	prob := optimize.Problem{
		Func: func(u []float64) float64 { eval(u); return lastF },
		Grad: func(grad, u []float64) { eval(u); copy(grad, lastG) },
	}
	settings := &optimize.Settings{
		MajorIterations: iters,
		Converger: &converge{ctx: ctx, pc: pc,
			fc: optimize.FunctionConverge{Absolute: 1e-7, Relative: 1e-6, Iterations: 5}},
	}
	// Moré-Thuente accepts most steps at the first trial point; gonum's default bisection
	// spends 10-20 % more passes over the rows on the same fits.
	res, err := optimize.Minimize(prob, u, settings, &optimize.LBFGS{Linesearcher: &optimize.MoreThuente{}})

	// A failed line search or the iteration limit still leaves the best point found, which is a
	// usable model; only a missing result falls back to the start.
	if err == nil || res != nil {
		if res != nil && len(res.X) == len(params) {
			pc.toW(res.X, params)
		}
	}
	for j := 0; j < k; j++ {
		copy(m.W[j], params[j*(p+1):j*(p+1)+p])
		m.B[j] = params[j*(p+1)+p]
	}
	return m, params
}

// gram holds the sums ridge regression needs over a set of encoded rows: ZᵀZ (upper triangle),
// Zᵀy, Σz, Σy and the row count. They are sums over a row's few non-zero slots, so a pass costs
// rows × non-zeros², not rows × slots², and sums over disjoint row sets add.
type gram struct {
	p     int
	zz    []float64 // p×p, upper triangle
	zy, z []float64
	y     float64
	n     int
}

func newGram(z *sparse, y []float64, rows []int32, p int) *gram {
	g := &gram{p: p, zz: make([]float64, p*p), zy: make([]float64, p), z: make([]float64, p), n: len(rows)}
	var zi []int32
	var zv []float64
	for i, r := range rows {
		zi, zv = z.row(i, zi, zv)
		yr := y[r]
		g.y += yr
		for t, s := range zi {
			v := zv[t]
			g.z[s] += v
			g.zy[s] += v * yr
			// A row's slots are distinct (a column has one value slot and at most one flag).
			for u := t; u < len(zi); u++ {
				a, b := int(s), int(zi[u])
				if a > b {
					a, b = b, a
				}
				g.zz[a*p+b] += v * zv[u]
			}
		}
	}
	return g
}

func (g *gram) add(h *gram) {
	for i, v := range h.zz {
		g.zz[i] += v
	}
	for i := range g.z {
		g.z[i] += h.z[i]
		g.zy[i] += h.zy[i]
	}
	g.y += h.y
	g.n += h.n
}

// solve sets m's weights to the ridge solution (ZcᵀZc + αI)w = Zcᵀyc, α = 1/c on standardised
// features, Zc and yc centred so the intercept is not penalised; by Cholesky.
func (g *gram) solve(m *Model, c float64) {
	p, n := g.p, float64(g.n)
	a := make([]float64, p*p)
	b := make([]float64, p)
	alpha := 1 / c
	for s := range p {
		b[s] = g.zy[s] - g.z[s]*g.y/n
		for t := s; t < p; t++ {
			v := g.zz[s*p+t] - g.z[s]*g.z[t]/n
			a[s*p+t], a[t*p+s] = v, v
		}
		a[s*p+s] += alpha + 1e-9
	}
	// Without slots (no input columns) the model is the mean, and gonum has no empty matrices.
	if p > 0 {
		var ch mat.Cholesky
		w := mat.NewVecDense(p, nil)
		if ch.Factorize(mat.NewSymDense(p, a)) {
			if err := ch.SolveVecTo(w, mat.NewVecDense(p, b)); err != nil {
				w.Zero()
			}
		}
		copy(m.W[0], w.RawVector().Data)
	}
	bias := g.y / n
	for t := range p {
		bias -= m.W[0][t] * g.z[t] / n
	}
	m.B[0] = bias
}

// loss is the mean log loss (RMSE for regression) of m on the encoded rows z.
func (m *Model) loss(z *sparse, y []float64, rows []int32) float64 {
	out := make([]float64, max(m.NumOutputs(), 2))
	total := 0.0
	var zi []int32
	var zv []float64
	for i, r := range rows {
		zi, zv = z.row(i, zi, zv)
		for k := range m.W {
			s := m.B[k]
			for t, c := range zi {
				s += m.W[k][c] * zv[t]
			}
			out[k] = s
		}
		switch m.Task {
		case Regression:
			d := out[0] - y[r]
			total += d * d
			continue
		case Binary:
			q := sigmoid(out[0])
			out[0], out[1] = 1-q, q
		default:
			softmax(out[:m.Classes])
		}
		total -= math.Log(max(out[int(y[r])], 1e-15))
	}
	total /= float64(len(rows))
	if m.Task == Regression {
		return math.Sqrt(total)
	}
	return total
}

func sigmoid(s float64) float64 {
	if s >= 0 {
		return 1 / (1 + math.Exp(-s))
	}
	e := math.Exp(s)
	return e / (1 + e)
}

func softplus(s float64) float64 {
	if s > 30 {
		return s
	}
	return math.Log1p(math.Exp(s))
}

func softmax(v []float64) {
	mx := v[0]
	for _, x := range v[1:] {
		mx = max(mx, x)
	}
	sum := 0.0
	for i, x := range v {
		v[i] = math.Exp(x - mx)
		sum += v[i]
	}
	for i := range v {
		v[i] /= sum
	}
}
