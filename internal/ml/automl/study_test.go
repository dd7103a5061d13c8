package automl

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/internal/ml/metrics"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// TestStudyEnsemble is a by-hand study, not a CI test: AUTOML_STUDY=file.csv (target "y",
// AUTOML_STUDY_TARGET to change it) runs the search on stratified 80/20 splits for
// AUTOML_STUDY_SEEDS seeds (3) with AUTOML_STUDY_BUDGET (60s) and scores ensembling variants
// of the same trials on the held-out 20 %:
//
//	AUTOML_STUDY=$PWD/examples/bankmarketing/data/bankmarketing_train.csv go test ./internal/ml/automl -run StudyEnsemble -v -timeout 30m
func TestStudyEnsemble(t *testing.T) {
	path := os.Getenv("AUTOML_STUDY")
	if path == "" {
		t.Skip("set AUTOML_STUDY=file.csv to run the study")
	}
	target := cmpOr(os.Getenv("AUTOML_STUDY_TARGET"), "y")
	seeds, _ := strconv.Atoi(cmpOr(os.Getenv("AUTOML_STUDY_SEEDS"), "3"))
	budget, _ := time.ParseDuration(cmpOr(os.Getenv("AUTOML_STUDY_BUDGET"), "60s"))
	f, err := tabular.ReadFile(context.Background(), path, tabular.ReadOptions{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	tc := f.Col(target)
	type score struct{ acc, auc float64 }
	res := map[string][]score{}
	var names []string
	for seed := range seeds {
		g := rand.New(rand.NewPCG(uint64(seed)+100, 7))
		by := map[int32][]int{}
		for i, c := range tc.Codes {
			by[c] = append(by[c], i)
		}
		var train, test []int
		for c := range int32(len(tc.Levels)) {
			rows := by[c]
			g.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
			cut := len(rows) / 5
			test = append(test, rows[:cut]...)
			train = append(train, rows[cut:]...)
		}
		slices.Sort(train)
		slices.Sort(test)
		trf, tef := f.Subset(train), f.Subset(test)
		testHookSearched = func(s *search) {
			k := s.p.k()
			n := len(test)
			x := make([]float64, len(s.p.features))
			yt := make([]int, n)
			tcol := tef.Col(target)
			for i := range n {
				yt[i] = slices.Index(s.p.classes, tcol.Levels[tcol.Codes[i]])
			}
			var cands []*trial
			var testPred [][]float64
			for _, tr := range s.trials {
				if tr.models == nil || !s.full(tr) {
					continue
				}
				if err := unshelve(tr); err != nil {
					t.Fatal(err)
				}
				pr := make([]float64, n*k)
				out := make([]float64, k)
				for i := range n {
					for j, name := range s.p.features {
						c := tef.Col(name)
						if c.Num != nil {
							x[j] = c.Num[i]
						} else if c.Codes[i] < 0 {
							x[j] = math.NaN()
						} else {
							x[j] = float64(c.Codes[i])
						}
					}
					for _, m := range tr.models {
						m.Predict(x, out)
						for c := range k {
							pr[i*k+c] += out[c] / float64(len(tr.models))
						}
					}
				}
				cands = append(cands, tr)
				testPred = append(testPred, pr)
			}
			eval := func(name string, w []float64) {
				pr := make([]float64, n*k)
				for ci, wi := range w {
					for i := range pr {
						pr[i] += wi * testPred[ci][i]
					}
				}
				m := metrics.Classification(yt, pr, k, nil)
				if _, ok := res[name]; !ok {
					names = append(names, name)
				}
				res[name] = append(res[name], score{m["accuracy"], m["AUC_weighted"]})
				var ws []string
				for ci, wi := range w {
					if wi > 0 {
						ws = append(ws, fmt.Sprintf("t%d:%.2f", cands[ci].id, wi))
					}
				}
				t.Logf("seed %d %-28s acc %.4f AUC %.4f %v", seed, name, m["accuracy"], m["AUC_weighted"], ws)
			}
			// car runs Caruana over the candidates keep accepts and spreads the weights back.
			car := func(keep func(*trial) bool, sc scorer, steps int) []float64 {
				var idx []int
				var preds [][]float64
				for i, c := range cands {
					if keep(c) {
						idx = append(idx, i)
						preds = append(preds, c.oof)
					}
				}
				w := make([]float64, len(cands))
				if len(preds) == 0 {
					return w
				}
				ws, _ := caruana(preds, sc, steps)
				for j, i := range idx {
					w[i] = ws[j]
				}
				return w
			}
			all := func(*trial) bool { return true }
			ll := func(p []float64) float64 { return logLoss(s.p.y, p, k) }
			au := func(p []float64) float64 { return -aucWeighted(s.p.y, p, k) }
			for i, c := range cands {
				if c.id == 1 || s.better(c, cands[0]) && i == len(cands)-1 {
					w := make([]float64, len(cands))
					w[i] = 1
					eval("trial 1 (GBDT defaults)", w)
					break
				}
			}
			bi := 0
			for i, c := range cands {
				if s.better(c, cands[bi]) {
					bi = i
				}
			}
			w := make([]float64, len(cands))
			w[bi] = 1
			eval("best single", w)
			eval("caruana log loss", car(all, ll, ensembleSteps))
			eval("caruana AUC", car(all, au, ensembleSteps))
			gb := func(c *trial) bool { return c.spec.algo == AlgoGBDT }
			eval("caruana log loss, GBDT only", car(gb, ll, ensembleSteps))
			eval("caruana AUC, GBDT only", car(gb, au, ensembleSteps))
			eval("caruana log loss, 50 steps", car(all, ll, 50))
			costs := make([]float64, len(cands))
			preds := make([][]float64, len(cands))
			for i, c := range cands {
				costs[i] = inferenceCost(c, k, s.linearSlots())
				preds[i] = c.oof
			}
			for _, limit := range []float64{300, 600, 1000, 1500, 2500, 4000} {
				w, _ := caruanaCapped(preds, costs, limit, ll, ensembleSteps)
				spent := 0.0
				for i, wi := range w {
					if wi > 0 {
						spent += costs[i]
					}
				}
				t.Logf("seed %d capped %.0f: cost %.0f", seed, limit, spent)
				eval(fmt.Sprintf("capped %5.0f", limit), w)
			}
			w = car(all, ll, ensembleSteps)
			spent := 0.0
			for i, wi := range w {
				if wi > 0 {
					spent += costs[i]
				}
			}
			t.Logf("seed %d uncapped cost %.0f", seed, spent)
		}
		cfg := Config{Name: "study", Task: model.Classification, Target: target, PrimaryMetric: "AUC_weighted",
			Budget: budget, Ensemble: true, Parallel: 2, Seed: 0,
			Logf: func(format string, args ...any) { t.Logf("seed %d: "+format, append([]any{seed}, args...)...) }}
		if _, err := Train(context.Background(), trf, cfg); err != nil {
			t.Fatal(err)
		}
		testHookSearched = nil
	}
	for _, name := range names {
		var a, u float64
		for _, s := range res[name] {
			a += s.acc / float64(len(res[name]))
			u += s.auc / float64(len(res[name]))
		}
		t.Logf("MEAN %-28s acc %.4f AUC %.4f (%d seeds)", name, a, u, len(res[name]))
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
