package pipelines_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/pipelines"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/steps/exec"
)

// clock is a fake scheduler clock: time moves only when the test says, and sleeps never
// end, so the scheduler fires only through the test's Tick calls.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
func (c *clock) After(time.Duration) <-chan time.Time { return nil }

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const wfSrc = `name: "w"
params: {n: 1, msg: "hi", f: "d.txt", wait: "0"}
steps: {
	a: {kind: "exec", command: ["sh", "-c", "sleep \(params.wait); cat \(params.f) > /dev/null"], inputs: [params.f]}
	b: {kind: "exec", command: ["echo", "\(params.n)", params.msg], needs: ["a"]}
	pub: {kind: "publish", name: "p", steps: ["b"]}
}
`

// publish snapshots a folder holding wfSrc and records def over it.
func publish(t *testing.T, def pipelines.Definition, at time.Time) (*store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "wf.cue"), []byte(wfSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "d.txt"), []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(filepath.Join(dir, ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d, err := pipelines.Snapshot(context.Background(), s, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	def.Name, def.Workflow, def.File, def.Snapshot, def.Steps = "p", "w", "wf.cue", d, []string{"a", "b"}
	if def.Auth == "" {
		def.Auth = "none"
	}
	if def.Concurrency == "" {
		def.Concurrency = "queue"
	}
	def.Params = append(def.Params,
		pipelines.Param{Name: "n", Type: "integer", Default: 1},
		pipelines.Param{Name: "f", Type: "string", Default: "d.txt"},
		pipelines.Param{Name: "wait", Type: "string", Default: "0"})
	if _, _, err := pipelines.Publish(context.Background(), s, def, at); err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// start runs a manager until the test ends (or stop is called).
func start(t *testing.T, s *store.Store, c *clock) (*pipelines.Manager, func()) {
	t.Helper()
	m := pipelines.NewManager(s, pipelines.Options{Kinds: []engine.Step{exec.New()}, Clock: c})
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); m.Wait() }) }
	t.Cleanup(stop)
	return m, stop
}

// settle waits until no run of p is queued or running and returns its runs, oldest first.
func settle(t *testing.T, s *store.Store) []*pipelines.Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs, err := pipelines.ListRuns(context.Background(), s, "p", 0)
		if err != nil {
			t.Fatal(err)
		}
		busy := false
		for _, r := range runs {
			busy = busy || r.State == pipelines.Queued || r.State == pipelines.Running
		}
		if !busy {
			for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
				runs[i], runs[j] = runs[j], runs[i]
			}
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs still active after 30s: %+v", runs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func scheduled(runs []*pipelines.Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.ScheduledFor.Format("15:04:05")+"/"+r.State)
	}
	return out
}

func tick(t *testing.T, m *pipelines.Manager, c *clock, at time.Time) {
	t.Helper()
	c.set(at)
	if _, err := m.Tick(context.Background(), at); err != nil {
		t.Fatal(err)
	}
}

// A restart neither loses nor doubles a fire time: each fire time is fired once however
// often the scheduler ticks, and fire times missed while no server ran are dropped
// (catchup none) or run once (catchup one).
func TestScheduleAcrossRestart(t *testing.T) {
	for _, c := range []struct {
		catchup string
		want    []string
	}{
		{"none", []string{"12:01:00/succeeded", "12:05:00/succeeded"}},
		{"one", []string{"12:01:00/succeeded", "12:04:00/succeeded", "12:05:00/succeeded"}},
	} {
		t.Run(c.catchup, func(t *testing.T) {
			s, _ := publish(t, pipelines.Definition{Schedule: &pipelines.Schedule{Every: "1m", Catchup: c.catchup}}, t0)
			clk := &clock{now: t0}
			m, stop := start(t, s, clk)
			tick(t, m, clk, t0.Add(time.Minute))
			tick(t, m, clk, t0.Add(time.Minute))
			tick(t, m, clk, t0.Add(90*time.Second))
			settle(t, s)
			stop()
			// Down from 12:01:30 to 12:04:30: 12:02, 12:03 and 12:04 pass.
			clk.set(t0.Add(4*time.Minute + 30*time.Second))
			m2, _ := start(t, s, clk)
			tick(t, m2, clk, t0.Add(4*time.Minute+30*time.Second))
			tick(t, m2, clk, t0.Add(5*time.Minute))
			tick(t, m2, clk, t0.Add(5*time.Minute))
			got := scheduled(settle(t, s))
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Fatalf("runs %v, want %v", got, c.want)
			}
			p, err := pipelines.Get(context.Background(), s, "p")
			if err != nil {
				t.Fatal(err)
			}
			if !p.NextFireAt.Equal(t0.Add(6*time.Minute)) || !p.LastFiredAt.Equal(t0.Add(5*time.Minute)) {
				t.Errorf("next_fire_at %s, last_fired_at %s", p.NextFireAt, p.LastFiredAt)
			}
		})
	}
}

