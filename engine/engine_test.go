package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
)

// fake is a test step kind whose behaviour each test sets per step name.
type fake struct {
	calls sync.Map // step name -> *atomic.Int32
	run   func(ctx context.Context, req *Request) (Outputs, error)
}

func (f *fake) Kind() string    { return "fake" }
func (f *fake) Version() string { return "1" }
func (f *fake) Run(ctx context.Context, req *Request) (Outputs, error) {
	c, _ := f.calls.LoadOrStore(req.Step, new(atomic.Int32))
	c.(*atomic.Int32).Add(1)
	if f.run != nil {
		return f.run(ctx, req)
	}
	return Outputs{"out": fmt.Sprintf("%s:%v", req.Step, req.Config["in"])}, nil
}

func (f *fake) count(step string) int {
	c, ok := f.calls.Load(step)
	if !ok {
		return 0
	}
	return int(c.(*atomic.Int32).Load())
}

// wf builds a workflow; spec maps step -> its deps. Each step's config
// "in" is a Template of its deps' outputs so data flows along edges.
func wf(spec map[string][]string) *schema.Workflow {
	w := &schema.Workflow{Name: "t", Steps: map[string]*schema.Step{}}
	for name, deps := range spec {
		parts := []any{"x"}
		for _, d := range deps {
			parts = append(parts, schema.Ref{Step: d, Output: "out"})
		}
		w.Steps[name] = &schema.Step{Name: name, Kind: "fake", Needs: deps, Cache: true,
			Config: map[string]any{"in": schema.Template{Parts: parts}}}
	}
	return w
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func run(t *testing.T, s *store.Store, w *schema.Workflow, f *fake, opts Options) (*RunRecord, error) {
	t.Helper()
	p, err := NewPlan(w, NewRegistry(f))
	if err != nil {
		t.Fatal(err)
	}
	return Run(context.Background(), p, s, opts)
}

// TestParallel proves independent steps run at once: each waits until the
// other has started, which would deadlock if they ran one after the other.
func TestParallel(t *testing.T) {
	started := map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{})}
	f := &fake{run: func(ctx context.Context, req *Request) (Outputs, error) {
		close(started[req.Step])
		other := map[string]string{"a": "b", "b": "a"}[req.Step]
		select {
		case <-started[other]:
			return Outputs{"out": req.Step}, nil
		case <-time.After(20 * time.Second):
			return nil, errors.New("the other step never started: steps ran one after the other")
		}
	}}
	rec, err := run(t, openStore(t), wf(map[string][]string{"a": nil, "b": nil}), f, Options{Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != StateSucceeded {
		t.Fatalf("status %s", rec.Status)
	}
}

// TestParallelLimit checks --parallel bounds concurrency.
func TestParallelLimit(t *testing.T) {
	var cur, peak atomic.Int32
	f := &fake{run: func(ctx context.Context, req *Request) (Outputs, error) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		cur.Add(-1)
		return Outputs{"out": 1}, nil
	}}
	spec := map[string][]string{}
	for i := range 12 {
		spec[fmt.Sprintf("s%02d", i)] = nil
	}
	if _, err := run(t, openStore(t), wf(spec), f, Options{Parallel: 3}); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > 3 {
		t.Fatalf("peak concurrency %d > 3", p)
	}
}

