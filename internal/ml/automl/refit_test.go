package automl

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/metrics"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// Refit replaces each selected member's fold models by one model fit on all rows: boosted
// members at their folds' mean iteration count, the same members and weights as bagging, the
// same quality on unseen rows, and bytes independent of the pool size.
func TestRefit(t *testing.T) {
	f := frame(2000, 2, 4)
	var first []byte
	pars := []int{2, 1}
	if raceEnabled {
		pars = pars[:1] // the concurrent refit is what the race detector needs to see
	}
	for _, par := range pars {
		cfg := quick(model.Classification)
		cfg.MaxTrials = 5 // GBDT portfolio entries and the linear family
		cfg.Parallel, cfg.Refit, cfg.KeepBagged = par, true, true
		res, err := Train(context.Background(), f, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if first != nil {
			if !bytes.Equal(first, res.Bytes) {
				t.Fatalf("parallel %d: refit model bytes differ from parallel 2", par)
			}
			continue
		}
		first = res.Bytes
		m, err := model.Decode(res.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		bag := res.Bagged
		if len(m.A.Members) != len(bag.A.Members) {
			t.Fatalf("%d refit members, %d bagged", len(m.A.Members), len(bag.A.Members))
		}
		for i, mem := range m.A.Members {
			bm := bag.A.Members[i]
			if !mem.Refit || len(mem.Trees)+len(mem.Linear) != 1 {
				t.Errorf("member %d: refit %v with %d+%d models, want one refit model", i, mem.Refit, len(mem.Trees), len(mem.Linear))
				continue
			}
			if mem.Trial != bm.Trial || mem.Weight != bm.Weight {
				t.Errorf("member %d: trial %d weight %v, bagged trial %d weight %v", i, mem.Trial, mem.Weight, bm.Trial, bm.Weight)
			}
			if len(mem.Trees) == 1 && !mem.Trees[0].Params.Forest {
				sum := 0
				for _, fm := range bm.Trees {
					sum += fm.Iterations()
				}
				want := int(math.Round(float64(sum) / float64(len(bm.Trees))))
				if got := mem.Trees[0].Iterations(); got != want {
					t.Errorf("member %d: refit has %d iterations, want the folds' mean %d", i, got, want)
				}
			}
		}
		// Unseen rows from the same rule: refit scores like the bagged fold models.
		test := frame(3000, 2, 99)
		a, b := aucOn(t, m, test), aucOn(t, bag, test)
		if a < b-0.01 {
			t.Errorf("unseen AUC: refit %.4f, bagged %.4f", a, b)
		}
		t.Logf("unseen AUC: refit %.4f, bagged %.4f", a, b)
	}
}

// aucOn is m's AUC_weighted on f's rows, scored by PredictBatch and checked against Predict
// row by row.
func aucOn(t *testing.T, m *model.Model, f *tabular.Frame) float64 {
	t.Helper()
	x, err := m.Matrix(f)
	if err != nil {
		t.Fatal(err)
	}
	nin := len(m.Inputs())
	prob := make([]float64, f.Rows*2)
	m.PredictBatch(x, f.Rows, prob)
	one := make([]float64, 2)
	y := make([]int, f.Rows)
	yc := f.Col("y")
	for i := range f.Rows {
		m.Predict(x[i*nin:(i+1)*nin], one)
		if math.Float64bits(one[1]) != math.Float64bits(prob[2*i+1]) {
			t.Fatalf("row %d: Predict %v, PredictBatch %v", i, one[1], prob[2*i+1])
		}
		y[i] = int(yc.Codes[i])
	}
	return metrics.Classification(y, prob, 2, nil)["AUC_weighted"]
}