// A server that died mid-run leaves it running in the database: the next start marks it
// interrupted and runs what was queued (a trigger answered 202 is not lost).
func TestStartAfterCrash(t *testing.T) {
	s, _ := publish(t, pipelines.Definition{}, t0)
	ctx := context.Background()
	for _, row := range [][]any{{"r-running", "running"}, {"r-queued", "queued"}} {
		if _, err := s.DB.ExecContext(ctx, `INSERT INTO pipeline_runs (id, name, version, trigger, state, created) VALUES (?, 'p', 1, 'rest', ?, ?)`,
			row[0], row[1], t0.Format(time.RFC3339Nano)); err != nil {
			t.Fatal(err)
		}
	}
	start(t, s, &clock{now: t0})
	runs := settle(t, s)
	got := map[string]string{}
	for _, r := range runs {
		got[r.ID] = r.Status + "/" + r.State
	}
	if got["r-running"] != "Failed/interrupted" || got["r-queued"] != "Completed/succeeded" {
		t.Fatalf("after restart: %v", got)
	}
	r, err := pipelines.GetRun(ctx, s, "p", "r-queued")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 2 || r.Steps["b"] == nil || r.Steps["b"].State != engine.StateSucceeded {
		t.Fatalf("steps of the resumed run: %+v", r.Steps)
	}
}

func TestTriggerParams(t *testing.T) {
	s, _ := publish(t, pipelines.Definition{}, t0)
	m, _ := start(t, s, &clock{now: t0})
	ctx := context.Background()
	for _, c := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"nope": "1"}, `parameter "nope": unknown parameter (parameters: n, f, wait)`},
		{map[string]any{"msg": "x"}, `parameter "msg": unknown parameter`}, // a workflow param not published
		{map[string]any{"n": "abc"}, `parameter "n": want an integer, got "abc"`},
		{map[string]any{"n": 1.5}, `parameter "n": want an integer, got the number 1.5`},
		{map[string]any{"n": true}, `parameter "n": want an integer, got true`},
		{map[string]any{"f": 3.0}, `parameter "f": want a string, got the number 3`},
		{map[string]any{"f": "/etc/passwd"}, `parameter "f": the value reaches steps.a.inputs[0] as "/etc/passwd", which leaves the published snapshot`},
		{map[string]any{"f": "../../../etc/passwd"}, `leaves the published snapshot`},
		{map[string]any{"f": "file:///etc/passwd"}, `leaves the published snapshot`},
	} {
		_, err := m.Trigger(ctx, "p", c.params, "rest")
		var pe *pipelines.ParamError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want a ParamError with %q", c.params, err, c.want)
		}
	}
	if runs := settle(t, s); len(runs) != 0 {
		t.Fatalf("refused triggers recorded runs: %+v", runs)
	}
	// A number as a string, as Azure's ParameterAssignments send it.
	r, err := m.Trigger(ctx, "p", map[string]any{"n": "5"}, "rest")
	if err != nil {
		t.Fatal(err)
	}
	runs := settle(t, s)
	if len(runs) != 1 || runs[0].ID != r.ID || runs[0].State != pipelines.Succeeded || runs[0].Parameters["n"] != "5" {
		t.Fatalf("runs %+v", runs)
	}
}

