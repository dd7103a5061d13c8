// Package metrics computes Azure AutoML's metrics under Azure's names (docs/automl.md#metrics;
// Azure's how-to-understand-automated-ml.md): the same numbers sklearn.metrics
// gives, with class-averaged variants over all K classes of the task.
//
// A metric that is undefined on the given data (AUC with one class present, normalized errors
// with a zero target range, Spearman with a constant input) is left out of the map rather than
// set to NaN, so the map always encodes as JSON.
package metrics

import (
	"cmp"
	"math"
	"slices"
)

var classification = []string{
	"accuracy", "AUC_weighted", "AUC_macro", "AUC_micro", "AUC_binary",
	"average_precision_score_weighted", "average_precision_score_macro", "average_precision_score_micro",
	"average_precision_score_binary",
	"f1_score_weighted", "f1_score_macro", "f1_score_micro", "f1_score_binary",
	"precision_score_weighted", "precision_score_macro", "precision_score_micro", "precision_score_binary",
	"recall_score_weighted", "recall_score_macro", "recall_score_micro", "recall_score_binary",
	"log_loss", "norm_macro_recall", "balanced_accuracy", "matthews_correlation",
}

var regression = []string{
	"r2_score", "root_mean_squared_error", "normalized_root_mean_squared_error",
	"mean_absolute_error", "normalized_mean_absolute_error", "spearman_correlation",
	"explained_variance", "median_absolute_error", "normalized_median_absolute_error",
	"root_mean_squared_log_error", "normalized_root_mean_squared_log_error",
}

var lower = map[string]bool{
	"log_loss": true, "root_mean_squared_error": true, "normalized_root_mean_squared_error": true,
	"mean_absolute_error": true, "normalized_mean_absolute_error": true, "median_absolute_error": true,
	"normalized_median_absolute_error": true, "root_mean_squared_log_error": true,
	"normalized_root_mean_squared_log_error": true,
}

// Higher reports whether a larger value of metric is better.
func Higher(metric string) bool { return !lower[metric] }

// Task is "classification" or "regression" for a known metric name, "" otherwise.
func Task(metric string) string {
	switch {
	case slices.Contains(classification, metric):
		return "classification"
	case slices.Contains(regression, metric):
		return "regression"
	}
	return ""
}

// Primary lists the metrics Azure allows as primary_metric for a task, in Azure's order.
func Primary(task string) []string {
	switch task {
	case "classification":
		return []string{"accuracy", "AUC_weighted", "norm_macro_recall", "average_precision_score_weighted", "precision_score_weighted"}
	case "regression":
		return []string{"spearman_correlation", "normalized_root_mean_squared_error", "r2_score", "normalized_mean_absolute_error"}
	}
	return nil
}

// Names lists every metric Classification or Regression can report for a task.
func Names(task string) []string {
	switch task {
	case "classification":
		return slices.Clone(classification)
	case "regression":
		return slices.Clone(regression)
	}
	return nil
}

// ConfusionMatrix counts rows by true class (rows) and predicted class (columns).
func ConfusionMatrix(y, pred []int, k int) [][]int {
	m := make([][]int, k)
	for i := range m {
		m[i] = make([]int, k)
	}
	for i, t := range y {
		if t >= 0 && t < k && pred[i] >= 0 && pred[i] < k {
			m[t][pred[i]]++
		}
	}
	return m
}

// Argmax is the predicted class of each row of prob (row-major n*k): the most probable, the
// lowest index on ties (so 0.5 exactly predicts class 0 in binary).
func Argmax(prob []float64, k int) []int {
	n := len(prob) / k
	pred := make([]int, n)
	for i := range n {
		row := prob[i*k : (i+1)*k]
		best := 0
		for c, p := range row {
			if p > row[best] {
				best = c
			}
		}
		pred[i] = best
	}
	return pred
}

