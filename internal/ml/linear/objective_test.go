package linear

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveObjective is the objective written row by row in the plainest form, as the reference
// for the blocked, parallel one.
func naiveObjective(z *sparse, y []float64, rows []int32, k, p int, lambda float64, x []float64) (float64, []float64) {
	g := make([]float64, len(x))
	f := 0.0
	s := make([]float64, k)
	for i, r := range rows {
		zi, zv := z.row(i, nil, nil)
		for j := range k {
			s[j] = x[j*(p+1)+p]
			for t, c := range zi {
				s[j] += x[j*(p+1)+int(c)] * zv[t]
			}
		}
		yi := int(y[r])
		d := make([]float64, k)
		if k == 1 {
			q := 1 / (1 + math.Exp(-s[0]))
			f -= float64(yi)*math.Log(q) + float64(1-yi)*math.Log(1-q)
			d[0] = q - float64(yi)
		} else {
			sum := 0.0
			for _, v := range s {
				sum += math.Exp(v)
			}
			f -= s[yi] - math.Log(sum)
			for j := range k {
				d[j] = math.Exp(s[j]) / sum
			}
			d[yi]--
		}
		for j := range k {
			for t, c := range zi {
				g[j*(p+1)+int(c)] += d[j] * zv[t]
			}
			g[j*(p+1)+p] += d[j]
		}
	}
	n := float64(len(rows))
	f /= n
	for j := range g {
		g[j] /= n
		if j%(p+1) != p {
			f += 0.5 * lambda * x[j] * x[j]
			g[j] += lambda * x[j]
		}
	}
	return f, g
}

// problem encodes n synthetic rows and draws a parameter vector away from the optimum.
func problem(t *testing.T, n, classes int) (*sparse, []float64, []int32, int, int, []float64) {
	t.Helper()
	d, y := synth(n, classes, 9)
	rs := rows(0, n)
	enc := newEncoder(d, rs)
	k := 1
	if classes > 2 {
		k = classes
	}
	rng := rand.New(rand.NewPCG(5, 5))
	x := make([]float64, k*(enc.slots+1))
	for j := range x {
		x[j] = rng.NormFloat64()
	}
	return enc.matrix(d, rs), y, rs, k, enc.slots, x
}

func TestObjectiveMatchesNaive(t *testing.T) {
	for _, classes := range []int{2, 4} {
		// Enough rows for several blocks, and a partial last one.
		z, y, rs, k, p, x := problem(t, 3*blockRows+123, classes)
		wantF, wantG := naiveObjective(z, y, rs, k, p, 1e-3, x)
		var serialG []float64
		var serialF float64
		for _, workers := range []int{1, 2, 5} {
			o := newObjective(z, y, rs, k, p, 1e-3, workers)
			if len(o.fb) < 3 {
				t.Fatalf("%d blocks, want the rows cut into several", len(o.fb))
			}
			g := make([]float64, len(x))
			f := o.eval(x, g)
			if math.Abs(f-wantF) > 1e-12*math.Abs(wantF) {
				t.Errorf("k=%d workers=%d: f=%v, naive %v", k, workers, f, wantF)
			}
			for j := range g {
				if math.Abs(g[j]-wantG[j]) > 1e-12*max(1, math.Abs(wantG[j])) {
					t.Errorf("k=%d workers=%d: g[%d]=%v, naive %v", k, workers, j, g[j], wantG[j])
					break
				}
			}
			// The block order fixes the summation: any worker count gives the same bits.
			if serialG == nil {
				serialF, serialG = f, g
			} else if f != serialF || !slices.Equal(g, serialG) {
				t.Errorf("k=%d: %d workers differ from 1 worker", k, workers)
			}
		}
	}
}

