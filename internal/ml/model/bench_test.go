package model

import (
	"context"
	"os"
	"testing"

	"github.com/mlflow-go/mlflow/internal/tabular"
)

// benchModel loads MLFLOW_BENCH_MODEL (a model.json) and the rows of MLFLOW_BENCH_DATA
// (default: the example's bank training file) laid out for Predict; the benchmark is skipped
// unless a model is named, so CI never trains or loads one.
func benchModel(b *testing.B) (*Model, []float64, int) {
	b.Helper()
	path := os.Getenv("MLFLOW_BENCH_MODEL")
	if path == "" {
		b.Skip("set MLFLOW_BENCH_MODEL to a model.json file")
	}
	m, err := Load(path)
	if err != nil {
		b.Fatal(err)
	}
	data := os.Getenv("MLFLOW_BENCH_DATA")
	if data == "" {
		data = "../../../examples/bankmarketing/data/bankmarketing_train.csv"
	}
	f, err := tabular.ReadFile(context.Background(), data, tabular.ReadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	x, err := m.Matrix(f)
	if err != nil {
		b.Fatal(err)
	}
	return m, x, f.Rows
}

// BenchmarkPredictRow is one Predict call per row (the endpoint's path); ns/op is per row.
func BenchmarkPredictRow(b *testing.B) {
	m, x, n := benchModel(b)
	nin := len(m.Inputs())
	out := make([]float64, max(1, len(m.Classes())))
	i := 0
	for b.Loop() {
		m.Predict(x[i*nin:(i+1)*nin], out)
		if i++; i == n {
			i = 0
		}
	}
}

// BenchmarkPredictBatch scores every row with PredictBatch; the row/µs metric is per row.
func BenchmarkPredictBatch(b *testing.B) {
	m, x, n := benchModel(b)
	out := make([]float64, n*max(1, len(m.Classes())))
	for b.Loop() {
		m.PredictBatch(x, n, out)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/row")
}
