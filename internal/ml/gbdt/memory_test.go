package gbdt

import (
	"math"
	"testing"
)

// TestFittedModelHoldsNoSlack: an AutoML search keeps dozens of fold models alive, so a
// fitted model must not carry append slack or the rounds early stopping cut off (before
// compact, a 3-class fit kept up to twice its nodes' bytes and every cut tree).
func TestFittedModelHoldsNoSlack(t *testing.T) {
	d, y := blobs(t, 3000)
	p := DefaultParams()
	p.Loss, p.NumClass, p.MaxIter, p.NIterNoChange = "multiclass", 3, 500, 5
	rows := allRows(d.Rows())
	train, valid := StratifiedSplit(rows, y, 0.2, true, 1)
	m := fit(t, d, y, train, valid, p)
	if m.Iterations() >= p.MaxIter {
		t.Fatalf("%d rounds: the test needs early stopping to cut rounds", m.Iterations())
	}
	if cap(m.Trees) != len(m.Trees) {
		t.Errorf("Trees: cap %d for %d trees (the cut rounds stay reachable)", cap(m.Trees), len(m.Trees))
	}
	if m.splitGain != nil {
		t.Errorf("split gains kept after Fit (%d trees)", len(m.splitGain))
	}
	slack := 0
	for i := range m.Trees {
		tr := &m.Trees[i]
		slack += cap(tr.Feature) - len(tr.Feature) + cap(tr.Threshold) - len(tr.Threshold) + cap(tr.Leaf) - len(tr.Leaf) +
			cap(tr.Left) - len(tr.Left) + cap(tr.Right) - len(tr.Right) + cap(tr.CatOffset) - len(tr.CatOffset) + cap(tr.DefaultLeft) - len(tr.DefaultLeft)
	}
	slack += cap(m.packed) - len(m.packed) + cap(m.bnodes) - len(m.bnodes) + cap(m.broots) - len(m.broots)
	if slack != 0 {
		t.Errorf("%d unused slice elements kept by the model", slack)
	}
}

// TestReleaseTraining: after ReleaseTraining the model predicts its training rows from raw
// values, bit for bit as before, and keeps neither the binned trees nor the Dataset.
func TestReleaseTraining(t *testing.T) {
	d, y := bank(t)
	rows := allRows(d.Rows())
	train, valid := StratifiedSplit(rows, y, 0.1, true, 3)
	m := fit(t, d, y, train, valid, trickyParams())
	before := make([]float64, len(valid)*m.NumOutputs())
	m.PredictRows(d, valid, before)
	m.ReleaseTraining()
	if m.ds != nil || m.bnodes != nil || m.broots != nil || m.bsets != nil {
		t.Fatal("ReleaseTraining kept the binned twins or the Dataset")
	}
	after := make([]float64, len(before))
	m.PredictRows(d, valid, after)
	for i := range before {
		if math.Float64bits(before[i]) != math.Float64bits(after[i]) {
			t.Fatalf("row %d output %d: %v before release, %v after", valid[i/m.NumOutputs()], i%m.NumOutputs(), before[i], after[i])
		}
	}
}

// TestShelve: a shelved model refuses to predict (it would return the base score alone) and,
// unshelved, predicts bit for bit as before.
func TestShelve(t *testing.T) {
	d, y := blobs(t, 2000)
	p := DefaultParams()
	p.Loss, p.NumClass = "multiclass", 3
	rows := allRows(d.Rows())
	train, valid := StratifiedSplit(rows, y, 0.2, true, 1)
	m := fit(t, d, y, train, valid, p)
	m.ReleaseTraining()
	before := make([]float64, len(valid)*3)
	m.PredictRows(d, valid, before)
	m.Shelve()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Predict on a shelved model did not panic")
			}
		}()
		m.PredictRows(d, valid[:1], make([]float64, 3))
	}()
	if err := m.Unshelve(); err != nil {
		t.Fatal(err)
	}
	after := make([]float64, len(before))
	m.PredictRows(d, valid, after)
	for i := range before {
		if math.Float64bits(before[i]) != math.Float64bits(after[i]) {
			t.Fatalf("output %d: %v before shelving, %v after", i, before[i], after[i])
		}
	}
	if cap(m.packed) != len(m.packed) {
		t.Errorf("unshelved inference trees keep %d unused nodes", cap(m.packed)-len(m.packed))
	}
}