func TestObjectiveDiagIsCurvature(t *testing.T) {
	for _, classes := range []int{2, 3} {
		z, y, rs, k, p, x := problem(t, 500, classes)
		o := newObjective(z, y, rs, k, p, 1e-2, 2)
		h := make([]float64, len(x))
		o.diag(x, h)
		g0, g1 := make([]float64, len(x)), make([]float64, len(x))
		const eps = 1e-6
		for j := range x {
			xp := slices.Clone(x)
			xp[j] -= eps
			o.eval(xp, g0)
			xp[j] += 2 * eps
			o.eval(xp, g1)
			fd := (g1[j] - g0[j]) / (2 * eps)
			if math.Abs(fd-h[j]) > 1e-5*max(1, math.Abs(fd)) {
				t.Errorf("k=%d: diag[%d]=%v, finite difference %v", k, j, h[j], fd)
			}
		}
	}
}

func TestFitIndependentOfWorkers(t *testing.T) {
	for _, classes := range []int{2, 3} {
		d, y := synth(2*blockRows+500, classes, 11)
		task := Binary
		if classes > 2 {
			task = Multiclass
		}
		var first *Model
		for _, workers := range []int{1, 2, 4} {
			m, err := Fit(context.Background(), d, y, rows(0, 2*blockRows), rows(2*blockRows, 2*blockRows+500),
				Options{Task: task, Classes: classes, Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = m
				continue
			}
			for j := range m.W {
				if !slices.Equal(m.W[j], first.W[j]) || m.B[j] != first.B[j] || m.C != first.C {
					t.Fatalf("k=%d: the model with %d workers differs from the one with 1", classes, workers)
				}
			}
		}
	}
}

// TestGramMatchesDenseRidge checks the sparse sums against the normal equations built from the
// dense, centred design, and the sum of two row sets against one pass over both.
func TestGramMatchesDenseRidge(t *testing.T) {
	d, y := synth(700, 0, 12)
	rs := rows(0, 700)
	enc := newEncoder(d, rs)
	p := enc.slots
	z := enc.matrix(d, rs)
	dense := make([][]float64, len(rs))
	mean := make([]float64, p)
	ym := 0.0
	for i := range rs {
		dense[i] = make([]float64, p)
		zi, zv := z.row(i, nil, nil)
		for t, c := range zi {
			dense[i][c] = zv[t]
			mean[c] += zv[t] / 700
		}
		ym += y[i] / 700
	}
	const c = 0.5
	m := enc.model(Options{Task: Regression}, c)
	g := newGram(enc.matrix(d, rows(0, 300)), y, rows(0, 300), p)
	g.add(newGram(enc.matrix(d, rows(300, 700)), y, rows(300, 700), p))
	g.solve(m, c)
	// At the solution the centred normal equations hold: (ZcᵀZc + I/c)w = Zcᵀyc.
	for s := range p {
		lhs, rhs := m.W[0][s]/c, 0.0
		for i := range rs {
			zs := dense[i][s] - mean[s]
			rhs += zs * (y[i] - ym)
			for u := range p {
				lhs += zs * (dense[i][u] - mean[u]) * m.W[0][u]
			}
		}
		if math.Abs(lhs-rhs) > 1e-7*max(1, math.Abs(rhs)) {
			t.Errorf("normal equation %d: %v != %v", s, lhs, rhs)
		}
	}
	b := ym
	for s := range p {
		b -= m.W[0][s] * mean[s]
	}
	if math.Abs(b-m.B[0]) > 1e-9 {
		t.Errorf("intercept %v, want %v", m.B[0], b)
	}
}

func TestAppendRowsMatchesOneMatrix(t *testing.T) {
	d, _ := synth(200, 2, 13)
	enc := newEncoder(d, rows(0, 200))
	z := enc.matrix(d, rows(0, 120))
	z.appendRows(enc.matrix(d, rows(120, 200)))
	want := enc.matrix(d, rows(0, 200))
	if !slices.Equal(z.numSlot, want.numSlot) || !slices.Equal(z.num, want.num) ||
		!slices.Equal(z.ptr, want.ptr) || !slices.Equal(z.ones, want.ones) {
		t.Error("appended matrix differs from the matrix of all rows")
	}
}

func TestFitCancelledStillGivesModel(t *testing.T) {
	d, y := synth(1000, 2, 14)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m, err := Fit(ctx, d, y, rows(0, 800), rows(800, 1000), Options{Task: Binary, Classes: 2})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, 2)
	m.Predict([]float64{100, 1}, out)
	if math.IsNaN(out[0]) || math.Abs(out[0]+out[1]-1) > 1e-12 {
		t.Errorf("cancelled fit predicts %v", out)
	}
}

