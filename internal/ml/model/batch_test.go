package model

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/gbdt"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// mixed is a two-member ensemble (the tiny linear model and two GBDT fold models over the same
// inputs), so PredictBatch crosses both the batched and the row-by-row fold paths.
func mixed(t *testing.T, rows int) (*Model, []float64) {
	t.Helper()
	lin := tiny(t)
	rng := rand.New(rand.NewPCG(1, 2))
	num := make([]float64, rows)
	codes := make([]int32, rows)
	y := make([]float64, rows)
	for i := range rows {
		num[i] = rng.NormFloat64()
		codes[i] = int32(rng.IntN(3)) - 1 // -1 = missing
		if i%17 == 0 {
			num[i] = math.NaN()
		}
		if num[i] > 0 != (codes[i] == 1) {
			y[i] = 1
		}
	}
	f := &tabular.Frame{Rows: rows, Columns: []*tabular.Column{
		{Name: "x", Type: tabular.Numeric, Num: num},
		{Name: "c", Type: tabular.Categorical, Codes: codes, Levels: []string{"red", "blue"}},
	}}
	d, err := gbdt.NewDataset(f, []string{"x", "c"}, 255, 0)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]int32, rows)
	for i := range all {
		all[i] = int32(i)
	}
	var trees []*gbdt.Model
	for s := range 2 {
		p := gbdt.DefaultParams()
		p.MaxIter, p.Seed, p.BaggingFraction, p.Workers = 20, uint64(s), 0.7, 1
		gm, err := gbdt.Fit(context.Background(), d, y, nil, all, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		trees = append(trees, gm)
	}
	a := lin.A
	a.Members = []Member{{Weight: 0.3, Linear: a.Members[0].Linear}, {Weight: 0.7, Trees: trees}}
	m, err := New(a)
	if err != nil {
		t.Fatal(err)
	}
	x, err := m.Matrix(f)
	if err != nil {
		t.Fatal(err)
	}
	return m, x
}

func TestPredictBatchEqualsPredict(t *testing.T) {
	n := 2*batchRows + 37 // full chunks and a ragged tail
	m, x := mixed(t, n)
	nin, no := len(m.Inputs()), len(m.Classes())
	batch := make([]float64, n*no)
	m.PredictBatch(x, n, batch)
	one := make([]float64, no)
	for r := range n {
		m.Predict(x[r*nin:(r+1)*nin], one)
		for k := range no {
			if math.Float64bits(one[k]) != math.Float64bits(batch[r*no+k]) {
				t.Fatalf("row %d output %d: Predict %v, PredictBatch %v", r, k, one[k], batch[r*no+k])
			}
		}
	}
	// A prefix of the rows gives the same leading outputs (chunking never leaks across calls).
	part := make([]float64, 5*no)
	m.PredictBatch(x, 5, part)
	for i := range part {
		if part[i] != batch[i] {
			t.Fatalf("5-row batch output %d: %v, full batch %v", i, part[i], batch[i])
		}
	}
}
