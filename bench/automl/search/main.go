// Command automl-bench measures the automl search's quality on a CSV file, by hand (not in CI):
// k-fold CV of the whole search (each outer fold trains with the full budget on the rest and is
// scored on rows it never saw), stratified 80/20 hold-outs over several seeds, or, with -test,
// one training on -data scored on the -test file (one JSON line; other/other.sh uses it), with
// -oof and -predictions writing the predictions that families.sh blends other models with.
//
// What its figures stand against: on the bank data, sklearn's HistGradientBoostingClassifier
// with defaults, whose stratified 5-fold CV accuracy and AUC bench/automl/run.sh prints beside
// our single GBDT (bench/peers/hgb_peer.py), and Azure AutoML's published VotingEnsemble on the
// same data (about 0.918 accuracy, 0.9477 AUC_weighted). The folds here are drawn by this
// program, not by sklearn, so compare means, not fold by fold. On other data, other/other.sh
// puts the same HGB defaults and this search on identical splits.
//
// Run from the repository root (the default -data is the bank file in examples/):
//
//	go run ./bench/automl/search -target y -budget 60s -cv 5 -holdout 3
//	go run ./bench/automl/search -data train.csv -test test.csv -task regression -budget 15s
package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	"github.com/mlflow-go/mlflow/internal/ml/automl"
	"github.com/mlflow-go/mlflow/internal/ml/metrics"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/tabular"
	automlstep "github.com/mlflow-go/mlflow/steps/automl"
)

