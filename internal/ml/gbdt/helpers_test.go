package gbdt

import (
	"cmp"
	"context"
	"slices"
	"testing"

	"github.com/mlflow-go/mlflow/internal/tabular"
)

// bankCSV is the example's training file, in the repository.
const bankCSV = "../../../examples/bankmarketing/data/bankmarketing_train.csv"

// loadCSV reads a CSV with the dataset step's reader.
func loadCSV(tb testing.TB, path string) *tabular.Frame {
	tb.Helper()
	fr, err := tabular.ReadFile(context.Background(), path, tabular.ReadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return fr
}

// bank loads the bank file as a Dataset and 0/1 labels (y == "yes").
func bank(tb testing.TB) (*Dataset, []float64) {
	tb.Helper()
	fr := loadCSV(tb, bankCSV)
	var feats []string
	for _, c := range fr.Columns {
		if c.Name != "y" {
			feats = append(feats, c.Name)
		}
	}
	yc := fr.Col("y")
	y := make([]float64, fr.Rows)
	for i, c := range yc.Codes {
		if yc.Levels[c] == "yes" {
			y[i] = 1
		}
	}
	d, err := NewDataset(fr, feats, 255, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return d, y
}

func allRows(n int) []int32 {
	r := make([]int32, n)
	for i := range r {
		r[i] = int32(i)
	}
	return r
}

// auc is the tie-averaged rank AUC, for tests only (metrics has the real one).
func auc(y []float64, p []float64) float64 {
	idx := make([]int, len(y))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(p[a], p[b]) })
	var rankSum, npos float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && p[idx[j]] == p[idx[i]] {
			j++
		}
		r := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			if y[idx[k]] == 1 {
				rankSum += r
				npos++
			}
		}
		i = j
	}
	nneg := float64(len(y)) - npos
	return (rankSum - npos*(npos+1)/2) / (npos * nneg)
}
