package gbdt

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/tabular"
)

// synth builds a frame from numeric and categorical columns.
type synth struct {
	fr    *tabular.Frame
	feats []string
}

func newSynth(n int) *synth { return &synth{fr: &tabular.Frame{Rows: n}} }

func (s *synth) num(name string, v []float64) {
	s.fr.Columns = append(s.fr.Columns, &tabular.Column{Name: name, Type: tabular.Numeric, Num: v})
	s.feats = append(s.feats, name)
}

func (s *synth) cat(name string, codes []int32, levels int) {
	lv := make([]string, levels)
	for i := range lv {
		lv[i] = string(rune('a' + i))
	}
	s.fr.Columns = append(s.fr.Columns, &tabular.Column{Name: name, Type: tabular.Categorical, Codes: codes, Levels: lv})
	s.feats = append(s.feats, name)
}

func (s *synth) dataset(t *testing.T) *Dataset {
	t.Helper()
	d, err := NewDataset(s.fr, s.feats, 255, 7)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func fit(t *testing.T, d *Dataset, y []float64, train, valid []int32, p Params) *Model {
	t.Helper()
	m, err := Fit(context.Background(), d, y, nil, train, valid, p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// accuracy of the argmax over rows (class labels in y).
func accuracy(m *Model, d *Dataset, y []float64, rows []int32) float64 {
	k := m.NumOutputs()
	out := make([]float64, len(rows)*k)
	m.PredictRows(d, rows, out)
	ok := 0
	for i, r := range rows {
		best := 0
		for c := 1; c < k; c++ {
			if out[i*k+c] > out[i*k+best] {
				best = c
			}
		}
		if float64(best) == y[r] {
			ok++
		}
	}
	return float64(ok) / float64(len(rows))
}

func halves(n int) (a, b []int32) {
	for i := range n {
		if i%2 == 0 {
			a = append(a, int32(i))
		} else {
			b = append(b, int32(i))
		}
	}
	return a, b
}

func TestXOR(t *testing.T) {
	const n = 4000
	rng := rand.New(rand.NewPCG(1, 2))
	s := newSynth(n)
	x1, x2, noise := make([]float64, n), make([]float64, n), make([]float64, n)
	y := make([]float64, n)
	for i := range n {
		x1[i], x2[i], noise[i] = rng.Float64(), rng.Float64(), rng.Float64()
		if (x1[i] > 0.5) != (x2[i] > 0.5) {
			y[i] = 1
		}
	}
	s.num("x1", x1)
	s.num("noise", noise)
	s.num("x2", x2)
	d := s.dataset(t)
	train, test := halves(n)
	m := fit(t, d, y, train, nil, DefaultParams())
	if acc := accuracy(m, d, y, test); acc < 0.97 {
		t.Errorf("XOR test accuracy %.3f, want >= 0.97", acc)
	}
	imp := m.Importance()
	if imp[1] > imp[0]/10 || imp[1] > imp[2]/10 {
		t.Errorf("importance %v: the noise feature should be far behind x1 and x2", imp)
	}
}

// TestCategoricalSignal: the label is a function of a 12-level category only, so native
// categorical splits must find it (numeric noise cannot).
func TestCategoricalSignal(t *testing.T) {
	const n = 6000
	rng := rand.New(rand.NewPCG(3, 4))
	s := newSynth(n)
	codes := make([]int32, n)
	noise := make([]float64, n)
	y := make([]float64, n)
	positive := map[int32]bool{1: true, 4: true, 6: true, 7: true, 11: true}
	for i := range n {
		codes[i] = int32(rng.IntN(12))
		noise[i] = rng.NormFloat64()
		if positive[codes[i]] != (rng.Float64() < 0.05) { // 5 % label noise
			y[i] = 1
		}
	}
	s.num("noise", noise)
	s.cat("c", codes, 12)
	d := s.dataset(t)
	train, test := halves(n)
	m := fit(t, d, y, train, nil, DefaultParams())
	if acc := accuracy(m, d, y, test); acc < 0.93 {
		t.Errorf("categorical test accuracy %.3f, want >= 0.93 (Bayes rate 0.95)", acc)
	}
	if !strings.Contains(string(mustJSON(t, m)), `"cat_bits":[`) || len(m.CatBits) == 0 {
		t.Error("no categorical split in the model")
	}
	// Few categories: one-vs-rest, with a category too rare for a group still handled.
	few := newSynth(n)
	c3 := make([]int32, n)
	y3 := make([]float64, n)
	for i := range n {
		c3[i] = int32(rng.IntN(3))
		if c3[i] == 2 {
			y3[i] = 1
		}
	}
	few.cat("c", c3, 3)
	d3 := few.dataset(t)
	m3 := fit(t, d3, y3, train, nil, DefaultParams())
	if acc := accuracy(m3, d3, y3, test); acc != 1 {
		t.Errorf("one-vs-rest categorical accuracy %.3f, want 1", acc)
	}
}

// TestMissingSignal: the label is "x is missing", plus a numeric effect among present values;
// the learned missing direction must carry it, also for rows the model never saw.
func TestMissingSignal(t *testing.T) {
	const n = 4000
	rng := rand.New(rand.NewPCG(5, 6))
	s := newSynth(n)
	x := make([]float64, n)
	y := make([]float64, n)
	for i := range n {
		switch {
		case rng.Float64() < 0.3:
			x[i] = math.NaN()
			y[i] = 1
		default:
			x[i] = rng.Float64()
			if x[i] > 0.8 {
				y[i] = 1
			}
		}
	}
	s.num("x", x)
	d := s.dataset(t)
	train, test := halves(n)
	m := fit(t, d, y, train, nil, DefaultParams())
	if acc := accuracy(m, d, y, test); acc < 0.99 {
		t.Errorf("missing-value test accuracy %.3f, want >= 0.99", acc)
	}
	out := make([]float64, 2)
	m.Predict([]float64{math.NaN()}, out)
	if out[1] < 0.9 {
		t.Errorf("P(y=1 | x missing) = %.3f, want > 0.9", out[1])
	}
	m.Predict([]float64{0.5}, out)
	if out[1] > 0.1 {
		t.Errorf("P(y=1 | x = 0.5) = %.3f, want < 0.1", out[1])
	}
}

func TestRegressionLine(t *testing.T) {
	const n = 3000
	rng := rand.New(rand.NewPCG(7, 8))
	s := newSynth(n)
	x, z := make([]float64, n), make([]float64, n)
	y := make([]float64, n)
	for i := range n {
		x[i] = rng.Float64()*10 - 5
		z[i] = rng.Float64()
		y[i] = 3*x[i] + 1 + rng.NormFloat64()*0.1
	}
	s.num("x", x)
	s.num("z", z)
	d := s.dataset(t)
	train, test := halves(n)
	p := DefaultParams()
	p.Loss, p.NumClass = "squared_error", 0
	p.MaxIter = 300
	m := fit(t, d, y, train, nil, p)
	if m.NumOutputs() != 1 {
		t.Fatalf("NumOutputs %d, want 1", m.NumOutputs())
	}
	out := make([]float64, len(test))
	m.PredictRows(d, test, out)
	var ss, st, mean float64
	for _, r := range test {
		mean += y[r]
	}
	mean /= float64(len(test))
	for i, r := range test {
		ss += (y[r] - out[i]) * (y[r] - out[i])
		st += (y[r] - mean) * (y[r] - mean)
	}
	if r2 := 1 - ss/st; r2 < 0.995 {
		t.Errorf("R² %.5f, want >= 0.995", r2)
	}
}

func blobs(t *testing.T, n int) (*Dataset, []float64) {
	rng := rand.New(rand.NewPCG(9, 10))
	s := newSynth(n)
	a, b := make([]float64, n), make([]float64, n)
	y := make([]float64, n)
	centers := [3][2]float64{{0, 0}, {3, 0}, {0, 3}}
	for i := range n {
		c := i % 3
		y[i] = float64(c)
		a[i] = centers[c][0] + rng.NormFloat64()*0.7
		b[i] = centers[c][1] + rng.NormFloat64()*0.7
		if i%17 == 0 {
			b[i] = math.NaN()
		}
	}
	s.num("a", a)
	s.num("b", b)
	return s.dataset(t), y
}

func TestMulticlass(t *testing.T) {
	d, y := blobs(t, 3000)
	train, test := halves(3000)
	p := DefaultParams()
	p.Loss, p.NumClass = "multiclass", 3
	m := fit(t, d, y, train, nil, p)
	if acc := accuracy(m, d, y, test); acc < 0.93 {
		t.Errorf("3-class accuracy %.3f, want >= 0.93", acc)
	}
	out := make([]float64, 3)
	m.Predict([]float64{3, 0}, out)
	if s := out[0] + out[1] + out[2]; math.Abs(s-1) > 1e-12 || out[1] < 0.8 {
		t.Errorf("probabilities %v at class 1's center", out)
	}
	if len(m.Trees) != 3*m.Iterations() {
		t.Errorf("%d trees for %d iterations of 3 classes", len(m.Trees), m.Iterations())
	}
}

func TestForest(t *testing.T) {
	d, y := blobs(t, 3000)
	train, test := halves(3000)
	p := ForestParams()
	p.Loss, p.NumClass = "multiclass", 3
	p.MaxIter = 30
	m := fit(t, d, y, train, nil, p)
	if acc := accuracy(m, d, y, test); acc < 0.9 {
		t.Errorf("forest 3-class accuracy %.3f, want >= 0.9", acc)
	}
	out := make([]float64, 3)
	m.Predict([]float64{0, 3}, out)
	if s := out[0] + out[1] + out[2]; math.Abs(s-1) > 1e-9 || out[2] < 0.7 {
		t.Errorf("forest probabilities %v at class 2's center", out)
	}
	// Binary forest: probabilities are leaf frequencies averaged.
	yb := make([]float64, len(y))
	for i, v := range y {
		if v == 2 {
			yb[i] = 1
		}
	}
	p.Loss, p.NumClass = "binary", 2
	mb := fit(t, d, yb, train, nil, p)
	if acc := accuracy(mb, d, yb, test); acc < 0.93 {
		t.Errorf("binary forest accuracy %.3f, want >= 0.93", acc)
	}
}

// trickyParams exercises every path of the trainer at once.
func trickyParams() Params {
	p := DefaultParams()
	p.MaxIter = 30
	p.FeatureFraction = 0.7
	p.BaggingFraction = 0.8
	p.L2 = 1
	p.Seed = 42
	return p
}

// TestBinnedEqualsRaw: predictions on training rows through the binned trees (PredictRows on
// the training Dataset) and through raw thresholds (Predict on Row) are bit-identical, on the
// bank file (categorical and numeric) and on data with missing values, for every growth mode.
func TestBinnedEqualsRaw(t *testing.T) {
	d, y := bank(t)
	dm, ym := blobs(t, 3000)
	variants := map[string]func(*Params){
		"default":    func(*Params) {},
		"extra":      func(p *Params) { p.ExtraTrees = true },
		"depthwise":  func(p *Params) { p.DepthWise, p.MaxDepth, p.MaxLeaves = true, 6, 0 },
		"forest":     func(p *Params) { p.Forest, p.MinSamplesLeaf, p.MaxLeaves = true, 3, 200 },
		"multiclass": nil,
	}
	for name, mod := range variants {
		t.Run(name, func(t *testing.T) {
			p := trickyParams()
			dd, yy := d, y
			if mod == nil {
				dd, yy = dm, ym
				p.Loss, p.NumClass = "multiclass", 3
			} else {
				mod(&p)
			}
			rows := allRows(dd.Rows())
			train, valid := StratifiedSplit(rows, yy, 0.1, true, 3)
			m := fit(t, dd, yy, train, valid, p)
			k := m.NumOutputs()
			binned := make([]float64, len(rows)*k)
			m.PredictRows(dd, rows, binned)
			nf := len(dd.names)
			xs := make([]float64, len(rows)*nf)
			raw := make([]float64, k)
			for i, r := range rows {
				x := xs[i*nf : (i+1)*nf]
				dd.Row(int(r), x)
				m.Predict(x, raw)
				for c := range k {
					if math.Float64bits(raw[c]) != math.Float64bits(binned[i*k+c]) {
						t.Fatalf("row %d class %d: raw %v, binned %v", r, c, raw[c], binned[i*k+c])
					}
				}
			}
			// PredictBatch (tree-outer) must add the same leaves in the same order as Predict.
			batch := make([]float64, len(rows)*k)
			m.PredictBatch(xs, len(rows), batch)
			for i := range batch {
				if math.Float64bits(batch[i]) != math.Float64bits(binned[i]) {
					t.Fatalf("row %d class %d: batch %v, one row %v", rows[i/k], i%k, batch[i], binned[i])
				}
			}
		})
	}
}

func mustJSON(t *testing.T, m *Model) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJSONRoundTrip(t *testing.T) {
	d, y := bank(t)
	p := trickyParams()
	rows := allRows(d.Rows())
	m := fit(t, d, y, rows, nil, p)
	b := mustJSON(t, m)
	var back Model
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if b2 := mustJSON(t, &back); !bytes.Equal(b, b2) {
		t.Fatal("JSON changed through a save/load round trip")
	}
	x := make([]float64, len(d.names))
	a, c := make([]float64, 2), make([]float64, 2)
	for i := 0; i < d.Rows(); i += 7 {
		d.Row(i, x)
		m.Predict(x, a)
		back.Predict(x, c)
		if a[0] != c[0] || a[1] != c[1] {
			t.Fatalf("row %d: in memory %v, loaded %v", i, a, c)
		}
	}
	// The loaded model has no Dataset: PredictRows takes the raw path and must agree too.
	out1, out2 := make([]float64, 2*len(rows)), make([]float64, 2*len(rows))
	m.PredictRows(d, rows, out1)
	back.PredictRows(d, rows, out2)
	if !slicesEqual(out1, out2) {
		t.Fatal("PredictRows differs between the fitted and the loaded model")
	}
	// Unseen category codes and missing values go the default way, without panicking.
	for j := range x {
		x[j] = math.NaN()
	}
	back.Predict(x, c)
	for j, isCat := range back.Categorical {
		if isCat {
			x[j] = 1e6
		}
	}
	back.Predict(x, c)
	if math.IsNaN(c[1]) {
		t.Fatal("NaN prediction for unseen categories")
	}
	// A corrupt model fails at load.
	bad := bytes.Replace(b, []byte(`"left":[`), []byte(`"left":[99,`), 1)
	if err := json.Unmarshal(bad, &back); err == nil {
		t.Error("a model with a broken tree loaded without error")
	}
}

func slicesEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// TestDeterminism: the same data, params and seed give the same JSON bytes whatever Workers
// and GOMAXPROCS are.
func TestDeterminism(t *testing.T) {
	d, y := bank(t)
	rows := allRows(d.Rows())
	train, valid := StratifiedSplit(rows, y, 0.1, true, 5)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, mode := range []string{"boost", "extra", "forest"} {
		var want []byte
		for _, c := range []struct{ workers, procs int }{{1, 1}, {4, 1}, {4, 4}, {0, 3}, {2, 2}} {
			runtime.GOMAXPROCS(c.procs)
			p := trickyParams()
			p.Workers = c.workers
			switch mode {
			case "extra":
				p.ExtraTrees = true
			case "forest":
				p.Forest, p.MaxIter, p.MaxLeaves = true, 10, 300
			}
			b := mustJSON(t, fit(t, d, y, train, valid, p))
			if want == nil {
				want = b
			} else if !bytes.Equal(want, b) {
				t.Fatalf("%s: Workers=%d GOMAXPROCS=%d gives different model bytes", mode, c.workers, c.procs)
			}
		}
	}
}

// countCtx reports cancellation from the n-th Err call on: Fit checks once per iteration.
type countCtx struct {
	context.Context
	calls, after int
}

func (c *countCtx) Err() error {
	c.calls++
	if c.calls > c.after {
		return context.Canceled
	}
	return nil
}

func TestCancellation(t *testing.T) {
	d, y := blobs(t, 3000)
	p := DefaultParams()
	p.Loss, p.NumClass = "multiclass", 3
	rows := allRows(3000)
	m, err := Fit(&countCtx{Context: context.Background(), after: 3}, d, y, nil, rows, nil, p)
	if err != nil {
		t.Fatalf("cancelled after 3 iterations: %v", err)
	}
	if m.Iterations() != 3 || len(m.Trees) != 9 {
		t.Fatalf("got %d iterations, %d trees; want 3, 9", m.Iterations(), len(m.Trees))
	}
	if acc := accuracy(m, d, y, rows); acc < 0.85 {
		t.Errorf("3-iteration model accuracy %.3f", acc)
	}
	var back Model
	if err := json.Unmarshal(mustJSON(t, m), &back); err != nil {
		t.Fatalf("cancelled model does not reload: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Fit(ctx, d, y, nil, rows, nil, p); err == nil {
		t.Error("a fit cancelled before its first iteration returned no error")
	}
}

// TestEarlyStopping: on pure noise the validation loss stops improving at once, so the fit
// stops after NIterNoChange rounds and keeps the best iteration.
func TestEarlyStopping(t *testing.T) {
	const n = 4000
	rng := rand.New(rand.NewPCG(11, 12))
	s := newSynth(n)
	x := make([]float64, n)
	y := make([]float64, n)
	for i := range n {
		x[i] = rng.Float64()
		if rng.Float64() < 0.3 {
			y[i] = 1
		}
	}
	s.num("x", x)
	d := s.dataset(t)
	train, valid := StratifiedSplit(allRows(n), y, 0.2, true, 1)
	m := fit(t, d, y, train, valid, DefaultParams())
	if m.Iterations() >= 20 {
		t.Errorf("noise fit kept %d iterations, want early stop well before 20", m.Iterations())
	}
	if m.Iterations() < 1 || len(m.Trees) != m.Iterations() {
		t.Errorf("%d iterations, %d trees", m.Iterations(), len(m.Trees))
	}
}

func TestShouldStop(t *testing.T) {
	flat := []float64{1, 0.9, 0.9, 0.9}
	if !shouldStop(flat, 2, 1e-7) {
		t.Error("two rounds without improvement over the reference: want stop")
	}
	if shouldStop([]float64{1, 0.9, 0.8, 0.7}, 2, 1e-7) {
		t.Error("improving scores: want no stop")
	}
	if shouldStop([]float64{1, 1}, 2, 1e-7) {
		t.Error("fewer than n+1 scores: want no stop")
	}
}

func TestBadInput(t *testing.T) {
	d, y := blobs(t, 300)
	rows := allRows(300)
	p := DefaultParams() // binary, but labels go to 2
	for name, c := range map[string]struct {
		y           []float64
		train, vald []int32
		p           Params
		want        string
	}{
		"label out of range": {y, rows, nil, p, "not a class index"},
		"overlap":            {make([]float64, 300), rows[:10], rows[5:20], p, "given twice"},
		"no rows":            {y, nil, nil, p, "no training rows"},
		"bad loss":           {y, rows, nil, Params{Loss: "hinge"}, "unknown loss"},
		"nan label":          {append([]float64{math.NaN()}, make([]float64, 299)...), rows, nil, p, "finite"},
	} {
		if _, err := Fit(context.Background(), d, c.y, nil, c.train, c.vald, c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
	if _, err := NewDataset(&tabular.Frame{Rows: 1}, []string{"nope"}, 255, 0); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown feature: %v", err)
	}
}

func TestBinning(t *testing.T) {
	s := newSynth(6)
	s.num("few", []float64{1, 2, 2, 3, math.NaN(), 3})
	s.cat("c", []int32{0, 1, 1, -1, 1, 2}, 4) // code 3 never occurs
	d := s.dataset(t)
	wantFew := []uint8{0, 1, 1, 2, missingBin, 2}
	wantCat := []uint8{1, 0, 0, missingBin, 0, 2} // by frequency: 1 (3 rows), then 0, 2
	for i := range 6 {
		if d.Bin(i, 0) != wantFew[i] || d.Bin(i, 1) != wantCat[i] {
			t.Fatalf("row %d bins (%d, %d), want (%d, %d)", i, d.Bin(i, 0), d.Bin(i, 1), wantFew[i], wantCat[i])
		}
	}
	if got := d.edges[0]; len(got) != 2 || got[0] != 1.5 || got[1] != 2.5 {
		t.Errorf("edges %v, want midpoints [1.5 2.5]", got)
	}
	if d.codeBin[1][3] != missingBin {
		t.Error("a code that never occurs must bin as missing")
	}
	// Many distinct values: at most 255 bins, all used, bin 255 reserved.
	const n = 20000
	v := make([]float64, n)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range v {
		v[i] = rng.ExpFloat64()
	}
	big := newSynth(n)
	big.num("v", v)
	db := big.dataset(t)
	seen := map[uint8]int{}
	for i := range n {
		seen[db.Bin(i, 0)]++
	}
	if db.nbins[0] != 255 || len(seen) != 255 || seen[missingBin] != 0 {
		t.Errorf("%d bins in use (nbins %d), want 255 without the missing bin", len(seen), db.nbins[0])
	}
	for b, c := range seen {
		if c < n/255/3 {
			t.Errorf("bin %d holds %d rows: quantile bins should be about equal", b, c)
		}
	}
}

// TestConcurrentFits: fits sharing one Dataset from several goroutines (as AutoML's folds do)
// each give the model a lone fit gives.
func TestConcurrentFits(t *testing.T) {
	d, y := blobs(t, 3000)
	p := trickyParams()
	p.Loss, p.NumClass, p.Workers = "multiclass", 3, 2
	rows := allRows(3000)
	want := mustJSON(t, fit(t, d, y, rows, nil, p))
	errs := make(chan error, 4)
	got := make([][]byte, 4)
	for i := range got {
		go func() {
			m, err := Fit(context.Background(), d, y, nil, rows, nil, p)
			if err == nil {
				got[i], err = json.Marshal(m)
			}
			errs <- err
		}()
	}
	for range got {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range got {
		if !bytes.Equal(b, want) {
			t.Errorf("concurrent fit %d differs from the lone fit", i)
		}
	}
}
