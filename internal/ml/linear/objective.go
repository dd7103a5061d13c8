package linear

import (
	"math"
	"sync"
	"sync/atomic"
)

// The loss is summed over fixed blocks of rows, each into its own buffer, and the blocks are
// added in block order: the sum, hence the model, does not depend on how many workers ran or
// which finished first. Blocks are cut by row count alone (never by worker count).
const (
	blockRows = 4096 // rows per block: enough work to outweigh a goroutine hand-off
	maxBlocks = 32   // bounds the per-block gradient buffers (maxBlocks × outputs × slots)
)

// blockBounds cuts n rows into blocks: block b is rows bounds[b]:bounds[b+1].
func blockBounds(n int) []int {
	nb := min(max(1, (n+blockRows-1)/blockRows), maxBlocks)
	bounds := make([]int, nb+1)
	for b := range bounds {
		bounds[b] = b * n / nb
	}
	return bounds
}

// objective is the regularised mean log loss of a logistic model on encoded rows, in sklearn's
// scaling: mean loss + λ/2·‖w‖² with λ = 1/(C·n), intercepts unpenalised. The parameter vector
// holds output j's slot weights at j·(p+1) and its intercept at j·(p+1)+p; a binary model has one
// output (the log-odds of class 1).
type objective struct {
	z       *sparse
	y       []int32 // class of encoded row i
	k, p    int
	lambda  float64
	workers int
	bounds  []int
	fb      []float64   // block b's loss sum
	gb      [][]float64 // block b's gradient sum
	scores  [][]float64 // block b's scratch, chunkRows × outputs
}

func newObjective(z *sparse, y []float64, rows []int32, k, p int, lambda float64, workers int) *objective {
	o := &objective{z: z, y: make([]int32, len(rows)), k: k, p: p, lambda: lambda, workers: max(1, workers)}
	for i, r := range rows {
		o.y[i] = int32(y[r])
	}
	o.bounds = blockBounds(len(rows))
	nb := len(o.bounds) - 1
	o.fb = make([]float64, nb)
	o.gb = make([][]float64, nb)
	o.scores = make([][]float64, nb)
	for b := range nb {
		o.gb[b] = make([]float64, k*(p+1))
		o.scores[b] = make([]float64, chunkRows*k)
	}
	return o
}

// run calls f for every block on at most o.workers goroutines.
func (o *objective) run(f func(b int)) {
	nb := len(o.fb)
	w := min(o.workers, nb)
	if w <= 1 {
		for b := range nb {
			f(b)
		}
		return
	}
	var next atomic.Int32
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for b := int(next.Add(1)) - 1; b < nb; b = int(next.Add(1)) - 1 {
				f(b)
			}
		})
	}
	wg.Wait()
}

// eval returns the objective at x and writes its gradient to g.
func (o *objective) eval(x, g []float64) float64 {
	o.run(func(b int) { o.fb[b] = o.block(b, x, o.gb[b], false) })
	return o.finish(x, g, true)
}

// diag writes the diagonal of the objective's Hessian at x to h.
func (o *objective) diag(x, h []float64) {
	o.run(func(b int) { o.block(b, x, o.gb[b], true) })
	o.finish(x, h, false)
}

// finish adds the blocks' sums in block order into g, takes the mean and adds the penalty (its
// gradient, or for the Hessian's diagonal its curvature λ).
func (o *objective) finish(x, g []float64, grad bool) float64 {
	clear(g)
	f := 0.0
	for b, gb := range o.gb {
		f += o.fb[b]
		for j, v := range gb {
			g[j] += v
		}
	}
	inv := 1 / float64(len(o.y))
	f *= inv
	for j := range g {
		g[j] *= inv
	}
	p := o.p
	for j := 0; j < o.k; j++ {
		w := x[j*(p+1) : j*(p+1)+p]
		gw := g[j*(p+1) : j*(p+1)+p]
		for t, v := range w {
			if grad {
				f += 0.5 * o.lambda * v * v
				gw[t] += o.lambda * v
			} else {
				gw[t] += o.lambda
			}
		}
	}
	return f
}

