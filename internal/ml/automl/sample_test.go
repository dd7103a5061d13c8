package automl

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/internal/ml/model"
)

// smallSample makes the search sample frames of a few thousand rows, for the test's length.
func smallSample(t *testing.T, rows int) {
	minRows, perSecond := sampleMinRows, sampleCellsPerSecond
	sampleMinRows, sampleCellsPerSecond = rows, 1
	t.Cleanup(func() { sampleMinRows, sampleCellsPerSecond = minRows, perSecond })
}

func TestSearchRows(t *testing.T) {
	for _, c := range []struct {
		budget   time.Duration
		features int
		want     int
	}{
		{time.Second, 20, 0}, // fast mode reads every row once anyway
		{60 * time.Second, 20, 60_000},
		{30 * time.Second, 20, 50_000},
		{600 * time.Second, 20, 600_000},
		{600 * time.Second, 4, 1_200_000}, // narrow data: read as 10 features
		{600 * time.Second, 100, 120_000},
	} {
		if got := searchRows(c.budget, c.features); got != c.want {
			t.Errorf("searchRows(%v, %d) = %d, want %d", c.budget, c.features, got, c.want)
		}
	}
}

// A search on more rows than its budget's share runs on a stratified sample, refits the
// chosen members on every row and says so in the log, the warnings and the lineage.
func TestSubsampleSearchRefitsOnAllRows(t *testing.T) {
	smallSample(t, 600)
	f := frame(3000, 2, 5)
	cfg := quick(model.Classification)
	cfg.Budget, cfg.Refit = 30*time.Second, true
	var log strings.Builder
	cfg.Logf = func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }
	var searched int
	testHookSearched = func(s *search) { searched = len(s.p.y) }
	t.Cleanup(func() { testHookSearched = nil })
	res, err := Train(context.Background(), f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if searched < 590 || searched > 610 {
		t.Errorf("the search ran on %d rows, want a sample of about 600", searched)
	}
	a := res.Model.A
	if a.Lineage.SampleRows != searched {
		t.Errorf("lineage sample_rows %d, want %d", a.Lineage.SampleRows, searched)
	}
	if !strings.Contains(log.String(), "for a search on a sample (the data ≈ 72000B in memory)") {
		t.Errorf("the log does not bound a sampled search's memory:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "3000 rows: searching a stratified sample of") {
		t.Errorf("the log does not say the search ran on a sample:\n%s", log.String())
	}
	if !hasWarning(res, fmt.Sprintf("stratified sample of %d of the 3000 rows", searched)) {
		t.Errorf("no warning about the sample: %q", res.Warnings)
	}
	// A boosted model's base score is the log-odds of its training rows' positive share:
	// a refit on all rows has the whole frame's, which the sample's rounding misses.
	pos := 0
	yc := f.Col("y")
	for _, c := range yc.Codes {
		pos += int(c)
	}
	want := math.Log(float64(pos) / float64(3000-pos))
	refit := 0
	for _, m := range a.Members {
		if !m.Refit || len(m.Trees) == 0 || m.Trees[0].Params.Forest {
			continue
		}
		refit++
		if got := m.Trees[0].BaseScore[0]; math.Abs(got-want) > 1e-12 {
			t.Errorf("trial %d refit from base score %.6f, want all rows' %.6f", m.Trial, got, want)
		}
	}
	if refit == 0 {
		t.Errorf("no boosted member was refit on all rows: %s", log.String())
	}
}

// The sample is stratified: each class keeps its share, and it depends on the seed alone.
func TestStratifiedSample(t *testing.T) {
	strata := make([]int, 10_000)
	for i := range strata {
		if i%10 == 0 {
			strata[i] = 1
		}
	}
	rows := stratifiedSample(strata, 1000, 3)
	ones := 0
	for _, r := range rows {
		ones += strata[r]
	}
	if len(rows) != 1000 || ones != 100 {
		t.Errorf("sample of %d rows with %d of class 1, want 1000 with 100", len(rows), ones)
	}
	again := stratifiedSample(strata, 1000, 3)
	for i := range rows {
		if rows[i] != again[i] {
			t.Fatalf("same seed, different samples at %d", i)
		}
	}
}

// When the first GBDT trial shows that refitting it on all rows would not fit in the share of
// the budget kept for refits, the search takes that share back and the members are refit on
// the sample; when it fits, nothing changes.
func TestSettleRefit(t *testing.T) {
	start := time.Now()
	budget := 100 * time.Second
	outer, cancel := context.WithDeadline(context.Background(), start.Add(90*time.Second))
	defer cancel()
	inner, cancelInner := context.WithDeadline(outer, start.Add(50*time.Second))
	defer cancelInner()
	for _, c := range []struct {
		seconds float64 // the trial's fold fits, 2 folds of 1,000 rows on 2 workers
		whole   bool
	}{{1, true}, {10, false}} {
		s := &search{
			cfg: &Config{Budget: budget, Parallel: 2}, start: start, deadline: start.Add(50 * time.Second),
			p: &problem{}, whole: &problem{y: make([]float64, 10_000)}, folds: []fold{{train: make([]int32, 900), stop: make([]int32, 100)}, {}},
			refitWhole: true, outer: outer, log: func(string, ...any) {},
		}
		// Refit estimate: seconds × 2 fits at once / 2 folds × 10,000 / 1,000 rows / 2 workers
		// = 5 × seconds, against the 49 s from the search's deadline to the refits' end.
		s.best = &trial{id: 1, foldDone: []bool{true, true}, seconds: c.seconds}
		got := s.settleRefit(inner)
		if s.refitWhole != c.whole || (got == inner) != c.whole {
			t.Errorf("trial of %gs: refit on all rows %v, search context kept %v; want %v", c.seconds, s.refitWhole, got == inner, c.whole)
		}
		if d, _ := outer.Deadline(); !c.whole && !s.deadline.Equal(d) {
			t.Errorf("trial of %gs: search deadline %v, want the outer one %v", c.seconds, s.deadline.Sub(start), d.Sub(start))
		}
	}
}

// A member whose refit on all rows would not fit in the time left is refit on the sample
// instead: one model to serve rather than its fold models.
func TestSubsampleRefitFallsBackToSample(t *testing.T) {
	smallSample(t, 600)
	cfg := quick(model.Classification)
	cfg.Budget, cfg.Refit = 30*time.Second, true
	var log strings.Builder
	cfg.Logf = func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }
	// The trials look slow: a refit on all 3,000 rows estimated at about a minute, one on the
	// sample's 600 at about 12 s (refitSeconds: seconds × 2/30 folds × rows/540 ÷ 2 workers).
	testHookSearched = func(s *search) {
		for _, tr := range s.trials {
			tr.seconds = 324
		}
	}
	t.Cleanup(func() { testHookSearched = nil })
	res, err := Train(context.Background(), frame(3000, 2, 5), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "on the sample's") {
		t.Errorf("no member was refit on the sample:\n%s", log.String())
	}
	for _, m := range res.Model.A.Members {
		if !m.Refit {
			t.Errorf("trial %d ships its fold models, want a refit on the sample", m.Trial)
		}
	}
	if !hasWarning(res, "no member was refit on all rows") {
		t.Errorf("the warnings do not say the model was fit on the sample: %q", res.Warnings)
	}
}

