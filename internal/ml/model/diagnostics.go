package model

import (
	"cmp"
	"math"
	"slices"
	"strconv"

	"github.com/mlflow-go/mlflow/internal/ml/metrics"
)

// Diagnostics is the data of Azure AutoML's model charts, computed once from the final
// model's out-of-fold predictions when it is trained (the training rows are gone by the time
// anyone looks at the model). It is kept small enough to travel inside model.json: curves
// keep at most MaxCurvePoints points and the regression scatter at most MaxScatterPoints,
// both chosen deterministically so equal runs give equal bytes.
type Diagnostics struct {
	Task string `json:"task"`
	Rows int    `json:"rows"` // rows that entered the charts (finite predictions and targets)

	// Classification: one curve per class, one-vs-rest; binary tasks keep only the positive
	// class (classes[1]), as Azure draws them.
	ROC         []Curve       `json:"roc,omitempty"`
	PR          []Curve       `json:"pr,omitempty"`
	Calibration []Calibration `json:"calibration,omitempty"`
	Classes     []string      `json:"classes,omitempty"`
	Confusion   [][]int       `json:"confusion,omitempty"` // [true][predicted], argmax prediction

	// Regression.
	Scatter   *Scatter     `json:"scatter,omitempty"`
	Residuals *Histogram   `json:"residuals,omitempty"`
	Binned    []BinnedMean `json:"binned,omitempty"`
}

// Curve is one class's ROC (x false positive rate, y true positive rate; Area is the AUC) or
// precision-recall curve (x recall, y precision; Area is the average precision). Area is
// computed on every threshold, before the points are thinned, so it equals the metric.
type Curve struct {
	Class string    `json:"class"`
	Area  float64   `json:"area"`
	X     []float64 `json:"x"`
	Y     []float64 `json:"y"`
}

// Calibration is one class's reliability diagram over CalibrationBins equal-width bins of the
// predicted probability; empty bins are left out.
type Calibration struct {
	Class string           `json:"class"`
	Bins  []CalibrationBin `json:"bins"`
}

// CalibrationBin is one bin: the mean predicted probability, the observed rate of the class
// among its rows, and how many rows fell in it.
type CalibrationBin struct {
	Predicted float64 `json:"predicted"`
	Observed  float64 `json:"observed"`
	Count     int     `json:"count"`
}

// Scatter is predicted against actual for a deterministic sample of the rows.
type Scatter struct {
	Actual    []float64 `json:"actual"`
	Predicted []float64 `json:"predicted"`
}

// Histogram counts values (residuals: actual − predicted) in len(Counts) equal-width bins
// whose bounds are Edges (len(Counts)+1).
type Histogram struct {
	Edges  []float64 `json:"edges"`
	Counts []int     `json:"counts"`
}

// BinnedMean is one equal-width bin of the actual value: the mean actual and mean (and
// standard deviation of) predicted among its rows. It is the scatter without the sampling.
type BinnedMean struct {
	Lo        float64 `json:"lo"`
	Hi        float64 `json:"hi"`
	Count     int     `json:"count"`
	Actual    float64 `json:"actual"`
	Predicted float64 `json:"predicted"`
	Std       float64 `json:"std"`
}

// Sizes of the charts. 200 points draw a curve smoothly at any size a page gives it; 1000
// scatter points show the spread without making model.json grow with the dataset.
const (
	MaxCurvePoints   = 200
	MaxScatterPoints = 1000
	CalibrationBins  = 10
	ResidualBins     = 20
	BinnedMeanBins   = 10
)