// Classification computes every classification metric. y holds class indices 0..k-1, prob
// the predicted probabilities row-major (len(y)*k), weights per-row sample weights or nil.
// Averages run over all k classes: "macro" is their plain mean, "weighted" weights each by its
// support (true rows), "micro" pools rows (for AUC and average precision: all n*k one-vs-rest
// pairs). The _binary variants (k == 2) score class 1; AUC_weighted is then the binary AUC.
func Classification(y []int, prob []float64, k int, weights []float64) map[string]float64 {
	n := len(y)
	w := func(i int) float64 {
		if weights == nil {
			return 1
		}
		return weights[i]
	}
	pred := Argmax(prob, k)
	// Weighted confusion matrix.
	cm := make([][]float64, k)
	for c := range cm {
		cm[c] = make([]float64, k)
	}
	var total, logLoss float64
	for i, t := range y {
		wi := w(i)
		cm[t][pred[i]] += wi
		total += wi
		p := min(max(prob[i*k+t], 1e-15), 1-1e-15)
		logLoss -= wi * math.Log(p)
	}
	out := map[string]float64{}
	if total <= 0 {
		return out
	}
	support := make([]float64, k)
	predicted := make([]float64, k)
	var correct float64
	for t := range k {
		for p := range k {
			support[t] += cm[t][p]
			predicted[p] += cm[t][p]
		}
		correct += cm[t][t]
	}
	precision := make([]float64, k)
	recall := make([]float64, k)
	f1 := make([]float64, k)
	for c := range k {
		tp := cm[c][c]
		if predicted[c] > 0 {
			precision[c] = tp / predicted[c]
		}
		if support[c] > 0 {
			recall[c] = tp / support[c]
		}
		if s := precision[c] + recall[c]; s > 0 {
			f1[c] = 2 * precision[c] * recall[c] / s
		}
	}
	macro := func(v []float64) float64 { return mean(v) }
	weighted := func(v []float64) float64 {
		var s float64
		for c := range k {
			s += support[c] * v[c]
		}
		return s / total
	}
	acc := correct / total
	out["accuracy"] = acc
	out["log_loss"] = logLoss / total
	for name, v := range map[string][]float64{"precision_score": precision, "recall_score": recall, "f1_score": f1} {
		out[name+"_macro"] = macro(v)
		out[name+"_weighted"] = weighted(v)
		out[name+"_micro"] = acc // single-label: pooled precision = recall = F1 = accuracy
		if k == 2 {
			out[name+"_binary"] = v[1]
		}
	}
	// sklearn's balanced accuracy averages recall over the classes that occur.
	var balanced float64
	var present int
	for c := range k {
		if support[c] > 0 {
			balanced += recall[c]
			present++
		}
	}
	if present > 0 {
		out["balanced_accuracy"] = balanced / float64(present)
	}
	if k > 1 {
		r := 1 / float64(k)
		out["norm_macro_recall"] = (out["recall_score_macro"] - r) / (1 - r)
	}
	// Matthews correlation, multiclass form (sklearn's): (c·s − Σ p_k t_k) / sqrt((s² − Σp²)(s² − Σt²)).
	var sumPT, sumPP, sumTT float64
	for c := range k {
		sumPT += predicted[c] * support[c]
		sumPP += predicted[c] * predicted[c]
		sumTT += support[c] * support[c]
	}
	if den := math.Sqrt((total*total - sumPP) * (total*total - sumTT)); den > 0 {
		out["matthews_correlation"] = (correct*total - sumPT) / den
	} else {
		out["matthews_correlation"] = 0
	}

	// Ranking metrics, one-vs-rest per class.
	score := make([]float64, n)
	pos := make([]bool, n)
	wts := make([]float64, n)
	for i := range n {
		wts[i] = w(i)
	}
	order := make([]int, n)
	aucs := make([]float64, 0, k)
	aps := make([]float64, 0, k)
	sup := make([]float64, 0, k)
	for c := range k {
		for i := range n {
			score[i] = prob[i*k+c]
			pos[i] = y[i] == c
		}
		a, ap, ok := rank(score, pos, wts, order)
		if !ok {
			continue
		}
		aucs = append(aucs, a)
		aps = append(aps, ap)
		sup = append(sup, support[c])
		if k == 2 && c == 1 {
			out["AUC_binary"] = a
			out["average_precision_score_binary"] = ap
		}
	}
	if len(aucs) > 0 {
		out["AUC_macro"] = mean(aucs)
		out["average_precision_score_macro"] = mean(aps)
		var sa, sp, ss float64
		for i := range aucs {
			sa += sup[i] * aucs[i]
			sp += sup[i] * aps[i]
			ss += sup[i]
		}
		out["AUC_weighted"] = sa / ss
		out["average_precision_score_weighted"] = sp / ss
		if k == 2 {
			if a, ok := out["AUC_binary"]; ok {
				out["AUC_weighted"] = a
			}
		}
		flatScore := make([]float64, n*k)
		flatPos := make([]bool, n*k)
		flatW := make([]float64, n*k)
		for i := range n {
			for c := range k {
				flatScore[i*k+c] = prob[i*k+c]
				flatPos[i*k+c] = y[i] == c
				flatW[i*k+c] = wts[i]
			}
		}
		if a, ap, ok := rank(flatScore, flatPos, flatW, make([]int, n*k)); ok {
			out["AUC_micro"] = a
			out["average_precision_score_micro"] = ap
		}
	}
	return out
}