// TestSettleRefitFollowsBest: the refit decision is taken again from each new best trial, so
// a later winner too slow to refit on all rows gives the time kept for refits back to the
// search (it had been judged on the first GBDT trial alone).
func TestSettleRefitFollowsBest(t *testing.T) {
	start := time.Now()
	outer, cancel := context.WithDeadline(context.Background(), start.Add(90*time.Second))
	defer cancel()
	inner, cancelInner := context.WithDeadline(outer, start.Add(50*time.Second))
	defer cancelInner()
	s := &search{
		cfg: &Config{Budget: 100 * time.Second, Parallel: 2}, start: start, deadline: start.Add(50 * time.Second),
		p: &problem{}, whole: &problem{y: make([]float64, 10_000)}, folds: []fold{{train: make([]int32, 900), stop: make([]int32, 100)}, {}},
		refitWhole: true, outer: outer, log: func(string, ...any) {},
	}
	// As in TestSettleRefit, a trial's refit is estimated at 5 × its seconds against 49 s.
	if got := s.settleRefit(inner); got != inner || !s.refitWhole {
		t.Fatal("no trial yet: the refit on all rows should stay planned")
	}
	s.best = &trial{id: 1, foldDone: []bool{true, true}, seconds: 1}
	if got := s.settleRefit(inner); got != inner || !s.refitWhole {
		t.Fatal("best trial of 1s: the refit on all rows should stay planned")
	}
	s.best = &trial{id: 2, foldDone: []bool{true, true}, seconds: 20}
	if got := s.settleRefit(inner); got != context.Context(outer) || s.refitWhole {
		t.Errorf("new best trial of 20s (refit about 100s): refit on all rows %v, want the search to take the time back", s.refitWhole)
	}
}

// Once the members are to be refit on the sample, the search ends early enough for the best
// trial's refit there: on 9 M rows the ordinary reserve had left 58 s for a refit of 80 s,
// which was cut off. The deadline only moves earlier, for each slower best trial.
func TestSettleRefitKeepsRoomOnSample(t *testing.T) {
	start := time.Now()
	outer, cancel := context.WithDeadline(context.Background(), start.Add(90*time.Second))
	defer cancel()
	s := &search{
		cfg: &Config{Budget: 100 * time.Second, Parallel: 2}, start: start, deadline: start.Add(90 * time.Second),
		p: &problem{y: make([]float64, 1000)}, whole: &problem{y: make([]float64, 10_000)},
		folds: []fold{{train: make([]int32, 900), stop: make([]int32, 100)}, {}},
		outer: outer, log: func(string, ...any) {},
	}
	defer func() {
		for _, c := range s.cancels {
			c()
		}
	}()
	ctx := context.Context(outer)
	// A refit on the sample's 1,000 rows: seconds × 2 fits at once / 2 folds × 1,000 / 1,000
	// rows / 2 workers = seconds / 2, to end before the budget's 100 s less its 7 s reserve.
	for _, c := range []struct {
		seconds float64
		end     time.Duration // the search's deadline after the trial, from the start
	}{{4, 90 * time.Second}, {100, 43 * time.Second}, {60, 43 * time.Second}, {120, 33 * time.Second}} {
		s.best = &trial{id: 1, foldDone: []bool{true, true}, seconds: c.seconds}
		ctx = s.settleRefit(ctx)
		if got := s.deadline.Sub(start); got != c.end {
			t.Errorf("best trial of %gs: search deadline %v, want %v", c.seconds, got, c.end)
		}
		if d, _ := ctx.Deadline(); !d.Equal(s.deadline) {
			t.Errorf("best trial of %gs: the context ends at %v, the search at %v", c.seconds, d.Sub(start), s.deadline.Sub(start))
		}
	}
}
