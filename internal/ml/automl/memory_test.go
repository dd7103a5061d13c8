package automl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/model"
)

// retained counts the out-of-fold floats and fold models the trials hold.
func retained(s *search) (floats, models int) {
	for _, t := range s.trials {
		floats += len(t.oof)
		for _, p := range t.foldPred {
			floats += len(p)
		}
		for _, m := range t.models {
			if m != nil {
				models++
			}
		}
	}
	return floats, models
}

// TestRetainedStateBounded holds the search to docs/automl.md#memory: whatever the number of
// trials, the trials keep at most keepModels+3 rows×outputs matrices of out-of-fold
// predictions (the candidates, the best by the primary metric, and the screening rung's
// per-fold predictions) and as many trials' fold models. Before, every candidate held two
// n×k matrices and every screened config two more until its bracket ended: the state grew
// with trials and classes, not with the data.
func TestRetainedStateBounded(t *testing.T) {
	f := frame(1200, 3, 5)
	counts := []int{6, 40}
	if raceEnabled {
		counts = counts[1:] // the long search holds the bound over more prunes; the short adds time
	}
	for _, trials := range counts {
		var peakFloats, peakModels int
		var n, k, folds int
		testHookTrial = func(s *search) {
			fl, m := retained(s)
			peakFloats, peakModels = max(peakFloats, fl), max(peakModels, m)
			n, k, folds = len(s.p.y), s.p.k(), len(s.folds)
		}
		cfg := quick(model.Classification)
		cfg.MaxTrials = trials
		_, err := Train(context.Background(), f, cfg)
		testHookTrial = nil
		if err != nil {
			t.Fatal(err)
		}
		if limit := (keepModels + 3) * n * k; peakFloats > limit {
			t.Errorf("%d trials: %d OOF floats retained at the peak (%.1f n×k matrices), want at most %d (%d)",
				trials, peakFloats, float64(peakFloats)/float64(n*k), limit, keepModels+3)
		}
		if limit := (keepModels + 3) * folds; peakModels > limit {
			t.Errorf("%d trials: %d fold models retained at the peak, want at most %d", trials, peakModels, limit)
		}
		t.Logf("%d trials: peak %.1f n×k OOF matrices, %d fold models", trials, float64(peakFloats)/float64(n*k), peakModels)
	}
}

// TestMemoryBoundKeepsFewerCandidates: a memory bound that leaves room for a few candidates
// makes the search keep fewer (and say so), fit folds one at a time when two working sets do
// not fit, and still return a model.
func TestMemoryBoundKeepsFewerCandidates(t *testing.T) {
	if raceEnabled {
		// Two 25-trial searches: a third of the package's time under the race detector, for
		// code that runs between trials, on one goroutine. TestMemoryBoundTooSmall still runs
		// the memory plan under it.
		t.Skip("slow under the race detector; runs without -race")
	}
	f := frame(1200, 3, 5)
	var logs []string
	var peakCands, n, k int
	var fit, data int64
	testHookTrial = func(s *search) {
		c := 0
		for _, tr := range s.trials {
			if tr.oof != nil {
				c++
			}
		}
		peakCands = max(peakCands, c)
		n, k, fit, data = len(s.p.y), s.p.k(), s.fitBytes(), s.dataBytes()
	}
	defer func() { testHookTrial = nil }()
	cfg := quick(model.Classification)
	cfg.MaxTrials = 25
	// A first search without a bound gives the sizes the bound is made from.
	if _, err := Train(context.Background(), f, cfg); err != nil {
		t.Fatal(err)
	}
	unbounded := peakCands
	if unbounded < 8 {
		t.Fatalf("unbounded search kept at most %d candidates: the test needs more trials", unbounded)
	}
	// Room for the data, one fold fit (not two) and about four candidates of n×k plus models.
	cfg.Memory = data + fit + fit/2 + 4*int64(n*k)*8*3
	cfg.Logf = func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
	peakCands = 0
	res, err := Train(context.Background(), f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if peakCands > 6 {
		t.Errorf("memory %s: %d candidates kept at once (unbounded: %d), want at most 6", FormatBytes(cfg.Memory), peakCands, unbounded)
	}
	for _, want := range []string{"keeping the best", "1 fold fits at once instead of 2"} {
		if !slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("no log line says %q:\n%s", want, strings.Join(logs, "\n"))
		}
	}
	if res.Model == nil || len(res.Leaderboard) != 25 {
		t.Errorf("bounded search: model %v, %d trials, want a model and 25 trials", res.Model != nil, len(res.Leaderboard))
	}
}

// TestMemoryBoundTooSmall: a bound below what the data needs is a warning, not a failure.
func TestMemoryBoundTooSmall(t *testing.T) {
	var logs []string
	cfg := quick(model.Classification)
	cfg.Memory = 1 << 20
	cfg.Logf = func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
	before := debug.SetMemoryLimit(-1) // GOMEMLIMIT's, or none
	var during int64
	testHookTrial = func(*search) { during = debug.SetMemoryLimit(-1) }
	defer func() { testHookTrial = nil }()
	res, err := Train(context.Background(), frame(1200, 2, 5), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Model == nil || !slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, "warning: memory 1MiB is less than") }) {
		t.Errorf("want a model and a warning; log:\n%s", strings.Join(logs, "\n"))
	}
	if during != min(before, cfg.Memory) {
		t.Errorf("the runtime's memory limit was %d during the search, want %d", during, cfg.Memory)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("the runtime's memory limit is %d after the search, want %d restored", got, before)
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{"2GiB": 2 << 30, "512MiB": 512 << 20, "1.5GiB": 3 << 29, "1500000000": 1.5e9, "2GB": 2e9, " 64 KiB ": 64 << 10} {
		if got, err := ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "2XB", "-1GiB", "0", "1e30GiB", "2 gigs"} {
		if _, err := ParseMemory(in); err == nil {
			t.Errorf("ParseMemory(%q) accepted", in)
		}
	}
}

func TestMachineMemory(t *testing.T) {
	dir := t.TempDir()
	mi := filepath.Join(dir, "meminfo")
	os.WriteFile(mi, []byte("MemTotal:       24576000 kB\nMemFree:  1 kB\n"), 0o644)
	if got := memTotal(mi); got != 24576000<<10 {
		t.Errorf("memTotal = %d", got)
	}
	for content, want := range map[string]int64{"max\n": 0, "1073741824\n": 1 << 30, "9223372036854771712\n": 0, "garbage": 0} {
		p := filepath.Join(dir, "limit")
		os.WriteFile(p, []byte(content), 0o644)
		if got := cgroupLimit(p); got != want {
			t.Errorf("cgroupLimit(%q) = %d, want %d", content, got, want)
		}
	}
	if runtime.GOOS == "linux" && MachineMemory() <= 0 {
		t.Error("MachineMemory() found nothing on Linux")
	}
}
