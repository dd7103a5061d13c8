package linear

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// synth returns n rows: x0 numeric (some missing), x1 categorical with 3 levels, and labels from
// a known linear rule so the fitted model must recover its signs.
func synth(n, classes int, seed uint64) (*Data, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := &Data{
		Cols: []Column{{Name: "x0"}, {Name: "x1", Categorical: true, Levels: 3}},
		X:    [][]float64{make([]float64, n), make([]float64, n)},
	}
	y := make([]float64, n)
	for i := range n {
		x0 := rng.NormFloat64()
		c := rng.IntN(3)
		d.X[0][i] = x0*10 + 100 // unstandardised on purpose
		if i%17 == 0 {
			d.X[0][i] = math.NaN()
		}
		d.X[1][i] = float64(c)
		s := 2*x0 + []float64{-1, 0, 1.5}[c] + rng.NormFloat64()*0.3
		switch classes {
		case 0:
			y[i] = s
		case 2:
			if s > 0 {
				y[i] = 1
			}
		default:
			y[i] = float64(min(classes-1, max(0, int(s+1.5))))
		}
	}
	return d, y
}

func rows(a, b int) []int32 {
	r := make([]int32, 0, b-a)
	for i := a; i < b; i++ {
		r = append(r, int32(i))
	}
	return r
}

func TestLogisticLearns(t *testing.T) {
	for _, k := range []int{2, 3} {
		d, y := synth(3000, k, 1)
		task := Binary
		if k > 2 {
			task = Multiclass
		}
		m, err := Fit(context.Background(), d, y, rows(0, 1800), rows(1800, 2000), Options{Task: task, Classes: k})
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float64, 2)
		out := make([]float64, k)
		correct := 0
		for i := 2000; i < 3000; i++ {
			d.Row(i, x)
			m.Predict(x, out)
			sum, best := 0.0, 0
			for c, p := range out {
				sum += p
				if p > out[best] {
					best = c
				}
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Fatalf("k=%d: probabilities sum to %v", k, sum)
			}
			if float64(best) == y[i] {
				correct++
			}
		}
		acc := float64(correct) / 1000
		if acc < 0.8 {
			t.Errorf("k=%d: hold-out accuracy %.3f, want >= 0.8", k, acc)
		}
		// Unseen category and missing values must still give a distribution.
		m.Predict([]float64{math.NaN(), 7}, out)
		if s := out[0] + out[1]; math.IsNaN(s) {
			t.Errorf("k=%d: NaN prediction for unseen category", k)
		}
	}
}

func TestRidgeRecoversSlope(t *testing.T) {
	d, y := synth(2000, 0, 2)
	m, err := Fit(context.Background(), d, y, rows(0, 1500), rows(1500, 1800), Options{Task: Regression})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, 2)
	out := make([]float64, 1)
	se := 0.0
	for i := 1800; i < 2000; i++ {
		d.Row(i, x)
		m.Predict(x, out)
		se += (out[0] - y[i]) * (out[0] - y[i])
	}
	if rmse := math.Sqrt(se / 200); rmse > 0.8 {
		t.Errorf("hold-out RMSE %.3f, want < 0.8 (noise sd 0.3, missing rows add more)", rmse)
	}
}

func TestPredictMatchesTrainingEncoding(t *testing.T) {
	d, y := synth(500, 2, 3)
	tr := rows(0, 500)
	m, err := Fit(context.Background(), d, y, tr, nil, Options{Task: Binary, Classes: 2})
	if err != nil {
		t.Fatal(err)
	}
	enc := newEncoder(d, tr)
	z := enc.matrix(d, tr)
	x := make([]float64, 2)
	out := make([]float64, 2)
	ll := 0.0
	for i := range 500 {
		d.Row(i, x)
		m.Predict(x, out)
		ll -= math.Log(max(out[int(y[i])], 1e-15))
	}
	if got, want := ll/500, m.loss(z, y, tr); math.Abs(got-want) > 1e-9 {
		t.Errorf("on-the-fly encoding log loss %v, dense encoding %v", got, want)
	}
}

func TestPredictAllocatesNothing(t *testing.T) {
	d, y := synth(300, 3, 4)
	m, _ := Fit(context.Background(), d, y, rows(0, 300), nil, Options{Task: Multiclass, Classes: 3})
	x := []float64{1, 2}
	out := make([]float64, 3)
	if a := testing.AllocsPerRun(100, func() { m.Predict(x, out) }); a != 0 {
		t.Errorf("Predict allocates %v times per row", a)
	}
}
