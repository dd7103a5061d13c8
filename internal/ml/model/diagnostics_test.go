package model

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/metrics"
)

// sklearn's own example (roc_curve, precision_recall_curve): y = [0 0 1 1],
// scores [0.1 0.4 0.35 0.8] give fpr [0 0 .5 .5 1], tpr [0 .5 .5 1 1], AUC .75, and
// recall/precision (1,.5) (1,2/3) (.5,.5) (.5,1) (0,1), average precision 5/6.
func TestDiagnoseBinaryByHand(t *testing.T) {
	y := []float64{0, 0, 1, 1}
	pos := []float64{0.1, 0.4, 0.35, 0.8}
	var prob []float64
	for _, p := range pos {
		prob = append(prob, 1-p, p)
	}
	d := Diagnose(Classification, []string{"no", "yes"}, y, prob, nil)
	if d == nil {
		t.Fatal("nil diagnostics")
	}
	if len(d.ROC) != 1 || d.ROC[0].Class != "yes" {
		t.Fatalf("binary ROC should be the positive class only: %+v", d.ROC)
	}
	roc := d.ROC[0]
	if want := []float64{0, 0, 0.5, 0.5, 1}; !reflect.DeepEqual(roc.X, want) {
		t.Errorf("fpr %v, want %v", roc.X, want)
	}
	if want := []float64{0, 0.5, 0.5, 1, 1}; !reflect.DeepEqual(roc.Y, want) {
		t.Errorf("tpr %v, want %v", roc.Y, want)
	}
	if roc.Area != 0.75 {
		t.Errorf("AUC %v, want 0.75", roc.Area)
	}
	pr := d.PR[0]
	if want := []float64{0, 0.5, 0.5, 1, 1}; !reflect.DeepEqual(pr.X, want) {
		t.Errorf("recall %v, want %v", pr.X, want)
	}
	if want := []float64{1, 1, 0.5, 0.6667, 0.5}; !reflect.DeepEqual(pr.Y, want) {
		t.Errorf("precision %v, want %v", pr.Y, want)
	}
	if math.Abs(pr.Area-5.0/6) > 1e-12 {
		t.Errorf("average precision %v, want 5/6", pr.Area)
	}
	// Argmax, ties to the lower class: 0.4 and 0.35 predict "no".
	if want := [][]int{{2, 0}, {1, 1}}; !reflect.DeepEqual(d.Confusion, want) {
		t.Errorf("confusion %v, want %v", d.Confusion, want)
	}
	// One row per bin: 0.1 in bin 1, 0.35 in 3, 0.4 in 4, 0.8 in 8.
	want := []CalibrationBin{{0.1, 0, 1}, {0.35, 1, 1}, {0.4, 0, 1}, {0.8, 1, 1}}
	if len(d.Calibration) != 1 || !reflect.DeepEqual(d.Calibration[0].Bins, want) {
		t.Errorf("calibration %+v, want %+v", d.Calibration, want)
	}
	if d.Rows != 4 || d.Scatter != nil || d.Residuals != nil {
		t.Errorf("classification diagnostics carry regression charts or a wrong row count: %+v", d)
	}
}

// randomClassification makes n rows of k classes whose probabilities lean towards the true
// class, rounded to two decimals so many scores tie.
func randomClassification(n, k int, seed uint64) (y, prob []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for range n {
		c := rng.IntN(k)
		y = append(y, float64(c))
		row := make([]float64, k)
		var s float64
		for j := range row {
			row[j] = rng.Float64()
			if j == c {
				row[j] += 0.6
			}
			s += row[j]
		}
		for j := range row {
			prob = append(prob, math.Round(row[j]/s*100)/100)
		}
	}
	return y, prob
}