// What runs is the snapshot: an edit of the folder after publishing changes nothing.
func TestSnapshotIsolation(t *testing.T) {
	s, dir := publish(t, pipelines.Definition{}, t0)
	if err := os.WriteFile(filepath.Join(dir, "wf.cue"), []byte(strings.ReplaceAll(wfSrc, `"echo"`, `"false"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "d.txt"))
	m, _ := start(t, s, &clock{now: t0})
	if _, err := m.Trigger(context.Background(), "p", nil, "rest"); err != nil {
		t.Fatal(err)
	}
	if runs := settle(t, s); len(runs) != 1 || runs[0].State != pipelines.Succeeded {
		t.Fatalf("runs %+v", runs[0])
	}
}

func TestConcurrencyAndCancel(t *testing.T) {
	ctx := context.Background()
	t.Run("queue", func(t *testing.T) {
		s, _ := publish(t, pipelines.Definition{}, t0)
		m, _ := start(t, s, &clock{now: t0})
		first, err := m.Trigger(ctx, "p", map[string]any{"wait": "30"}, "rest")
		if err != nil {
			t.Fatal(err)
		}
		second, err := m.Trigger(ctx, "p", nil, "rest")
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := pipelines.GetRun(ctx, s, "p", second.ID); r.Status != "NotStarted" {
			t.Fatalf("second run is %s while the first runs", r.Status)
		}
		c, err := m.Cancel(ctx, "p", first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != "Canceled" {
			t.Fatalf("cancelled run is %s", c.Status)
		}
		runs := settle(t, s)
		if len(runs) != 2 || runs[1].ID != second.ID || runs[1].State != pipelines.Succeeded {
			t.Fatalf("runs %v", scheduled(runs))
		}
		if _, err := m.Cancel(ctx, "p", second.ID); !errors.Is(err, pipelines.ErrFinished) {
			t.Fatalf("cancel of a finished run: %v", err)
		}
		if _, err := m.Cancel(ctx, "p", "nosuch"); !errors.Is(err, pipelines.ErrNotFound) {
			t.Fatalf("cancel of an unknown run: %v", err)
		}
	})
	t.Run("queue bound", func(t *testing.T) {
		s, _ := publish(t, pipelines.Definition{}, t0)
		m := pipelines.NewManager(s, pipelines.Options{Kinds: []engine.Step{exec.New()}, Clock: &clock{now: t0}, MaxQueued: 2})
		ctx, cancel := context.WithCancel(ctx)
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); m.Wait() }()
		first, err := m.Trigger(ctx, "p", map[string]any{"wait": "30"}, "rest")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := m.Trigger(ctx, "p", nil, "rest"); err != nil {
				t.Fatal(err)
			}
		}
		_, err = m.Trigger(ctx, "p", nil, "rest")
		var busy *pipelines.BusyError
		if !errors.As(err, &busy) || busy.Queued != 2 || !strings.Contains(err.Error(), "with 2 runs queued behind it") {
			t.Fatalf("a third queued trigger: %v", err)
		}
		if _, err := m.Cancel(ctx, "p", first.ID); err != nil {
			t.Fatal(err)
		}
		if runs := settle(t, s); len(runs) != 3 || runs[2].State != pipelines.Succeeded {
			t.Fatalf("runs %v", scheduled(runs))
		}
	})
	t.Run("skip", func(t *testing.T) {
		s, _ := publish(t, pipelines.Definition{Concurrency: "skip"}, t0)
		m, _ := start(t, s, &clock{now: t0})
		first, err := m.Trigger(ctx, "p", map[string]any{"wait": "30"}, "rest")
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.Trigger(ctx, "p", nil, "rest")
		var busy *pipelines.BusyError
		if !errors.As(err, &busy) || busy.Active != first.ID {
			t.Fatalf("second trigger: %v", err)
		}
		if _, err := m.Cancel(ctx, "p", first.ID); err != nil {
			t.Fatal(err)
		}
		if runs := settle(t, s); len(runs) != 1 {
			t.Fatalf("runs %v", scheduled(runs))
		}
	})
}

func TestDisabled(t *testing.T) {
	ctx := context.Background()
	s, _ := publish(t, pipelines.Definition{Schedule: &pipelines.Schedule{Every: "1m"}}, t0)
	clk := &clock{now: t0}
	m, _ := start(t, s, clk)
	if _, err := pipelines.SetDisabled(ctx, s, "p", true, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Trigger(ctx, "p", nil, "rest"); !errors.Is(err, pipelines.ErrDisabled) {
		t.Fatalf("trigger while disabled: %v", err)
	}
	tick(t, m, clk, t0.Add(3*time.Minute))
	if runs := settle(t, s); len(runs) != 0 {
		t.Fatalf("a disabled schedule fired: %v", scheduled(runs))
	}
	// Enabled at 12:03:30: 12:01..12:03 are not replayed, 12:04 fires.
	if _, err := pipelines.SetDisabled(ctx, s, "p", false, t0.Add(3*time.Minute+30*time.Second)); err != nil {
		t.Fatal(err)
	}
	tick(t, m, clk, t0.Add(4*time.Minute))
	if got := scheduled(settle(t, s)); strings.Join(got, " ") != "12:04:00/succeeded" {
		t.Fatalf("runs %v", got)
	}
}

// Publishing the same definition is no new version; a description alone is updated in
// place; anything else is the next version, which triggers run.
func TestPublishVersions(t *testing.T) {
	ctx := context.Background()
	s, _ := publish(t, pipelines.Definition{}, t0)
	p, _ := pipelines.Get(ctx, s, "p")
	def := p.Definition
	def.Description = "nightly"
	got, added, err := pipelines.Publish(ctx, s, def, t0)
	if err != nil || added || got.Version != 1 || got.Description != "nightly" {
		t.Fatalf("description only: version %d added %v desc %q err %v", got.Version, added, got.Description, err)
	}
	def.Concurrency = "skip"
	got, added, err = pipelines.Publish(ctx, s, def, t0)
	if err != nil || !added || got.Version != 2 {
		t.Fatalf("changed: version %d added %v err %v", got.Version, added, err)
	}
	if v1, err := pipelines.GetVersion(ctx, s, "p", 1); err != nil || v1.Concurrency != "queue" {
		t.Fatalf("version 1 kept: %+v %v", v1, err)
	}
}
