package automl

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/internal/ml/metrics"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// frame builds n rows: x numeric (some missing), c categorical (4 levels), z noise, and a
// target from a noisy rule. classes = 0 makes a regression target.
func frame(n, classes int, seed uint64) *tabular.Frame {
	g := rand.New(rand.NewPCG(seed, 3))
	x := make([]float64, n)
	z := make([]float64, n)
	c := make([]int32, n)
	yn := make([]float64, n)
	yc := make([]int32, n)
	for i := range n {
		x[i] = g.NormFloat64()
		z[i] = g.NormFloat64()
		c[i] = int32(g.IntN(4))
		s := 1.5*x[i] + []float64{-1, 0, 0.5, 1}[c[i]] + 0.5*g.NormFloat64()
		if i%13 == 0 {
			x[i] = math.NaN()
		}
		yn[i] = s
		switch {
		case classes == 2:
			if s > 0.3 {
				yc[i] = 1
			}
		case classes > 2:
			yc[i] = int32(min(classes-1, max(0, int((s+2)*float64(classes)/4))))
		}
	}
	f := &tabular.Frame{Rows: n, Target: "y", Columns: []*tabular.Column{
		{Name: "x", Type: tabular.Numeric, Num: x},
		{Name: "c", Type: tabular.Categorical, Codes: c, Levels: []string{"a", "b", "c", "d"}},
		{Name: "z", Type: tabular.Numeric, Num: z},
	}}
	if classes == 0 {
		f.Columns = append(f.Columns, &tabular.Column{Name: "y", Type: tabular.Numeric, Num: yn})
	} else {
		levels := make([]string, classes)
		for i := range levels {
			levels[i] = fmt.Sprintf("k%d", i)
		}
		f.Columns = append(f.Columns, &tabular.Column{Name: "y", Type: tabular.Categorical, Codes: yc, Levels: levels})
	}
	return f
}

func quick(task string) Config {
	return Config{Name: "m", Task: task, MaxTrials: 3, Ensemble: true, Seed: 7, Parallel: 2}
}