func TestDiagnoseAreasMatchMetrics(t *testing.T) {
	for _, k := range []int{2, 3, 5} {
		for _, n := range []int{50, 3000} {
			y, prob := randomClassification(n, k, uint64(k*n))
			classes := make([]string, k)
			for c := range classes {
				classes[c] = string(rune('a' + c))
			}
			d := Diagnose(Classification, classes, y, prob, nil)
			yi := make([]int, n)
			for i := range y {
				yi[i] = int(y[i])
			}
			m := metrics.Classification(yi, prob, k, nil)
			if k == 2 {
				if d.ROC[0].Area != m["AUC_binary"] || d.PR[0].Area != m["average_precision_score_binary"] {
					t.Errorf("k=2 n=%d: areas %v %v, metrics %v %v", n, d.ROC[0].Area, d.PR[0].Area,
						m["AUC_binary"], m["average_precision_score_binary"])
				}
			} else {
				if len(d.ROC) != k {
					t.Fatalf("k=%d: %d ROC curves", k, len(d.ROC))
				}
				var auc, ap float64
				for c := range k {
					auc += d.ROC[c].Area
					ap += d.PR[c].Area
				}
				auc /= float64(k)
				ap /= float64(k)
				if math.Abs(auc-m["AUC_macro"]) > 1e-12 || math.Abs(ap-m["average_precision_score_macro"]) > 1e-12 {
					t.Errorf("k=%d n=%d: mean areas %v %v, metrics macro %v %v", k, n, auc, ap,
						m["AUC_macro"], m["average_precision_score_macro"])
				}
			}
			if !reflect.DeepEqual(d.Confusion, metrics.ConfusionMatrix(yi, metrics.Argmax(prob, k), k)) {
				t.Errorf("k=%d n=%d: confusion differs from metrics'", k, n)
			}
			// The drawn (thinned) curve still encloses the stated area.
			for _, c := range d.ROC {
				var area float64
				for i := 1; i < len(c.X); i++ {
					area += (c.X[i] - c.X[i-1]) * (c.Y[i] + c.Y[i-1]) / 2
				}
				if math.Abs(area-c.Area) > 0.01 {
					t.Errorf("k=%d n=%d class %s: drawn area %v, AUC %v", k, n, c.Class, area, c.Area)
				}
			}
		}
	}
}

func TestDiagnoseThinsDeterministically(t *testing.T) {
	// Unrounded scores: every row is its own threshold, so the full curves have n+1 points.
	const n = 20000
	rng := rand.New(rand.NewPCG(7, 7))
	y := make([]float64, n)
	prob := make([]float64, 0, 2*n)
	for i := range y {
		y[i] = float64(rng.IntN(2))
		p := min(max(0.5+0.3*(y[i]-0.5)+0.25*rng.NormFloat64(), 0), 1)
		prob = append(prob, 1-p, p)
	}
	d := Diagnose(Classification, []string{"n", "p"}, y, prob, nil)
	for _, c := range append(d.ROC, d.PR...) {
		if len(c.X) > MaxCurvePoints || len(c.X) != len(c.Y) || len(c.X) < MaxCurvePoints/2 {
			t.Errorf("%d points (x) and %d (y), want about %d", len(c.X), len(c.Y), MaxCurvePoints)
		}
	}
	roc := d.ROC[0]
	if roc.X[0] != 0 || roc.Y[0] != 0 || roc.X[len(roc.X)-1] != 1 || roc.Y[len(roc.Y)-1] != 1 {
		t.Errorf("ROC does not run from (0,0) to (1,1): %v %v", roc.X, roc.Y)
	}
	for i := 1; i < len(roc.X); i++ {
		if roc.X[i] < roc.X[i-1] || roc.Y[i] < roc.Y[i-1] {
			t.Fatalf("ROC goes backwards at %d", i)
		}
	}
	again := Diagnose(Classification, []string{"n", "p"}, y, prob, nil)
	a, _ := json.Marshal(d)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Error("two calls on the same predictions give different diagnostics")
	}
	// Small enough to live in model.json whatever the dataset's size.
	if len(a) > 20000 {
		t.Errorf("diagnostics of %d rows encode to %d bytes", n, len(a))
	}
}

