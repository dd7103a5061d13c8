package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
)

// keyer is a fake kind with a cache key of its own (as dataset hashes its
// source) that runs key, when set, while the key is computed.
type keyer struct {
	fake
	key func(ctx context.Context, req *Request) error
}

func (k *keyer) Key(ctx context.Context, req *Request, w io.Writer) error {
	if k.key != nil {
		if err := k.key(ctx, req); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "extra %s\n", req.Step)
	return nil
}

// runWithin fails the test when the run does not end within d: the
// defects these tests pin made runs hang.
func runWithin(t *testing.T, d time.Duration, ctx context.Context, p *Plan, s *store.Store, opts Options) (*RunRecord, error) {
	t.Helper()
	type ret struct {
		rec *RunRecord
		err error
	}
	done := make(chan ret, 1)
	go func() {
		rec, err := Run(ctx, p, s, opts)
		done <- ret{rec, err}
	}()
	select {
	case r := <-done:
		return r.rec, r.err
	case <-time.After(d):
		t.Fatalf("run still going after %s", d)
		return nil, nil
	}
}

// The step's timeout bounds its cache key too: a key that hashes a file
// that never ends (a FIFO, /dev/zero) used to hang the run forever.
func TestTimeoutBoundsTheKey(t *testing.T) {
	k := &keyer{key: func(ctx context.Context, req *Request) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	w := wf(map[string][]string{"slowkey": nil})
	w.Steps["slowkey"].Kind = "fake"
	w.Steps["slowkey"].Timeout = 50 * time.Millisecond
	p, err := NewPlan(w, NewRegistry(k))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := runWithin(t, 10*time.Second, context.Background(), p, openStore(t), Options{})
	if rec.Steps["slowkey"].State != StateFailed || err == nil || !strings.Contains(err.Error(), "step slowkey: cache key: timed out after 50ms") {
		t.Fatalf("state %s, err %v", rec.Steps["slowkey"].State, err)
	}
	if k.count("slowkey") != 0 {
		t.Fatal("the step ran though its key timed out")
	}
}

// The engine names the failing step once, whatever failed; kinds never do.
func TestErrorNamesStepOnce(t *testing.T) {
	cases := []struct {
		name  string
		run   func(ctx context.Context, req *Request) (Outputs, error)
		key   func(ctx context.Context, req *Request) error
		setup func(st *schema.Step)
		want  string
	}{
		{name: "plain", run: func(context.Context, *Request) (Outputs, error) { return nil, errors.New("model: not found") },
			want: "step x: model: not found"},
		{name: "retried", run: func(context.Context, *Request) (Outputs, error) { return nil, errors.New("flaky") },
			setup: func(st *schema.Step) { st.Retry = schema.Retry{Attempts: 2, Backoff: time.Millisecond} },
			want:  "step x: flaky"},
		{name: "timeout", run: func(ctx context.Context, _ *Request) (Outputs, error) { <-ctx.Done(); return nil, ctx.Err() },
			setup: func(st *schema.Step) { st.Timeout = 20 * time.Millisecond },
			want:  "step x: timed out after 20ms"},
		{name: "panic", run: func(context.Context, *Request) (Outputs, error) { panic("kaboom") },
			want: "step x: panic in step kind fake: kaboom"},
		{name: "key", key: func(context.Context, *Request) error { return errors.New("source d.csv: no such file") },
			want: "step x: cache key: source d.csv: no such file"},
		{name: "config", setup: func(st *schema.Step) { st.Config["bad"] = func() {} },
			want: "step x: config is not serialisable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := &keyer{fake: fake{run: c.run}, key: c.key}
			w := wf(map[string][]string{"x": nil})
			if c.setup != nil {
				c.setup(w.Steps["x"])
			}
			p, err := NewPlan(w, NewRegistry(k))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Run(context.Background(), p, openStore(t), Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if n := strings.Count(err.Error(), "step x"); n != 1 {
				t.Fatalf("err = %q names the step %d times", err, n)
			}
		})
	}
}

// Declared outputs come from the workflow (Step.Outputs), not the schema.
func TestDeclaredOutputsAreChecked(t *testing.T) {
	w := wf(map[string][]string{"a": nil})
	w.Steps["a"].Outputs = map[string]string{"out": "string", "model": "model"}
	_, err := run(t, openStore(t), w, &fake{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "step a: step kind fake did not produce declared output(s) model") {
		t.Fatalf("err = %v", err)
	}
}

// A cache hit is trusted only while the blobs its outputs name are whole:
// a missing or corrupt one makes the step run again (which rewrites it).
func TestCacheHitVerifiesBlobs(t *testing.T) {
	s := openStore(t)
	f := &fake{run: func(ctx context.Context, req *Request) (Outputs, error) {
		d, err := req.Store.PutBytes([]byte("model bytes of " + req.Step))
		if err != nil {
			return nil, err
		}
		return Outputs{"out": "x", "model": map[string]any{"name": "m", "digest": d}}, nil
	}}
	w := wf(map[string][]string{"train": nil, "use": {"train"}})
	if _, err := run(t, s, w, f, Options{}); err != nil {
		t.Fatal(err)
	}
	d := store.Digest([]byte("model bytes of train"))
	p, _ := s.BlobPath(d)
	damage := []struct {
		name   string
		do     func()
		reason string
	}{
		{"corrupt", func() { os.Chmod(p, 0o644); os.WriteFile(p, []byte("MODEL BYTES OF TRAIN"), 0o644) }, "is corrupt"},
		{"missing", func() { os.Remove(p) }, "is missing"},
	}
	for i, c := range damage {
		c.do()
		plan, _ := NewPlan(w, NewRegistry(f))
		entries, err := Preview(context.Background(), plan, s, Options{})
		if err != nil || entries[0].Step != "train" || entries[0].Action != ActionRun || !strings.Contains(entries[0].Reason, c.reason) {
			t.Fatalf("%s: plan says %+v, %v", c.name, entries, err)
		}
		rec, err := run(t, s, w, f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Steps["train"].Cached || f.count("train") != 2+i {
			t.Fatalf("%s blob: train cached=%v, ran %d times", c.name, rec.Steps["train"].Cached, f.count("train"))
		}
		if b, err := s.Get(d); err != nil || string(b) != "model bytes of train" {
			t.Fatalf("%s blob not healed by the re-run: %q %v", c.name, b, err)
		}
	}
	// Whole again: a plain hit.
	rec, err := run(t, s, w, f, Options{})
	if err != nil || !rec.Steps["train"].Cached {
		t.Fatalf("after healing: cached=%v %v", rec.Steps["train"].Cached, err)
	}
}

// A finished step's record and cache entry are in the database before a
// step that depends on it starts, so a crash after that point never runs
// it again. Checked through a second connection, as the next process
// would see it.
func TestFinishedStepIsDurableBeforeDependants(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".mlflow")
	s := openAt(t, dir)
	other := openAt(t, dir)
	var seen string
	f := &fake{run: func(ctx context.Context, req *Request) (Outputs, error) {
		if req.Step == "b" {
			var state string
			var n int
			other.DB.QueryRow(`SELECT state FROM run_steps WHERE run_id = ? AND name = 'a'`, req.RunID).Scan(&state)
			other.DB.QueryRow(`SELECT count(*) FROM cache`).Scan(&n)
			seen = fmt.Sprintf("a %s, %d cache entries", state, n)
		}
		return Outputs{"out": req.Step}, nil
	}}
	if _, err := run(t, s, wf(map[string][]string{"a": nil, "b": {"a"}}), f, Options{}); err != nil {
		t.Fatal(err)
	}
	if seen != "a succeeded, 1 cache entries" {
		t.Fatalf("when b started, the database held: %s", seen)
	}
}

func openAt(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A run whose process is gone (its lock free) is shown as interrupted;
// one whose process lives (this one) stays running.
func TestInterruptedRuns(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := migrate(ctx, s); err != nil {
		t.Fatal(err)
	}
	dead := &RunRecord{RunID: "20260101T000000-dead00", Workflow: "w", Status: StateRunning, Started: time.Now(),
		Owner: &RunOwner{PID: 999999, Host: "h"},
		Steps: map[string]*StepRecord{"a": {Kind: "fake", State: StateRunning}, "b": {Kind: "fake", State: StateRunning}, "c": {Kind: "fake", State: StatePending}}}
	if err := save(ctx, s, dead, true, nil, nil); err != nil {
		t.Fatal(err)
	}
	// a finished and its row was written, the whole record was not yet.
	dead.Steps["a"].State = StateSucceeded
	if err := save(ctx, s, dead, false, []string{"a"}, nil); err != nil {
		t.Fatal(err)
	}
	var listed, shown string
	f := &fake{run: func(ctx context.Context, req *Request) (Outputs, error) {
		// Inside a live run: it must not be taken for a dead one.
		runs, _ := ListRuns(ctx, s, 0)
		for _, r := range runs {
			listed += r.RunID[16:] + "=" + r.Status + " "
		}
		self, _ := GetRun(ctx, s, req.RunID)
		shown = self.Status
		return Outputs{"out": 1}, nil
	}}
	rec, err := run(t, s, wf(map[string][]string{"x": nil}), f, Options{RunID: "20260101T000001-live00"})
	if err != nil {
		t.Fatal(err)
	}
	if listed != "live00=running dead00=interrupted " || shown != StateRunning {
		t.Fatalf("during the live run: listed %q, shown %q", listed, shown)
	}
	got, err := GetRun(ctx, s, dead.RunID)
	if err != nil || got.Status != StateInterrupted || !strings.Contains(got.Error, "process 999999 on h") {
		t.Fatalf("dead run: %+v %v", got, err)
	}
	states := fmt.Sprint(got.Steps["a"].State, got.Steps["b"].State, got.Steps["c"].State)
	if states != "succeededinterruptedinterrupted" {
		t.Fatalf("dead run's steps: %s", states)
	}
	var n int
	s.DB.QueryRow(`SELECT count(*) FROM run_steps WHERE run_id = ? AND state = ?`, dead.RunID, StateInterrupted).Scan(&n)
	if n != 2 {
		t.Fatalf("%d step rows interrupted, want 2", n)
	}
	if got, _ := GetRun(ctx, s, rec.RunID); got.Status != StateSucceeded {
		t.Fatalf("live run ended as %s", got.Status)
	}
}

// A step's log survives its temp file being swept by another process.
func TestLogSurvivesSweptTempFile(t *testing.T) {
	s := openStore(t)
	f := &fake{run: func(ctx context.Context, req *Request) (Outputs, error) {
		req.Logf("first line")
		left, _ := filepath.Glob(filepath.Join(s.Root, "tmp", "log-*"))
		for _, p := range left {
			os.Remove(p)
		}
		req.Logf("second line")
		return Outputs{"out": 1}, nil
	}}
	rec, err := run(t, s, wf(map[string][]string{"a": nil}), f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Get(rec.Steps["a"].Log)
	if err != nil || !bytes.Equal(b, []byte("first line\nsecond line\n")) {
		t.Fatalf("log %q, %v", b, err)
	}
}

// measure is a fake kind that must never be cached.
type measure struct{ fake }

func (*measure) Kind() string  { return "measure" }
func (*measure) NoCache() bool { return true }

// deployer is a fake reconciling kind: up to date once it has run.
type deployer struct {
	fake
	done sync.Map
}

func (*deployer) Kind() string { return "deploy" }
func (d *deployer) Reconcile(ctx context.Context, req *Request) (Outputs, bool, error) {
	_, ok := d.done.Load(req.Step)
	return Outputs{"out": "deployed"}, ok, nil
}
func (d *deployer) Run(ctx context.Context, req *Request) (Outputs, error) {
	d.done.Store(req.Step, true)
	return d.fake.Run(ctx, req)
}

// Preview predicts what Run does, step by step, because both take the
// cache policy from one place.
func TestPreviewAgreesWithRun(t *testing.T) {
	s := openStore(t)
	f, m, d := &fake{}, &measure{}, &deployer{}
	w := wf(map[string][]string{"a": nil, "b": {"a"}, "off": nil, "m": nil, "dep": {"a"}})
	w.Steps["off"].Cache = false
	w.Steps["m"].Kind = "measure"
	w.Steps["dep"].Kind = "deploy"
	reg := NewRegistry(f, m, d)
	runs := func(step string) int {
		return f.count(step) + m.count(step) + d.count(step)
	}
	for round, opts := range []Options{{}, {}, {NoCache: true}, {}, {}} {
		if round == 4 {
			// a runs again with a new output, so b runs too; dep,
			// downstream of it as well, is still up to date.
			w.Steps["a"].Config["in"] = "changed"
		}
		p, err := NewPlan(w, reg)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := Preview(context.Background(), p, s, opts)
		if err != nil {
			t.Fatal(err)
		}
		before := map[string]int{}
		for name := range w.Steps {
			before[name] = runs(name)
		}
		rec, err := Run(context.Background(), p, s, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			ran := runs(e.Step) > before[e.Step]
			cached := rec.Steps[e.Step].Cached
			var ok bool
			switch e.Action {
			case ActionCached:
				ok = cached && !ran
			case ActionRun, ActionAlways:
				ok = !cached && ran
			case ActionReconcile:
				ok = cached != ran // up to date, or changed by running
			}
			if !ok {
				t.Errorf("round %d: plan said %s (%s) for %s; the run: cached=%v ran=%v", round, e.Action, e.Reason, e.Step, cached, ran)
			}
		}
	}
}

// A cancel (SIGINT, SIGTERM) stops a step that is still computing its key.
func TestCancelStopsTheKey(t *testing.T) {
	inKey := make(chan struct{})
	k := &keyer{key: func(ctx context.Context, req *Request) error {
		close(inKey)
		<-ctx.Done()
		return context.Cause(ctx)
	}}
	p, err := NewPlan(wf(map[string][]string{"slowkey": nil, "after": {"slowkey"}}), NewRegistry(k))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-inKey; cancel() }()
	rec, err := runWithin(t, 10*time.Second, ctx, p, openStore(t), Options{})
	if !errors.Is(err, ErrCancelled) || rec.Steps["slowkey"].State != StateCancelled || rec.Steps["after"].State != StateSkipped {
		t.Fatalf("err %v, slowkey %s, after %s", err, rec.Steps["slowkey"].State, rec.Steps["after"].State)
	}
}