func hasWarning(r *Result, sub string) bool {
	for _, w := range r.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

func TestTrainBinaryAndRoundTrip(t *testing.T) {
	f := frame(1500, 2, 1)
	res, err := Train(context.Background(), f, quick(model.Classification))
	if err != nil {
		t.Fatal(err)
	}
	if auc := res.Metrics["AUC_weighted"]; auc < 0.85 {
		t.Errorf("OOF AUC %.3f, want >= 0.85 on an easy rule", auc)
	}
	if len(res.Leaderboard) != 3 {
		t.Errorf("leaderboard has %d trials, want 3 (max_trials)", len(res.Leaderboard))
	}
	m2, err := model.Decode(res.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	x, err := res.Model.Matrix(f)
	if err != nil {
		t.Fatal(err)
	}
	a, b := make([]float64, 2), make([]float64, 2)
	for i := range 200 {
		row := x[i*3 : (i+1)*3]
		res.Model.Predict(row, a)
		m2.Predict(row, b)
		if a[0] != b[0] || a[1] != b[1] || math.Abs(a[0]+a[1]-1) > 1e-9 {
			t.Fatalf("row %d: in memory %v, decoded %v", i, a, b)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { m2.Predict(x[:3], b) }); allocs != 0 {
		t.Errorf("Predict allocates %v times per row", allocs)
	}
	// Unseen category spelling and missing values predict like missing, never fail.
	row := []float64{m2.Code(0, "NA"), m2.Code(1, "never-seen"), 0.3}
	m2.Predict(row, b)
	if math.IsNaN(b[0]) {
		t.Error("NaN probability for an unseen category")
	}
}

// Same data, config and seed give the same bytes whatever the pool size and GOMAXPROCS.
func TestDeterministicBytes(t *testing.T) {
	rows, runs := 2500, []struct{ par, procs int }{{1, 1}, {3, 2}, {2, 4}}
	if raceEnabled {
		// The race detector multiplies this test's minute: fewer rows (still 5 folds) and the
		// two schedules furthest apart.
		rows, runs = 1100, []struct{ par, procs int }{runs[0], runs[2]}
	}
	f := frame(rows, 3, 2)
	var first []byte
	for _, run := range runs {
		old := runtime.GOMAXPROCS(run.procs)
		cfg := quick(model.Classification)
		cfg.MaxTrials = 5 // P1..P4 and a forest-free GBDT: covers GBDT, linear and bagging
		cfg.Parallel = run.par
		res, err := Train(context.Background(), f, cfg)
		runtime.GOMAXPROCS(old)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = res.Bytes
			continue
		}
		if !bytes.Equal(first, res.Bytes) {
			t.Fatalf("parallel %d GOMAXPROCS %d: model bytes differ (%d vs %d bytes)", run.par, run.procs, len(first), len(res.Bytes))
		}
	}
}

func TestRegression(t *testing.T) {
	f := frame(1200, 0, 3)
	res, err := Train(context.Background(), f, quick(model.Regression))
	if err != nil {
		t.Fatal(err)
	}
	if r2 := res.Metrics["r2_score"]; r2 < 0.7 {
		t.Errorf("OOF r2 %.3f, want >= 0.7", r2)
	}
	if res.Model.Classes() != nil {
		t.Error("regression model has classes")
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	errCase := func(name string, f *tabular.Frame, cfg Config, want ...string) {
		t.Helper()
		_, err := Train(ctx, f, cfg)
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", name, err, w)
			}
		}
	}

	f := frame(300, 2, 4)
	f.Col("y").Codes = make([]int32, 300)
	errCase("constant target", f, quick(model.Classification), `target`, `"y"`, "constant")

	f = frame(300, 2, 4)
	cfg := quick(model.Classification)
	cfg.PrimaryMetric = "r2_score"
	errCase("metric for the other task", f, cfg, "primary_metric", "r2_score", "AUC_weighted", "accuracy")

	f = frame(300, 2, 4)
	f.Col("y").Levels = []string{"12.5", "lots"}
	errCase("regression target with text", f, quick(model.Regression), `"y"`, `"lots"`, "not a number")

	cfg = quick(model.Classification)
	cfg.Allowed = []string{"NeuralNet"}
	errCase("unknown allowed model", frame(100, 2, 4), cfg, "allowed_models[0]", "NeuralNet")
}

func TestDroppedColumns(t *testing.T) {
	f := frame(400, 2, 5)
	empty := make([]float64, 400)
	id := make([]int32, 400)
	levels := make([]string, 400)
	for i := range empty {
		empty[i] = math.NaN()
		id[i] = int32(i)
		levels[i] = fmt.Sprintf("cust-%04d", i)
	}
	f.Columns = append(f.Columns,
		&tabular.Column{Name: "empty", Type: tabular.Numeric, Num: empty},
		&tabular.Column{Name: "customer", Type: tabular.Categorical, Codes: id, Levels: levels})
	res, err := Train(context.Background(), f, quick(model.Classification))
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(res, `dropped column "empty": every value is missing`) {
		t.Errorf("no all-missing warning in %q", res.Warnings)
	}
	if !hasWarning(res, `dropped column "customer": it looks like an ID`) {
		t.Errorf("no ID warning in %q", res.Warnings)
	}
	for _, in := range res.Model.Inputs() {
		if in.Name == "empty" || in.Name == "customer" {
			t.Errorf("dropped column %q is still an input", in.Name)
		}
	}
}

// A 1 % minority class trains with stratified folds: every fold sees positives.
func TestRareClass(t *testing.T) {
	f := frame(2000, 2, 6)
	y := f.Col("y").Codes
	for i := range y {
		y[i] = 0
		if i%100 == 0 {
			y[i] = 1
		}
	}
	res, err := Train(context.Background(), f, quick(model.Classification))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := prepare(f, &Config{Task: model.Classification})
	folds, _ := makeFolds(p.strata, Validation{Folds: 5, Repeats: 1}, 1)
	for i, fd := range folds {
		pos := 0
		for _, r := range fd.valid {
			if p.y[r] == 1 {
				pos++
			}
		}
		if pos != 4 {
			t.Errorf("fold %d holds %d of the 20 positives, want 4", i, pos)
		}
	}
	if _, ok := res.Metrics["AUC_weighted"]; !ok {
		t.Error("no AUC for the rare class")
	}
}

// A multiclass class with a single row is a warning, never a crash.
func TestSingleRowClass(t *testing.T) {
	f := frame(600, 3, 7)
	col := f.Col("y")
	col.Levels = append(col.Levels, "lonely")
	col.Codes[17] = 3
	res, err := Train(context.Background(), f, quick(model.Classification))
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(res, `class "lonely" of target "y" has 1 row`) {
		t.Errorf("no single-row warning in %q", res.Warnings)
	}
	if len(res.Model.Classes()) != 4 {
		t.Errorf("classes %v, want 4", res.Model.Classes())
	}
	out := make([]float64, 4)
	res.Model.Predict([]float64{0, 0, 0}, out)
	for _, p := range out {
		if math.IsNaN(p) {
			t.Fatalf("NaN probability: %v", out)
		}
	}
}

// A budget too small for one model still returns a model and says so.
func TestBudgetTooSmall(t *testing.T) {
	f := frame(20000, 2, 8)
	cfg := Config{Name: "m", Task: model.Classification, Budget: time.Millisecond, Ensemble: true, Parallel: 2}
	res, err := Train(context.Background(), f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(res, "too small for one full model") {
		t.Errorf("no budget warning in %q", res.Warnings)
	}
	if !strings.Contains(strings.Join(res.Model.A.Warnings, "\n"), "too small") {
		t.Error("the warning is not in the model's metadata")
	}
	if len(res.Model.A.Members) == 0 {
		t.Error("no model returned")
	}
}

func TestFoldsDependOnSeedAndOrderOnly(t *testing.T) {
	strata := make([]int, 1000)
	for i := range strata {
		strata[i] = i % 7 % 3
	}
	a, _ := makeFolds(strata, Validation{Folds: 5, Repeats: 1}, 3)
	b, _ := makeFolds(strata, Validation{Folds: 5, Repeats: 1}, 3)
	c, _ := makeFolds(strata, Validation{Folds: 5, Repeats: 1}, 4)
	same := func(x, y []fold) bool { return fmt.Sprint(x) == fmt.Sprint(y) }
	if !same(a, b) {
		t.Error("equal seeds give different folds")
	}
	if same(a, c) {
		t.Error("different seeds give equal folds")
	}
	seen := make([]int, 1000)
	for _, f := range a {
		for _, r := range f.valid {
			seen[r]++
		}
		if len(f.train)+len(f.stop)+len(f.valid) != 1000 {
			t.Errorf("fold sizes %d+%d+%d != 1000", len(f.train), len(f.stop), len(f.valid))
		}
	}
	for r, n := range seen {
		if n != 1 {
			t.Fatalf("row %d validated %d times", r, n)
		}
	}
}

func TestCaruanaPrefersBetterBlend(t *testing.T) {
	// Two candidates wrong in different rows: the blend beats both, so both get weight.
	y := []float64{0, 1, 0, 1}
	a := []float64{0.9, 0.1, 0.1, 0.9, 0.5, 0.5, 0.5, 0.5}
	b := []float64{0.5, 0.5, 0.5, 0.5, 0.9, 0.1, 0.1, 0.9}
	score := func(p []float64) float64 { return logLoss(y, p, 2) }
	w, s := caruana([][]float64{a, b}, score, 25)
	if w[0] == 0 || w[1] == 0 || math.Abs(w[0]+w[1]-1) > 1e-12 {
		t.Errorf("weights %v", w)
	}
	if s >= min(score(a), score(b)) {
		t.Errorf("blend score %v not better than the members (%v, %v)", s, score(a), score(b))
	}
}

// The budget bounds the whole call, counted from Config.Start: a search with time for many
// trials stops, ensembles and encodes within it (a loaded machine gets some slack).
//
// Whether a search fits in the budget depends on the machine, so the budgets are sized for the
// slowest case (the race detector on a loaded CI runner, where a 6,000-row trial took over a
// second): a smaller frame and longer budgets there, so the check "more than one trial" tests
// the search rather than the machine.
func TestBudgetIsKept(t *testing.T) {
	f := frame(6000, 2, 9)
	slack, scale := 1500*time.Millisecond, time.Duration(1)
	if raceEnabled {
		f = frame(2000, 2, 9)
		slack, scale = 4*time.Second, 2
	}
	for _, c := range []struct {
		budget, spent time.Duration
		refit         bool
	}{{3 * time.Second, 0, false}, {4 * time.Second, 2 * time.Second, false}, {3 * time.Second, 0, true}} {
		c.budget, c.spent = c.budget*scale, c.spent*scale
		cfg := Config{Name: "m", Task: model.Classification, Budget: c.budget, Ensemble: true, Parallel: 2,
			Start: time.Now().Add(-c.spent), Refit: c.refit}
		res, err := Train(context.Background(), f, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(cfg.Start); took > c.budget+slack {
			t.Errorf("budget %v (%v spent before Train, refit %v): took %v", c.budget, c.spent, c.refit, took.Round(time.Millisecond))
		}
		// One trial is a search cut short only when it left time for more: on a loaded machine
		// under -race the first trial alone can take what the budget leaves the search.
		window := c.budget - c.spent - reserve(c.budget)
		n := len(res.Leaderboard)
		if n == 0 || (n == 1 && time.Duration(res.Leaderboard[0].Seconds*3*float64(time.Second)) < window) {
			t.Errorf("budget %v: %d trials in a search window of %v, want a search", c.budget, n, window)
		}
	}
}

func TestCaruanaCapped(t *testing.T) {
	y := []float64{0, 1, 0, 1}
	a := []float64{0.9, 0.1, 0.1, 0.9, 0.5, 0.5, 0.5, 0.5}
	b := []float64{0.5, 0.5, 0.5, 0.5, 0.9, 0.1, 0.1, 0.9}
	c := []float64{0.6, 0.4, 0.4, 0.6, 0.6, 0.4, 0.4, 0.6} // weaker alone, cheap
	score := func(p []float64) float64 { return logLoss(y, p, 2) }
	cands := [][]float64{a, b, c}
	for _, tc := range []struct {
		limit float64
		want  []bool // which candidates may have weight
	}{
		{100, []bool{true, true, true}}, // everything fits: a and b blend as uncapped
		{15, []bool{true, false, true}}, // a (10) + c (5) fit, b (10) would overrun
		{6, []bool{false, false, true}}, // only c fits alone
		{1, []bool{false, false, true}}, // nothing fits: the cheapest
	} {
		w, _ := caruanaCapped(cands, []float64{10, 10, 5}, tc.limit, score, 25)
		spent := 0.0
		for i, wi := range w {
			if wi > 0 && !tc.want[i] {
				t.Errorf("limit %v: weights %v give candidate %d weight", tc.limit, w, i)
			}
			if wi > 0 {
				spent += []float64{10, 10, 5}[i]
			}
		}
		if spent > max(tc.limit, 5) {
			t.Errorf("limit %v: members cost %v", tc.limit, spent)
		}
		if math.Abs(w[0]+w[1]+w[2]-1) > 1e-12 {
			t.Errorf("limit %v: weights %v do not sum to 1", tc.limit, w)
		}
	}
	uncapped, _ := caruana(cands, score, 25)
	capped, _ := caruanaCapped(cands, []float64{10, 10, 5}, 100, score, 25)
	if !slices.Equal(uncapped, capped) {
		t.Errorf("a limit nothing reaches changed the ensemble: %v, uncapped %v", capped, uncapped)
	}
}

// The inference bound trades latency for no more than costTolerance of out-of-fold loss: a
// bound every candidate fits changes nothing; a tight one gives no more trees than none, and
// a model whose log loss is within the tolerance of the unbounded one.
func TestMaxInferenceCost(t *testing.T) {
	rows := 3000
	if raceEnabled {
		rows = 1200 // the bound's logic does not need the rows; the race detector's time does
	}
	f := frame(rows, 2, 5)
	train := func(lim float64) (int, *Result) {
		cfg := quick(model.Classification)
		cfg.MaxTrials, cfg.Refit, cfg.MaxInferenceCost = 8, true, lim
		res, err := Train(context.Background(), f, cfg)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, mem := range res.Model.A.Members {
			for _, tr := range mem.Trees {
				n += len(tr.Trees)
			}
		}
		return n, res
	}
	free, fr := train(0)
	if _, big := train(1e9); !bytes.Equal(big.Bytes, fr.Bytes) {
		t.Errorf("a bound every candidate fits changed the model")
	}
	tight, tr := train(1)
	if tight > free {
		t.Errorf("limit 1: %d trees, no limit: %d", tight, free)
	}
	if a, b := tr.Model.A.Metrics["log_loss"], fr.Model.A.Metrics["log_loss"]; a > b*(1+costTolerance)+1e-12 {
		t.Errorf("limit 1: OOF log loss %.5f, unbounded %.5f: more than %.0f%% worse", a, b, 100*costTolerance)
	}
}

// The bound is per class: a multiclass GBDT grows a tree per class and round, and a bound
// that ignored that would leave out all but the cheapest small trial on a 10-class set.
func TestMaxInferenceCostPerClass(t *testing.T) {
	for _, c := range []struct{ classes, limit int }{{2, 1000}, {8, 8000}} {
		cfg := quick(model.Classification)
		cfg.MaxTrials, cfg.Refit, cfg.MaxInferenceCost = 3, true, DefaultMaxInferenceCost
		var lines []string
		cfg.Logf = func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
		if _, err := Train(context.Background(), frame(2000, c.classes, 5), cfg); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("limit %d)", c.limit)
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "ensemble:") && strings.Contains(l, want) }) {
			t.Errorf("%d classes: no ensemble line with %s in %q", c.classes, want, lines)
		}
	}
}