func TestFailureSkipsDependentsOnly(t *testing.T) {
	f := &fake{run: func(ctx context.Context, req *Request) (Outputs, error) {
		if req.Step == "bad" || req.Step == "bad2" {
			return nil, errors.New("boom " + req.Step)
		}
		return Outputs{"out": req.Step}, nil
	}}
	w := wf(map[string][]string{"bad": nil, "bad2": nil, "after": {"bad"}, "after2": {"after"}, "ok": nil, "okafter": {"ok"}})
	s := openStore(t)
	rec, err := run(t, s, w, f, Options{Parallel: 2})
	if !errors.Is(err, ErrStepFailed) {
		t.Fatalf("err = %v, want ErrStepFailed", err)
	}
	for _, want := range []string{"step bad: boom bad", "step bad2: boom bad2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	want := map[string]string{"bad": StateFailed, "bad2": StateFailed, "after": StateSkipped, "after2": StateSkipped, "ok": StateSucceeded, "okafter": StateSucceeded}
	for name, st := range want {
		if got := rec.Steps[name].State; got != st {
			t.Errorf("%s: state %s, want %s", name, got, st)
		}
	}
	if f.count("after") != 0 {
		t.Error("a dependant of a failed step ran")
	}
	// Every step has its row, skipped ones included.
	rows, err := s.DB.Query(`SELECT name, state FROM run_steps WHERE run_id = ?`, rec.RunID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name, state string
		rows.Scan(&name, &state)
		if state != want[name] {
			t.Errorf("row of %s: state %s, want %s", name, state, want[name])
		}
		n++
	}
	if n != len(want) {
		t.Errorf("%d step rows, want %d", n, len(want))
	}
	if rec.Status != StateFailed {
		t.Errorf("run status %s", rec.Status)
	}
}

func TestFailFast(t *testing.T) {
	f := &fake{run: func(ctx context.Context, req *Request) (Outputs, error) {
		if req.Step == "bad" {
			return nil, errors.New("boom")
		}
		<-ctx.Done() // "slow" only ends when cancelled
		return nil, ctx.Err()
	}}
	rec, err := run(t, openStore(t), wf(map[string][]string{"bad": nil, "slow": nil}), f, Options{Parallel: 2, FailFast: true})
	if !errors.Is(err, ErrStepFailed) {
		t.Fatalf("err = %v", err)
	}
	if got := rec.Steps["slow"].State; got != StateCancelled {
		t.Fatalf("slow: %s, want cancelled", got)
	}
}

func TestCache(t *testing.T) {
	s := openStore(t)
	f := &fake{}
	w := wf(map[string][]string{"a": nil, "b": {"a"}, "c": nil})
	if _, err := run(t, s, w, f, Options{}); err != nil {
		t.Fatal(err)
	}
	rec, err := run(t, s, w, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if f.count(n) != 1 || !rec.Steps[n].Cached {
			t.Errorf("%s: ran %d times, cached=%v; want 1 and true", n, f.count(n), rec.Steps[n].Cached)
		}
	}
	// A config change re-runs the step and, since its output changes, its
	// dependant; the unrelated step stays cached.
	w.Steps["a"].Config["extra"] = "changed"
	rec, err = run(t, s, w, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.count("a") != 2 || rec.Steps["a"].Cached {
		t.Errorf("a not re-run after its config changed")
	}
	if f.count("c") != 1 {
		t.Errorf("c re-ran though nothing it depends on changed")
	}
	// cache: false and --no-cache both force a run.
	w.Steps["c"].Cache = false
	run(t, s, w, f, Options{})
	if f.count("c") != 2 {
		t.Errorf("cache: false did not re-run c")
	}
	run(t, s, w, f, Options{NoCache: true})
	if f.count("b") < 2 || f.count("a") != 3 {
		t.Errorf("--no-cache did not re-run everything: a=%d b=%d", f.count("a"), f.count("b"))
	}
}

func TestRetryAndTimeout(t *testing.T) {
	var tries atomic.Int32
	f := &fake{run: func(ctx context.Context, req *Request) (Outputs, error) {
		switch req.Step {
		case "flaky":
			if tries.Add(1) < 3 {
				return nil, errors.New("transient")
			}
			return Outputs{"out": 1}, nil
		default: // "hang"
			<-ctx.Done()
			return nil, ctx.Err()
		}
	}}
	w := wf(map[string][]string{"flaky": nil, "hang": nil})
	w.Steps["flaky"].Retry = schema.Retry{Attempts: 3, Backoff: time.Millisecond}
	w.Steps["hang"].Timeout = 50 * time.Millisecond
	rec, err := run(t, openStore(t), w, f, Options{Parallel: 2})
	if rec.Steps["flaky"].State != StateSucceeded || rec.Steps["flaky"].Attempts != 3 {
		t.Errorf("flaky: %+v", rec.Steps["flaky"])
	}
	if rec.Steps["hang"].State != StateFailed || !strings.Contains(err.Error(), "step hang: timed out after 50ms") {
		t.Errorf("hang: %+v, err %v", rec.Steps["hang"], err)
	}
}

// TestCancel: cancelling the run stops running steps, records the run as
// cancelled, and leaves no scratch files behind.
func TestCancel(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	inside := make(chan struct{})
	f := &fake{run: func(ctx context.Context, req *Request) (Outputs, error) {
		dir, err := req.TempDir()
		if err != nil {
			return nil, err
		}
		os.WriteFile(filepath.Join(dir, "partial"), []byte("half"), 0o644)
		close(inside)
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	p, err := NewPlan(wf(map[string][]string{"a": nil, "b": {"a"}}), NewRegistry(f))
	if err != nil {
		t.Fatal(err)
	}
	go func() { <-inside; cancel() }()
	rec, err := Run(ctx, p, s, Options{})
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v", err)
	}
	if rec.Status != StateCancelled || rec.Steps["a"].State != StateCancelled || rec.Steps["b"].State != StateSkipped {
		t.Fatalf("record: %s a=%s b=%s", rec.Status, rec.Steps["a"].State, rec.Steps["b"].State)
	}
	got, err := GetRun(context.Background(), s, rec.RunID)
	if err != nil || got.Status != StateCancelled {
		t.Fatalf("stored record: %v %v", got, err)
	}
	left, _ := os.ReadDir(filepath.Join(s.Root, "tmp"))
	if len(left) != 0 {
		t.Fatalf("scratch left behind: %v", left)
	}
	if _, _, ok := cacheGet(context.Background(), s, rec.Steps["a"].CacheKey); ok {
		t.Fatal("a cancelled step was cached")
	}
}

// TestConcurrentRuns: two runs on one workspace, each with its own
// database connection as two processes would have, both succeed.
func TestConcurrentRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".mlflow")
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.Open(dir)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			spec := map[string][]string{}
			for j := range 20 {
				spec[fmt.Sprintf("s%d_%d", i, j)] = nil
			}
			p, _ := NewPlan(wf(spec), NewRegistry(&fake{}))
			_, err = Run(context.Background(), p, s, Options{Parallel: 4})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestCycle(t *testing.T) {
	w := wf(map[string][]string{"a": {"c"}, "b": {"a"}, "c": {"b"}, "d": nil})
	_, err := NewPlan(w, NewRegistry(&fake{}))
	if err == nil || !strings.Contains(err.Error(), "a, b, c") {
		t.Fatalf("err = %v", err)
	}
}

func TestPanicIsAFailure(t *testing.T) {
	f := &fake{run: func(ctx context.Context, req *Request) (Outputs, error) { panic("kaboom") }}
	rec, err := run(t, openStore(t), wf(map[string][]string{"p": nil}), f, Options{})
	if err == nil || rec.Steps["p"].State != StateFailed || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("err = %v, state %s", err, rec.Steps["p"].State)
	}
}
