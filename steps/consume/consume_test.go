package consume_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/server/fakemodel"
	"github.com/mlflow-go/mlflow/internal/server/serve"
	"github.com/mlflow-go/mlflow/internal/server/wstest"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/internal/tabular"
	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/steps/consume"
	"github.com/mlflow-go/mlflow/steps/deploy"
	"github.com/mlflow-go/mlflow/steps/logs"
)

// deployed starts a workspace server in process with the fake model and
// deploys it; it returns the deploy step's endpoint output.
func deployed(t *testing.T) (*store.Store, map[string]any) {
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, deployedOn(t, s)
}

// deployedOn is deployed on an open workspace.
func deployedOn(t *testing.T, s *store.Store) map[string]any {
	st := serverOn(t, s)
	outs, err := st.Run(context.Background(), &engine.Request{RunID: "r1", Step: "deploy", Store: s, Log: io.Discard,
		Config: map[string]any{"model": "bank:1", "name": "bank"}})
	if err != nil {
		t.Fatal(err)
	}
	return stable(outs["endpoint"])
}

// serverOn starts a workspace server on s, in process, serving the fake model, and returns
// a deploy step that deploys to it.
func serverOn(t *testing.T, s *store.Store) *deploy.Step {
	fake := fakemodel.New("bank", 1)
	wstest.Start(t, s, server.Options{
		Load: func(context.Context, *store.Store, string) (serve.Model, []serve.Input, error) {
			return fake, fakemodel.Columns, nil
		},
	})
	return &deploy.Step{
		Load:   func(context.Context, *store.Store, string) (serve.Model, error) { return fake, nil },
		Ensure: server.Find,
	}
}

func run(t *testing.T, s *store.Store, dir string, step engine.Step, cfg map[string]any) (engine.Outputs, error) {
	b, _ := json.Marshal(cfg) // as the engine hands configs over: JSON values
	var c map[string]any
	json.Unmarshal(b, &c)
	return step.Run(context.Background(), &engine.Request{RunID: "r1", Step: step.Kind(), Store: s, Log: io.Discard,
		Config: c, Workflow: &schema.Workflow{Dir: dir, Steps: map[string]*schema.Step{}}})
}

func TestConsumeAndLogs(t *testing.T) {
	s, ep := deployed(t)
	dir := t.TempDir()
	var row map[string]any
	json.Unmarshal([]byte(fakemodel.RowJSON), &row)
	yes := map[string]any{}
	for k, v := range row {
		yes[k] = v
	}
	yes["duration"], yes["poutcome"] = 900, "success"
	data, _ := json.Marshal(map[string]any{"data": []any{row, yes}})
	os.WriteFile(filepath.Join(dir, "two.json"), data, 0o644)
	var names, vals []string
	for _, c := range fakemodel.Columns {
		names = append(names, c.Name)
		b, _ := json.Marshal(row[c.Name])
		vals = append(vals, strings.Trim(string(b), `"`))
	}
	os.WriteFile(filepath.Join(dir, "one.csv"), []byte(strings.Join(names, ",")+"\n"+strings.Join(vals, ",")+"\n"), 0o644)

	for _, c := range []struct {
		input any
		want  string
	}{
		{[]any{row, yes}, `["no","yes"]`},
		{"two.json", `["no","yes"]`},
		{"one.csv", `["no"]`},
	} {
		outs, err := run(t, s, dir, consume.New(), map[string]any{"endpoint": ep, "input": c.input})
		if err != nil {
			t.Fatalf("%v: %v", c.input, err)
		}
		p := outs["predictions"].(artifact.Predictions)
		got, _ := json.Marshal(p.Predictions)
		if string(got) != c.want || p.Count != len(strings.Split(c.want, ",")) {
			t.Errorf("%v: %s, want %s", c.input, got, c.want)
		}
		if b, err := os.ReadFile(p.Path); err != nil || !strings.Contains(string(b), `"predictions"`) {
			t.Errorf("%v: predictions file: %v", c.input, err)
		}
	}

	// N rows sampled from a registered dataset, label column left out.
	f, err := tabular.ReadFile(context.Background(), "../../examples/bankmarketing/data/bankmarketing_train.csv", tabular.ReadOptions{Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := datasets.Register(context.Background(), s, f, datasets.Registration{Name: "bank", Source: "bank.csv"})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := run(t, s, dir, consume.New(), map[string]any{"endpoint": ep, "input": map[string]any{"dataset": map[string]any{"name": d.Name, "version": d.Version, "digest": d.Digest}, "sample": 7, "seed": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if n := outs["predictions"].(artifact.Predictions).Count; n != 7 {
		t.Errorf("sampled %v rows, want 7", n)
	}

	// Errors name what is wrong.
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"endpoint": ep, "input": "missing.json"}, "missing.json: no such file"},
		{map[string]any{"endpoint": ep, "input": []any{map[string]any{"age": "old"}}}, `422 `},
		{map[string]any{"endpoint": map[string]any{"name": "x"}, "input": "two.json"}, "endpoint must be a deploy step's endpoint output"},
		{map[string]any{"endpoint": ep, "input": "two.json", "method": "explain"}, `method "explain"`},
	} {
		_, err := run(t, s, dir, consume.New(), c.cfg)
		if c.want == "422 " {
			// A bad record is the endpoint's 400, passed on with its message.
			c.want = `400 Bad Request: {"message": "record 0`
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.cfg["input"], err, c.want)
		}
	}

	// The logs step sees every request made above, and never a key. The
	// server writes its log off the hot path, so the last line may land
	// a moment after the answer.
	var lg artifact.Log
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		outs, err = run(t, s, dir, logs.New(), map[string]any{"endpoint": ep})
		if err != nil {
			t.Fatal(err)
		}
		lg = outs["log"].(artifact.Log)
		if lg.Count >= 5 || time.Now().After(deadline) {
			break
		}
	}
	st := lg.Status
	if lg.Count < 5 || st["200"] != 4 || st["400"] != 1 {
		t.Errorf("log summary: %v", lg)
	}
	b, _ := os.ReadFile(lg.Path)
	if strings.Count(string(b), "\n") != lg.Count {
		t.Errorf("log file has %d lines, count %v", strings.Count(string(b), "\n"), lg.Count)
	}
	outs, _ = run(t, s, dir, logs.New(), map[string]any{"endpoint": ep, "tail": 2})
	if n := outs["log"].(artifact.Log).Count; n != 2 {
		t.Errorf("tail 2: count %v", n)
	}
}
