package studio_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/models"
	"github.com/mlflow-go/mlflow/internal/studio"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// getJSON decodes a 200 answer into v.
func getJSON(t *testing.T, c *http.Client, u string, v any) {
	t.Helper()
	code, body := get(t, c, u)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", u, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", u, err, body)
	}
}

// wantError checks that u answers code with an error naming what is at fault.
func wantError(t *testing.T, c *http.Client, u string, code int, says string) {
	t.Helper()
	got, body := get(t, c, u)
	var e struct{ Error string }
	json.Unmarshal([]byte(body), &e)
	if got != code || !strings.Contains(e.Error, says) {
		t.Errorf("GET %s: %d %s, want %d naming %q", u, got, body, code, says)
	}
}

// poll asks until ok is true, failing after a generous deadline (a busy machine).
func poll(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
	}
}

const tailWorkflow = `name: "tail"
steps: {
	slow: {kind: "exec", command: ["sh", "-c", "echo first; sleep 1; echo second; sleep 1; echo third"]}
}
`

// TestStepLogLive: while a step runs, the API says so and serves its log as it grows, each
// poll from the offset the last one ended at; once it ends, the stored log.
func TestStepLogLive(t *testing.T) {
	w := newWorkspace(t)
	c := w.client(t)
	w.write(t, "wf.cue", tailWorkflow)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(t, context.Background(), "wf.cue", "tail-run")
	}()
	api := w.url + "/ui/api/runs/tail-run"
	poll(t, "the running step in the run's record", func() bool {
		var run engine.RunRecord
		code, body := get(t, c, api)
		return code == 200 && json.Unmarshal([]byte(body), &run) == nil && run.Steps["slow"].State == engine.StateRunning
	})
	var l studio.StepLog
	poll(t, "the first line in the live log", func() bool {
		getJSON(t, c, api+"/steps/slow/log", &l)
		return l.Live && strings.Contains(l.Log, "first")
	})
	if !strings.HasPrefix(l.Log, "first\n") || l.Offset != int64(len(l.Log)) {
		t.Errorf("live log %+v, want first\\n and the offset after what was read", l)
	}
	var next studio.StepLog
	poll(t, "the second line in the live log", func() bool {
		getJSON(t, c, api+"/steps/slow/log?offset=6", &next)
		return !next.Live || strings.Contains(next.Log, "second")
	})
	if next.Live && (strings.Contains(next.Log, "first") || !strings.HasPrefix(next.Log, "second\n")) {
		t.Errorf("log from offset 6: %q, want only what followed first", next.Log)
	}
	wantError(t, c, api+"/steps/slow/log?offset=-1", 400, `offset="-1"`)
	wantError(t, c, api+"/steps/nope/log", 404, `no step "nope"`)
	<-done
	getJSON(t, c, api+"/steps/slow/log?offset=6", &l)
	if l.Live || l.Log != "first\nsecond\nthird\n" || l.State != engine.StateSucceeded {
		t.Errorf("after the run: %+v, want the whole stored log", l)
	}
}

// TestModelDiagnosticsAPI: the model API carries the charts kept in the artifact; an
// artifact without them (written before they existed) has none and no error; one that
// cannot be read says which model.
func TestModelDiagnosticsAPI(t *testing.T) {
	w := newWorkspace(t)
	c := w.client(t)
	houseModel(t, w.s)
	registerArtifact(t, w.s, "old", model.Artifact{Format: model.Format, Version: 1, Name: "old", Task: model.Classification,
		Classes: []string{"no", "yes"}, Algorithm: "LightGBM", PrimaryMetric: "AUC_weighted"}, nil)
	if _, err := models.Register(context.Background(), w.s, "broken", []byte("{not json"), models.Meta{Task: model.Regression}); err != nil {
		t.Fatal(err)
	}
	var v studio.ModelView
	getJSON(t, c, w.url+"/ui/api/models/house/1", &v)
	d := v.Diagnostics
	if d == nil || d.Task != model.Regression || d.Rows != 3000 || len(d.Scatter.Actual) != model.MaxScatterPoints || len(d.Residuals.Counts) != model.ResidualBins {
		t.Errorf("house's diagnostics: %+v", d)
	}
	if v.Path != "" {
		t.Errorf("the API shows the artifact's path on the server: %s", v.Path)
	}
	v = studio.ModelView{}
	getJSON(t, c, w.url+"/ui/api/models/old/1", &v)
	if v.Diagnostics != nil || v.DiagnosticsError != "" || v.Name != "old" {
		t.Errorf("a model without charts: %+v", v)
	}
	v = studio.ModelView{}
	getJSON(t, c, w.url+"/ui/api/models/broken/1", &v)
	if v.Diagnostics != nil || !strings.Contains(v.DiagnosticsError, "model broken:1") {
		t.Errorf("an unreadable artifact: %q", v.DiagnosticsError)
	}
}

func frame(t *testing.T, csv string) *tabular.Frame {
	t.Helper()
	f, err := tabular.ReadCSV(context.Background(), strings.NewReader(csv), tabular.ReadOptions{Name: "t.csv", Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDatasetCompareAPI: two versions side by side, the two latest by default; bad
// versions are named.
func TestDatasetCompareAPI(t *testing.T) {
	w := newWorkspace(t)
	c := w.client(t)
	ctx := context.Background()
	for _, csv := range []string{
		"age,job,y\n30,admin,no\n40,admin,yes\n50,tech,no\n60,,no\n",
		"age,job,y\n30,tech,no\n,tech,yes\n90,tech,no\n",
		"age,job,y\n31,tech,no\n,tech,yes\n90,tech,no\n",
	} {
		if _, _, err := datasets.Register(ctx, w.s, frame(t, csv), datasets.Registration{Name: "cmp"}); err != nil {
			t.Fatal(err)
		}
	}
	var cmp studio.Comparison
	getJSON(t, c, w.url+"/ui/api/datasets/cmp", &cmp)
	if cmp.A.Version != 2 || cmp.B.Version != 3 || len(cmp.Versions) != 3 {
		t.Fatalf("default comparison: %d with %d of %d versions, want 2 with 3", cmp.A.Version, cmp.B.Version, len(cmp.Versions))
	}
	getJSON(t, c, w.url+"/ui/api/datasets/cmp?a=1&b=2", &cmp)
	if cmp.A.Rows != 4 || cmp.B.Rows != 3 || len(cmp.Columns) != 3 {
		t.Fatalf("1 with 2: %d and %d rows, %d columns", cmp.A.Rows, cmp.B.Rows, len(cmp.Columns))
	}
	age, job := cmp.Columns[0], cmp.Columns[1]
	if age.Name != "age" || age.MissingDelta == nil || *age.MissingDelta < 33 || *age.MissingDelta > 34 || age.MeanDelta == nil || *age.MeanDelta <= 0 {
		t.Errorf("age: %+v", age)
	}
	if job.Name != "job" || !job.TopChanged || job.A.Top[0].Value != "admin" || job.B.Top[0].Value != "tech" {
		t.Errorf("job: %+v", job)
	}
	wantError(t, c, w.url+"/ui/api/datasets/cmp?a=x", 400, `a="x"`)
	wantError(t, c, w.url+"/ui/api/datasets/cmp?b=9", 404, "dataset cmp:9 does not exist")
	wantError(t, c, w.url+"/ui/api/datasets/nope", 404, `dataset "nope" does not exist`)
}
