package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/schema"
)

func testPlan(t *testing.T) *engine.Plan {
	t.Helper()
	wf := &schema.Workflow{Name: "w", Steps: map[string]*schema.Step{
		"a": {Name: "a", Kind: "fake"}, "b": {Name: "b", Kind: "fake", Needs: []string{"a"}},
	}}
	p, err := engine.NewPlan(wf, engine.NewRegistry(fakeKind{}))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type fakeKind struct{}

func (fakeKind) Kind() string    { return "fake" }
func (fakeKind) Version() string { return "1" }
func (fakeKind) Run(_ context.Context, _ *engine.Request) (engine.Outputs, error) {
	return nil, nil
}

func feed(o *runOutput) {
	t0 := time.Unix(0, 0)
	o.event(engine.Event{Time: t0, Type: "run_started", RunID: "r1"})
	o.event(engine.Event{Time: t0, Type: "step_started", RunID: "r1", Step: "a", Kind: "fake"})
	o.event(engine.Event{Time: t0, Type: "step_finished", RunID: "r1", Step: "a", Kind: "fake", State: engine.StateSucceeded, Cached: true, DurationMS: 1500})
	o.event(engine.Event{Time: t0, Type: "step_finished", RunID: "r1", Step: "b", Kind: "fake", State: engine.StateSkipped, Error: "dependency a failed"})
	o.finish(&engine.RunRecord{RunID: "r1", Status: engine.StateSucceeded, Steps: map[string]*engine.StepRecord{"a": {Cached: true}, "b": {}}})
}

func TestOutputPlain(t *testing.T) {
	var out bytes.Buffer
	feed(newRunOutput(&cli{stdout: &out}, testPlan(t)))
	want := "run r1\na  fake      started\na  fake      succeeded in 1.5s (cached)\nb  fake      skipped: dependency a failed\nrun r1 succeeded in 0ms (2 steps, 1 cached)\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestOutputJSON(t *testing.T) {
	var out bytes.Buffer
	feed(newRunOutput(&cli{stdout: &out, json: true}, testPlan(t)))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	var last engine.RunRecord
	if err := json.Unmarshal([]byte(lines[4]), &last); err != nil || last.RunID != "r1" || last.Status != "succeeded" {
		t.Fatalf("last line is not the run record: %s (%v)", lines[4], err)
	}
	var ev map[string]any
	json.Unmarshal([]byte(lines[2]), &ev)
	if ev["event"] != "step_finished" || ev["cached"] != true || ev["step"] != "a" {
		t.Errorf("event: %s", lines[2])
	}
}

// On a terminal every event repaints one line per step in place.
func TestOutputTerminal(t *testing.T) {
	var out bytes.Buffer
	o := newRunOutput(&cli{stdout: &out, tty: true}, testPlan(t))
	feed(o)
	s := out.String()
	if !strings.Contains(s, "\x1b[2A") || !strings.Contains(s, "\x1b[2K") {
		t.Fatalf("no in-place redraw: %q", s)
	}
	if !strings.Contains(s, "✓ a  fake      succeeded    1.5s  cached") {
		t.Errorf("missing final line for a: %q", s)
	}
}