func main() {
	data := flag.String("data", "examples/bankmarketing/data/bankmarketing_train.csv", "CSV file (the default is relative to the repository root)")
	target := flag.String("target", "y", "target column")
	metric := flag.String("metric", "", "primary metric (default: AUC_weighted for classification, Azure's default for regression)")
	task := flag.String("task", "classification", "classification or regression")
	testFile := flag.String("test", "", "score one training on -data against this CSV file and print one JSON line")
	budget := flag.Duration("budget", 60*time.Second, "budget per training")
	maxTrials := flag.Int("max-trials", 0, "max trials (0 = budget only)")
	cv := flag.Int("cv", 0, "outer CV folds (0 = skip)")
	holdout := flag.Int("holdout", 0, "80/20 hold-out seeds (0 = skip)")
	parallel := flag.Int("parallel", runtime.GOMAXPROCS(0), "worker pool size")
	maxCost := flag.Float64("max-cost", automl.DefaultMaxInferenceCost, "max_inference_cost of the final model (0: no bound)")
	refit := flag.Bool("refit", automlstep.DefaultRefit, "refit the selected members on all rows, as the automl step does by default; -cv/-holdout then also score the same ensemble bagged")
	oofFile := flag.String("oof", "", "with -test: write the final blend's out-of-fold predictions on -data to this CSV file (row, then one column per class or the prediction)")
	predFile := flag.String("predictions", "", "with -test: write the model's predictions on -test to this CSV file (row, then one column per class or the prediction)")
	heapProfile := flag.String("heapprofile", "", "write the heap profile taken at the largest live heap seen to this file (go tool pprof -sample_index=inuse_space)")
	flag.Parse()
	if (*oofFile != "" || *predFile != "") && *testFile == "" {
		log.Fatal("-oof and -predictions go with -test")
	}
	if *heapProfile != "" {
		defer peakHeap(*heapProfile)()
	}

	f, err := tabular.ReadFile(context.Background(), *data, tabular.ReadOptions{Target: *target})
	if err != nil {
		log.Fatal(err)
	}
	if *metric == "" && *task == "classification" {
		*metric = "AUC_weighted"
	}
	cfg := automl.Config{
		Name: "bench", Task: *task, Target: *target, PrimaryMetric: *metric,
		Budget: *budget, MaxTrials: *maxTrials, Ensemble: true, Parallel: *parallel, Refit: *refit, KeepBagged: *refit && *testFile == "",
		MaxInferenceCost: *maxCost, KeepOOF: *oofFile != "",
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "  "+format+"\n", args...) },
	}
	// evaluate scores a trained model on frame tf (whose target column is read by name) and
	// returns its predictions, rows×classes (or rows for regression).
	evaluate := func(mdl *model.Model, tf *tabular.Frame) (map[string]float64, []float64) {
		x, err := mdl.Matrix(tf)
		if err != nil {
			log.Fatal(err)
		}
		tcol := tf.Col(*target)
		if *task == "regression" {
			pred := make([]float64, tf.Rows)
			y := make([]float64, tf.Rows)
			mdl.PredictBatch(x, tf.Rows, pred)
			for i := range tf.Rows {
				y[i] = tcol.Num[i]
			}
			a := mdl.A
			return metrics.Regression(y, pred, a.YMin, a.YMax), pred
		}
		classes := mdl.Classes()
		k := len(classes)
		prob := make([]float64, tf.Rows*k)
		y := make([]int, tf.Rows)
		mdl.PredictBatch(x, tf.Rows, prob)
		for i := range tf.Rows {
			// Test files read on their own number their labels afresh: map by spelling.
			var l string
			if tcol.Num != nil {
				l = strconv.FormatFloat(tcol.Num[i], 'g', -1, 64)
			} else {
				l = tcol.Levels[tcol.Codes[i]]
			}
			y[i] = slices.Index(classes, l)
			if y[i] < 0 {
				log.Fatalf("test row %d: class %q was never seen in training", i+1, l)
			}
		}
		return metrics.Classification(y, prob, k, nil), prob
	}
	if *testFile != "" {
		tf, err := tabular.ReadFile(context.Background(), *testFile, tabular.ReadOptions{Target: *target})
		if err != nil {
			log.Fatal(err)
		}
		start := time.Now()
		res, err := automl.Train(context.Background(), f, cfg)
		if err != nil {
			log.Fatal(err)
		}
		secs := time.Since(start).Seconds()
		m, pred := evaluate(res.Model, tf)
		header := []string{"row"}
		if *task == "regression" {
			header = append(header, "prediction")
		} else {
			header = append(header, res.Model.Classes()...)
		}
		if *oofFile != "" {
			writePredictions(*oofFile, header, res.OOFRows, res.OOF)
		}
		if *predFile != "" {
			writePredictions(*predFile, header, nil, pred)
		}
		out := map[string]any{"algorithm": res.Model.A.Algorithm, "trials": len(res.Leaderboard), "seconds": secs}
		for _, name := range []string{"accuracy", "AUC_weighted", "log_loss", "r2_score", "root_mean_squared_error"} {
			if v, ok := m[name]; ok {
				out[name] = v
			}
		}
		b, _ := json.Marshal(out)
		fmt.Println(string(b))
		return
	}
	if *task != "classification" {
		log.Fatal("-cv and -holdout are for classification; use -test for regression")
	}
	tc := f.Col(*target)
	label := make([]int, f.Rows)
	for i := range label {
		label[i] = int(tc.Codes[i])
	}
	var bagged []map[string]float64 // with -refit: the same ensembles with their fold models
	score := func(name string, train, test []int) map[string]float64 {
		start := time.Now()
		res, err := automl.Train(context.Background(), f.Subset(train), cfg)
		if err != nil {
			log.Fatal(err)
		}
		secs := time.Since(start).Seconds()
		tf := f.Subset(test)
		m, _ := evaluate(res.Model, tf)
		fmt.Printf("%s: accuracy %.4f AUC_weighted %.4f (OOF %.4f / %.4f, %s, %d trials, %.0fs)\n", name, m["accuracy"], m["AUC_weighted"],
			res.Metrics["accuracy"], res.Metrics["AUC_weighted"], res.Model.A.Algorithm, len(res.Leaderboard), secs)
		if res.Bagged != nil {
			bm, _ := evaluate(res.Bagged, tf)
			bagged = append(bagged, bm)
			fmt.Printf("%s: same ensemble bagged (fold models): accuracy %.4f AUC_weighted %.4f\n", name, bm["accuracy"], bm["AUC_weighted"])
		}
		return m
	}
	report := func(what string, ms []map[string]float64) {
		var acc, auc []float64
		for _, m := range ms {
			acc = append(acc, m["accuracy"])
			auc = append(auc, m["AUC_weighted"])
		}
		fmt.Printf("%s: accuracy mean %.4f %v, AUC_weighted mean %.4f %v\n", what, mean(acc), round(acc), mean(auc), round(auc))
	}
	if *cv > 0 {
		folds := stratified(label, *cv, 0)
		var ms []map[string]float64
		for k := range *cv {
			var train, test []int
			for i, a := range folds {
				if a == k {
					test = append(test, i)
				} else {
					train = append(train, i)
				}
			}
			ms = append(ms, score(fmt.Sprintf("cv fold %d", k+1), train, test))
		}
		report(fmt.Sprintf("%d-fold CV", *cv), ms)
		if bagged != nil {
			report(fmt.Sprintf("%d-fold CV, same ensembles bagged", *cv), bagged)
			bagged = nil
		}
	}
	if *holdout > 0 {
		var ms []map[string]float64
		for seed := range *holdout {
			a := stratified(label, 5, uint64(seed)+100)
			var train, test []int
			for i, v := range a {
				if v == 0 {
					test = append(test, i)
				} else {
					train = append(train, i)
				}
			}
			ms = append(ms, score(fmt.Sprintf("holdout seed %d", seed), train, test))
		}
		report(fmt.Sprintf("80/20 hold-out x %d seeds", *holdout), ms)
		if bagged != nil {
			report(fmt.Sprintf("80/20 hold-out x %d seeds, same ensembles bagged", *holdout), bagged)
		}
	}
}

