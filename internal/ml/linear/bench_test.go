package linear

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/metrics"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// bankCSV is the example's training file, in the repository.
const bankCSV = "../../../examples/bankmarketing/data/bankmarketing_train.csv"

// bankCase is a realistic fit: the bank file as AutoML's search hands it to Fit, one fold's
// train/stop/valid split (5 folds with a 10 % stop set: 72/8/20 %).
type bankCase struct {
	d                  *Data
	y                  []float64
	o                  Options
	train, stop, valid []int32
}

var (
	bankOnce  sync.Once
	bankFrame *tabular.Frame
	bankErr   error
)

// bankData loads the bank file once and builds the task whose target is column target (every
// other column a feature): "y" is binary, "marital" multiclass (4 classes, from the customer's
// other attributes), "age" regression. times > 1 replicates the rows with perturbed numbers and
// a few resampled categories, so the large case is not a copy the optimiser can exploit.
func bankData(tb testing.TB, target string, times int) *bankCase {
	tb.Helper()
	bankOnce.Do(func() {
		bankFrame, bankErr = tabular.ReadFile(context.Background(), bankCSV, tabular.ReadOptions{})
	})
	if bankErr != nil {
		tb.Fatal(bankErr)
	}
	fr := bankFrame
	n := fr.Rows * times
	rng := rand.New(rand.NewPCG(42, uint64(times)))
	c := &bankCase{d: &Data{}, y: make([]float64, n)}
	for _, col := range fr.Columns {
		x := make([]float64, n)
		for i := range n {
			r := i % fr.Rows
			if col.Num != nil {
				x[i] = col.Num[r]
				if i >= fr.Rows && x[i] == x[i] {
					x[i] *= 1 + 0.02*rng.NormFloat64()
				}
				continue
			}
			code := col.Codes[r]
			if i >= fr.Rows && code >= 0 && rng.IntN(50) == 0 {
				code = int32(rng.IntN(len(col.Levels)))
			}
			x[i] = float64(code)
			if code < 0 {
				x[i] = math.NaN()
			}
		}
		if col.Name == target {
			switch {
			case target == "y":
				yes := int32(slices.Index(col.Levels, "yes"))
				for i := range n {
					if col.Codes[i%fr.Rows] == yes {
						c.y[i] = 1
					}
				}
				c.o = Options{Task: Binary, Classes: 2}
			case col.Num != nil:
				copy(c.y, x)
				c.o = Options{Task: Regression}
			default:
				copy(c.y, x)
				c.o = Options{Task: Multiclass, Classes: len(col.Levels)}
			}
			continue
		}
		cc := Column{Name: col.Name}
		if col.Num == nil {
			cc.Categorical, cc.Levels = true, len(col.Levels)
		}
		c.d.Cols = append(c.d.Cols, cc)
		c.d.X = append(c.d.X, x)
	}
	perm := rand.New(rand.NewPCG(7, 7)).Perm(n)
	for _, i := range perm {
		if c.y[i] != c.y[i] {
			continue // a missing label is no training row
		}
		switch r := len(c.train) + len(c.stop) + len(c.valid); {
		case r%5 == 0:
			c.valid = append(c.valid, int32(i))
		case r%10 == 1:
			c.stop = append(c.stop, int32(i))
		default:
			c.train = append(c.train, int32(i))
		}
	}
	return c
}

// quality is the model's mean log loss (RMSE for regression) and, for a binary task, AUC on
// rows, by Predict: what the search scores the fold with.
func quality(m *Model, c *bankCase, rows []int32) (loss, auc float64) {
	k := m.NumOutputs()
	x := make([]float64, len(c.d.X))
	out := make([]float64, k)
	prob := make([]float64, 0, len(rows)*k)
	ys := make([]int, len(rows))
	for i, r := range rows {
		c.d.Row(int(r), x)
		m.Predict(x, out)
		y := c.y[r]
		if m.Task == Regression {
			loss += (out[0] - y) * (out[0] - y)
			continue
		}
		loss -= math.Log(max(out[int(y)], 1e-15))
		ys[i] = int(y)
		prob = append(prob, out...)
	}
	loss /= float64(len(rows))
	if m.Task == Regression {
		return math.Sqrt(loss), 0
	}
	if m.Task == Binary {
		auc = metrics.Classification(ys, prob, k, nil)["AUC_binary"]
	}
	return loss, auc
}

// BenchmarkFitBank times one fold fit as the search makes it and reports the chosen C and the
// fold's validation log loss (RMSE) and AUC, so a speed-up that costs quality shows beside it:
//
//	go test ./internal/ml/linear -run '^$' -bench FitBank -count 6
func BenchmarkFitBank(b *testing.B) {
	for _, bc := range []struct {
		target string
		times  int
	}{{"y", 1}, {"y", 4}, {"marital", 1}, {"age", 1}} {
		b.Run(fmt.Sprintf("%s/rows=%d", bc.target, 26360*bc.times), func(b *testing.B) {
			c := bankData(b, bc.target, bc.times)
			var m *Model
			b.ReportAllocs()
			for b.Loop() {
				var err error
				m, err = Fit(context.Background(), c.d, c.y, c.train, c.stop, c.o)
				if err != nil {
					b.Fatal(err)
				}
			}
			loss, auc := quality(m, c, c.valid)
			b.ReportMetric(m.C, "C")
			b.ReportMetric(loss, "valid-loss")
			if auc > 0 {
				b.ReportMetric(auc, "valid-auc")
			}
		})
	}
}
