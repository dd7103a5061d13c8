package gbdt

import (
	"context"
	"testing"
)

// TestBankHoldout fits defaults with sklearn's automatic early stopping on 80 % of the bank file
// and checks the AUC on the other 20 % is where sklearn's defaults land (0.949 in the design's
// pre-study; 0.94 leaves room for split noise).
func TestBankHoldout(t *testing.T) {
	if testing.Short() {
		t.Skip("bank fit")
	}
	d, y := bank(t)
	fit, test := StratifiedSplit(allRows(d.Rows()), y, 0.2, true, 1)
	tr, va := EarlyStoppingSplit(fit, y, true, 2)
	m, err := Fit(context.Background(), d, y, nil, tr, va, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, 2*len(test))
	m.PredictRows(d, test, out)
	p := make([]float64, len(test))
	yt := make([]float64, len(test))
	correct := 0
	for i, r := range test {
		p[i] = out[2*i+1]
		yt[i] = y[r]
		if (p[i] >= 0.5) == (y[r] == 1) {
			correct++
		}
	}
	a, acc := auc(yt, p), float64(correct)/float64(len(test))
	t.Logf("iterations %d, holdout AUC %.4f accuracy %.4f", m.Iterations(), a, acc)
	if a < 0.94 || acc < 0.905 {
		t.Errorf("holdout AUC %.4f accuracy %.4f: want >= 0.94 and >= 0.905", a, acc)
	}
}
