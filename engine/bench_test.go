package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
)

type noop struct{}

func (noop) Kind() string    { return "noop" }
func (noop) Version() string { return "1" }
func (noop) Run(ctx context.Context, req *Request) (Outputs, error) {
	return Outputs{"out": req.Step}, nil
}

// layered builds n no-op steps in layers of width w; each step depends on
// two steps of the previous layer, so the DAG has real fan-in and fan-out.
func layered(n, w int, cache bool) *schema.Workflow {
	wf := &schema.Workflow{Name: "bench", Steps: map[string]*schema.Step{}}
	for i := range n {
		name := fmt.Sprintf("s%04d", i)
		var needs []string
		cfg := map[string]any{"i": int64(i)}
		if l := i / w; l > 0 {
			a, b := (l-1)*w+i%w, (l-1)*w+(i+1)%w
			needs = []string{fmt.Sprintf("s%04d", a), fmt.Sprintf("s%04d", b)}
			cfg["in"] = []any{schema.Ref{Step: needs[0], Output: "out"}, schema.Ref{Step: needs[1], Output: "out"}}
		}
		wf.Steps[name] = &schema.Step{Name: name, Kind: "noop", Needs: needs, Cache: cache, Config: cfg}
	}
	return wf
}

func benchRun(b *testing.B, cache, warm bool) {
	s, err := store.Open(filepath.Join(b.TempDir(), ".mlflow"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	wf := layered(1000, 20, cache)
	reg := NewRegistry(noop{})
	if warm {
		p, _ := NewPlan(wf, reg)
		if _, err := Run(context.Background(), p, s, Options{Parallel: 2}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		p, err := NewPlan(wf, reg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Run(context.Background(), p, s, Options{Parallel: 2}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRun1000 plans and executes 1,000 no-op steps, cache off: the
// engine's own cost per run (scheduling, scratch dirs, records).
func BenchmarkRun1000(b *testing.B) { benchRun(b, false, false) }

// BenchmarkRun1000Cached is the unchanged re-run: every step a cache hit.
func BenchmarkRun1000Cached(b *testing.B) { benchRun(b, true, true) }

// BenchmarkRun1000ColdCache runs and writes every cache entry.
func BenchmarkRun1000ColdCache(b *testing.B) {
	s, err := store.Open(filepath.Join(b.TempDir(), ".mlflow"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	reg := NewRegistry(noop{})
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		wf := layered(1000, 20, true)
		for _, st := range wf.Steps {
			st.Config["round"] = int64(i) // a fresh key every round
		}
		p, _ := NewPlan(wf, reg)
		if _, err := Run(context.Background(), p, s, Options{Parallel: 2}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlan1000(b *testing.B) {
	wf := layered(1000, 20, true)
	reg := NewRegistry(noop{})
	for b.Loop() {
		if _, err := NewPlan(wf, reg); err != nil {
			b.Fatal(err)
		}
	}
}
