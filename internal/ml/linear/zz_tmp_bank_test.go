package linear

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/internal/tabular"
)

func TestTmpBankTiming(t *testing.T) {
	if os.Getenv("TMP_BANK") == "" {
		t.Skip()
	}
	f, err := tabular.ReadFile(context.Background(), "/work/shared/data/bankmarketing_train.csv", tabular.ReadOptions{Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	d := &Data{}
	var y []float64
	for _, c := range f.Columns {
		if c.Name == "y" {
			for _, v := range c.Codes {
				if c.Levels[v] == "yes" {
					y = append(y, 1)
				} else {
					y = append(y, 0)
				}
			}
			continue
		}
		col := Column{Name: c.Name}
		if c.Num != nil {
			d.X = append(d.X, c.Num)
		} else {
			col.Categorical, col.Levels = true, len(c.Levels)
			x := make([]float64, len(c.Codes))
			for i, v := range c.Codes {
				x[i] = float64(v)
			}
			d.X = append(d.X, x)
		}
		d.Cols = append(d.Cols, col)
	}
	var tr, va, te []int32
	for i := range f.Rows {
		switch {
		case i%5 == 0:
			te = append(te, int32(i))
		case i%10 == 1:
			va = append(va, int32(i))
		default:
			tr = append(tr, int32(i))
		}
	}
	t0 := time.Now()
	m, err := Fit(context.Background(), d, y, tr, va, Options{Task: Binary, Classes: 2})
	if err != nil {
		t.Fatal(err)
	}
	enc := newEncoder(d, tr)
	z := enc.matrix(d, te)
	t.Logf("fit %.2fs C=%g test logloss %.5f", time.Since(t0).Seconds(), m.C, m.loss(z, y, te))
}
