package gbdt

import (
	"context"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/internal/cputime"
)

// BenchmarkFitBank: one default fit on all bank rows with sklearn's automatic early stopping
// (n > 10,000: a stratified 10 % validation split), binning excluded.
func BenchmarkFitBank(b *testing.B) {
	d, y := bank(b)
	tr, va := EarlyStoppingSplit(allRows(d.Rows()), y, true, 0)
	b.ReportAllocs()
	defer cputime.Report(b)()
	for b.Loop() {
		if _, err := Fit(context.Background(), d, y, nil, tr, va, DefaultParams()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFitForestBank: the random-forest mode (automl's RandomForest family) on all bank
// rows, 10 trees.
func BenchmarkFitForestBank(b *testing.B) {
	d, y := bank(b)
	p := ForestParams()
	p.MaxIter = 10
	rows := allRows(d.Rows())
	b.ReportAllocs()
	defer cputime.Report(b)()
	for b.Loop() {
		if _, err := Fit(context.Background(), d, y, nil, rows, nil, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBinBank(b *testing.B) {
	fr := loadCSV(b, bankCSV)
	var feats []string
	for _, c := range fr.Columns {
		if c.Name != "y" {
			feats = append(feats, c.Name)
		}
	}
	b.ReportAllocs()
	defer cputime.Report(b)()
	for b.Loop() {
		if _, err := NewDataset(fr, feats, 255, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func bankModel(b *testing.B) (*Model, *Dataset) {
	d, y := bank(b)
	tr, va := EarlyStoppingSplit(allRows(d.Rows()), y, true, 0)
	m, err := Fit(context.Background(), d, y, nil, tr, va, DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d iterations, %d packed nodes", m.Iterations(), len(m.packed))
	return m, d
}

// BenchmarkPredictRow: one raw row through the default bank model (target < 2 µs, 0 allocs).
func BenchmarkPredictRow(b *testing.B) {
	m, d := bankModel(b)
	const n = 1024
	xs := make([][]float64, n)
	for i := range xs {
		xs[i] = make([]float64, len(d.names))
		d.Row(i*7, xs[i])
	}
	out := make([]float64, 2)
	b.ReportAllocs()
	i := 0
	defer cputime.Report(b)()
	for b.Loop() {
		m.Predict(xs[i%n], out)
		i++
	}
}

// BenchmarkPredictBatch10k: 10,000 raw rows, one Predict each into a shared output.
func BenchmarkPredictBatch10k(b *testing.B) {
	m, d := bankModel(b)
	const n = 10_000
	nf := len(d.names)
	xs := make([]float64, n*nf)
	for i := range n {
		d.Row(i, xs[i*nf:(i+1)*nf])
	}
	out := make([]float64, 2*n)
	b.ReportAllocs()
	defer cputime.Report(b)()
	for b.Loop() {
		for i := range n {
			m.Predict(xs[i*nf:(i+1)*nf], out[2*i:2*i+2])
		}
	}
}

// BenchmarkPredictRowsBinned10k: the OOF fast path over the training Dataset.
func BenchmarkPredictRowsBinned10k(b *testing.B) {
	m, d := bankModel(b)
	rows := allRows(10_000)
	out := make([]float64, 2*len(rows))
	b.ReportAllocs()
	defer cputime.Report(b)()
	for b.Loop() {
		m.PredictRows(d, rows, out)
	}
}