// BenchmarkObjectiveEval times one pass of the loss and gradient over the large bank case's
// training rows, the unit the fit's cost is a multiple of.
func BenchmarkObjectiveEval(b *testing.B) {
	c := bankData(b, "y", 4)
	for _, workers := range []int{1, 2} {
		b.Run("workers="+string(rune('0'+workers)), func(b *testing.B) {
			enc := newEncoder(c.d, c.train)
			z := enc.matrix(c.d, c.train)
			o := newObjective(z, c.y, c.train, 1, enc.slots, 1e-5, workers)
			x := make([]float64, enc.slots+1)
			g := make([]float64, len(x))
			for j := range x {
				x[j] = 0.01 * float64(j%7-3)
			}
			b.ReportAllocs()
			for b.Loop() {
				o.eval(x, g)
			}
		})
	}
}

func TestMedianMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	sizes := []int{1, 2, 3, 16, 17, 18, 100, 1001, 5000}
	for range 300 {
		sizes = append(sizes, 2*(1+rng.IntN(1500)))
	}
	for _, n := range sizes {
		for _, distinct := range []int{1, 3, 1000000} {
			v := make([]float64, n)
			for i := range v {
				v[i] = float64(rng.IntN(distinct))
			}
			if distinct == 3 && n > 100 {
				slices.Sort(v) // sorted input, the classic bad case for a naive pivot
			}
			s := slices.Sorted(slices.Values(v))
			want := s[n/2]
			if n%2 == 0 {
				want = (s[n/2-1] + s[n/2]) / 2
			}
			if got := median(v); got != want {
				t.Errorf("n=%d distinct=%d: median %v, want %v", n, distinct, got, want)
			}
		}
	}
}