// chunkRows is how many rows block handles per phase: their scores, then their losses and
// derivatives, then their gradient terms. Separate phases keep the exponentials of many rows
// in flight at once instead of each waiting on its row's dot product.
const chunkRows = 256

// block sums the loss and its gradient (or, with curv, the Hessian's diagonal) over block b's
// rows into g, which it overwrites, and returns the loss sum.
func (o *objective) block(b int, x, g []float64, curv bool) float64 {
	clear(g)
	k, p := o.k, o.p
	sc := o.scores[b] // chunkRows × k: scores, then derivatives
	f := 0.0
	z := o.z
	nn := len(z.numSlot)
	for i0 := o.bounds[b]; i0 < o.bounds[b+1]; i0 += chunkRows {
		i1 := min(i0+chunkRows, o.bounds[b+1])
		for i := i0; i < i1; i++ {
			zv := z.num[i*nn : (i+1)*nn]
			zi := z.ones[z.ptr[i]:z.ptr[i+1]]
			for j := range k {
				w := x[j*(p+1) : (j+1)*(p+1)]
				s := w[p]
				for t, c := range z.numSlot {
					s += w[c] * zv[t]
				}
				for _, c := range zi {
					s += w[c]
				}
				sc[(i-i0)*k+j] = s
			}
		}
		if k == 1 {
			for i := i0; i < i1; i++ {
				s := sc[i-i0]
				yi := o.y[i]
				// One exponential serves the loss and the probability: with e = exp(-|s|),
				// log(1+exp(m)) = max(m,0) + log1p(e) for m = ±s, and σ(s) is 1/(1+e) or e/(1+e).
				e := math.Exp(-math.Abs(s))
				q := 1 / (1 + e)
				if s < 0 {
					q = e / (1 + e)
				}
				m := s
				if yi == 1 {
					m = -s
				}
				f += max(m, 0) + math.Log1p(e)
				if curv {
					sc[i-i0] = q * (1 - q)
				} else {
					sc[i-i0] = q - float64(yi)
				}
			}
		} else {
			for i := i0; i < i1; i++ {
				row := sc[(i-i0)*k : (i-i0+1)*k]
				yi := int(o.y[i])
				mx := row[0]
				for _, s := range row[1:] {
					mx = max(mx, s)
				}
				sy := row[yi]
				sum := 0.0
				for j, s := range row {
					e := math.Exp(s - mx)
					row[j] = e
					sum += e
				}
				f += mx + math.Log(sum) - sy
				inv := 1 / sum
				for j, e := range row {
					q := e * inv
					switch {
					case curv:
						row[j] = q * (1 - q)
					case j == yi:
						row[j] = q - 1
					default:
						row[j] = q
					}
				}
			}
		}
		for i := i0; i < i1; i++ {
			zv := z.num[i*nn : (i+1)*nn]
			zi := z.ones[z.ptr[i]:z.ptr[i+1]]
			for j := range k {
				o.scatter(g[j*(p+1):(j+1)*(p+1)], zv, zi, sc[(i-i0)*k+j], curv)
			}
		}
	}
	return f
}

// scatter adds d·z (d·z² with curv) to the slot entries of g and d to its intercept entry, for
// the row whose numeric values are zv and whose unit slots are zi.
func (o *objective) scatter(g []float64, zv []float64, zi []int32, d float64, curv bool) {
	zv = zv[:len(o.z.numSlot)]
	if curv {
		for t, c := range o.z.numSlot {
			g[c] += d * zv[t] * zv[t]
		}
	} else {
		for t, c := range o.z.numSlot {
			g[c] += d * zv[t]
		}
	}
	for _, c := range zi {
		g[c] += d // z = 1, z² = 1
	}
	g[o.p] += d
}