func TestDiagnoseRegression(t *testing.T) {
	y := []float64{1, 2, 3, 4, 5}
	pred := []float64{1.5, 2, 2.5, 5, 5}
	d := Diagnose(Regression, nil, y, pred, nil)
	if d.ROC != nil || d.Confusion != nil {
		t.Errorf("regression diagnostics carry classification charts: %+v", d)
	}
	if !reflect.DeepEqual(d.Scatter.Actual, y) || !reflect.DeepEqual(d.Scatter.Predicted, pred) {
		t.Errorf("scatter %+v, want every row", d.Scatter)
	}
	// Residuals -0.5 0 0.5 -1 0 over [-1, 0.5] in 20 bins of 0.075: -1 in bin 0, -0.5 in
	// bin 6, 0 (twice) in bin 13, 0.5 (the top) in the last bin.
	r := d.Residuals
	if len(r.Counts) != ResidualBins || r.Edges[0] != -1 || r.Edges[ResidualBins] != 0.5 {
		t.Fatalf("residual histogram %+v", r)
	}
	want := make([]int, ResidualBins)
	want[0], want[6], want[13], want[19] = 1, 1, 2, 1
	if !reflect.DeepEqual(r.Counts, want) {
		t.Errorf("residual counts %v, want %v", r.Counts, want)
	}
	// Actual 1..5 in 10 bins of 0.4: 1 in bin 0, 2 in bin 2, 3 in bin 5, 4 in bin 7, 5 in bin 9.
	if len(d.Binned) != 5 {
		t.Fatalf("binned means %+v", d.Binned)
	}
	if b := d.Binned[3]; b.Lo != 3.8 || b.Hi != 4.2 || b.Count != 1 || b.Actual != 4 || b.Predicted != 5 || b.Std != 0 {
		t.Errorf("bin of actual 4: %+v", b)
	}

	// A large set is sampled to MaxScatterPoints rows, evenly and the same way every time.
	const n = 10000
	y, pred = make([]float64, n), make([]float64, n)
	for i := range y {
		y[i] = float64(i)
		pred[i] = float64(i) + math.Sin(float64(i))
	}
	d = Diagnose(Regression, nil, y, pred, nil)
	if len(d.Scatter.Actual) != MaxScatterPoints || d.Scatter.Actual[1] != 10 || d.Scatter.Actual[999] != 9990 {
		t.Errorf("scatter of %d rows: %d points, starting %v", n, len(d.Scatter.Actual), d.Scatter.Actual[:3])
	}
	var total int
	for _, b := range d.Binned {
		total += b.Count
		if math.Abs(b.Predicted-b.Actual) > 0.05 {
			t.Errorf("bin %+v: mean predicted far from mean actual", b)
		}
	}
	if total != n || d.Rows != n {
		t.Errorf("binned means count %d rows, diagnostics %d, want %d", total, d.Rows, n)
	}
}

func TestDiagnoseRowsAndBadInput(t *testing.T) {
	y := []float64{0, 1, 1, 0, 7, math.NaN(), 1, 0.5}
	prob := []float64{
		0.8, 0.2,
		0.3, 0.7,
		0.4, 0.6,
		0.6, 0.4,
		0.5, 0.5, // class 7 does not exist
		0.5, 0.5, // NaN target
		math.Inf(1), 0, // infinite prediction
		0.5, 0.5, // class 0.5 is not a class index
	}
	d := Diagnose(Classification, []string{"a", "b"}, y, prob, nil)
	if d.Rows != 4 || d.ROC[0].Area != 1 {
		t.Errorf("bad rows not skipped: %d rows, AUC %v", d.Rows, d.ROC[0].Area)
	}
	// rows picks a subset (out-of-range indices are skipped): rows 1 and 2 hold only class 1,
	// so there is no curve but still a confusion matrix and calibration.
	d = Diagnose(Classification, []string{"a", "b"}, y, prob, []int{1, 2, -1, 99})
	if d.Rows != 2 || d.ROC != nil || d.PR != nil {
		t.Errorf("rows [1 2]: %d rows, ROC %v", d.Rows, d.ROC)
	}
	if !reflect.DeepEqual(d.Confusion, [][]int{{0, 0}, {0, 2}}) || len(d.Calibration[0].Bins) != 2 {
		t.Errorf("rows [1 2]: confusion %v, calibration %+v", d.Confusion, d.Calibration)
	}
	for name, got := range map[string]*Diagnostics{
		"short predictions": Diagnose(Classification, []string{"a", "b"}, y, prob[:3], nil),
		"one class":         Diagnose(Classification, []string{"a"}, []float64{0}, []float64{1}, nil),
		"unknown task":      Diagnose("ranking", nil, []float64{1}, []float64{1}, nil),
		"no usable row":     Diagnose(Regression, nil, []float64{math.NaN()}, []float64{1}, nil),
		"empty":             Diagnose(Regression, nil, nil, nil, nil),
	} {
		if got != nil {
			t.Errorf("%s: %+v, want nil", name, got)
		}
	}
	// A constant target still gives one bin rather than dividing by a zero range.
	d = Diagnose(Regression, nil, []float64{3, 3, 3}, []float64{3, 3, 3}, nil)
	if len(d.Binned) != 1 || d.Binned[0].Count != 3 || len(d.Residuals.Counts) != 1 || d.Residuals.Counts[0] != 3 {
		t.Errorf("constant target: %+v %+v", d.Binned, d.Residuals)
	}
	if _, err := json.Marshal(d); err != nil {
		t.Errorf("constant target does not encode: %v", err)
	}
}