// Diagnose computes the charts of a task ("classification" or "regression") from out-of-fold
// predictions. y is each row's class index (classification) or target value; pred holds the
// predictions row-major, len(y)×k with k = len(classes) class probabilities for
// classification and k = 1 for regression; rows selects the rows to use (nil: all). Rows
// whose target or any prediction is not finite, whose class index is out of range, or whose
// index is out of range are skipped. It returns nil when the shapes disagree or no row is
// left, so a model is simply saved without charts.
func Diagnose(task string, classes []string, y []float64, pred []float64, rows []int) *Diagnostics {
	k := 1
	if task == Classification {
		k = len(classes)
		if k < 2 {
			return nil
		}
	} else if task != Regression {
		return nil
	}
	n := len(y)
	if len(pred) != n*k {
		return nil
	}
	if rows == nil {
		rows = make([]int, n)
		for i := range rows {
			rows[i] = i
		}
	}
	// Gather the usable rows into a dense copy.
	var ys []float64
	var ps []float64
next:
	for _, r := range rows {
		if r < 0 || r >= n || !finite(y[r]) {
			continue
		}
		if task == Classification && (y[r] != math.Trunc(y[r]) || y[r] < 0 || int(y[r]) >= k) {
			continue
		}
		for _, p := range pred[r*k : (r+1)*k] {
			if !finite(p) {
				continue next
			}
		}
		ys = append(ys, y[r])
		ps = append(ps, pred[r*k:(r+1)*k]...)
	}
	if len(ys) == 0 {
		return nil
	}
	d := &Diagnostics{Task: task, Rows: len(ys)}
	if task == Classification {
		d.classification(classes, ys, ps)
	} else {
		d.regression(ys, ps)
	}
	return d
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func (d *Diagnostics) classification(classes []string, y, prob []float64) {
	k, n := len(classes), len(y)
	d.Classes = slices.Clone(classes)
	yi := make([]int, n)
	for i, v := range y {
		yi[i] = int(v)
	}
	d.Confusion = metrics.ConfusionMatrix(yi, metrics.Argmax(prob, k), k)
	first := 0
	if k == 2 {
		first = 1 // binary: the positive class only
	}
	score := make([]float64, n)
	pos := make([]bool, n)
	for c := first; c < k; c++ {
		for i := range n {
			score[i] = prob[i*k+c]
			pos[i] = yi[i] == c
		}
		if roc, pr, ok := curves(score, pos); ok {
			roc.Class, pr.Class = classes[c], classes[c]
			d.ROC = append(d.ROC, roc)
			d.PR = append(d.PR, pr)
		}
		d.Calibration = append(d.Calibration, calibration(classes[c], score, pos))
	}
}

// curves computes the ROC and precision-recall curves of score for the positives, one point
// per distinct threshold, with the areas as internal/ml/metrics computes them (trapezoids for
// the AUC, sklearn's step sum for average precision). ok is false when a class has no
// positive or no negative row: both curves are then undefined.
func curves(score []float64, pos []bool) (roc, pr Curve, ok bool) {
	var P, N float64
	for _, p := range pos {
		if p {
			P++
		} else {
			N++
		}
	}
	if P == 0 || N == 0 {
		return roc, pr, false
	}
	order := make([]int, len(score))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
	rx, ry := []float64{0}, []float64{0}
	// sklearn starts the PR curve at recall 0, precision 1.
	px, py := []float64{0}, []float64{1}
	var tp, fp, auc, ap, prevRecall float64
	for i := 0; i < len(order); {
		j := i
		tp0, fp0 := tp, fp
		for j < len(order) && score[order[j]] == score[order[i]] {
			if pos[order[j]] {
				tp++
			} else {
				fp++
			}
			j++
		}
		auc += (fp - fp0) * (tp + tp0) / 2
		r, p := tp/P, tp/(tp+fp)
		ap += (r - prevRecall) * p
		prevRecall = r
		rx, ry = append(rx, fp/N), append(ry, r)
		px, py = append(px, r), append(py, p)
		i = j
	}
	roc = Curve{Area: auc / (P * N)}
	roc.X, roc.Y = thin(rx, ry, MaxCurvePoints)
	pr = Curve{Area: ap}
	pr.X, pr.Y = thin(px, py, MaxCurvePoints)
	return roc, pr, true
}

// thin keeps at most max points of the polyline (x, y), spaced evenly along its length (in
// the L1 norm, which for a ROC curve is fpr + tpr): index sampling would spend the points
// where thresholds crowd and cut the corners where they are sparse. The first and last points
// always stay. Values are rounded to 4 decimals, well below a pixel.
func thin(x, y []float64, max int) ([]float64, []float64) {
	if len(x) > max {
		var total float64
		for i := 1; i < len(x); i++ {
			total += math.Abs(x[i]-x[i-1]) + math.Abs(y[i]-y[i-1])
		}
		step := total / float64(max-1)
		keepX, keepY := []float64{x[0]}, []float64{y[0]}
		var along float64
		next := step
		for i := 1; i < len(x)-1; i++ {
			along += math.Abs(x[i]-x[i-1]) + math.Abs(y[i]-y[i-1])
			if along >= next && len(keepX) < max-1 {
				keepX, keepY = append(keepX, x[i]), append(keepY, y[i])
				for next <= along {
					next += step
				}
			}
		}
		x, y = append(keepX, x[len(x)-1]), append(keepY, y[len(y)-1])
	}
	ox, oy := make([]float64, len(x)), make([]float64, len(y))
	for i := range x {
		ox[i], oy[i] = round4(x[i]), round4(y[i])
	}
	return ox, oy
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// sig6 keeps 6 significant digits: enough for any chart, and far fewer bytes in JSON than
// the 17 a float64 can print with.
func sig6(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 6, 64), 64)
	return v
}