// KeepOOF returns the blend's out-of-fold predictions numbered as in the given frame (rows
// with a missing target skipped), and they are the ones the reported metrics were taken on.
func TestKeepOOF(t *testing.T) {
	f := frame(600, 2, 9)
	yc := f.Col("y").Codes
	for _, i := range []int{0, 5, 599} {
		yc[i] = -1
	}
	cfg := quick(model.Classification)
	cfg.KeepOOF = true
	res, err := Train(context.Background(), f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rows := res.OOFRows
	if len(rows) != 597 || len(res.OOF) != 2*len(rows) {
		t.Fatalf("%d rows, %d predictions; want 597 rows of 2 classes", len(rows), len(res.OOF))
	}
	if rows[0] != 1 || rows[4] != 6 || rows[len(rows)-1] != 598 {
		t.Errorf("rows %v...%v do not skip the rows without a target", rows[:5], rows[len(rows)-1])
	}
	y := make([]int, len(rows))
	for j, i := range rows {
		y[j] = int(yc[i])
	}
	got := metrics.Classification(y, res.OOF, 2, nil)
	for _, name := range []string{"AUC_weighted", "accuracy", "log_loss"} {
		if math.Abs(got[name]-res.Metrics[name]) > 1e-12 {
			t.Errorf("%s: %v from the returned predictions, %v reported", name, got[name], res.Metrics[name])
		}
	}
	cfg.KeepOOF = false
	if res, err = Train(context.Background(), f, cfg); err != nil || res.OOF != nil || res.OOFRows != nil {
		t.Errorf("without KeepOOF: predictions kept (%d), err %v", len(res.OOF), err)
	}
}
