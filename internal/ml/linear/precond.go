package linear

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// L-BFGS minimises over u, with the weights w = P·u chosen so that the objective's Hessian in u
// is near the identity at the start: then its steps are near Newton steps from the first
// iteration, and it needs far fewer passes over the rows. Correlated numbers (economic
// indicators that move together) and rare levels beside the intercept are what make the
// weights' own scale slow.
//
// With at most maxDense parameters per output, P is L⁻ᵀ for each output's block, L the
// Cholesky factor of the block's Hessian (classes are coupled only through the softmax; their
// blocks are factored apart). The Hessian is estimated on at most hessRows rows, so its cost is
// bounded whatever the rows; it only has to be near. Wider models scale by the diagonal alone.
const (
	maxDense = 256 // a block's factorisation costs maxDense³/3 per fit
	hessRows = 8192
)

// precond is P, per output block of m = p+1 parameters (weights then intercept).
type precond struct {
	m     int
	scale []float64   // the diagonal P, when chol is nil
	chol  [][]float64 // per output, L (m×m, row-major, lower)
}

// newPrecond builds P from the Hessian of o at x.
func newPrecond(o *objective, x []float64) *precond {
	if m := o.p + 1; m <= maxDense {
		if l := o.cholesky(x); l != nil {
			return &precond{m: m, chol: l}
		}
	}
	return diagPrecond(o, x)
}

// diagPrecond is P = diag(1/√h), h the Hessian's diagonal at x.
func diagPrecond(o *objective, x []float64) *precond {
	pc := &precond{m: o.p + 1}
	pc.scale = make([]float64, len(x))
	o.diag(x, pc.scale)
	for j, h := range pc.scale {
		pc.scale[j] = 1 / math.Sqrt(max(h, 1e-12))
	}
	return pc
}

// toW sets w = P·u.
func (pc *precond) toW(u, w []float64) {
	if pc.chol == nil {
		for j, v := range u {
			w[j] = v * pc.scale[j]
		}
		return
	}
	m := pc.m
	for b, l := range pc.chol {
		ub, wb := u[b*m:(b+1)*m], w[b*m:(b+1)*m]
		// Lᵀw = u, backwards.
		for i := m - 1; i >= 0; i-- {
			s := ub[i]
			for r := i + 1; r < m; r++ {
				s -= l[r*m+i] * wb[r]
			}
			wb[i] = s / l[i*m+i]
		}
	}
}

// toU sets u = P⁻¹·w.
func (pc *precond) toU(w, u []float64) {
	if pc.chol == nil {
		for j, v := range w {
			u[j] = v / pc.scale[j]
		}
		return
	}
	m := pc.m
	for b, l := range pc.chol {
		ub, wb := u[b*m:(b+1)*m], w[b*m:(b+1)*m]
		for i := range m {
			s := 0.0
			for r := i; r < m; r++ {
				s += l[r*m+i] * wb[r]
			}
			ub[i] = s
		}
	}
}

// gradU sets gu = Pᵀ·gw, the gradient in u of the objective whose gradient in w is gw.
func (pc *precond) gradU(gw, gu []float64) {
	if pc.chol == nil {
		for j, v := range gw {
			gu[j] = v * pc.scale[j]
		}
		return
	}
	m := pc.m
	for b, l := range pc.chol {
		gwb, gub := gw[b*m:(b+1)*m], gu[b*m:(b+1)*m]
		// L·gu = gw, forwards.
		for i := range m {
			s := gwb[i]
			row := l[i*m : i*m+i]
			for c, v := range row {
				s -= v * gub[c]
			}
			gub[i] = s / l[i*m+i]
		}
	}
}

// gradWInf is the largest |coordinate| of the gradient in w, from the gradient gu in u.
func (pc *precond) gradWInf(gu []float64) float64 {
	g := 0.0
	if pc.chol == nil {
		for j, v := range gu {
			g = max(g, math.Abs(v/pc.scale[j]))
		}
		return g
	}
	m := pc.m
	for b, l := range pc.chol {
		gub := gu[b*m : (b+1)*m]
		for i := range m {
			s := 0.0
			for c, v := range l[i*m : i*m+i+1] {
				s += v * gub[c]
			}
			g = max(g, math.Abs(s))
		}
	}
	return g
}

// cholesky returns, per output, the Cholesky factor of the objective's Hessian block at x,
// estimated on every stride-th row; nil when a block is not positive definite.
func (o *objective) cholesky(x []float64) [][]float64 {
	k, p, m := o.k, o.p, o.p+1
	n := len(o.y)
	stride := max(1, (n+hessRows-1)/hessRows)
	h := make([][]float64, k)
	for j := range h {
		h[j] = make([]float64, m*m)
	}
	z := o.z
	nn := len(z.numSlot)
	idx := make([]int, 0, m)
	val := make([]float64, 0, m)
	sc := make([]float64, k)
	rows := 0
	for i := 0; i < n; i += stride {
		rows++
		zv := z.num[i*nn : (i+1)*nn]
		zi := z.ones[z.ptr[i]:z.ptr[i+1]]
		idx, val = idx[:0], val[:0]
		for t, c := range z.numSlot {
			idx = append(idx, int(c))
			val = append(val, zv[t])
		}
		for _, c := range zi {
			idx = append(idx, int(c))
			val = append(val, 1)
		}
		idx = append(idx, p)
		val = append(val, 1)
		for j := range k {
			w := x[j*m : (j+1)*m]
			s := 0.0
			for t, c := range idx {
				s += w[c] * val[t]
			}
			sc[j] = s
		}
		if k == 1 {
			sc[0] = 1 / (1 + math.Exp(-sc[0]))
		} else {
			softmax(sc)
		}
		for j, q := range sc {
			d := q * (1 - q)
			hj := h[j]
			for t, a := range idx {
				dv := d * val[t]
				for u := t; u < len(idx); u++ {
					b := idx[u]
					lo, hi := min(a, b), max(a, b)
					hj[hi*m+lo] += dv * val[u]
				}
			}
		}
	}
	out := make([][]float64, k)
	for j, hj := range h {
		for a := range m {
			for b := range a + 1 {
				hj[a*m+b] /= float64(rows)
				hj[b*m+a] = hj[a*m+b]
			}
			if a < p {
				hj[a*m+a] += o.lambda
			}
			hj[a*m+a] += 1e-12
		}
		var ch mat.Cholesky
		if !ch.Factorize(mat.NewSymDense(m, hj)) {
			return nil
		}
		var l mat.TriDense
		ch.LTo(&l)
		lj := make([]float64, m*m)
		for a := range m {
			for b := range a + 1 {
				lj[a*m+b] = l.At(a, b)
			}
		}
		out[j] = lj
	}
	return out
}