func calibration(class string, score []float64, pos []bool) Calibration {
	var sumP, sumPos [CalibrationBins]float64
	var count [CalibrationBins]int
	for i, s := range score {
		b := min(max(int(s*CalibrationBins), 0), CalibrationBins-1)
		sumP[b] += s
		if pos[i] {
			sumPos[b]++
		}
		count[b]++
	}
	c := Calibration{Class: class, Bins: []CalibrationBin{}}
	for b := range CalibrationBins {
		if count[b] == 0 {
			continue
		}
		c.Bins = append(c.Bins, CalibrationBin{
			Predicted: round4(sumP[b] / float64(count[b])),
			Observed:  round4(sumPos[b] / float64(count[b])),
			Count:     count[b],
		})
	}
	return c
}

func (d *Diagnostics) regression(y, pred []float64) {
	n := len(y)
	// An even stride through the rows: deterministic, and it follows the data's own order
	// rather than favouring any range of the target.
	m := min(n, MaxScatterPoints)
	s := &Scatter{Actual: make([]float64, m), Predicted: make([]float64, m)}
	for i := range m {
		r := i * n / m
		s.Actual[i], s.Predicted[i] = sig6(y[r]), sig6(pred[r])
	}
	d.Scatter = s

	res := make([]float64, n)
	for i := range n {
		res[i] = y[i] - pred[i]
	}
	d.Residuals = histogram(res, ResidualBins)

	lo, hi := slices.Min(y), slices.Max(y)
	bins := BinnedMeanBins
	if lo == hi {
		bins = 1
	}
	var sumA, sumP, sumPP [BinnedMeanBins]float64
	var count [BinnedMeanBins]int
	for i, a := range y {
		b := bin(a, lo, hi, bins)
		sumA[b] += a
		sumP[b] += pred[i]
		sumPP[b] += pred[i] * pred[i]
		count[b]++
	}
	width := (hi - lo) / float64(bins)
	for b := range bins {
		if count[b] == 0 {
			continue
		}
		c := float64(count[b])
		mp := sumP[b] / c
		d.Binned = append(d.Binned, BinnedMean{
			Lo:        sig6(lo + float64(b)*width),
			Hi:        sig6(lo + float64(b+1)*width),
			Count:     count[b],
			Actual:    sig6(sumA[b] / c),
			Predicted: sig6(mp),
			Std:       sig6(math.Sqrt(max(sumPP[b]/c-mp*mp, 0))),
		})
	}
}

// bin is the equal-width bin of v in [lo, hi]; hi itself falls in the last bin.
func bin(v, lo, hi float64, bins int) int {
	if hi <= lo {
		return 0
	}
	return min(max(int((v-lo)/(hi-lo)*float64(bins)), 0), bins-1)
}

func histogram(v []float64, bins int) *Histogram {
	lo, hi := slices.Min(v), slices.Max(v)
	if lo == hi {
		bins = 1
	}
	h := &Histogram{Edges: make([]float64, bins+1), Counts: make([]int, bins)}
	for i := range h.Edges {
		h.Edges[i] = sig6(lo + (hi-lo)*float64(i)/float64(bins))
	}
	if lo == hi {
		h.Edges[1] = sig6(hi)
	}
	for _, x := range v {
		h.Counts[bin(x, lo, hi, bins)]++
	}
	return h
}