// BenchmarkFitWorkers times the large bank fit with the passes over the rows shared by 1 and 2
// goroutines (the model is the same).
func BenchmarkFitWorkers(b *testing.B) {
	c := bankData(b, "y", 4)
	for _, workers := range []int{1, 2} {
		b.Run("workers="+string(rune('0'+workers)), func(b *testing.B) {
			o := c.o
			o.Workers = workers
			for b.Loop() {
				if _, err := Fit(context.Background(), c.d, c.y, c.train, c.stop, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFitConverges checks the refit's solution against the objective it minimises: on every row
// it was fit on, with the chosen C, the gradient is within the tolerance. There are more rows
// than the Hessian is estimated on.
func TestFitConverges(t *testing.T) {
	n := 2*hessRows + 1000
	for _, classes := range []int{2, 3} {
		d, y := synth(n, classes, 16)
		task, k := Binary, 1
		if classes > 2 {
			task, k = Multiclass, classes
		}
		train, valid := rows(0, n-1000), rows(n-1000, n)
		m, err := Fit(context.Background(), d, y, train, valid, Options{Task: task, Classes: classes})
		if err != nil {
			t.Fatal(err)
		}
		all := rows(0, n)
		enc := newEncoder(d, all)
		p := enc.slots
		x := make([]float64, k*(p+1))
		for j := range k {
			copy(x[j*(p+1):], m.W[j])
			x[j*(p+1)+p] = m.B[j]
		}
		o := newObjective(enc.matrix(d, all), y, all, k, p, 1/(m.C*float64(n)), 1)
		g := make([]float64, len(x))
		o.eval(x, g)
		if mx := slices.Max(g); mx > 2*gtol || slices.Min(g) < -2*gtol {
			t.Errorf("k=%d: gradient in [%g, %g] at the fitted model, want within %g", classes, slices.Min(g), mx, gtol)
		}
	}
}

// TestNoColumns: a frame whose every column was dropped still fits, to the base rate or mean.
func TestNoColumns(t *testing.T) {
	y := []float64{0, 1, 0, 1, 1, 0, 1, 1}
	for _, o := range []Options{{Task: Binary, Classes: 2}, {Task: Multiclass, Classes: 2}, {Task: Regression}} {
		m, err := Fit(context.Background(), &Data{}, y, rows(0, 6), rows(6, 8), o)
		if err != nil {
			t.Fatalf("%s: %v", o.Task, err)
		}
		out := make([]float64, 2)
		m.Predict(nil, out)
		want := 5.0 / 8
		if got := out[m.NumOutputs()-1]; math.Abs(got-want) > 0.05 {
			t.Errorf("%s: predicts %v, want about %v", o.Task, got, want)
		}
	}
}

func TestFitRejectsBadInput(t *testing.T) {
	d, y := synth(20, 2, 17)
	bad := slices.Clone(y)
	bad[3] = 2
	nan := slices.Clone(y)
	nan[4] = math.NaN()
	for _, c := range []struct {
		name  string
		d     *Data
		y     []float64
		train []int32
		o     Options
		want  string
	}{
		{"label", d, bad, rows(0, 20), Options{Task: Binary, Classes: 2}, "linear: row 3: label 2 is not a class in [0, 2)"},
		{"nan label", d, nan, rows(0, 20), Options{Task: Multiclass, Classes: 3}, "linear: row 4: label NaN is not a class in [0, 3)"},
		{"nan target", d, nan, rows(0, 20), Options{Task: Regression}, "linear: row 4: target NaN is not a finite number"},
		{"row", d, y, []int32{0, 20}, Options{Task: Binary, Classes: 2}, "linear: row 20: out of range (20 labels)"},
		{"short column", &Data{Cols: d.Cols, X: [][]float64{d.X[0], d.X[1][:10]}}, y, rows(0, 20), Options{Task: Binary, Classes: 2}, `linear: row 10: column "x1" has 10 rows`},
		{"columns", &Data{Cols: d.Cols, X: d.X[:1]}, y, rows(0, 20), Options{Task: Binary, Classes: 2}, "linear: 2 columns described, 1 given"},
		{"task", d, y, rows(0, 20), Options{Task: "ranking", Classes: 2}, `linear: unknown task "ranking"`},
		{"binary classes", d, y, rows(0, 20), Options{Task: Binary, Classes: 3}, "linear: binary task with 3 classes"},
		{"C", d, y, rows(0, 20), Options{Task: Binary, Classes: 2, Cs: []float64{1, 0}}, "linear: C 0: must be a positive number"},
	} {
		_, err := Fit(context.Background(), c.d, c.y, c.train, nil, c.o)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// TestPrecond checks both forms of P: toU inverts toW, gradU is the gradient in u (by finite
// differences of the objective through toW), and gradWInf recovers the gradient in w.
func TestPrecond(t *testing.T) {
	for _, classes := range []int{2, 3} {
		z, y, rs, k, p, x := problem(t, 400, classes)
		o := newObjective(z, y, rs, k, p, 1e-2, 1)
		for name, pc := range map[string]*precond{"cholesky": newPrecond(o, x), "diagonal": diagPrecond(o, x)} {
			if (name == "cholesky") != (pc.chol != nil) {
				t.Fatalf("k=%d %s: wrong form", k, name)
			}
			u := make([]float64, len(x))
			pc.toU(x, u)
			w := make([]float64, len(x))
			pc.toW(u, w)
			for j := range x {
				if math.Abs(w[j]-x[j]) > 1e-9*max(1, math.Abs(x[j])) {
					t.Fatalf("k=%d %s: toW(toU(x))[%d] = %v, want %v", k, name, j, w[j], x[j])
				}
			}
			gw := make([]float64, len(x))
			o.eval(x, gw)
			gu := make([]float64, len(x))
			pc.gradU(gw, gu)
			f := func(u []float64) float64 {
				pc.toW(u, w)
				return o.eval(w, make([]float64, len(w)))
			}
			const eps = 1e-6
			for j := range u {
				up := slices.Clone(u)
				up[j] += eps
				fp := f(up)
				up[j] -= 2 * eps
				fd := (fp - f(up)) / (2 * eps)
				if math.Abs(fd-gu[j]) > 1e-5*max(1, math.Abs(fd)) {
					t.Errorf("k=%d %s: gradient in u [%d] = %v, finite difference %v", k, name, j, gu[j], fd)
				}
			}
			inf := 0.0
			for _, v := range gw {
				inf = max(inf, math.Abs(v))
			}
			if got := pc.gradWInf(gu); math.Abs(got-inf) > 1e-9*inf {
				t.Errorf("k=%d %s: gradient in w from u has max %v, want %v", k, name, got, inf)
			}
		}
	}
}

// TestCholeskyIsHessian checks the factor against the Hessian by finite differences of the
// gradient, on few enough rows that every row is used.
func TestCholeskyIsHessian(t *testing.T) {
	for _, classes := range []int{2, 3} {
		z, y, rs, k, p, x := problem(t, 300, classes)
		o := newObjective(z, y, rs, k, p, 1e-2, 1)
		ls := o.cholesky(x)
		m := p + 1
		g0, g1 := make([]float64, len(x)), make([]float64, len(x))
		const eps = 1e-6
		for j := range k {
			l := ls[j]
			for a := range m {
				xp := slices.Clone(x)
				xp[j*m+a] -= eps
				o.eval(xp, g0)
				xp[j*m+a] += 2 * eps
				o.eval(xp, g1)
				for b := range m {
					fd := (g1[j*m+b] - g0[j*m+b]) / (2 * eps)
					h := 0.0 // (L·Lᵀ)[b][a]
					for c := range min(a, b) + 1 {
						h += l[b*m+c] * l[a*m+c]
					}
					if math.Abs(fd-h) > 1e-5*max(1, math.Abs(fd)) {
						t.Fatalf("k=%d: Hessian block %d [%d][%d] = %v, finite difference %v", k, j, b, a, h, fd)
					}
				}
			}
		}
	}
}

// TestInfiniteNumbersAreMissing: the CSV reader keeps an overflowing number as ±Inf. It is
// encoded as missing; it had made every weight NaN. A category code past the dictionary (even
// +Inf) is "other".
func TestInfiniteNumbersAreMissing(t *testing.T) {
	for _, o := range []Options{{Task: Binary, Classes: 2}, {Task: Multiclass, Classes: 2}, {Task: Regression}} {
		d, y := synth(500, 2, 21)
		d.X[0][3], d.X[0][7] = math.Inf(1), math.Inf(-1)
		m, err := Fit(context.Background(), d, y, rows(0, 400), rows(400, 500), o)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, 2)
		for _, x := range [][]float64{{100, 1}, {math.Inf(1), 1}, {math.NaN(), 1}, {100, math.Inf(1)}, {100, 3}} {
			m.Predict(x, out)
			if math.IsNaN(out[0]) || math.IsInf(out[0], 0) {
				t.Errorf("%s: predicts %v for %v", o.Task, out, x)
			}
		}
		want := make([]float64, 2)
		m.Predict([]float64{math.NaN(), 1}, want)
		m.Predict([]float64{math.Inf(-1), 1}, out)
		if out[0] != want[0] {
			t.Errorf("%s: -Inf predicts %v, NaN %v", o.Task, out, want)
		}
		if f := m.Features[0].Num; f.Missing < 0 || math.IsNaN(f.Mean) || math.IsInf(f.Mean, 0) {
			t.Errorf("%s: numeric encoding %+v", o.Task, *f)
		}
	}
}