// rank computes ROC AUC (trapezoids over tied groups: the tie-averaged rank statistic) and
// average precision (sklearn's step sum Σ (R_n − R_{n−1}) P_n) of score for the positives.
// ok is false when the positives or the negatives carry no weight.
func rank(score []float64, pos []bool, w []float64, order []int) (auc, ap float64, ok bool) {
	var P, N float64
	for i := range score {
		order[i] = i
		if pos[i] {
			P += w[i]
		} else {
			N += w[i]
		}
	}
	if P <= 0 || N <= 0 {
		return 0, 0, false
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
	var tp, fp, area, prevRecall float64
	for i := 0; i < len(order); {
		j := i
		tp0, fp0 := tp, fp
		for j < len(order) && score[order[j]] == score[order[i]] {
			if pos[order[j]] {
				tp += w[order[j]]
			} else {
				fp += w[order[j]]
			}
			j++
		}
		area += (fp - fp0) * (tp + tp0) / 2
		if tp+fp > 0 {
			r := tp / P
			ap += (r - prevRecall) * tp / (tp + fp)
			prevRecall = r
		}
		i = j
	}
	return area / (P * N), ap, true
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// Regression computes every regression metric. yMin and yMax are the training target's range,
// which the normalized_ metrics divide by (Azure normalizes by the range of the training data).
func Regression(y, pred []float64, yMin, yMax float64) map[string]float64 {
	n := len(y)
	out := map[string]float64{}
	if n == 0 {
		return out
	}
	var sumY, sumSq, sumAbs, sumRes float64
	for i := range n {
		d := y[i] - pred[i]
		sumY += y[i]
		sumSq += d * d
		sumAbs += math.Abs(d)
		sumRes += d
	}
	fn := float64(n)
	meanY, meanRes := sumY/fn, sumRes/fn
	var ssTot, varRes float64
	absErr := make([]float64, n)
	for i := range n {
		ssTot += (y[i] - meanY) * (y[i] - meanY)
		d := y[i] - pred[i] - meanRes
		varRes += d * d
		absErr[i] = math.Abs(y[i] - pred[i])
	}
	// sklearn's force_finite: a constant target scores 1 when predicted exactly, else 0.
	switch {
	case ssTot > 0:
		out["r2_score"] = 1 - sumSq/ssTot
		out["explained_variance"] = 1 - varRes/ssTot
	case sumSq == 0:
		out["r2_score"], out["explained_variance"] = 1, 1
	default:
		out["r2_score"], out["explained_variance"] = 0, 0
	}
	rmse, mae, medae := math.Sqrt(sumSq/fn), sumAbs/fn, median(absErr)
	out["root_mean_squared_error"] = rmse
	out["mean_absolute_error"] = mae
	out["median_absolute_error"] = medae
	if r := yMax - yMin; r > 0 {
		out["normalized_root_mean_squared_error"] = rmse / r
		out["normalized_mean_absolute_error"] = mae / r
		out["normalized_median_absolute_error"] = medae / r
	}
	logOK := yMin > -1
	var sumLog float64
	for i := range n {
		if !(y[i] > -1 && pred[i] > -1) {
			logOK = false
			break
		}
		d := math.Log1p(pred[i]) - math.Log1p(y[i])
		sumLog += d * d
	}
	if logOK {
		rmsle := math.Sqrt(sumLog / fn)
		out["root_mean_squared_log_error"] = rmsle
		if r := math.Log1p(yMax) - math.Log1p(yMin); r > 0 {
			out["normalized_root_mean_squared_log_error"] = rmsle / r
		}
	}
	if s, ok := spearman(y, pred); ok {
		out["spearman_correlation"] = s
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spearman is Pearson's correlation of tie-averaged ranks; false when either side is constant.
func spearman(a, b []float64) (float64, bool) {
	ra, rb := ranks(a), ranks(b)
	ma, mb := mean(ra), mean(rb)
	var sab, saa, sbb float64
	for i := range ra {
		da, db := ra[i]-ma, rb[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return 0, false
	}
	return sab / math.Sqrt(saa*sbb), true
}

func ranks(v []float64) []float64 {
	order := make([]int, len(v))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(v[a], v[b]) })
	r := make([]float64, len(v))
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && v[order[j]] == v[order[i]] {
			j++
		}
		avg := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			r[order[k]] = avg
		}
		i = j
	}
	return r
}
