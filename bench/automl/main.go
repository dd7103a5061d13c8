// Command automl-bench is the Go side of run.sh: one default GBDT fit on all rows of a CSV
// (wall and CPU seconds) and stratified 5-fold CV accuracy and AUC, printed as one JSON line
// in the shape of bench/peers/hgb_peer.py, its sklearn peer. With FITS, the fit is timed that
// many times and the medians are printed: one fit on a busy machine can be off by several times.
//
//	GOMAXPROCS=2 automl-bench FILE.csv TARGET [FITS]
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/mlflow-go/mlflow/internal/ml/gbdt"
	"github.com/mlflow-go/mlflow/internal/ml/metrics"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

func main() {
	if len(os.Args) != 3 && len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: automl-bench FILE.csv TARGET [FITS]")
		os.Exit(2)
	}
	path, target := os.Args[1], os.Args[2]
	fits := 1
	if len(os.Args) == 4 {
		n, err := strconv.Atoi(os.Args[3])
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "automl-bench: FITS %q: want a whole number of at least 1\n", os.Args[3])
			os.Exit(2)
		}
		fits = n
	}
	f, err := tabular.ReadFile(context.Background(), path, tabular.ReadOptions{Target: target})
	if err != nil {
		fail(err)
	}
	tc := f.Col(target)
	if tc == nil {
		fail(fmt.Errorf("%s: no column %q", path, target))
	}
	// The positive class is the largest label, as the peer's sorted(unique())[-1].
	y := make([]float64, f.Rows)
	label := make([]int, f.Rows)
	if tc.Type == tabular.Numeric {
		top := math.Inf(-1)
		for _, v := range tc.Num {
			if !math.IsNaN(v) {
				top = max(top, v)
			}
		}
		for i, v := range tc.Num {
			if v == top {
				y[i], label[i] = 1, 1
			}
		}
	} else {
		levels := slices.Clone(tc.Levels)
		slices.Sort(levels)
		pos := int32(slices.Index(tc.Levels, levels[len(levels)-1]))
		for i, c := range tc.Codes {
			if c == pos {
				y[i], label[i] = 1, 1
			}
		}
	}
	var features []string
	for _, c := range f.Columns {
		if c.Name != target {
			features = append(features, c.Name)
		}
	}
	all := make([]int, f.Rows)
	for i := range all {
		all[i] = i
	}
	// sklearn HGB defaults: early stopping on a stratified 10 % when there are over 10,000 rows.
	split := func(rows []int, seed uint64) (train, valid []int32) {
		if len(rows) <= 10_000 {
			for _, r := range rows {
				train = append(train, int32(r))
			}
			return train, nil
		}
		a := stratified(rows, label, 10, seed)
		for i, r := range rows {
			if a[i] == 0 {
				valid = append(valid, int32(r))
			} else {
				train = append(train, int32(r))
			}
		}
		return train, valid
	}
	p := gbdt.DefaultParams()
	var (
		d           *gbdt.Dataset
		m           *gbdt.Model
		walls, cpus []float64
	)
	for range fits {
		// Binning is timed with the fit, as sklearn's fit bins too; CSV parsing is outside
		// both timings.
		w0, c0 := time.Now(), cpu()
		d, err = gbdt.NewDataset(f, features, 255, 0)
		if err != nil {
			fail(err)
		}
		tr, va := split(all, 1)
		m, err = gbdt.Fit(context.Background(), d, y, nil, tr, va, p)
		if err != nil {
			fail(err)
		}
		walls, cpus = append(walls, time.Since(w0).Seconds()), append(cpus, cpu()-c0)
	}
	wall, cpuS := median(walls), median(cpus)

	folds := stratified(all, label, 5, 0)
	var acc, auc float64
	for k := range 5 {
		var train, test []int
		for i, a := range folds {
			if a == k {
				test = append(test, i)
			} else {
				train = append(train, i)
			}
		}
		tr, va := split(train, uint64(k)+2)
		fm, err := gbdt.Fit(context.Background(), d, y, nil, tr, va, p)
		if err != nil {
			fail(err)
		}
		rows := make([]int32, len(test))
		yt := make([]int, len(test))
		for i, r := range test {
			rows[i], yt[i] = int32(r), label[r]
		}
		prob := make([]float64, len(test)*2)
		fm.PredictRows(d, rows, prob)
		ms := metrics.Classification(yt, prob, 2, nil)
		acc += ms["accuracy"] / 5
		auc += ms["AUC_weighted"] / 5
	}
	out, _ := json.Marshal(map[string]any{
		"model": "mlflow-go GBDT defaults", "rows": f.Rows,
		"fit_s_wall": round(wall, 3), "fit_s_cpu": round(cpuS, 3),
		"cv5_accuracy": round(acc, 4), "cv5_auc": round(auc, 4), "iterations": m.Iterations(),
	})
	fmt.Println(string(out))
}

// stratified assigns rows one of k folds, stratified by label, seeded.
func stratified(rows []int, label []int, k int, seed uint64) []int {
	g := rand.New(rand.NewPCG(seed, 11))
	by := [2][]int{}
	for i, r := range rows {
		by[label[r]] = append(by[label[r]], i)
	}
	out := make([]int, len(rows))
	off := 0
	for _, idx := range by {
		g.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for i, j := range idx {
			out[j] = (off + i) % k
		}
		off = (off + len(idx)) % k
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func cpu() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func round(x float64, d int) float64 {
	s := 1.0
	for range d {
		s *= 10
	}
	return float64(int64(x*s+0.5)) / s
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "automl-bench:", err)
	os.Exit(1)
}