// stratified assigns each row one of k folds, stratified by label.
func stratified(label []int, k int, seed uint64) []int {
	g := rand.New(rand.NewPCG(seed, 7))
	by := map[int][]int{}
	var keys []int
	for i, l := range label {
		if _, ok := by[l]; !ok {
			keys = append(keys, l)
		}
		by[l] = append(by[l], i)
	}
	slices.Sort(keys)
	out := make([]int, len(label))
	off := 0
	for _, l := range keys {
		rows := by[l]
		g.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		for i, r := range rows {
			out[r] = (off + i) % k
		}
		off = (off + len(rows)) % k
	}
	return out
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func round(v []float64) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = fmt.Sprintf("%.4f", x)
	}
	return out
}

// peakHeap samples the live heap every 100 ms and, each time it is larger than ever, writes
// the heap profile (as of the last GC) to path: the profile at the end of a search says what
// survived it, not what made its peak. The returned func stops the sampler.
func peakHeap(path string) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var peak uint64
	go func() {
		defer close(stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintf(os.Stderr, "peak live heap %d MiB, profile in %s\n", peak>>20, path)
				return
			case <-t.C:
			}
			rtmetrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak {
				peak = v
				f, err := os.Create(path)
				if err != nil {
					log.Fatal(err)
				}
				if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
					log.Fatal(err)
				}
				f.Close()
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// writePredictions writes predictions, len(header)-1 per row, as CSV: each line starts with
// the row's number in its file (0 = the first data row), rows[j] or else j.
func writePredictions(path string, header []string, rows []int, pred []float64) {
	k := len(header) - 1
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	rec := make([]string, k+1)
	for j := range len(pred) / k {
		r := j
		if rows != nil {
			r = rows[j]
		}
		rec[0] = strconv.Itoa(r)
		for c := range k {
			rec[c+1] = strconv.FormatFloat(pred[j*k+c], 'g', -1, 64)
		}
		w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
